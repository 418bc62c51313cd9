#pragma once
// Shared drawing helpers of the panels (private to moe_viz): fonts, theme colours, axes, legends,
// number formatting, the time scrubber and the block selector.

#include <imgui.h>

#include <string>
#include <vector>

#include "moe/viz/colormap.h"
#include "moe/viz/panels.h"

namespace moe::viz {
class GridRenderer;
}

namespace moe::viz::detail {

// Fonts of the current context (set up by createImGuiContext; all fall back to the default).
struct Fonts {
    ImFont* regular = nullptr;
    ImFont* bold = nullptr;
    ImFont* title = nullptr;
    ImFont* small = nullptr;
    float scale = 1.0f;
    GridRenderer* grid = nullptr;  // GPU colour grids, when the renderer has one
};
const Fonts& fonts();

// A cols x rows grid of packed opaque colours (row-major) filling [p0, p1), with a one-pixel
// rule of colour `rowRule` between rows (0: none): one GPU quad when the renderer has a
// GridRenderer, else one ImGui rectangle per cell.
void colourGrid(ImDrawList* dl, ImVec2 p0, ImVec2 p1, int cols, int rows, const std::vector<ImU32>& colours, ImU32 rowRule = 0);

// Theme colours (ImU32): the dark set by default; setDashboardTheme (imgui_setup.h) switches every
// panel to the light set.
namespace theme {
inline ImU32 kBackground = IM_COL32(24, 26, 31, 255);
inline ImU32 kPlotBackground = IM_COL32(34, 37, 44, 255);
inline ImU32 kEmptyCell = IM_COL32(46, 49, 57, 255);
inline ImU32 kGrid = IM_COL32(70, 75, 86, 255);
inline ImU32 kAxis = IM_COL32(150, 156, 168, 255);
inline ImU32 kText = IM_COL32(226, 229, 235, 255);
inline ImU32 kDimText = IM_COL32(150, 156, 168, 255);
inline ImU32 kHighlight = IM_COL32(255, 255, 255, 255);
}  // namespace theme

inline ImU32 col(Rgb c, float alpha = 1.0f) { return packAbgr(c, alpha); }
inline ImVec2 add(ImVec2 a, ImVec2 b) { return {a.x + b.x, a.y + b.y}; }

// Axis-aligned lines and outlines as plain filled rectangles: ImGui's anti-aliased lines are long
// sliver triangles, which a software rasteriser (lavapipe) draws very slowly (measured: 63 row
// separators across a 64 x 256 heatmap cost more than the heatmap itself).
void hline(ImDrawList* dl, float x0, float x1, float y, ImU32 colour, float thickness = 1.0f);
void vline(ImDrawList* dl, float x, float y0, float y1, ImU32 colour, float thickness = 1.0f);
void outline(ImDrawList* dl, ImVec2 a, ImVec2 b, ImU32 colour, float thickness = 1.0f);

// "0.125", "12.5%", "1.2k", "3e-05": short numbers for labels and tooltips.
std::string fmtNum(double v, int digits = 3);
std::string fmtPercent(double fraction, int decimals = 1);

// Text helpers drawn at absolute positions (for axes).
void textAt(ImDrawList* dl, ImVec2 p, ImU32 colour, const std::string& s, ImFont* font = nullptr);
void textRight(ImDrawList* dl, ImVec2 rightMid, ImU32 colour, const std::string& s, ImFont* font = nullptr);
void textCentred(ImDrawList* dl, ImVec2 centre, ImU32 colour, const std::string& s, ImFont* font = nullptr);
void textVertical(ImDrawList* dl, ImVec2 centre, ImU32 colour, const std::string& s);

// A tooltip for something drawn with the draw list (a legend entry, a figure's label), shown while
// the mouse is over [min, max]; textTip covers text drawn by textAt at `p` in `font`.
void tipOver(ImVec2 min, ImVec2 max, const char* text);
void textTip(ImVec2 p, const std::string& s, ImFont* font, const char* text);
// A table's header row in which each column explains itself on hover (tips[i] may be null);
// replaces ImGui::TableHeadersRow.
void headersWithTips(const std::vector<const char*>& tips);

// Picks a tick step (1, 2, 5, 10, ...) so that ticks are at least minPixels apart.
int tickStep(int count, float pixels, float minPixels);

// Panel header: a title in the title font and a dim subtitle line; only the subtitle, in the
// small font, while compactHeaders() is on (two runs compared, each under its own banner).
void header(const std::string& title, const std::string& subtitle);
bool& compactHeaders();
// A centred explanation when a panel has nothing to show.
void emptyMessage(const std::string& text);

// A vertical colour bar legend: viridis from lo (bottom) to hi (top), ticks and a unit label.
// `log` places ticks at powers of ten. Returns the width used.
float colourBar(ImDrawList* dl, ImVec2 topLeft, float height, double lo, double hi, bool log,
                const std::string& unit, Rgb (*map)(double) = viridis);

// The snapshot the panels show (state.snapshotIndex, or the newest when following); nullptr
// when the run has none.
const telemetry::RoutingSnapshot* currentSnapshot(const RunView& run, const PanelState& state);
int currentIndex(const RunView& run, const PanelState& state);
// Time scrubber over every snapshot with a "follow live" toggle; arrow keys step through.
// ImGui::SameLine() when an item `width` wide still fits on the current line; else the next item
// starts a new line (controls wrap in a narrow dock instead of running past its edge).
void sameLineIfFits(float width);
// Widths of a button and of a radio button or checkbox with this label, for sameLineIfFits.
float buttonWidth(const char* label);
float checkWidth(const char* label);
void scrubber(const RunView& run, PanelState& state, std::vector<Intent>& intents, bool besideLastItem = false);
// Block selector (combo) over the snapshot's MoE blocks.
void blockSelector(const telemetry::RoutingSnapshot& snap, PanelState& state, std::vector<Intent>& intents);
// Clamps state.block into the snapshot's blocks; returns the block or nullptr when there are none.
const telemetry::BlockSnapshot* selectedBlock(const telemetry::RoutingSnapshot& snap, PanelState& state);

// The mouse is over this window and inside [a, b).
bool mouseIn(ImVec2 a, ImVec2 b);

// Figures derived from a block snapshot for the gauges and the load views.
struct BlockFigures {
    double effectiveExperts = 0;  // exp(entropy of the load share)
    double cv = 0;                // coefficient of variation of tokens per expert
    double maxShare = 0;
    double dropRate = 0;          // dropped / (kept + dropped) assignments
    double meanSimilarity = 0;    // mean off-diagonal cosine similarity of FFN experts
    bool hasSimilarity = false;
    int deadExperts = 0;          // share below 1 / (10 x experts), the dead-expert rule
};
BlockFigures figures(const telemetry::BlockSnapshot& b);
// The share below which an expert counts as dead: 1 / (10 x experts).
double deadShare(int experts);

}  // namespace moe::viz::detail
