// Expert load over time for one MoE block: time (snapshots) x expert, colour = token share, with
// dead experts struck through and listed, and the effective number of experts above it.
#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "draw_util.h"

namespace moe::viz {

using namespace detail;

namespace {

// Index of the block with model index `block` in a snapshot, or -1.
int findBlock(const telemetry::RoutingSnapshot& s, int block) {
    for (size_t i = 0; i < s.blocks.size(); ++i)
        if (s.blocks[i].block == block) return static_cast<int>(i);
    return -1;
}

}  // namespace

std::vector<Intent> drawLoad(const RunView& run, PanelState& st) {
    std::vector<Intent> intents;
    const telemetry::RoutingSnapshot* snap = currentSnapshot(run, st);
    const telemetry::BlockSnapshot* blk = snap ? selectedBlock(*snap, st) : nullptr;
    if (!blk) {
        header("Expert load over time", "");
        emptyMessage(snap ? "This snapshot has no MoE blocks." : "No snapshots yet: the run has not published any routing data.");
        return intents;
    }
    const float s = fonts().scale;
    const int experts = blk->experts;
    const double dead = deadShare(experts);
    const int cur = currentIndex(run, st);
    char sub[512];
    const double kept = blk->assignments() - static_cast<double>(blk->dropped);
    std::snprintf(sub, sizeof sub,
                  "block %d  ·  %d experts  ·  %zu snapshots up to step %lld  ·  dead: share below 1/(10 × %d) = %s  ·  "
                  "each snapshot sums %d batch%s (%.0f assignments): an even router's load CV there is %.2f",
                  blk->block, experts, run.snapshots.size(), static_cast<long long>(run.snapshots.back()->step), experts,
                  fmtPercent(dead, 2).c_str(), blk->batches, blk->batches == 1 ? "" : "es", kept,
                  telemetry::evenRouterCv(kept, experts));
    header("Expert load over time", sub);
    if (st.showControls) {
        blockSelector(*snap, st, intents);
        scrubber(run, st, intents, true);
    }

    // Series of this block over the run (snapshots where the block is missing are gaps).
    const int n = static_cast<int>(run.snapshots.size());
    std::vector<std::vector<double>> share(static_cast<size_t>(n));
    std::vector<double> effective(static_cast<size_t>(n), std::nan("")), deadCount(static_cast<size_t>(n), std::nan(""));
    std::vector<int> deadSince(static_cast<size_t>(experts), -1);  // snapshot index where the current dead stretch began
    for (int t = 0; t < n; ++t) {
        const auto& sn = *run.snapshots[static_cast<size_t>(t)];
        const int bi = findBlock(sn, blk->block);
        if (bi < 0) continue;
        const auto& b = sn.blocks[static_cast<size_t>(bi)];
        share[static_cast<size_t>(t)] = b.loadShare();
        const auto f = figures(b);
        effective[static_cast<size_t>(t)] = f.effectiveExperts;
        deadCount[static_cast<size_t>(t)] = f.deadExperts;
        if (t <= cur)
            for (int e = 0; e < experts; ++e) {
                const bool isDead = e < static_cast<int>(share[static_cast<size_t>(t)].size()) &&
                                    share[static_cast<size_t>(t)][static_cast<size_t>(e)] < dead;
                if (!isDead) deadSince[static_cast<size_t>(e)] = -1;
                else if (deadSince[static_cast<size_t>(e)] < 0) deadSince[static_cast<size_t>(e)] = t;
            }
    }

    ImDrawList* dl = ImGui::GetWindowDrawList();
    ImFont* small = fonts().small ? fonts().small : ImGui::GetFont();
    const ImVec2 origin = ImGui::GetCursorScreenPos();
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    const float leftW = ImGui::CalcTextSize("000").x + 36 * s;
    // The legend column narrows (shorter words) in a dock a third of a laptop screen wide.
    const bool narrow = avail.x < 640 * s;
    const float rightW = (narrow ? 175 : 290) * s;
    const float stripH = std::min(std::max(70.0f * s, avail.y * 0.2f), avail.y * 0.3f);
    const float bottomH = small->FontSize + ImGui::GetFontSize() + 22 * s;
    const float x0 = origin.x + leftW, x1 = origin.x + avail.x - rightW;
    if (x1 - x0 < 60 || avail.y - stripH - bottomH < 40) {
        ImGui::TextUnformatted("The window is too small for the load chart.");
        return intents;
    }
    const float colW = (x1 - x0) / n;
    auto xOf = [&](int t) { return x0 + (t + 0.5f) * colW; };

    // ---- strip: effective experts and dead experts over time --------------------------------------
    const ImVec2 s0{x0, origin.y + 6 * s}, s1{x1, origin.y + stripH};
    dl->AddRectFilled(s0, s1, theme::kPlotBackground);
    for (int g = 0; g <= 4; ++g) {
        const float y = s1.y - (s1.y - s0.y) * g / 4.0f;
        hline(dl, s0.x, s1.x, y, theme::kGrid);
        textRight(dl, {s0.x - 6 * s, y}, theme::kDimText, fmtNum(experts * g / 4.0, 3), small);
    }
    auto line = [&](const std::vector<double>& v, ImU32 c, float thick) {
        ImVec2 prev{};
        bool have = false;
        for (int t = 0; t < n; ++t) {
            const double val = v[static_cast<size_t>(t)];
            if (std::isnan(val)) { have = false; continue; }
            const ImVec2 p{xOf(t), s1.y - static_cast<float>(val / std::max(experts, 1)) * (s1.y - s0.y)};
            if (have) dl->AddLine(prev, p, c, thick);
            else if (n == 1) dl->AddCircleFilled(p, 3 * s, c);
            prev = p;
            have = true;
        }
    };
    const ImU32 effCol = col(statusColour(Status::Info)), deadCol = col(statusColour(Status::Critical));
    line(effective, effCol, 2.0f * s);
    line(deadCount, deadCol, 2.0f * s);
    outline(dl, s0, s1, theme::kAxis);
    // Legend of the strip, top-left inside.
    {
        ImVec2 p{s0.x + 10 * s, s0.y + 6 * s};
        hline(dl, p.x, p.x + 18 * s, p.y + 7 * s, effCol, 3 * s);
        const char* effLabel = narrow ? "effective exp(H)" : "effective experts exp(H)";
        const char* deadLabel = narrow ? "dead" : "dead experts";
        textAt(dl, {p.x + 24 * s, p.y}, theme::kText, effLabel, small);
        textTip({p.x + 24 * s, p.y}, effLabel, small,
                "exp of the load entropy H = -sum share ln share: how many equally used experts would\n"
                "spread the tokens this evenly. The expert count when the load is even.");
        p.x += 24 * s + small->CalcTextSizeA(small->FontSize, 1e9f, 0, effLabel).x + 18 * s;
        hline(dl, p.x, p.x + 18 * s, p.y + 7 * s, deadCol, 3 * s);
        textAt(dl, {p.x + 24 * s, p.y}, theme::kText, deadLabel, small);
        textTip({p.x + 24 * s, p.y}, deadLabel, small,
                "Experts whose share is below 1/(10 E): they get almost no tokens, so they stop learning.");
    }
    textVertical(dl, {origin.x + 9 * s, (s0.y + s1.y) * 0.5f}, theme::kDimText, "experts");

    // ---- main: time x expert ------------------------------------------------------------------------
    const ImVec2 p0{x0, s1.y + 14 * s}, p1{x1, origin.y + avail.y - bottomH};
    const float rowH = (p1.y - p0.y) / experts;
    double hi = 0;
    for (const auto& v : share)
        for (double x : v) hi = std::max(hi, x);
    if (!(hi > 0)) hi = 1;
    // Group snapshots when there are more than pixels (mean of the group), then one colour grid.
    const int g = std::max(1, static_cast<int>(std::ceil(n / (p1.x - p0.x))));
    const int ng = (n + g - 1) / g;
    std::vector<ImU32> colours(static_cast<size_t>(ng) * experts, theme::kPlotBackground);
    std::vector<char> deadCell(colours.size(), 0);
    for (int t = 0, gi = 0; t < n; t += g, ++gi) {
        const int tEnd = std::min(n, t + g);
        for (int e = 0; e < experts; ++e) {
            double sum = 0;
            int cnt = 0;
            for (int u = t; u < tEnd; ++u) {
                const auto& v = share[static_cast<size_t>(u)];
                if (e < static_cast<int>(v.size())) { sum += v[static_cast<size_t>(e)]; ++cnt; }
            }
            if (!cnt) continue;
            const double val = sum / cnt;
            colours[static_cast<size_t>(e) * ng + gi] = col(viridis(val / hi));
            deadCell[static_cast<size_t>(e) * ng + gi] = val < dead;
        }
    }
    dl->PushClipRect(p0, p1, true);
    colourGrid(dl, p0, {p0.x + ng * g * colW, p1.y}, ng, experts, colours);
    dl->PopClipRect();
    // Dead cells are struck through, so they read without colour; one stroke per run of cells.
    if (rowH >= 3)
        for (int e = 0; e < experts; ++e) {
            const float ym = p0.y + (e + 0.5f) * rowH;
            const float thick = std::max(1.0f, std::min(3.0f * s, rowH * 0.3f));
            for (int gi = 0; gi < ng;) {
                if (!deadCell[static_cast<size_t>(e) * ng + gi]) { ++gi; continue; }
                int end = gi;
                while (end < ng && deadCell[static_cast<size_t>(e) * ng + end]) ++end;
                hline(dl, x0 + gi * g * colW, std::min(x1, x0 + end * g * colW), ym, deadCol, thick);
                gi = end;
            }
        }
    if (rowH >= 7)
        for (int e = 1; e < experts; ++e) hline(dl, p0.x, p1.x, p0.y + e * rowH, theme::kBackground);
    outline(dl, p0, p1, theme::kAxis);
    // Where the dead-expert detector first tripped for this block: a dashed marker and its step.
    for (const auto& f : firstTrips(run)) {
        if (f.kind != telemetry::AlertKind::DeadExperts || f.block != blk->block) continue;
        const float fx = xOf(f.index);
        for (float y = p0.y; y < p1.y; y += 8 * s) vline(dl, fx, y, std::min(p1.y, y + 4 * s), col(statusColour(Status::Critical)), 2 * s);
        textAt(dl, {fx + 4 * s, p0.y + 2 * s}, col(statusColour(Status::Critical)), "dead from step " + std::to_string(f.step), small);
    }
    // The scrubber's position on both charts.
    const float cx = xOf(cur);
    vline(dl, cx, s0.y, s1.y, theme::kHighlight, 1.5f * s);
    vline(dl, cx, p0.y, p1.y, theme::kHighlight, 1.5f * s);

    // Axes.
    const int eStep = tickStep(experts, p1.y - p0.y, small->FontSize + 2 * s);
    for (int e = 0; e < experts; e += eStep)
        textRight(dl, {p0.x - 6 * s, p0.y + (e + 0.5f) * rowH}, theme::kText, std::to_string(e), small);
    textVertical(dl, {origin.x + 9 * s, (p0.y + p1.y) * 0.5f}, theme::kDimText, "expert");
    const int tStep = tickStep(n, p1.x - p0.x, 70 * s);
    for (int t = 0; t < n; t += tStep) {
        vline(dl, xOf(t), p1.y, p1.y + 4 * s, theme::kAxis);
        textCentred(dl, {xOf(t), p1.y + 6 * s + small->FontSize * 0.5f}, theme::kText,
                    std::to_string(run.snapshots[static_cast<size_t>(t)]->step), small);
    }
    textCentred(dl, {(p0.x + p1.x) * 0.5f, p1.y + 12 * s + small->FontSize + ImGui::GetFontSize() * 0.5f},
                theme::kDimText, "training step");

    // ---- right: legend and the dead experts at the scrubber's step ----------------------------------
    const float lx = x1 + 16 * s;
    const float barH = std::min(220.0f * s, p1.y - p0.y);
    colourBar(dl, {lx, p0.y}, barH, 0, hi * 100.0, false, "token share (%)");
    float y = p0.y + barH + 16 * s;
    const ImVec2 strike0{lx, y + 8 * s};
    dl->AddRectFilled({lx, y}, {lx + 28 * s, y + 16 * s}, col(viridis(0)));
    hline(dl, strike0.x, lx + 28 * s, strike0.y, deadCol, 3 * s);
    textAt(dl, {lx + 36 * s, y}, theme::kText, narrow ? "dead" : "dead (struck through)", small);
    y += 26 * s;
    int deadNow = 0;
    for (int e = 0; e < experts; ++e) deadNow += deadSince[static_cast<size_t>(e)] >= 0;
    char hd[96];
    if (narrow) std::snprintf(hd, sizeof hd, "Dead: %d of %d", deadNow, experts);
    else std::snprintf(hd, sizeof hd, "Dead at step %lld: %d of %d", static_cast<long long>(snap->step), deadNow, experts);
    textAt(dl, {lx, y}, deadNow ? deadCol : theme::kText, hd, fonts().bold);
    y += ImGui::GetFontSize() + 6 * s;
    int listed = 0;
    for (int e = 0; e < experts && y < p1.y - small->FontSize; ++e) {
        const int since = deadSince[static_cast<size_t>(e)];
        if (since < 0) continue;
        char t[96];
        std::snprintf(t, sizeof t, narrow ? "×  expert %d from %lld" : "×  expert %d  since step %lld", e,
                      static_cast<long long>(run.snapshots[static_cast<size_t>(since)]->step));
        textAt(dl, {lx, y}, theme::kText, t, small);
        // Marker on the chart's edge, level with the expert's row.
        const float ym = p0.y + (e + 0.5f) * rowH;
        dl->AddTriangleFilled({x1 + 2 * s, ym}, {x1 + 9 * s, ym - 4 * s}, {x1 + 9 * s, ym + 4 * s}, deadCol);
        y += small->FontSize + 3 * s;
        ++listed;
    }
    if (listed < deadNow) textAt(dl, {lx, y}, theme::kDimText, "… and " + std::to_string(deadNow - listed) + " more", small);

    // ---- hover ----------------------------------------------------------------------------------------
    ImGui::SetCursorScreenPos(p0);
    ImGui::InvisibleButton("##load", {p1.x - p0.x, p1.y - p0.y});
    st.hover = {};
    if (ImGui::IsItemHovered()) {
        const ImVec2 m = ImGui::GetIO().MousePos;
        const int t = std::clamp(static_cast<int>((m.x - x0) / colW), 0, n - 1);
        const int e = std::clamp(static_cast<int>((m.y - p0.y) / rowH), 0, experts - 1);
        const auto& v = share[static_cast<size_t>(t)];
        ImGui::BeginTooltip();
        ImGui::Text("step %lld · expert %d", static_cast<long long>(run.snapshots[static_cast<size_t>(t)]->step), e);
        if (e < static_cast<int>(v.size())) {
            ImGui::Text("token share %s%s", fmtPercent(v[static_cast<size_t>(e)], 2).c_str(),
                        v[static_cast<size_t>(e)] < dead ? "  (dead)" : "");
            st.hover = {true, blk->block, e, t, v[static_cast<size_t>(e)]};
        }
        ImGui::EndTooltip();
        if (ImGui::IsItemClicked(ImGuiMouseButton_Left)) {
            st.snapshotIndex = t;
            intents.push_back({Intent::Kind::SelectStep, run.snapshots[static_cast<size_t>(t)]->step});
        }
    }
    ImGui::SetCursorScreenPos({origin.x, origin.y + avail.y});
    return intents;
}

}  // namespace moe::viz
