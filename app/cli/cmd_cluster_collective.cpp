// `moe collective OP --cluster NAME --gpus N`: an nccl-tests-like table from the cost models.
// `moe collective OP --measure --nproc N`: the real collective over c10d/Gloo on this machine's
// ranks, printed in nccl-tests' format so `moe calibrate` reads it.
#include <cstdio>
#include <iostream>

#include "cli_command.h"
#include "cluster_option.h"
#include "moe/cluster/collective.h"
#include "moe/cluster/topology.h"
#ifdef MOE_CLI_HAS_TRAIN
#include "moe/train/distributed.h"
#endif

namespace {

namespace cl = moe::cluster;
using moe::cli::fixed;
using moe::cli::UsageError;

#ifdef MOE_CLI_HAS_TRAIN
namespace dist = moe::train::dist;

// Rank 0 prints what every rank measured, in nccl-tests' layout: "#  Rank" lines, the column
// header and one row per size (only the group the backend has: Gloo reduces in place, gathers out
// of place).
void printMeasured(cl::CollectiveOp op, const dist::Measurement& m, int world, int warmup, int iters) {
    const bool inPlace = op == cl::CollectiveOp::AllReduce || op == cl::CollectiveOp::Broadcast;
    const std::string redop = op == cl::CollectiveOp::AllReduce ? "sum" : "none";
    const std::string root = op == cl::CollectiveOp::Broadcast ? "0" : "-1";
    const double factor = cl::busBwFactor(op, world);
    std::cout << "# moe collective " << cl::toString(op) << " --measure: " << world << " ranks over " << m.backend << "; measured\n"
              << "# " << warmup << " warm-up and " << iters << " timed calls per size; time is the slowest rank's mean\n"
              << "# busbw as nccl-tests defines it (algbw x " << fixed(factor, 4) << ")\n"
              << "#\n";
    for (const auto& r : m.ranks)
        std::cout << "#  Rank " << r.rank << " Group  0 Pid " << r.pid << " on " << r.host << " device -1 [cpu] gloo\n";
    std::cout << "#\n#" << std::string(60, ' ') << (inPlace ? "in-place" : "out-of-place") << "\n";
    std::printf("#%12s %12s %8s %6s %6s %10s %8s %8s %6s\n", "size", "count", "type", "redop", "root", "time", "algbw", "busbw", "#wrong");
    std::printf("#%12s %12s %8s %6s %6s %10s %8s %8s %6s\n", "(B)", "(elements)", "", "", "", "(us)", "(GB/s)", "(GB/s)", "");
    double sum = 0;
    for (const auto& r : m.rows) {
        const double algbw = r.bytes / r.timeUs * 1e-3;  // bytes/us -> GB/s
        sum += algbw * factor;
        std::printf(" %12.0f %12lld %8s %6s %6s %10.2f %8.3f %8.3f %6lld\n", r.bytes, r.count, "float", redop.c_str(), root.c_str(), r.timeUs,
                    algbw, algbw * factor, r.wrong);
    }
    std::printf("# Out of bounds values : 0 OK\n# Avg bus bandwidth    : %g\n#\n", m.rows.empty() ? 0.0 : sum / static_cast<double>(m.rows.size()));
    std::fflush(stdout);
}

int runMeasure(const moe::cli::ParsedArgs& a, cl::CollectiveOp op) {
    dist::Collective c = dist::Collective::AllReduce;
    switch (op) {
    case cl::CollectiveOp::AllReduce: c = dist::Collective::AllReduce; break;
    case cl::CollectiveOp::AllGather: c = dist::Collective::AllGather; break;
    case cl::CollectiveOp::ReduceScatter: c = dist::Collective::ReduceScatter; break;
    case cl::CollectiveOp::Broadcast: c = dist::Collective::Broadcast; break;
    case cl::CollectiveOp::AllToAll: c = dist::Collective::AllToAll; break;
    case cl::CollectiveOp::AllToAllV: throw UsageError("--measure: alltoallv has no nccl-tests table; measure alltoall");
    }
    if (std::string why = dist::unsupportedReason(c); !why.empty()) throw UsageError(why);
    for (const char* o : {"cluster", "gpus", "algo", "skew", "gpus-per-process", "no-nvls"})
        if (a.value(o) || a.flag(o)) throw UsageError(std::string("--") + o + " belongs to the model; --measure runs the real collective");
    if (a.flag("json")) throw UsageError("--json: --measure prints nccl-tests' table, the format 'moe calibrate' reads");
    auto env = dist::readLaunchEnv();
    if (!env) throw UsageError(env.message());
    dist::MeasureOptions mo;
    auto sizes = cl::parseSizes(a.valueOr("sizes", "1K:16M:4"), "--sizes");
    if (!sizes) throw UsageError(sizes.errors()[0].message);
    mo.sizes = sizes.value();
    mo.warmup = a.intValue("warmup", 5, 0, 100000);
    mo.iters = a.intValue("iters", 20, 1, 1000000);
    mo.timeoutSeconds = a.doubleValue("timeout", 60, 0.1, 86400);
    if (!env.value()) {  // not started as a rank: start the ranks here
        if (!a.value("nproc"))
            throw UsageError("--measure needs --nproc N (local ranks), or RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT set by a launcher");
        dist::LaunchOptions lo;
        lo.nproc = a.intValue("nproc", 2, 1, 1 << 20);
        auto rc = dist::launchLocal(lo);
        if (!rc) throw UsageError(rc.message());
        return rc.value();
    }
    const dist::LaunchEnv& e = *env.value();
    if (a.value("nproc") && a.intValue("nproc", e.worldSize, 1, 1 << 20) != e.worldSize)
        throw UsageError("--nproc " + *a.value("nproc") + " does not match WORLD_SIZE=" + std::to_string(e.worldSize) + " of the environment");
    auto m = dist::measureCollective(e, c, mo);
    if (!m) {
        std::cerr << m.message() << "\n";
        return 1;
    }
    if (e.rank == 0) printMeasured(op, m.value(), e.worldSize, mo.warmup, mo.iters);
    return 0;
}
#endif

int run(const moe::cli::ParsedArgs& a) {
    cl::CollectiveOp op;
    if (!cl::parseOp(a.positional()[0], op))
        throw UsageError("unknown collective '" + a.positional()[0] + "'; choose one of " + moe::cli::joinList(cl::opNames()));
    if (a.flag("measure")) {
#ifdef MOE_CLI_HAS_TRAIN
        return runMeasure(a, op);
#else
        throw UsageError("--measure needs the training module (LibTorch), which this build leaves out");
#endif
    }
    for (const char* o : {"nproc", "warmup", "iters", "timeout"})
        if (a.value(o)) throw UsageError(std::string("--") + o + " applies to --measure only");
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
    "proportions (--skew S). Sizes follow nccl-tests: -b/-e as MIN:MAX[:FACTOR], binary units.\n"
    "--measure runs the real collective over LibTorch's c10d (Gloo) instead of the model: --nproc N\n"
    "starts N ranks of this command on this machine, or a launcher (torchrun, srun, mpirun) sets\n"
    "RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT. Rank 0 prints nccl-tests' table (default sizes\n"
    "1K:16M:4), which 'moe calibrate' reads. Gloo has no reduce_scatter.",
    {{"cluster", "NAME", "a cluster from 'moe clusters' (required)"},
     {"gpus", "N", "GPUs taking part, ranks 0..N-1 (required)"},
     {"algo", "A", "algorithm (default auto)"},
     {"sizes", "MIN:MAX[:F]", "sizes in bytes, e.g. 8:16G (default), 1M:1G:4 or 1M,64M"},
     {"skew", "S", "alltoallv: zipf exponent of the destination sizes (default 1)"},
     {"json", "", "print the rows as JSON"},
     {"gpus-per-process", "G", "GPUs one thread drives, as nccl-tests -g G (adds their launches to the floor; default 1)"},
     {"no-nvls", "", "as NCCL_NVLS_ENABLE=0: auto picks no NVLS or NVLS-tree"},
     moe::cli::kCatalogOverlayOption,
     {"measure", "", "run the real collective over c10d/Gloo on this machine's ranks"},
     {"nproc", "N", "--measure: start N local ranks (at most one per core)"},
     {"warmup", "W", "--measure: untimed calls per size (default 5)"},
     {"iters", "I", "--measure: timed calls per size (default 20)"},
     {"timeout", "S", "--measure: seconds a rank waits for the others, in the rendezvous and each call (default 60)"}},
    1, 1, run});

}  // namespace
