#pragma once
// Drives moe::train::Trainer for the studio. The trainer runs on its own thread; building it
// (which loads data) and tearing it down also happen off the UI thread. The UI polls with a
// timer and never waits. Without the training engine (MOE_HAS_TRAINER unset) every request
// answers with a clear "not built" message.

#include <QObject>
#include <QString>
#include <QElapsedTimer>
#include <QTimer>
#include <QProcess>
#include <QStringList>

#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "moe/spec/project.h"
#include "moe/telemetry/snapshot.h"

namespace moe::telemetry {
class RunReader;
}

namespace moe::studio {

struct RunStatus {
    enum State { Idle, Preparing, Running, Paused, Finished, Stopped, Failed };
    State state = Idle;
    qint64 step = 0;
    qint64 totalSteps = 0;
    double loss = 0;
    double accuracy = 0;
    double testAccuracy = -1;
    double tokensPerSecond = 0;
    QString device;                 // where it trains: "cpu" or "cuda:N"
    QString twin;                   // "trains a twin of the model: ..." when the project sets one
    double etaSeconds = -1;
    QString message;
    int ranks = 1;                  // processes training: more than 1 is a `moe train --nproc` run beside the studio
    bool active() const { return state == Preparing || state == Running || state == Paused; }
};

QString stateName(RunStatus::State s);

class TrainingController : public QObject {
    Q_OBJECT
public:
    explicit TrainingController(QObject* parent = nullptr);
    ~TrainingController() override;

    static bool engineAvailable();
    static QString engineMissingText();

    // A fresh run of `project` writing its run store into `runDir`. `steps` > 0: train exactly
    // that many steps and pause; 0: train to the planned end.
    void start(const moe::spec::Project& project, const QString& runDir, int steps = 0);
    // A fresh run of `project` on `ranks` local processes: `moe train --nproc N [--ep N]` started
    // beside the studio (the project as it is now, written next to the run store), followed through
    // its run store. `projectDir` resolves the project's relative files. stop() stops every rank
    // after the same step (as Ctrl-C does); pause and step do not apply.
    void startRanks(const moe::spec::Project& project, const QString& projectDir, const QString& runDir, int ranks, bool expertParallel);
    // The `moe` command the studio starts: $MOE_CLI, else `moe` next to the studio, in the build
    // tree's app/cli, or on PATH; empty when there is none.
    static QString moeExecutable();
    void pause();
    void resume();
    void step(int n);   // continues a paused run by n steps
    void stop();
    // Drops the current run without a word: the trainer stops and is torn down off the UI thread
    // (its run store keeps what it wrote), no further snapshot or status of it arrives, and the
    // status returns to Idle. For a project change: nothing of the old run may reach the new one.
    void discard();
    // Pace: at most this many steps per second (0: as fast as it goes). Slow runs let a class
    // watch experts take over or die one step at a time.
    void setSpeed(double stepsPerSecond);
    double speed() const { return m_speed; }

    const RunStatus& status() const { return m_status; }
    QString runStorePath() const { return m_runPath; }
    moe::telemetry::SnapshotPtr latest() const { return m_latest; }
    bool hasTrainer() const;

Q_SIGNALS:
    void statusChanged(const moe::studio::RunStatus& status);
    void snapshot(moe::telemetry::SnapshotPtr snapshot);
    void runStarted(const QString& runStorePath);
    void runEnded(const moe::studio::RunStatus& status);  // finished, stopped or failed
    void stepsDone();                                     // a step(n) / start(project, dir, n) completed

private:
    void poll();
    void pollRanks();
    void rankOutput();
    void ranksEnded(int exitCode, bool crashed);
    void retire();
    void setStatus(RunStatus s);

    struct Engine;
    std::unique_ptr<Engine> m_engine;
    std::vector<std::thread> m_retiring;  // trainers being torn down off the UI thread
    std::shared_ptr<int> m_generation;    // guards build results that arrive after a stop
    QTimer m_poll;
    RunStatus m_status;
    QString m_runPath;
    moe::telemetry::SnapshotPtr m_latest;
    bool m_stepping = false;
    double m_speed = 0;
    bool m_paced = false;       // running at m_speed by issuing step(n) chunks
    QElapsedTimer m_paceClock;
    double m_paceDebt = 0;      // steps owed to the pace
    // A run on several ranks: the launcher process, its run store as it grows, the project copy.
    QProcess* m_ranks = nullptr;
    std::shared_ptr<moe::telemetry::RunReader> m_follow;
    QString m_rankProject;
    QByteArray m_rankOut;       // stdout not yet split into lines
    QStringList m_rankErr;      // the last lines of stderr
    bool m_stopAsked = false;
};

}  // namespace moe::studio

Q_DECLARE_METATYPE(moe::studio::RunStatus)
Q_DECLARE_METATYPE(moe::telemetry::SnapshotPtr)
