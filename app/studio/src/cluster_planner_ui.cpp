// The planner's widgets and how each control turns into a document edit.
#ifdef MOE_STUDIO_CLUSTER_BUILT
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QScrollArea>
#include <QSpinBox>
#include <QTabWidget>
#include <QTableWidget>
#include <QVBoxLayout>

#include "cluster_planner.h"
#include "cluster_planner_layouts.h"
#include "document.h"
#include "moe/cluster/simulate.h"
#include "moe/spec/limits.h"
#include "placement_view.h"

namespace moe::studio {
namespace spec = moe::spec;
namespace L = moe::spec::limits;

namespace {

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
    m_gpus = intSpin(depBox, "gpus", L::kGpus.lo, L::kGpus.hi, tr("deployment.gpus: GPUs in the deployment"));
    label(tr("GPUs"), 1, 0);
    g->addWidget(m_gpus, 1, 1);
    m_ep = intSpin(depBox, "ep", L::kGpus.lo, L::kGpus.hi, tr("deployment.parallel.ep: expert-parallel degree (GPU groups the experts are spread over)"));
    m_dp = intSpin(depBox, "dp", L::kGpus.lo, L::kGpus.hi, tr("deployment.parallel.dp: data-parallel copies of the expert-parallel group"));
    m_tp = intSpin(depBox, "tp", L::kTensorParallel.lo, L::kTensorParallel.hi, tr("deployment.parallel.tp: tensor-parallel degree inside a node"));
    label(tr("EP"), 1, 2);
    g->addWidget(m_ep, 1, 3);
    label(tr("DP"), 2, 0);
    g->addWidget(m_dp, 2, 1);
    label(tr("TP"), 2, 2);
    g->addWidget(m_tp, 2, 3);
    m_tokens = intSpin(depBox, "tokensPerGpu", L::kTokensPerGpu.lo, L::kTokensPerGpu.hi, tr("deployment.tokens_per_gpu: tokens each GPU routes per step"));
    m_tokens->setSingleStep(512);
    label(tr("Tokens/GPU"), 3, 0);
    g->addWidget(m_tokens, 3, 1);
    m_capacity = new QDoubleSpinBox(depBox);
    m_capacity->setObjectName(QStringLiteral("capacityFactor"));
    m_capacity->setRange(L::kDeploymentCapacityFactor.lo, L::kDeploymentCapacityFactor.hi);
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
    struct Figure {
        const char* key;
        QString title, tip;
    };
    const Figure figures[] = {
        {"step", tr("Step time"), tr("One step of the MoE layers (forward, backward, gradient sync) on the simulated expert-parallel group; "
                                     "the Layouts tab prices the whole model")},
        {"forward", tr("Forward"), tr("Router, dispatch, experts and combine of every MoE layer, the slowest GPU setting the pace")},
        {"backward", tr("Backward"), tr("Twice the forward FLOPs, the same all-to-all traffic in reverse")},
        {"gradSync", tr("Gradient sync"), tr("All-reduce of expert and shared-expert gradients over the replicas, not overlapped (an upper bound)")},
        {"compute", tr("Compute (mean/GPU)"), tr("Router, shared-expert, expert and TP time per GPU, mean over the simulated GPUs")},
        {"exposed", tr("Exposed comm. + wait"), tr("Step time the slowest GPU spends not computing: all-to-all not hidden and waiting for others")},
        {"straggler", tr("Straggler"), tr("The GPU whose experts finish last most often (hot experts), or none when balanced within 0.5%")},
        {"memory", tr("Expert weights"), tr("Routed and shared expert weights per GPU only; the Layouts tab has the whole memory per GPU")},
    };
    int row = 0;
    for (const auto& [key, title, tip] : figures) {
        auto* t = new QLabel(title, stepPage);
        auto* val = new QLabel(QStringLiteral("—"), stepPage);
        t->setToolTip(tip);
        val->setToolTip(tip);
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

    // The whole model: memory per GPU, step time and the layout planner.
    m_layouts = new LayoutPlanPanel(m_doc, m_catalog, m_tabs);
    m_layouts->setObjectName(QStringLiteral("layoutPlan"));
    m_tabs->addTab(m_layouts, tr("Layouts"));

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

}  // namespace moe::studio
#endif  // MOE_STUDIO_CLUSTER_BUILT
