#include "training_controller.h"

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QPointer>
#include <QRegularExpression>
#include <QStandardPaths>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <deque>

#include <spdlog/spdlog.h>

#include "moe/spec/atomic_file.h"
#include "moe/spec/handover.h"
#include "moe/spec/project_io.h"
#include "moe/telemetry/run_store.h"
#ifdef MOE_HAS_TRAINER
#include "moe/train/trainer.h"
#endif

namespace moe::studio {

QString stateName(RunStatus::State s) {
    switch (s) {
        case RunStatus::Idle: return QObject::tr("idle");
        case RunStatus::Preparing: return QObject::tr("preparing data and model");
        case RunStatus::Running: return QObject::tr("training");
        case RunStatus::Paused: return QObject::tr("paused");
        case RunStatus::Finished: return QObject::tr("finished");
        case RunStatus::Stopped: return QObject::tr("stopped");
        case RunStatus::Failed: return QObject::tr("failed");
    }
    return {};
}

namespace {
// Ctrl-C to a launcher started in a process group of its own and to its ranks.
void interruptGroup(const QProcess& p) {
    const auto pid = static_cast<pid_t>(p.processId());
    if (pid > 0) ::kill(-pid, SIGINT);
}
}  // namespace

struct TrainingController::Engine {
#ifdef MOE_HAS_TRAINER
    std::unique_ptr<moe::train::Trainer> trainer;
#endif
    std::mutex mutex;
    std::deque<moe::telemetry::SnapshotPtr> queue;  // filled on the trainer thread
    qint64 stepTarget = -1;                           // step(n): where it pauses
};

TrainingController::TrainingController(QObject* parent) : QObject(parent) {
    qRegisterMetaType<moe::studio::RunStatus>();
    qRegisterMetaType<moe::telemetry::SnapshotPtr>();
    m_poll.setInterval(100);
    connect(&m_poll, &QTimer::timeout, this, &TrainingController::poll);
}

TrainingController::~TrainingController() {
    m_poll.stop();
    retire();
    if (m_ranks) {
        // The ranks stop together after their step; the launcher waits for them.
        m_ranks->disconnect(this);
        interruptGroup(*m_ranks);
        m_ranks->waitForFinished(30000);
    }
    for (auto& t : m_retiring)
        if (t.joinable()) t.join();
}

bool TrainingController::engineAvailable() {
#ifdef MOE_HAS_TRAINER
    return true;
#else
    return false;
#endif
}

QString TrainingController::engineMissingText() {
    return tr("The training engine is not built in this copy of MoE Studio (the moe_train library was not "
              "available when it was compiled), so the network can be designed and checked but not trained here.");
}

QString TrainingController::moeExecutable() {
    const QString env = qEnvironmentVariable("MOE_CLI");
    if (!env.isEmpty()) return QFileInfo(env).isExecutable() ? env : QString();
    const QString dir = QCoreApplication::applicationDirPath();
    for (const QString& c : {dir + QStringLiteral("/moe"), dir + QStringLiteral("/../cli/moe")})
        if (QFileInfo(c).isExecutable()) return QFileInfo(c).absoluteFilePath();
    return QStandardPaths::findExecutable(QStringLiteral("moe"));
}

void TrainingController::startRanks(const moe::spec::Project& project, const QString& projectDir, const QString& runDir, int ranks,
                                    bool expertParallel) {
    m_poll.stop();
    retire();
    m_latest.reset();
    m_follow.reset();
    m_rankOut.clear();
    m_rankErr.clear();
    m_stopAsked = false;
    RunStatus s;
    s.ranks = ranks;
    const auto fail = [&](const QString& why) {
        s.state = RunStatus::Failed;
        s.message = why;
        setStatus(s);
        Q_EMIT runEnded(m_status);
    };
    if (m_ranks) return fail(tr("a run on several ranks is still stopping; wait for it to end"));
    const QString moe = moeExecutable();
    if (moe.isEmpty())
        return fail(tr("cannot find the 'moe' command to start %1 ranks (looked next to the studio and on PATH; MOE_CLI names it)").arg(ranks));
    QDir().mkpath(runDir);
    const QString id = QString::fromStdString(moe::telemetry::newRunId());
    m_runPath = QDir(runDir).filePath(id + QStringLiteral(".sqlite"));
    // The ranks read the project as it is in the studio now, saved or not.
    m_rankProject = QDir(runDir).filePath(id + QStringLiteral(".project.json"));
    if (auto e = moe::spec::writeFileAtomic(m_rankProject.toStdString(), moe::spec::serializeProject(project)); !e.empty())
        return fail(tr("cannot write the project for the ranks to %1: %2").arg(m_rankProject, QString::fromStdString(e)));
    QStringList args{QStringLiteral("train"), m_rankProject, QStringLiteral("--nproc"), QString::number(ranks), QStringLiteral("--ep"),
                     QString::number(expertParallel ? ranks : 1), QStringLiteral("--out"), m_runPath, QStringLiteral("--plain"),
                     QStringLiteral("--no-checkpoint")};
    if (!projectDir.isEmpty()) args << QStringLiteral("--project-dir") << projectDir;
    m_ranks = new QProcess(this);
    // A process group of its own: stop() sends it Ctrl-C, which the launcher passes over and every
    // rank takes as "stop after this step", as on a terminal.
    m_ranks->setChildProcessModifier([] { ::setpgid(0, 0); });
    connect(m_ranks, &QProcess::readyReadStandardOutput, this, &TrainingController::rankOutput);
    connect(m_ranks, &QProcess::readyReadStandardError, this, [this] {
        for (const QString& line : QString::fromUtf8(m_ranks->readAllStandardError()).split(QLatin1Char('\n'), Qt::SkipEmptyParts)) {
            m_rankErr << line.trimmed();
            while (m_rankErr.size() > 6) m_rankErr.removeFirst();
        }
    });
    connect(m_ranks, &QProcess::finished, this, [this](int code, QProcess::ExitStatus st) { ranksEnded(code, st == QProcess::CrashExit); });
    connect(m_ranks, &QProcess::errorOccurred, this, [this](QProcess::ProcessError e) {
        if (e == QProcess::FailedToStart) ranksEnded(-1, true);
    });
    s.state = RunStatus::Preparing;
    s.totalSteps = project.training.steps.value_or(0);
    setStatus(s);
    spdlog::info("studio: starting {} {}", moe.toStdString(), args.join(QLatin1Char(' ')).toStdString());
    m_ranks->start(moe, args);
    Q_EMIT runStarted(m_runPath);
    m_poll.setInterval(250);
    m_poll.start();
}

void TrainingController::rankOutput() {
    m_rankOut += m_ranks->readAllStandardOutput();
    // Plain progress lines: "step 8/40  epoch 0.50  loss 0.8627  acc 68.5%  ...".
    static const QRegularExpression progress(QStringLiteral(R"(^step (\d+)/(\d+)\s.*loss ([0-9.naif]+)\s+acc ([0-9.]+)%)"));
    int nl;
    while ((nl = m_rankOut.indexOf('\n')) >= 0) {
        const QString line = QString::fromUtf8(m_rankOut.left(nl)).trimmed();
        m_rankOut.remove(0, nl + 1);
        const auto m = progress.match(line);
        if (!m.hasMatch()) continue;
        RunStatus s = m_status;
        if (s.state == RunStatus::Preparing) s.state = RunStatus::Running;
        s.step = m.captured(1).toLongLong();
        s.totalSteps = m.captured(2).toLongLong();
        s.loss = m.captured(3).toDouble();
        s.accuracy = m.captured(4).toDouble() / 100.0;
        setStatus(s);
    }
}

void TrainingController::pollRanks() {
    if (!m_follow) {
        if (!QFileInfo::exists(m_runPath)) return;
        auto r = moe::telemetry::RunReader::open(m_runPath.toStdString());
        if (!r) return;  // rank 0 is still creating it
        m_follow = std::move(r.value());
        RunStatus s = m_status;
        s.device = QStringLiteral("cpu");
        if (s.state == RunStatus::Preparing) s.state = RunStatus::Running;
        setStatus(s);
        for (const auto& snap : m_follow->snapshots()) {
            m_latest = snap;
            Q_EMIT snapshot(snap);
        }
        return;
    }
    const size_t before = m_follow->snapshots().size();
    if (m_follow->refresh() <= 0) return;
    const auto& all = m_follow->snapshots();
    for (size_t i = before; i < all.size(); ++i) {
        m_latest = all[i];
        Q_EMIT snapshot(all[i]);
    }
    if (m_latest) {
        RunStatus s = m_status;
        s.testAccuracy = m_latest->testAccuracy >= 0 ? m_latest->testAccuracy : s.testAccuracy;
        s.tokensPerSecond = m_latest->tokensPerSecond;
        setStatus(s);
    }
}

void TrainingController::ranksEnded(int exitCode, bool crashed) {
    if (!m_ranks) return;
    pollRanks();  // the last snapshots
    RunStatus s = m_status;
    if (exitCode == 0 && !crashed) {
        s.state = m_stopAsked ? RunStatus::Stopped : RunStatus::Finished;
        s.message = m_stopAsked ? tr("stopped by request") : QString();
    } else {
        s.state = RunStatus::Failed;
        s.message = m_rankErr.isEmpty() ? (crashed ? tr("moe train --nproc %1 could not start or crashed").arg(s.ranks)
                                                   : tr("moe train --nproc %1 exited with status %2").arg(s.ranks).arg(exitCode))
                                        : m_rankErr.join(QLatin1Char(' '));
    }
    s.etaSeconds = 0;
    m_poll.stop();
    m_ranks->deleteLater();
    m_ranks = nullptr;
    m_follow.reset();
    QFile::remove(m_rankProject);
    spdlog::info("studio: run {} on {} ranks {} at step {}", m_runPath.toStdString(), s.ranks, stateName(s.state).toStdString(), s.step);
    setStatus(s);
    Q_EMIT runEnded(m_status);
}

bool TrainingController::hasTrainer() const {
#ifdef MOE_HAS_TRAINER
    return m_engine && m_engine->trainer;
#else
    return false;
#endif
}

void TrainingController::setStatus(RunStatus s) {
    m_status = std::move(s);
    Q_EMIT statusChanged(m_status);
}

void TrainingController::retire() {
    m_generation.reset();
    if (!m_engine) return;
    // ~Trainer joins its thread; let that happen away from the UI.
    m_retiring.emplace_back([e = std::move(m_engine)]() mutable {
#ifdef MOE_HAS_TRAINER
        if (e->trainer) e->trainer->stop();
#endif
        e.reset();
    });
}

void TrainingController::start(const moe::spec::Project& project, const QString& runDir, int steps) {
    m_poll.stop();
    retire();
    m_latest.reset();
    if (!engineAvailable()) {
        RunStatus s;
        s.state = RunStatus::Failed;
        s.message = engineMissingText();
        setStatus(s);
        Q_EMIT runEnded(m_status);
        return;
    }
    QDir().mkpath(runDir);
    m_runPath = QDir(runDir).filePath(QString::fromStdString(moe::telemetry::newRunId()) + QStringLiteral(".sqlite"));
    RunStatus s;
    s.state = RunStatus::Preparing;
    setStatus(s);
    auto generation = std::make_shared<int>(0);
    m_generation = generation;
    std::weak_ptr<int> alive = generation;
    m_engine = std::make_unique<Engine>();
#ifdef MOE_HAS_TRAINER
    const std::string runPath = m_runPath.toStdString();
    // Building loads the data set: do it off the UI thread, hand the trainer back queued.
    m_retiring.emplace_back([this, project, runPath, steps, alive] {
        moe::train::TrainerOptions opts;
        opts.runStorePath = runPath;
        opts.background = true;  // the UI keeps its frames on time while training uses the cores
        auto built = std::make_shared<moe::spec::Result<std::unique_ptr<moe::train::Trainer>>>(moe::train::Trainer::create(project, opts));
        moe::spec::handOver();
        QMetaObject::invokeMethod(this, [this, built, steps, alive] {
            moe::spec::takeOver();
            if (alive.expired() || !m_engine) return;  // stopped or restarted meanwhile; the result is dropped here
            if (!built->ok()) {
                RunStatus f;
                f.state = RunStatus::Failed;
                f.message = QString::fromStdString(built->message());
                m_engine.reset();
                setStatus(f);
                Q_EMIT runEnded(m_status);
                return;
            }
            m_engine->trainer = std::move(built->value());
            Engine* e = m_engine.get();
            m_engine->trainer->setSnapshotCallback([e](moe::telemetry::SnapshotPtr snap) {
                std::lock_guard<std::mutex> lock(e->mutex);
                e->queue.push_back(std::move(snap));
            });
            if (steps > 0) {
                m_engine->stepTarget = steps;
                m_stepping = true;
                if (m_speed > 0) {
                    m_paced = true;
                    m_paceDebt = 0;
                    m_paceClock.start();
                } else m_engine->trainer->step(steps);
            } else if (m_speed > 0) {
                m_paced = true;
                m_paceDebt = 0;
                m_paceClock.start();
            } else m_engine->trainer->start();
            Q_EMIT runStarted(m_runPath);
            m_poll.start();
        }, Qt::QueuedConnection);
    });
#else
    (void)project;
    (void)steps;
#endif
}

void TrainingController::pause() {
    m_paced = false;
#ifdef MOE_HAS_TRAINER
    if (hasTrainer()) m_engine->trainer->pause();
#endif
}

void TrainingController::setSpeed(double stepsPerSecond) {
    m_speed = std::max(0.0, stepsPerSecond);
#ifdef MOE_HAS_TRAINER
    if (!hasTrainer()) return;
    if (m_paced && m_speed == 0) {
        m_paced = false;
        m_engine->trainer->resume();
    } else if (!m_paced && !m_stepping && m_speed > 0 && m_status.state == RunStatus::Running) {
        m_engine->trainer->pause();
        m_paced = true;
        m_paceDebt = 0;
        m_paceClock.restart();
    }
#endif
}

void TrainingController::resume() {
#ifdef MOE_HAS_TRAINER
    if (hasTrainer()) {
        m_stepping = false;
        if (m_speed > 0) {
            m_paced = true;
            m_paceDebt = 0;
            m_paceClock.restart();
        } else m_engine->trainer->resume();
        m_poll.start();
    }
#endif
}

void TrainingController::step(int n) {
#ifdef MOE_HAS_TRAINER
    if (!hasTrainer() || n <= 0) return;
    m_engine->stepTarget = m_engine->trainer->progress().step + n;
    m_stepping = true;
    // At a set pace the n steps come in chunks (poll); otherwise all at once.
    m_paced = m_speed > 0;
    if (m_paced) {
        m_paceDebt = 0;
        m_paceClock.restart();
    } else m_engine->trainer->step(n);
    m_poll.start();
#else
    (void)n;
#endif
}

void TrainingController::stop() {
    m_paced = false;
    if (m_ranks) {
        m_stopAsked = true;
        interruptGroup(*m_ranks);
        return;
    }
#ifdef MOE_HAS_TRAINER
    if (hasTrainer()) {
        m_engine->trainer->stop();
        m_poll.start();
        return;
    }
#endif
    if (m_status.state == RunStatus::Preparing) {
        retire();
        RunStatus s = m_status;
        s.state = RunStatus::Stopped;
        s.message = tr("stopped before training began");
        setStatus(s);
        Q_EMIT runEnded(m_status);
    }
}

void TrainingController::discard() {
    m_paced = false;
    if (m_ranks) {
        m_ranks->disconnect(this);
        interruptGroup(*m_ranks);
        m_ranks->setParent(nullptr);
        // The ranks stop after their step and keep their store; the process object and the
        // project copy go when they do.
        connect(m_ranks, &QProcess::finished, m_ranks, [p = m_ranks, copy = m_rankProject] {
            QFile::remove(copy);
            p->deleteLater();
        });
        m_ranks = nullptr;
        m_follow.reset();
    }
    m_stepping = false;
    m_poll.stop();
    retire();
    m_latest.reset();
    m_runPath.clear();
    setStatus(RunStatus{});
}

void TrainingController::poll() {
    if (m_ranks) return pollRanks();
#ifdef MOE_HAS_TRAINER
    if (!hasTrainer()) return m_poll.stop();
    std::deque<moe::telemetry::SnapshotPtr> fresh;
    {
        std::lock_guard<std::mutex> lock(m_engine->mutex);
        fresh.swap(m_engine->queue);
    }
    for (auto& s : fresh) {
        m_latest = s;
        Q_EMIT snapshot(s);
    }
    const moe::train::Progress p = m_engine->trainer->progress();
    RunStatus s;
    using TS = moe::train::TrainerState;
    switch (p.state) {
        case TS::Idle: s.state = RunStatus::Paused; break;
        case TS::Running: s.state = RunStatus::Running; break;
        case TS::Paused: s.state = RunStatus::Paused; break;
        case TS::Finished: s.state = RunStatus::Finished; break;
        case TS::Stopped: s.state = RunStatus::Stopped; break;
        case TS::Failed: s.state = RunStatus::Failed; break;
    }
    s.step = p.step;
    s.totalSteps = p.totalSteps;
    s.loss = p.loss;
    s.accuracy = p.accuracy;
    s.testAccuracy = p.testAccuracy;
    s.tokensPerSecond = p.tokensPerSecond;
    s.device = QString::fromStdString(p.device);
    s.twin = QString::fromStdString(p.twin);
    s.etaSeconds = p.etaSeconds;
    s.message = QString::fromStdString(p.message);
    if (m_paced && (p.state == TS::Paused || p.state == TS::Idle)) {
        if (m_stepping && p.step >= m_engine->stepTarget) {
            m_paced = false;  // a paced step(n) is complete: the run rests, paused
        } else {
            // Paced run: between chunks the trainer rests; to the user it is running.
            s.state = RunStatus::Running;
            m_paceDebt = std::min(m_paceDebt + m_paceClock.restart() / 1000.0 * m_speed, std::max(1.0, m_speed / 2));
            int n = static_cast<int>(m_paceDebt);
            if (m_stepping) n = static_cast<int>(std::min<qint64>(n, m_engine->stepTarget - p.step));
            if (n >= 1) {
                m_paceDebt -= n;
                m_engine->trainer->step(n);
            }
        }
    }
    setStatus(s);
    const bool ended = s.state == RunStatus::Finished || s.state == RunStatus::Stopped || s.state == RunStatus::Failed;
    if (m_stepping && (ended || (s.state == RunStatus::Paused && s.step >= m_engine->stepTarget))) {
        m_stepping = false;
        Q_EMIT stepsDone();
    }
    if (ended) {
        m_poll.stop();
        spdlog::info("studio: run {} {} at step {}", m_runPath.toStdString(), stateName(s.state).toStdString(), s.step);
        retire();
        Q_EMIT runEnded(m_status);
    } else if (s.state == RunStatus::Paused && !m_stepping && !m_paced) {
        m_poll.setInterval(250);  // nothing moves; keep an eye out for resume from elsewhere
    } else m_poll.setInterval(100);
#endif
}

}  // namespace moe::studio
