#pragma once
// Contents of the Dashboards and Cluster planner docks. The live dashboards (viz/, Dear ImGui
// on Vulkan) and the cluster simulator (core/cluster) are separate modules; when a module is
// not part of this build its dock says so plainly instead of showing anything made up.

class QWidget;

namespace moe::viz {
class DashboardWindow;
}

namespace moe::studio {

class ClusterPlanner;
class ProjectDocument;

// The live dashboards (Dear ImGui on Vulkan) when this build has them and a Vulkan device is
// there; otherwise a plain explanation. `window` receives the dashboard window, or nullptr.
QWidget* makeDashboardsWidget(QWidget* parent, moe::viz::DashboardWindow** window);
// The cluster planner when this build has the simulator; `planner` receives it, or nullptr.
QWidget* makeClusterPlannerWidget(ProjectDocument* doc, QWidget* parent, ClusterPlanner** planner);

}  // namespace moe::studio
