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

std::optional<View> parseView(std::string_view name) {
    for (View v : kAllViews)
        if (toString(v) == name) return v;
    return std::nullopt;
}

std::vector<Intent> drawView(View v, const RunView& run, PanelState& state) {
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
        if (ImGui::BeginTabBar("views")) {
            for (View v : kAllViews) {
                if (!viewAvailable(v)) continue;
                const std::string label(displayName(v));
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
