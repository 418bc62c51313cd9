#include "main_window.h"

#ifdef MOE_STUDIO_VIZ_BUILT
#include "moe/viz_qt/dashboard_window.h"
#endif

#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QCloseEvent>
#include <QCoreApplication>
#include <QDir>
#include <QDialog>
#include <QDockWidget>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QKeySequence>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QPushButton>
#include <QSettings>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTextBrowser>
#include <QToolBar>
#include <QToolButton>
#include <QVBoxLayout>

#include <spdlog/spdlog.h>

#include "canvas.h"
#include "cluster_planner.h"
#include "inspector.h"
#include "messages_panel.h"
#include "palette.h"
#include "run_panel.h"
#include "scenario_panel.h"
#include "side_docks.h"
#include "studio_app.h"
#include "theme.h"

namespace moe::studio {

namespace {
constexpr int kMaxRecent = 8;
const char* kFileFilter = QT_TRANSLATE_NOOP("MainWindow", "MoE Studio projects (*.json);;All files (*)");
}  // namespace

MainWindow::MainWindow(bool interactive, const QString& recoveryDir)
    : m_interactive(interactive), m_doc(new ProjectDocument(this)), m_training(new TrainingController(this)) {
    m_sinceLaunch.start();
    setObjectName(QStringLiteral("MainWindow"));
    initResources();
    setWindowIcon(QIcon(QStringLiteral(":/moe-studio/moe-studio.svg")));
    m_scene = new NetworkScene(m_doc, this);
    m_view = new NetworkView(m_scene, this);
    setCentralWidget(m_view);
    m_recovery = std::make_unique<RecoveryStore>(recoveryDir.isEmpty() ? RecoveryStore::defaultDir() : recoveryDir);

    buildDocks();
    buildActions();
    setDockNestingEnabled(true);
    // The right-hand docks (inspector, dashboards, cluster planner) are tall forms and tables:
    // they take the full height, the run and messages docks the width beside them.
    setCorner(Qt::BottomRightCorner, Qt::RightDockWidgetArea);
    m_defaultState = saveState();

    connect(m_doc, &ProjectDocument::fileChanged, this, &MainWindow::updateTitle);
    connect(m_doc, &ProjectDocument::changed, this, [this] {
        ++m_revision;
        updateRunStatus();
    });
    connect(m_doc, &ProjectDocument::reset, this, [this] {
        updateRunStatus();
        forgetRuns();
        setRunDirs();
        QTimer::singleShot(0, m_view, &NetworkView::fitAll);
    });
    connect(m_scene, &NetworkScene::selectionRefsChanged, this, [this] {
        m_inspector->setSelection(m_scene->selectedRefs());
        const bool blocks = !m_scene->selectedBlocks().empty();
        m_deleteAct->setEnabled(blocks && !m_locked);
        m_duplicateAct->setEnabled(blocks && !m_locked);
    });
    connect(m_scene, &NetworkScene::message, this, [this](const QString& t) {
        m_messages->addNote(t);
        statusBar()->showMessage(t, 5000);
    });
    connect(m_messages, &MessagesPanel::itemRequested, this, [this](const ItemRef& r) {
        if (r.kind == ItemRef::Model) {
            m_scene->clearSelection();
            m_inspector->setSelection({r});
        } else m_scene->select(r);
        m_inspectorDock->raise();
    });
    connect(m_messages, &MessagesPanel::countsChanged, this, [this](int problems, int alerts) {
        m_statusProblems->setText(problems == 0 ? tr("✔ valid") : tr("✖ %n problem(s)", nullptr, problems));
        m_statusProblems->setStyleSheet(problems == 0 ? QString() : QStringLiteral("color: %1;").arg(canvasColors().cardInvalid.name()));
        m_messagesDock->setWindowTitle(problems + alerts == 0 ? tr("Messages") : tr("Messages (%1)").arg(problems + alerts));
    });
    connect(m_inspector, &Inspector::status, this, [this](const QString& t) { statusBar()->showMessage(t, 3000); });

    connect(m_training, &TrainingController::statusChanged, this, &MainWindow::onStatus);
    connect(m_training, &TrainingController::snapshot, this, &MainWindow::onSnapshot);
    connect(m_training, &TrainingController::runStarted, this, [this](const QString& path) {
        m_run->beginLive(path);
        startLiveDashboards();
        statusBar()->showMessage(tr("Training run %1").arg(QFileInfo(path).completeBaseName()), 3000);
    });
    connect(m_training, &TrainingController::runEnded, this, [this](const RunStatus& s) {
        statusBar()->clearMessage();  // the permanent label says how the run ended
        m_run->rescanRuns();
#ifdef MOE_STUDIO_CLUSTER_BUILT
        if (m_planner) m_planner->refresh();  // the new run can feed the planner's routing
#endif
        if (s.state == RunStatus::Failed) {
            m_messages->addNote(tr("Training failed: %1").arg(s.message));
            m_messagesDock->raise();
        }
    });
    connect(m_run, &RunPanel::trainRequested, this, [this] {
        QString err;
        if (!train(0, &err)) reportError(tr("Cannot train"), err);
    });
    connect(m_run, &RunPanel::pauseRequested, m_training, &TrainingController::pause);
    connect(m_run, &RunPanel::resumeRequested, m_training, &TrainingController::resume);
    connect(m_run, &RunPanel::stopRequested, m_training, &TrainingController::stop);
    connect(m_run, &RunPanel::speedChanged, m_training, &TrainingController::setSpeed);
    connect(m_run, &RunPanel::stepRequested, this, [this](int n) {
        if (m_training->hasTrainer()) m_training->step(n);
        else {
            QString err;
            if (!train(n, &err)) reportError(tr("Cannot train"), err);
        }
    });
    connect(m_run, &RunPanel::replaySnapshot, this, &MainWindow::showSnapshotOnCanvas);
    connect(m_run, &RunPanel::runOpened, this, &MainWindow::showRunOnDashboards);
    connect(m_run, &RunPanel::replaySnapshot, this, &MainWindow::showReplayStepOnDashboards);
    connect(m_run, &RunPanel::message, this, [this](const QString& t) { m_messages->addNote(t); });

    connect(m_scenario, &ScenarioPanel::openRequested, this, [this](const QString& f) {
        if (!maybeSave()) return;
        QString err;
        if (!openFile(f, &err)) reportError(tr("Cannot open scenario"), err);
    });
    connect(m_scenario, &ScenarioPanel::runStepRequested, this, [this](int index) {
        const auto& sc = m_doc->project().scenario;
        if (!sc || index < 0 || index >= static_cast<int>(sc->steps.size())) return;
        const auto st = sc->steps[static_cast<size_t>(index)];
        bool restart = !m_training->hasTrainer();
        if (!st.edits.is_null() && !st.edits.empty()) {
            m_training->stop();
            setEditingLocked(false);
            const QString why = m_doc->applyScenarioEdits(st.edits);
            if (!why.isEmpty()) return reportError(tr("This scenario step cannot be applied"), why);
            restart = true;
        }
        if (st.compareRuns) {
            QString err;
            m_scenario->setBusy(false, compareLatestRuns(&err) ? m_run->comparisonText() : err);
        }
        if (st.trainSteps <= 0) return;
        m_scenarioTraining = true;
        m_scenario->setBusy(true, tr("Training %1 steps…").arg(st.trainSteps));
        QString err;
        if (restart) {
            if (!train(st.trainSteps, &err)) {
                m_scenarioTraining = false;
                m_scenario->setBusy(false, err);
                return;
            }
        } else m_training->step(st.trainSteps);
    });
    connect(m_scenario, &ScenarioPanel::resetRequested, this, &MainWindow::resetScenario);
    connect(m_scenario, &ScenarioPanel::stepShown, this, &MainWindow::showScenarioStep);
    connect(m_training, &TrainingController::runStarted, this, [this](const QString& path) {
        if (m_scenarioTraining) m_scenarioRuns << path;
    });
    connect(m_training, &TrainingController::stepsDone, this, [this] {
        if (!m_scenarioTraining) return;
        m_scenarioTraining = false;
        m_scenario->setBusy(false, tr("Trained to step %1. Read what happened in the step text, then press Next.").arg(m_training->status().step));
    });
    connect(m_training, &TrainingController::runEnded, this, [this](const RunStatus& s) {
        if (!m_scenarioTraining) return;
        m_scenarioTraining = false;
        m_scenario->setBusy(false, s.state == RunStatus::Failed ? s.message : QString());
    });

    m_autosave.setInterval(5000);
    connect(&m_autosave, &QTimer::timeout, this, [this] {
        if (m_doc->isModified() && m_revision != m_autosavedRevision) autosaveNow();
    });
    m_autosave.start();

    statusBar()->addPermanentWidget(m_statusRun = new QLabel(this));
    m_statusRun->setObjectName(QStringLiteral("runStatus"));
    statusBar()->addPermanentWidget(m_statusProblems = new QLabel(this));
    setRunDirs();
    m_scenario->setExamples([] {
        QStringList l;
        for (const QFileInfo& fi : QDir(examplesDir()).entryInfoList({QStringLiteral("*.json")}, QDir::Files, QDir::Name)) l << fi.absoluteFilePath();
        return l;
    }());
    restoreSettings();
    m_messages->setAlerts({});
    updateTitle();
    onStatus(m_training->status());
}

MainWindow::~MainWindow() {
    // Children die in creation order (the document first, the scene clears its items): nothing
    // may hear from them on the way out.
    for (QObject* o : std::initializer_list<QObject*>{m_doc->undoStack(), m_doc, m_training, m_scene}) o->blockSignals(true);
}

void MainWindow::buildDocks() {
    auto dock = [this](const QString& title, const char* name, QWidget* w, Qt::DockWidgetArea area) {
        auto* d = new QDockWidget(title, this);
        d->setObjectName(QString::fromLatin1(name));
        d->setWidget(w);
        addDockWidget(area, d);
        return d;
    };
    m_palette = new PaletteWidget(this);
    m_paletteDock = dock(tr("Palette"), "paletteDock", m_palette, Qt::LeftDockWidgetArea);
    m_scenario = new ScenarioPanel(m_doc, this);
    m_scenarioDock = dock(tr("Classroom guide"), "scenarioDock", m_scenario, Qt::LeftDockWidgetArea);
    m_inspector = new Inspector(m_doc, this);
    m_inspectorDock = dock(tr("Inspector"), "inspectorDock", m_inspector, Qt::RightDockWidgetArea);
    m_run = new RunPanel(this);
    m_runDock = dock(tr("Run"), "runDock", m_run, Qt::BottomDockWidgetArea);
    m_messages = new MessagesPanel(m_doc, this);
    m_messages->setMinimumWidth(240);  // alerts carry sentences: never a column of single words
    m_messagesDock = dock(tr("Messages"), "messagesDock", m_messages, Qt::BottomDockWidgetArea);
    m_dashDock = dock(tr("Dashboards"), "dashboardsDock", makeDashboardsWidget(this, &m_dash), Qt::RightDockWidgetArea);
#ifdef MOE_STUDIO_VIZ_BUILT
    if (m_dash) m_dash->setLightTheme(currentTheme() == Theme::Light);
#endif
    m_clusterDock = dock(tr("Cluster planner"), "clusterDock", makeClusterPlannerWidget(m_doc, this, &m_planner), Qt::RightDockWidgetArea);
    splitDockWidget(m_runDock, m_messagesDock, Qt::Horizontal);
    tabifyDockWidget(m_inspectorDock, m_dashDock);
    tabifyDockWidget(m_dashDock, m_clusterDock);
    m_inspectorDock->raise();
    m_scenarioDock->hide();
    // The dashboards need room for a heatmap, its axes and legend: raising their tab widens the
    // right-hand docks to about half the window when they are narrower (the user can narrow them).
    // The canvas column keeps room for the Run and Messages docks below it.
    connect(m_dashDock, &QDockWidget::visibilityChanged, this, [this](bool visible) {
        if (!visible || m_dashDock->isFloating()) return;
        int left = 0;
        for (QDockWidget* d : {m_paletteDock, m_scenarioDock})
            if (d->isVisible() && !d->isFloating() && dockWidgetArea(d) == Qt::LeftDockWidgetArea) left = std::max(left, d->width());
        const int target = std::min(width() * 48 / 100, width() - left - 820);
        if (m_dashDock->width() < target) resizeDocks({m_dashDock}, {target}, Qt::Horizontal);
    });

    connect(m_palette, &PaletteWidget::activated, this, [this](const QString& id) {
        if (m_locked) return;
        const auto sel = m_scene->selectedBlocks();
        const QString why = applyPaletteEntry(*m_doc, id, static_cast<int>(m_doc->blockIds().size()), sel.empty() ? 0 : sel.front());
        if (!why.isEmpty()) {
            m_messages->addNote(why);
            statusBar()->showMessage(why, 5000);
        }
    });
}

void MainWindow::applyClassroomSizes() {
    // Guide about a quarter, the dashboard over a third, the canvas the rest; the run dock's
    // charts below the canvas.
    const int w = std::max(width(), 1024);
    resizeDocks({m_scenarioDock, m_dashDock}, {std::clamp(w * 26 / 100, 300, 460), w * 40 / 100}, Qt::Horizontal);
    resizeDocks({m_runDock}, {height() * 34 / 100}, Qt::Vertical);
}

void MainWindow::applyDefaultDockSizes() {
    // Only meaningful once the window has its size.
    resizeDocks({m_paletteDock}, {210}, Qt::Horizontal);
    resizeDocks({m_inspectorDock}, {360}, Qt::Horizontal);
    resizeDocks({m_runDock, m_messagesDock}, {width() - 360, 360}, Qt::Horizontal);
    resizeDocks({m_runDock}, {height() * 38 / 100}, Qt::Vertical);
    if (m_classroom) applyClassroomSizes();
}

void MainWindow::buildActions() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    file->addAction(tr("&New"), QKeySequence::New, this, &MainWindow::newProject);
    file->addAction(tr("&Open…"), QKeySequence::Open, this, &MainWindow::openDialog);
    m_examplesMenu = file->addMenu(tr("Open &example"));
    m_recentMenu = file->addMenu(tr("Open &recent"));
    file->addSeparator();
    file->addAction(tr("&Save"), QKeySequence::Save, this, &MainWindow::save);
    file->addAction(tr("Save &as…"), QKeySequence::SaveAs, this, &MainWindow::saveAs);
    file->addSeparator();
    QMenu* exp = file->addMenu(tr("&Export"));
    auto exportTo = [this](const QString& title, const QString& suggested, const QString& filter,
                           bool (MainWindow::*fn)(const QString&, QString*)) {
        const QString f = QFileDialog::getSaveFileName(this, title, QDir::homePath() + QStringLiteral("/") + suggested, filter);
        if (f.isEmpty()) return;
        QString err;
        if ((this->*fn)(f, &err)) statusBar()->showMessage(tr("Exported %1").arg(f), 4000);
        else reportError(tr("Cannot export"), err);
    };
    exp->addAction(tr("&Canvas as PNG or SVG…"), this, [this, exportTo] {
        exportTo(tr("Export the canvas"), m_doc->displayName() + QStringLiteral(".svg"), tr("SVG (*.svg);;PNG (*.png)"), &MainWindow::exportCanvas);
    });
    exp->addAction(tr("&Dashboard as PNG…"), this, [this, exportTo] {
        exportTo(tr("Export the dashboard"), QStringLiteral("dashboard.png"), tr("PNG (*.png)"), &MainWindow::exportDashboard);
    });
    exp->addAction(tr("Opened run's tables as &CSV…"), this, [this] {
        const QString dir = QFileDialog::getExistingDirectory(this, tr("Folder for the CSV files"), QDir::homePath());
        if (dir.isEmpty()) return;
        QString err;
        if (exportRunCsv(dir, &err)) statusBar()->showMessage(tr("CSV files written to %1").arg(dir), 4000);
        else reportError(tr("Cannot export"), err);
    });
    exp->addAction(tr("Opened run as a &Markdown report…"), this, [this, exportTo] {
        exportTo(tr("Export a run report"), QStringLiteral("run-report.md"), tr("Markdown (*.md)"), &MainWindow::exportRunReport);
    });
    file->addSeparator();
    file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
    rebuildExamplesMenu();

    QMenu* edit = menuBar()->addMenu(tr("&Edit"));
    // Own actions rather than QUndoStack's: they must also stay off while training.
    QUndoStack* stack = m_doc->undoStack();
    m_undoAct = new QAction(tr("&Undo"), this);
    m_undoAct->setShortcut(QKeySequence::Undo);
    connect(m_undoAct, &QAction::triggered, this, [this, stack] {
        if (!m_locked) stack->undo();
    });
    m_redoAct = new QAction(tr("&Redo"), this);
    m_redoAct->setShortcut(QKeySequence::Redo);
    connect(m_redoAct, &QAction::triggered, this, [this, stack] {
        if (!m_locked) stack->redo();
    });
    auto updateUndo = [this, stack] {
        m_undoAct->setEnabled(!m_locked && stack->canUndo());
        m_redoAct->setEnabled(!m_locked && stack->canRedo());
        m_undoAct->setText(stack->canUndo() ? tr("&Undo %1").arg(stack->undoText()) : tr("&Undo"));
        m_redoAct->setText(stack->canRedo() ? tr("&Redo %1").arg(stack->redoText()) : tr("&Redo"));
    };
    connect(stack, &QUndoStack::indexChanged, this, updateUndo);
    connect(stack, &QUndoStack::cleanChanged, this, updateUndo);
    connect(this, &MainWindow::lockChanged, this, updateUndo);
    updateUndo();
    edit->addAction(m_undoAct);
    edit->addAction(m_redoAct);
    edit->addSeparator();
    m_deleteAct = edit->addAction(tr("&Delete blocks"), this, &MainWindow::deleteSelection);
    m_deleteAct->setShortcuts({QKeySequence::Delete, QKeySequence(Qt::Key_Backspace)});
    m_duplicateAct = edit->addAction(tr("D&uplicate blocks"), this, &MainWindow::duplicateSelection);
    m_duplicateAct->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_D));
    edit->addAction(tr("Select &all"), QKeySequence::SelectAll, this, [this] {
        for (QGraphicsItem* it : m_scene->items()) it->setSelected(dynamic_cast<NodeItem*>(it) != nullptr);
    });
    m_deleteAct->setEnabled(false);
    m_duplicateAct->setEnabled(false);

    m_viewMenu = menuBar()->addMenu(tr("&View"));
    m_viewMenu->addAction(tr("Zoom &in"), QKeySequence::ZoomIn, this, [this] { m_view->zoomBy(1.2); });
    m_viewMenu->addAction(tr("Zoom &out"), QKeySequence::ZoomOut, this, [this] { m_view->zoomBy(1 / 1.2); });
    m_viewMenu->addAction(tr("&Fit to view"), QKeySequence(Qt::CTRL | Qt::Key_0), this, [this] { m_view->fitAll(); });
    m_viewMenu->addSeparator();
    auto* themes = new QActionGroup(this);
    m_lightAct = m_viewMenu->addAction(tr("&Light theme"), this, [this] { setTheme(Theme::Light); });
    m_darkAct = m_viewMenu->addAction(tr("&Dark theme"), this, [this] { setTheme(Theme::Dark); });
    for (QAction* a : {m_lightAct, m_darkAct}) {
        a->setCheckable(true);
        themes->addAction(a);
    }
    m_classroomAct = m_viewMenu->addAction(tr("&Classroom mode"), this, [this](bool on) { setClassroom(on); });
    m_classroomAct->setCheckable(true);
    m_classroomAct->setShortcut(QKeySequence(Qt::Key_F11));
    m_viewMenu->addSeparator();
    for (QDockWidget* d : {m_paletteDock, m_inspectorDock, m_runDock, m_messagesDock, m_dashDock, m_clusterDock, m_scenarioDock})
        m_viewMenu->addAction(d->toggleViewAction());
    m_viewMenu->addAction(tr("&Reset layout"), this, [this] {
        restoreState(m_defaultState);
        setClassroom(m_classroom);
        applyDefaultDockSizes();
    });

    QMenu* run = menuBar()->addMenu(tr("&Run"));
    m_trainAct = run->addAction(tr("&Train"), this, [this] {
        QString err;
        if (!train(0, &err)) reportError(tr("Cannot train"), err);
    });
    m_trainAct->setShortcut(QKeySequence(Qt::Key_F5));
    m_pauseAct = run->addAction(tr("&Pause / resume"), this, [this] {
        if (m_training->status().state == RunStatus::Paused) m_training->resume();
        else m_training->pause();
    });
    m_pauseAct->setShortcut(QKeySequence(Qt::Key_F6));
    m_stepAct = run->addAction(tr("&Step 10"), this, [this] { Q_EMIT m_run->stepRequested(10); });
    m_stepAct->setShortcut(QKeySequence(Qt::Key_F10));
    m_stopAct = run->addAction(tr("S&top"), this, [this] { m_training->stop(); });
    m_stopAct->setShortcut(QKeySequence(Qt::SHIFT | Qt::Key_F5));

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    // Offline: the pages are built into the program.
    const std::pair<const char*, QString> pages[] = {{"guide", tr("&User guide")}, {"glossary", tr("&Glossary of metrics")},
                                                     {"shortcuts", tr("&Keyboard shortcuts")}};
    for (const auto& [page, title] : pages) {
        QAction* a = help->addAction(title, this, [this, page = QString::fromLatin1(page)] { showHelp(page); });
        a->setObjectName(QStringLiteral("help_") + QString::fromLatin1(page));
        if (QLatin1String(page) == QLatin1String("guide")) a->setShortcut(QKeySequence::HelpContents);
    }
    help->addSeparator();
    help->addAction(tr("&About MoE Studio"), this, [this] {
        QMessageBox::about(this, tr("About MoE Studio"),
                           tr("<b>MoE Studio %1</b><p>Design, train, watch and cost Mixture-of-Experts networks.</p>"
                              "<p>Canvas: drag blocks from the palette, drag a block sideways to reorder it, Ctrl+wheel to zoom, "
                              "middle button or Alt+drag to pan, Ctrl+0 to fit.</p>")
                               .arg(QCoreApplication::applicationVersion()));
    });

    auto* tb = addToolBar(tr("Main"));
    tb->setObjectName(QStringLiteral("mainToolbar"));
    tb->setMovable(false);
    tb->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    const QStyle* st = style();
    tb->addAction(st->standardIcon(QStyle::SP_FileIcon), tr("New"), this, &MainWindow::newProject);
    tb->addAction(st->standardIcon(QStyle::SP_DialogOpenButton), tr("Open"), this, &MainWindow::openDialog);
    tb->addAction(st->standardIcon(QStyle::SP_DialogSaveButton), tr("Save"), this, &MainWindow::save);
    tb->addSeparator();
    m_undoAct->setIcon(st->standardIcon(QStyle::SP_ArrowBack));
    m_redoAct->setIcon(st->standardIcon(QStyle::SP_ArrowForward));
    tb->addAction(m_undoAct);
    tb->addAction(m_redoAct);
    // The menu says what would be undone; on the toolbar that text (a whole path at times)
    // would push the other buttons about: icon only, the text in the tooltip.
    for (QAction* a : {m_undoAct, m_redoAct})
        if (auto* b = qobject_cast<QToolButton*>(tb->widgetForAction(a))) b->setToolButtonStyle(Qt::ToolButtonIconOnly);
    tb->addSeparator();
    tb->addAction(tr("Fit"), this, [this] { m_view->fitAll(); });
    tb->addSeparator();
    m_trainAct->setIcon(st->standardIcon(QStyle::SP_MediaPlay));
    tb->addAction(m_trainAct);
    m_stopAct->setIcon(st->standardIcon(QStyle::SP_MediaStop));
    tb->addAction(m_stopAct);
    tb->addSeparator();
    tb->addAction(m_classroomAct);
}

void MainWindow::restoreSettings() {
    QSettings s;
    restoreGeometry(s.value(QStringLiteral("window/geometry")).toByteArray());
    restoreState(s.value(QStringLiteral("window/state")).toByteArray());
    if (s.value(QStringLiteral("window/geometry")).isNull()) resize(1500, 920);
    if (s.value(QStringLiteral("window/state")).isNull()) QTimer::singleShot(0, this, &MainWindow::applyDefaultDockSizes);
    rebuildRecentMenu();
    (currentTheme() == Theme::Dark ? m_darkAct : m_lightAct)->setChecked(true);
}

void MainWindow::updateTitle() {
    setWindowTitle(tr("%1[*] — MoE Studio").arg(m_doc->displayName()));
    setWindowModified(m_doc->isModified());
}

QStringList MainWindow::recentFiles() const { return QSettings().value(QStringLiteral("recentFiles")).toStringList(); }

void MainWindow::updateRecent(const QString& path) {
    QStringList r = recentFiles();
    r.removeAll(path);
    r.prepend(path);
    while (r.size() > kMaxRecent) r.removeLast();
    QSettings().setValue(QStringLiteral("recentFiles"), r);
    rebuildRecentMenu();
}

void MainWindow::rebuildRecentMenu() {
    m_recentMenu->clear();
    const QStringList r = recentFiles();
    for (const QString& f : r) {
        m_recentMenu->addAction(QFileInfo(f).fileName() + QStringLiteral("  —  ") + QFileInfo(f).absolutePath(), this, [this, f] {
            if (!maybeSave()) return;
            QString err;
            if (!openFile(f, &err)) reportError(tr("Cannot open %1").arg(QFileInfo(f).fileName()), err);
        });
    }
    if (r.isEmpty()) m_recentMenu->addAction(tr("(none yet)"))->setEnabled(false);
    else {
        m_recentMenu->addSeparator();
        m_recentMenu->addAction(tr("Clear list"), this, [this] {
            QSettings().remove(QStringLiteral("recentFiles"));
            rebuildRecentMenu();
        });
    }
}

QString MainWindow::examplesDir() {
    const QString env = qEnvironmentVariable("MOE_STUDIO_PROJECTS");
    if (!env.isEmpty() && QDir(env).exists()) return env;
    const QString installed = QCoreApplication::applicationDirPath() + QStringLiteral("/../share/moe-studio/projects");
    if (QDir(installed).exists()) return QDir(installed).canonicalPath();
#ifdef MOE_STUDIO_SOURCE_PROJECTS
    if (QDir(QStringLiteral(MOE_STUDIO_SOURCE_PROJECTS)).exists()) return QStringLiteral(MOE_STUDIO_SOURCE_PROJECTS);
#endif
    return {};
}

void MainWindow::rebuildExamplesMenu() {
    m_examplesMenu->clear();
    const QDir d(examplesDir());
    const auto files = examplesDir().isEmpty() ? QFileInfoList() : d.entryInfoList({QStringLiteral("*.json")}, QDir::Files, QDir::Name);
    for (const QFileInfo& fi : files) {
        const QString f = fi.absoluteFilePath();
        m_examplesMenu->addAction(fi.completeBaseName(), this, [this, f] {
            if (!maybeSave()) return;
            QString err;
            if (!openFile(f, &err)) reportError(tr("Cannot open example"), err);
        });
    }
    if (files.isEmpty()) m_examplesMenu->addAction(tr("(no example projects found)"))->setEnabled(false);
}

void MainWindow::reportError(const QString& title, const QString& text) {
    spdlog::warn("studio: {}: {}", title.toStdString(), text.toStdString());
    m_messages->addNote(title + QStringLiteral(": ") + text);
    if (m_interactive) QMessageBox::warning(this, title, text);
}

bool MainWindow::openFile(const QString& path, QString* error) {
    if (!m_doc->open(path, error)) return false;  // a new project forgets the old one's runs (forgetRuns)
    // An older file brought up to date on load: say what changed (saving keeps the new form).
    for (const auto& d : m_doc->project().migrations) m_messages->addNote(QString::fromStdString(d.format()));
    updateRecent(m_doc->filePath());
    return true;
}

QString MainWindow::declinedText() { return tr("not saved: the model has problems"); }

bool MainWindow::saveTo(const QString& path, QString* error) {
    if (isShippedExample(path)) {
        if (error) *error = tr("%1 is a shipped example and stays as shipped: save your copy in another folder.").arg(path);
        return false;
    }
    if (m_interactive && !m_doc->problems().empty()) {
        // The loader refuses projects with problems: say so before writing one.
        const auto& first = m_doc->problems().front().diagnostic;
        const auto answer = QMessageBox::warning(
            this, tr("Save a project with problems?"),
            tr("The model has %n problem(s), for example:\n\n%1\n\nMoE Studio and the moe command will not open the file "
               "until they are fixed. Save anyway?", nullptr, static_cast<int>(m_doc->problems().size()))
                .arg(QString::fromStdString(first.path + ": " + first.message)),
            QMessageBox::Save | QMessageBox::Cancel, QMessageBox::Cancel);
        if (answer != QMessageBox::Save) {
            if (error) *error = declinedText();
            return false;
        }
    }
    if (!m_doc->save(path, error)) return false;
    m_recovery->discard();
    updateRecent(m_doc->filePath());
    setRunDirs();
    return true;
}

bool MainWindow::maybeSave() {
    if (!m_doc->isModified()) return true;
    if (!m_interactive) return true;
    const auto answer = QMessageBox::warning(this, tr("Unsaved changes"),
                                             tr("%1 has unsaved changes. Save them first?").arg(m_doc->displayName()),
                                             QMessageBox::Save | QMessageBox::Discard | QMessageBox::Cancel, QMessageBox::Save);
    if (answer == QMessageBox::Cancel) return false;
    if (answer == QMessageBox::Save) return save();
    return true;
}

void MainWindow::newProject() {
    if (!maybeSave()) return;
    m_doc->newProject();
}

void MainWindow::openDialog() {
    if (!maybeSave()) return;
    const QString start = m_doc->filePath().isEmpty() ? examplesDir() : QFileInfo(m_doc->filePath()).absolutePath();
    const QString f = QFileDialog::getOpenFileName(this, tr("Open project"), start, tr(kFileFilter));
    if (f.isEmpty()) return;
    QString err;
    if (!openFile(f, &err)) reportError(tr("Cannot open %1").arg(QFileInfo(f).fileName()), err);
}

bool MainWindow::isShippedExample(const QString& path) {
    const QString dir = examplesDir();
    if (dir.isEmpty() || path.isEmpty()) return false;
    const QString shipped = QFileInfo(dir).canonicalFilePath();
    return !shipped.isEmpty() && QFileInfo(QFileInfo(path).absolutePath()).canonicalFilePath() == shipped;
}

void MainWindow::resetScenario() {
    forgetRuns();
    m_scenarioRuns.clear();
    m_doc->resetScenario();
    m_scenario->setCurrentStep(0);
    m_scenario->setBusy(false);
}

bool MainWindow::save() {
    if (m_doc->filePath().isEmpty()) return saveAs();
    const QString target = m_doc->filePath();
    // The shipped examples stay as shipped: saving one asks where the copy goes.
    if (isShippedExample(target) || !QFileInfo(QFileInfo(target).absolutePath()).isWritable()) return saveAs();
    QString err;
    if (!saveTo(target, &err)) {
        if (err == declinedText()) return false;
        reportError(tr("Cannot save"), err);
        return false;
    }
    statusBar()->showMessage(tr("Saved %1").arg(target), 4000);
    return true;
}

bool MainWindow::saveAs() {
    const QString current = m_doc->filePath();
    const QString suggested = current.isEmpty()               ? QDir::homePath() + QStringLiteral("/untitled.json")
                              : isShippedExample(current) ? QDir::homePath() + QStringLiteral("/") + QFileInfo(current).fileName()
                                                          : current;
    QString f = QFileDialog::getSaveFileName(this, tr("Save project as"), suggested,
                                             tr(kFileFilter));
    if (f.isEmpty()) return false;
    if (QFileInfo(f).suffix().isEmpty()) f += QStringLiteral(".json");
    QString err;
    if (!saveTo(f, &err)) {
        if (err == declinedText()) return false;
        reportError(tr("Cannot save"), err);
        return false;
    }
    return true;
}

bool MainWindow::autosaveNow() {
    QString err;
    if (!m_recovery->write(m_doc->project(), m_doc->filePath(), &err)) {
        spdlog::warn("studio: autosave failed: {}", err.toStdString());
        return false;
    }
    m_autosavedRevision = m_revision;
    return true;
}

void MainWindow::offerRecovery() {
    const auto orphans = RecoveryStore::orphans(QFileInfo(m_recovery->filePath()).absolutePath());
    for (const auto& o : orphans) {
        const QString what = o.originalPath.isEmpty() ? tr("an untitled project") : QFileInfo(o.originalPath).fileName();
        QMessageBox box(QMessageBox::Question, tr("Recover unsaved work?"),
                        tr("MoE Studio did not close properly last time. Unsaved changes to %1 from %2 were kept.")
                            .arg(what, o.savedAt.toLocalTime().toString(QStringLiteral("yyyy-MM-dd hh:mm:ss"))),
                        QMessageBox::NoButton, this);
        auto* recover = box.addButton(tr("Recover"), QMessageBox::AcceptRole);
        box.addButton(tr("Discard"), QMessageBox::DestructiveRole);
        auto* later = box.addButton(tr("Decide later"), QMessageBox::RejectRole);
        box.exec();
        if (box.clickedButton() == static_cast<QAbstractButton*>(later)) continue;
        if (box.clickedButton() == static_cast<QAbstractButton*>(recover)) {
            auto r = RecoveryStore::read(o.file);
            if (!r.ok()) {
                reportError(tr("Cannot recover"), tr("The recovery file %1 does not read back: %2").arg(o.file, QString::fromStdString(r.message())));
                continue;
            }
            m_doc->adopt(r.value(), o.originalPath);
            autosaveNow();
        }
        RecoveryStore::remove(o.file);
        if (box.clickedButton() == static_cast<QAbstractButton*>(recover)) break;
    }
}

void MainWindow::deleteSelection() {
    if (m_locked) return;
    const auto ids = m_scene->selectedBlocks();
    if (!ids.empty()) m_doc->removeBlocks(ids);
}

void MainWindow::duplicateSelection() {
    if (m_locked) return;
    const auto created = m_doc->duplicateBlocks(m_scene->selectedBlocks());
    if (created.size() == 1) m_scene->select({ItemRef::Block, created.front()});
}

QDialog* MainWindow::showHelp(const QString& page) {
    QFile f(QStringLiteral(":/moe-studio/help/%1.html").arg(page));
    if (!f.open(QIODevice::ReadOnly)) {
        reportError(tr("No help page"), tr("The help page \"%1\" is not part of this build.").arg(page));
        return nullptr;
    }
    auto* dlg = findChild<QDialog*>(QStringLiteral("helpDialog"));
    if (!dlg) {
        dlg = new QDialog(this);
        dlg->setObjectName(QStringLiteral("helpDialog"));
        dlg->resize(720, 640);
        auto* v = new QVBoxLayout(dlg);
        auto* browser = new QTextBrowser(dlg);
        browser->setOpenLinks(false);
        v->addWidget(browser);
    }
    auto* browser = dlg->findChild<QTextBrowser*>();
    browser->setHtml(QString::fromUtf8(f.readAll()));
    dlg->setWindowTitle(browser->documentTitle().isEmpty() ? tr("MoE Studio help") : browser->documentTitle());
    dlg->show();
    dlg->raise();
    return dlg;
}

void MainWindow::setTheme(Theme t) {
    applyTheme(*qApp, t, m_classroom);
    QSettings().setValue(QStringLiteral("theme"), themeName(t));
    (t == Theme::Dark ? m_darkAct : m_lightAct)->setChecked(true);
    m_run->applyTheme();
#ifdef MOE_STUDIO_VIZ_BUILT
    if (m_dash) m_dash->setLightTheme(t == Theme::Light);
#endif
    m_scene->rebuild();
    m_scene->update();
}

void MainWindow::setClassroom(bool on) {
    const bool was = m_classroom;
    m_classroom = on;
    m_classroomAct->setChecked(on);
    applyTheme(*qApp, currentTheme(), on);
    m_palette->setClassroom(on);
    m_inspector->setClassroom(on);
    m_run->setClassroom(on);
    m_run->applyTheme();
    // Classroom: a presenter layout for a projector: the guide, the model and one large
    // dashboard (the one the step talks about); editing tools stay one click away (View menu).
    if (on && !was) m_layoutBeforeClassroom = saveState();
#ifdef MOE_STUDIO_VIZ_BUILT
    // Fonts half as large again on a projector-sized window, a quarter on a laptop's.
    if (m_dash) m_dash->setPresenter(on, width() >= 1500 ? 1.5f : 1.25f);
#endif
    // The guide runs the full height on the left; the run dock sits under the canvas only.
    setCorner(Qt::BottomLeftCorner, on ? Qt::LeftDockWidgetArea : Qt::BottomDockWidgetArea);
    if (on) {
        m_scenarioDock->setVisible(true);
        for (QDockWidget* d : {m_paletteDock, m_inspectorDock, m_clusterDock, m_messagesDock}) d->setVisible(false);
        m_dashDock->setVisible(true);
        m_dashDock->raise();
        applyClassroomSizes();
        showScenarioStep(m_scenario->currentStep());
    } else if (was) {
        if (!m_layoutBeforeClassroom.isEmpty()) restoreState(m_layoutBeforeClassroom);
        m_scenarioDock->setVisible(false);
    }
    m_scene->rebuild();
    QTimer::singleShot(0, m_view, &NetworkView::fitAll);
}

void MainWindow::closeEvent(QCloseEvent* e) {
    if (!maybeSave()) {
        e->ignore();
        return;
    }
    m_training->stop();
    QSettings s;
    s.setValue(QStringLiteral("window/geometry"), saveGeometry());
    s.setValue(QStringLiteral("window/state"), saveState());
    s.setValue(QStringLiteral("classroom"), m_classroom);
    // Closing on purpose: whatever was not saved was declined.
    m_recovery->discard();
    e->accept();
}

}  // namespace moe::studio
