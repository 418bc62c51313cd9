// Routing heatmap: MoE block (rows) x expert (columns), colour = token share, mean gate
// probability or drop rate, for one snapshot picked with the time scrubber.
#include <imgui.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

#include "draw_util.h"

namespace moe::viz {

using namespace detail;

namespace {

const char* metricName(HeatMetric m) {
    switch (m) {
        case HeatMetric::TokenShare: return "Token share";
        case HeatMetric::MeanGateProb: return "Mean gate probability";
        case HeatMetric::DropRate: return "Drop rate";
        case HeatMetric::LoadRatio: return "Load ÷ even share";
    }
    return "?";
}

const char* metricUnit(HeatMetric m) {
    switch (m) {
        case HeatMetric::TokenShare: return "share of the block's assignments (%)";
        case HeatMetric::MeanGateProb: return "mean router probability";
        case HeatMetric::DropRate: return "assignments dropped (%), per block";
        case HeatMetric::LoadRatio: return "share × experts (1 = even share)";
    }
    return "";
}

bool percentMetric(HeatMetric m) { return m == HeatMetric::TokenShare || m == HeatMetric::DropRate; }

// Value of one cell; NaN where the block has no such expert.
double cellValue(const telemetry::BlockSnapshot& b, const std::vector<double>& share, double dropRate, HeatMetric m,
                 int e) {
    if (e < 0 || e >= b.experts) return std::nan("");
    switch (m) {
        case HeatMetric::TokenShare: return e < static_cast<int>(share.size()) ? share[static_cast<size_t>(e)] : std::nan("");
        case HeatMetric::MeanGateProb:
            return e < static_cast<int>(b.meanGateProb.size()) ? b.meanGateProb[static_cast<size_t>(e)] : std::nan("");
        case HeatMetric::DropRate: return dropRate;
        case HeatMetric::LoadRatio:
            return e < static_cast<int>(share.size()) ? share[static_cast<size_t>(e)] * b.experts : std::nan("");
    }
    return std::nan("");
}

// The largest value of the metric over the whole run, so that colours stay comparable while
// scrubbing; recomputed only when the run grows or the metric changes.
double runMax(const RunView& run, PanelState& st) {
    auto& c = st.cache;
    const void* id = run.snapshots.empty() ? nullptr : run.snapshots.front().get();
    if (c.run == id && c.count == run.snapshots.size() && c.metric == static_cast<int>(st.metric)) return c.maxValue;
    double mx = 0;
    for (const auto& s : run.snapshots)
        for (const auto& b : s->blocks) {
            if (st.metric == HeatMetric::TokenShare) {
                for (double v : b.loadShare()) mx = std::max(mx, v);
            } else if (st.metric == HeatMetric::MeanGateProb) {
                for (double v : b.meanGateProb) mx = std::max(mx, v);
            } else {
                mx = std::max(mx, figures(b).dropRate);
            }
        }
    c = {id, run.snapshots.size(), static_cast<int>(st.metric), mx};
    return mx;
}

struct Lut {
    std::array<ImU32, 256> c{};
    explicit Lut(Rgb (*map)(double) = viridis) {
        for (int i = 0; i < 256; ++i) c[static_cast<size_t>(i)] = col(map(i / 255.0));
    }
    ImU32 at(double t) const {
        if (!(t > 0)) return c[0];
        return c[static_cast<size_t>(std::min(255.0, t * 255.0 + 0.5))];
    }
};

void zoomRange(int& begin, int& end, int total, float anchorFrac, float factor) {
    if (end <= begin) { begin = 0; end = total; }
    const double span = end - begin;
    const double anchor = begin + anchorFrac * span;
    const int newSpan = std::clamp(static_cast<int>(std::lround(span * factor)), std::min(4, total), total);
    int b = static_cast<int>(std::lround(anchor - anchorFrac * newSpan));
    b = std::clamp(b, 0, total - newSpan);
    begin = b;
    end = b + newSpan;
}

}  // namespace

std::vector<Intent> drawHeatmap(const RunView& run, PanelState& st) {
    std::vector<Intent> intents;
    const telemetry::RoutingSnapshot* snap = currentSnapshot(run, st);
    if (!snap || snap->blocks.empty()) {
        header("Routing heatmap", "");
        emptyMessage(snap ? "This snapshot has no MoE blocks." : "No snapshots yet: the run has not published any routing data.");
        return intents;
    }
    const float s = fonts().scale;
    const int rows = static_cast<int>(snap->blocks.size());
    int cols = 0;
    for (const auto& b : snap->blocks) cols = std::max(cols, b.experts);
    if (st.expertEnd <= st.expertBegin || st.expertEnd > cols) { st.expertBegin = 0; st.expertEnd = cols; }
    if (st.rowEnd <= st.rowBegin || st.rowEnd > rows) { st.rowBegin = 0; st.rowEnd = rows; }
    const int e0 = st.expertBegin, e1 = st.expertEnd, r0 = st.rowBegin, r1 = st.rowEnd;

    char sub[256];
    std::snprintf(sub, sizeof sub, "step %lld  ·  %d MoE blocks × up to %d experts  ·  colour: %s (%s scale)",
                  static_cast<long long>(snap->step), rows, cols, metricName(st.metric),
                  st.scale == Scale::Log ? "log" : "linear");
    header("Routing heatmap", sub);

    if (st.showControls) {
        int m = static_cast<int>(st.metric);
        ImGui::SetNextItemWidth(230 * s);
        if (ImGui::Combo("##metric", &m, "Token share\0Mean gate probability\0Drop rate (per block)\0Load ÷ even share\0")) {
            st.metric = static_cast<HeatMetric>(m);
            st.wantsRedraw = true;
        }
        sameLineIfFits(checkWidth("linear") + ImGui::GetStyle().ItemSpacing.x + checkWidth("log"));  // the pair stays together
        int sc = static_cast<int>(st.scale);
        if (ImGui::RadioButton("linear", &sc, 0)) st.scale = Scale::Linear;
        sameLineIfFits(checkWidth("log"));
        if (ImGui::RadioButton("log", &sc, 1)) st.scale = Scale::Log;
        sameLineIfFits(buttonWidth("Reset zoom"));
        const bool zoomed = e0 != 0 || e1 != cols || r0 != 0 || r1 != rows;
        if (!zoomed) ImGui::BeginDisabled();
        if (ImGui::Button("Reset zoom")) { st.expertBegin = st.expertEnd = st.rowBegin = st.rowEnd = 0; }
        if (!zoomed) ImGui::EndDisabled();
        scrubber(run, st, intents, true);
    }

    // ---- layout --------------------------------------------------------------------------------
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const ImVec2 origin = ImGui::GetCursorScreenPos();
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    ImFont* small = fonts().small ? fonts().small : ImGui::GetFont();
    const float labelW = ImGui::CalcTextSize("block 000").x + 30 * s;  // row labels + axis title
    const float legendW = 130 * s;
    const float bottomH = small->FontSize + ImGui::GetFontSize() + 22 * s;
    const ImVec2 p0{origin.x + labelW, origin.y + 6 * s};
    const ImVec2 p1{origin.x + avail.x - legendW, origin.y + avail.y - bottomH};
    if (p1.x - p0.x < 40 || p1.y - p0.y < 40) {
        ImGui::TextUnformatted("The window is too small for the heatmap.");
        return intents;
    }
    const float plotW = p1.x - p0.x, plotH = p1.y - p0.y;
    const int nCols = e1 - e0, nRows = r1 - r0;
    // Aggregate neighbouring experts (and blocks) when a cell would be narrower than 2 pixels, so
    // 64 x 256 stays readable at any window size; each drawn cell shows the mean of its group.
    const int gx = std::max(1, static_cast<int>(std::ceil(2.0f * nCols / plotW)));
    const int gy = std::max(1, static_cast<int>(std::ceil(2.0f * nRows / plotH)));
    const float cw = plotW / nCols, ch = plotH / nRows;

    // Load ÷ even share: a fixed log scale 1/8 .. 8 centred on 1 (comparable across blocks and
    // runs); the other metrics: 0 (or 1e-3 of the top, log) to the run's largest value.
    const bool ratio = st.metric == HeatMetric::LoadRatio;
    double hi = ratio ? 8.0 : runMax(run, st);
    if (!(hi > 0)) hi = 1;
    const bool log = ratio || st.scale == Scale::Log;
    const double lo = ratio ? 1.0 / 8 : log ? hi * 1e-3 : 0.0;
    auto norm = [&](double v) {
        if (log) return v <= lo ? 0.0 : std::log10(v / lo) / std::log10(hi / lo);
        return v / hi;
    };
    Rgb (*const map)(double) = ratio ? diverging : viridis;
    static const Lut sequentialLut, divergingLut(diverging);
    const Lut& lut = ratio ? divergingLut : sequentialLut;
    const bool annotate = gx == 1 && gy == 1 && cw >= 46 * s && ch >= small->FontSize + 6 * s;

    // The visible values once (NaN where a block has no such expert), then aggregate and draw.
    std::vector<double> grid(static_cast<size_t>(nRows) * static_cast<size_t>(nCols), std::nan(""));
    for (int r = r0; r < r1; ++r) {
        const auto& b = snap->blocks[static_cast<size_t>(r)];
        const auto share = st.metric == HeatMetric::TokenShare || ratio ? b.loadShare() : std::vector<double>{};
        const double drop = st.metric == HeatMetric::DropRate ? figures(b).dropRate : 0.0;
        for (int e = e0; e < std::min(e1, b.experts); ++e)
            grid[static_cast<size_t>(r - r0) * nCols + (e - e0)] = cellValue(b, share, drop, st.metric, e);
    }
    // Aggregated cells: ncx x ncy groups of gx experts x gy blocks (the last ones may be partial).
    const int ncx = (nCols + gx - 1) / gx, ncy = (nRows + gy - 1) / gy;
    // Cells without an expert get the plot background (the grid paints the whole plot).
    std::vector<ImU32> colours(static_cast<size_t>(ncx) * ncy, theme::kPlotBackground);
    std::vector<double> means(colours.size(), std::nan(""));
    for (int gr = 0; gr < ncy; ++gr)
        for (int gc = 0; gc < ncx; ++gc) {
            double sum = 0;
            int n = 0;
            for (int rr = gr * gy; rr < std::min((gr + 1) * gy, nRows); ++rr)
                for (int e = gc * gx; e < std::min((gc + 1) * gx, nCols); ++e) {
                    const double v = grid[static_cast<size_t>(rr) * nCols + e];
                    if (std::isnan(v)) continue;
                    sum += v;
                    ++n;
                }
            if (n == 0) continue;
            const size_t i = static_cast<size_t>(gr) * ncx + gc;
            means[i] = sum / n;
            colours[i] = lut.at(norm(means[i]));
        }
    // Partial last groups make the grid overhang the plot a little: clip it to the plot.
    // Rules between blocks when rows are tall enough for them to help.
    dl->PushClipRect(p0, p1, true);
    colourGrid(dl, p0, {p0.x + ncx * gx * cw, p0.y + ncy * gy * ch}, ncx, ncy, colours, ch * gy >= 7 ? theme::kBackground : 0);
    dl->PopClipRect();
    // Big cells carry their value, in black or white, whichever reads on the colour.
    if (annotate)
        for (int r = 0; r < ncy; ++r)
            for (int c = 0; c < ncx; ++c) {
                const double v = means[static_cast<size_t>(r) * ncx + c];
                if (std::isnan(v)) continue;
                const ImVec2 centre{p0.x + (c + 0.5f) * cw, p0.y + (r + 0.5f) * ch};
                textCentred(dl, centre, col(contrastingText(map(norm(v)))),
                            percentMetric(st.metric) ? fmtPercent(v, v < 0.1 ? 1 : 0) : fmtNum(v, 2), small);
            }
    outline(dl, p0, p1, theme::kAxis);

    // ---- axes ------------------------------------------------------------------------------------
    const int rowStep = tickStep(nRows, plotH, small->FontSize + 4 * s);
    for (int r = r0; r < r1; ++r) {
        if ((r - r0) % rowStep) continue;
        const float y = p0.y + (r - r0 + 0.5f) * ch;
        char t[32];
        std::snprintf(t, sizeof t, "%d", snap->blocks[static_cast<size_t>(r)].block);
        textRight(dl, {p0.x - 6 * s, y}, theme::kText, t, small);
    }
    textVertical(dl, {origin.x + 9 * s, (p0.y + p1.y) * 0.5f}, theme::kDimText, "MoE block (index in the model)");
    const int colStep = tickStep(nCols, plotW, 34 * s);
    for (int c = e0; c < e1; c += colStep) {
        const float x = p0.x + (c - e0 + 0.5f) * cw;
        vline(dl, x, p1.y, p1.y + 4 * s, theme::kAxis);
        textCentred(dl, {x, p1.y + 6 * s + small->FontSize * 0.5f}, theme::kText, std::to_string(c), small);
    }
    std::string xTitle = "expert";
    if (gx > 1 || gy > 1) {
        char t[96];
        std::snprintf(t, sizeof t, "expert   (each cell: mean of %d expert%s x %d block%s; zoom with the wheel)", gx,
                      gx > 1 ? "s" : "", gy, gy > 1 ? "s" : "");
        xTitle = t;
    }
    textCentred(dl, {(p0.x + p1.x) * 0.5f, p1.y + 12 * s + small->FontSize + ImGui::GetFontSize() * 0.5f},
                theme::kDimText, xTitle);
    const float titleRight = (p0.x + p1.x) * 0.5f + ImGui::CalcTextSize(xTitle.c_str()).x * 0.5f;

    // ---- legend --------------------------------------------------------------------------------
    const double scaleK = percentMetric(st.metric) ? 100.0 : 1.0;
    colourBar(dl, {p1.x + 18 * s, p0.y + 4 * s}, plotH - 8 * s, lo * scaleK, hi * scaleK, log, metricUnit(st.metric), map);
    bool ragged = false;
    for (const auto& b : snap->blocks) ragged |= b.experts < cols;
    const char* note = "no such expert in the block";
    const float noteW = small->CalcTextSizeA(small->FontSize, 1e9f, 0, note).x + 18 * s;
    // Bottom right, on the axis title's line, when it fits beside the title.
    if (ragged && p1.x - noteW > titleRight + 12 * s) {
        const float ty = p1.y + 12 * s + small->FontSize + ImGui::GetFontSize() * 0.5f;
        const ImVec2 k0{p1.x - noteW, ty - 6 * s};
        dl->AddRectFilled(k0, {k0.x + 12 * s, k0.y + 12 * s}, theme::kPlotBackground);
        outline(dl, k0, {k0.x + 12 * s, k0.y + 12 * s}, theme::kAxis);
        textAt(dl, {k0.x + 18 * s, ty - small->FontSize * 0.5f}, theme::kDimText, note, small);
    }

    // ---- interaction -----------------------------------------------------------------------------
    ImGui::SetCursorScreenPos(p0);
    ImGui::InvisibleButton("##heat", {plotW, plotH});
    st.hover = {};
    if (ImGui::IsItemHovered()) {
        const ImVec2 m = ImGui::GetIO().MousePos;
        const int c = std::clamp(e0 + static_cast<int>((m.x - p0.x) / cw), e0, e1 - 1);
        const int r = std::clamp(r0 + static_cast<int>((m.y - p0.y) / ch), r0, r1 - 1);
        const auto& b = snap->blocks[static_cast<size_t>(r)];
        const float x0 = p0.x + (c - e0) * cw, y0 = p0.y + (r - r0) * ch;
        outline(dl, {x0, y0}, {x0 + cw, y0 + ch}, theme::kHighlight, 2.0f);
        ImGui::BeginTooltip();
        if (fonts().bold) ImGui::PushFont(fonts().bold);
        ImGui::Text("block %d · expert %d", b.block, c);
        if (fonts().bold) ImGui::PopFont();
        if (c < b.experts) {
            auto sh = b.loadShare();
            // A block whose lists are shorter than its expert count (a malformed store) reads as zeros.
            sh.resize(static_cast<size_t>(b.experts), 0.0);
            const double tokens = c < static_cast<int>(b.tokensPerExpert.size()) ? b.tokensPerExpert[static_cast<size_t>(c)] : 0;
            const double gate = c < static_cast<int>(b.meanGateProb.size()) ? b.meanGateProb[static_cast<size_t>(c)] : 0;
            ImGui::Text("tokens routed   %s", fmtNum(tokens, 4).c_str());
            ImGui::Text("token share     %s  (uniform: %s)", fmtPercent(sh[static_cast<size_t>(c)], 2).c_str(),
                        fmtPercent(1.0 / b.experts, 2).c_str());
            ImGui::Text("mean gate prob  %.4f", gate);
            ImGui::Text("block drop rate %s", fmtPercent(figures(b).dropRate, 2).c_str());
            if (c >= b.ffnExperts) ImGui::TextDisabled("zero-computation expert");
            if (sh[static_cast<size_t>(c)] < deadShare(b.experts)) ImGui::TextDisabled("dead: share below 1/(10 x experts)");
            st.hover = {true, b.block, c, r, cellValue(b, sh, figures(b).dropRate, st.metric, c)};
        } else {
            ImGui::TextDisabled("this block has only %d experts", b.experts);
        }
        ImGui::EndTooltip();
        // Zoom: wheel over experts, shift+wheel over blocks; drag pans; double-click resets.
        const float wheel = ImGui::GetIO().MouseWheel;
        if (wheel != 0) {
            const float factor = wheel > 0 ? 0.8f : 1.25f;
            if (ImGui::GetIO().KeyShift)
                zoomRange(st.rowBegin, st.rowEnd, rows, (m.y - p0.y) / plotH, factor);
            else
                zoomRange(st.expertBegin, st.expertEnd, cols, (m.x - p0.x) / plotW, factor);
            st.wantsRedraw = true;
        }
        if (ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left)) st.expertBegin = st.expertEnd = st.rowBegin = st.rowEnd = 0;
        if (ImGui::IsItemClicked(ImGuiMouseButton_Left)) {
            st.block = r;
            intents.push_back({Intent::Kind::SelectBlock, b.block});
            if (c < b.experts) intents.push_back({Intent::Kind::SelectExpert, c});
        }
    }
    if (ImGui::IsItemActive() && ImGui::IsMouseDragging(ImGuiMouseButton_Left)) {
        const ImVec2 d = ImGui::GetIO().MouseDelta;
        const int dc = -static_cast<int>(std::lround(d.x / cw)), dr = -static_cast<int>(std::lround(d.y / ch));
        if (dc != 0 && (e1 - e0) < cols) {
            const int b = std::clamp(st.expertBegin + dc, 0, cols - (e1 - e0));
            st.expertEnd = b + (e1 - e0);
            st.expertBegin = b;
        }
        if (dr != 0 && (r1 - r0) < rows) {
            const int b = std::clamp(st.rowBegin + dr, 0, rows - (r1 - r0));
            st.rowEnd = b + (r1 - r0);
            st.rowBegin = b;
        }
    }
    ImGui::SetCursorScreenPos({origin.x, origin.y + avail.y});
    return intents;
}

}  // namespace moe::viz
