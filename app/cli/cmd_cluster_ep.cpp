// `moe ep --cluster NAME --ep N`: expert-parallel dispatch and combine per kernel library.
#include <iostream>

#include "cli_command.h"
#include "cluster_option.h"
#include "moe/cluster/ep_kernels.h"
#include "moe/spec/derived.h"

namespace {

namespace cl = moe::cluster;
using moe::cli::fixed;
using moe::cli::UsageError;

double bytesPer(const std::string& dtype, const char* option) {
    if (dtype == "fp8") return 1.0 + 4.0 / 128;  // FP8 values and one FP32 scale per 128
    const double b = moe::spec::bytesPerElement(dtype);
    if (!(b > 0)) throw UsageError(std::string("--") + option + ": unknown dtype '" + dtype + "'; use fp8, bf16, fp16 or fp32");
    return b;
}

int run(const moe::cli::ParsedArgs& a) {
    auto cat = moe::cli::loadCatalog(a);
    if (!cat) {
        std::cerr << cat.message() << "\n";
        return 1;
    }
    const cl::ResolvedCluster rc = moe::cli::requireCluster(cat.value(), a);
    if (!a.value("ep")) throw UsageError("--ep N is required");
    cl::EpTraffic t;
    t.ep = a.intValue("ep", 8, 2, 1 << 20);
    t.tokensPerRank = a.intValue("tokens", 128, 1, 1 << 24);
    t.hidden = a.intValue("hidden", 7168, 1, 1 << 20);
    t.k = a.intValue("k", 8, 1, 1024);
    t.experts = a.intValue("experts", 256, 1, 1 << 20);
    t.maxNodesPerToken = a.intValue("max-nodes", 0, 0, 1 << 20);
    t.dispatchBytesPerElement = bytesPer(a.valueOr("dispatch-dtype", "fp8"), "dispatch-dtype");
    t.combineBytesPerElement = bytesPer(a.valueOr("combine-dtype", "bf16"), "combine-dtype");
    std::vector<const cl::EpKernelSpec*> kernels;
    std::vector<std::string> notHere;  // kernels of another GPU vendor
    if (auto k = a.value("kernel")) {
        const cl::EpKernelSpec* s = cat->epKernel(*k);
        if (!s) {
            std::vector<std::string> names;
            for (const auto& x : cat->epKernels()) names.push_back(x.name);
            throw UsageError("--kernel: unknown kernel '" + *k + "'; known: " + moe::cli::joinList(names));
        }
        kernels.push_back(s);
    } else
        for (const auto& x : cat->epKernels())
            if (x.runsOn(rc.gpu->vendor)) kernels.push_back(&x);
            else notHere.push_back(x.name);
    if (kernels.empty())
        throw UsageError("the catalog lists no expert-parallel kernel (ep_kernels.json) that runs on " + rc.gpu->name + " (" + rc.gpu->vendor + ")");

    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    moe::cli::Table table({"kernel", "dispatch us", "dispatch GB/s", "combine us", "combine GB/s", "bottleneck", "SMs/CUs held", "compute beside"});
    for (const auto* k : kernels) {
        auto e = cl::estimateEpKernel(rc, *k, t);
        if (!e) throw UsageError(e.errors()[0].path + ": " + e.errors()[0].message);
        rows.push_back({{"kernel", k->name}, {"dispatch_us", e->dispatchUs}, {"dispatch_gb_s", e->dispatchGBs}, {"combine_us", e->combineUs},
                        {"combine_gb_s", e->combineGBs}, {"bottleneck", e->bottleneck}, {"compute_units_used", e->computeUnitsUsed},
                        {"compute_units_total", e->computeUnitsTotal}, {"overlap_compute_slowdown", e->overlapSlowdown}});
        const std::string held = e->computeUnitsTotal > 0 ? std::to_string(e->computeUnitsUsed) + " of " + std::to_string(e->computeUnitsTotal)
                                 : rc.gpu->vendor == "cpu" ? std::string("-")
                                                           : std::to_string(e->computeUnitsUsed) + " (GPU count unknown)";
        table.add({k->name, fixed(e->dispatchUs, 1), fixed(e->dispatchGBs, 1), fixed(e->combineUs, 1), fixed(e->combineGBs, 1), e->bottleneck, held,
                   "x" + fixed(e->overlapSlowdown, 3)});
    }
    if (a.flag("json")) {
        nlohmann::ordered_json j;
        j["cluster"] = rc.cluster->name;
        j["ep"] = t.ep;
        j["tokens_per_rank"] = t.tokensPerRank;
        j["hidden"] = t.hidden;
        j["k"] = t.k;
        j["experts"] = t.experts;
        j["rows"] = rows;
        j["not_shown"] = notHere;
        moe::cli::printJson(j);
        return 0;
    }
    std::cout << "EP" << t.ep << " on " << rc.cluster->name << ": " << t.tokensPerRank << " tokens per rank, hidden " << t.hidden << ", top-" << t.k
              << " of " << t.experts << " experts (uniform routing)\n\n"
              << table.str();
    if (!notHere.empty())
        std::cout << "\nNot shown, as they do not run on " << rc.gpu->name << " (" << rc.gpu->vendor << "): " << moe::cli::joinList(notHere) << "\n";
    return 0;
}

MOE_CLI_COMMAND(moe::cli::CommandSpec{
    "ep", "expert-parallel dispatch and combine per kernel library (DeepEP, pplx, MORI-EP, NCCL)", "",
    "Prices one dispatch and one combine of uniform top-k routing with each expert-parallel kernel of the\n"
    "catalog (ep_kernels.json): direct sends (DeepEP low-latency, pplx-kernels, MORI-EP), NVLink-then-RDMA\n"
    "forwarding (DeepEP normal) or an NCCL/RCCL all-to-all. GB/s is the bottleneck link's bytes over the time,\n"
    "as DeepEP reports it. 'SMs/CUs held' is what the kernel occupies while it moves data; compute that overlaps\n"
    "it (shared experts, another micro-batch's experts) runs on the rest, 'compute beside' times slower.\n"
    "Only the kernels that run on the cluster's GPU vendor are shown (ep_kernels.json \"vendors\").",
    {{"cluster", "NAME", "a cluster from 'moe clusters' (required)"},
     {"ep", "N", "ranks of the expert-parallel group (required)"},
     {"tokens", "T", "tokens per rank (default 128)"},
     {"hidden", "H", "hidden size (default 7168)"},
     {"k", "K", "experts per token (default 8)"},
     {"experts", "E", "routed experts (default 256)"},
     {"max-nodes", "M", "node-limited routing: a token reaches at most M nodes (default: no limit)"},
     {"dispatch-dtype", "D", "fp8 (default, with scales), bf16, fp16, fp32"},
     {"combine-dtype", "D", "bf16 (default), fp16, fp32"},
     {"kernel", "NAME", "one kernel (default: all)"},
     {"json", "", "print the rows as JSON"},
     moe::cli::kCatalogOverlayOption},
    0, 0, run});

}  // namespace
