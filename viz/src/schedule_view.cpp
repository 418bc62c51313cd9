// Capacity schedule view: experts (and k) per MoE layer as bars for the project's schedule, with
// the other formula schedules (same min, max and period) drawn as ghosts beside it, on the same
// scale, so their cost can be compared at a glance.
#include <imgui.h>

#include <algorithm>
#include <cstdio>
#include <numeric>

#include "draw_util.h"
#include "moe/spec/schedule.h"

namespace moe::viz {

using namespace detail;

namespace {

struct Series {
    std::string name;
    std::vector<int> counts;
};

// Bars of `counts` in [p0, p1) on a 0..yMax scale. Returns the hovered bar or -1.
int bars(ImDrawList* dl, ImVec2 p0, ImVec2 p1, const std::vector<int>& counts, int yMax, bool ghost, bool labels,
         bool axis) {
    const float s = fonts().scale;
    ImFont* small = fonts().small ? fonts().small : ImGui::GetFont();
    const int n = static_cast<int>(counts.size());
    const float w = (p1.x - p0.x) / std::max(n, 1);
    dl->AddRectFilled(p0, p1, theme::kPlotBackground, 3 * s);
    // Counts are whole numbers: whole-number ticks, about four of them.
    if (axis) {
        const int step = std::max(1, (yMax + 3) / 4);
        for (int v = step; v <= yMax; v += step) {
            const float y = p1.y - (p1.y - p0.y) * static_cast<float>(v) / static_cast<float>(yMax);
            hline(dl, p0.x, p1.x, y, theme::kGrid);
            textRight(dl, {p0.x - 6 * s, y}, theme::kDimText, std::to_string(v), small);
        }
    }
    const Rgb solid = statusColour(Status::Info);
    int hovered = -1;
    const ImVec2 m = ImGui::GetIO().MousePos;
    for (int i = 0; i < n; ++i) {
        const float h = (p1.y - p0.y) * static_cast<float>(counts[static_cast<size_t>(i)]) / std::max(yMax, 1);
        const float pad = std::min(w * 0.15f, 6 * s);
        const ImVec2 a{p0.x + i * w + pad, p1.y - h}, b{p0.x + (i + 1) * w - pad, p1.y};
        if (ghost) {
            dl->AddRectFilled(a, b, col(solid, 0.22f));
            outline(dl, a, b, col(solid, 0.65f));
        } else {
            dl->AddRectFilled(a, b, col(solid));
        }
        if (labels && w >= 18 * s)
            textCentred(dl, {(a.x + b.x) * 0.5f, a.y - small->FontSize * 0.5f - 2 * s}, theme::kText,
                        std::to_string(counts[static_cast<size_t>(i)]), small);
        if (ImGui::IsWindowHovered() && m.x >= p0.x + i * w && m.x < p0.x + (i + 1) * w && m.y >= p0.y && m.y < p1.y)
            hovered = i;
    }
    hline(dl, p0.x, p1.x, p1.y, theme::kAxis);
    return hovered;
}

std::string describe(const std::optional<spec::Schedule>& s, const char* what) {
    if (!s) return std::string(what) + ": set per block (no schedule)";
    char t[160];
    if (s->kind == spec::ScheduleKind::Explicit) {
        std::snprintf(t, sizeof t, "%s: explicit list", what);
    } else if (s->kind == spec::ScheduleKind::Wave) {
        std::snprintf(t, sizeof t, "%s: wave schedule (min %d, max %d, period %d)", what, s->min, s->max, s->period);
    } else {
        std::snprintf(t, sizeof t, "%s: %s schedule (min %d, max %d)", what, std::string(spec::toString(s->kind)).c_str(), s->min, s->max);
    }
    return t;
}

// One section (experts or k): the project's bars, and the ghosts.
void section(ImDrawList* dl, ImVec2 o, ImVec2 size, const std::string& title, const std::vector<int>& actual,
             const std::vector<int>& blockIndex, const std::optional<spec::Schedule>& sched, const char* unit) {
    const float s = fonts().scale;
    ImFont* small = fonts().small ? fonts().small : ImGui::GetFont();
    const int layers = static_cast<int>(actual.size());
    // The ghosts use the project's own range: its min/max/period, or the extremes of the actual counts.
    int lo = *std::min_element(actual.begin(), actual.end()), hi = *std::max_element(actual.begin(), actual.end());
    int period = 4;
    std::optional<spec::ScheduleKind> own;
    if (sched && sched->kind != spec::ScheduleKind::Explicit) {
        lo = sched->min;
        hi = sched->max;
        period = sched->period;
        own = sched->kind;
    }
    lo = std::max(1, std::min(lo, hi));
    std::vector<Series> ghosts;
    for (auto k : spec::formulaScheduleKinds()) {
        if (own && *own == k) continue;
        ghosts.push_back({std::string(spec::toString(k)), spec::scheduleCounts(k, layers, lo, std::max(lo, hi), std::max(2, period))});
    }
    int yMax = *std::max_element(actual.begin(), actual.end());
    for (const auto& g : ghosts) yMax = std::max(yMax, *std::max_element(g.counts.begin(), g.counts.end()));
    yMax = std::max(1, yMax);

    const long long sum = std::accumulate(actual.begin(), actual.end(), 0LL);
    // Title and totals wrap in a narrow dock rather than running past its edge.
    auto wrapped = [&](ImFont* f, ImVec2 p, ImU32 c, const std::string& text, float width) {
        f = f ? f : ImGui::GetFont();
        dl->AddText(f, f->FontSize, p, c, text.c_str(), nullptr, width);
        return f->CalcTextSizeA(f->FontSize, 1e9f, width, text.c_str()).y;
    };
    char t[128];
    std::snprintf(t, sizeof t, "total %lld %s over %d MoE layers", sum, unit, layers);
    float y = o.y + wrapped(fonts().bold, o, theme::kText, title, size.x) + 2 * s;
    y += wrapped(small, {o.x, y}, theme::kDimText, t, size.x);
    const float top = y - o.y + 10 * s;
    const float mainW = size.x * 0.52f;
    // Headroom above the tallest bar for its label.
    const ImVec2 p0{o.x + 44 * s, o.y + top + small->FontSize + 4 * s}, p1{o.x + mainW, o.y + size.y - small->FontSize - 24 * s};
    const int hv = bars(dl, p0, p1, actual, yMax, false, true, true);
    const int lstep = tickStep(layers, p1.x - p0.x, 30 * s);
    const float w = (p1.x - p0.x) / layers;
    for (int i = 0; i < layers; i += lstep)
        textCentred(dl, {p0.x + (i + 0.5f) * w, p1.y + 4 * s + small->FontSize * 0.5f}, theme::kText,
                    std::to_string(blockIndex[static_cast<size_t>(i)]), small);
    // Bars are labelled by block, as the canvas and the inspector number them.
    textCentred(dl, {(p0.x + p1.x) * 0.5f, p1.y + 10 * s + small->FontSize * 1.5f}, theme::kDimText, "block", small);
    textVertical(dl, {o.x + 8 * s, (p0.y + p1.y) * 0.5f}, theme::kDimText, unit);
    if (hv >= 0) {
        ImGui::BeginTooltip();
        ImGui::Text("Block %d: %d %s", blockIndex[static_cast<size_t>(hv)], actual[static_cast<size_t>(hv)], unit);
        ImGui::EndTooltip();
    }

    if (lo >= hi) {
        // One value for every layer: every schedule gives the same bars, nothing to compare.
        char note[160];
        std::snprintf(note, sizeof note, "Every schedule gives %d %s per layer here (min = max),", lo, unit);
        wrapped(small, {o.x + mainW + 28 * s, o.y + top}, theme::kDimText, std::string(note) + " so there are no other schedules to compare.",
                size.x - mainW - 28 * s);
        return;
    }
    // Ghosts: a grid of small charts on the same scale, two columns when their labels fit, else one.
    std::vector<std::string> labels;
    float labelW = 0;
    for (const auto& g : ghosts) {
        const long long gs = std::accumulate(g.counts.begin(), g.counts.end(), 0LL);
        char label[96];
        std::snprintf(label, sizeof label, "%s  (total %lld, %+.0f%%)", g.name.c_str(), gs,
                      sum > 0 ? 100.0 * (static_cast<double>(gs) - sum) / sum : 0.0);
        labels.emplace_back(label);
        labelW = std::max(labelW, small->CalcTextSizeA(small->FontSize, 1e9f, 0, label).x);
    }
    const float gx0 = o.x + mainW + 28 * s, room = size.x - mainW - 28 * s;
    const int cols = (room - 14 * s) / 2 >= labelW ? 2 : 1;
    const float gw = (room - (cols - 1) * 14 * s) / cols;
    const int rowsN = (static_cast<int>(ghosts.size()) + cols - 1) / cols;
    const float gh = (size.y - top + ImGui::GetFontSize()) / std::max(rowsN, 1);
    for (size_t i = 0; i < ghosts.size(); ++i) {
        const float gx = gx0 + static_cast<float>(i % static_cast<size_t>(cols)) * (gw + 14 * s),
                    gy = o.y + top - ImGui::GetFontSize() + static_cast<float>(i / static_cast<size_t>(cols)) * gh;
        const std::string& label = labels[i];
        textAt(dl, {gx, gy}, theme::kDimText, label, small);
        const int gh2 = bars(dl, {gx, gy + small->FontSize + 4 * s}, {gx + gw, gy + gh - 10 * s}, ghosts[i].counts, yMax, true, false, false);
        if (gh2 >= 0) {
            ImGui::BeginTooltip();
            ImGui::Text("%s schedule, block %d: %d %s", ghosts[i].name.c_str(), blockIndex[static_cast<size_t>(gh2)], ghosts[i].counts[static_cast<size_t>(gh2)], unit);
            ImGui::EndTooltip();
        }
    }
}

}  // namespace

std::vector<Intent> drawSchedule(const RunView& run, PanelState& st) {
    std::vector<Intent> intents;
    if (!run.project) {
        header("Capacity schedule", "");
        emptyMessage("No project to show: " + (run.projectError.empty() ? std::string("the run has none") : run.projectError));
        return intents;
    }
    const spec::ModelSpec& m = run.project->model;
    std::vector<int> experts, ks, blockIndex;
    for (int b = 0; b < static_cast<int>(m.blocks.size()); ++b) {
        if (m.moeIndex(b) < 0) continue;
        experts.push_back(m.expertsOf(b));
        ks.push_back(m.kOf(b));
        blockIndex.push_back(b);
    }
    if (experts.empty()) {
        header("Capacity schedule", "");
        emptyMessage("The model has no MoE blocks, so there is no capacity schedule.");
        return intents;
    }
    const float s = fonts().scale;
    char sub[256];
    std::snprintf(sub, sizeof sub, "%s  ·  %zu MoE layers  ·  solid: this project  ·  ghosts: the other schedules with the same range",
                  m.name.empty() ? "model" : m.name.c_str(), experts.size());
    header("Capacity schedule", sub);
    if (st.showControls) ImGui::TextDisabled("Hover a bar for its layer; the totals compare parameter cost.");
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const ImVec2 o = ImGui::GetCursorScreenPos();
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    const float h = (avail.y - 16 * s) / 2;
    section(dl, o, {avail.x, h}, "Experts per layer — " + describe(m.expertSchedule, "experts"), experts, blockIndex,
            m.expertSchedule, "experts");
    section(dl, {o.x, o.y + h + 16 * s}, {avail.x, h}, "Experts per token (k) — " + describe(m.kSchedule, "k"), ks, blockIndex,
            m.kSchedule, "k");
    ImGui::SetCursorScreenPos({o.x, o.y + avail.y});
    return intents;
}

}  // namespace moe::viz
