// `moe calibrate FILE --cluster NAME`: fit the collective model to nccl-tests output; write a catalog overlay.
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli_command.h"
#include "cluster_option.h"
#include "moe/cluster/calibrate.h"
#include "moe/spec/atomic_file.h"

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
    auto cat = moe::cli::loadCatalog(a);
    if (!cat) {
        std::cerr << cat.message() << "\n";
        return 1;
    }
    const cl::ResolvedCluster rc = moe::cli::requireCluster(cat.value(), a);
    cl::CollectiveOp op = cl::CollectiveOp::AllReduce;
    if (auto o = a.value("op"); o && !cl::parseOp(*o, op))
        throw UsageError("--op: unknown collective '" + *o + "'; choose one of " + moe::cli::joinList(cl::opNames()));
    cl::CollectiveOptions opt;
    if (auto algo = a.value("algo"); algo && !cl::parseAlgorithm(*algo, opt.algorithm))
        throw UsageError("--algo: unknown algorithm '" + *algo + "'; choose one of " + moe::cli::joinList(cl::algorithmNames()));
    opt.nvls = !a.flag("no-nvls");
    auto tables = cl::parseNcclTestsTables(ss.str(), file, a.flag("in-place"));
    if (!tables) {
        std::cerr << tables.message() << "\n";
        return 1;
    }
    const int ntables = static_cast<int>(tables->size());
    if (ntables > 1 && !a.value("table")) {
        std::string list;
        for (int i = 0; i < ntables; ++i) {
            const auto& t = tables.value()[static_cast<size_t>(i)];
            list += "\n  " + std::to_string(i + 1) + ": line " + std::to_string(t.firstLine) + ", " + std::to_string(t.points.size()) + " sizes" +
                    (t.ranks > 0 ? ", " + std::to_string(t.ranks) + " ranks" : "");
        }
        throw UsageError(file + " holds " + std::to_string(ntables) + " tables; choose one with --table N:" + list);
    }
    const int which = a.intValue("table", 1, 1, ntables);
    const cl::MeasuredTable& table = tables.value()[static_cast<size_t>(which - 1)];
    // The file's own word on the collective wins over the default and must agree with --op.
    if (!table.op.empty()) {
        const std::string said = file + " line " + std::to_string(table.opLine) + " names " + table.op;
        cl::CollectiveOp fileOp;
        if (!cl::parseOp(table.op, fileOp))
            throw UsageError(said + ", which the collective model does not price; it prices " + moe::cli::joinList(cl::opNames()));
        if (auto o = a.value("op"); o && fileOp != op) throw UsageError("--op " + *o + ": " + said + "; leave --op out or give " + cl::toString(fileOp));
        op = fileOp;
    }
    if (op == cl::CollectiveOp::AllToAllV) throw UsageError("--op: alltoallv has no nccl-tests table; use alltoall");
    int ranks = table.ranks;
    if (ranks == 0 && table.gpusPerProcess > 0 && a.value("processes"))
        ranks = table.gpusPerProcess * a.intValue("processes", 1, 1, 1 << 20);
    const int gpus = a.intValue("gpus", ranks, 2, 1 << 20);
    if (gpus < 2)
        throw UsageError("--gpus N is required: the table lists no '#  Rank' lines" +
                         std::string(table.gpusPerProcess > 0 ? " and no mpirun -np line (or give --processes P: ranks = nGpus " +
                                                                    std::to_string(table.gpusPerProcess) + " x P)"
                                                              : ""));
    opt.gpusPerProcess = a.intValue("gpus-per-process", std::max(1, table.gpusPerProcess), 1, 1024);
    cl::FitLevel level = cl::FitLevel::All;
    if (auto l = a.value("level")) {
        if (*l == "intra") level = cl::FitLevel::Intra;
        else if (*l == "inter") level = cl::FitLevel::Inter;
        else if (*l != "all") throw UsageError("--level: '" + *l + "' is not a level; choose all, intra or inter");
    }
    auto c = cl::calibrate(table, rc, op, gpus, opt, level);
    if (!c) throw UsageError(c.errors()[0].path + ": " + c.errors()[0].message);
    const cl::Calibration& k = c.value();
    std::string overlayNote;
    if (auto out = a.value("overlay")) {
        if (std::string e = moe::spec::writeFileAtomic(*out, cl::calibrationOverlay(k, file, rc.cluster->name)); !e.empty()) {
            std::cerr << e << "\n";
            return 1;
        }
        overlayNote = *out;
    }
    if (a.flag("json")) {
        nlohmann::ordered_json j;
        j["file"] = file;
        j["table"] = which;
        j["cluster"] = rc.cluster->name;
        j["op"] = cl::toString(op);
        j["ranks"] = gpus;
        j["gpus_per_process"] = opt.gpusPerProcess;
        j["in_place"] = table.inPlaceColumns;
        j["link"] = k.link;
        j["link_spec_gb_s"] = k.linkSpecGBs;
        j["efficiency_field"] = k.efficiencyField;
        j["catalog_efficiency"] = k.catalogEfficiency;
        j["fitted_efficiency"] = k.fittedEfficiency;
        j["regimes"] = nlohmann::ordered_json::array();
        for (const auto& r : k.regimes)
            j["regimes"].push_back({{"name", r.name}, {"from_bytes", r.fromBytes}, {"to_bytes", r.toBytes}, {"latency_us", r.latencyUs},
                                    {"busbw_gb_s", r.busbwGBs}, {"points", r.points}});
        j["points"] = nlohmann::ordered_json::array();
        for (const auto& p : k.points)
            j["points"].push_back({{"size", p.bytes}, {"measured_us", p.measuredUs}, {"fitted_us", p.fittedUs}, {"catalog_us", p.catalogUs},
                                   {"calibrated_us", p.calibratedUs}, {"fitted_error_pct", p.fittedErrorPct},
                                   {"catalog_error_pct", p.catalogErrorPct}, {"calibrated_error_pct", p.calibratedErrorPct},
                                   {"catalog_algorithm", p.catalogAlgorithm}, {"catalog_protocol", p.catalogProtocol},
                                   {"calibrated_algorithm", p.calibratedAlgorithm}, {"calibrated_protocol", p.calibratedProtocol}});
        j["fitted_rms_pct"] = k.fittedRmsPct;
        j["catalog_rms_pct"] = k.catalogRmsPct;
        j["catalog_max_pct"] = k.catalogMaxAbsPct;
        j["calibrated_rms_pct"] = k.calibratedRmsPct;
        j["calibrated_max_pct"] = k.calibratedMaxAbsPct;
        if (!overlayNote.empty()) j["overlay"] = overlayNote;
        moe::cli::printJson(j);
        return 0;
    }
    std::cout << file << (ntables > 1 ? " table " + std::to_string(which) : "") << ": " << k.points.size() << " sizes"
              << (table.inPlaceColumns ? " (in-place)" : "") << ", " << cl::toString(op) << " on " << gpus << " GPUs of " << rc.cluster->name
              << (opt.gpusPerProcess > 1 ? ", " + std::to_string(opt.gpusPerProcess) + " GPUs per process" : "") << "\n\n";
    moe::cli::Table t({"size (B)", "measured us", "catalog us", "catalog err", "catalog algo", "calibrated us", "calibrated err", "calibrated algo",
                       "busbw meas"});
    for (const auto& p : k.points)
        t.add({fixed(p.bytes, 0), fixed(p.measuredUs, 1), fixed(p.catalogUs, 1), pct(p.catalogErrorPct), p.catalogAlgorithm + "/" + p.catalogProtocol,
               fixed(p.calibratedUs, 1), pct(p.calibratedErrorPct), p.calibratedAlgorithm + "/" + p.calibratedProtocol, fixed(p.measuredBusbw, 2)});
    std::cout << t.str() << "\n";
    for (const auto& r : k.regimes)
        std::cout << r.name << " (" << fixed(r.fromBytes, 0) << " to " << fixed(r.toBytes, 0) << " B, " << r.points << " points): latency "
                  << fixed(r.latencyUs, 2) << " us, busbw " << fixed(r.busbwGBs, 1) << " GB/s (two-line fit, rms " << fixed(k.fittedRmsPct, 1)
                  << "%)\n";
    std::cout << "\nlimiting link " << k.link << " (" << fixed(k.linkSpecGBs, k.linkSpecGBs < 10 ? 2 : 0)
              << " GB/s spec as the collective sees it): large-message busbw / spec " << fixed(k.fittedEfficiency, 3) << ", catalog "
              << k.efficiencyField << " " << fixed(k.catalogEfficiency, 3) << "\n"
              << "model error: catalog rms " << fixed(k.catalogRmsPct, 1) << "% (max " << fixed(k.catalogMaxAbsPct, 1) << "%), calibrated rms "
              << fixed(k.calibratedRmsPct, 1) << "% (max " << fixed(k.calibratedMaxAbsPct, 1) << "%)\n";
    for (const auto& l : k.fittedLinks) {
        std::cout << "fitted " << l.name << ": " << k.efficiencyField << " "
                  << fixed(k.efficiencyField == "p2p_efficiency" ? l.p2pEfficiency : l.collectiveEfficiency, 3);
        for (const auto& p : l.protocols)
            std::cout << "; " << p.name << " base " << fixed(p.baseLatencyUs, 2) << " us, hop " << fixed(p.hopLatencyUs, 2) << " us, bw x"
                      << fixed(p.bwFactor, 3);
        std::cout << "\n";
    }
    if (!overlayNote.empty())
        std::cout << "wrote catalog overlay " << overlayNote << ": use it with --catalog-overlay " << overlayNote
                  << ", or put it in a user catalog folder (~/.config/moe-studio/catalog or ~/.local/share/moe-studio/catalog) for every command and the studio\n";
    else
        std::cout << "write the fitted links as a catalog overlay with --overlay FILE\n";
    return 0;
}

MOE_CLI_COMMAND(moe::cli::CommandSpec{
    "calibrate", "fit the collective model to nccl-tests / rccl-tests output; write a catalog overlay", "FILE",
    "Reads the standard table as printed (size count type redop root time algbw busbw #wrong ...; CRLF, lost '#',\n"
    "NCCL INFO lines, several tables, in-place-only tables), counts the ranks from the '#  Rank' lines (or nGpus x\n"
    "processes, or --gpus), then fits the catalog parameters of the links the collective crosses (per level and per\n"
    "protocol: latencies, bandwidth factors, efficiency) to the measured times by least squares on relative error.\n"
    "Prints model-vs-measured error per point before and after; --overlay writes the fitted links as a catalog overlay.",
    {{"cluster", "NAME", "the cluster measured (required; see 'moe clusters')"},
     {"op", "OP", "the collective measured (default: the one the file names, e.g. all_reduce_perf or 'moe collective alltoall --measure', else all_reduce)"},
     {"gpus", "N", "ranks measured (default: from the file's '#  Rank' lines, or nGpus x processes)"},
     {"processes", "P", "processes of the run when the file has no '#  Rank' lines (ranks = nGpus x P)"},
     {"gpus-per-process", "G", "GPUs one process drove (default: nGpus of the file's header)"},
     {"table", "N", "which table of a file that holds several (1 = first)"},
     {"algo", "NAME", "the algorithm the run was forced to (NCCL_ALGO); default: auto"},
     {"no-nvls", "", "the run had NCCL_NVLS_ENABLE=0"},
     {"level", "L", "links to fit: all (default), intra (the scale-up link) or inter (the NIC)"},
     {"in-place", "", "use the in-place columns instead of out-of-place"},
     {"overlay", "FILE", "write the fitted links to FILE as a catalog overlay"},
     moe::cli::kCatalogOverlayOption,
     {"json", "", "print the fit as JSON"}},
    1, 1, run});

}  // namespace
