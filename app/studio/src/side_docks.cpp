#include "side_docks.h"

#include <QLabel>
#include <QVBoxLayout>
#include <QWidget>

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

QWidget* makeDashboardsWidget(QWidget* parent) {
    // The viz module is wired here once it is part of the build (MOE_HAS_VIZ).
    return explanation(parent, QObject::tr("Live dashboards are not part of this build"),
                       QObject::tr("The dashboards (expert load over time, routing maps, entropy, collapse detectors) are "
                                   "drawn by the <i>viz</i> module with Dear ImGui on Vulkan. This copy of MoE Studio was "
                                   "built without it, so nothing is shown here.<br><br>While training, the canvas still tints "
                                   "every expert tile by its load, and the Messages panel lists collapse alerts."));
}

QWidget* makeClusterPlannerWidget(ProjectDocument*, QWidget* parent) {
    // The cluster simulator is wired here once it is part of the build (MOE_HAS_CLUSTER).
    return explanation(parent, QObject::tr("The cluster planner is not part of this build"),
                       QObject::tr("Planning a deployment (cluster from the catalog, GPU count, parallel degrees, expert "
                                   "placement) needs the <i>cluster</i> simulator module. This copy of MoE Studio was built "
                                   "without it, so no step-time figures are shown: none would be real."));
}

}  // namespace moe::studio
