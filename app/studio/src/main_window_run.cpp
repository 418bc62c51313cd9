// MainWindow: training, telemetry on the canvas, and the scripted launch.
#ifdef MOE_STUDIO_VIZ_BUILT
#include "moe/viz_qt/dashboard_window.h"
#endif
#include <QApplication>
#include <QCryptographicHash>
#include <QDir>
#include <QFileInfo>
#include <QLabel>
#include <QImage>
#include <QPainter>
#include <QPixmap>
#include <QSvgGenerator>
#include <QScreen>
#include <QTabWidget>
#include <QStandardPaths>
#include <QStatusBar>
#include <QDockWidget>
#include <QElapsedTimer>
#include <QTabWidget>
#include <QTimer>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>

#include "canvas.h"
#include "cluster_planner.h"
#include "inspector.h"
#include "main_window.h"
#include "messages_panel.h"
#include "format.h"
#include "moe/spec/train_memory.h"
#include "moe/telemetry/report.h"
#include "theme.h"
#include "run_panel.h"
#include "scenario_panel.h"

namespace moe::studio {

QString MainWindow::runDirFor(const QString& projectPath) {
    // Runs are user data: never beside the project (the shipped examples are read-only, and a
    // project folder is the user's to share). Keyed by the project's name and a hash of its
    // absolute path, so two projects with the same file name keep their runs apart.
    const QString base = QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation) + QStringLiteral("/runs/");
    if (projectPath.isEmpty()) return base + QStringLiteral("untitled");
    const QString abs = QFileInfo(projectPath).absoluteFilePath();
    const QString key = QString::fromLatin1(QCryptographicHash::hash(abs.toUtf8(), QCryptographicHash::Sha1).toHex().left(8));
    return base + QFileInfo(abs).completeBaseName() + QStringLiteral("-") + key;
}

QString MainWindow::runDir() const { return runDirFor(m_doc->filePath()); }

void MainWindow::setRunDirs() {
    m_run->setRunDir(runDir());
#ifdef MOE_STUDIO_CLUSTER_BUILT
    if (m_planner) m_planner->setRunDir(runDir());
#endif
}

void MainWindow::showRunOnDashboards(const std::shared_ptr<const moe::telemetry::RunReader>& reader) {
#ifdef MOE_STUDIO_VIZ_BUILT
    if (!m_dash || !reader) return;
    m_dashReplay = true;
    m_dash->setRun(std::make_shared<moe::viz::RunView>(moe::viz::RunView::fromReader(*reader)));
    m_dash->setLive(false);
#else
    (void)reader;
#endif
}

void MainWindow::showComparisonOnDashboards() {
#ifdef MOE_STUDIO_VIZ_BUILT
    if (!m_dash || !m_run->openedRun()) return;
    m_dashReplay = true;
    auto view = std::make_shared<moe::viz::RunView>(moe::viz::RunView::fromReader(*m_run->openedRun()));
    view->label = RunPanel::runLabel(m_run->openedRun()->info()).toStdString();
    if (const auto other = m_run->comparedRun()) {
        auto before = std::make_shared<moe::viz::RunView>(moe::viz::RunView::fromReader(*other));
        before->label = RunPanel::runLabel(other->info()).toStdString();
        view->compared = std::move(before);
    }
    m_dash->setRun(std::move(view));
    m_dash->setLive(false);
    m_dash->selectStep(-1);
#endif
}

void MainWindow::showReplayStepOnDashboards(const moe::telemetry::SnapshotPtr& s) {
#ifdef MOE_STUDIO_VIZ_BUILT
    // Only while a past run is shown: a live run's dashboards follow the trainer.
    if (m_dash && s && m_dashReplay) m_dash->selectStep(s->step);
#else
    (void)s;
#endif
}

void MainWindow::startLiveDashboards() {
#ifdef MOE_STUDIO_VIZ_BUILT
    if (!m_dash) return;
    m_dashReplay = false;
    auto view = std::make_shared<moe::viz::RunView>();
    view->project = m_doc->project();
    view->status = "running";
    view->live = true;
    m_dash->setRun(std::move(view));
    m_dash->selectStep(-1);
#endif
}

void MainWindow::forgetRuns() {
    m_training->discard();
    setEditingLocked(false);
    m_scenarioTraining = false;
    m_pendingSnapshot.reset();
    m_run->clear();
    m_scene->setExpertLoads({});
    m_messages->setAlerts({});
#ifdef MOE_STUDIO_VIZ_BUILT
    if (m_dash) {
        m_dashReplay = false;
        auto view = std::make_shared<moe::viz::RunView>();
        view->project = m_doc->project();
        m_dash->setRun(std::move(view));
        m_dash->selectStep(-1);
    }
#endif
}

void MainWindow::showScenarioStep(int index) {
    const auto& sc = m_doc->project().scenario;
    if (!sc || index < 0 || index >= static_cast<int>(sc->steps.size())) return;
    const std::string& name = sc->steps[static_cast<size_t>(index)].view;
    if (name.empty()) return;
#ifdef MOE_STUDIO_VIZ_BUILT
    if (m_dash)
        if (const auto v = moe::viz::parseView(name)) m_dash->setView(*v);
#endif
    if (m_classroom || m_dashDock->isVisible()) {
        m_dashDock->show();
        m_dashDock->raise();
    }
}

bool MainWindow::compareLatestRuns(QString* error) {
    QStringList runs;
    for (const QString& r : m_scenarioRuns)
        if (QFileInfo::exists(r)) runs << r;
    if (runs.size() < 2) {
        runs.clear();
        const auto files = QDir(runDir()).entryInfoList({QStringLiteral("*.sqlite")}, QDir::Files, QDir::Time | QDir::Reversed);
        for (const QFileInfo& fi : files) runs << fi.absoluteFilePath();
    }
    if (runs.size() < 2) {
        *error = tr("There is only %n run of this project so far: train once more to compare two.", nullptr, static_cast<int>(runs.size()));
        return false;
    }
    const QString latest = runs.last(), before = runs[runs.size() - 2];
    if (!m_run->openRun(latest, error) || !m_run->compareRun(before, error)) return false;
    showComparisonOnDashboards();
    return true;
}

bool MainWindow::train(int steps, QString* error) {
    if (const TrainVerdict v = trainVerdict(); v.kind != TrainVerdict::Ready) {
        *error = v.why;
        if (v.kind == TrainVerdict::Problems)
            if (const auto& first = m_doc->problems().front(); first.item.kind != ItemRef::Model) m_scene->select(first.item);
        return false;
    }
    if (m_run->ranks() > 1 && steps == 0) {
        const QString dir = m_doc->filePath().isEmpty() ? QString() : QFileInfo(m_doc->filePath()).absolutePath();
        m_training->startRanks(m_doc->project(), dir, runDir(), m_run->ranks(), m_run->expertParallel());
        return true;
    }
    m_training->start(m_doc->project(), runDir(), steps);
    return true;
}

MainWindow::TrainVerdict MainWindow::trainVerdict() {
    const QString tooBig = trainingMemoryRefusal();  // also keeps the Run panel's verdict current
    if (!TrainingController::engineAvailable()) return {TrainVerdict::NoEngine, TrainingController::engineMissingText()};
    if (!m_doc->problems().empty()) {
        const auto& first = m_doc->problems().front();
        return {TrainVerdict::Problems,
                tr("The model has %n problem(s); fix them first. The first one: %1", nullptr, static_cast<int>(m_doc->problems().size()))
                    .arg(QString::fromStdString(first.diagnostic.path + ": " + first.diagnostic.message))};
    }
    if (!tooBig.isEmpty()) return {TrainVerdict::TooBig, tooBig};
    return {};
}

void MainWindow::updateRunStatus() {
    if (!m_statusRun) return;  // the status bar is built after the document's first signals
    const RunStatus& s = m_training->status();
    if (s.state != RunStatus::Idle) {
        m_statusRun->setText(tr("%1 · step %2").arg(stateName(s.state)).arg(s.step));
        m_statusRun->setToolTip({});
        return;
    }
    const TrainVerdict v = trainVerdict();
    switch (v.kind) {
        case TrainVerdict::Ready: m_statusRun->setText(tr("ready to train")); break;
        case TrainVerdict::NoEngine: m_statusRun->setText(tr("training engine not built")); break;
        case TrainVerdict::Problems: m_statusRun->setText(tr("will not train: fix the problems first")); break;
        case TrainVerdict::TooBig: m_statusRun->setText(tr("will not train: too big for this machine's memory")); break;
    }
    m_statusRun->setToolTip(v.why);
}

QString MainWindow::trainingMemoryRefusal() {
    if (!m_doc->problems().empty()) {
        m_run->setMemoryVerdict({}, {});
        return {};
    }
    const auto& p = m_doc->project();
    const auto need = moe::spec::estimateTrainingMemory(p);
    const double avail = moe::spec::availableMemoryBytes();
    QString estimate = tr("Training needs about %1 of memory (%2)").arg(humanBytes(need.total()),
                                                                    QString::fromStdString(moe::spec::trainingMemoryBreakdown(p, need)));
    if (avail > 0) estimate += tr("; this machine has %1 available.").arg(humanBytes(avail));
    const QString no = QString::fromStdString(moe::spec::trainingMemoryRefusal(p, need, avail, "the memory this machine has available"));
    m_run->setMemoryVerdict(estimate, no);
    return no;
}

void MainWindow::setEditingLocked(bool locked) {
    if (m_locked == locked) return;
    m_locked = locked;
    const QString why = tr("Training is in progress: stop it to edit the model (the run keeps everything trained so far).");
    m_doc->setReadOnly(locked, why);
    m_inspector->setLocked(locked, why);
    m_scene->setLocked(locked);
    m_deleteAct->setEnabled(!locked && !m_scene->selectedBlocks().empty());
    m_duplicateAct->setEnabled(!locked && !m_scene->selectedBlocks().empty());
    Q_EMIT lockChanged(locked);
}

void MainWindow::onStatus(const RunStatus& s) {
    m_run->setStatus(s);
    setEditingLocked(s.active());
#ifdef MOE_STUDIO_VIZ_BUILT
    // A paused or ended run stops the dashboards' live redraw.
    if (m_dash) m_dash->setLive(s.state == RunStatus::Running);
#endif
    const bool engine = TrainingController::engineAvailable();
    m_trainAct->setEnabled(engine && !s.active());
    m_pauseAct->setEnabled(engine && (s.state == RunStatus::Running || s.state == RunStatus::Paused));
    m_stepAct->setEnabled(engine && (s.state == RunStatus::Paused || !s.active()));
    m_stopAct->setEnabled(engine && s.active());
    updateRunStatus();
}

void MainWindow::onSnapshot(const moe::telemetry::SnapshotPtr& s) {
    m_run->addSnapshot(s);
#ifdef MOE_STUDIO_VIZ_BUILT
    // While a past run is replayed the dashboards stay on it; the next run takes them back.
    if (m_dash && s && !m_dashReplay) {
        // A new run (its first snapshot) starts a fresh view that knows the project it trains.
        if (!m_dash->run() || !m_dash->run()->project || m_dash->run()->snapshots.empty() ||
            m_dash->run()->snapshots.back()->step >= s->step) {
            auto view = std::make_shared<moe::viz::RunView>();
            view->project = m_doc->project();
            view->status = "running";
            view->live = true;
            m_dash->setRun(std::move(view));
        }
        m_dash->appendSnapshot(s);
    }
#endif
    // Several snapshots can arrive in one poll: draw the newest once.
    const bool scheduled = m_pendingSnapshot != nullptr;
    m_pendingSnapshot = s;
    if (!scheduled)
        QTimer::singleShot(0, this, [this] {
            auto snap = std::move(m_pendingSnapshot);
            m_pendingSnapshot.reset();
            showSnapshotOnCanvas(snap);
        });
}

void MainWindow::showSnapshotOnCanvas(const moe::telemetry::SnapshotPtr& s) {
    if (!s) return;
    const auto& m = m_doc->project().model;
    // Telemetry numbers the layers of the flattened model; the canvas maps them to its cards.
    const int layers = m.layerCount();
    std::vector<std::vector<double>> loads(static_cast<size_t>(layers));
    for (const auto& b : s->blocks) {
        // A replayed run may come from another version of the model: tint only what matches.
        if (b.block < 0 || b.block >= layers || b.experts != m.routedExpertsOf(b.block)) continue;
        loads[static_cast<size_t>(b.block)] = b.loadShare();
    }
    m_scene->setExpertLoads(std::move(loads));
    m_messages->setAlerts(s->alerts);
}

bool MainWindow::exportCanvas(const QString& path, QString* error) {
    const QRectF area = m_scene->itemsBoundingRect().adjusted(-20, -20, 20, 20);
    if (path.endsWith(QLatin1String(".svg"), Qt::CaseInsensitive)) {
        QSvgGenerator svg;
        svg.setFileName(path);
        svg.setSize(area.size().toSize());
        svg.setViewBox(QRectF(QPointF(0, 0), area.size()));
        svg.setTitle(m_doc->displayName());
        QPainter p;
        if (!p.begin(&svg)) {
            *error = tr("cannot write %1").arg(path);
            return false;
        }
        m_scene->render(&p, QRectF(QPointF(0, 0), area.size()), area);
        p.end();
        if (!QFileInfo::exists(path)) {
            *error = tr("cannot write %1").arg(path);
            return false;
        }
        return true;
    }
    if (!path.endsWith(QLatin1String(".png"), Qt::CaseInsensitive)) {
        *error = tr("%1: the canvas exports as .png or .svg").arg(path);
        return false;
    }
    QImage img((area.size() * 2).toSize(), QImage::Format_ARGB32);  // twice the scene's scale: sharp when printed
    img.fill(canvasColors().background);
    QPainter p(&img);
    p.setRenderHint(QPainter::Antialiasing);
    m_scene->render(&p, QRectF(QPointF(0, 0), QSizeF(img.size())), area);
    p.end();
    if (!img.save(path, "PNG")) {
        *error = tr("cannot write %1").arg(path);
        return false;
    }
    return true;
}

bool MainWindow::exportDashboard(const QString& path, QString* error) {
    if (!m_dashDock->isVisible() || m_dashDock->widget()->width() < 10) {
        *error = tr("Show the Dashboards dock first (View menu)");
        return false;
    }
    // The dashboards are a native (Vulkan) window: read them off the screen.
    QWidget* w = m_dashDock->widget();
    QScreen* scr = w->screen() ? w->screen() : QGuiApplication::primaryScreen();
    const QPoint tl = w->mapToGlobal(QPoint(0, 0));
    const QPixmap px = scr ? scr->grabWindow(0, tl.x(), tl.y(), w->width(), w->height()) : QPixmap();
    if (px.isNull() || !px.save(path, "PNG")) {
        *error = tr("cannot write %1").arg(path);
        return false;
    }
    return true;
}

bool MainWindow::exportRunCsv(const QString& folder, QString* error) {
    const auto run = m_run->openedRun();
    if (!run) {
        *error = tr("Open a run in the Run dock first (Past run)");
        return false;
    }
    for (const std::string& table : moe::telemetry::RunReader::csvTables()) {
        const QString path = QDir(folder).filePath(QString::fromStdString(run->info().runId + "-" + table) + QStringLiteral(".csv"));
        std::ofstream out(path.toStdString());
        std::string err;
        if (!out || !run->writeCsv(table, out, err) || !out.flush()) {
            *error = tr("cannot write %1%2").arg(path, err.empty() ? QString() : QStringLiteral(": ") + QString::fromStdString(err));
            return false;
        }
    }
    return true;
}

bool MainWindow::exportRunReport(const QString& path, QString* error) {
    const auto run = m_run->openedRun();
    if (!run) {
        *error = tr("Open a run in the Run dock first (Past run)");
        return false;
    }
    std::ofstream out(path.toStdString());
    if (out) moe::telemetry::writeMarkdownReport(*run, out);
    if (!out || !out.flush()) {
        *error = tr("cannot write %1").arg(path);
        return false;
    }
    return true;
}

bool MainWindow::grabWindowTo(const QString& path) {
    QScreen* scr = screen() ? screen() : QGuiApplication::primaryScreen();
    const QRect g = frameGeometry();
    // grabWindow(0) reads the screen itself, so native (Vulkan) child windows are included.
    const QPixmap px = scr ? scr->grabWindow(0, g.x(), g.y(), g.width(), g.height()) : QPixmap();
    if (px.isNull() || !px.save(path, "PNG")) {
        std::fprintf(stderr, "moe-studio: could not save the screenshot to %s\n", qPrintable(path));
        return false;
    }
    std::fprintf(stderr, "moe-studio: screenshot saved to %s (%dx%d)\n", qPrintable(path), px.width(), px.height());
    return true;
}

void MainWindow::takeScreenshot(const QString& path) { Q_EMIT scriptFinished(grabWindowTo(path) ? 0 : 4); }

void MainWindow::playScenario(const LaunchOptions& o) {
    const auto& sc = m_doc->project().scenario;
    if (!sc || sc->steps.empty()) {
        std::fprintf(stderr, "moe-studio: %s has no classroom scenario to play\n", qPrintable(m_doc->displayName()));
        Q_EMIT scriptFinished(1);
        return;
    }
    const int n = static_cast<int>(sc->steps.size());
    auto first = std::make_shared<std::function<void(int)>>();
    // Each step as a class does it: show it, press "Do this step", wait for its training, look.
    // The step holds itself weakly: only a pending wait keeps it alive, so it is freed at the end.
    *first = [this, o, n, weak = std::weak_ptr<std::function<void(int)>>(first)](int i) {
        const auto next = weak.lock();
        if (!next) return;
        if (i >= n) {
            std::fprintf(stderr, "moe-studio: scenario played in %.1f s since launch\n", m_sinceLaunch.elapsed() / 1000.0);
            Q_EMIT scriptFinished(0);
            return;
        }
        const auto st = m_doc->project().scenario->steps[static_cast<size_t>(i)];
        m_scenario->setCurrentStep(i);
        auto settled = [this, o, i, next, st] {
            QTimer::singleShot(700, this, [this, o, i, next, st] {
                std::fprintf(stderr, "moe-studio: scenario step %d (%s) done at %.1f s since launch\n", i + 1, st.title.c_str(),
                             m_sinceLaunch.elapsed() / 1000.0);
                if (!o.screenshot.isEmpty()) {
                    QString shot = o.screenshot;
                    shot.insert(shot.size() - 4, QStringLiteral("-step%1").arg(i + 1));
                    if (!grabWindowTo(shot)) return Q_EMIT scriptFinished(4);
                }
                (*next)(i + 1);
            });
        };
        if (st.trainSteps > 0) {
            auto done = std::make_shared<QMetaObject::Connection>();
            auto ended = std::make_shared<QMetaObject::Connection>();
            auto once = [done, ended, settled] {
                QObject::disconnect(*done);
                QObject::disconnect(*ended);
                settled();
            };
            *done = connect(m_training, &TrainingController::stepsDone, this, once);
            *ended = connect(m_training, &TrainingController::runEnded, this, once);
        }
        Q_EMIT m_scenario->runStepRequested(i);
        if (st.trainSteps <= 0) settled();
    };
    (*first)(0);
}

void MainWindow::raiseDock(const QString& name) {
    const bool layouts = name == QLatin1String("layouts");  // the Cluster planner on its Layouts tab
    QDockWidget* d = name == QLatin1String("cluster") || layouts ? m_clusterDock
                     : name == QLatin1String("dashboards") ? m_dashDock
                     : name == QLatin1String("inspector")  ? m_inspectorDock
                                                           : nullptr;
    if (!d) return;
    d->show();
    d->raise();
    // The planner's controls and tables want more room than the inspector.
    if (d == m_clusterDock) resizeDocks({m_clusterDock}, {std::max(480, width() * 32 / 100)}, Qt::Horizontal);
#ifdef MOE_STUDIO_CLUSTER_BUILT
    if (layouts && m_planner)
        if (auto* tabs = m_planner->findChild<QTabWidget*>())
            for (int i = 0; i < tabs->count(); ++i)
                if (tabs->tabText(i) == tr("Layouts")) tabs->setCurrentIndex(i);
#endif
}

void MainWindow::runScript(const LaunchOptions& o) {
    if (QScreen* scr = QGuiApplication::primaryScreen()) setGeometry(scr->availableGeometry());
    applyDefaultDockSizes();
    if (o.playScenario) return QTimer::singleShot(300, this, [this, o] { playScenario(o); });
    if (!o.dock.isEmpty()) raiseDock(o.dock);
    auto shoot = [this, o] {
        if (o.screenshot.isEmpty()) Q_EMIT scriptFinished(0);
        else takeScreenshot(o.screenshot);
    };
    auto finish = [this, o, shoot] {
        // Let layouts, charts and the canvas settle before reading the screen.
        QTimer::singleShot(400, this, [this, o, shoot] {
            m_view->fitAll();
#ifdef MOE_STUDIO_CLUSTER_BUILT
            if (o.dock == QLatin1String("cluster") && m_planner && m_planner->simulating()) {
                // The picture is of the planner's figures: wait for them (a large deployment takes seconds).
                auto done = std::make_shared<bool>(false);
                auto once = [this, done, shoot] {
                    if (*done) return;
                    *done = true;
                    QTimer::singleShot(300, this, shoot);
                };
                connect(m_planner, &ClusterPlanner::simulated, this, once);
                QTimer::singleShot(120000, this, once);
                return;
            }
#endif
            QTimer::singleShot(600, this, shoot);
        });
    };
    if (o.trainSteps <= 0) return finish();
    // Responsiveness probe: how late a 10 ms timer fires on the UI thread while training.
    auto probe = new QTimer(this);
    auto clock = std::make_shared<QElapsedTimer>();
    auto worst = std::make_shared<qint64>(0);
    probe->setInterval(10);
    connect(probe, &QTimer::timeout, this, [clock, worst] {
        if (clock->isValid()) *worst = std::max(*worst, clock->elapsed());
        clock->restart();
    });
    connect(m_training, &TrainingController::runStarted, probe, [probe] { probe->start(); });
    auto report = [probe, worst] {
        if (!probe->isActive()) return;
        probe->stop();
        std::fprintf(stderr, "moe-studio: longest gap between UI timer ticks while training: %lld ms (timer interval 10 ms)\n",
                     static_cast<long long>(*worst));
    };
    connect(m_training, &TrainingController::stepsDone, probe, report);
    connect(m_training, &TrainingController::runEnded, probe, report);
    QString err;
    if (!train(o.trainSteps, &err)) {
        std::fprintf(stderr, "moe-studio: cannot train: %s\n", qPrintable(err));
        Q_EMIT scriptFinished(3);
        return;
    }
    auto done = std::make_shared<bool>(false);
    connect(m_training, &TrainingController::stepsDone, this, [done, finish] {
        if (*done) return;
        *done = true;
        finish();
    });
    connect(m_training, &TrainingController::runEnded, this, [this, done, finish](const RunStatus& s) {
        if (*done) return;
        *done = true;
        if (s.state == RunStatus::Failed) {
            std::fprintf(stderr, "moe-studio: training failed: %s\n", qPrintable(s.message));
            Q_EMIT scriptFinished(3);
            return;
        }
        finish();
    });
}

}  // namespace moe::studio
