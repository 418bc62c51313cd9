// 2-D routing map: for 2-D datasets, the plane coloured by the expert the router ranks first at
// each point (per block), with the training points on top: the TensorFlow Playground view, for
// experts.
#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "draw_util.h"

namespace moe::viz {

using namespace detail;

namespace {

// Classes differ by shape (not colour), so the points never compete with the expert colours.
void marker(ImDrawList* dl, ImVec2 c, float r, int cls) {
    const ImU32 fill = IM_COL32(255, 255, 255, 235), edge = IM_COL32(20, 20, 24, 255);
    switch (cls % 6) {
        case 0: dl->AddCircleFilled(c, r, fill, 12); dl->AddCircle(c, r, edge, 12, 1.2f); break;
        case 1: dl->AddRectFilled({c.x - r, c.y - r}, {c.x + r, c.y + r}, fill); outline(dl, {c.x - r, c.y - r}, {c.x + r, c.y + r}, edge, 1.2f); break;
        case 2: dl->AddTriangleFilled({c.x, c.y - r * 1.2f}, {c.x + r * 1.1f, c.y + r * 0.8f}, {c.x - r * 1.1f, c.y + r * 0.8f}, fill);
                dl->AddTriangle({c.x, c.y - r * 1.2f}, {c.x + r * 1.1f, c.y + r * 0.8f}, {c.x - r * 1.1f, c.y + r * 0.8f}, edge, 1.2f); break;
        case 3: dl->AddQuadFilled({c.x, c.y - r * 1.3f}, {c.x + r * 1.3f, c.y}, {c.x, c.y + r * 1.3f}, {c.x - r * 1.3f, c.y}, fill);
                dl->AddQuad({c.x, c.y - r * 1.3f}, {c.x + r * 1.3f, c.y}, {c.x, c.y + r * 1.3f}, {c.x - r * 1.3f, c.y}, edge, 1.2f); break;
        case 4: dl->AddTriangleFilled({c.x, c.y + r * 1.2f}, {c.x - r * 1.1f, c.y - r * 0.8f}, {c.x + r * 1.1f, c.y - r * 0.8f}, fill);
                dl->AddTriangle({c.x, c.y + r * 1.2f}, {c.x - r * 1.1f, c.y - r * 0.8f}, {c.x + r * 1.1f, c.y - r * 0.8f}, edge, 1.2f); break;
        default: dl->AddCircleFilled(c, r, edge, 12); dl->AddCircle(c, r, fill, 12, 1.6f); break;
    }
}

// One block's map in the square [p0, p0 + side].
void drawMap(ImDrawList* dl, ImVec2 p0, float side, const telemetry::RoutingSnapshot& snap,
             const telemetry::BlockSnapshot& b, bool points) {
    const int res = b.mapResolution;
    const float cell = side / res;
    for (int y = 0; y < res; ++y)
        for (int x = 0; x < res; ++x) {
            const int e = b.routingMap[static_cast<size_t>(y) * res + x];
            // Row 0 is at yMin: the bottom of the picture.
            const ImVec2 a{p0.x + x * cell, p0.y + side - (y + 1) * cell};
            dl->AddRectFilled(a, {a.x + cell + 0.5f, a.y + cell + 0.5f}, col(categorical(e, b.experts)));
        }
    outline(dl, p0, {p0.x + side, p0.y + side}, theme::kAxis);
    if (!points) return;
    const double w = snap.mapXMax - snap.mapXMin, h = snap.mapYMax - snap.mapYMin;
    if (!(w > 0) || !(h > 0)) return;
    const float r = std::clamp(side / 90.0f, 2.5f, 5.0f);
    for (size_t i = 0; i + 2 < snap.mapPoints.size(); i += 3) {
        const float px = p0.x + static_cast<float>((snap.mapPoints[i] - snap.mapXMin) / w) * side;
        const float py = p0.y + side - static_cast<float>((snap.mapPoints[i + 1] - snap.mapYMin) / h) * side;
        if (px < p0.x || px > p0.x + side || py < p0.y || py > p0.y + side) continue;
        marker(dl, {px, py}, r, static_cast<int>(snap.mapPoints[i + 2]));
    }
}

}  // namespace

std::vector<Intent> drawRoutingMap(const RunView& run, PanelState& st) {
    std::vector<Intent> intents;
    const telemetry::RoutingSnapshot* snap = currentSnapshot(run, st);
    std::vector<int> withMap;
    if (snap)
        for (size_t i = 0; i < snap->blocks.size(); ++i)
            if (snap->blocks[i].mapResolution > 0 &&
                snap->blocks[i].routingMap.size() == static_cast<size_t>(snap->blocks[i].mapResolution) * snap->blocks[i].mapResolution)
                withMap.push_back(static_cast<int>(i));
    if (withMap.empty()) {
        header("Routing map", "");
        emptyMessage(!snap ? "No snapshots yet: the run has not published any routing data."
                           : "No routing map in this run: maps exist for 2-D datasets (blobs, spirals, circles, xor).");
        return intents;
    }
    const float s = fonts().scale;
    int classes = 0;
    for (size_t i = 2; i < snap->mapPoints.size(); i += 3) classes = std::max(classes, static_cast<int>(snap->mapPoints[i]) + 1);
    char sub[256];
    std::snprintf(sub, sizeof sub, "step %lld  ·  colour: the expert the router ranks first  ·  shapes: %zu training points by class",
                  static_cast<long long>(snap->step), snap->mapPoints.size() / 3);
    header("Routing map", sub);
    if (st.showControls) {
        blockSelector(*snap, st, intents);
        scrubber(run, st, intents, true);
    }
    ImDrawList* dl = ImGui::GetWindowDrawList();
    ImFont* small = fonts().small ? fonts().small : ImGui::GetFont();
    const ImVec2 origin = ImGui::GetCursorScreenPos();
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    const float legendW = 190 * s;
    // Up to four blocks side by side; beyond that, the selected block alone.
    std::vector<int> shown = withMap;
    if (shown.size() > 4) {
        const int sel = std::clamp(st.block, 0, static_cast<int>(snap->blocks.size()) - 1);
        shown = {std::find(withMap.begin(), withMap.end(), sel) != withMap.end() ? sel : withMap.front()};
    }
    const int k = static_cast<int>(shown.size());
    const float gap = 30 * s;
    const float titleH = ImGui::GetFontSize() + 8 * s, axisH = small->FontSize + 12 * s;
    // The grid (columns x rows) that gives the largest squares.
    int gridCols = 1;
    float side = 0;
    for (int c = 1; c <= k; ++c) {
        const int r = (k + c - 1) / c;
        const float sd = std::min((avail.x - legendW) / c - gap, (avail.y - 4 * s) / r - titleH - axisH);
        if (sd > side) { side = sd; gridCols = c; }
    }
    side = std::max(40.0f, side);
    const float cellW = side + gap, cellH = side + titleH + axisH;
    st.hover = {};
    int maxExperts = 0;
    for (int i = 0; i < k; ++i) {
        const int bi = shown[static_cast<size_t>(i)];
        const auto& b = snap->blocks[static_cast<size_t>(bi)];
        maxExperts = std::max(maxExperts, b.experts);
        const ImVec2 cellO{origin.x + gap * 0.7f + (i % gridCols) * cellW, origin.y + (i / gridCols) * cellH};
        const ImVec2 p0{cellO.x, cellO.y + titleH};
        char t[64];
        std::snprintf(t, sizeof t, "block %d  (%d experts)", b.block, b.experts);
        textAt(dl, cellO, theme::kText, t, fonts().bold);
        textVertical(dl, {p0.x - 8 * s, p0.y + side * 0.5f}, theme::kDimText, "y");
        textRight(dl, {p0.x - 3 * s, p0.y + side - small->FontSize * 0.5f}, theme::kDimText, fmtNum(snap->mapYMin, 3), small);
        textRight(dl, {p0.x - 3 * s, p0.y + small->FontSize * 0.5f}, theme::kDimText, fmtNum(snap->mapYMax, 3), small);
        drawMap(dl, p0, side, *snap, b, true);
        // Axis extents.
        textAt(dl, {p0.x, p0.y + side + 4 * s}, theme::kDimText, fmtNum(snap->mapXMin, 3), small);
        textRight(dl, {p0.x + side, p0.y + side + 4 * s + small->FontSize * 0.5f}, theme::kDimText, fmtNum(snap->mapXMax, 3), small);
        textCentred(dl, {p0.x + side * 0.5f, p0.y + side + 4 * s + small->FontSize * 0.5f}, theme::kDimText, "x", small);
        const ImVec2 m = ImGui::GetIO().MousePos;
        if (ImGui::IsWindowHovered() && m.x >= p0.x && m.x < p0.x + side && m.y >= p0.y && m.y < p0.y + side) {
            const int res = b.mapResolution;
            const int cx = std::clamp(static_cast<int>((m.x - p0.x) / side * res), 0, res - 1);
            const int cy = std::clamp(static_cast<int>((p0.y + side - m.y) / side * res), 0, res - 1);
            const int e = b.routingMap[static_cast<size_t>(cy) * res + cx];
            const double wx = snap->mapXMin + (cx + 0.5) / res * (snap->mapXMax - snap->mapXMin);
            const double wy = snap->mapYMin + (cy + 0.5) / res * (snap->mapYMax - snap->mapYMin);
            ImGui::BeginTooltip();
            ImGui::Text("(%.2f, %.2f): expert %d ranks first in block %d", wx, wy, e, b.block);
            ImGui::EndTooltip();
            st.hover = {true, b.block, e, cy, static_cast<double>(e)};
            if (ImGui::IsMouseClicked(ImGuiMouseButton_Left)) {
                st.block = bi;
                intents.push_back({Intent::Kind::SelectBlock, b.block});
            }
        }
    }

    // ---- legend: expert colours and class shapes -------------------------------------------------
    float lx = origin.x + gridCols * cellW + 10 * s, y = origin.y + titleH;
    textAt(dl, {lx, y}, theme::kText, "expert", fonts().bold);
    y += ImGui::GetFontSize() + 6 * s;
    const float sw = small->FontSize + 2 * s;
    const int cols = maxExperts > 16 ? 2 : 1;
    const int perCol = (maxExperts + cols - 1) / cols;
    for (int e = 0; e < maxExperts; ++e) {
        const float x = lx + (e / std::max(perCol, 1)) * 80 * s, yy = y + (e % std::max(perCol, 1)) * (sw + 3 * s);
        if (yy > origin.y + avail.y - 3 * sw) break;
        dl->AddRectFilled({x, yy}, {x + sw, yy + sw}, col(categorical(e, maxExperts)), 2 * s);
        textAt(dl, {x + sw + 6 * s, yy + 1 * s}, theme::kText, std::to_string(e), small);
    }
    y += std::min(perCol, 40) * (sw + 3 * s) + 14 * s;
    if (classes > 0 && y < origin.y + avail.y - sw) {
        textAt(dl, {lx, y}, theme::kText, "class (points)", fonts().bold);
        y += ImGui::GetFontSize() + 6 * s;
        for (int c = 0; c < classes && y < origin.y + avail.y - sw; ++c) {
            dl->AddRectFilled({lx - 2 * s, y - 2 * s}, {lx + sw + 2 * s, y + sw + 2 * s}, theme::kPlotBackground);
            marker(dl, {lx + sw * 0.5f, y + sw * 0.5f}, sw * 0.32f, c);
            textAt(dl, {lx + sw + 8 * s, y + 1 * s}, theme::kText, "class " + std::to_string(c), small);
            y += sw + 4 * s;
        }
    }
    ImGui::SetCursorScreenPos({origin.x, origin.y + avail.y});
    return intents;
}

}  // namespace moe::viz
