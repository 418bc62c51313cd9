#pragma once
// The studio's main window: canvas in the middle, docks around it (palette, inspector, run,
// messages, dashboards, cluster planner, classroom guide), menus, settings and autosave.

#include <QMainWindow>
#include <QPointer>
#include <QElapsedTimer>
#include <QTimer>

#include <memory>

#include "document.h"
#include "launch_options.h"
#include "moe/telemetry/run_store.h"
#include "moe/telemetry/snapshot.h"
#include "recovery.h"
#include "training_controller.h"

class QAction;
class QDialog;
class QDockWidget;
class QLabel;
class QMenu;

namespace moe::viz {
class DashboardWindow;
}

namespace moe::studio {

class ClusterPlanner;
class Inspector;
class MessagesPanel;
class NetworkScene;
class NetworkView;
class PaletteWidget;
class RunPanel;
class ScenarioPanel;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    // `recoveryDir` empty: the default; `interactive` false: no dialogs (scripted runs, tests).
    explicit MainWindow(bool interactive = true, const QString& recoveryDir = {});
    ~MainWindow() override;

    ProjectDocument* document() { return m_doc; }
    NetworkScene* scene() { return m_scene; }
    NetworkView* view() { return m_view; }
    Inspector* inspector() { return m_inspector; }
    MessagesPanel* messages() { return m_messages; }
    RunPanel* runPanel() { return m_run; }
    ClusterPlanner* planner() { return m_planner; }  // nullptr in builds without core/cluster
    moe::viz::DashboardWindow* dashboards() { return m_dash; }  // nullptr without Vulkan
    TrainingController* training() { return m_training; }
    RecoveryStore* recovery() { return m_recovery.get(); }

    // Opens a project; on failure the current one stays and `error` holds the loader's message.
    bool openFile(const QString& path, QString* error);
    bool saveTo(const QString& path, QString* error);
    void setClassroom(bool on);
    bool classroom() const { return m_classroom; }
    void setTheme(Theme t);
    // Writes the recovery file now (the timer does this every few seconds).
    bool autosaveNow();
    // Interactive start: offers to recover work a crashed session left behind.
    void offerRecovery();
    // Starts training the current project; `steps` > 0 trains that many and pauses.
    bool train(int steps, QString* error);
    // What training the current project would take in memory against what this machine has
    // available now: empty when it fits, else the refusal `moe train` gives. Shown in the Run panel.
    QString trainingMemoryRefusal();
    // Whether the current project can start training here, the one answer the Train action, the
    // Run panel and the status bar give: the engine, then the model's problems, then memory.
    struct TrainVerdict {
        enum Kind { Ready, NoEngine, Problems, TooBig };
        Kind kind = Ready;
        QString why;  // empty when Ready: what the Train action refuses with
    };
    TrainVerdict trainVerdict();
    QString runDir() const;
    QStringList recentFiles() const;
    static QString examplesDir();
    // Whether `path` is one of the shipped example projects (read-only to the studio).
    static bool isShippedExample(const QString& path);
    // Where a project's runs live: the per-user data folder, one folder per project file.
    static QString runDirFor(const QString& projectPath);
    // Classroom: back to the scenario as shipped, at its first step, with no run shown.
    void resetScenario();
    // The latest run beside the one before it (the scenario's runs first, else the two newest
    // in the run folder): the run dock's curves and the dashboards. False with `error` when
    // there are not two runs.
    bool compareLatestRuns(QString* error);

    // Exports (File > Export): the canvas as PNG or SVG (by the file's suffix), the dashboard dock
    // as PNG, the opened run's tables as CSV files in a folder, the opened run as a Markdown
    // report. False with `error` naming the file or what is missing.
    bool exportCanvas(const QString& path, QString* error);
    bool exportDashboard(const QString& path, QString* error);
    bool exportRunCsv(const QString& folder, QString* error);
    bool exportRunReport(const QString& path, QString* error);

    // Opens a page of the built-in help ("guide", "glossary", "shortcuts") in a help window.
    QDialog* showHelp(const QString& page);

    // Raises a right-hand dock by name: "cluster", "dashboards" or "inspector" (--dock).
    void raiseDock(const QString& name);

    // Scripted launch: open, train, screenshot, quit. Returns the process exit code via `done`.
    void runScript(const LaunchOptions& o);

Q_SIGNALS:
    void scriptFinished(int exitCode);
    void lockChanged(bool locked);

protected:
    void closeEvent(QCloseEvent* e) override;

private:
    void buildDocks();
    void buildActions();
    void updateTitle();
    void updateRecent(const QString& path);
    void rebuildRecentMenu();
    void rebuildExamplesMenu();
    bool maybeSave();
    static QString declinedText();
    void newProject();
    void openDialog();
    bool save();
    bool saveAs();
    void deleteSelection();
    void duplicateSelection();
    void onSnapshot(const moe::telemetry::SnapshotPtr& s);
    void showSnapshotOnCanvas(const moe::telemetry::SnapshotPtr& s);
    void onStatus(const RunStatus& s);
    // The status bar's run label: the run's state, or when idle the train verdict.
    void updateRunStatus();
    void setEditingLocked(bool locked);
    void reportError(const QString& title, const QString& text);
    void takeScreenshot(const QString& path);
    bool grabWindowTo(const QString& path);
    void playScenario(const LaunchOptions& o);
    void restoreSettings();
    void applyDefaultDockSizes();
    void applyClassroomSizes();
    void setRunDirs();
    // Replay: a past run opened in the Run panel and its slider's step, on the dashboards.
    void showRunOnDashboards(const std::shared_ptr<const moe::telemetry::RunReader>& reader);
    void showReplayStepOnDashboards(const moe::telemetry::SnapshotPtr& s);
    // A new live run: the dashboards drop a replayed run and follow the trainer again.
    void startLiveDashboards();
    // The run dock's opened run with its compared run, side by side on the dashboards.
    void showComparisonOnDashboards();
    // A project change: the run, charts, dashboards, tints and alerts of the previous project go.
    void forgetRuns();
    // A scenario step became current: the dashboard it names goes up.
    void showScenarioStep(int index);

    bool m_interactive;
    ProjectDocument* m_doc;
    NetworkScene* m_scene;
    NetworkView* m_view;
    PaletteWidget* m_palette = nullptr;
    Inspector* m_inspector = nullptr;
    MessagesPanel* m_messages = nullptr;
    RunPanel* m_run = nullptr;
    ClusterPlanner* m_planner = nullptr;
    ScenarioPanel* m_scenario = nullptr;
    TrainingController* m_training;
    QDockWidget *m_paletteDock = nullptr, *m_inspectorDock = nullptr, *m_runDock = nullptr, *m_messagesDock = nullptr,
                *m_dashDock = nullptr, *m_clusterDock = nullptr, *m_scenarioDock = nullptr;
    QMenu *m_recentMenu = nullptr, *m_examplesMenu = nullptr, *m_viewMenu = nullptr;
    QAction *m_undoAct = nullptr, *m_redoAct = nullptr, *m_deleteAct = nullptr, *m_duplicateAct = nullptr;
    QAction *m_classroomAct = nullptr, *m_lightAct = nullptr, *m_darkAct = nullptr;
    QAction *m_trainAct = nullptr, *m_pauseAct = nullptr, *m_stepAct = nullptr, *m_stopAct = nullptr;
    QLabel* m_statusProblems = nullptr;
    QLabel* m_statusRun = nullptr;
    std::unique_ptr<RecoveryStore> m_recovery;
    QTimer m_autosave;
    int m_revision = 0;
    int m_autosavedRevision = 0;
    bool m_classroom = false;
    bool m_locked = false;
    bool m_scenarioTraining = false;  // the guide is waiting for its step's training
    QStringList m_scenarioRuns;       // run stores the guide's steps trained, oldest first
    moe::telemetry::SnapshotPtr m_pendingSnapshot;
    moe::viz::DashboardWindow* m_dash = nullptr;  // live dashboards, when Vulkan is there
    bool m_dashReplay = false;  // the dashboards show a past run, not the trainer's
    QByteArray m_defaultState;
    QElapsedTimer m_sinceLaunch;  // the scripted scenario's clock
    QByteArray m_layoutBeforeClassroom;
};

}  // namespace moe::studio
