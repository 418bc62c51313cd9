// Collapse monitor: per-block gauges of the figures that reveal expert collapse, with the
// engine's alerts (badge, explanation, suggested fix) for the step under the scrubber.
#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "draw_util.h"

namespace moe::viz {

using namespace detail;
using telemetry::AlertKind;
using telemetry::Severity;

namespace {

Status statusOf(Severity s) {
    switch (s) {
        case Severity::Info: return Status::Info;
        case Severity::Warning: return Status::Warning;
        case Severity::Critical: return Status::Critical;
    }
    return Status::Info;
}

const char* shortName(AlertKind k) {
    switch (k) {
        case AlertKind::DeadExperts: return "dead";
        case AlertKind::LoadImbalance: return "imbalance";
        case AlertKind::LowLoadEntropy: return "low entropy";
        case AlertKind::HighDropRate: return "drops";
        case AlertKind::RepresentationCollapse: return "same experts";
        case AlertKind::RouterStarvation: return "router starved";
        case AlertKind::Divergence: return "diverged";
    }
    return "?";
}

const char* severityName(Severity s) {
    switch (s) {
        case Severity::Info: return "INFO";
        case Severity::Warning: return "WARNING";
        case Severity::Critical: return "CRITICAL";
    }
    return "?";
}

// The worst alert of `kinds` for `block` at this step, or nullptr.
const telemetry::Alert* worst(const telemetry::RoutingSnapshot& s, int block, std::initializer_list<AlertKind> kinds) {
    const telemetry::Alert* w = nullptr;
    for (const auto& a : s.alerts) {
        if (a.block != block) continue;
        if (std::find(kinds.begin(), kinds.end(), a.kind) == kinds.end()) continue;
        if (!w || static_cast<int>(a.severity) > static_cast<int>(w->severity)) w = &a;
    }
    return w;
}

// A badge: rounded rectangle in the status colour with a glyph and a word, never colour alone.
float badge(ImDrawList* dl, ImVec2 p, Status st, const std::string& text, ImFont* font) {
    const float s = fonts().scale;
    const std::string label = std::string(statusGlyph(st)) + "  " + text;
    const ImVec2 sz = font->CalcTextSizeA(font->FontSize, 1e9f, 0, label.c_str());
    const Rgb bg = statusColour(st);
    dl->AddRectFilled(p, {p.x + sz.x + 12 * s, p.y + sz.y + 4 * s}, col(bg), 4 * s);
    textAt(dl, {p.x + 6 * s, p.y + 2 * s}, col(contrastingText(bg)), label, font);
    return sz.x + 12 * s;
}

// One gauge in a table cell: track, fill in [0, 1], optional reference tick, value text.
void gauge(double frac, double refFrac, const std::string& text, const telemetry::Alert* alert) {
    const float s = fonts().scale;
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const ImVec2 p = ImGui::GetCursorScreenPos();
    const float w = ImGui::GetContentRegionAvail().x, h = ImGui::GetFontSize() + 6 * s;
    const float barH = 7 * s;
    const float by = p.y + h - barH - 1 * s;
    dl->AddRectFilled({p.x, by}, {p.x + w, by + barH}, theme::kEmptyCell, 3 * s);
    const float f = static_cast<float>(std::clamp(std::isfinite(frac) ? frac : 0.0, 0.0, 1.0));
    const ImU32 fill = alert ? col(statusColour(statusOf(alert->severity))) : IM_COL32(120, 150, 190, 255);
    if (f > 0) dl->AddRectFilled({p.x, by}, {p.x + std::max(2 * s, w * f), by + barH}, fill, 3 * s);
    if (refFrac > 0 && refFrac < 1) {
        const float rx = p.x + w * static_cast<float>(refFrac);
        vline(dl, rx, by - 2 * s, by + barH + 1 * s, theme::kText, 1.5f * s);
    }
    ImFont* small = fonts().small ? fonts().small : ImGui::GetFont();
    std::string t = text;
    if (alert) t = std::string(statusGlyph(statusOf(alert->severity))) + " " + t;
    textAt(dl, {p.x, p.y}, alert ? fill : theme::kText, t, small);
    ImGui::Dummy({w, h});
    if (ImGui::IsItemHovered() && alert) {
        ImGui::BeginTooltip();
        ImGui::PushTextWrapPos(420 * s);
        ImGui::TextUnformatted(alert->title.c_str());
        ImGui::TextDisabled("%s", alert->explanation.c_str());
        ImGui::PopTextWrapPos();
        ImGui::EndTooltip();
    }
}

}  // namespace

std::vector<Intent> drawCollapse(const RunView& run, PanelState& st) {
    std::vector<Intent> intents;
    const telemetry::RoutingSnapshot* snap = currentSnapshot(run, st);
    if (!snap) {
        header("Collapse monitor", "");
        emptyMessage("No snapshots yet: the run has not published any routing data.");
        return intents;
    }
    const float s = fonts().scale;
    int crit = 0, warn = 0;
    for (const auto& a : snap->alerts) {
        crit += a.severity == Severity::Critical;
        warn += a.severity == Severity::Warning;
    }
    char sub[512];
    const auto& b0 = snap->blocks.empty() ? telemetry::BlockSnapshot{} : snap->blocks.front();
    std::snprintf(sub, sizeof sub, "step %lld  ·  %zu MoE blocks  ·  %zu alerts (%d critical, %d warnings)  ·  task loss %.4g  ·  sample %lld tokens over %d batch%s",
                  static_cast<long long>(snap->step), snap->blocks.size(), snap->alerts.size(), crit, warn, snap->taskLoss,
                  static_cast<long long>(b0.tokens), b0.batches, b0.batches == 1 ? "" : "es");
    header("Collapse monitor", sub);
    scrubber(run, st, intents);
    {
        // When each detector first tripped: the moment to look at when debugging a collapse.
        const auto trips = firstTrips(run);
        std::string line = trips.empty() ? "No detector has tripped in this run." : "First tripped:";
        for (size_t i = 0; i < trips.size() && i < 8; ++i) {
            const auto& f = trips[i];
            line += std::string(i ? ";" : "") + " " + shortName(f.kind) + (f.block >= 0 ? " (block " + std::to_string(f.block) + ")" : "") +
                    " at step " + std::to_string(f.step);
        }
        if (trips.size() > 8) line += "; …";
        ImGui::PushTextWrapPos(0);
        ImGui::TextDisabled("%s", line.c_str());
        ImGui::PopTextWrapPos();
    }

    // Peak router gradient of each block over the run so far: starvation reads as "% of peak".
    std::vector<double> peakGrad(snap->blocks.size(), 0.0);
    const int cur = currentIndex(run, st);
    for (int t = 0; t <= cur; ++t)
        for (const auto& b : run.snapshots[static_cast<size_t>(t)]->blocks)
            for (size_t i = 0; i < snap->blocks.size(); ++i)
                if (snap->blocks[i].block == b.block) peakGrad[i] = std::max(peakGrad[i], b.routerGradNorm);

    ImFont* small = fonts().small ? fonts().small : ImGui::GetFont();
    const float availH = ImGui::GetContentRegionAvail().y;
    const float rowH = ImGui::GetFontSize() + 6 * s + ImGui::GetStyle().CellPadding.y * 2;
    const float tableH = std::min(availH * 0.45f, rowH * (static_cast<float>(snap->blocks.size()) + 1.6f));
    constexpr ImGuiTableFlags tf = ImGuiTableFlags_ScrollY | ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerH |
                                   ImGuiTableFlags_SizingStretchProp | ImGuiTableFlags_PadOuterX;
    // In a narrow dock the gauges that decide a collapse stay (effective experts, CV, drops,
    // alerts); max share, similarity and the router gradient are in the wide layout (and the
    // alerts below say when they matter).
    const bool narrow = ImGui::GetContentRegionAvail().x < 900 * s;
    if (ImGui::BeginTable("gauges", narrow ? 5 : 8, tf, {0, tableH})) {
        ImGui::TableSetupScrollFreeze(0, 1);
        ImGui::TableSetupColumn("block", ImGuiTableColumnFlags_WidthFixed, ImGui::CalcTextSize("block 00").x + 8 * s);
        ImGui::TableSetupColumn(narrow ? "effective" : "effective experts", 0, 1.0f);
        ImGui::TableSetupColumn("load CV", 0, 1.0f);
        if (!narrow) ImGui::TableSetupColumn("max share", 0, 1.0f);
        ImGui::TableSetupColumn(narrow ? "drops" : "drop rate", 0, 1.0f);
        if (!narrow) {
            ImGui::TableSetupColumn("expert similarity", 0, 1.0f);
            ImGui::TableSetupColumn("router gradient", 0, 1.0f);
        }
        ImGui::TableSetupColumn("alerts", 0, narrow ? 1.0f : 1.5f);
        // What each gauge means (the Help menu's glossary says the same at more length).
        const char* kBlock = "The MoE block, numbered from 0 as on the canvas. Click a row to select its block.";
        const char* kEffective = "exp(load entropy): how many equally used experts would spread the tokens this evenly.\n"
                                 "Far below the expert count, a few experts take most of the tokens.";
        const char* kCv = "Coefficient of variation of the expert loads: their standard deviation / their mean.\n"
                          "0 is even; one expert taking everything gives sqrt(E - 1). In brackets and as the\n"
                          "tick: the noise floor, the CV an even router shows at this sample size.";
        const char* kMax = "The busiest expert's share of the assignments, against 1/E for an even router.";
        const char* kDrops = "Assignments dropped by the capacity limit / all assignments. Dropped tokens skip the\n"
                             "expert and ride the residual connection.";
        const char* kSim = "Mean cosine similarity of different experts' outputs on the same tokens; near 1 the\n"
                           "experts compute the same thing (representation collapse).";
        const char* kGrad = "Size of the router's weight gradient, and its share of the largest in the run. Near\n"
                            "zero the router has stopped learning (router starvation).";
        const char* kAlerts = "The detectors that are on for this block at this snapshot. They trip at a threshold\n"
                              "and stay on until the figure is well past it (hysteresis).";
        if (narrow) headersWithTips({kBlock, kEffective, kCv, kDrops, kAlerts});
        else headersWithTips({kBlock, kEffective, kCv, kMax, kDrops, kSim, kGrad, kAlerts});
        for (size_t i = 0; i < snap->blocks.size(); ++i) {
            const auto& b = snap->blocks[i];
            const auto f = figures(b);
            const int E = std::max(b.experts, 1);
            ImGui::TableNextRow(0, rowH - ImGui::GetStyle().CellPadding.y * 2);
            ImGui::TableNextColumn();
            char name[32];
            std::snprintf(name, sizeof name, "block %d", b.block);
            if (ImGui::Selectable(name, static_cast<int>(i) == st.block)) {
                st.block = static_cast<int>(i);
                intents.push_back({Intent::Kind::SelectBlock, b.block});
            }
            char t[96];
            ImGui::TableNextColumn();
            std::snprintf(t, sizeof t, "%.2f of %d", f.effectiveExperts, b.experts);
            gauge(f.effectiveExperts / E, 0, t, worst(*snap, b.block, {AlertKind::LowLoadEntropy}));
            ImGui::TableNextColumn();
            // CV is at most sqrt(E - 1), when one expert takes every token.
            const double cvMax = std::sqrt(std::max(1.0, E - 1.0));
            // The tick is the noise floor: the CV an even router shows at this sample size.
            const double noise = telemetry::evenRouterCv(b.assignments() - static_cast<double>(b.dropped), b.experts);
            std::snprintf(t, sizeof t, narrow ? "%.2f (%.2f)" : "%.2f  (noise %.2f)", f.cv, noise);
            gauge(f.cv / cvMax, noise / cvMax, t, worst(*snap, b.block, {AlertKind::LoadImbalance}));
            if (!narrow) {
                ImGui::TableNextColumn();
                std::snprintf(t, sizeof t, "%s  (uniform %s)", fmtPercent(f.maxShare).c_str(), fmtPercent(1.0 / E).c_str());
                gauge(f.maxShare, 1.0 / E, t, worst(*snap, b.block, {AlertKind::LoadImbalance, AlertKind::DeadExperts}));
            }
            ImGui::TableNextColumn();
            gauge(f.dropRate, 0, fmtPercent(f.dropRate), worst(*snap, b.block, {AlertKind::HighDropRate}));
            if (!narrow) {
                ImGui::TableNextColumn();
                if (f.hasSimilarity) {
                    std::snprintf(t, sizeof t, "cos %.2f", f.meanSimilarity);
                    gauge(f.meanSimilarity, 0, t, worst(*snap, b.block, {AlertKind::RepresentationCollapse}));
                } else {
                    gauge(0, 0, "not measured", nullptr);
                }
                ImGui::TableNextColumn();
                const double peak = peakGrad[i];
                if (b.routerGradNorm < 0) {
                    gauge(0, 0, "no router weights (hash)", nullptr);  // nothing to starve
                } else {
                    std::snprintf(t, sizeof t, "%.2e  (%s of peak)", b.routerGradNorm,
                                  peak > 0 ? fmtPercent(b.routerGradNorm / peak, 0).c_str() : "n/a");
                    gauge(peak > 0 ? b.routerGradNorm / peak : 0, 0, t, worst(*snap, b.block, {AlertKind::RouterStarvation}));
                }
            }
            ImGui::TableNextColumn();
            ImDrawList* dl = ImGui::GetWindowDrawList();
            ImVec2 p = ImGui::GetCursorScreenPos();
            bool any = false;
            for (const auto& a : snap->alerts) {
                if (a.block != b.block) continue;
                p.x += badge(dl, p, statusOf(a.severity), shortName(a.kind), small) + 4 * s;
                any = true;
            }
            if (!any) textAt(dl, p, theme::kDimText, "none", small);
            ImGui::Dummy({1, ImGui::GetFontSize()});
        }
        ImGui::EndTable();
    }

    // ---- alert history: worst severity per block and snapshot ---------------------------------------
    {
        std::vector<int> rowsBlocks;  // blocks that ever had an alert (-1: the whole model)
        for (const auto& sn : run.snapshots)
            for (const auto& a : sn->alerts)
                if (std::find(rowsBlocks.begin(), rowsBlocks.end(), a.block) == rowsBlocks.end()) rowsBlocks.push_back(a.block);
        std::sort(rowsBlocks.begin(), rowsBlocks.end());
        if (!rowsBlocks.empty() && run.snapshots.size() > 1) {
            ImGui::Spacing();
            if (fonts().bold) ImGui::PushFont(fonts().bold);
            ImGui::TextUnformatted("Alert history");
            if (fonts().bold) ImGui::PopFont();
            ImDrawList* dl = ImGui::GetWindowDrawList();
            const int n = static_cast<int>(run.snapshots.size()), rows = static_cast<int>(rowsBlocks.size());
            const float rowH = std::max(8.0f * s, std::min(16.0f * s, 90.0f * s / rows));
            const ImVec2 o = ImGui::GetCursorScreenPos();
            const float labelW = 70 * s;
            const ImVec2 p0{o.x + labelW, o.y}, p1{o.x + ImGui::GetContentRegionAvail().x - 10 * s, o.y + rows * rowH};
            std::vector<ImU32> cells(static_cast<size_t>(n) * rows, theme::kPlotBackground);
            for (int t = 0; t < n; ++t)
                for (const auto& a : run.snapshots[static_cast<size_t>(t)]->alerts) {
                    const int r = static_cast<int>(std::find(rowsBlocks.begin(), rowsBlocks.end(), a.block) - rowsBlocks.begin());
                    ImU32& c = cells[static_cast<size_t>(r) * n + t];
                    const ImU32 mine = col(statusColour(statusOf(a.severity)));
                    // Keep the worst: critical over warning over info.
                    if (c == theme::kPlotBackground || a.severity == Severity::Critical ||
                        (a.severity == Severity::Warning && c == col(statusColour(Status::Info))))
                        c = mine;
                }
            // Snapshots after the scrubber's are faded: the future of a replay, not yet happened live.
            auto fade = [](ImU32 c) {
                const ImVec4 a = ImGui::ColorConvertU32ToFloat4(c), b = ImGui::ColorConvertU32ToFloat4(theme::kPlotBackground);
                return ImGui::ColorConvertFloat4ToU32({b.x + (a.x - b.x) * 0.35f, b.y + (a.y - b.y) * 0.35f, b.z + (a.z - b.z) * 0.35f, 1});
            };
            for (int r = 0; r < rows; ++r)
                for (int t = cur + 1; t < n; ++t) cells[static_cast<size_t>(r) * n + t] = fade(cells[static_cast<size_t>(r) * n + t]);
            colourGrid(dl, p0, p1, n, rows, cells);
            for (int r = 0; r < rows; ++r) {
                const std::string label = rowsBlocks[static_cast<size_t>(r)] < 0 ? "model" : "block " + std::to_string(rowsBlocks[static_cast<size_t>(r)]);
                textRight(dl, {p0.x - 8 * s, p0.y + (r + 0.5f) * rowH}, theme::kText, label, small);
                if (r > 0) hline(dl, p0.x, p1.x, p0.y + r * rowH, theme::kBackground);
            }
            const float cw = (p1.x - p0.x) / n;
            // A tick above the row where each detector first tripped for that block.
            for (const auto& f : firstTrips(run)) {
                const int r = static_cast<int>(std::find(rowsBlocks.begin(), rowsBlocks.end(), f.block) - rowsBlocks.begin());
                if (r >= rows) continue;
                const float x = p0.x + (f.index + 0.5f) * cw, y = p0.y + r * rowH;
                dl->AddTriangleFilled({x - 4 * s, y}, {x + 4 * s, y}, {x, y + std::min(rowH, 7 * s)}, theme::kHighlight);
            }
            vline(dl, p0.x + (cur + 0.5f) * cw, p0.y - 2 * s, p1.y + 2 * s, theme::kHighlight, 2 * s);
            textAt(dl, {p0.x, p1.y + 3 * s}, theme::kDimText, "step " + std::to_string(run.snapshots.front()->step), small);
            textRight(dl, {p1.x, p1.y + 3 * s + small->FontSize * 0.5f}, theme::kDimText,
                      "step " + std::to_string(run.snapshots.back()->step), small);
            ImGui::Dummy({p1.x - o.x, rows * rowH + small->FontSize + 8 * s});
        }
    }

    // ---- alerts: explanation and fix ----------------------------------------------------------------
    ImGui::Spacing();
    if (fonts().bold) ImGui::PushFont(fonts().bold);
    ImGui::Text("Alerts at step %lld", static_cast<long long>(snap->step));
    if (fonts().bold) ImGui::PopFont();
    std::vector<const telemetry::Alert*> alerts;
    for (const auto& a : snap->alerts) alerts.push_back(&a);
    std::stable_sort(alerts.begin(), alerts.end(), [](auto* a, auto* b) {
        return static_cast<int>(a->severity) > static_cast<int>(b->severity);
    });
    ImGui::BeginChild("alerts", {0, 0}, false);
    if (alerts.empty()) {
        ImGui::TextDisabled("No alerts: no collapse detector tripped at this step.");
    }
    for (const auto* a : alerts) {
        ImDrawList* dl = ImGui::GetWindowDrawList();
        const ImVec2 p = ImGui::GetCursorScreenPos();
        const float bw = badge(dl, p, statusOf(a->severity), severityName(a->severity), small);
        ImGui::Dummy({bw, small->FontSize + 4 * s});
        ImGui::SameLine();
        if (fonts().bold) ImGui::PushFont(fonts().bold);
        if (a->block >= 0) ImGui::TextWrapped("block %d: %s", a->block, a->title.c_str());
        else ImGui::TextWrapped("model: %s", a->title.c_str());
        if (fonts().bold) ImGui::PopFont();
        ImGui::Indent(bw + ImGui::GetStyle().ItemSpacing.x);
        ImGui::PushTextWrapPos(0);
        ImGui::TextUnformatted(a->explanation.c_str());
        if (!a->fix.empty()) {
            ImGui::PushStyleColor(ImGuiCol_Text, ImGui::ColorConvertU32ToFloat4(col(statusColour(Status::Info))));
            ImGui::Text("Try: %s", a->fix.c_str());
            ImGui::PopStyleColor();
        }
        ImGui::PopTextWrapPos();
        ImGui::Unindent(bw + ImGui::GetStyle().ItemSpacing.x);
        ImGui::Spacing();
    }
    ImGui::EndChild();
    return intents;
}

}  // namespace moe::viz
