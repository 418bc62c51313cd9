// `moe calibrate FILE --cluster NAME`: fit latency and bandwidth efficiency to nccl-tests output.
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli_command.h"
#include "cluster_option.h"
#include "moe/cluster/calibrate.h"

namespace {

namespace cl = moe::cluster;
using moe::cli::fixed;
using moe::cli::UsageError;

std::string pct(double p) { return (p >= 0 ? "+" : "") + fixed(p, 1) + "%"; }

int run(const moe::cli::ParsedArgs& a) {
    const std::string file = a.positional()[0];
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        std::cerr << file << ": cannot open\n";
        return 1;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    auto cat = cl::Catalog::loadDefault();
    if (!cat) {
        std::cerr << cat.message() << "\n";
        return 1;
    }
    const cl::ResolvedCluster rc = moe::cli::requireCluster(cat.value(), a);
    cl::CollectiveOp op = cl::CollectiveOp::AllReduce;
    if (auto o = a.value("op"); o && !cl::parseOp(*o, op))
        throw UsageError("--op: unknown collective '" + *o + "'; choose one of " + moe::cli::joinList(cl::opNames()));
    if (op == cl::CollectiveOp::AllToAllV) throw UsageError("--op: alltoallv has no nccl-tests table; use alltoall");
    auto table = cl::parseNcclTests(ss.str(), file, a.flag("in-place"));
    if (!table) {
        std::cerr << table.message() << "\n";
        return 1;
    }
    int gpus = a.intValue("gpus", table->ranks, 2, 1 << 20);
    if (gpus < 2) throw UsageError("--gpus N is required: the file lists no '#  Rank' lines to count the ranks from");
    auto c = cl::calibrate(table.value(), rc, op, gpus);
    if (!c) throw UsageError(c.errors()[0].path + ": " + c.errors()[0].message);
    const cl::Calibration& k = c.value();
    if (a.flag("json")) {
        nlohmann::ordered_json j;
        j["file"] = file;
        j["cluster"] = rc.cluster->name;
        j["op"] = cl::toString(op);
        j["ranks"] = gpus;
        j["link"] = k.link;
        j["link_spec_gb_s"] = k.linkSpecGBs;
        j["catalog_efficiency"] = k.catalogEfficiency;
        j["fitted_efficiency"] = k.fittedEfficiency;
        j["regimes"] = nlohmann::ordered_json::array();
        for (const auto& r : k.regimes)
            j["regimes"].push_back({{"name", r.name}, {"from_bytes", r.fromBytes}, {"to_bytes", r.toBytes}, {"latency_us", r.latencyUs},
                                    {"busbw_gb_s", r.busbwGBs}, {"points", r.points}});
        j["points"] = nlohmann::ordered_json::array();
        for (const auto& p : k.points)
            j["points"].push_back({{"size", p.bytes}, {"measured_us", p.measuredUs}, {"fitted_us", p.fittedUs}, {"catalog_us", p.catalogUs},
                                   {"fitted_error_pct", p.fittedErrorPct}, {"catalog_error_pct", p.catalogErrorPct},
                                   {"catalog_algorithm", p.catalogAlgorithm}, {"catalog_protocol", p.catalogProtocol}});
        j["fitted_rms_pct"] = k.fittedRmsPct;
        j["catalog_rms_pct"] = k.catalogRmsPct;
        moe::cli::printJson(j);
        return 0;
    }
    std::cout << file << ": " << k.points.size() << " sizes, " << cl::toString(op) << " on " << gpus << " GPUs of " << rc.cluster->name << "\n\n";
    moe::cli::Table t({"size (B)", "measured us", "fit us", "fit err", "catalog us", "catalog err", "catalog algo", "busbw meas", "busbw fit"});
    for (const auto& p : k.points)
        t.add({fixed(p.bytes, 0), fixed(p.measuredUs, 1), fixed(p.fittedUs, 1), pct(p.fittedErrorPct), fixed(p.catalogUs, 1),
               pct(p.catalogErrorPct), p.catalogAlgorithm + "/" + p.catalogProtocol, fixed(p.measuredBusbw, 2), fixed(p.fittedBusbw, 2)});
    std::cout << t.str() << "\n";
    for (const auto& r : k.regimes)
        std::cout << r.name << " (" << fixed(r.fromBytes, 0) << " to " << fixed(r.toBytes, 0) << " B, " << r.points << " points): latency "
                  << fixed(r.latencyUs, 2) << " us, busbw " << fixed(r.busbwGBs, 1) << " GB/s\n";
    std::cout << "\nlimiting link " << k.link << " (" << fixed(k.linkSpecGBs, 0) << " GB/s spec as the collective sees it): fitted "
              << "collective_efficiency " << fixed(k.fittedEfficiency, 3) << ", catalog " << fixed(k.catalogEfficiency, 3) << "\n"
              << "rms error: fit " << fixed(k.fittedRmsPct, 1) << "%, catalog model " << fixed(k.catalogRmsPct, 1) << "% (max "
              << fixed(k.catalogMaxAbsPct, 1) << "%)\n"
              << "To use the fit, edit collective_efficiency (and the protocol latencies) of " << k.link
              << " in the catalog's links.json, with this file as the source.\n";
    return 0;
}

MOE_CLI_COMMAND(moe::cli::CommandSpec{
    "calibrate", "fit link latency and bandwidth efficiency to nccl-tests / rccl-tests output", "FILE",
    "Reads the standard table (size count type redop root time algbw busbw #wrong ...), splits it into a\n"
    "small- and a large-message regime (protocols switch) and fits latency + bytes/bandwidth to each by least\n"
    "squares on relative error. Prints model-vs-measured error per point for the fit and for the catalog.",
    {{"cluster", "NAME", "the cluster measured (required; see 'moe clusters')"},
     {"op", "OP", "the collective measured (default all_reduce)"},
     {"gpus", "N", "ranks measured (default: counted from the file's '#  Rank' lines)"},
     {"in-place", "", "use the in-place columns instead of out-of-place"},
     {"json", "", "print the fit as JSON"}},
    1, 1, run});

}  // namespace
