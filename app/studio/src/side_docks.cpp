#include "side_docks.h"

#include "cluster_planner.h"

#include <QLabel>
#include <QVBoxLayout>
#include <QWidget>

#ifdef MOE_STUDIO_VIZ_BUILT
#include "moe/viz_qt/dashboard_window.h"
#endif

namespace moe::studio {

namespace {

QWidget* explanation(QWidget* parent, const QString& title, const QString& body) {
    auto* w = new QWidget(parent);
    auto* v = new QVBoxLayout(w);
    v->setContentsMargins(14, 14, 14, 14);
    auto* t = new QLabel(title, w);
    QFont f = t->font();
    f.setBold(true);
    t->setFont(f);
    auto* b = new QLabel(body, w);
    b->setWordWrap(true);
    b->setTextFormat(Qt::RichText);
    b->setForegroundRole(QPalette::PlaceholderText);
    v->addWidget(t);
    v->addWidget(b);
    v->addStretch(1);
    return w;
}

}  // namespace

QWidget* makeDashboardsWidget(QWidget* parent, moe::viz::DashboardWindow** window) {
    *window = nullptr;
#ifdef MOE_STUDIO_VIZ_BUILT
    QString why;
    if (moe::viz::DashboardWindow::vulkanAvailable(&why)) {
        auto* w = new moe::viz::DashboardWindow;
        *window = w;
        auto* container = QWidget::createWindowContainer(w, parent);
        container->setMinimumSize(360, 280);
        return container;
    }
    return explanation(parent, QObject::tr("No Vulkan device for the live dashboards"),
                       why + QObject::tr("<br><br>The rest of the studio works as usual: while training, the canvas "
                                         "tints every expert tile by its load, the Messages panel lists collapse alerts, "
                                         "and <tt>moe render</tt> draws the dashboards from a run store."));
#endif
    return explanation(parent, QObject::tr("Live dashboards are not part of this build"),
                       QObject::tr("The dashboards (expert load over time, routing maps, entropy, collapse detectors) are "
                                   "drawn by the <i>viz</i> module with Dear ImGui on Vulkan. This copy of MoE Studio was "
                                   "built without it, so nothing is shown here.<br><br>While training, the canvas still tints "
                                   "every expert tile by its load, and the Messages panel lists collapse alerts."));
}

QWidget* makeClusterPlannerWidget(ProjectDocument* doc, QWidget* parent, ClusterPlanner** planner) {
    *planner = nullptr;
#ifdef MOE_STUDIO_CLUSTER_BUILT
    auto* p = new ClusterPlanner(doc, parent);
    *planner = p;
    return p;
#else
    (void)doc;
    return explanation(parent, QObject::tr("The cluster planner is not part of this build"),
                       QObject::tr("Planning a deployment (cluster from the catalog, GPU count, parallel degrees, expert "
                                   "placement) needs the <i>cluster</i> simulator module. This copy of MoE Studio was built "
                                   "without it, so no step-time figures are shown: none would be real."));
#endif
}

}  // namespace moe::studio
