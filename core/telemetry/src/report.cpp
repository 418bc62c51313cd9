#include "moe/telemetry/report.h"

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
    if (!info.projectJson.empty()) out << "\n## Project as trained\n\n```json\n" << info.projectJson << (info.projectJson.back() == '\n' ? "" : "\n") << "```\n";
}

}  // namespace moe::telemetry
