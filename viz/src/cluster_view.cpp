// Cluster view: the simulated cluster's GPUs, nodes and links with utilisation as colour and
// width, and a per-rank timeline (compute, dispatch, combine, waiting) of one step, straggler marked.
#include <imgui.h>

#include "draw_util.h"

#ifdef MOE_VIZ_HAS_CLUSTER
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "moe/cluster/catalog.h"
#include "moe/cluster/simulate.h"
#include "moe/viz/cluster_sim.h"
#endif

namespace moe::viz {

using namespace detail;

bool viewAvailable(View v) {
#ifdef MOE_VIZ_HAS_CLUSTER
    (void)v;
    return true;
#else
    return v != View::Cluster;
#endif
}

#ifndef MOE_VIZ_HAS_CLUSTER
std::vector<Intent> drawCluster(const RunView&, PanelState&) {
    header("Cluster", "");
    emptyMessage("This build has no cluster simulator (core/cluster), so there is nothing to show here.");
    return {};
}
#else

namespace cl = moe::cluster;

spec::Result<ClusterSimulation> simulateCluster(const RunView& run, int snapshotIndex) {
    if (!run.project) return spec::Diagnostics{{"project", "no project to simulate: " + run.projectError}};
    auto cat = cl::Catalog::loadDefault();
    if (!cat) return cat.errors();
    auto d = cl::resolveDeployment(*run.project, cat.value());
    if (!d) return d.errors();
    ClusterSimulation out;
    std::vector<std::vector<double>> loads;
    const int n = static_cast<int>(run.snapshots.size());
    const int idx = snapshotIndex < 0 || snapshotIndex >= n ? n - 1 : snapshotIndex;
    std::string routing = d->routingText;
    if (idx >= 0) {
        const auto& snap = *run.snapshots[static_cast<size_t>(idx)];
        auto rec = cl::rescaleRecorded(snap.blocks, d->layers, d->experts, "run");
        if (rec) {
            loads = std::move(rec.value());
            d->routing.kind = cl::RoutingKind::Recorded;
            routing = "recorded at step " + std::to_string(snap.step);
            d->routingText = routing;
        } else {
            // Like `moe simulate` and the planner: a run whose layers do not map onto the
            // deployment is an error, never a silent switch to an assumed routing.
            return spec::Diagnostics{{"deployment", "the routing recorded at step " + std::to_string(snap.step) +
                                                        " does not map onto the deployment: " + rec.errors().front().message +
                                                        ". Price an assumed routing instead with moe simulate (--routing uniform or zipf:S)"}};
        }
    }
    if (loads.empty()) {
        auto l = cl::deploymentLoads(d.value(), nullptr);
        if (!l) return l.errors();
        loads = std::move(l.value());
    }
    cl::SimOptions opt;
    opt.threads = 1;  // the host already runs this off the UI thread
    opt.maxSeconds = 60;  // a dashboard does not wait minutes: say what it would take instead
    opt.maxSecondsWhere = "the cluster view (moe simulate --max-seconds runs longer ones)";
    auto r = cl::simulateStep(d.value(), cat.value(), loads, opt);
    if (!r) return r.errors();
    out.note = d->cluster + ", " + std::to_string(d->gpus) + " GPUs (ep " + std::to_string(d->ep) + " x dp " + std::to_string(d->dp) +
               " x tp " + std::to_string(d->tp) + "), routing " + routing;
    out.result = std::make_shared<const cl::StepResult>(std::move(r.value()));
    return out;
}

namespace {

bool isComm(cl::EventKind k) { return k == cl::EventKind::Dispatch || k == cl::EventKind::Combine; }

// Event colours: Paul Tol's muted scheme (colour-blind safe); waiting is neutral grey.
ImU32 eventColour(cl::EventKind k) {
    switch (k) {
        case cl::EventKind::Router: return col(categorical(4, 9));
        case cl::EventKind::SharedExperts: return col(categorical(2, 9));
        case cl::EventKind::TensorParallel: return col(categorical(8, 9));
        case cl::EventKind::ExpertCompute: return col(categorical(3, 9));
        case cl::EventKind::Dispatch: return col(categorical(1, 9));
        case cl::EventKind::Combine: return col(categorical(6, 9));
        case cl::EventKind::GradSync: return col(categorical(0, 9));
        case cl::EventKind::Wait: return IM_COL32(95, 100, 112, 255);
    }
    return theme::kDimText;
}

const char* eventName(cl::EventKind k) {
    switch (k) {
        case cl::EventKind::Router: return "router";
        case cl::EventKind::SharedExperts: return "shared experts";
        case cl::EventKind::TensorParallel: return "tensor parallel";
        case cl::EventKind::ExpertCompute: return "expert compute";
        case cl::EventKind::Dispatch: return "dispatch";
        case cl::EventKind::Combine: return "combine";
        case cl::EventKind::GradSync: return "gradient sync";
        case cl::EventKind::Wait: return "waiting";
    }
    return "?";
}

// What each part of the step is, for the legend's tooltips (core/cluster's README has the model).
const char* eventHelp(cl::EventKind k) {
    switch (k) {
        case cl::EventKind::Router: return "The router's GEMM and top-k choice for this GPU's tokens.";
        case cl::EventKind::SharedExperts: return "The shared experts every token goes through; they overlap the dispatch.";
        case cl::EventKind::TensorParallel: return "All-gather and reduce-scatter of the received tokens inside a tensor-parallel group.";
        case cl::EventKind::ExpertCompute: return "This GPU's expert GEMMs on the tokens it received (roofline: FLOPs or memory).";
        case cl::EventKind::Dispatch: return "All-to-all sending each token to the GPUs of its experts, until the last token arrives.";
        case cl::EventKind::Combine: return "All-to-all returning the experts' outputs to the tokens' GPUs.";
        case cl::EventKind::GradSync: return "All-reduce of the expert and shared-expert gradients over the replicas (not overlapped).";
        case cl::EventKind::Wait: return "Idle: waiting for other GPUs (the straggler) before the next exchange.";
    }
    return nullptr;
}

// In ms when the scale (e.g. the step) is a millisecond or more, else in µs.
std::string fmtTime(double us, double scale) {
    char b[32];
    if (scale >= 1000) std::snprintf(b, sizeof b, "%.*f ms", us >= 100000 || us == 0 ? 0 : 2, us / 1000);
    else std::snprintf(b, sizeof b, "%.0f µs", us);
    return b;
}

// Line with utilisation as width and colour.
void link(ImDrawList* dl, ImVec2 a, ImVec2 b, double util, float s) {
    const float w = (0.8f + 4.0f * static_cast<float>(std::clamp(util, 0.0, 1.0))) * s;
    const ImU32 c = util > 0 ? col(viridis(std::clamp(util, 0.0, 1.0))) : theme::kGrid;
    if (a.x == b.x) vline(dl, a.x, a.y, b.y, c, w);
    else if (a.y == b.y) hline(dl, a.x, b.x, a.y, c, w);
    else dl->AddLine(a, b, c, w);
}

}  // namespace

std::vector<Intent> drawCluster(const RunView& run, PanelState& st) {
    std::vector<Intent> intents;
    if (!run.cluster) {
        header("Cluster", "");
        emptyMessage(run.clusterNote.empty() ? "No cluster simulation for this run yet." : run.clusterNote);
        return intents;
    }
    const cl::StepResult& r = *run.cluster;
    const cl::Topology& t = r.topology;
    const float s = fonts().scale;
    ImFont* small = fonts().small ? fonts().small : ImGui::GetFont();
    char sub[320];
    std::snprintf(sub, sizeof sub, "step %s (compute %s, exposed communication %s)  ·  %d of %d GPUs simulated%s",
                  fmtTime(r.stepUs, r.stepUs).c_str(), fmtTime(r.computeUs, r.stepUs).c_str(), fmtTime(r.exposedCommUs, r.stepUs).c_str(),
                  r.simulatedGpus, t.gpus,
                  r.replicas > 2 ? (", the other " + std::to_string(r.replicas - 1) + " replicas are copies of it").c_str()
                  : r.replicas == 2 ? ", the other replica is a copy of it" : "");
    header("Cluster", sub);
    ImGui::PushStyleColor(ImGuiCol_Text, ImGui::ColorConvertU32ToFloat4(theme::kDimText));
    if (fonts().small) ImGui::PushFont(fonts().small);
    ImGui::PushTextWrapPos(0);
    ImGui::TextUnformatted(run.clusterNote.c_str());
    ImGui::PopTextWrapPos();
    if (fonts().small) ImGui::PopFont();
    ImGui::PopStyleColor();

    ImDrawList* dl = ImGui::GetWindowDrawList();
    const ImVec2 o = ImGui::GetCursorScreenPos();
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    const float legendW = 150 * s;
    const float topoH = avail.y * 0.42f;

    // ---- topology: simulated nodes, GPUs, scale-up fabric, NICs to leaves -----------------------
    std::map<int, double> util;  // link -> utilisation over the step
    for (const auto& l : r.links) util[l.link] = l.utilisation;
    auto u = [&](int link) { auto it = util.find(link); return it == util.end() ? 0.0 : it->second; };
    const int nodes = std::max(1, (r.simulatedGpus + t.gpusPerNode - 1) / std::max(1, t.gpusPerNode));
    const float nodeGap = 18 * s;
    const float nodeW = std::min(420.0f * s, (avail.x - legendW - nodeGap * (nodes + 1)) / nodes);
    const float gpuBox = std::clamp((nodeW - 20 * s) / std::max(1, t.gpusPerNode) - 6 * s, 10.0f * s, 40.0f * s);
    const float nodeTop = o.y + 4 * s, nodeH = topoH * 0.62f;
    const float leafY = o.y + topoH * 0.82f;
    std::map<int, ImVec2> gpuPos;
    for (int nd = 0; nd < nodes; ++nd) {
        const float nx = o.x + nodeGap + nd * (nodeW + nodeGap);
        dl->AddRectFilled({nx, nodeTop}, {nx + nodeW, nodeTop + nodeH}, theme::kPlotBackground);
        outline(dl, {nx, nodeTop}, {nx + nodeW, nodeTop + nodeH}, theme::kGrid);
        textAt(dl, {nx + 6 * s, nodeTop + 3 * s}, theme::kDimText,
               "node " + std::to_string(nd) + "  (GPUs " + std::to_string(nd * t.gpusPerNode) + "–" +
                   std::to_string(std::min(t.gpus, (nd + 1) * t.gpusPerNode) - 1) + ")", small);
        const float swY = nodeTop + nodeH * 0.78f;
        if (t.fabric == cl::FabricKind::Switch) {
            dl->AddRectFilled({nx + 10 * s, swY}, {nx + nodeW - 10 * s, swY + 10 * s}, theme::kAxis);
            textAt(dl, {nx + 12 * s, swY + 11 * s}, theme::kDimText, "scale-up switch", small);
        }
        const int first = nd * t.gpusPerNode, last = std::min(r.simulatedGpus, first + t.gpusPerNode);
        const float step = (nodeW - 20 * s) / std::max(1, t.gpusPerNode);
        // GPUs of this node outside the simulated group belong to replicas: drawn hollow.
        for (int g = last; g < std::min(t.gpus, first + t.gpusPerNode); ++g) {
            const float gx = nx + 10 * s + (g - first) * step + (step - gpuBox) * 0.5f, gy = nodeTop + nodeH * 0.30f;
            outline(dl, {gx, gy}, {gx + gpuBox, gy + gpuBox}, theme::kGrid, 1.5f * s);
            if (step >= small->CalcTextSizeA(small->FontSize, 1e9f, 0, "000").x)
                textCentred(dl, {gx + gpuBox * 0.5f, gy - small->FontSize * 0.6f}, theme::kDimText, std::to_string(g), small);
            if (g == last) textAt(dl, {gx, gy + gpuBox + 4 * s}, theme::kDimText, "replica", small);
        }
        for (int g = first; g < last; ++g) {
            const float gx = nx + 10 * s + (g - first) * step + (step - gpuBox) * 0.5f;
            const float gy = nodeTop + nodeH * 0.30f;
            const ImVec2 c{gx + gpuBox * 0.5f, gy + gpuBox * 0.5f};
            gpuPos[g] = c;
            if (t.fabric == cl::FabricKind::Switch)
                link(dl, {c.x, gy + gpuBox}, {c.x, swY}, std::max(u(t.scaleUpOut(g)), u(t.scaleUpIn(g))), s);
            // GPU colour: share of the step it computes (busy), viridis.
            const auto it = std::find_if(r.ranks.begin(), r.ranks.end(), [&](const cl::RankTimeline& rt) { return rt.rank == g; });
            const double busy = it != r.ranks.end() && r.stepUs > 0 ? it->computeUs / r.stepUs : 0;
            dl->AddRectFilled({gx, gy}, {gx + gpuBox, gy + gpuBox}, col(viridis(busy)));
            if (g == r.stragglerRank) outline(dl, {gx, gy}, {gx + gpuBox, gy + gpuBox}, col(statusColour(Status::Critical)), 3 * s);
            if (step >= small->CalcTextSizeA(small->FontSize, 1e9f, 0, "000").x)
                textCentred(dl, {c.x, gy - small->FontSize * 0.6f}, theme::kText, std::to_string(g), small);
        }
        if (t.fabric == cl::FabricKind::Mesh && last - first > 1) {
            // xGMI mesh: one line per GPU pair, width and colour of the busier direction.
            for (int a = first; a < last; ++a)
                for (int b = a + 1; b < last; ++b) {
                    const ImVec2 pa = gpuPos[a], pb = gpuPos[b];
                    const float bend = (b - a) * 6.0f * s;
                    const double uu = std::max(u(t.meshLink(a, b)), u(t.meshLink(b, a)));
                    if (uu <= 0) continue;
                    dl->AddBezierQuadratic({pa.x, pa.y + gpuBox * 0.5f}, {(pa.x + pb.x) * 0.5f, pa.y + gpuBox * 0.5f + bend},
                                           {pb.x, pb.y + gpuBox * 0.5f}, col(viridis(uu)), (1 + 4 * static_cast<float>(uu)) * s, 12);
                }
        }
    }
    // NICs to leaf switches (one leaf per rail and pod).
    if (t.pods > 0) {
        std::map<int, float> leafX;
        for (const auto& [g, c] : gpuPos) {
            const int leaf = t.leafOf(g);
            if (leaf < 0) continue;
            if (!leafX.count(leaf)) leafX[leaf] = 0;
        }
        int li = 0;
        const float lw = std::min(90.0f * s, (avail.x - legendW) / std::max<size_t>(1, leafX.size()) - 10 * s);
        for (auto& [leaf, x] : leafX) x = o.x + nodeGap + li++ * ((avail.x - legendW - 2 * nodeGap) / std::max<size_t>(1, leafX.size())) + lw * 0.5f;
        for (const auto& [g, c] : gpuPos) {
            const int leaf = t.leafOf(g);
            if (leaf < 0) continue;
            // Many NIC links: thinner, so the rails stay apart.
            link(dl, {c.x, nodeTop + nodeH}, {leafX[leaf], leafY}, std::max(u(t.nicOut(g)), u(t.nicIn(g))),
                 gpuPos.size() > 16 ? s * 0.5f : s);
        }
        for (const auto& [leaf, x] : leafX) {
            dl->AddRectFilled({x - lw * 0.5f, leafY}, {x + lw * 0.5f, leafY + 14 * s}, theme::kAxis);
            const double up = std::max(u(t.leafUp(leaf)), u(t.leafDown(leaf)));
            char lab[48];
            std::snprintf(lab, sizeof lab, "leaf %d%s", leaf, up > 0 ? (" ↑" + fmtPercent(up, 0)).c_str() : "");
            textCentred(dl, {x, leafY + 14 * s + small->FontSize * 0.6f}, theme::kDimText, lab, small);
        }
    }
    // Legend: utilisation colours and widths, GPU busy colours, straggler.
    {
        const float lx = o.x + avail.x - legendW + 10 * s;
        colourBar(dl, {lx, o.y + 6 * s}, topoH - 40 * s, 0, 100, false, "link utilisation / GPU busy (%)");
        float y = o.y + topoH - 26 * s;
        outline(dl, {lx, y}, {lx + 12 * s, y + 12 * s}, col(statusColour(Status::Critical)), 3 * s);
        textAt(dl, {lx + 18 * s, y - 1 * s}, theme::kText, r.stragglerRank >= 0 ? "straggler" : "no straggler", small);
        textTip({lx + 18 * s, y - 1 * s}, r.stragglerRank >= 0 ? "straggler" : "no straggler", small,
                "The GPU whose experts finish last most often: every other GPU waits for it before the\n"
                "combine. None when all finish within 0.5% of each other.");
    }

    // ---- per-rank timeline -------------------------------------------------------------------------
    const float ty0 = o.y + topoH + 10 * s;
    textAt(dl, {o.x, ty0}, theme::kText, "One training step, per rank (top: compute, bottom: communication)", fonts().bold);
    const float labelW = 110 * s;
    const ImVec2 p0{o.x + labelW, ty0 + ImGui::GetFontSize() + 8 * s};
    const ImVec2 p1{o.x + avail.x - legendW, o.y + avail.y - small->FontSize - 12 * s};
    // At most 16 rows stay readable: the straggler, the busiest and idlest ranks, then evenly spaced ones.
    std::vector<int> rows;
    const int all = static_cast<int>(r.ranks.size());
    if (all <= 16) {
        for (int i = 0; i < all; ++i) rows.push_back(i);
    } else {
        auto add = [&](int i) { if (i >= 0 && std::find(rows.begin(), rows.end(), i) == rows.end()) rows.push_back(i); };
        for (int i = 0; i < all; ++i)
            if (r.ranks[static_cast<size_t>(i)].rank == r.stragglerRank) add(i);
        const auto busy = std::max_element(r.ranks.begin(), r.ranks.end(), [](auto& a, auto& b) { return a.expertUs < b.expertUs; });
        const auto idle = std::min_element(r.ranks.begin(), r.ranks.end(), [](auto& a, auto& b) { return a.expertUs < b.expertUs; });
        add(static_cast<int>(busy - r.ranks.begin()));
        add(static_cast<int>(idle - r.ranks.begin()));
        for (int k = 0; rows.size() < 16 && k < 16; ++k) add(k * (all - 1) / 15);
        std::sort(rows.begin(), rows.end());
        char note[128];
        std::snprintf(note, sizeof note, "%zu of %d ranks shown: the straggler, the busiest and idlest experts, and evenly spaced ones", rows.size(), all);
        textRight(dl, {p1.x, ty0 + ImGui::GetFontSize() * 0.5f}, theme::kDimText, note, small);
    }
    const int ranks = static_cast<int>(rows.size());
    if (ranks > 0 && r.stepUs > 0 && p1.y - p0.y > 20) {
        const float rowH = (p1.y - p0.y) / ranks;
        const float xs = (p1.x - p0.x) / static_cast<float>(r.stepUs);
        dl->AddRectFilled(p0, p1, theme::kPlotBackground);
        for (int i = 0; i < ranks; ++i) {
            const auto& rt = r.ranks[static_cast<size_t>(rows[static_cast<size_t>(i)])];
            const float y0 = p0.y + i * rowH + 1, y1 = p0.y + (i + 1) * rowH - 1, ym = y0 + (y1 - y0) * 0.6f;
            for (const auto& e : rt.events) {
                const float a = p0.x + static_cast<float>(e.startUs) * xs, b = std::max(a + 1.0f, p0.x + static_cast<float>(e.endUs) * xs);
                if (e.kind == cl::EventKind::Wait) dl->AddRectFilled({a, y0}, {b, ym}, eventColour(e.kind));
                else if (isComm(e.kind)) dl->AddRectFilled({a, ym + 1}, {b, y1}, eventColour(e.kind));
                else dl->AddRectFilled({a, y0}, {b, ym}, eventColour(e.kind));
            }
            const bool straggler = rt.rank == r.stragglerRank;
            char lab[48];
            std::snprintf(lab, sizeof lab, "GPU %d", rt.rank);  // the planner's word for the same index
            if (rowH >= small->FontSize) textRight(dl, {p0.x - 8 * s, (y0 + y1) * 0.5f}, straggler ? col(statusColour(Status::Critical)) : theme::kText,
                                                   straggler ? std::string("!! ") + lab : lab, small);
            if (straggler) outline(dl, {p0.x, y0}, {p1.x, y1}, col(statusColour(Status::Critical)), 2 * s);
        }
        outline(dl, p0, p1, theme::kAxis);
        for (int k = 0; k <= 4; ++k) {
            const float x = p0.x + (p1.x - p0.x) * k / 4.0f;
            vline(dl, x, p1.y, p1.y + 4 * s, theme::kAxis);
            textCentred(dl, {x, p1.y + 6 * s + small->FontSize * 0.5f}, theme::kText, fmtTime(r.stepUs * k / 4.0, r.stepUs), small);
        }
        // Hover: the event under the mouse.
        const ImVec2 m = ImGui::GetIO().MousePos;
        if (ImGui::IsWindowHovered() && m.x >= p0.x && m.x < p1.x && m.y >= p0.y && m.y < p1.y) {
            const int i = std::clamp(static_cast<int>((m.y - p0.y) / rowH), 0, ranks - 1);
            const double tus = (m.x - p0.x) / xs;
            const bool lower = (m.y - (p0.y + i * rowH)) > rowH * 0.6f;
            const auto& rt = r.ranks[static_cast<size_t>(rows[static_cast<size_t>(i)])];
            for (const auto& e : rt.events)
                if (tus >= e.startUs && tus < e.endUs && isComm(e.kind) == lower) {
                    ImGui::BeginTooltip();
                    ImGui::Text("GPU %d (node %d): %s, MoE layer %d %s", rt.rank, rt.node, eventName(e.kind), e.layer, cl::toString(e.pass).c_str());
                    ImGui::Text("%s .. %s (%s)", fmtTime(e.startUs, r.stepUs).c_str(), fmtTime(e.endUs, r.stepUs).c_str(), fmtTime(e.endUs - e.startUs, e.endUs - e.startUs).c_str());
                    ImGui::EndTooltip();
                    st.hover = {true, -1, rt.rank, i, e.endUs - e.startUs};
                    break;
                }
        }
    }
    // Event legend.
    {
        float y = p0.y;
        const float lx = o.x + avail.x - legendW + 10 * s;
        for (auto k : {cl::EventKind::Router, cl::EventKind::SharedExperts, cl::EventKind::ExpertCompute, cl::EventKind::TensorParallel,
                       cl::EventKind::Dispatch, cl::EventKind::Combine, cl::EventKind::Wait, cl::EventKind::GradSync}) {
            dl->AddRectFilled({lx, y}, {lx + 14 * s, y + 12 * s}, eventColour(k));
            textAt(dl, {lx + 20 * s, y - 1 * s}, theme::kText, eventName(k), small);
            textTip({lx + 20 * s, y - 1 * s}, eventName(k), small, eventHelp(k));
            y += small->FontSize + 5 * s;
        }
    }
    ImGui::SetCursorScreenPos({o.x, o.y + avail.y});
    return intents;
}
#endif

}  // namespace moe::viz
