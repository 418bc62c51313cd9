// Specialisation: which classes each expert serves (class x expert, row-normalised), and how
// alike the experts' outputs are (expert x expert cosine similarity), for the selected block.
#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "draw_util.h"

namespace moe::viz {

using namespace detail;

namespace {

std::string className(const RunView& run, const telemetry::RoutingSnapshot& snap, int c) {
    // Text runs name their token classes (letters, digits, ...) in the snapshot.
    if (c >= 0 && c < static_cast<int>(snap.classNames.size())) return snap.classNames[static_cast<size_t>(c)];
    // Fashion-MNIST's label names (Xiao, Rasul & Vollgraf, 2017).
    static const char* kFashion[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                       "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
    if (run.project && run.project->model.input.dataset == spec::DatasetKind::FashionMnist && c >= 0 && c < 10)
        return kFashion[c];
    return "class " + std::to_string(c);
}

struct Matrix {
    int rows = 0, cols = 0;
    std::vector<double> v;  // row-major, NaN: no value
    double at(int r, int c) const { return v[static_cast<size_t>(r) * cols + c]; }
};

// Draws a matrix in [p0, p1) with labels; returns the hovered cell (or -1, -1).
std::pair<int, int> matrix(ImDrawList* dl, ImVec2 p0, ImVec2 p1, const Matrix& m, double lo, double hi,
                           const std::vector<std::string>& rowLabels, const char* rowTitle, const char* colTitle,
                           bool annotate, bool percent) {
    const float s = fonts().scale;
    ImFont* small = fonts().small ? fonts().small : ImGui::GetFont();
    const float cw = (p1.x - p0.x) / m.cols, ch = (p1.y - p0.y) / m.rows;
    std::vector<ImU32> colours(static_cast<size_t>(m.rows) * m.cols, theme::kPlotBackground);
    for (size_t i = 0; i < colours.size(); ++i)
        if (!std::isnan(m.v[i])) colours[i] = col(viridis((m.v[i] - lo) / (hi - lo)));
    colourGrid(dl, p0, p1, m.cols, m.rows, colours);
    if (annotate && cw >= 38 * s && ch >= small->FontSize + 4 * s)
        for (int r = 0; r < m.rows; ++r)
            for (int c = 0; c < m.cols; ++c) {
                const double x = m.at(r, c);
                if (std::isnan(x)) continue;
                textCentred(dl, {p0.x + (c + 0.5f) * cw, p0.y + (r + 0.5f) * ch},
                            col(contrastingText(viridis((x - lo) / (hi - lo)))), percent ? fmtPercent(x, 0) : fmtNum(x, 2), small);
            }
    if (cw >= 6 && ch >= 6) {
        for (int r = 1; r < m.rows; ++r) hline(dl, p0.x, p1.x, p0.y + r * ch, theme::kBackground);
        for (int c = 1; c < m.cols; ++c) vline(dl, p0.x + c * cw, p0.y, p1.y, theme::kBackground);
    }
    outline(dl, p0, p1, theme::kAxis);
    const int rs = tickStep(m.rows, p1.y - p0.y, small->FontSize + 2 * s);
    for (int r = 0; r < m.rows; r += rs) textRight(dl, {p0.x - 6 * s, p0.y + (r + 0.5f) * ch}, theme::kText, rowLabels[static_cast<size_t>(r)], small);
    const int cs = tickStep(m.cols, p1.x - p0.x, 26 * s);
    for (int c = 0; c < m.cols; c += cs)
        textCentred(dl, {p0.x + (c + 0.5f) * cw, p1.y + 6 * s + small->FontSize * 0.5f}, theme::kText, std::to_string(c), small);
    textCentred(dl, {(p0.x + p1.x) * 0.5f, p1.y + 14 * s + small->FontSize + ImGui::GetFontSize() * 0.5f}, theme::kDimText, colTitle);
    (void)rowTitle;
    const ImVec2 mp = ImGui::GetIO().MousePos;
    if (ImGui::IsWindowHovered() && mp.x >= p0.x && mp.x < p1.x && mp.y >= p0.y && mp.y < p1.y) {
        const int c = std::clamp(static_cast<int>((mp.x - p0.x) / cw), 0, m.cols - 1);
        const int r = std::clamp(static_cast<int>((mp.y - p0.y) / ch), 0, m.rows - 1);
        outline(dl, {p0.x + c * cw, p0.y + r * ch}, {p0.x + (c + 1) * cw, p0.y + (r + 1) * ch}, theme::kHighlight, 2.0f);
        return {r, c};
    }
    return {-1, -1};
}

}  // namespace

std::vector<Intent> drawSpecialisation(const RunView& run, PanelState& st) {
    std::vector<Intent> intents;
    const telemetry::RoutingSnapshot* snap = currentSnapshot(run, st);
    const telemetry::BlockSnapshot* blk = snap ? selectedBlock(*snap, st) : nullptr;
    if (!blk) {
        header("Specialisation", "");
        emptyMessage(snap ? "This snapshot has no MoE blocks." : "No snapshots yet: the run has not published any routing data.");
        return intents;
    }
    const float s = fonts().scale;
    char sub[256];
    std::snprintf(sub, sizeof sub, "block %d  ·  step %lld  ·  %d classes  ·  %d experts (%d FFN)", blk->block,
                  static_cast<long long>(snap->step), blk->classes, blk->experts, blk->ffnExperts);
    header("Specialisation", sub);
    if (st.showControls) {
        blockSelector(*snap, st, intents);
        scrubber(run, st, intents, true);
    }
    ImDrawList* dl = ImGui::GetWindowDrawList();
    ImFont* small = fonts().small ? fonts().small : ImGui::GetFont();
    const ImVec2 origin = ImGui::GetCursorScreenPos();
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    // Side by side in a wide window; in a dock narrower than that, one above the other, each the
    // full width, so neither is squeezed and the titles do not run into each other.
    const bool stacked = avail.x < 900 * s && avail.y > avail.x * 0.9f;
    const float half = stacked ? avail.x : avail.x * 0.5f;
    const float leftH = stacked ? avail.y * 0.55f : avail.y;
    const float titleH = ImGui::GetFontSize() + 10 * s;
    const float bottomH = small->FontSize + ImGui::GetFontSize() + 26 * s;
    const float legendW = 120 * s;

    // ---- left: class x expert ---------------------------------------------------------------------
    const bool haveClasses = blk->classes > 0 && blk->classExpert.size() == static_cast<size_t>(blk->classes) * blk->experts;
    textAt(dl, origin, theme::kText, stacked ? "Experts per class: P(expert | class)" : "Which experts serve each class: P(expert | class)",
           fonts().bold);
    std::pair<int, int> hoverL{-1, -1}, hoverR{-1, -1};
    Matrix ce;
    if (haveClasses) {
        ce.rows = blk->classes;
        ce.cols = blk->experts;
        ce.v.assign(static_cast<size_t>(ce.rows) * ce.cols, 0.0);
        for (int r = 0; r < ce.rows; ++r) {
            double sum = 0;
            for (int c = 0; c < ce.cols; ++c) sum += blk->classExpert[static_cast<size_t>(r) * ce.cols + c];
            for (int c = 0; c < ce.cols; ++c)
                ce.v[static_cast<size_t>(r) * ce.cols + c] = sum > 0 ? blk->classExpert[static_cast<size_t>(r) * ce.cols + c] / sum : 0;
        }
        std::vector<std::string> labels;
        float labelW = 0;
        for (int r = 0; r < ce.rows; ++r) {
            labels.push_back(className(run, *snap, r));
            labelW = std::max(labelW, small->CalcTextSizeA(small->FontSize, 1e9f, 0, labels.back().c_str()).x);
        }
        const ImVec2 p0{origin.x + labelW + 12 * s, origin.y + titleH};
        const ImVec2 p1{origin.x + half - legendW, origin.y + leftH - bottomH};
        double hi = 0;
        for (double x : ce.v) hi = std::max(hi, x);
        if (!(hi > 0)) hi = 1;
        if (p1.x - p0.x > 40 && p1.y - p0.y > 40) {
            // Cells and legend in one unit: percent of the class's tokens.
            hoverL = matrix(dl, p0, p1, ce, 0, hi, labels, "class", "expert", true, true);
            colourBar(dl, {p1.x + 14 * s, p0.y}, p1.y - p0.y, 0, hi * 100, false, "tokens of the class (%)");
        }
    } else {
        ImGui::SetCursorScreenPos({origin.x, origin.y + titleH});
        ImGui::BeginChild("noclasses", {half - 20 * s, leftH - titleH});
        emptyMessage("No class counts in this snapshot: the dataset has no labels for this block's tokens.");
        ImGui::EndChild();
    }

    // ---- right: expert x expert similarity ----------------------------------------------------------
    const ImVec2 r0 = stacked ? ImVec2{origin.x, origin.y + leftH + 8 * s} : ImVec2{origin.x + half + 10 * s, origin.y};
    const float rightW = stacked ? avail.x : avail.x - half - 10 * s, rightH = stacked ? avail.y - leftH - 8 * s : avail.y;
    textAt(dl, r0, theme::kText, stacked ? "Expert similarity: cosine of outputs" : "How alike the experts are: cosine similarity of outputs",
           fonts().bold);
    const int n = blk->ffnExperts;
    Matrix sim;
    if (n > 0 && blk->similarity.size() == static_cast<size_t>(n) * n) {
        sim.rows = sim.cols = n;
        sim.v = blk->similarity;
        // Square cells: the matrix is symmetric, a square reads as one.
        const float side = std::min(rightW - legendW - 50 * s, rightH - titleH - bottomH);
        std::vector<std::string> labels;
        for (int i = 0; i < n; ++i) labels.push_back(std::to_string(i));
        const ImVec2 p0{r0.x + 36 * s, r0.y + titleH};
        const ImVec2 p1{p0.x + side, p0.y + side};
        if (side > 40) {
            hoverR = matrix(dl, p0, p1, sim, -1, 1, labels, "expert", "expert", true, false);
            textVertical(dl, {r0.x + 8 * s, (p0.y + p1.y) * 0.5f}, theme::kDimText, "expert");
            colourBar(dl, {p1.x + 14 * s, p0.y}, p1.y - p0.y, -1, 1, false, "cosine similarity");
        }
    } else {
        ImGui::SetCursorScreenPos({r0.x, r0.y + titleH});
        ImGui::BeginChild("nosim", {rightW, rightH - titleH});
        emptyMessage("Expert similarity was not measured in this snapshot.");
        ImGui::EndChild();
    }

    st.hover = {};
    if (hoverL.first >= 0) {
        ImGui::BeginTooltip();
        ImGui::Text("%s → expert %d", className(run, *snap, hoverL.first).c_str(), hoverL.second);
        ImGui::Text("%s of the class's tokens (%s tokens)", fmtPercent(ce.at(hoverL.first, hoverL.second)).c_str(),
                    fmtNum(blk->classExpert[static_cast<size_t>(hoverL.first) * ce.cols + hoverL.second], 4).c_str());
        ImGui::EndTooltip();
        st.hover = {true, blk->block, hoverL.second, hoverL.first, ce.at(hoverL.first, hoverL.second)};
    } else if (hoverR.first >= 0) {
        ImGui::BeginTooltip();
        ImGui::Text("experts %d and %d: cosine %.3f", hoverR.first, hoverR.second, sim.at(hoverR.first, hoverR.second));
        ImGui::EndTooltip();
        st.hover = {true, blk->block, hoverR.second, hoverR.first, sim.at(hoverR.first, hoverR.second)};
    }
    ImGui::SetCursorScreenPos({origin.x, origin.y + avail.y});
    return intents;
}

}  // namespace moe::viz
