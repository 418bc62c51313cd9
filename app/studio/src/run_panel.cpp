#include "run_panel.h"

#include <QApplication>
#include <QChart>
#include <QChartView>
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDir>
#include <QFormLayout>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QFileInfo>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QThread>
#include <QLabel>
#include <QLegendMarker>
#include <QLineSeries>
#include <QProgressBar>
#include <QPushButton>
#include <QSlider>
#include <QSpinBox>
#include <QStyle>
#include <QValueAxis>
#include <QLogValueAxis>
#include <QCheckBox>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <map>

#include <nlohmann/json.hpp>

#include "background.h"
#include "format.h"
#include "theme.h"

namespace moe::studio {

struct CurveSet {
    QLineSeries* loss = nullptr;     // task loss (cross-entropy)
    QLineSeries* balance = nullptr;  // the weighted aux and z losses the optimiser also sees
    QLineSeries* acc = nullptr;
    QLineSeries* testAcc = nullptr;
};

namespace {

QLineSeries* makeSeries(QChart* chart, const QString& name, QColor color, Qt::PenStyle style, QAbstractAxis* x, QAbstractAxis* y) {
    auto* s = new QLineSeries(chart);
    s->setName(name);
    QPen pen(color, 2.2);
    pen.setStyle(style);
    s->setPen(pen);
    chart->addSeries(s);
    s->attachAxis(x);
    s->attachAxis(y);
    return s;
}

QChart* makeChart(const QString& title, QValueAxis** x, QValueAxis** y) {
    auto* c = new QChart;
    c->setTitle(title);
    c->setMargins(QMargins(4, 4, 4, 4));
    c->setBackgroundRoundness(0);
    c->legend()->setAlignment(Qt::AlignBottom);
    c->setAnimationOptions(QChart::NoAnimation);
    *x = new QValueAxis(c);
    (*x)->setLabelFormat(QStringLiteral("%d"));
    *y = new QValueAxis(c);
    c->addAxis(*x, Qt::AlignBottom);
    c->addAxis(*y, Qt::AlignLeft);
    return c;
}

}  // namespace

double niceStep(double range, int maxTicks) {
    if (!(range > 0) || maxTicks < 1) return 1;
    const double raw = range / maxTicks;
    const double p = std::pow(10.0, std::floor(std::log10(raw)));
    for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
        if (m * p >= raw) return std::max(1.0, m * p);
    return std::max(1.0, 10 * p);
}

RunPanel::RunPanel(QWidget* parent) : QWidget(parent), m_live(std::make_unique<CurveSet>()), m_compare(std::make_unique<CurveSet>()) {
    auto* v = new QVBoxLayout(this);
    v->setContentsMargins(8, 6, 8, 6);
    v->setSpacing(6);

    auto* controls = new QHBoxLayout;
    const QStyle* st = style();
    m_train = new QPushButton(st->standardIcon(QStyle::SP_MediaPlay), tr("Train"), this);
    m_pause = new QPushButton(st->standardIcon(QStyle::SP_MediaPause), tr("Pause"), this);
    m_step = new QPushButton(st->standardIcon(QStyle::SP_MediaSkipForward), tr("Step"), this);
    m_step->setToolTip(tr("Train this many more steps, then pause"));
    m_stepCount = new QSpinBox(this);
    m_stepCount->setRange(1, 100000);
    m_stepCount->setValue(10);
    m_stepCount->setSuffix(tr(" steps"));
    m_stop = new QPushButton(st->standardIcon(QStyle::SP_MediaStop), tr("Stop"), this);
    m_train->setObjectName(QStringLiteral("trainButton"));
    updateTrainTip();
    for (auto* b : {m_train, m_pause, m_step, m_stop}) controls->addWidget(b);
    controls->insertWidget(3, m_stepCount);
    m_speed = new QComboBox(this);
    m_speed->setToolTip(tr("How fast to train: slow speeds let you watch the routing change step by step"));
    m_speed->addItem(tr("Full speed"), 0.0);
    for (double v : {100.0, kClassroomSpeed, 20.0, 5.0, 1.0}) m_speed->addItem(tr("%1 steps/s").arg(v), v);
    controls->addWidget(m_speed);
    m_state = new QLabel(this);
    m_state->setObjectName(QStringLiteral("runState"));
    controls->addSpacing(12);
    controls->addWidget(m_state, 1);
    v->addLayout(controls);

    m_progress = new QProgressBar(this);
    m_progress->setRange(0, 1000);
    m_progress->setValue(0);
    m_progress->setTextVisible(true);
    m_progress->setFormat(tr("no run yet"));
    v->addWidget(m_progress);
    m_stats = new QLabel(this);
    m_stats->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_stats->setWordWrap(true);  // a long line wraps rather than widening the window
    v->addWidget(m_stats);
    m_memoryWarning = new QLabel(this);
    m_memoryWarning->setObjectName(QStringLiteral("memoryWarning"));
    m_memoryWarning->setWordWrap(true);
    m_memoryWarning->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_memoryWarning->hide();
    v->addWidget(m_memoryWarning);

    auto* charts = new QHBoxLayout;
    m_lossChart = makeChart(tr("Loss"), &m_lossX, &m_lossY);
    m_accChart = makeChart(tr("Accuracy"), &m_accX, &m_accY);
    m_accY->setRange(0, 1);
    m_accY->setTickCount(6);  // 0, 0.2, ... 1.0: every label exact
    m_accY->setLabelFormat(QStringLiteral("%.1f"));
    m_lossY->setLabelFormat(QStringLiteral("%.3g"));
    m_lossView = new QChartView(m_lossChart, this);
    m_accView = new QChartView(m_accChart, this);
    m_lossView->setObjectName(QStringLiteral("lossChart"));
    m_lossLogY = new QLogValueAxis(m_lossChart);
    m_lossLogY->setBase(10);
    m_lossLogY->setLabelFormat(QStringLiteral("%.3g"));
    m_lossLogY->setMinorTickCount(8);
    m_logLoss = new QCheckBox(tr("Log scale"), this);
    m_logLoss->setObjectName(QStringLiteral("lossLogScale"));
    m_logLoss->setToolTip(tr("Plot the loss on a log scale: late, small improvements stay visible. "
                             "A loss that is zero (an unused balancing loss) cannot be drawn on it and is hidden."));
    auto* lossColumn = new QVBoxLayout;
    lossColumn->setContentsMargins(0, 0, 0, 0);
    lossColumn->addWidget(m_lossView, 1);
    lossColumn->addWidget(m_logLoss, 0, Qt::AlignLeft);
    charts->addLayout(lossColumn, 1);
    charts->addWidget(m_accView, 1);
    for (auto* cv : {m_lossView, m_accView}) {
        cv->setRenderHint(QPainter::Antialiasing);
        cv->setMinimumHeight(200);
    }
    v->addLayout(charts, 1);

    m_history = new QWidget(this);
    auto* hist = new QGridLayout(m_history);
    hist->setContentsMargins(0, 0, 0, 0);
    // Three short rows rather than one long one: the Run dock must fit beside the messages at
    // 1280 pixels.
    hist->addWidget(new QLabel(tr("Past run:"), m_history), 0, 0);
    m_runs = new QComboBox(this);
    m_runs->setObjectName(QStringLiteral("pastRuns"));
    m_runs->setMinimumContentsLength(16);
    m_runs->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    hist->addWidget(m_runs, 0, 1, 1, 2);
    m_label = new QPushButton(tr("Name && notes…"), this);
    m_label->setToolTip(tr("Give the opened run a name and notes; they are kept in its run store"));
    m_label->setEnabled(false);
    hist->addWidget(m_label, 0, 3);
    hist->addWidget(new QLabel(tr("Compare with:"), m_history), 1, 0);
    m_compareRuns = new QComboBox(this);
    m_compareRuns->setMinimumContentsLength(16);
    m_compareRuns->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    hist->addWidget(m_compareRuns, 1, 1, 1, 2);
    hist->addWidget(new QLabel(tr("Replay:"), m_history), 2, 0);
    m_replay = new QSlider(Qt::Horizontal, this);
    m_replay->setEnabled(false);
    hist->addWidget(m_replay, 2, 1);
    m_replayLabel = new QLabel(tr("open a past run to replay it"), this);
    hist->addWidget(m_replayLabel, 2, 2, 1, 2);
    hist->addWidget(new QLabel(tr("Ranks:"), m_history), 3, 0);
    m_ranks = new QSpinBox(this);
    m_ranks->setObjectName(QStringLiteral("trainRanks"));
    m_ranks->setRange(1, std::max(1, QThread::idealThreadCount()));
    m_ranks->setValue(1);
    m_ranks->setToolTip(tr("Local processes a fresh run trains on. 1 trains inside the studio; more start 'moe train --nproc N' "
                           "beside it (data parallel over c10d/Gloo, one per core at most), which the studio follows through its run "
                           "store: it can be stopped but not paused or stepped."));
    m_ranks->setSuffix(tr(" (1: in the studio)"));
    auto* ranksRow = new QHBoxLayout;
    ranksRow->setContentsMargins(0, 0, 0, 0);
    ranksRow->addWidget(m_ranks);
    m_expertParallel = new QCheckBox(tr("Expert parallel"), this);
    m_expertParallel->setObjectName(QStringLiteral("trainExpertParallel"));
    m_expertParallel->setToolTip(tr("Each rank holds its share of every MoE block's experts and tokens cross by all-to-all "
                                    "(training.ep = the ranks); off: every rank holds every expert (data parallel only)"));
    m_expertParallel->setEnabled(false);
    ranksRow->addSpacing(12);
    ranksRow->addWidget(m_expertParallel);
    ranksRow->addStretch(1);
    hist->addLayout(ranksRow, 3, 1, 1, 3);
    connect(m_ranks, &QSpinBox::valueChanged, this, [this](int n) {
        m_ranks->setSuffix(n == 1 ? tr(" (1: in the studio)") : tr(" local processes"));
        updateButtons();
    });
    hist->setColumnStretch(1, 1);
    hist->setColumnStretch(2, 1);
    v->addWidget(m_history);
    m_diff = new QLabel(this);
    m_diff->setObjectName(QStringLiteral("comparisonDiff"));
    m_diff->setWordWrap(true);
    m_diff->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_diff->hide();
    v->addWidget(m_diff);

    connect(m_logLoss, &QCheckBox::toggled, this, &RunPanel::setLossLogScale);
    connect(m_train, &QPushButton::clicked, this, &RunPanel::trainRequested);
    connect(m_pause, &QPushButton::clicked, this, [this] {
        if (m_status.state == RunStatus::Paused) Q_EMIT resumeRequested();
        else Q_EMIT pauseRequested();
    });
    connect(m_step, &QPushButton::clicked, this, [this] { Q_EMIT stepRequested(m_stepCount->value()); });
    connect(m_stop, &QPushButton::clicked, this, &RunPanel::stopRequested);
    connect(m_speed, &QComboBox::activated, this, [this](int i) { Q_EMIT speedChanged(m_speed->itemData(i).toDouble()); });
    connect(m_runs, &QComboBox::activated, this, [this](int i) {
        const QString path = m_runs->itemData(i).toString();
        if (!path.isEmpty()) openRunAsync(path);
    });
    connect(m_compareRuns, &QComboBox::activated, this, [this](int i) { compareRunAsync(m_compareRuns->itemData(i).toString()); });
    connect(m_label, &QPushButton::clicked, this, [this] {
        if (!m_opened) return;
        QDialog dlg(this);
        dlg.setWindowTitle(tr("Name and notes of run %1").arg(QString::fromStdString(m_opened->info().runId)));
        auto* form = new QFormLayout(&dlg);
        auto* name = new QLineEdit(QString::fromStdString(m_opened->info().name), &dlg);
        name->setPlaceholderText(tr("e.g. no aux loss"));
        auto* notes = new QPlainTextEdit(QString::fromStdString(m_opened->info().notes), &dlg);
        form->addRow(tr("Name:"), name);
        form->addRow(tr("Notes:"), notes);
        auto* box = new QDialogButtonBox(QDialogButtonBox::Save | QDialogButtonBox::Cancel, &dlg);
        form->addRow(box);
        connect(box, &QDialogButtonBox::accepted, &dlg, &QDialog::accept);
        connect(box, &QDialogButtonBox::rejected, &dlg, &QDialog::reject);
        if (dlg.exec() != QDialog::Accepted) return;
        QString err;
        if (!labelOpenedRun(name->text().trimmed(), notes->toPlainText(), &err)) Q_EMIT message(err);
    });
    connect(m_replay, &QSlider::valueChanged, this, [this](int i) {
        if (!m_opened || i < 0 || i >= static_cast<int>(m_opened->snapshots().size())) return;
        const auto s = m_opened->snapshots()[static_cast<size_t>(i)];
        m_replayLabel->setText(tr("step %1 · loss %2 · acc %3%").arg(s->step).arg(s->loss, 0, 'f', 3).arg(s->accuracy * 100, 0, 'f', 1));
        Q_EMIT replaySnapshot(s);
    });
    ensureCurves(*m_live);
    fitAxes();
    applyTheme();
    updateButtons();
}

RunPanel::~RunPanel() {
    // The chart owns the y axis it shows; the other one is ours.
    if (lossLogScale()) delete m_lossY;
    else delete m_lossLogY;
}

void RunPanel::applyTheme() {
    const bool dark = currentTheme() == Theme::Dark;
    const QPalette pal = QApplication::palette();
    for (QChart* c : {m_lossChart, m_accChart}) {
        c->setTheme(dark ? QChart::ChartThemeDark : QChart::ChartThemeLight);
        c->setBackgroundBrush(pal.color(QPalette::Base));
        c->setTitleBrush(pal.color(QPalette::Text));
        c->legend()->setLabelColor(pal.color(QPalette::Text));
        // Charts keep a modest font even in classroom mode: big tick labels crowd the plot out.
        QFont f = QApplication::font();
        QFont small = f;
        small.setPointSizeF(std::min(f.pointSizeF(), 10.0));
        QFont title = small;
        title.setBold(true);
        c->setTitleFont(title);
        c->legend()->setFont(small);
        for (QAbstractAxis* a : c->axes()) {
            a->setLabelsBrush(pal.color(QPalette::Text));
            a->setTitleBrush(pal.color(QPalette::Text));
            a->setGridLineColor(pal.color(QPalette::AlternateBase).darker(dark ? 70 : 110));
            a->setLabelsFont(small);
            a->setTitleFont(small);
        }
    }
    // Theme changes reset series pens: rebuild the colours.
    auto recolor = [](CurveSet& c, Qt::PenStyle style) {
        if (c.loss) c.loss->setPen(QPen(seriesColor(0), 2.2, style));
        if (c.balance) c.balance->setPen(QPen(seriesColor(3), 1.6, style == Qt::SolidLine ? Qt::DotLine : Qt::DashDotLine));
        if (c.acc) c.acc->setPen(QPen(seriesColor(1), 2.2, style));
        if (c.testAcc) c.testAcc->setPen(QPen(seriesColor(2), 2.2, style));
    };
    recolor(*m_live, Qt::SolidLine);
    recolor(*m_compare, Qt::DashLine);
}

void RunPanel::setClassroom(bool on) {
    // A class watches the run: no step counts, past-run pickers or replay slider (the guide's
    // compare step shows both runs).
    m_stepCount->setVisible(!on);
    m_history->setVisible(!on);
    m_logLoss->setVisible(!on);  // with classroom fonts it would sit on the chart's legend
    // The charts are short beside a large dashboard: three accuracy ticks (0, 0.5, 1) keep their
    // labels whole where six would be elided.
    m_accY->setTickCount(on ? 3 : 6);
    // Large classroom fonts: the buttons keep their icons and say the rest in a tooltip, so
    // the dock stays narrow enough for a large dashboard beside it.
    m_classroom = on;
    const std::pair<QPushButton*, QString> names[] = {{m_train, tr("Train")}, {m_pause, tr("Pause")}, {m_step, tr("Step")}, {m_stop, tr("Stop")}};
    for (const auto& [b, name] : names) {
        b->setText(on ? QString() : name);
        if (on && b != m_train) b->setToolTip(name);
    }
    updateTrainTip();
    updateButtons();
    setSpeed(on ? kClassroomSpeed : 0.0);
}

void RunPanel::updateTrainTip() {
    QString tip = m_classroom ? tr("Train") : tr("Start a fresh run of the current model (F5)");
    if (!m_memoryEstimate.isEmpty()) tip += QLatin1Char('\n') + m_memoryEstimate;
    m_train->setToolTip(tip);
}

void RunPanel::setMemoryVerdict(const QString& estimate, const QString& refusal) {
    m_memoryEstimate = estimate;
    updateTrainTip();
    m_memoryWarning->setText(refusal.isEmpty() ? QString() : tr("⚠ Will not train: %1.").arg(refusal));
    m_memoryWarning->setStyleSheet(QStringLiteral("color: %1;").arg(canvasColors().cardInvalid.name()));
    m_memoryWarning->setVisible(!refusal.isEmpty());
}

QString RunPanel::memoryWarning() const { return m_memoryWarning->isHidden() ? QString() : m_memoryWarning->text(); }

void RunPanel::setSpeed(double stepsPerSecond) {
    const int i = m_speed->findData(stepsPerSecond);
    if (i < 0 || i == m_speed->currentIndex()) return;
    m_speed->setCurrentIndex(i);
    Q_EMIT speedChanged(stepsPerSecond);
}

double RunPanel::speed() const { return m_speed->currentData().toDouble(); }

void RunPanel::resetCurves(CurveSet& c) {
    for (QLineSeries** s : {&c.loss, &c.balance, &c.acc, &c.testAcc})
        if (*s) {
            (*s)->chart()->removeSeries(*s);
            delete *s;
            *s = nullptr;
        }
}

void RunPanel::appendPoint(CurveSet& c, const moe::telemetry::RoutingSnapshot& s) {
    ensureCurves(c);
    // The task loss is what the model is getting right; the balancing losses are plotted apart
    // so that turning them on does not look like the model got worse.
    if (std::isfinite(s.taskLoss)) c.loss->append(static_cast<double>(s.step), s.taskLoss);
    if (std::isfinite(s.loss) && std::isfinite(s.taskLoss)) c.balance->append(static_cast<double>(s.step), std::max(0.0, s.loss - s.taskLoss));
    c.acc->append(static_cast<double>(s.step), s.accuracy);
    if (s.testAccuracy >= 0) c.testAcc->append(static_cast<double>(s.step), s.testAccuracy);
}

void RunPanel::ensureCurves(CurveSet& c) {
    const bool compare = &c == m_compare.get();
    const Qt::PenStyle style = compare ? Qt::DashLine : Qt::SolidLine;
    const QString suffix = compare ? tr(" (compared)") : QString();
    if (!c.loss) {
        QAbstractAxis* lossY = lossLogScale() ? static_cast<QAbstractAxis*>(m_lossLogY) : m_lossY;
        // Short names on a projector, where the charts are narrow beside the dashboard.
        c.loss = makeSeries(m_lossChart, (m_classroom ? tr("task") : tr("task loss")) + suffix, seriesColor(0), style, m_lossX, lossY);
        c.balance = makeSeries(m_lossChart, (m_classroom ? tr("aux + z") : tr("aux + z (weighted)")) + suffix, seriesColor(3),
                               compare ? Qt::DashDotLine : Qt::DotLine, m_lossX, lossY);
        c.acc = makeSeries(m_accChart, tr("train") + suffix, seriesColor(1), style, m_accX, m_accY);
        c.testAcc = makeSeries(m_accChart, tr("test") + suffix, seriesColor(2), style, m_accX, m_accY);
    }
}

void RunPanel::fitAxes() {
    double maxStep = 10, maxLoss = 0.1;
    for (CurveSet* c : {m_live.get(), m_compare.get()}) {
        if (!c->loss) continue;
        for (QLineSeries* s : {c->loss, c->balance})
            for (const QPointF& p : s->points()) {
                maxStep = std::max(maxStep, p.x());
                maxLoss = std::max(maxLoss, p.y());
            }
        for (const QPointF& p : c->acc->points()) maxStep = std::max(maxStep, p.x());
    }
    if (m_status.totalSteps > 0 && m_status.active()) maxStep = std::max(maxStep, static_cast<double>(m_status.totalSteps));
    // The step axis ends at the run's last step (300, not 400) with ticks at round steps.
    const double interval = niceStep(maxStep, 5);
    for (QValueAxis* x : {m_lossX, m_accX}) {
        x->setRange(0, maxStep);
        x->setTickType(QValueAxis::TicksDynamic);
        x->setTickAnchor(0);
        x->setTickInterval(interval);
    }
    m_lossY->setRange(0, maxLoss * 1.05);
    m_lossY->applyNiceNumbers();
    if (!lossLogScale()) return;
    // Log scale: the range spans the positive values, by whole decades; curves with a value at
    // or below zero are hidden (log 0 has no place on the axis).
    double least = maxLoss;
    for (CurveSet* c : {m_live.get(), m_compare.get()}) {
        if (!c->loss) continue;
        for (QLineSeries* s : {c->loss, c->balance}) {
            bool positive = true;
            for (const QPointF& p : s->points()) {
                if (p.y() > 0) least = std::min(least, p.y());
                else positive = false;
            }
            s->setVisible(positive);
        }
    }
    m_lossLogY->setRange(std::pow(10.0, std::floor(std::log10(least))), std::pow(10.0, std::ceil(std::log10(maxLoss * 1.05))));
}

bool RunPanel::lossLogScale() const { return m_lossChart->axes(Qt::Vertical).contains(m_lossLogY); }

bool RunPanel::lossCurveShown(int which) const {
    QLineSeries* s = which == 0 ? m_live->loss : m_live->balance;
    return s && s->isVisible();
}

void RunPanel::setLossLogScale(bool on) {
    if (on == lossLogScale()) return;
    QAbstractAxis* from = on ? static_cast<QAbstractAxis*>(m_lossY) : m_lossLogY;
    QAbstractAxis* to = on ? static_cast<QAbstractAxis*>(m_lossLogY) : m_lossY;
    m_lossChart->removeAxis(from);
    m_lossChart->addAxis(to, Qt::AlignLeft);
    for (CurveSet* c : {m_live.get(), m_compare.get()})
        for (QLineSeries* s : {c->loss, c->balance})
            if (s) {
                s->attachAxis(to);
                s->setVisible(true);
            }
    {
        const QSignalBlocker block(m_logLoss);
        m_logLoss->setChecked(on);
    }
    applyTheme();
    fitAxes();
}

void RunPanel::beginLive(const QString& runPath) {
    resetCurves(*m_live);
    ensureCurves(*m_live);
    ++m_openRequest;  // a past run still being read must not replace the live curves
    m_opened.reset();
    m_label->setEnabled(false);
    m_replay->setEnabled(false);
    m_replayLabel->setText(tr("live: %1").arg(QFileInfo(runPath).fileName()));
    fitAxes();
}

void RunPanel::addSnapshot(const moe::telemetry::SnapshotPtr& s) {
    if (!s) return;
    appendPoint(*m_live, *s);
    fitAxes();
}

void RunPanel::clear() {
    ++m_openRequest;  // runs still being read belong to the previous project
    ++m_compareRequest;
    resetCurves(*m_live);
    resetCurves(*m_compare);
    ensureCurves(*m_live);
    m_opened.reset();
    m_compared.reset();
    updateDiff();
    m_label->setEnabled(false);
    m_replay->setEnabled(false);
    m_replayLabel->setText(tr("open a past run to replay it"));
    m_progress->setRange(0, 1000);
    m_progress->setValue(0);
    m_progress->setFormat(tr("no run yet"));
    m_stats->clear();
    setStatus(RunStatus{});
    fitAxes();
}

int RunPanel::liveCurvePoints() const { return m_live->loss ? static_cast<int>(m_live->loss->count()) : 0; }
QList<QPointF> RunPanel::liveTaskLoss() const { return m_live->loss ? m_live->loss->points() : QList<QPointF>{}; }
QList<QPointF> RunPanel::liveBalancingLoss() const { return m_live->balance ? m_live->balance->points() : QList<QPointF>{}; }

int RunPanel::compareCurvePoints() const { return m_compare->loss ? static_cast<int>(m_compare->loss->count()) : 0; }

void RunPanel::setStatus(const RunStatus& s) {
    m_status = s;
    QString state = stateName(s.state);
    // "stopped: stopped by request" says nothing twice.
    if (!s.message.isEmpty() && (s.state == RunStatus::Failed || s.state == RunStatus::Stopped) && !s.message.startsWith(state, Qt::CaseInsensitive))
        state += QStringLiteral(": ") + s.message;
    m_state->setText(state);
    m_state->setWordWrap(true);
    m_state->setToolTip(s.message);
    if (s.totalSteps > 0) {
        m_progress->setValue(static_cast<int>(1000.0 * static_cast<double>(s.step) / static_cast<double>(s.totalSteps)));
        QString fmt = tr("step %1 / %2").arg(s.step).arg(s.totalSteps);
        if (s.state == RunStatus::Running && s.etaSeconds >= 0) fmt += tr(" · ETA %1").arg(humanDuration(s.etaSeconds));
        m_progress->setFormat(fmt);
    } else if (s.state == RunStatus::Preparing) {
        m_progress->setRange(0, 0);  // busy
    }
    if (s.state != RunStatus::Preparing && m_progress->maximum() == 0) m_progress->setRange(0, 1000);
    if (s.step > 0 && m_classroom) {
        // A projector: the three figures the lesson talks about, on one line, so the charts below
        // keep room for their legends.
        QString stats = tr("loss %1 · train %2%").arg(s.loss, 0, 'f', 3).arg(s.accuracy * 100, 0, 'f', 1);
        if (s.testAccuracy >= 0) stats += tr(" · test %1%").arg(s.testAccuracy * 100, 0, 'f', 1);
        m_stats->setText(stats);
    } else if (s.step > 0) {
        QString stats = tr("loss %1 · train accuracy %2%").arg(s.loss, 0, 'f', 4).arg(s.accuracy * 100, 0, 'f', 1);
        if (s.testAccuracy >= 0) stats += tr(" · test accuracy %1%").arg(s.testAccuracy * 100, 0, 'f', 1);
        if (s.tokensPerSecond > 0) stats += tr(" · %1 tokens/s").arg(humanCount(s.tokensPerSecond));
        if (!s.device.isEmpty()) stats += s.device == QLatin1String("cpu") ? tr(" · on the CPU") : tr(" · on %1").arg(s.device);
        if (!s.twin.isEmpty()) stats += QLatin1Char('\n') + s.twin.left(1).toUpper() + s.twin.mid(1);
        m_stats->setText(stats);
    }
    updateButtons();
}

void RunPanel::updateButtons() {
    const bool engine = TrainingController::engineAvailable();
    const bool active = m_status.active();
    m_train->setEnabled(engine && !active);
    // A run on several ranks is another process: it can be stopped, not paused or stepped.
    const bool inStudio = active ? m_status.ranks <= 1 : ranks() <= 1;
    m_pause->setEnabled(engine && inStudio && (m_status.state == RunStatus::Running || m_status.state == RunStatus::Paused));
    if (!m_pause->text().isEmpty()) m_pause->setText(m_status.state == RunStatus::Paused ? tr("Resume") : tr("Pause"));
    m_pause->setToolTip(m_status.state == RunStatus::Paused ? tr("Resume") : tr("Pause"));
    m_pause->setIcon(style()->standardIcon(m_status.state == RunStatus::Paused ? QStyle::SP_MediaPlay : QStyle::SP_MediaPause));
    m_step->setEnabled(engine && inStudio && (m_status.state == RunStatus::Paused || !active));
    m_speed->setEnabled(engine && inStudio);
    m_ranks->setEnabled(engine && !active);
    m_expertParallel->setEnabled(engine && !active && ranks() > 1);
    m_stop->setEnabled(engine && active);
    if (!engine) {
        m_state->setText(tr("Training engine not built"));
        m_state->setToolTip(TrainingController::engineMissingText());
        m_progress->setFormat(tr("training engine not built: design and validate only"));
    }
}

int RunPanel::ranks() const { return m_ranks->value(); }

bool RunPanel::expertParallel() const { return m_ranks->value() > 1 && m_expertParallel->isChecked(); }

void RunPanel::setRanks(int n, bool expertParallel) {
    m_ranks->setValue(n);
    m_expertParallel->setChecked(expertParallel);
}

void RunPanel::setRunDir(const QString& dir) {
    m_runDir = dir;
    rescanRuns();
}

void RunPanel::rescanRuns() {
    m_runs->clear();
    m_compareRuns->clear();
    m_runs->addItem(tr("(choose a run to open)"), QString());
    m_compareRuns->addItem(tr("(none)"), QString());
    QDir d(m_runDir);
    const auto files = d.entryInfoList({QStringLiteral("*.sqlite")}, QDir::Files, QDir::Time);
    for (const QFileInfo& fi : files) {
        auto info = moe::telemetry::RunReader::readInfo(fi.absoluteFilePath().toStdString());
        if (!info.ok()) continue;  // not a run store (or one being created this instant)
        const QString label = runLabel(info.value());
        m_runs->addItem(label, fi.absoluteFilePath());
        m_compareRuns->addItem(label, fi.absoluteFilePath());
        const QString tip = QString::fromStdString(info->notes);
        m_runs->setItemData(m_runs->count() - 1, tip, Qt::ToolTipRole);
        m_compareRuns->setItemData(m_compareRuns->count() - 1, tip, Qt::ToolTipRole);
    }
    m_runs->setToolTip(files.isEmpty() ? tr("No runs yet in %1").arg(m_runDir) : tr("Runs in %1").arg(m_runDir));
}

QString RunPanel::runLabel(const moe::telemetry::RunInfo& info) {
    const QString id = QString::fromStdString(info.runId);
    return info.name.empty() ? id : tr("%1 · %2").arg(QString::fromStdString(info.name), id);
}

bool RunPanel::labelOpenedRun(const QString& name, const QString& notes, QString* error) {
    if (!m_opened) {
        if (error) *error = tr("Open a run first");
        return false;
    }
    const std::string err = moe::telemetry::setRunLabel(m_opened->path(), name.toStdString(), notes.toStdString());
    if (!err.empty()) {
        if (error) *error = QString::fromStdString(err);
        return false;
    }
    m_opened->refresh();  // reads the new name back
    const QString path = QString::fromStdString(m_opened->path());
    rescanRuns();
    m_runs->setCurrentIndex(std::max(0, m_runs->findData(path)));
    m_replayLabel->setText(tr("run %1").arg(runLabel(m_opened->info())));
    return true;
}

void RunPanel::readRunAsync(const QString& path, std::function<void(const ReaderResult&)> done) {
    inBackground(
        this, [p = path.toStdString()] { return moe::telemetry::RunReader::open(p); }, [done = std::move(done)](ReaderResult& r) { done(r); });
}

void RunPanel::openRunAsync(const QString& path) {
    const quint64 request = ++m_openRequest;
    m_replayLabel->setText(tr("reading %1…").arg(QFileInfo(path).fileName()));
    readRunAsync(path, [this, request, path](const ReaderResult& r) {
        if (request != m_openRequest) return;  // another run was picked meanwhile
        if (!r.ok()) Q_EMIT message(tr("Cannot open run %1: %2").arg(path, QString::fromStdString(r.message())));
        else showOpened(r.value());
    });
}

void RunPanel::compareRunAsync(const QString& path) {
    const quint64 request = ++m_compareRequest;
    if (path.isEmpty() || isOpened(path)) {
        QString err;
        if (!compareRun(path, &err)) Q_EMIT message(err);
        return;
    }
    readRunAsync(path, [this, request, path](const ReaderResult& r) {
        if (request != m_compareRequest) return;
        if (!r.ok()) Q_EMIT message(tr("Cannot open run %1: %2").arg(path, QString::fromStdString(r.message())));
        else showCompared(r.value());
    });
}

bool RunPanel::openRun(const QString& path, QString* error) {
    ++m_openRequest;  // a pending asynchronous open is overtaken
    auto r = moe::telemetry::RunReader::open(path.toStdString());
    if (!r.ok()) {
        if (error) *error = tr("Cannot open run %1: %2").arg(path, QString::fromStdString(r.message()));
        return false;
    }
    showOpened(r.value());
    return true;
}

void RunPanel::showOpened(std::shared_ptr<moe::telemetry::RunReader> reader) {
    m_opened = std::move(reader);
    resetCurves(*m_live);
    ensureCurves(*m_live);
    for (const auto& s : m_opened->snapshots()) appendPoint(*m_live, *s);
    fitAxes();
    const int n = static_cast<int>(m_opened->snapshots().size());
    m_replay->setEnabled(n > 0);
    m_replay->setRange(0, std::max(0, n - 1));
    m_replay->setValue(std::max(0, n - 1));
    const auto& info = m_opened->info();
    m_label->setEnabled(true);
    m_replayLabel->setText(n ? tr("run %1: %2, %3 snapshots").arg(runLabel(info), QString::fromStdString(info.status)).arg(n)
                             : tr("run %1 holds no snapshots").arg(runLabel(info)));
    updateDiff();
    Q_EMIT runOpened(m_opened);
    if (n > 0) Q_EMIT replaySnapshot(m_opened->snapshots().back());
}

bool RunPanel::isOpened(const QString& path) const {
    return m_opened && QFileInfo(path).absoluteFilePath() == QFileInfo(QString::fromStdString(m_opened->path())).absoluteFilePath();
}

bool RunPanel::compareRun(const QString& path, QString* error) {
    ++m_compareRequest;
    if (path.isEmpty()) {
        showCompared(nullptr);
        return true;
    }
    if (isOpened(path)) {
        if (error) *error = tr("%1 is the opened run: compare it with another one").arg(QFileInfo(path).completeBaseName());
        return false;
    }
    auto r = moe::telemetry::RunReader::open(path.toStdString());
    if (!r.ok()) {
        if (error) *error = tr("Cannot open run %1: %2").arg(path, QString::fromStdString(r.message()));
        return false;
    }
    showCompared(r.value());
    return true;
}

void RunPanel::showCompared(std::shared_ptr<moe::telemetry::RunReader> reader) {
    resetCurves(*m_compare);
    m_compared = std::move(reader);
    if (m_compared)
        for (const auto& s : m_compared->snapshots()) appendPoint(*m_compare, *s);
    fitAxes();
    updateDiff();
}

QString RunPanel::comparisonText() const { return m_diff->text(); }

void RunPanel::updateDiff() {
    if (!m_opened || !m_compared) {
        m_diff->clear();
        m_diff->hide();
        return;
    }
    const QStringList d = projectDiff(m_compared->info().projectJson, m_opened->info().projectJson);
    const QString who = tr("%1 (dashed) → %2 (solid)").arg(runLabel(m_compared->info()), runLabel(m_opened->info()));
    m_diff->setText(d.isEmpty() ? tr("Compared %1: the same project.").arg(who)
                                : tr("Compared %1. What changed: %2").arg(who, d.join(QStringLiteral("; "))));
    m_diff->show();
}

namespace {
void flatten(const nlohmann::json& j, const std::string& path, std::map<std::string, std::string>& out) {
    if (j.is_object()) {
        for (auto it = j.begin(); it != j.end(); ++it) flatten(it.value(), path.empty() ? it.key() : path + "." + it.key(), out);
    } else if (j.is_array() && !j.empty() && (j.front().is_object() || j.front().is_array())) {
        for (size_t i = 0; i < j.size(); ++i) flatten(j[i], path + "[" + std::to_string(i) + "]", out);
    } else {
        out[path] = j.dump();
    }
}
}  // namespace

QStringList RunPanel::projectDiff(const std::string& beforeJson, const std::string& afterJson) {
    const auto a = nlohmann::json::parse(beforeJson, nullptr, false), b = nlohmann::json::parse(afterJson, nullptr, false);
    if (a.is_discarded() || b.is_discarded()) return {tr("a run holds no readable project")};
    std::map<std::string, std::string> fa, fb;
    flatten(a, {}, fa);
    flatten(b, {}, fb);
    fa.erase("scenario");  // the lesson's text is not what the network trained
    QStringList out;
    for (const auto& [path, v] : fa) {
        if (path.rfind("scenario", 0) == 0) continue;
        const auto it = fb.find(path);
        if (it == fb.end()) out << tr("%1: %2 → (none)").arg(QString::fromStdString(path), QString::fromStdString(v));
        else if (it->second != v) out << tr("%1: %2 → %3").arg(QString::fromStdString(path), QString::fromStdString(v), QString::fromStdString(it->second));
    }
    for (const auto& [path, v] : fb)
        if (path.rfind("scenario", 0) != 0 && !fa.count(path)) out << tr("%1: (none) → %2").arg(QString::fromStdString(path), QString::fromStdString(v));
    return out;
}

}  // namespace moe::studio
