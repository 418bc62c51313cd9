#pragma once
// Contents of the Dashboards and Cluster planner docks. The live dashboards (viz/, Dear ImGui
// on Vulkan) and the cluster simulator (core/cluster) are separate modules; when a module is
// not part of this build its dock says so plainly instead of showing anything made up.

class QWidget;

namespace moe::studio {

class ProjectDocument;

QWidget* makeDashboardsWidget(QWidget* parent);
QWidget* makeClusterPlannerWidget(ProjectDocument* doc, QWidget* parent);

}  // namespace moe::studio
