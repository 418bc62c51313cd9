// Ranks on c10d/Gloo: `moe collective OP --measure --nproc 2` runs the real collective, checks its
// result, prints nccl-tests' table that `moe calibrate` reads; the launcher's errors and faults
// (busy port, wrong world size, too many ranks, a killed rank, a stopped rank) end every rank with a
// message naming the rank.
#include <QtTest/QtTest>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "moe/cluster/calibrate.h"
#include "moe_process.h"
#include "test_time.h"

namespace {

using moe_process::cleanEnv;
using moe_process::moeBinary;
using moe_process::Run;
using moe_process::runMoe;

// The data rows of a table: each row's words.
QList<QStringList> rows(const QString& text) {
    QList<QStringList> out;
    for (const QString& line : text.split('\n')) {
        if (line.trimmed().isEmpty() || line.trimmed().startsWith('#')) continue;
        out.push_back(line.split(' ', Qt::SkipEmptyParts));
    }
    return out;
}

// The launcher's children whose environment holds RANK=rank.
pid_t rankPid(qint64 launcher, int rank) {
    const QByteArray want = "RANK=" + QByteArray::number(rank);
    for (const QString& d : QDir("/proc").entryList(QDir::Dirs)) {
        bool num = false;
        d.toLongLong(&num);
        if (!num) continue;
        QFile stat("/proc/" + d + "/stat");
        if (!stat.open(QIODevice::ReadOnly)) continue;
        const QByteArray s = stat.readAll();
        const auto close = s.lastIndexOf(')');
        const QList<QByteArray> f = s.mid(close + 2).split(' ');
        if (f.size() < 2 || f[1].toLongLong() != launcher) continue;
        QFile env("/proc/" + d + "/environ");
        if (!env.open(QIODevice::ReadOnly)) continue;
        for (const QByteArray& kv : env.readAll().split('\0'))
            if (kv == want) return static_cast<pid_t>(d.toLongLong());
    }
    return 0;
}

}  // namespace

class TestDistributed : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() {
        if (!QFileInfo::exists(moeBinary())) QSKIP("the moe command is not built");
    }

    // all_reduce over 2 ranks: a table calibrate parses, 2 ranks, the sizes asked for, busbw =
    // algbw (factor 2(n-1)/n = 1), no wrong elements; `moe calibrate` fits it.
    void allReduceTableRoundTrip() {
        auto r = runMoe({"collective", "all_reduce", "--measure", "--nproc", "2", "--sizes", "4K,64K", "--warmup", "1", "--iters", "3"}, cleanEnv());
        QVERIFY2(r.code == 0, qPrintable(r.err));
        auto tables = moe::cluster::parseNcclTestsTables(r.out.toStdString(), "measured", false);
        QVERIFY2(tables.ok(), tables.message().c_str());
        QCOMPARE(tables->size(), size_t(1));
        const auto& t = tables->front();
        QCOMPARE(t.ranks, 2);
        QVERIFY(t.inPlaceColumns);
        QCOMPARE(t.points.size(), size_t(2));
        QCOMPARE(t.points[0].bytes, 4096.0);
        QCOMPARE(t.points[1].bytes, 65536.0);
        QCOMPARE(t.points[0].count, 1024LL);
        for (const auto& p : t.points) {
            QVERIFY(p.timeUs > 0);
            QVERIFY(qAbs(p.algbwGBs - p.bytes / p.timeUs * 1e-3) < 0.002 + 0.01 * p.algbwGBs);
            QCOMPARE(p.busbwGBs, p.algbwGBs);
        }
        for (const auto& row : rows(r.out)) QCOMPARE(row.back(), QString("0"));  // #wrong

        QTemporaryDir dir;
        const QString file = dir.filePath("allreduce.txt");
        QFile f(file);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(r.out.toUtf8());
        f.close();
        auto c = runMoe({"calibrate", file, "--cluster", "hgx-h100"}, cleanEnv());
        QVERIFY2(c.code == 0, qPrintable(c.err + c.out));
        QVERIFY2(c.out.contains("2 sizes (in-place), all_reduce on 2 GPUs"), qPrintable(c.out));
    }

    // Every collective Gloo has: its rows, its nccl-tests busbw factor and a checked result.
    void otherCollectives_data() {
        QTest::addColumn<QString>("op");
        QTest::addColumn<double>("factor");
        QTest::addColumn<QString>("group");
        QTest::newRow("all_gather") << "all_gather" << 0.5 << "out-of-place";
        QTest::newRow("alltoall") << "alltoall" << 0.5 << "out-of-place";
        QTest::newRow("broadcast") << "broadcast" << 1.0 << "in-place";
    }
    void otherCollectives() {
        QFETCH(QString, op);
        QFETCH(double, factor);
        QFETCH(QString, group);
        auto r = runMoe({"collective", op, "--measure", "--nproc", "2", "--sizes", "1000", "--warmup", "0", "--iters", "2"}, cleanEnv());
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY(r.out.contains(group));
        const auto rs = rows(r.out);
        QCOMPARE(rs.size(), 1);
        QCOMPARE(rs[0].size(), 9);
        QCOMPARE(rs[0][0], QString("1000"));  // 250 floats, a multiple of 2 ranks
        QCOMPARE(rs[0][1], QString("250"));
        QCOMPARE(rs[0][8], QString("0"));
        const double algbw = rs[0][6].toDouble();
        const double busbw = rs[0][7].toDouble();
        QVERIFY2(qAbs(busbw - algbw * factor) <= 0.0015, qPrintable(rs[0].join(' ')));
    }

    void errors_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("rank");
        QTest::addColumn<QString>("worldSize");
        QTest::addColumn<int>("code");
        QTest::addColumn<QString>("message");
        const QStringList base{"collective", "all_reduce", "--measure", "--sizes", "1K", "--iters", "1"};
        QTest::newRow("no nproc") << base << "" << "" << 2 << "--measure needs --nproc N";
        QTest::newRow("too many ranks") << (base + QStringList{"--nproc", "100000"}) << "" << "" << 2 << "logical cores";
        QTest::newRow("wrong world size") << (base + QStringList{"--nproc", "3"}) << "0" << "2" << 2 << "does not match WORLD_SIZE=2";
        QTest::newRow("rank outside") << base << "2" << "2" << 2 << "RANK=2 is outside 0..1";
        QTest::newRow("half an environment") << base << "0" << "" << 2 << "RANK and WORLD_SIZE must be set together";
        QTest::newRow("reduce_scatter") << QStringList{"collective", "reduce_scatter", "--measure", "--nproc", "2", "--sizes", "1K"} << "" << ""
                                        << 2 << "no reduce_scatter";
        QTest::newRow("model option") << (base + QStringList{"--nproc", "2", "--gpus", "8"}) << "" << "" << 2 << "--gpus belongs to the model";
    }
    void errors() {
        QFETCH(QStringList, args);
        QFETCH(QString, rank);
        QFETCH(QString, worldSize);
        QFETCH(int, code);
        QFETCH(QString, message);
        auto env = cleanEnv();
        if (!rank.isEmpty()) env.insert("RANK", rank);
        if (!worldSize.isEmpty()) env.insert("WORLD_SIZE", worldSize);
        auto r = runMoe(args, env);
        QCOMPARE(r.code, code);
        QVERIFY2(r.err.contains(message), qPrintable(r.err));
    }

    void busyPort() {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        QVERIFY(fd >= 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_ANY);
        socklen_t len = sizeof(a);
        QVERIFY(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 && ::listen(fd, 1) == 0);
        QVERIFY(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
        const QString port = QString::number(ntohs(a.sin_port));
        auto env = cleanEnv();
        env.insert("MASTER_PORT", port);
        auto r = runMoe({"collective", "all_reduce", "--measure", "--nproc", "2", "--sizes", "1K"}, env);
        ::close(fd);
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("MASTER_PORT " + port + " is busy"), qPrintable(r.err));
    }

    // A rank killed mid-run: the launcher names it and stops the other rank; no hang.
    void killedRank() { faultedRank(SIGKILL, "rank 1 (pid", "killed by signal 9"); }

    // A rank that hangs (stopped): the other times out in its collective and fails; the launcher
    // names it and stops the hung rank.
    void stoppedRank() { faultedRank(SIGSTOP, "rank 0 (pid", "stopping the other ranks: 1"); }

    // The launcher killed outright: its ranks end too (none left running on their own).
    void killedLauncher() {
        QProcess p;
        p.setProcessEnvironment(cleanEnv());
        p.start(moeBinary(), {"collective", "all_reduce", "--measure", "--nproc", "2", "--sizes", "4K", "--warmup", "0", "--iters", "1000000"});
        QVERIFY(p.waitForStarted(test_time::scaled(10000)));
        pid_t r0 = 0, r1 = 0;
        QElapsedTimer t;
        t.start();
        while ((!r0 || !r1) && t.elapsed() < test_time::scaled(10000) && p.state() == QProcess::Running) {
            QTest::qWait(100);
            r0 = rankPid(p.processId(), 0);
            r1 = rankPid(p.processId(), 1);
        }
        QVERIFY2(r0 > 0 && r1 > 0, "the ranks did not start");
        p.kill();
        QVERIFY(p.waitForFinished(test_time::scaled(10000)));
        t.restart();
        while ((running(r0) || running(r1)) && t.elapsed() < test_time::scaled(10000)) QTest::qWait(50);
        QVERIFY2(!running(r0) && !running(r1), "a rank outlived its launcher");
    }

private:
    // Alive and not a zombie waiting for its new parent to reap it.
    static bool running(pid_t pid) {
        QFile stat("/proc/" + QString::number(pid) + "/stat");
        if (!stat.open(QIODevice::ReadOnly)) return false;
        const QByteArray s = stat.readAll();
        const auto close = s.lastIndexOf(')');
        return close > 0 && s.size() > close + 2 && s[close + 2] != 'Z' && s[close + 2] != 'X';
    }

    void faultedRank(int sig, const QString& who, const QString& what) {
        QProcess p;
        p.setProcessEnvironment(cleanEnv());
        p.start(moeBinary(), {"collective", "all_reduce", "--measure", "--nproc", "2", "--sizes", "4K", "--warmup", "0", "--iters", "1000000",
                              "--timeout", "2"});
        QVERIFY(p.waitForStarted(test_time::scaled(10000)));
        pid_t victim = 0;
        QElapsedTimer t;
        t.start();
        while (!victim && t.elapsed() < test_time::scaled(10000) && p.state() == QProcess::Running) {
            QTest::qWait(100);
            victim = rankPid(p.processId(), 1);
        }
        QVERIFY2(victim > 0, "rank 1 did not start");
        QTest::qWait(500);  // let it join the group and run
        QVERIFY(p.state() == QProcess::Running);
        t.restart();
        ::kill(victim, sig);
        QVERIFY2(p.waitForFinished(test_time::scaled(30000)), "the launcher did not stop");
        const QString err = QString::fromUtf8(p.readAllStandardError());
        QCOMPARE(p.exitCode(), 1);
        QVERIFY2(err.contains(who) && err.contains(what), qPrintable(err));
        QVERIFY2(t.elapsed() < test_time::scaled(20000), "stopping took longer than the timeout allows");
        QVERIFY(!running(victim));  // no rank left behind
    }
};

QTEST_GUILESS_MAIN(TestDistributed)
#include "tst_distributed.moc"
