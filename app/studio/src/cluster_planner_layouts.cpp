#include "cluster_planner_layouts.h"

#ifdef MOE_STUDIO_CLUSTER_BUILT

#include <QDir>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QSpinBox>
#include <QTableWidget>
#include <QVBoxLayout>

#include "background.h"
#include "document.h"
#include "moe/cluster/plan.h"
#include "moe/spec/limits.h"

namespace moe::studio {
namespace {

namespace cl = moe::cluster;
namespace spec = moe::spec;

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

QString gib(double bytes) { return QString::number(bytes / kGiB, 'f', 1); }
QString ms(double us) { return QString::number(us / 1000.0, 'f', us < 10000 ? 2 : 0); }

// A run store named in the project is relative to the project file (as `moe plan` reads it).
spec::Project withAbsoluteRouting(spec::Project p, const QString& projectFile) {
    if (!p.deployment || projectFile.isEmpty()) return p;
    QString r = QString::fromStdString(p.deployment->routing);
    const bool store = r.endsWith(QLatin1String(".sqlite")) || r.endsWith(QLatin1String(".sqlite3")) || r.endsWith(QLatin1String(".db"));
    if (store && QFileInfo(r).isRelative()) p.deployment->routing = QFileInfo(projectFile).dir().filePath(r).toStdString();
    return p;
}

QString memoryText(const cl::MemoryBreakdown& m) {
    QString t = QObject::tr("%1 of %2 GiB per GPU: %3\n"
                            "weights %4, gradients %5, optimizer %6, activations %7 GiB (%8 micro-batches in flight)")
                    .arg(gib(m.total), gib(m.capacity), m.fits ? QObject::tr("fits") : QObject::tr("does NOT fit"), gib(m.weights),
                         gib(m.gradients), gib(m.optimizer), gib(m.activations))
                    .arg(m.inFlight, 0, 'f', 2);
    if (m.gathered > 0) t += QObject::tr(", ZeRO-3 gathered weights %1 GiB").arg(gib(m.gathered));
    t += QObject::tr("; pipeline rank %1").arg(m.stage);
    return t;
}

QString stepText(const cl::StepBreakdown& s) {
    QString t = QObject::tr("step %1 ms: %2 tokens/s per GPU, %3 model TFLOP/s per GPU, MFU %4%; exposed: %5\n")
                    .arg(ms(s.stepUs))
                    .arg(s.tokensPerGpuPerSec, 0, 'f', 0)
                    .arg(s.modelTflopsPerGpu, 0, 'f', 0)
                    .arg(100 * s.mfu, 0, 'f', 1)
                    .arg(QString::fromStdString(s.mostExposed()));
    QStringList parts;
    for (const auto& [name, us] : s.parts())
        if (us > 0) parts << QStringLiteral("%1 %2").arg(QString::fromStdString(name), ms(us));
    return t + parts.join(QStringLiteral(", ")) + QObject::tr(" (ms per step)");
}

QString notesText(const std::vector<std::string>& a, const std::vector<std::string>& b) {
    QStringList l;
    for (const auto* v : {&a, &b})
        for (const auto& n : *v) l << QStringLiteral("• ") + QString::fromStdString(n);
    return l.join(QLatin1Char('\n'));
}

QString errorsText(const spec::Diagnostics& errs) {
    QStringList l;
    for (const auto& e : errs) l << QString::fromStdString(e.format());
    return l.join(QLatin1Char('\n'));
}

}  // namespace

LayoutPlanPanel::LayoutPlanPanel(ProjectDocument* doc, std::shared_ptr<const cl::Catalog> catalog, QWidget* parent)
    : QWidget(parent), m_doc(doc), m_catalog(std::move(catalog)) {
    auto* v = new QVBoxLayout(this);
    v->setContentsMargins(4, 6, 4, 4);
    m_current = new QLabel(this);
    m_current->setObjectName(QStringLiteral("layoutCurrent"));
    m_current->setWordWrap(true);
    m_current->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_current->setToolTip(tr("The deployment's own layout priced on its cluster: memory per GPU of the pipeline rank that needs the most "
                             "(weights, gradients, Adam states, activations of the in-flight micro-batches) against its HBM, and the step "
                             "time of the whole model (embedding, attention, dense and MoE layers, head, optimizer, every parallelism's "
                             "communication), with the simulator's notes on what it does not model."));
    v->addWidget(m_current);
    m_error = new QLabel(this);
    m_error->setObjectName(QStringLiteral("layoutError"));
    m_error->setWordWrap(true);
    m_error->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_error->setToolTip(tr("What is wrong with the deployment's layout, naming the field and what would be valid (the same messages as `moe cost`)"));
    m_error->hide();
    v->addWidget(m_error);

    auto* row = new QHBoxLayout;
    row->addWidget(new QLabel(tr("Plan for"), this));
    m_gpus = new QSpinBox(this);
    m_gpus->setObjectName(QStringLiteral("planGpus"));
    m_gpus->setRange(moe::spec::limits::kGpus.lo, moe::spec::limits::kGpus.hi);
    m_gpus->setSuffix(tr(" GPUs"));
    m_gpus->setToolTip(tr("GPUs of the deployment's cluster to plan for (the cluster's size limits it)"));
    row->addWidget(m_gpus);
    m_planButton = new QPushButton(tr("Plan layouts"), this);
    m_planButton->setObjectName(QStringLiteral("planButton"));
    m_planButton->setToolTip(tr("Enumerate TP, CP, PP (and virtual stages), EP, ETP, DP, micro-batch, recomputation and ZeRO stage; drop "
                                "what does not fit; rank by step time (as `moe plan`)"));
    row->addWidget(m_planButton);
    m_apply = new QPushButton(tr("Apply row"), this);
    m_apply->setObjectName(QStringLiteral("applyLayout"));
    m_apply->setToolTip(tr("Write the selected layout into the project's deployment (one undoable edit)"));
    m_apply->setEnabled(false);
    row->addWidget(m_apply);
    row->addStretch(1);
    v->addLayout(row);
    m_status = new QLabel(this);
    m_status->setObjectName(QStringLiteral("planStatus"));
    m_status->setWordWrap(true);
    v->addWidget(m_status);

    m_table = new QTableWidget(0, 9, this);
    m_table->setObjectName(QStringLiteral("layoutTable"));
    m_table->setHorizontalHeaderLabels({tr("#"), tr("layout"), tr("step ms"), tr("tok/s/GPU"), tr("TFLOP/s"), tr("MFU"), tr("GiB/GPU"),
                                        tr("exposed"), tr("why")});
    const QStringList headerTips = {tr("Rank by step time (fastest first)"),
                                    tr("tp: tensor parallel, cp: context parallel, pp: pipeline stages (xN virtual stages; (a..b) uneven first/last "
                                       "stages), ep/etp: expert (tensor) parallel, dp: data parallel, mb: micro-batch, recomputation, ZeRO stage"),
                                    tr("Time of one optimizer step at the plan's global batch"),
                                    tr("Tokens per second per GPU"),
                                    tr("Model FLOP/s per GPU: 3 x forward FLOPs per token (no recomputation) x tokens / step / GPUs"),
                                    tr("Model FLOP/s over the GPU's dense peak for the dtype"),
                                    tr("Memory of the pipeline rank that needs the most"),
                                    tr("The largest part of the step that is not compute"),
                                    tr("What the layout saves against the next row")};
    for (int c = 0; c < headerTips.size(); ++c) m_table->horizontalHeaderItem(c)->setToolTip(headerTips[c]);
    m_table->verticalHeader()->hide();
    m_table->verticalHeader()->setDefaultSectionSize(m_table->fontMetrics().height() + 4);
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_table->horizontalHeader()->setStretchLastSection(true);
    v->addWidget(m_table, 1);
    m_details = new QLabel(this);
    m_details->setObjectName(QStringLiteral("layoutDetails"));
    m_details->setWordWrap(true);
    m_details->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_details->setToolTip(tr("The selected layout: memory breakdown and verdict, step parts and the simulator's notes"));
    v->addWidget(m_details);

    connect(m_planButton, &QPushButton::clicked, this, &LayoutPlanPanel::startPlan);
    connect(m_apply, &QPushButton::clicked, this, [this] { applyRow(m_table->currentRow()); });
    connect(m_table, &QTableWidget::currentCellChanged, this, [this](int r) {
        m_apply->setEnabled(r >= 0);
        showDetails(r);
    });
    m_debounce.setSingleShot(true);
    m_debounce.setInterval(150);
    connect(&m_debounce, &QTimer::timeout, this, &LayoutPlanPanel::refreshCurrent);
    connect(m_doc, &ProjectDocument::changed, this, [this] { m_debounce.start(); });
    connect(m_doc, &ProjectDocument::reset, this, [this] {
        m_plan.reset();
        ++m_generation;
        m_planning = false;
        m_table->setRowCount(0);
        m_details->clear();
        m_status->clear();
        const auto& d = m_doc->project().deployment;
        m_gpus->setValue(d ? d->gpus : spec::DeploymentSpec{}.gpus);
        refreshCurrent();
    });
    const auto& d = m_doc->project().deployment;
    m_gpus->setValue(d ? d->gpus : spec::DeploymentSpec{}.gpus);
    refreshCurrent();
}

QString LayoutPlanPanel::currentText() const { return m_current->text(); }
QString LayoutPlanPanel::errorText() const { return m_error->isHidden() ? QString() : m_error->text(); }

void LayoutPlanPanel::refreshCurrent() {
    if (!m_catalog) return;
    // Pricing one layout is one simulation of an expert-parallel group: quick, but kept off the
    // UI thread like every simulation.
    const spec::Project p = withAbsoluteRouting(m_doc->project(), m_doc->filePath());
    auto cat = m_catalog;
    const quint64 gen = ++m_costGeneration;
    m_current->setText(tr("pricing the deployment's layout…"));
    inBackground(
        this, [p, cat] { return cl::costProjectLayout(p, *cat, cl::PlanOptions{}); },
        [this, gen](const spec::Result<cl::LayoutCost>& cost) {
            if (gen != m_costGeneration) return;  // overtaken by a newer edit
            if (!cost.ok()) {
                m_current->setText(tr("The deployment's layout cannot be priced:"));
                m_error->setText(errorsText(cost.errors()));
                m_error->show();
                return;
            }
            m_error->hide();
            const auto& c = cost.value();
            m_current->setText(tr("Deployment layout %1 on %2 GPUs\n%3\n%4\n%5")
                                   .arg(QString::fromStdString(c.layout.summary()))
                                   .arg(c.layout.gpus)
                                   .arg(memoryText(c.memory), stepText(c.step),
                                        notesText(c.notes, c.memory.notes) + QLatin1Char('\n') + notesText(c.step.notes, {})));
        });
}

void LayoutPlanPanel::startPlan() {
    if (!m_catalog) return;
    const spec::Project p = withAbsoluteRouting(m_doc->project(), m_doc->filePath());
    cl::PlanOptions o;
    o.gpus = m_gpus->value();
    auto cat = m_catalog;
    const quint64 gen = ++m_generation;
    m_planning = true;
    m_planButton->setEnabled(false);
    m_status->setText(tr("planning %1 GPUs…").arg(o.gpus));
    inBackground(
        this, [p, cat, o] { return cl::planLayouts(p, *cat, o); },
        [this, gen](spec::Result<cl::PlanResult>& plan) {
            if (gen != m_generation) return;  // overtaken by a newer request
            m_planning = false;
            m_planButton->setEnabled(true);
            if (!plan.ok()) {
                m_plan.reset();
                m_table->setRowCount(0);
                m_status->setText(tr("Cannot plan:"));
                m_error->setText(errorsText(plan.errors()));
                m_error->show();
                Q_EMIT planned(false);
                return;
            }
            m_error->hide();
            m_plan = std::make_shared<const cl::PlanResult>(std::move(plan.value()));
            showPlan();
            Q_EMIT planned(true);
        });
}

void LayoutPlanPanel::showPlan() {
    const cl::PlanResult& p = *m_plan;
    QStringList notes;
    for (const auto& n : p.notes) notes << QString::fromStdString(n);
    m_status->setText(tr("%1 GPUs of %2, global batch %3 x %4 tokens: %5 layouts divide, %6 fit in memory")
                          .arg(p.gpus)
                          .arg(QString::fromStdString(p.cluster))
                          .arg(p.globalBatch)
                          .arg(p.seqLen)
                          .arg(p.enumerated)
                          .arg(p.fitting) +
                      (notes.isEmpty() ? QString() : QStringLiteral("\n") + notes.join(QLatin1Char('\n'))));
    m_table->setRowCount(static_cast<int>(p.rows.size()));
    for (int r = 0; r < static_cast<int>(p.rows.size()); ++r) {
        const auto& row = p.rows[static_cast<size_t>(r)];
        const auto& s = row.step;
        const QString memTip = memoryText(row.memory);
        const QString stepTip = stepText(s);
        const QStringList cells = {QString::number(r + 1),
                                   QString::fromStdString(row.layout.summary()),
                                   ms(s.stepUs),
                                   QString::number(s.tokensPerGpuPerSec, 'f', 0),
                                   QString::number(s.modelTflopsPerGpu, 'f', 0),
                                   QString::number(100 * s.mfu, 'f', 1) + QLatin1Char('%'),
                                   gib(row.memory.total),
                                   QString::fromStdString(s.mostExposed()),
                                   QString::fromStdString(row.reason)};
        const QStringList tips = {tr("rank %1 of %2 fitting layouts").arg(r + 1).arg(p.fitting),
                                  tr("dp %1, edp %2, %3 micro-batches per step").arg(row.layout.dp).arg(row.layout.edp).arg(row.layout.microBatches),
                                  stepTip,
                                  stepTip,
                                  stepTip,
                                  stepTip,
                                  memTip,
                                  stepTip,
                                  QString::fromStdString(row.reason)};
        for (int c = 0; c < cells.size(); ++c) {
            auto* item = new QTableWidgetItem(cells[c]);
            item->setToolTip(tips[c]);
            if (c != 1 && c < 7) item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
            m_table->setItem(r, c, item);
        }
    }
    m_table->resizeColumnsToContents();
    if (!p.rows.empty()) m_table->selectRow(0);
}

void LayoutPlanPanel::showDetails(int row) {
    if (!m_plan || row < 0 || row >= static_cast<int>(m_plan->rows.size())) {
        m_details->clear();
        return;
    }
    const auto& r = m_plan->rows[static_cast<size_t>(row)];
    m_details->setText(tr("#%1 %2\n%3\n%4\n%5\n%6")
                           .arg(row + 1)
                           .arg(QString::fromStdString(r.layout.summary()), memoryText(r.memory), stepText(r.step), QString::fromStdString(r.reason),
                                notesText(r.memory.notes, r.step.notes)));
}

bool LayoutPlanPanel::applyRow(int row) {
    if (!m_plan || row < 0 || row >= static_cast<int>(m_plan->rows.size())) return false;
    const cl::Layout layout = m_plan->rows[static_cast<size_t>(row)].layout;
    const std::string cluster = m_plan->cluster;
    const QString err = m_doc->edit(tr("Apply layout %1").arg(QString::fromStdString(layout.summary())), [layout, cluster](spec::Project& p) {
        if (!p.deployment) p.deployment = spec::DeploymentSpec{};
        p.deployment->cluster = cluster;
        cl::applyLayout(layout, *p.deployment);
    });
    if (!err.isEmpty()) {
        m_error->setText(err);
        m_error->show();
        return false;
    }
    return true;
}

}  // namespace moe::studio

#endif  // MOE_STUDIO_CLUSTER_BUILT
