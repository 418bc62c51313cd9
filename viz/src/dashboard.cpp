#include <imgui.h>

#include <algorithm>

#include "draw_util.h"
#include "moe/spec/project_io.h"
#include "moe/telemetry/run_store.h"
#include "moe/viz/panels.h"

namespace moe::viz {

RunView RunView::fromReader(const telemetry::RunReader& reader) {
    RunView v;
    v.snapshots = reader.snapshots();
    v.runId = reader.info().runId;
    v.status = reader.info().status;
    v.live = reader.info().status == "running";
    if (reader.info().projectJson.empty()) {
        v.projectError = "the run store holds no project";
    } else {
        auto p = spec::parseProject(reader.info().projectJson, reader.path() + " (project)");
        if (p) v.project = std::move(p.value());
        else v.projectError = p.message();
    }
    return v;
}

int RunView::indexAtStep(std::int64_t step) const {
    int found = -1;
    for (size_t i = 0; i < snapshots.size(); ++i) {
        if (snapshots[i]->step > step) break;
        found = static_cast<int>(i);
    }
    return found;
}

std::string_view toString(View v) {
    switch (v) {
        case View::Heatmap: return "heatmap";
        case View::Load: return "load";
        case View::Collapse: return "collapse";
        case View::Specialisation: return "specialisation";
        case View::RoutingMap: return "routing-map";
        case View::Tokens: return "tokens";
        case View::Schedule: return "schedule";
        case View::Cluster: return "cluster";
    }
    return "?";
}

std::string_view displayName(View v) {
    switch (v) {
        case View::Heatmap: return "Routing heatmap";
        case View::Load: return "Expert load";
        case View::Collapse: return "Collapse monitor";
        case View::Specialisation: return "Specialisation";
        case View::RoutingMap: return "Routing map";
        case View::Tokens: return "Token routing";
        case View::Schedule: return "Capacity schedule";
        case View::Cluster: return "Cluster";
    }
    return "?";
}

std::string_view tabName(View v) {
    switch (v) {
        case View::Heatmap: return "Heatmap";
        case View::Load: return "Load";
        case View::Collapse: return "Collapse";
        case View::Specialisation: return "Classes";
        case View::RoutingMap: return "Map";
        case View::Tokens: return "Tokens";
        case View::Schedule: return "Schedule";
        case View::Cluster: return "Cluster";
    }
    return "?";
}

std::optional<View> parseView(std::string_view name) {
    for (View v : kAllViews)
        if (toString(v) == name) return v;
    return std::nullopt;
}

namespace {

std::vector<Intent> drawOne(View v, const RunView& run, PanelState& state) {
    switch (v) {
        case View::Heatmap: return drawHeatmap(run, state);
        case View::Load: return drawLoad(run, state);
        case View::Collapse: return drawCollapse(run, state);
        case View::Specialisation: return drawSpecialisation(run, state);
        case View::RoutingMap: return drawRoutingMap(run, state);
        case View::Tokens: return drawTokens(run, state);
        case View::Schedule: return drawSchedule(run, state);
        case View::Cluster: return drawCluster(run, state);
    }
    return {};
}

// A coloured strip over each side of a comparison: which run it is, never by colour alone.
void banner(const char* role, const RunView& run, ImU32 colour) {
    const float s = detail::fonts().scale;
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const ImVec2 p = ImGui::GetCursorScreenPos();
    const float w = ImGui::GetContentRegionAvail().x, h = ImGui::GetFontSize() + 8 * s;
    dl->AddRectFilled(p, {p.x + w, p.y + h}, colour, 4 * s);
    const std::string name = run.label.empty() ? run.runId : run.label;
    std::string text = std::string(role) + "  ·  " + name;
    if (!run.snapshots.empty()) text += "  ·  to step " + std::to_string(run.snapshots.back()->step);
    ImGui::PushClipRect(p, {p.x + w, p.y + h}, true);
    detail::textAt(dl, {p.x + 8 * s, p.y + 4 * s}, IM_COL32(255, 255, 255, 255), text, detail::fonts().bold);
    ImGui::PopClipRect();
    ImGui::Dummy({w, h + 2 * s});
}

}  // namespace

std::vector<Intent> drawView(View v, const RunView& run, PanelState& state) {
    if (!run.compared) return drawOne(v, run, state);
    const float s = detail::fonts().scale;
    const float gap = 10 * s;
    // Side by side in a wide area, one above the other in a tall one (a dock beside the canvas).
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    const bool stacked = avail.x < avail.y * 1.2f;
    const ImVec2 half = stacked ? ImVec2{0, std::max(1.0f, (avail.y - gap) * 0.5f)} : ImVec2{std::max(1.0f, (avail.x - gap) * 0.5f), 0};
    if (state.comparedState.empty()) state.comparedState.emplace_back();
    PanelState& other = state.comparedState.front();
    other.block = state.block;
    other.metric = state.metric;
    other.scale = state.scale;
    other.showControls = false;  // one scrubber (the latest run's); the other shows its end
    other.snapshotIndex = -1;
    std::vector<Intent> intents;
    detail::compactHeaders() = true;
    // Amber for the run compared against (usually the one before a fix), blue for this one.
    if (ImGui::BeginChild("##compared", half, false)) {
        banner("BEFORE", *run.compared, IM_COL32(176, 104, 18, 255));
        drawOne(v, *run.compared, other);  // its intents (steps of another run) are not the host's
    }
    ImGui::EndChild();
    if (stacked) ImGui::Dummy({1, gap * 0.5f});
    else ImGui::SameLine(0, gap);
    if (ImGui::BeginChild("##latest", half, false)) {
        banner("LATEST", run, IM_COL32(36, 98, 176, 255));
        intents = drawOne(v, run, state);
    }
    ImGui::EndChild();
    detail::compactHeaders() = false;
    state.wantsRedraw |= other.wantsRedraw;
    return intents;
}

std::vector<FirstTrip> firstTrips(const RunView& run) {
    std::vector<FirstTrip> out;
    for (size_t t = 0; t < run.snapshots.size(); ++t)
        for (const auto& a : run.snapshots[t]->alerts) {
            const bool seen = std::any_of(out.begin(), out.end(), [&](const FirstTrip& f) { return f.kind == a.kind && f.block == a.block; });
            if (!seen) out.push_back({a.kind, a.block, static_cast<int>(t), run.snapshots[t]->step});
        }
    return out;
}

namespace {

bool beginFullWindow(const char* name) {
    const ImGuiViewport* vp = ImGui::GetMainViewport();
    ImGui::SetNextWindowPos(vp->Pos);
    ImGui::SetNextWindowSize(vp->Size);
    constexpr ImGuiWindowFlags flags = ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove |
                                       ImGuiWindowFlags_NoSavedSettings | ImGuiWindowFlags_NoBringToFrontOnFocus;
    return ImGui::Begin(name, nullptr, flags);
}

}  // namespace

std::vector<Intent> drawSingleView(View v, const RunView& run, PanelState& state) {
    std::vector<Intent> intents;
    if (beginFullWindow("##dashboard")) intents = drawView(v, run, state);
    ImGui::End();
    return intents;
}

std::vector<Intent> drawTabbed(View& current, const RunView& run, PanelState& state) {
    std::vector<Intent> intents;
    // The host changed the view (rather than the user clicking a tab): select that tab.
    const bool hostChanged = state.shownTab >= 0 && state.shownTab != static_cast<int>(current);
    if (beginFullWindow("##dashboards")) {
        // Whole tab names that scroll (with a list of every view) rather than names cut to "Ro…"
        // when the dock is narrow.
        if (ImGui::BeginTabBar("views", ImGuiTabBarFlags_FittingPolicyScroll | ImGuiTabBarFlags_TabListPopupButton)) {
            for (View v : kAllViews) {
                if (!viewAvailable(v)) continue;
                // Short names fit a dock a third of a laptop screen wide; the panel's title says the rest.
                const std::string label = std::string(tabName(v)) + "###" + std::string(toString(v));
                const ImGuiTabItemFlags flags = hostChanged && v == current ? ImGuiTabItemFlags_SetSelected : 0;
                if (ImGui::BeginTabItem(label.c_str(), nullptr, flags)) {
                    if (!hostChanged || v == current) {
                        if (current != v) state.wantsRedraw = true;
                        current = v;
                        intents = drawView(v, run, state);
                    }
                    ImGui::EndTabItem();
                }
            }
            ImGui::EndTabBar();
        }
    }
    ImGui::End();
    if (hostChanged) state.wantsRedraw = true;  // the tab bar applies the selection next frame
    state.shownTab = static_cast<int>(current);
    return intents;
}

}  // namespace moe::viz
