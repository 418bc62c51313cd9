// The planner's controls, its document edits and the asynchronous simulation. The results part
// (figures, hot links, per-layer table) is in cluster_planner_results.cpp.
#ifdef MOE_STUDIO_CLUSTER_BUILT
#include "cluster_planner.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDateTime>
#include <QDir>
#include <QDoubleSpinBox>
#include <QEvent>
#include <QFileInfo>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QScrollArea>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QTabWidget>
#include <QTableWidget>
#include <QVBoxLayout>

#include <algorithm>

#include "cluster_planner_internal.h"
#include "document.h"
#include "moe/cluster/simulate.h"
#include "placement_view.h"
#include "theme.h"

namespace moe::studio {
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

QSpinBox* intSpin(QWidget* parent, const char* name, int lo, int hi, const QString& tip) {
    auto* s = new QSpinBox(parent);
    s->setObjectName(QString::fromLatin1(name));
    s->setRange(lo, hi);
    s->setKeyboardTracking(false);  // one edit when the number is complete, not one per digit
    s->setToolTip(tip);
    s->setAccelerated(true);
    return s;
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
    // A running simulation posts back to this object: let it finish before the object goes.
    m_pool.clear();
    m_pool.waitForDone();
}

void ClusterPlanner::buildUi() {
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(0, 0, 0, 0);
    auto* scroll = new QScrollArea(this);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    outer->addWidget(scroll);
    auto* page = new QWidget(scroll);
    scroll->setWidget(page);
    auto* v = new QVBoxLayout(page);
    v->setContentsMargins(8, 8, 8, 8);
    v->setSpacing(8);

    // ---- deployment controls -------------------------------------------------------------------
    auto* depBox = new QGroupBox(tr("Deployment"), page);
    auto* g = new QGridLayout(depBox);
    g->setHorizontalSpacing(8);
    g->setVerticalSpacing(4);
    auto label = [&](const QString& t, int row, int col) {
        auto* l = new QLabel(t, depBox);
        g->addWidget(l, row, col, Qt::AlignRight | Qt::AlignVCenter);
        return l;
    };
    m_cluster = new QComboBox(depBox);
    m_cluster->setObjectName(QStringLiteral("cluster"));
    m_cluster->setToolTip(tr("deployment.cluster: a cluster of the hardware catalog"));
    m_cluster->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    m_cluster->setMinimumContentsLength(10);
    if (m_catalog)
        for (const auto& c : m_catalog->clusters()) {
            QString tip = QString::fromStdString(c.system);
            if (const auto* sys = m_catalog->system(c.system)) tip = QString::fromStdString(sys->display);
            m_cluster->addItem(QString::fromStdString(c.name), QString::fromStdString(c.name));
            m_cluster->setItemData(m_cluster->count() - 1, tip + QStringLiteral(" · ") + QString::fromStdString(c.topology), Qt::ToolTipRole);
        }
    label(tr("Cluster"), 0, 0);
    g->addWidget(m_cluster, 0, 1, 1, 3);
    m_gpus = intSpin(depBox, "gpus", 1, 1 << 20, tr("deployment.gpus: GPUs in the deployment"));
    label(tr("GPUs"), 1, 0);
    g->addWidget(m_gpus, 1, 1);
    m_ep = intSpin(depBox, "ep", 1, 1 << 20, tr("deployment.parallel.ep: expert-parallel degree (GPU groups the experts are spread over)"));
    m_dp = intSpin(depBox, "dp", 1, 1 << 20, tr("deployment.parallel.dp: data-parallel copies of the expert-parallel group"));
    m_tp = intSpin(depBox, "tp", 1, 1024, tr("deployment.parallel.tp: tensor-parallel degree inside a node"));
    label(tr("EP"), 1, 2);
    g->addWidget(m_ep, 1, 3);
    label(tr("DP"), 2, 0);
    g->addWidget(m_dp, 2, 1);
    label(tr("TP"), 2, 2);
    g->addWidget(m_tp, 2, 3);
    m_tokens = intSpin(depBox, "tokensPerGpu", 1, 1 << 30, tr("deployment.tokens_per_gpu: tokens each GPU routes per step"));
    m_tokens->setSingleStep(512);
    label(tr("Tokens/GPU"), 3, 0);
    g->addWidget(m_tokens, 3, 1);
    m_capacity = new QDoubleSpinBox(depBox);
    m_capacity->setObjectName(QStringLiteral("capacityFactor"));
    m_capacity->setRange(0, 64);
    m_capacity->setDecimals(2);
    m_capacity->setSingleStep(0.25);
    m_capacity->setSpecialValueText(tr("dropless"));
    m_capacity->setKeyboardTracking(false);
    m_capacity->setToolTip(tr("deployment.capacity_factor: each expert keeps at most cf x its even share; 0 = dropless"));
    label(tr("Capacity"), 3, 2);
    g->addWidget(m_capacity, 3, 3);
    m_dtype = new QComboBox(depBox);
    m_dtype->setObjectName(QStringLiteral("dispatchDtype"));
    for (const char* t : {"fp32", "bf16", "fp16", "fp8"}) m_dtype->addItem(QString::fromLatin1(t), QString::fromLatin1(t));
    m_dtype->setToolTip(tr("deployment.dispatch_dtype: payload of the all-to-all (fp8 halves it)"));
    label(tr("Dispatch"), 4, 0);
    g->addWidget(m_dtype, 4, 1);
    m_routing = new QComboBox(depBox);
    m_routing->setObjectName(QStringLiteral("routing"));
    m_routing->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    m_routing->setMinimumContentsLength(10);
    m_routing->setToolTip(tr("deployment.routing: which expert loads to price: even, zipf-skewed, or recorded by a run of this project"));
    m_zipf = new QDoubleSpinBox(depBox);
    m_zipf->setObjectName(QStringLiteral("zipfS"));
    m_zipf->setRange(0.05, 4.0);
    m_zipf->setSingleStep(0.1);
    m_zipf->setDecimals(2);
    m_zipf->setValue(1.2);
    m_zipf->setPrefix(QStringLiteral("s = "));
    m_zipf->setKeyboardTracking(false);
    m_zipf->setToolTip(tr("zipf exponent: the expert of popularity rank i gets (i+1)^-s of the tokens"));
    label(tr("Routing"), 5, 0);
    g->addWidget(m_routing, 5, 1, 1, 2);
    g->addWidget(m_zipf, 5, 3);
    m_dedup = new QCheckBox(tr("dedup tokens"), depBox);
    m_dedup->setObjectName(QStringLiteral("dedup"));
    m_dedup->setToolTip(tr("deployment.dedup_tokens: send a token once per destination GPU even when several of its experts are there"));
    m_mode = new QComboBox(depBox);
    m_mode->setObjectName(QStringLiteral("mode"));
    m_mode->addItem(tr("training step"), true);
    m_mode->addItem(tr("forward only"), false);
    m_mode->setToolTip(tr("What to simulate (not saved in the project; the CLI's --forward)"));
    m_micro = new QComboBox(depBox);
    m_micro->setObjectName(QStringLiteral("microBatches"));
    m_micro->addItem(tr("1 micro-batch"), 1);
    m_micro->addItem(tr("2 micro-batches"), 2);
    m_micro->setToolTip(tr("2: the second half's dispatch overlaps the first half's experts (not saved; the CLI's --micro-batches)"));
    g->addWidget(m_dedup, 4, 2, 1, 2);
    label(tr("Simulate"), 6, 0);
    g->addWidget(m_mode, 6, 1);
    g->addWidget(m_micro, 6, 2, 1, 2);
    for (int c : {1, 3}) g->setColumnStretch(c, 1);
    v->addWidget(depBox);

    m_derivedNote = new QLabel(page);
    m_derivedNote->setObjectName(QStringLiteral("derivedNote"));
    m_derivedNote->setWordWrap(true);
    v->addWidget(m_derivedNote);
    m_error = new QLabel(page);
    m_error->setObjectName(QStringLiteral("plannerError"));
    m_error->setWordWrap(true);
    m_error->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_error->hide();
    v->addWidget(m_error);

    // ---- results: step figures, placement, per layer -------------------------------------------
    m_status = new QLabel(page);
    m_status->setObjectName(QStringLiteral("simStatus"));
    m_status->setWordWrap(true);
    v->addWidget(m_status);
    m_tabs = new QTabWidget(page);
    m_tabs->setObjectName(QStringLiteral("plannerTabs"));
    m_tabs->setDocumentMode(true);
    m_tabs->setMinimumHeight(250);
    v->addWidget(m_tabs, 1);

    auto* stepPage = new QWidget(m_tabs);
    auto* rv = new QVBoxLayout(stepPage);
    rv->setContentsMargins(4, 6, 4, 4);
    m_figureGrid = new QGridLayout;
    m_figureGrid->setHorizontalSpacing(10);
    m_figureGrid->setVerticalSpacing(3);
    const std::pair<const char*, QString> figures[] = {
        {"step", tr("Step time")},           {"forward", tr("Forward")},
        {"backward", tr("Backward")},        {"gradSync", tr("Gradient sync")},
        {"compute", tr("Compute (mean/GPU)")}, {"exposed", tr("Exposed comm. + wait")},
        {"straggler", tr("Straggler")},      {"memory", tr("Expert weights")},
    };
    int row = 0;
    for (const auto& [key, title] : figures) {
        auto* t = new QLabel(title, stepPage);
        auto* val = new QLabel(QStringLiteral("—"), stepPage);
        val->setObjectName(QString::fromLatin1(key));
        val->setTextInteractionFlags(Qt::TextSelectableByMouse);
        val->setWordWrap(true);
        if (row == 0) {
            QFont f = val->font();
            f.setBold(true);
            val->setFont(f);
            t->setFont(f);
        }
        m_figureGrid->addWidget(t, row, 0, Qt::AlignLeft | Qt::AlignTop);
        m_figureGrid->addWidget(val, row, 1);
        m_figures.emplace_back(QString::fromLatin1(key), val);
        ++row;
    }
    m_figureGrid->setColumnStretch(1, 1);
    rv->addLayout(m_figureGrid);
    auto makeTable = [](QWidget* parent, const char* name, const QStringList& headers) {
        auto* t = new QTableWidget(0, static_cast<int>(headers.size()), parent);
        t->setObjectName(QString::fromLatin1(name));
        t->setHorizontalHeaderLabels(headers);
        t->verticalHeader()->hide();
        t->setEditTriggers(QAbstractItemView::NoEditTriggers);
        t->setSelectionMode(QAbstractItemView::NoSelection);
        t->setAlternatingRowColors(true);
        t->horizontalHeader()->setStretchLastSection(true);
        t->verticalHeader()->setDefaultSectionSize(t->fontMetrics().height() + 4);
        return t;
    };
    auto* linksTitle = new QLabel(tr("Hot links (busiest first)"), stepPage);
    rv->addSpacing(4);
    rv->addWidget(linksTitle);
    m_links = makeTable(stepPage, "hotLinks", {tr("link"), tr("utilisation"), tr("busy"), tr("bytes")});
    m_links->setMinimumHeight(m_links->verticalHeader()->defaultSectionSize() * 3 + m_links->horizontalHeader()->sizeHint().height() + 4);
    rv->addWidget(m_links, 1);
    m_tabs->addTab(stepPage, tr("Step"));

    auto* plPage = new QWidget(m_tabs);
    auto* pv = new QVBoxLayout(plPage);
    pv->setContentsMargins(4, 6, 4, 4);
    auto* plHead = new QHBoxLayout;
    m_placementNote = new QLabel(plPage);
    m_placementNote->setWordWrap(true);
    m_roundRobin = new QPushButton(tr("Round-robin"), plPage);
    m_roundRobin->setObjectName(QStringLiteral("roundRobin"));
    m_roundRobin->setToolTip(tr("Restore the default placement: expert e on EP rank e mod ep"));
    plHead->addWidget(m_placementNote, 1);
    plHead->addWidget(m_roundRobin, 0, Qt::AlignTop);
    pv->addLayout(plHead);
    m_placement = new PlacementView(plPage);
    m_placement->setObjectName(QStringLiteral("placement"));
    auto* plScroll = new QScrollArea(plPage);
    plScroll->setWidgetResizable(true);
    plScroll->setWidget(m_placement);
    plScroll->setMinimumHeight(120);
    plScroll->setFrameShape(QFrame::StyledPanel);
    pv->addWidget(plScroll, 1);
    m_tabs->addTab(plPage, tr("Placement"));

    auto* layerPage = new QWidget(m_tabs);
    auto* lv = new QVBoxLayout(layerPage);
    lv->setContentsMargins(4, 6, 4, 4);
    lv->addWidget(new QLabel(tr("Forward pass; dispatch, experts and combine: the slowest GPU"), layerPage));
    m_layers = makeTable(layerPage, "layerTable", {tr("layer"), tr("dispatch"), tr("experts"), tr("combine"), tr("imbalance"), tr("straggler")});
    lv->addWidget(m_layers, 1);
    m_resultNote = new QLabel(layerPage);
    m_resultNote->setWordWrap(true);
    m_resultNote->setForegroundRole(QPalette::PlaceholderText);
    lv->addWidget(m_resultNote);
    m_tabs->addTab(layerPage, tr("Per layer"));

    // ---- edits -----------------------------------------------------------------------------------
    connect(m_cluster, &QComboBox::activated, this, [this](int i) {
        const std::string name = m_cluster->itemData(i).toString().toStdString();
        editDeployment(tr("Set cluster to %1").arg(QString::fromStdString(name)), [name](spec::DeploymentSpec& s) { s.cluster = name; });
    });
    connect(m_gpus, &QSpinBox::valueChanged, this, [this](int n) {
        editDeployment(tr("Set GPUs to %1").arg(n), [n](spec::DeploymentSpec& s) { s.gpus = n; }, QStringLiteral("planner.gpus"));
    });
    auto degree = [this](QSpinBox* box, const char* what, int spec::DeploymentSpec::*field) {
        connect(box, &QSpinBox::valueChanged, this, [this, what, field](int n) {
            const QString name = QString::fromLatin1(what);
            editDeployment(tr("Set %1 to %2").arg(name).arg(n),
                           [field, n, ep = field == &spec::DeploymentSpec::ep](spec::DeploymentSpec& s) {
                               s.*field = n;
                               // An explicit placement lists one set per EP rank: a new degree makes it
                               // meaningless, so the default comes back (the undo step restores both).
                               if (ep && !s.placement.roundRobin && static_cast<int>(s.placement.gpuExperts.size()) != n)
                                   s.placement = spec::PlacementSpec{};
                           },
                           QStringLiteral("planner.") + name);
        });
    };
    degree(m_ep, "EP", &spec::DeploymentSpec::ep);
    degree(m_dp, "DP", &spec::DeploymentSpec::dp);
    degree(m_tp, "TP", &spec::DeploymentSpec::tp);
    connect(m_tokens, &QSpinBox::valueChanged, this, [this](int n) {
        editDeployment(tr("Set tokens per GPU to %1").arg(n), [n](spec::DeploymentSpec& s) { s.tokensPerGpu = n; }, QStringLiteral("planner.tokens"));
    });
    connect(m_capacity, &QDoubleSpinBox::valueChanged, this, [this](double cf) {
        editDeployment(cf > 0 ? tr("Set capacity factor to %1").arg(cf) : tr("Make the deployment dropless"),
                       [cf](spec::DeploymentSpec& s) { s.capacityFactor = cf; }, QStringLiteral("planner.capacity"));
    });
    connect(m_dtype, &QComboBox::activated, this, [this](int i) {
        const std::string t = m_dtype->itemData(i).toString().toStdString();
        editDeployment(tr("Set dispatch dtype to %1").arg(QString::fromStdString(t)), [t](spec::DeploymentSpec& s) { s.dispatchDtype = t; });
    });
    connect(m_dedup, &QCheckBox::toggled, this, [this](bool on) {
        editDeployment(on ? tr("Deduplicate dispatched tokens") : tr("Send tokens once per expert"),
                       [on](spec::DeploymentSpec& s) { s.dedupTokens = on; });
    });
    connect(m_routing, &QComboBox::activated, this, [this](int i) {
        const QString kind = m_routing->itemData(i).toString();
        std::string text;
        if (kind == QLatin1String("uniform")) text = "uniform";
        else if (kind == QLatin1String("zipf")) text = "zipf:" + QString::number(m_zipf->value(), 'g', 4).toStdString();
        else if (kind == QLatin1String("latest")) {
            const QString run = latestRun();
            if (run.isEmpty()) return refresh();
            text = routingPathForStore(run).toStdString();
        } else return;
        editDeployment(tr("Set routing to %1").arg(QString::fromStdString(text)), [text](spec::DeploymentSpec& s) { s.routing = text; });
    });
    connect(m_zipf, &QDoubleSpinBox::valueChanged, this, [this](double z) {
        const std::string text = "zipf:" + QString::number(z, 'g', 4).toStdString();
        editDeployment(tr("Set routing to %1").arg(QString::fromStdString(text)), [text](spec::DeploymentSpec& s) { s.routing = text; },
                       QStringLiteral("planner.zipf"));
    });
    connect(m_mode, &QComboBox::activated, this, [this] { setSimulationMode(training(), microBatches()); });
    connect(m_micro, &QComboBox::activated, this, [this] { setSimulationMode(training(), microBatches()); });
    connect(m_roundRobin, &QPushButton::clicked, this, &ClusterPlanner::roundRobin);
    connect(m_placement, &PlacementView::expertMoveRequested, this, &ClusterPlanner::moveExpert);
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
    // Only the newest request matters: one that has not started yet is replaced.
    m_pool.clear();
    m_pool.start([this, job] {
        auto out = runPlannerJob(*job);
        QMetaObject::invokeMethod(this, [this, out] { onOutcome(out); }, Qt::QueuedConnection);
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
                                : tr(" Drag a chip onto another GPU to move it. Colour: load against an even split (blue colder, red "
                                     "hotter); the straggler GPU has a red frame.");
    m_placementNote->setText(note);
    m_placement->setEditable(m_deployment != nullptr);
    m_placement->setModel(std::move(m));
}

}  // namespace moe::studio
#endif  // MOE_STUDIO_CLUSTER_BUILT
