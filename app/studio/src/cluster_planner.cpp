// The planner's document edits and the asynchronous simulation. Its widgets are built in
// cluster_planner_ui.cpp; the worker job and the results (figures, hot links, per-layer table) are
// in cluster_planner_results.cpp.
#ifdef MOE_STUDIO_CLUSTER_BUILT
#include "cluster_planner.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QEvent>
#include <QFileInfo>
#include <QLabel>
#include <QPushButton>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QTabWidget>

#include <algorithm>

#include "cluster_planner_internal.h"
#include "document.h"
#include "moe/cluster/simulate.h"
#include "moe/spec/handover.h"
#include "placement_view.h"
#include "theme.h"

namespace moe::studio {

// The longest simulation the planner runs; longer ones are refused with their estimate.
constexpr double kMaxSimulationSeconds = 60;
namespace cl = moe::cluster;
namespace spec = moe::spec;

namespace {

constexpr int kDebounceMs = 150;

QString joinDiagnostics(const spec::Diagnostics& ds) {
    QStringList lines;
    for (const auto& d : ds) lines << QString::fromStdString(d.path.empty() ? d.message : d.path + ": " + d.message);
    return lines.join(QLatin1Char('\n'));
}

template <class Spin>
void setQuietly(Spin* s, decltype(s->value()) v) {
    if (s->value() == v) return;
    const QSignalBlocker b(s);
    s->setValue(v);
}

}  // namespace

ClusterPlanner::ClusterPlanner(ProjectDocument* doc, QWidget* parent) : QWidget(parent), m_doc(doc) {
    setObjectName(QStringLiteral("clusterPlanner"));
    m_pool.setMaxThreadCount(1);
    auto cat = cl::Catalog::loadDefault();
    if (cat) m_catalog = std::make_shared<const cl::Catalog>(std::move(cat.value()));
    else m_catalogError = QString::fromStdString(cat.message());
    buildUi();
    m_debounce.setSingleShot(true);
    m_debounce.setInterval(kDebounceMs);
    connect(&m_debounce, &QTimer::timeout, this, &ClusterPlanner::startSimulation);
    connect(m_doc, &ProjectDocument::changed, this, &ClusterPlanner::refresh);
    connect(m_doc, &ProjectDocument::reset, this, &ClusterPlanner::refresh);
    connect(m_doc, &ProjectDocument::fileChanged, this, &ClusterPlanner::refresh);
    applyTheme();
    refresh();
}

ClusterPlanner::~ClusterPlanner() {
    // A running simulation posts back to this object: stop it at its next layer and wait for it
    // before the object goes.
    if (m_cancelRunning) *m_cancelRunning = true;
    m_pool.clear();
    m_pool.waitForDone();
}

QStringList ClusterPlanner::clusterNames() const {
    QStringList out;
    for (int i = 0; i < m_cluster->count(); ++i) out << m_cluster->itemData(i).toString();
    return out;
}

QString ClusterPlanner::errorText() const { return m_error->isHidden() ? QString() : m_error->text(); }
bool ClusterPlanner::derived() const { return !m_doc->project().deployment.has_value(); }
bool ClusterPlanner::training() const { return m_mode->currentData().toBool(); }
int ClusterPlanner::microBatches() const { return m_micro->currentData().toInt(); }

QString ClusterPlanner::figure(const QString& name) const {
    for (const auto& [key, label] : m_figures)
        if (key == name) return label->text();
    return {};
}

void ClusterPlanner::setRunDir(const QString& dir) {
    m_runDir = dir;
    refresh();
}

QString ClusterPlanner::latestRun() const {
    if (m_runDir.isEmpty()) return {};
    const auto files = QDir(m_runDir).entryInfoList({QStringLiteral("*.sqlite")}, QDir::Files, QDir::Time);
    return files.isEmpty() ? QString() : files.front().absoluteFilePath();
}

QString ClusterPlanner::projectDir() const {
    const QString path = m_doc->filePath();
    return path.isEmpty() ? QDir::currentPath() : QFileInfo(path).absolutePath();
}

QString ClusterPlanner::routingPathForStore(const QString& absolutePath) const {
    // Relative to the project file, as the CLI reads it, when the run lives beside the project.
    const QString rel = QDir(projectDir()).relativeFilePath(absolutePath);
    return rel.startsWith(QLatin1String("..")) || m_doc->filePath().isEmpty() ? absolutePath : rel;
}

void ClusterPlanner::setSimulationMode(bool trainingStep, int micro) {
    {
        const QSignalBlocker b1(m_mode), b2(m_micro);
        m_mode->setCurrentIndex(trainingStep ? 0 : 1);
        m_micro->setCurrentIndex(micro == 2 ? 1 : 0);
    }
    refresh();
}

void ClusterPlanner::editDeployment(const QString& text, const std::function<void(spec::DeploymentSpec&)>& change, const QString& mergeKey) {
    auto cat = m_catalog;
    const QString err = m_doc->edit(
        text,
        [cat, change](spec::Project& p) {
            if (!p.deployment) {
                // The first change writes down what the planner showed as derived.
                spec::DeploymentSpec s;
                if (cat)
                    if (auto d = cl::resolveDeployment(p, *cat)) {
                        s.cluster = d->cluster;
                        s.gpus = d->gpus;
                        s.ep = d->ep;
                        s.dp = d->dp;
                        s.tp = d->tp;
                    }
                p.deployment = s;
            }
            change(*p.deployment);
        },
        mergeKey);
    if (!err.isEmpty()) {
        refresh();  // put the controls back to what the project holds
        showError(err);
    }
}

void ClusterPlanner::moveExpert(int expert, int toEpRank) {
    if (!m_deployment) {
        showError(tr("Experts can be moved once the deployment is valid; fix the message above first."));
        return;
    }
    auto pl = m_deployment->placement;
    const int ep = static_cast<int>(pl.size());
    if (toEpRank < 0 || toEpRank >= ep) {
        showError(tr("There is no EP rank %1; ranks are 0 to %2.").arg(toEpRank).arg(ep - 1));
        return;
    }
    int from = -1;
    for (int r = 0; r < ep && from < 0; ++r)
        if (std::find(pl[static_cast<size_t>(r)].begin(), pl[static_cast<size_t>(r)].end(), expert) != pl[static_cast<size_t>(r)].end()) from = r;
    if (from < 0) {
        showError(tr("There is no expert %1; experts are 0 to %2.").arg(expert).arg(m_deployment->experts - 1));
        return;
    }
    if (from == toEpRank) return;
    auto& src = pl[static_cast<size_t>(from)];
    auto& dst = pl[static_cast<size_t>(toEpRank)];
    QString text;
    src.erase(std::find(src.begin(), src.end(), expert));
    if (src.empty()) {
        // Every rank must host an expert: moving a rank's only expert swaps it with one of the target's.
        const int other = dst.front();
        dst.erase(dst.begin());
        src.push_back(other);
        text = tr("Swap expert %1 (GPU rank %2) with expert %3 (rank %4)").arg(expert).arg(from).arg(other).arg(toEpRank);
    } else text = tr("Move expert %1 from EP rank %2 to %3").arg(expert).arg(from).arg(toEpRank);
    dst.push_back(expert);
    std::sort(src.begin(), src.end());
    std::sort(dst.begin(), dst.end());
    editDeployment(text, [pl](spec::DeploymentSpec& s) {
        s.placement.roundRobin = false;
        s.placement.gpuExperts = pl;
    });
}

void ClusterPlanner::roundRobin() {
    const auto& d = m_doc->project().deployment;
    if (d && d->placement.roundRobin) return;
    if (!d) return;  // derived deployments are round-robin already
    editDeployment(tr("Round-robin expert placement"), [](spec::DeploymentSpec& s) { s.placement = spec::PlacementSpec{}; });
}

void ClusterPlanner::showTab(int index) { m_tabs->setCurrentIndex(index); }

void ClusterPlanner::showError(const QString& text) {
    m_error->setText(text);
    m_error->setVisible(!text.isEmpty());
}

void ClusterPlanner::changeEvent(QEvent* e) {
    QWidget::changeEvent(e);
    if (e->type() == QEvent::PaletteChange || e->type() == QEvent::FontChange) applyTheme();
}

void ClusterPlanner::applyTheme() {
    if (!m_error) return;
    const QColor bad = canvasColors().cardInvalid;
    m_error->setStyleSheet(QStringLiteral("QLabel { color: %1; border: 1px solid %1; border-radius: 4px; padding: 6px; }").arg(bad.name()));
    m_derivedNote->setStyleSheet(QStringLiteral("QLabel { background: palette(alternate-base); border-radius: 4px; padding: 6px; }"));
    m_placement->update();
}

void ClusterPlanner::fillRouting(const spec::DeploymentSpec& s) {
    const QSignalBlocker b(m_routing), bz(m_zipf);
    m_routing->clear();
    m_routing->addItem(tr("uniform (even split)"), QStringLiteral("uniform"));
    m_routing->addItem(tr("zipf (skewed)"), QStringLiteral("zipf"));
    const QString latest = latestRun();
    if (!latest.isEmpty()) {
        m_routing->addItem(tr("latest run: %1").arg(QFileInfo(latest).completeBaseName()), QStringLiteral("latest"));
        m_routing->setItemData(m_routing->count() - 1, latest, Qt::ToolTipRole);
    }
    const QString text = QString::fromStdString(s.routing);
    if (text == QLatin1String("uniform")) m_routing->setCurrentIndex(0);
    else if (text.startsWith(QLatin1String("zipf:"))) {
        m_routing->setCurrentIndex(1);
        bool ok = false;
        const double z = text.mid(5).toDouble(&ok);
        if (ok) setQuietly(m_zipf, z);
    } else {
        const QString abs = QFileInfo(text).isAbsolute() ? text : QDir(projectDir()).absoluteFilePath(text);
        if (!latest.isEmpty() && QFileInfo(abs) == QFileInfo(latest)) m_routing->setCurrentIndex(2);
        else {
            m_routing->addItem(tr("recorded: %1").arg(QFileInfo(text).fileName()), QStringLiteral("recorded"));
            m_routing->setItemData(m_routing->count() - 1, text, Qt::ToolTipRole);
            m_routing->setCurrentIndex(m_routing->count() - 1);
        }
    }
    m_zipf->setEnabled(m_routing->currentData().toString() == QLatin1String("zipf"));
}

void ClusterPlanner::refresh() {
    if (!m_catalog) {
        showError(tr("The hardware catalog could not be loaded, so nothing can be simulated:\n%1").arg(m_catalogError));
        clearResults(tr("No catalog, no figures."));
        return;
    }
    const spec::Project& p = m_doc->project();
    auto d = cl::resolveDeployment(p, *m_catalog);
    // What the controls show: the project's section, or what the resolver derived.
    spec::DeploymentSpec s = p.deployment.value_or(spec::DeploymentSpec{});
    if (!p.deployment && d) {
        s.cluster = d->cluster;
        s.gpus = d->gpus;
        s.ep = d->ep;
        s.dp = d->dp;
        s.tp = d->tp;
    }
    {
        const QSignalBlocker b(m_cluster), bd(m_dtype), bc(m_dedup);
        const int ci = m_cluster->findData(QString::fromStdString(s.cluster));
        m_cluster->setCurrentIndex(ci);
        m_dtype->setCurrentIndex(m_dtype->findData(QString::fromStdString(s.dispatchDtype)));
        m_dedup->setChecked(s.dedupTokens);
    }
    setQuietly(m_gpus, s.gpus);
    setQuietly(m_ep, s.ep);
    setQuietly(m_dp, s.dp);
    setQuietly(m_tp, s.tp);
    setQuietly(m_tokens, s.tokensPerGpu);
    setQuietly(m_capacity, s.capacityFactor);
    fillRouting(s);

    if (!p.deployment) {
        const QString text = tr("<b>Derived deployment.</b> This project has no deployment section, so the planner shows what "
                                "the simulator derives from the model spec (hover for details). The first change you make here "
                                "writes it into the project.");
        QStringList notes;
        if (d)
            for (const auto& n : d->notes) notes << QString::fromStdString(n);
        m_derivedNote->setToolTip(notes.join(QLatin1Char('\n')));
        m_derivedNote->setText(text);
        m_derivedNote->show();
    } else m_derivedNote->hide();

    if (!d) {
        m_deployment.reset();
        showError(joinDiagnostics(d.errors()));
        updatePlacement();
        // A request that was about to start or is running is for an older setting: drop it.
        ++m_generation;
        if (m_cancelRunning) *m_cancelRunning = true;
        m_debounce.stop();
        m_requestKey.clear();
        clearResults(tr("No figures: the deployment is not valid (see the message above)."));
        return;
    }
    showError({});
    m_deployment = std::make_unique<cl::Deployment>(std::move(d.value()));
    if (m_deployment->routing.kind == cl::RoutingKind::Recorded && !QFileInfo(QString::fromStdString(m_deployment->routing.path)).isAbsolute())
        m_deployment->routing.path = QDir(projectDir()).absoluteFilePath(QString::fromStdString(m_deployment->routing.path)).toStdString();
    if (const auto* sys = m_catalog->system(m_catalog->cluster(m_deployment->cluster) ? m_catalog->cluster(m_deployment->cluster)->system : ""))
        m_gpusPerNode = sys->gpusPerNode;
    updatePlacement();
    schedule();
}

void ClusterPlanner::schedule() {
    const QString key = plannerRequestKey(*m_deployment, training(), microBatches());
    if (key == m_requestKey) return;  // already simulated or on its way
    m_requestKey = key;
    ++m_generation;
    m_running = true;
    m_status->setText(tr("simulating…"));
    m_debounce.start();
}

void ClusterPlanner::startSimulation() {
    if (!m_deployment || !m_catalog) return;
    auto job = std::make_shared<PlannerJob>();
    job->generation = m_generation;
    job->key = m_requestKey;
    job->deployment = *m_deployment;
    job->catalog = m_catalog;
    job->options.training = training();
    job->options.microBatches = microBatches();
    // A simulation that would run for minutes is refused with its estimate (the CLI can run it).
    job->options.maxSeconds = kMaxSimulationSeconds;
    job->options.maxSecondsWhere = "the Cluster planner (moe simulate --max-seconds runs longer ones)";
    // Only the newest request matters: one that has not started yet is replaced, and one that is
    // running is stopped at its next layer.
    if (m_cancelRunning) *m_cancelRunning = true;
    m_cancelRunning = job->cancel = std::make_shared<std::atomic<bool>>(false);
    job->options.cancel = job->cancel.get();
    m_pool.clear();
    // The planner's own pool (one thread, waited for when the planner goes), not inBackground's.
    spec::handOver();
    m_pool.start([this, job] {
        spec::takeOver();
        auto out = runPlannerJob(*job);
        spec::handOver();
        QMetaObject::invokeMethod(this, [this, out] {
            spec::takeOver();
            onOutcome(out);
        }, Qt::QueuedConnection);
    });
}

void ClusterPlanner::onOutcome(const std::shared_ptr<PlannerOutcome>& o) {
    if (o->generation != m_generation) return;  // a newer request was made meanwhile
    m_running = false;
    if (!o->error.isEmpty()) {
        m_result.reset();
        m_loads.clear();
        m_resultKey.clear();
        // The request stays recorded: the same settings would fail the same way.
        showError(o->error);
        clearResults(tr("No figures: the simulator could not price this deployment (see the message above)."));
        updatePlacement();
        Q_EMIT simulated(false);
        return;
    }
    m_result = o->result;
    m_loads = o->loads;
    m_routingNote = o->routingNote;
    m_resultKey = o->key;
    showResult();
    updatePlacement();
    Q_EMIT simulated(true);
}

void ClusterPlanner::updatePlacement() {
    PlacementModel m;
    const auto& dep = m_doc->project().deployment;
    if (m_deployment) {
        m.placement = m_deployment->placement;
        m.experts = m_deployment->experts;
        m.tp = m_deployment->tp;
        m.gpusPerNode = m_gpusPerNode;
        // Tint only with loads of this very deployment's shape.
        if (m_result && !m_loads.empty() && static_cast<int>(m_loads.front().size()) == m.experts) {
            m.layers = static_cast<int>(m_loads.size());
            m.meanLoad.assign(static_cast<size_t>(m.experts), 0.0);
            m.maxLoad.assign(static_cast<size_t>(m.experts), 0.0);
            for (const auto& layer : m_loads)
                for (int e = 0; e < m.experts; ++e) {
                    m.meanLoad[static_cast<size_t>(e)] += layer[static_cast<size_t>(e)] / static_cast<double>(m_loads.size());
                    m.maxLoad[static_cast<size_t>(e)] = std::max(m.maxLoad[static_cast<size_t>(e)], layer[static_cast<size_t>(e)]);
                }
            m.routing = m_routingNote;
            const bool current = m_resultKey == m_requestKey;
            if (current && m_result->stragglerRank >= 0 && m_result->stragglerRank < static_cast<int>(m_result->ranks.size()))
                m.stragglerEpRank = m_result->ranks[static_cast<size_t>(m_result->stragglerRank)].epRank;
        }
    }
    const bool explicitPl = dep && !dep->placement.roundRobin;
    m_roundRobin->setEnabled(explicitPl);
    QString note = explicitPl ? tr("Explicit placement.") : tr("Round-robin placement (expert e on EP rank e mod ep).");
    note += m.placement.empty() ? tr(" Shown once the deployment is valid.")
                                : tr(" Drag a chip onto another GPU to move it. Colour, as on the canvas: load against an even split "
                                     "(blue at half or less, red at twice or more); the straggler GPU has a red frame.");
    m_placementNote->setText(note);
    m_placement->setEditable(m_deployment != nullptr);
    m_placement->setModel(std::move(m));
}

}  // namespace moe::studio
#endif  // MOE_STUDIO_CLUSTER_BUILT
