// `moe collective OP --cluster NAME --gpus N`: an nccl-tests-like table from the cost models.
#include <iostream>

#include "cli_command.h"
#include "cluster_option.h"
#include "moe/cluster/collective.h"
#include "moe/cluster/topology.h"

namespace {

namespace cl = moe::cluster;
using moe::cli::fixed;
using moe::cli::UsageError;

int run(const moe::cli::ParsedArgs& a) {
    cl::CollectiveOp op;
    if (!cl::parseOp(a.positional()[0], op))
        throw UsageError("unknown collective '" + a.positional()[0] + "'; choose one of " + moe::cli::joinList(cl::opNames()));
    auto cat = moe::cli::loadCatalog(a);
    if (!cat) {
        std::cerr << cat.message() << "\n";
        return 1;
    }
    const cl::ResolvedCluster rc = moe::cli::requireCluster(cat.value(), a);
    if (!a.value("gpus")) throw UsageError("--gpus N is required");
    const int gpus = a.intValue("gpus", 8, 2, 1 << 20);
    if (std::string e = rc.checkGpuCount(gpus); !e.empty()) throw UsageError("--gpus: " + e);
    cl::CollectiveOptions opt;
    if (auto algo = a.value("algo")) {
        if (!cl::parseAlgorithm(*algo, opt.algorithm))
            throw UsageError("--algo: unknown algorithm '" + *algo + "'; choose one of " + moe::cli::joinList(cl::algorithmNames()));
    }
    opt.skew = a.doubleValue("skew", 1.0, 0.0, 10.0);
    opt.gpusPerProcess = a.intValue("gpus-per-process", 1, 1, 1024);
    opt.nvls = !a.flag("no-nvls");
    auto sizes = cl::parseSizes(a.valueOr("sizes", "8:16G"), "--sizes");
    if (!sizes) throw UsageError(sizes.errors()[0].message);
    std::optional<cl::Topology> topo;
    if (op == cl::CollectiveOp::AllToAllV || opt.algorithm == cl::Algorithm::Flow) topo = cl::buildTopology(rc, gpus);

    std::vector<cl::CollectiveEstimate> rows;
    for (double s : sizes.value()) {
        auto e = cl::estimateCollective(rc, topo ? &*topo : nullptr, op, s, gpus, opt);
        if (!e) {
            const auto& d = e.errors()[0];
            throw UsageError((d.path.empty() ? "" : d.path + ": ") + d.message);
        }
        rows.push_back(e.value());
    }
    if (a.flag("json")) {
        nlohmann::ordered_json j;
        j["op"] = cl::toString(op);
        j["cluster"] = rc.cluster->name;
        j["gpus"] = gpus;
        j["rows"] = nlohmann::ordered_json::array();
        for (const auto& r : rows)
            j["rows"].push_back({{"size", r.bytes}, {"count", static_cast<long long>(r.bytes / 4)}, {"type", "float"}, {"time_us", r.timeUs},
                                 {"algbw_gb_s", r.algbwGBs}, {"busbw_gb_s", r.busbwGBs}, {"algorithm", cl::toString(r.algorithm)},
                                 {"protocol", r.protocol}});
        moe::cli::printJson(j);
        return 0;
    }
    std::cout << "# moe collective " << cl::toString(op) << ": " << gpus << " GPUs of " << rc.cluster->name << " ("
              << rc.system->display << ", " << rc.topology->display << "); model, not a measurement\n"
              << "# busbw as nccl-tests defines it (x " << fixed(cl::busBwFactor(op, gpus), 4) << ")\n";
    moe::cli::Table t({"size (B)", "count", "type", "time (us)", "algbw (GB/s)", "busbw (GB/s)", "algorithm", "protocol"});
    for (const auto& r : rows)
        t.add({fixed(r.bytes, 0), fixed(r.bytes / 4, 0), "float", fixed(r.timeUs, r.timeUs < 1000 ? 2 : 0), fixed(r.algbwGBs, 2),
               fixed(r.busbwGBs, 2), cl::toString(r.algorithm), r.protocol});
    std::cout << t.str();
    return 0;
}

MOE_CLI_COMMAND(moe::cli::CommandSpec{
    "collective", "predict a collective's time, algbw and busbw on a cluster (nccl-tests-like table)", "OP",
    "OP: all_reduce, reduce_scatter, all_gather, broadcast, alltoall, alltoallv. Algorithms: ring, tree,\n"
    "direct, halving_doubling, hierarchical, nvls, flow (max-min fair flow model on the topology);\n"
    "auto takes the fastest that applies. alltoallv sends each rank's buffer to the others in zipf\n"
    "proportions (--skew S). Sizes follow nccl-tests: -b/-e as MIN:MAX[:FACTOR], binary units.",
    {{"cluster", "NAME", "a cluster from 'moe clusters' (required)"},
     {"gpus", "N", "GPUs taking part, ranks 0..N-1 (required)"},
     {"algo", "A", "algorithm (default auto)"},
     {"sizes", "MIN:MAX[:F]", "sizes in bytes, e.g. 8:16G (default), 1M:1G:4 or 1M,64M"},
     {"skew", "S", "alltoallv: zipf exponent of the destination sizes (default 1)"},
     {"json", "", "print the rows as JSON"},
     {"gpus-per-process", "G", "GPUs one thread drives, as nccl-tests -g G (adds their launches to the floor; default 1)"},
     {"no-nvls", "", "as NCCL_NVLS_ENABLE=0: auto picks no NVLS or NVLS-tree"},
     moe::cli::kCatalogOverlayOption},
    1, 1, run});

}  // namespace
