#include "draw_util.h"

#include "moe/viz/gpu_grid.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

namespace moe::viz::detail {

void hline(ImDrawList* dl, float x0, float x1, float y, ImU32 c, float t) {
    dl->AddRectFilled({std::min(x0, x1), y - t * 0.5f}, {std::max(x0, x1), y + t * 0.5f}, c);
}

void vline(ImDrawList* dl, float x, float y0, float y1, ImU32 c, float t) {
    dl->AddRectFilled({x - t * 0.5f, std::min(y0, y1)}, {x + t * 0.5f, std::max(y0, y1)}, c);
}

void outline(ImDrawList* dl, ImVec2 a, ImVec2 b, ImU32 c, float t) {
    dl->AddRectFilled({a.x - t, a.y - t}, {b.x + t, a.y}, c);
    dl->AddRectFilled({a.x - t, b.y}, {b.x + t, b.y + t}, c);
    dl->AddRectFilled({a.x - t, a.y}, {a.x, b.y}, c);
    dl->AddRectFilled({b.x, a.y}, {b.x + t, b.y}, c);
}

std::string fmtNum(double v, int digits) {
    if (!std::isfinite(v)) return "n/a";
    char buf[32];
    const double a = std::fabs(v);
    if (a != 0 && (a < 1e-3 || a >= 1e6)) {
        std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    } else if (a >= 1e3) {
        std::snprintf(buf, sizeof buf, "%.*gk", digits, v / 1e3);
    } else {
        std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    }
    return buf;
}

std::string fmtPercent(double f, int decimals) {
    if (!std::isfinite(f)) return "n/a";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*f%%", decimals, f * 100.0);
    return buf;
}

static ImFont* fontOr(ImFont* f) { return f ? f : ImGui::GetFont(); }

void textAt(ImDrawList* dl, ImVec2 p, ImU32 colour, const std::string& s, ImFont* font) {
    font = fontOr(font);
    dl->AddText(font, font->FontSize, p, colour, s.c_str());
}

void textRight(ImDrawList* dl, ImVec2 rm, ImU32 colour, const std::string& s, ImFont* font) {
    font = fontOr(font);
    const ImVec2 sz = font->CalcTextSizeA(font->FontSize, 1e9f, 0, s.c_str());
    dl->AddText(font, font->FontSize, {rm.x - sz.x, rm.y - sz.y * 0.5f}, colour, s.c_str());
}

void textCentred(ImDrawList* dl, ImVec2 c, ImU32 colour, const std::string& s, ImFont* font) {
    font = fontOr(font);
    const ImVec2 sz = font->CalcTextSizeA(font->FontSize, 1e9f, 0, s.c_str());
    dl->AddText(font, font->FontSize, {c.x - sz.x * 0.5f, c.y - sz.y * 0.5f}, colour, s.c_str());
}

void textVertical(ImDrawList* dl, ImVec2 centre, ImU32 colour, const std::string& s) {
    // ImGui has no rotated text: draw the glyph quads centred in the clip rectangle (so none is
    // culled), then rotate the new vertices by 90 degrees about that point and move them to `centre`.
    ImFont* font = fontOr(fonts().regular);
    const ImVec2 sz = font->CalcTextSizeA(font->FontSize, 1e9f, 0, s.c_str());
    const ImVec4 clip = dl->_CmdHeader.ClipRect;
    const ImVec2 mid{(clip.x + clip.z) * 0.5f, (clip.y + clip.w) * 0.5f};
    const int first = dl->VtxBuffer.Size;
    dl->AddText(font, font->FontSize, {mid.x - sz.x * 0.5f, mid.y - sz.y * 0.5f}, colour, s.c_str());
    for (int i = first; i < dl->VtxBuffer.Size; ++i) {
        ImDrawVert& v = dl->VtxBuffer[i];
        const float dx = v.pos.x - mid.x, dy = v.pos.y - mid.y;
        v.pos = {centre.x + dy, centre.y - dx};
    }
}

void colourGrid(ImDrawList* dl, ImVec2 p0, ImVec2 p1, int cols, int rows, const std::vector<ImU32>& colours, ImU32 rowRule) {
    if (cols <= 0 || rows <= 0 || colours.size() < static_cast<size_t>(cols) * static_cast<size_t>(rows)) return;
    if (GridRenderer* g = fonts().grid) {
        g->add(dl, p0.x, p0.y, p1.x, p1.y, cols, rows, colours.data(), rowRule);
        return;
    }
    const float cw = (p1.x - p0.x) / cols, ch = (p1.y - p0.y) / rows;
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c)
            dl->AddRectFilled({p0.x + c * cw, p0.y + r * ch}, {p0.x + (c + 1) * cw, p0.y + (r + 1) * ch}, colours[static_cast<size_t>(r) * cols + c]);
    if (rowRule)
        for (int r = 1; r < rows; ++r) {
            const float y = std::floor(p0.y + r * ch);
            dl->AddRectFilled({p0.x, y}, {p1.x, y + 1}, rowRule);
        }
}

int tickStep(int count, float pixels, float minPixels) {
    if (count <= 0 || pixels <= 0) return 1;
    const float per = pixels / static_cast<float>(count);
    static const int steps[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096};
    for (int s : steps)
        if (per * static_cast<float>(s) >= minPixels) return s;
    return count;
}

bool& compactHeaders() {
    static bool compact = false;
    return compact;
}

void header(const std::string& title, const std::string& subtitle) {
    if (compactHeaders()) {
        if (fonts().small) ImGui::PushFont(fonts().small);
        ImGui::PushStyleColor(ImGuiCol_Text, ImGui::ColorConvertU32ToFloat4(theme::kDimText));
        ImGui::PushTextWrapPos(0);
        ImGui::TextUnformatted(subtitle.empty() ? title.c_str() : subtitle.c_str());
        ImGui::PopTextWrapPos();
        ImGui::PopStyleColor();
        if (fonts().small) ImGui::PopFont();
        return;
    }
    if (fonts().title) ImGui::PushFont(fonts().title);
    ImGui::TextUnformatted(title.c_str());
    if (fonts().title) ImGui::PopFont();
    if (!subtitle.empty()) {
        // Wraps in a narrow dock rather than running past its edge.
        ImGui::PushStyleColor(ImGuiCol_Text, ImGui::ColorConvertU32ToFloat4(theme::kDimText));
        ImGui::PushTextWrapPos(0);
        ImGui::TextUnformatted(subtitle.c_str());
        ImGui::PopTextWrapPos();
        ImGui::PopStyleColor();
    }
}

void emptyMessage(const std::string& text) {
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    const ImVec2 p = ImGui::GetCursorScreenPos();
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const float w = std::min(avail.x - 40.0f, 640.0f * fonts().scale);
    const ImVec2 sz = ImGui::CalcTextSize(text.c_str(), nullptr, false, w);
    const ImVec2 at{p.x + (avail.x - sz.x) * 0.5f, p.y + std::max(20.0f, (avail.y - sz.y) * 0.4f)};
    dl->AddRectFilled({at.x - 18, at.y - 14}, {at.x + sz.x + 18, at.y + sz.y + 14}, theme::kPlotBackground, 6);
    dl->AddText(ImGui::GetFont(), ImGui::GetFontSize(), at, theme::kDimText, text.c_str(), nullptr, w);
    ImGui::Dummy(avail);
}

float colourBar(ImDrawList* dl, ImVec2 tl, float height, double lo, double hi, bool log, const std::string& unit, Rgb (*map)(double)) {
    const float s = fonts().scale;
    const float barW = 16 * s;
    const int bands = 64;
    for (int i = 0; i < bands; ++i) {
        const float y0 = tl.y + height * (1.0f - static_cast<float>(i + 1) / bands);
        const float y1 = tl.y + height * (1.0f - static_cast<float>(i) / bands);
        dl->AddRectFilled({tl.x, y0}, {tl.x + barW, y1 + 0.5f}, col(map((i + 0.5) / bands)));
    }
    outline(dl, tl, {tl.x + barW, tl.y + height}, theme::kAxis);
    ImFont* f = fonts().small ? fonts().small : ImGui::GetFont();
    float maxLabel = 0;
    auto tick = [&](double v, double frac) {
        const float y = tl.y + height * (1.0f - static_cast<float>(frac));
        hline(dl, tl.x + barW, tl.x + barW + 4 * s, y, theme::kAxis);
        const std::string label = fmtNum(v, 3);
        textAt(dl, {tl.x + barW + 7 * s, y - f->FontSize * 0.5f}, theme::kText, label, f);
        maxLabel = std::max(maxLabel, f->CalcTextSizeA(f->FontSize, 1e9f, 0, label.c_str()).x);
    };
    if (!(hi > lo)) hi = lo + 1;
    if (log && lo > 0) {
        const double l0 = std::log10(lo), l1 = std::log10(hi);
        for (int e = static_cast<int>(std::ceil(l0 - 1e-9)); e <= static_cast<int>(std::floor(l1 + 1e-9)); ++e)
            tick(std::pow(10.0, e), (e - l0) / (l1 - l0));
        if (std::fabs(std::ceil(l0 - 1e-9) - l0) > 0.15) tick(lo, 0);
        if (std::fabs(l1 - std::floor(l1 + 1e-9)) > 0.15) tick(hi, 1);
    } else {
        // Round steps (1, 2, 2.5 or 5 x 10^k) giving four to eight ticks.
        const double range = hi - lo;
        double step = std::pow(10.0, std::floor(std::log10(range / 4)));
        for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
            if (range / (step * m) <= 7) { step *= m; break; }
        for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + 1e-9 * range; v += step)
            tick(std::fabs(v) < step * 1e-9 ? 0.0 : v, (v - lo) / range);
    }
    // The unit, written up the right-hand side.
    const float unitX = tl.x + barW + 7 * s + maxLabel + 12 * s;
    textVertical(dl, {unitX, tl.y + height * 0.5f}, theme::kDimText, unit);
    return unitX + 12 * s - tl.x;
}

int currentIndex(const RunView& run, const PanelState& state) {
    const int n = static_cast<int>(run.snapshots.size());
    if (n == 0) return -1;
    if (state.snapshotIndex < 0 || state.snapshotIndex >= n) return n - 1;
    return state.snapshotIndex;
}

const telemetry::RoutingSnapshot* currentSnapshot(const RunView& run, const PanelState& state) {
    const int i = currentIndex(run, state);
    return i < 0 ? nullptr : run.snapshots[static_cast<size_t>(i)].get();
}

void sameLineIfFits(float width) {
    const float right = ImGui::GetItemRectMax().x + ImGui::GetStyle().ItemSpacing.x + width;
    if (right <= ImGui::GetWindowPos().x + ImGui::GetWindowContentRegionMax().x) ImGui::SameLine();
}

float buttonWidth(const char* label) { return ImGui::CalcTextSize(label, nullptr, true).x + ImGui::GetStyle().FramePadding.x * 2; }

float checkWidth(const char* label) {
    return ImGui::GetFrameHeight() + ImGui::GetStyle().ItemInnerSpacing.x + ImGui::CalcTextSize(label, nullptr, true).x;
}

void scrubber(const RunView& run, PanelState& state, std::vector<Intent>& intents, bool besideLastItem) {
    const int n = static_cast<int>(run.snapshots.size());
    if (n == 0 || !state.showControls) return;
    // Beside the last control when the checkbox and a usable slider fit; else below it, so
    // nothing is cut at the dock's edge.
    if (besideLastItem) sameLineIfFits(checkWidth("Follow live") + ImGui::GetStyle().ItemSpacing.x + 160.0f * fonts().scale);
    int idx = currentIndex(run, state);
    bool follow = state.snapshotIndex < 0;
    if (ImGui::Checkbox("Follow live", &follow)) {
        state.snapshotIndex = follow ? -1 : idx;
        intents.push_back({Intent::Kind::FollowLive, follow ? 1 : 0});
    }
    ImGui::SameLine();
    ImGui::SetNextItemWidth(std::max(160.0f, ImGui::GetContentRegionAvail().x * 0.45f));
    const auto step = run.snapshots[static_cast<size_t>(idx)]->step;
    char label[64];
    std::snprintf(label, sizeof label, "step %lld  (%d/%d)", static_cast<long long>(step), idx + 1, n);
    int shown = idx;
    bool changed = ImGui::SliderInt("##time", &shown, 0, n - 1, label, ImGuiSliderFlags_AlwaysClamp);
    if (ImGui::IsWindowFocused(ImGuiFocusedFlags_RootAndChildWindows) && !ImGui::GetIO().WantTextInput) {
        if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_LeftArrow)) && shown > 0) { --shown; changed = true; }
        if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_RightArrow)) && shown < n - 1) { ++shown; changed = true; }
    }
    if (changed) {
        state.snapshotIndex = shown;
        intents.push_back({Intent::Kind::SelectStep, run.snapshots[static_cast<size_t>(shown)]->step});
    }
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("Drag to scrub through the run; arrow keys step one snapshot.");
}

const telemetry::BlockSnapshot* selectedBlock(const telemetry::RoutingSnapshot& snap, PanelState& state) {
    if (snap.blocks.empty()) return nullptr;
    state.block = std::clamp(state.block, 0, static_cast<int>(snap.blocks.size()) - 1);
    return &snap.blocks[static_cast<size_t>(state.block)];
}

void blockSelector(const telemetry::RoutingSnapshot& snap, PanelState& state, std::vector<Intent>& intents) {
    const auto* b = selectedBlock(snap, state);
    if (!b || !state.showControls) return;
    char preview[64];
    std::snprintf(preview, sizeof preview, "block %d  (%d experts)", b->block, b->experts);
    ImGui::SetNextItemWidth(220 * fonts().scale);
    if (ImGui::BeginCombo("##block", preview)) {
        for (size_t i = 0; i < snap.blocks.size(); ++i) {
            char item[64];
            std::snprintf(item, sizeof item, "block %d  (%d experts)", snap.blocks[i].block, snap.blocks[i].experts);
            if (ImGui::Selectable(item, static_cast<int>(i) == state.block)) {
                state.block = static_cast<int>(i);
                intents.push_back({Intent::Kind::SelectBlock, snap.blocks[i].block});
            }
        }
        ImGui::EndCombo();
    }
}

bool mouseIn(ImVec2 a, ImVec2 b) {
    if (!ImGui::IsWindowHovered(ImGuiHoveredFlags_AllowWhenBlockedByActiveItem)) return false;
    const ImVec2 m = ImGui::GetIO().MousePos;
    return m.x >= a.x && m.x < b.x && m.y >= a.y && m.y < b.y;
}

double deadShare(int experts) { return experts > 0 ? 1.0 / (10.0 * experts) : 0.0; }

BlockFigures figures(const telemetry::BlockSnapshot& b) {
    BlockFigures f;
    const auto share = b.loadShare();
    double h = 0;
    for (double p : share)
        if (p > 0) h -= p * std::log(p);
    const double total = std::accumulate(b.tokensPerExpert.begin(), b.tokensPerExpert.end(), 0.0);
    f.effectiveExperts = total > 0 ? std::exp(h) : 0;
    if (!b.tokensPerExpert.empty() && total > 0) {
        const double mean = total / static_cast<double>(b.tokensPerExpert.size());
        double var = 0;
        for (double t : b.tokensPerExpert) var += (t - mean) * (t - mean);
        var /= static_cast<double>(b.tokensPerExpert.size());
        f.cv = std::sqrt(var) / mean;
    }
    f.maxShare = share.empty() ? 0 : *std::max_element(share.begin(), share.end());
    const double assignments = total + static_cast<double>(b.dropped);
    f.dropRate = assignments > 0 ? static_cast<double>(b.dropped) / assignments : 0;
    const int n = b.ffnExperts;
    if (n > 1 && b.similarity.size() == static_cast<size_t>(n) * static_cast<size_t>(n)) {
        double sum = 0;
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < n; ++j)
                if (i != j) sum += b.similarity[static_cast<size_t>(i * n + j)];
        f.meanSimilarity = sum / (static_cast<double>(n) * (n - 1));
        f.hasSimilarity = true;
    }
    const double dead = deadShare(b.experts);
    if (total > 0)
        for (double p : share)
            if (p < dead) ++f.deadExperts;
    return f;
}

void tipOver(ImVec2 min, ImVec2 max, const char* text) {
    if (text && ImGui::IsWindowHovered() && ImGui::IsMouseHoveringRect(min, max)) ImGui::SetTooltip("%s", text);
}

void textTip(ImVec2 p, const std::string& s, ImFont* font, const char* text) {
    ImFont* f = font ? font : ImGui::GetFont();
    const ImVec2 size = f->CalcTextSizeA(f->FontSize, 1e9f, 0, s.c_str());
    tipOver(p, {p.x + size.x, p.y + size.y}, text);
}

void headersWithTips(const std::vector<const char*>& tips) {
    ImGui::TableNextRow(ImGuiTableRowFlags_Headers);
    const int n = ImGui::TableGetColumnCount();
    for (int c = 0; c < n; ++c) {
        if (!ImGui::TableSetColumnIndex(c)) continue;
        ImGui::PushID(c);
        ImGui::TableHeader(ImGui::TableGetColumnName(c));
        ImGui::PopID();
        if (c < static_cast<int>(tips.size()) && tips[static_cast<size_t>(c)] && ImGui::IsItemHovered())
            ImGui::SetTooltip("%s", tips[static_cast<size_t>(c)]);
    }
}

}  // namespace moe::viz::detail
