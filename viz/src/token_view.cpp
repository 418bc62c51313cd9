// Token routing: the run's fixed probe (a text, or a few test images cut into patches) with every
// token coloured by the expert its router ranked first, one strip per MoE layer. Reading across
// strips shows how a token's route changes with depth; reading along a strip shows which
// characters (spaces, letters, punctuation) or image regions an expert takes.
#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "draw_util.h"

namespace moe::viz {

using namespace detail;

namespace {

// Blocks of the snapshot that recorded the probe (one entry per token per slot).
std::vector<int> probedBlocks(const telemetry::RoutingSnapshot& s) {
    std::vector<int> out;
    const size_t n = s.probeTokens.size();
    if (n == 0) return out;
    for (size_t i = 0; i < s.blocks.size(); ++i) {
        const auto& b = s.blocks[i];
        if (b.probeK > 0 && b.probeExperts.size() == n * static_cast<size_t>(b.probeK)) out.push_back(static_cast<int>(i));
    }
    return out;
}

// The probe is images when the snapshot says so, or when the run's project reads patches.
bool imageProbe(const RunView& run, const telemetry::RoutingSnapshot& s) {
    if (s.probeSamples > 1) return true;
    return run.project && !run.project->model.input.isText() && run.project->model.input.tokensPerSample() > 1;
}

// What a byte of the probe text looks like in its cell: printable ASCII as itself, a line break
// as a pilcrow, anything else (control bytes, parts of multi-byte UTF-8) as a middle dot.
std::string glyphOf(int byte) {
    if (byte >= 33 && byte < 127) return std::string(1, static_cast<char>(byte));
    if (byte == ' ') return {};
    if (byte == '\n') return "\xC2\xB6";
    return "\xC2\xB7";
}

std::string describeByte(int byte) {
    if (byte == ' ') return "space";
    if (byte == '\n') return "line break";
    if (byte == '\t') return "tab";
    if (byte >= 33 && byte < 127) return std::string("'") + static_cast<char>(byte) + "'";
    char b[16];
    std::snprintf(b, sizeof b, "byte 0x%02X", byte & 0xFF);
    return b;
}

ImU32 expertColour(int e, int experts) { return e < 0 ? theme::kEmptyCell : col(categorical(e, experts)); }

// Places the probe text's characters in rows of `cols` cells; a line break ends its row.
// Returns the (row, column) of every token and the number of rows.
int layoutText(const std::vector<int>& tokens, int cols, std::vector<std::pair<int, int>>& at) {
    at.clear();
    int row = 0, c = 0;
    for (int t : tokens) {
        if (c >= cols) { ++row; c = 0; }
        at.push_back({row, c});
        ++c;
        if (t == '\n') { ++row; c = 0; }
    }
    return tokens.empty() ? 0 : (c == 0 ? row : row + 1);
}

struct Hovered {
    int blockPos = -1;  // position in snapshot blocks
    int token = -1;
};

// One line of the tooltip per slot: "expert 3 · gate 0.61".
void slotLines(const telemetry::BlockSnapshot& b, int token) {
    for (int j = 0; j < b.probeK; ++j) {
        const size_t at = static_cast<size_t>(token) * b.probeK + j;
        const int e = b.probeExperts[at];
        if (e < 0) continue;
        const float g = at < b.probeGates.size() ? b.probeGates[at] : 0.0f;
        ImGui::Text("%s expert %d  ·  gate %.3f", j == 0 ? "1st" : j == 1 ? "2nd" : j == 2 ? "3rd" : "   ", e, g);
    }
}

}  // namespace

std::vector<Intent> drawTokens(const RunView& run, PanelState& st) {
    std::vector<Intent> intents;
    const telemetry::RoutingSnapshot* snap = currentSnapshot(run, st);
    const std::vector<int> blocks = snap ? probedBlocks(*snap) : std::vector<int>{};
    st.hover = {};
    if (blocks.empty()) {
        header("Token routing", "");
        emptyMessage(!snap ? "No snapshots yet: the run has not published any routing data."
                           : "This run has no per-token probe: token routing is recorded for sequence models (text or "
                             "image patches). MLP projects route one token per sample.");
        return intents;
    }
    const float s = fonts().scale;
    const bool images = imageProbe(run, *snap);
    const int n = static_cast<int>(snap->probeTokens.size());
    const int samples = images ? std::max(1, snap->probeSamples) : 1;
    int experts = 0, maxK = 0;
    for (int bi : blocks) {
        experts = std::max(experts, snap->blocks[static_cast<size_t>(bi)].experts);
        maxK = std::max(maxK, snap->blocks[static_cast<size_t>(bi)].probeK);
    }
    char sub[256];
    if (images)
        std::snprintf(sub, sizeof sub, "step %lld  ·  probe: %d test images of %d patches  ·  colour: the expert ranked first  ·  %zu MoE layers",
                      static_cast<long long>(snap->step), samples, n / samples, blocks.size());
    else
        std::snprintf(sub, sizeof sub, "step %lld  ·  probe: %d characters  ·  colour: the expert ranked first (of k = %d)  ·  %zu MoE layers",
                      static_cast<long long>(snap->step), n, maxK, blocks.size());
    header("Token routing", sub);
    if (st.showControls) scrubber(run, st, intents);

    ImFont* small = fonts().small ? fonts().small : ImGui::GetFont();
    const ImVec2 origin = ImGui::GetCursorScreenPos();
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    const float legendW = 120 * s;
    const float labelW = 78 * s;
    const float gap = 10 * s;
    const float plotW = std::max(60.0f, avail.x - legendW - labelW - 2 * gap);
    const int layers = static_cast<int>(blocks.size());

    // Cell size: as large as reads well (a character per cell), shrunk until every strip fits.
    std::vector<std::pair<int, int>> at;
    int rows = 1, cols = 1;
    float cell = 0;
    const int patches = n / samples;
    const int side = std::max(1, static_cast<int>(std::ceil(std::sqrt(static_cast<double>(patches)))));
    for (float c = 30 * s; c >= 3; c *= 0.9f) {
        cell = c;
        if (images) {
            // Images side by side, wrapped; each is side x side cells.
            const int perRow = std::max(1, static_cast<int>((plotW + gap) / (side * c + gap)));
            rows = ((samples + perRow - 1) / perRow) * side;
            cols = perRow;
        } else {
            cols = std::max(1, static_cast<int>(plotW / (c * 0.72f)));
            rows = layoutText(snap->probeTokens, cols, at);
        }
        const float stripH = rows * c + (images ? small->FontSize + 4 * s : 0) + gap;
        if (stripH * layers <= avail.y - 4 * s) break;
    }
    const float cw = images ? cell : cell * 0.72f, ch = cell;
    const bool drawGlyphs = !images && ch >= small->FontSize + 2;
    const float stripH = rows * ch + (images ? small->FontSize + 4 * s : 0) + gap;

    // Strips that do not fit get a scrolling child: the picture keeps a readable cell size.
    ImGui::BeginChild("##strips", {avail.x - legendW, avail.y}, false);
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const ImVec2 o = ImGui::GetCursorScreenPos();
    const ImVec2 mouse = ImGui::GetIO().MousePos;
    const bool childHovered = ImGui::IsWindowHovered();
    Hovered hov;
    for (int li = 0; li < layers; ++li) {
        const auto& b = snap->blocks[static_cast<size_t>(blocks[static_cast<size_t>(li)])];
        const float y0 = o.y + li * stripH;
        char lab[48];
        std::snprintf(lab, sizeof lab, "layer %d", b.block);
        textAt(dl, {o.x, y0 + std::min(ch, 20 * s) * 0.5f - ImGui::GetFontSize() * 0.5f}, theme::kText, lab, fonts().bold);
        char moeLab[48];
        std::snprintf(moeLab, sizeof moeLab, "MoE %d · %d exp.", li, b.experts);
        textAt(dl, {o.x, y0 + std::min(ch, 20 * s) * 0.5f + ImGui::GetFontSize() * 0.6f}, theme::kDimText, moeLab, small);
        const float x0 = o.x + labelW;
        auto first = [&](int t) { return b.probeExperts[static_cast<size_t>(t) * b.probeK]; };
        if (images) {
            const int perRow = cols;
            for (int sIdx = 0; sIdx < samples; ++sIdx) {
                const float ix = x0 + (sIdx % perRow) * (side * cw + gap);
                const float iy = y0 + (sIdx / perRow) * (side * ch + small->FontSize + 4 * s);
                for (int p = 0; p < patches; ++p) {
                    const int t = sIdx * patches + p;
                    const ImVec2 a{ix + (p % side) * cw, iy + (p / side) * ch};
                    dl->AddRectFilled(a, {a.x + cw, a.y + ch}, expertColour(first(t), experts));
                    if (childHovered && mouse.x >= a.x && mouse.x < a.x + cw && mouse.y >= a.y && mouse.y < a.y + ch) hov = {li, t};
                }
                outline(dl, {ix, iy}, {ix + side * cw, iy + side * ch}, theme::kAxis);
                char cl[48];
                const int cls = snap->probeTokens[static_cast<size_t>(sIdx * patches)];
                if (cls >= 0 && cls < static_cast<int>(snap->classNames.size())) std::snprintf(cl, sizeof cl, "%s", snap->classNames[static_cast<size_t>(cls)].c_str());
                else std::snprintf(cl, sizeof cl, "class %d", cls);
                textAt(dl, {ix, iy + side * ch + 2 * s}, theme::kDimText, cl, small);
            }
        } else {
            for (int t = 0; t < n; ++t) {
                const auto [r, c] = at[static_cast<size_t>(t)];
                const ImVec2 a{x0 + c * cw, y0 + r * ch};
                const int e = first(t);
                const Rgb rgb = e >= 0 ? categorical(e, experts) : Rgb{0.18f, 0.19f, 0.22f};
                dl->AddRectFilled(a, {a.x + cw, a.y + ch}, expertColour(e, experts));
                if (drawGlyphs) {
                    const std::string g = glyphOf(snap->probeTokens[static_cast<size_t>(t)]);
                    if (!g.empty()) textCentred(dl, {a.x + cw * 0.5f, a.y + ch * 0.5f}, col(contrastingText(rgb)), g, small);
                }
                if (childHovered && mouse.x >= a.x && mouse.x < a.x + cw && mouse.y >= a.y && mouse.y < a.y + ch) hov = {li, t};
            }
        }
    }
    ImGui::Dummy({avail.x - legendW - 8 * s, layers * stripH});
    if (hov.token >= 0) {
        const int bi = blocks[static_cast<size_t>(hov.blockPos)];
        const auto& b = snap->blocks[static_cast<size_t>(bi)];
        const int t = hov.token;
        ImGui::BeginTooltip();
        if (images) {
            const int img = t / patches, p = t % patches;
            ImGui::Text("image %d, patch (%d, %d)  ·  layer %d", img, p / side, p % side, b.block);
        } else {
            ImGui::Text("%s at position %d  ·  layer %d", describeByte(snap->probeTokens[static_cast<size_t>(t)]).c_str(), t, b.block);
        }
        slotLines(b, t);
        ImGui::EndTooltip();
        const size_t slot = static_cast<size_t>(t) * b.probeK;
        st.hover = {true, b.block, b.probeExperts[slot], t, slot < b.probeGates.size() ? b.probeGates[slot] : 0.0};
    }
    ImGui::EndChild();

    // Colour key: one swatch per expert (two columns when they do not fit in one).
    const ImVec2 k0{origin.x + avail.x - legendW + 12 * s, origin.y};
    dl = ImGui::GetWindowDrawList();
    textAt(dl, k0, theme::kText, "expert", fonts().bold);
    const float sw = std::clamp((avail.y - 30 * s) / std::max(1, experts), 3.0f, small->FontSize + 4 * s);
    const int perCol = std::max(1, static_cast<int>((avail.y - 30 * s) / sw));
    const int keyCols = (experts + perCol - 1) / perCol;
    const float colW = (legendW - 16 * s) / std::max(1, keyCols);
    for (int e = 0; e < experts; ++e) {
        const ImVec2 a{k0.x + (e / perCol) * colW, k0.y + 26 * s + (e % perCol) * sw};
        dl->AddRectFilled(a, {a.x + std::min(sw - 2, 16 * s), a.y + sw - 2}, expertColour(e, experts));
        if (sw >= small->FontSize) textAt(dl, {a.x + 20 * s, a.y + (sw - 2 - small->FontSize) * 0.5f}, theme::kText, std::to_string(e), small);
    }
    ImGui::SetCursorScreenPos({origin.x, origin.y + avail.y});
    return intents;
}

}  // namespace moe::viz
