#include "moe/telemetry/report.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>

#include "moe/telemetry/collapse.h"

namespace moe::telemetry {

namespace {

std::string fmt(double v, int decimals) {
    char b[64];
    std::snprintf(b, sizeof b, "%.*f", decimals, v);
    return b;
}

std::string pct(double f) { return fmt(100.0 * f, 1) + "%"; }

// Markdown table cells: a pipe would end the cell.
std::string cell(std::string s) {
    for (size_t i = 0; (i = s.find('|', i)) != std::string::npos; i += 2) s.replace(i, 1, "\\|");
    for (char& c : s)
        if (c == '\n') c = ' ';
    return s;
}

}  // namespace

DistributedSummary summarizeDistributed(const RunReader& run, std::int64_t upToStep) {
    DistributedSummary d;
    std::map<int, RankTime> ranks;
    const auto& snaps = run.snapshots();
    d.skippedFirst = snaps.size() > 1 && snaps[1]->step <= upToStep && !snaps[1]->layerTimes.empty();
    std::vector<LayerTime> records;
    for (const auto& s : snaps) {
        if (s->step > upToStep) break;
        for (const auto& t : s->rankTimes) {
            auto& sum = ranks[t.rank];
            sum.rank = t.rank;
            sum.steps += t.steps;
            sum.computeSeconds += t.computeSeconds;
            sum.gradReduceSeconds += t.gradReduceSeconds;
            sum.exchangeSeconds += t.exchangeSeconds;
        }
        if (d.skippedFirst && s == snaps.front()) continue;
        records.insert(records.end(), s->layerTimes.begin(), s->layerTimes.end());
    }
    for (const auto& [rank, t] : ranks) d.ranks.push_back(t);
    for (const auto& t : records) d.waitsMeasured = d.waitsMeasured || t.waitSeconds > 0;
    d.layerTimes = sumLayerTimes(records);
    std::map<int, std::vector<const LayerTime*>> byBlock;
    for (const auto& t : d.layerTimes) byBlock[t.block].push_back(&t);
    for (const auto& [block, ofBlock] : byBlock) {
        ExpertParallelBlock b;
        b.block = block;
        b.ranks = static_cast<int>(ofBlock.size());
        double slowest = -1;
        for (const LayerTime* x : ofBlock) {
            const double n = std::max(1, x->steps);
            if (x->alltoallSeconds / n > slowest) {
                slowest = x->alltoallSeconds / n;
                b.steps = x->steps;
                b.slowestRank = x->rank;
                b.alltoallSeconds = slowest;
                b.waitSeconds = x->waitSeconds / n;
            }
            b.expertSeconds = std::max(b.expertSeconds, x->expertSeconds / n);
            for (size_t to = 0; to < x->rowsTo.size(); ++to)
                if (static_cast<int>(to) != x->rank) b.sentBytes += x->rowsTo[to] * x->bytesPerRow / n;
        }
        d.blocks.push_back(b);
    }
    return d;
}

void writeMarkdownReport(const RunReader& run, std::ostream& out) {
    const RunInfo& info = run.info();
    out << "# Run " << (info.name.empty() ? info.runId : info.name + " (" + info.runId + ")") << "\n\n";
    if (!info.notes.empty()) out << info.notes << "\n\n";
    out << "- status: " << info.status << (info.message.empty() ? "" : " (" + info.message + ")") << "\n";
    out << "- started " << info.startedAt << (info.finishedAt.empty() ? "" : ", finished " + info.finishedAt) << "\n";
    const SnapshotPtr last = run.latest();
    if (!last) {
        out << "- no snapshots recorded\n";
        return;
    }
    out << "- " << run.snapshots().size() << " snapshots up to step " << last->step << "\n";
    out << "- last snapshot: task loss " << fmt(last->taskLoss, 4) << ", loss with balancing terms " << fmt(last->loss, 4)
        << ", training batch accuracy " << pct(last->accuracy) << "\n";
    double test = -1;
    std::int64_t testStep = -1;
    for (const auto& s : run.snapshots())
        if (s->testAccuracy >= 0) {
            test = s->testAccuracy;
            testStep = s->step;
        }
    if (test >= 0) out << "- held-out accuracy " << pct(test) << " (step " << testStep << ")\n";

    out << "\n## Routing at step " << last->step << "\n\n";
    out << "| block | experts | sample (batches) | max share | CV | even-router CV | effective experts | dead | drop rate |\n";
    out << "|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const auto& b : last->blocks) {
        const LoadFigures f = computeLoadFigures(b);
        out << "| " << b.block << " | " << b.experts << " | " << b.tokens << " tokens (" << b.batches << ") | " << pct(f.maxShare) << " | "
            << fmt(f.cv, 2) << " | " << fmt(f.noiseCv, 2) << " | " << fmt(f.effectiveExperts, 2) << " | " << f.deadExperts << " | "
            << pct(f.dropRate) << " |\n";
    }

    // When each detector first tripped, over the whole run.
    std::map<std::pair<int, AlertKind>, std::int64_t> first;
    for (const auto& s : run.snapshots())
        for (const auto& a : s->alerts) first.emplace(std::make_pair(a.block, a.kind), s->step);
    out << "\n## Collapse verdicts at step " << last->step << "\n\n";
    if (last->alerts.empty()) out << "No detector tripped at this step.\n";
    else {
        out << "| severity | block | verdict | first tripped | fix |\n|---|---:|---|---:|---|\n";
        for (const auto& a : last->alerts) {
            const auto it = first.find({a.block, a.kind});
            out << "| " << toString(a.severity) << " | " << a.block << " | " << cell(a.title) << " | "
                << (it == first.end() ? a.step : it->second) << " | " << cell(a.fix) << " |\n";
        }
    }
    if (!first.empty()) {
        out << "\nEvery detector that tripped during the run:\n\n";
        for (const auto& [key, step] : first)
            out << "- block " << key.first << ": " << toString(key.second) << " from step " << step << "\n";
    }
    const DistributedSummary d = summarizeDistributed(run, last->step);
    if (!d.ranks.empty()) {
        out << "\n## Ranks\n\nData parallel over " << d.ranks.size() << " ranks, time per step up to step " << last->step << ":\n\n";
        out << "| rank | steps | compute ms | gradient reduce ms | exchange ms | communication |\n|---:|---:|---:|---:|---:|---:|\n";
        for (const auto& r : d.ranks) {
            const double n = std::max(1, r.steps), total = r.computeSeconds + r.gradReduceSeconds + r.exchangeSeconds;
            out << "| " << r.rank << " | " << r.steps << " | " << fmt(1e3 * r.computeSeconds / n, 2) << " | " << fmt(1e3 * r.gradReduceSeconds / n, 2)
                << " | " << fmt(1e3 * r.exchangeSeconds / n, 2) << " | " << (total > 0 ? pct((r.gradReduceSeconds + r.exchangeSeconds) / total) : "-")
                << " |\n";
        }
    }
    if (!d.blocks.empty()) {
        out << "\n## Expert parallel\n\nTime per step" << (d.skippedFirst ? " after the first snapshot" : "")
            << ", the slowest rank of each block (all-to-all: dispatch and combine, forward and backward"
            << (d.waitsMeasured ? ", after a barrier; waiting: in that barrier" : "") << "):\n\n";
        out << "| block | ranks | steps | all-to-all ms | rank |" << (d.waitsMeasured ? " waiting ms |" : "") << " experts ms | KiB sent per dispatch |\n";
        out << "|---:|---:|---:|---:|---:|" << (d.waitsMeasured ? "---:|" : "") << "---:|---:|\n";
        for (const auto& b : d.blocks)
            out << "| " << b.block << " | " << b.ranks << " | " << b.steps << " | " << fmt(1e3 * b.alltoallSeconds, 3) << " | " << b.slowestRank << " | "
                << (d.waitsMeasured ? fmt(1e3 * b.waitSeconds, 3) + " | " : "") << fmt(1e3 * b.expertSeconds, 3) << " | " << fmt(b.sentBytes / 1024, 1)
                << " |\n";
    }
    if (!info.projectJson.empty()) out << "\n## Project as trained\n\n```json\n" << info.projectJson << (info.projectJson.back() == '\n' ? "" : "\n") << "```\n";
}

}  // namespace moe::telemetry
