// `moe report RUN.sqlite`: what a run did, from its run store (also while it is still training).
#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>

#include "cli_command.h"
#include "cluster_option.h"
#include "moe/cluster/layer_times.h"
#include "moe/spec/project_io.h"
#include "moe/telemetry/collapse.h"
#include "moe/telemetry/report.h"
#include "moe/telemetry/run_store.h"

namespace {

namespace tel = moe::telemetry;
namespace cl = moe::cluster;
using moe::cli::fixed;
using moe::cli::humanCount;

std::string pct(double v) { return fixed(100.0 * v, 1) + "%"; }

std::string shareBar(double share, double maxShare, int width) {
    const int n = maxShare > 0 ? static_cast<int>(std::lround(share / maxShare * width)) : 0;
    return std::string(static_cast<size_t>(std::clamp(n, 0, width)), '#');
}

nlohmann::ordered_json alertJson(const tel::Alert& a) {
    return {{"step", a.step},          {"block", a.block},       {"kind", tel::toString(a.kind)},
            {"severity", tel::toString(a.severity)}, {"value", a.value}, {"title", a.title},
            {"explanation", a.explanation}, {"fix", a.fix}};
}

// First step at which each (block, kind) alert appeared, from the stored verdicts.
std::map<std::pair<int, tel::AlertKind>, std::int64_t> firstSeen(const tel::RunReader& r) {
    std::map<std::pair<int, tel::AlertKind>, std::int64_t> first;
    for (const auto& s : r.snapshots())
        for (const auto& a : s->alerts) first.emplace(std::make_pair(a.block, a.kind), a.step);
    return first;
}

int run(const moe::cli::ParsedArgs& a) {
    auto opened = tel::RunReader::open(a.positional()[0]);
    if (!opened) {
        std::cerr << opened.message() << "\n";
        return 1;
    }
    const auto& r = *opened.value();
    if (auto table = a.value("csv")) {
        std::string err;
        if (!r.writeCsv(*table, std::cout, err)) throw moe::cli::UsageError("--csv: " + err);
        return 0;
    }
    if (a.value("catalog-overlay") && !a.value("predict")) throw moe::cli::UsageError("--catalog-overlay applies to --predict CLUSTER only");
    if (r.snapshots().empty()) {
        std::cerr << a.positional()[0] << " holds no steps yet (status: " << r.info().status << ")\n";
        return 1;
    }
    tel::SnapshotPtr snap = r.latest();
    if (auto st = a.value("step")) {
        const int step = a.intValue("step", 0, 0, 2000000000);
        snap = r.at(step);
        if (!snap) throw moe::cli::UsageError("--step " + *st + " is before the first recorded step (" + std::to_string(r.snapshots().front()->step) + ")");
    }
    // The last snapshot of a diverged run has no routing; report the one before it.
    if (snap->blocks.empty() && r.snapshots().size() > 1 && !a.value("step")) {
        for (auto it = r.snapshots().rbegin(); it != r.snapshots().rend(); ++it)
            if (!(*it)->blocks.empty()) {
                snap = *it;
                break;
            }
    }
    double bestTest = -1;
    std::int64_t bestTestStep = -1;
    double lastTest = -1;
    for (const auto& s : r.snapshots())
        if (s->testAccuracy >= 0) {
            lastTest = s->testAccuracy;
            if (s->testAccuracy > bestTest) {
                bestTest = s->testAccuracy;
                bestTestStep = s->step;
            }
        }
    // Language models: held-out loss per byte (last and best) against the unigram reference.
    tel::SnapshotPtr lastLm, bestLm;
    for (const auto& s : r.snapshots())
        if (s->testLoss >= 0) {
            lastLm = s;
            if (!bestLm || s->testLoss < bestLm->testLoss) bestLm = s;
        }
    // The trainer's verdicts at that step (the detectors with hysteresis over the run).
    std::vector<tel::Alert> verdicts;
    for (const auto& al : snap->alerts)
        if (al.kind != tel::AlertKind::Divergence) verdicts.push_back(al);
    const auto first = firstSeen(r);
    std::vector<tel::Alert> finalAlerts;  // e.g. divergence, recorded after the routing snapshot
    for (const auto& al : r.latest()->alerts)
        if (al.kind == tel::AlertKind::Divergence) finalAlerts.push_back(al);

    // Multi-rank runs: each rank's time and each expert parallel block's all-to-all, summed over the
    // snapshots up to the reported one (as the Markdown report has them), and with --predict the
    // same traffic priced on a catalog cluster.
    const tel::DistributedSummary dist = tel::summarizeDistributed(r, snap->step);
    const std::vector<tel::LayerTime>& layerTimes = dist.layerTimes;
    std::vector<cl::LayerPrediction> predictions;
    std::string predictedCluster;
    if (auto name = a.value("predict")) {
        if (layerTimes.empty())
            throw moe::cli::UsageError("--predict: the run holds no expert-parallel layer times up to step " + std::to_string(snap->step) +
                                       " (they are recorded by expert-parallel training over several ranks)");
        auto cat = moe::cli::loadCatalog(a);
        if (!cat) {
            std::cerr << cat.message() << "\n";
            return 1;
        }
        auto rc = cat->resolve(*name, "--predict");
        if (!rc) throw moe::cli::UsageError(rc.errors()[0].message);
        auto p = cl::predictLayerTimes(rc.value(), layerTimes);
        if (!p) {
            std::cerr << a.positional()[0] << ": " << p.message() << "\n";
            return 1;
        }
        predictions = std::move(p.value());
        predictedCluster = *name;
    }
    double measuredTotal = 0, predictedTotal = 0;
    for (const auto& p : predictions) {
        measuredTotal += p.measuredSeconds;
        predictedTotal += p.predictedSeconds;
    }
    const auto errorPct = [](double predicted, double measured) { return measured > 0 ? 100.0 * (predicted - measured) / measured : 0.0; };

    if (a.flag("json")) {
        nlohmann::ordered_json j;
        j["run_id"] = r.info().runId;
        j["status"] = r.info().status;
        j["message"] = r.info().message;
        j["started_at"] = r.info().startedAt;
        j["finished_at"] = r.info().finishedAt;
        j["snapshots"] = r.snapshots().size();
        j["step"] = snap->step;
        j["epoch"] = snap->epoch;
        j["loss"] = snap->loss;
        j["accuracy"] = snap->accuracy;
        j["test_accuracy"] = lastTest;
        j["best_test_accuracy"] = bestTest;
        if (lastLm) {
            j["test_loss"] = lastLm->testLoss;
            j["test_bits_per_byte"] = tel::bitsPerByte(lastLm->testLoss);
            j["test_perplexity"] = std::exp(lastLm->testLoss);
            j["best_test_bits_per_byte"] = tel::bitsPerByte(bestLm->testLoss);
            j["unigram_bits_per_byte"] = lastLm->unigramBitsPerByte;
        }
        j["ranks"] = nlohmann::ordered_json::array();
        for (const auto& t : dist.ranks)
            j["ranks"].push_back({{"rank", t.rank}, {"steps", t.steps}, {"compute_seconds", t.computeSeconds},
                                  {"grad_reduce_seconds", t.gradReduceSeconds}, {"exchange_seconds", t.exchangeSeconds}});
        j["layer_times"] = nlohmann::ordered_json::array();
        for (const auto& t : layerTimes)
            j["layer_times"].push_back({{"block", t.block}, {"rank", t.rank}, {"steps", t.steps}, {"alltoall_seconds", t.alltoallSeconds},
                                        {"expert_seconds", t.expertSeconds}, {"wait_seconds", t.waitSeconds}, {"rows_to", t.rowsTo}, {"bytes_per_row", t.bytesPerRow}});
        if (!predictedCluster.empty()) {
            nlohmann::ordered_json jp;
            jp["cluster"] = predictedCluster;
            jp["blocks"] = nlohmann::ordered_json::array();
            for (const auto& p : predictions)
                jp["blocks"].push_back({{"block", p.block}, {"ranks", p.ranks}, {"steps", p.steps}, {"slowest_rank", p.slowestRank},
                                        {"measured_alltoall_ms_per_step", 1e3 * p.measuredSeconds},
                                        {"predicted_alltoall_ms_per_step", 1e3 * p.predictedSeconds}, {"error_pct", p.errorPct()},
                                        {"dispatch_ms", 1e3 * p.dispatchSeconds}, {"combine_ms", 1e3 * p.combineSeconds},
                                        {"dispatch_bytes", p.dispatchBytes}});
            jp["total"] = {{"measured_alltoall_ms_per_step", 1e3 * measuredTotal}, {"predicted_alltoall_ms_per_step", 1e3 * predictedTotal},
                           {"error_pct", errorPct(predictedTotal, measuredTotal)}};
            j["prediction"] = jp;
        }
        j["blocks"] = nlohmann::ordered_json::array();
        for (const auto& b : snap->blocks) {
            const auto f = tel::computeLoadFigures(b);
            nlohmann::ordered_json jb{{"block", b.block}, {"experts", b.experts}, {"ffn_experts", b.ffnExperts}, {"tokens", b.tokens},
                                      {"dropped", b.dropped}, {"tokens_per_expert", b.tokensPerExpert}, {"share", f.share},
                                      {"mean_gate_prob", b.meanGateProb}, {"dead_experts", f.deadExperts}, {"max_share", f.maxShare},
                                      {"cv", f.cv}, {"noise_cv", f.noiseCv}, {"batches", b.batches}, {"normalized_entropy", f.normalizedEntropy}, {"effective_experts", f.effectiveExperts},
                                      {"drop_rate", f.dropRate}, {"mean_similarity", f.meanSimilarity}, {"router_grad_norm", b.routerGradNorm},
                                      {"mean_token_entropy", b.meanTokenEntropy}};
            j["blocks"].push_back(jb);
        }
        j["verdicts"] = nlohmann::ordered_json::array();
        for (const auto& v : verdicts) {
            auto jv = alertJson(v);
            auto it = first.find({v.block, v.kind});
            jv["first_seen_step"] = it == first.end() ? v.step : it->second;
            j["verdicts"].push_back(jv);
        }
        for (const auto& v : finalAlerts) j["verdicts"].push_back(alertJson(v));
        moe::cli::printJson(j);
        return 0;
    }

    const auto& info = r.info();
    std::cout << "run " << info.runId << ": " << info.status;
    if (!info.message.empty()) std::cout << " (" << info.message << ")";
    std::cout << "\nstarted " << info.startedAt << (info.finishedAt.empty() ? "" : ", finished " + info.finishedAt) << ", "
              << r.snapshots().size() << " snapshots up to step " << r.latest()->step << "\n\n";
    std::cout << "step " << snap->step << " (epoch " << fixed(snap->epoch, 2) << "): loss " << fixed(snap->loss, 4) << " (task "
              << fixed(snap->taskLoss, 4) << "), training batch accuracy " << pct(snap->accuracy) << "\n";
    if (lastTest >= 0)
        std::cout << "test accuracy: " << pct(lastTest) << " (last measured), best " << pct(bestTest) << " at step " << bestTestStep << "\n";
    else
        std::cout << "test accuracy: not measured yet\n";
    if (lastLm)
        std::cout << "held-out text: " << fixed(tel::bitsPerByte(lastLm->testLoss), 3) << " bits per byte (loss " << fixed(lastLm->testLoss, 4)
                  << " nats, perplexity " << fixed(std::exp(lastLm->testLoss), 2) << ") at step " << lastLm->step << ", best "
                  << fixed(tel::bitsPerByte(bestLm->testLoss), 3) << " at step " << bestLm->step << "; unigram reference "
                  << fixed(lastLm->unigramBitsPerByte, 3) << " bits per byte\n";
    std::cout << humanCount(snap->tokensPerSecond) << " tokens/s, " << fixed(snap->wallSeconds, 1) << " s of training\n";
    if (!dist.ranks.empty()) {
        std::cout << "\ndata parallel over " << dist.ranks.size() << " ranks, time per step up to step " << snap->step << ":\n";
        moe::cli::Table t({"rank", "steps", "compute ms", "grad reduce ms", "exchange ms", "communication"});
        for (const auto& rt : dist.ranks) {
            const double n = std::max(1, rt.steps), total = rt.computeSeconds + rt.gradReduceSeconds + rt.exchangeSeconds;
            t.add({std::to_string(rt.rank), std::to_string(rt.steps), fixed(1e3 * rt.computeSeconds / n, 2), fixed(1e3 * rt.gradReduceSeconds / n, 2),
                   fixed(1e3 * rt.exchangeSeconds / n, 2), total > 0 ? pct((rt.gradReduceSeconds + rt.exchangeSeconds) / total) : "-"});
        }
        std::cout << t.str() << "(grad reduce: waiting for the gradient all-reduce after the backward pass; exchange: the routers' gathers and\n"
                     "the step's loss and telemetry sums in the forward pass; communication: their share of the step)\n";
    }

    if (!dist.blocks.empty()) {
        std::cout << "\nexpert parallel, time per step up to step " << snap->step << (dist.skippedFirst ? " after the first snapshot" : "")
                  << " (the slowest rank of each block):\n";
        std::vector<std::string> head{"block", "ranks", "steps", "all-to-all ms", "rank", "experts ms", "KiB sent per dispatch"};
        if (dist.waitsMeasured) head.insert(head.begin() + 5, "waiting ms");
        moe::cli::Table t(head);
        for (const auto& b : dist.blocks) {
            std::vector<std::string> row{std::to_string(b.block), std::to_string(b.ranks), std::to_string(b.steps), fixed(1e3 * b.alltoallSeconds, 3),
                                         std::to_string(b.slowestRank), fixed(1e3 * b.expertSeconds, 3), fixed(b.sentBytes / 1024, 1)};
            if (dist.waitsMeasured) row.insert(row.begin() + 5, fixed(1e3 * b.waitSeconds, 3));
            t.add(row);
        }
        std::cout << t.str() << "(all-to-all: the block's dispatch and combine, forward and backward"
                  << (dist.waitsMeasured ? ", after the barrier before each; waiting: in that barrier,\nuntil the last rank arrived" : "")
                  << "; experts: the slowest rank's expert\nforward; sent: token rows every rank sends to the others in one dispatch, summed)\n";
    }
    if (!predictions.empty()) {
        std::cout << "\npredicted on " << predictedCluster << " against measured, all-to-all ms per step (4 all-to-alls: dispatch and\n"
                     "combine, forward and backward, of each block's recorded traffic on the flow model):\n";
        moe::cli::Table t({"block", "measured ms", "predicted ms", "error", "dispatch ms", "combine ms", "KiB per dispatch"});
        for (const auto& p : predictions)
            t.add({std::to_string(p.block), fixed(1e3 * p.measuredSeconds, 3), fixed(1e3 * p.predictedSeconds, 3), fixed(p.errorPct(), 1) + "%",
                   fixed(1e3 * p.dispatchSeconds, 3), fixed(1e3 * p.combineSeconds, 3), fixed(p.dispatchBytes / 1024, 1)});
        t.add({"total", fixed(1e3 * measuredTotal, 3), fixed(1e3 * predictedTotal, 3), fixed(errorPct(predictedTotal, measuredTotal), 1) + "%", "", "", ""});
        std::cout << t.str();
    }

    // The project the run trained names the zero-computation columns (zero, copy, constant).
    // Block indices are those of the flattened model (groups expanded).
    auto project = moe::spec::parseProject(info.projectJson);
    const auto layers = project ? project->model.flattened().blocks : std::vector<moe::spec::BlockSpec>{};
    auto expertKind = [&](const tel::BlockSnapshot& b, int e) -> std::string {
        if (e < b.ffnExperts) return "ffn";
        if (b.block < 0 || b.block >= static_cast<int>(layers.size())) return "zero-comp";
        const auto& z = layers[static_cast<size_t>(b.block)].zeroExperts;
        const int i = e - b.ffnExperts;
        return i < z.zero ? "zero" : i < z.zero + z.copy ? "copy" : "constant";
    };
    for (const auto& b : snap->blocks) {
        const auto f = tel::computeLoadFigures(b);
        const moe::spec::BlockSpec* spec = b.block >= 0 && b.block < static_cast<int>(layers.size()) ? &layers[static_cast<size_t>(b.block)] : nullptr;
        std::cout << "\nblock " << b.block << ": " << b.experts << " routed experts (" << b.ffnExperts << " FFN)";
        if (spec && spec->sharedExperts > 0)
            std::cout << " + " << spec->sharedExperts << " shared expert" << (spec->sharedExperts == 1 ? "" : "s") << " (every token, not routed)";
        std::cout << ", " << b.tokens << " tokens over " << b.batches << " batch" << (b.batches == 1 ? "" : "es") << ", dropped "
                  << b.dropped << " (" << pct(f.dropRate) << ")\n";
        moe::cli::Table t({"expert", "kind", "tokens", "share", "gate prob", ""});
        const double maxShare = f.maxShare;
        for (int e = 0; e < b.experts; ++e) {
            const auto ue = static_cast<size_t>(e);
            t.add({std::to_string(e), expertKind(b, e), fixed(ue < b.tokensPerExpert.size() ? b.tokensPerExpert[ue] : 0, 0),
                   pct(f.share[ue]), ue < b.meanGateProb.size() ? fixed(b.meanGateProb[ue], 3) : "", shareBar(f.share[ue], maxShare, 20)});
        }
        std::cout << t.str();
        std::cout << "max share " << pct(f.maxShare) << ", CV " << fixed(f.cv, 2) << " (an even router shows " << fixed(f.noiseCv, 2)
                  << " at this sample size), load entropy " << pct(f.normalizedEntropy)
                  << " of max, effective experts " << fixed(f.effectiveExperts, 2) << " of " << b.experts << ", dead " << f.deadExperts
                  << "\nmean token entropy " << fixed(b.meanTokenEntropy, 3) << " nats, router grad norm "
                  << (b.routerGradNorm < 0 ? std::string("- (no weights)") : fixed(b.routerGradNorm, 6));
        if (f.meanSimilarity >= 0) std::cout << ", mean expert similarity " << fixed(f.meanSimilarity, 3);
        // A loss with coefficient 0 is measured but not trained on: say so.
        auto lossNote = [&](double coefficient) {
            if (!spec) return std::string();
            return coefficient > 0 ? " (x " + fixed(coefficient, 3) + " in the training loss)" : std::string(" (diagnostic only: coefficient 0, not applied)");
        };
        std::cout << ", aux loss " << fixed(b.auxLoss, 4) << lossNote(spec ? spec->losses.aux : 0) << ", z-loss " << fixed(b.zLoss, 4)
                  << lossNote(spec ? spec->losses.z : 0) << "\n";
    }

    std::cout << "\nverdicts at step " << snap->step << ":\n";
    if (verdicts.empty() && finalAlerts.empty()) std::cout << "  healthy: no collapse detector tripped\n";
    for (const auto& v : finalAlerts) std::cout << "  [" << tel::toString(v.severity) << "] " << v.title << "\n    " << v.explanation << "\n    fix: " << v.fix << "\n";
    for (const auto& v : verdicts) {
        auto it = first.find({v.block, v.kind});
        std::cout << "  [" << tel::toString(v.severity) << "] block " << v.block << ": " << v.title;
        if (it != first.end()) std::cout << " (since step " << it->second << ")";
        std::cout << "\n    " << v.explanation << "\n    fix: " << v.fix << "\n";
    }
    return 0;
}

MOE_CLI_COMMAND(moe::cli::CommandSpec{
    "report", "per-block load tables, collapse verdicts and accuracy of a run store", "RUN.sqlite",
    "Reads a run store written by 'moe train' or the studio (also while it is still being written) and prints\n"
    "the last snapshot's load per expert, the collapse detectors' verdicts with explanations and fixes, and the\n"
    "accuracy. --csv TABLE prints one table of the store as CSV: steps, block_stats, expert_stats,\n"
    "class_expert, alerts, text_metrics, probe_routing, rank_times or layer_times. A data parallel run also shows each rank's time per step\n"
    "in compute, gradient reduction and forward exchanges; an expert parallel run each block's all-to-all and expert time,\n"
    "and with --predict CLUSTER the all-to-all the cluster model predicts for the same recorded traffic, block by block.",
    {{"json", "", "print the report as JSON"},
     {"csv", "TABLE", "print a table as CSV (steps, block_stats, expert_stats, class_expert, alerts, text_metrics, probe_routing, rank_times, layer_times)"},
     {"step", "N", "report the snapshot at step N (or the last one before it)"},
     {"predict", "CLUSTER", "expert parallel runs: price each block's recorded all-to-all traffic on CLUSTER (e.g. localhost-gloo) against the measured time"},
     moe::cli::kCatalogOverlayOption},
    1, 1, run});

}  // namespace
