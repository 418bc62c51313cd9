#pragma once
// The run panel: train / pause / step / stop, progress with ETA, loss and accuracy curves (Qt
// Charts), and the project's past runs: reopen one, compare two, replay one step by step.

#include <QWidget>

#include <functional>
#include <memory>

#include "moe/telemetry/run_store.h"
#include "moe/telemetry/snapshot.h"
#include "training_controller.h"

class QChart;
class QChartView;
class QComboBox;
class QLabel;
class QLineSeries;
class QProgressBar;
class QPushButton;
class QSlider;
class QSpinBox;
class QValueAxis;
class QLogValueAxis;
class QCheckBox;

namespace moe::studio {

struct CurveSet;
// A round tick interval (1, 2, 2.5 or 5 x 10^k, at least 1) giving at most `maxTicks` ticks over `range`.
double niceStep(double range, int maxTicks);
// The pace a classroom starts at: slow enough to watch experts die, quick enough for a lesson.
inline constexpr double kClassroomSpeed = 50.0;

class RunPanel : public QWidget {
    Q_OBJECT
public:
    explicit RunPanel(QWidget* parent = nullptr);
    ~RunPanel() override;

    void setRunDir(const QString& dir);  // where the project's runs live; rescans
    void rescanRuns();
    // Forgets every run shown (live, opened, compared) and the status: a project change.
    void clear();
    void setStatus(const RunStatus& s);
    // The memory verdict for the current project, the same `moe train` gives: the estimate goes in
    // the Train button's tooltip; a refusal (empty when it fits) shows as a warning under the
    // progress bar.
    void setMemoryVerdict(const QString& estimate, const QString& refusal);
    QString memoryWarning() const;
    void beginLive(const QString& runPath);
    void addSnapshot(const moe::telemetry::SnapshotPtr& s);
    void applyTheme();
    void setClassroom(bool on);
    // Picks a training pace (steps per second, 0: full speed) as if chosen in the list.
    void setSpeed(double stepsPerSecond);
    double speed() const;
    // Local ranks a fresh run trains on (1: in the studio; more: `moe train --nproc N` beside it)
    // and whether they split the experts (expert parallel) or only the batch.
    int ranks() const;
    bool expertParallel() const;
    void setRanks(int n, bool expertParallel);

    // Past runs (also used by tests and the scripted launch).
    bool openRun(const QString& path, QString* error);
    bool compareRun(const QString& path, QString* error);
    // The same, reading the run store on a worker thread (a long run takes a while to read); the
    // newest request wins, errors go to message(). The run pickers use these.
    void openRunAsync(const QString& path);
    void compareRunAsync(const QString& path);
    std::shared_ptr<const moe::telemetry::RunReader> openedRun() const { return m_opened; }
    std::shared_ptr<const moe::telemetry::RunReader> comparedRun() const { return m_compared; }
    // Names and annotates the opened run (stored in its run store); false with `error` otherwise.
    bool labelOpenedRun(const QString& name, const QString& notes, QString* error);
    // What differs between the projects two runs trained, one "path: before → after" line each
    // (JSON paths as in validation messages). Empty when they trained the same project.
    static QStringList projectDiff(const std::string& beforeJson, const std::string& afterJson);
    // The diff of the opened and the compared run, as shown under the charts.
    QString comparisonText() const;
    // How a run is listed: its name when it has one, then its id.
    static QString runLabel(const moe::telemetry::RunInfo& info);
    int liveCurvePoints() const;
    // The loss chart's points of the live/opened run: task loss, and the weighted aux + z apart.
    QList<QPointF> liveTaskLoss() const;
    QList<QPointF> liveBalancingLoss() const;
    // The loss chart's y axis: linear (default) or log10. A curve with a zero or negative value
    // (an unused balancing loss) cannot be drawn on a log scale and is hidden while it is on.
    void setLossLogScale(bool on);
    bool lossLogScale() const;
    bool lossCurveShown(int which) const;  // 0: task loss, 1: balancing losses (live run)
    int compareCurvePoints() const;

Q_SIGNALS:
    void trainRequested();
    void pauseRequested();
    void resumeRequested();
    void stepRequested(int n);
    void stopRequested();
    void speedChanged(double stepsPerSecond);  // 0: full speed
    // A past run was opened (before its first replaySnapshot).
    void runOpened(std::shared_ptr<const moe::telemetry::RunReader> reader);
    void replaySnapshot(moe::telemetry::SnapshotPtr s);  // the replay slider moved
    void message(const QString& text);

private:
    void updateTrainTip();
    void resetCurves(CurveSet& c);
    void ensureCurves(CurveSet& c);
    void appendPoint(CurveSet& c, const moe::telemetry::RoutingSnapshot& s);
    void fitAxes();
    void updateButtons();
    void showOpened(std::shared_ptr<moe::telemetry::RunReader> reader);
    void showCompared(std::shared_ptr<moe::telemetry::RunReader> reader);
    void updateDiff();
    bool isOpened(const QString& path) const;
    using ReaderResult = moe::spec::Result<std::shared_ptr<moe::telemetry::RunReader>>;
    // Opens `path` off the UI thread and calls `done` on the UI thread unless this panel is gone.
    void readRunAsync(const QString& path, std::function<void(const ReaderResult&)> done);

    QPushButton *m_train, *m_pause, *m_step, *m_stop;
    QSpinBox* m_stepCount;
    QSpinBox* m_ranks;
    QCheckBox* m_expertParallel;
    QComboBox* m_speed;
    QProgressBar* m_progress;
    QLabel* m_stats;
    QLabel* m_memoryWarning;
    QString m_memoryEstimate;
    bool m_classroom = false;
    QLabel* m_state;
    QChart *m_lossChart, *m_accChart;
    QChartView *m_lossView, *m_accView;
    QValueAxis *m_lossX, *m_lossY, *m_accX, *m_accY;
    QLogValueAxis* m_lossLogY;  // the loss chart's y axis while "log scale" is on
    QCheckBox* m_logLoss;
    std::unique_ptr<CurveSet> m_live, m_compare;
    QWidget* m_history;  // past runs, compare and replay (hidden in classroom mode)
    QComboBox *m_runs, *m_compareRuns;
    QPushButton* m_label;
    QSlider* m_replay;
    QLabel* m_replayLabel;
    QLabel* m_diff;  // what changed between the opened and the compared run's projects
    QString m_runDir;
    std::shared_ptr<moe::telemetry::RunReader> m_opened, m_compared;
    RunStatus m_status;
    quint64 m_openRequest = 0, m_compareRequest = 0;
};

}  // namespace moe::studio
