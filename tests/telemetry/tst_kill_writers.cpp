// Crash safety of every writer: a child process writes without pause and is killed with SIGKILL
// at a random moment, again and again (seeded, so a failure can be replayed). After each kill:
//  - the run store opens, passes `pragma integrity_check`, has no gap in its steps and holds every
//    step the writer had reported committed (at most the interval being written is lost);
//  - a file written by writeFileAtomic — saved projects, the studio's autosave, catalog overlays,
//    exported configs and checkpoints all go through it — is either absent (killed before the
//    first write finished) or exactly one of the versions written, never a mix or a stub.
#include <QtTest>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "moe/cluster/calibrate.h"
#include "moe/cluster/catalog.h"
#include "moe/spec/atomic_file.h"
#include "moe/spec/project_io.h"
#include "moe/telemetry/run_store.h"

using namespace moe::telemetry;
namespace fs = std::filesystem;

namespace {

constexpr int kKills = 50;

SnapshotPtr snapshot(std::int64_t step) {
    auto s = std::make_shared<RoutingSnapshot>();
    s->step = step;
    s->loss = 1.0 / static_cast<double>(step);
    for (int b = 0; b < 4; ++b) {
        BlockSnapshot bs;
        bs.block = b;
        bs.experts = bs.ffnExperts = 64;
        bs.tokens = 4096;
        for (int e = 0; e < 64; ++e) {
            bs.tokensPerExpert.push_back(static_cast<double>(step + e));
            bs.meanGateProb.push_back(1.0 / 64);
        }
        s->blocks.push_back(std::move(bs));
    }
    return s;
}

// Reads every number the child wrote to the pipe before it died; returns the last (0: none).
std::int64_t lastReported(int fd) {
    std::int64_t last = 0, v = 0;
    while (::read(fd, &v, sizeof v) == static_cast<ssize_t>(sizeof v)) last = v;
    return last;
}

// Forks a child that runs `work(reportFd)` for ever; once it has reported `after` numbers (so the
// kill lands at a random point of the work whatever this machine's speed), waits `delayUs` more
// and kills it. Returns the last number it reported.
template <class Work>
std::int64_t runAndKill(Work work, std::int64_t after, int delayUs) {
    int fds[2];
    if (::pipe(fds) != 0) qFatal("pipe failed");
    const pid_t child = ::fork();
    if (child < 0) qFatal("fork failed");
    if (child == 0) {
        ::close(fds[0]);
        work(fds[1]);
        _exit(0);
    }
    ::close(fds[1]);
    std::int64_t last = 0, v = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (last < after && std::chrono::steady_clock::now() < deadline && ::read(fds[0], &v, sizeof v) == static_cast<ssize_t>(sizeof v)) last = v;
    std::this_thread::sleep_for(std::chrono::microseconds(delayUs));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    const std::int64_t rest = lastReported(fds[0]);
    ::close(fds[0]);
    if (!WIFSIGNALED(status)) qFatal("the writer ended by itself (status %d)", status);
    return std::max(last, rest);
}

void report(int fd, std::int64_t v) {
    if (::write(fd, &v, sizeof v) != static_cast<ssize_t>(sizeof v)) _exit(4);
}

std::string integrity(const std::string& path) {
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
        sqlite3_close(db);
        return "cannot open";
    }
    std::string out;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "pragma integrity_check", -1, &st, nullptr) == SQLITE_OK)
        while (sqlite3_step(st) == SQLITE_ROW) out += reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

}  // namespace

class TestKillWriters : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void runStoreSurvivesFiftyKills() {
        QTemporaryDir dir;
        std::mt19937 rng(20261203);
        // Killed after 0 to 20 committed steps, 0 to 3 ms into the next: from creating the file to
        // well into the run.
        std::uniform_int_distribution<int> after(0, 20), delay(0, 3000);
        int withSteps = 0;
        for (int i = 0; i < kKills; ++i) {
            const std::string path = (dir.path() + "/killed" + QString::number(i) + ".sqlite").toStdString();
            const std::int64_t committed = runAndKill(
                [&](int fd) {
                    auto w = RunWriter::create(path, {});
                    if (!w.ok()) _exit(3);
                    for (std::int64_t s = 1;; ++s) {
                        w.value()->append(snapshot(s));
                        w.value()->flush();  // one telemetry interval committed
                        report(fd, s);
                    }
                },
                after(rng), delay(rng));
            if (!fs::exists(path)) {
                QCOMPARE(committed, std::int64_t(0));  // killed before the store was created
                continue;
            }
            const std::string check = integrity(path);
            QVERIFY2(check == "ok" || committed == 0, qPrintable(QString("kill %1: integrity_check says %2").arg(i).arg(QString::fromStdString(check))));
            auto r = RunReader::open(path);
            if (!r.ok()) {
                // Killed while the writer was still creating its tables: nothing was committed.
                QVERIFY2(committed == 0, qPrintable(QString("kill %1 after step %2: %3").arg(i).arg(committed).arg(QString::fromStdString(r.message()))));
                continue;
            }
            const auto& snaps = r.value()->snapshots();
            QVERIFY2(static_cast<std::int64_t>(snaps.size()) >= committed,
                     qPrintable(QString("kill %1: %2 steps reported committed, %3 in the store").arg(i).arg(committed).arg(snaps.size())));
            for (size_t k = 0; k < snaps.size(); ++k) {
                QCOMPARE(snaps[k]->step, static_cast<std::int64_t>(k + 1));
                QCOMPARE(snaps[k]->blocks.size(), size_t(4));
                QCOMPARE(snaps[k]->blocks.back().tokensPerExpert.back(), static_cast<double>(snaps[k]->step + 63));
            }
            withSteps += committed > 0;
        }
        // The kills must land across the run, not all before the first step.
        QVERIFY2(withSteps >= kKills / 2, qPrintable(QString("only %1 of %2 kills came after a committed step").arg(withSteps).arg(kKills)));
    }

    void atomicWritesAreOldOrNewNeverPartial_data() {
        QTest::addColumn<QString>("what");
        QTest::newRow("saved project") << "project";
        QTest::newRow("catalog overlay") << "overlay";
    }

    void atomicWritesAreOldOrNewNeverPartial() {
        QFETCH(QString, what);
        // Two real versions of the file, as the program writes them.
        std::string a, b;
        if (what == "project") {
            auto p = moe::spec::loadProject(MOE_SOURCE_DIR "/projects/llm_h100.json");
            QVERIFY2(p.ok(), p.message().c_str());
            a = moe::spec::serializeProject(p.value());
            auto q = p.value();
            q.training.batch += 1;
            q.model.name += " (edited)";
            b = moe::spec::serializeProject(q);
        } else {
            auto cat = moe::cluster::Catalog::loadDefault();
            QVERIFY2(cat.ok(), cat.message().c_str());
            auto rc = cat.value().resolve("hgx-h100", "--cluster");
            QVERIFY2(rc.ok(), rc.message().c_str());
            std::string log;
            std::string err;
            QVERIFY(moe::spec::readFile(MOE_SOURCE_DIR "/tests/data/cluster/h100-4gpu-allreduce-dudeperf3ct-lambda.txt", log, err));
            auto table = moe::cluster::parseNcclTests(log, "h100-4gpu.txt");
            QVERIFY2(table.ok(), table.message().c_str());
            auto c = moe::cluster::calibrate(table.value(), rc.value(), moe::cluster::CollectiveOp::AllReduce, 4);
            QVERIFY2(c.ok(), c.message().c_str());
            a = moe::cluster::calibrationOverlay(c.value(), "h100-4gpu.txt", "hgx-h100");
            b = moe::cluster::calibrationOverlay(c.value(), "h100-4gpu-second-run.txt", "hgx-h100");
        }
        QVERIFY(a != b && !a.empty() && !b.empty());
        QTemporaryDir dir;
        const std::string path = (dir.path() + "/target.json").toStdString();
        std::mt19937 rng(7);
        std::uniform_int_distribution<int> after(0, 6), delay(0, 2000);
        int replaced = 0;
        for (int i = 0; i < kKills; ++i) {
            const std::int64_t writes = runAndKill(
                [&](int fd) {
                    for (std::int64_t n = 1;; ++n) {
                        if (!moe::spec::writeFileAtomic(path, n % 2 ? a : b).empty()) _exit(3);
                        report(fd, n);
                    }
                },
                after(rng), delay(rng));
            std::string now, err;
            if (!fs::exists(path)) {
                QCOMPARE(writes, std::int64_t(0));
                continue;
            }
            QVERIFY(moe::spec::readFile(path, now, err));
            QVERIFY2(now == a || now == b, qPrintable(QString("kill %1: the file is %2 bytes, neither version").arg(i).arg(now.size())));
            replaced += writes > 1;
        }
        QVERIFY2(replaced >= kKills / 2, qPrintable(QString("only %1 of %2 kills came during replacements").arg(replaced).arg(kKills)));
        // Kills between creating a temporary file and the rename leave it behind; the next save
        // removes those older than a minute, and keeps the folder otherwise as it was.
        auto temporaries = [&] {
            std::vector<fs::path> out;
            for (const auto& f : fs::directory_iterator(dir.path().toStdString()))
                if (f.path().filename() != "target.json") out.push_back(f.path());
            return out;
        };
        const auto orphans = temporaries();
        QVERIFY(!orphans.empty());  // most kills land inside a write
        for (const auto& t : orphans) fs::last_write_time(t, fs::file_time_type::clock::now() - std::chrono::minutes(2));
        const std::string fresh = (dir.path() + "/.target.json.tmp-AbC123").toStdString();  // another writer's, just made
        QCOMPARE(QString::fromStdString(moe::spec::writeFileAtomic(fresh, "in progress")), QString());
        QCOMPARE(QString::fromStdString(moe::spec::writeFileAtomic(path, a)), QString());
        const auto left = temporaries();
        QVERIFY2(left.size() == 1 && left[0] == fresh, qPrintable(QString("%1 files besides the target").arg(left.size())));
    }

    // A full disk (a per-process file size limit, as the run store's test uses) and a folder that
    // cannot be written: a clear message naming the file and the cause, and the old file intact.
    void failedWritesSayWhyAndKeepTheOldFile() {
        QTemporaryDir dir;
        const std::string path = (dir.path() + "/project.json").toStdString();
        const std::string old = "{\"model\": {}}\n";
        QCOMPARE(QString::fromStdString(moe::spec::writeFileAtomic(path, old)), QString());
        int fds[2];
        QVERIFY(::pipe(fds) == 0);
        const pid_t child = ::fork();
        QVERIFY(child >= 0);
        if (child == 0) {
            ::close(fds[0]);
            ::signal(SIGXFSZ, SIG_IGN);
            rlimit lim{4096, 4096};
            ::setrlimit(RLIMIT_FSIZE, &lim);
            const std::string e = moe::spec::writeFileAtomic(path, std::string(100000, 'x'));
            if (::write(fds[1], e.data(), e.size()) < 0) _exit(4);
            _exit(0);
        }
        ::close(fds[1]);
        std::string message;
        char buf[512];
        for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) message.append(buf, static_cast<size_t>(n));
        ::close(fds[0]);
        int status = 0;
        ::waitpid(child, &status, 0);
        QVERIFY2(message.find("cannot write " + path) != std::string::npos && message.find("File too large") != std::string::npos, message.c_str());
        std::string now, err;
        QVERIFY(moe::spec::readFile(path, now, err));
        QCOMPARE(QString::fromStdString(now), QString::fromStdString(old));
        int leftovers = 0;
        for (const auto& f : fs::directory_iterator(dir.path().toStdString())) leftovers += f.path().filename() != "project.json";
        QCOMPARE(leftovers, 0);  // the temporary file is removed
        // A folder that cannot hold the file (its "folder" is a file).
        const std::string blocked = path + "/inside.json";
        const std::string e = moe::spec::writeFileAtomic(blocked, old);
        QVERIFY2(e.find("cannot create a temporary file in " + path) != std::string::npos && e.find("Not a directory") != std::string::npos, e.c_str());
    }
};

QTEST_GUILESS_MAIN(TestKillWriters)
#include "tst_kill_writers.moc"
