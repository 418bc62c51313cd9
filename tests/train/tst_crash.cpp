// `kill -9` a training `moe train` mid-run: the run store stays readable and holds every snapshot
// committed before the kill; it can also be read while the child is still writing it.
#include <QtTest/QtTest>

#include "moe/telemetry/run_store.h"

class TestCrash : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void killedChildLeavesAReadableStore() {
        const QString moe = QString(MOE_BINARY_DIR) + "/app/cli/moe";
        if (!QFileInfo::exists(moe)) QSKIP("the moe command is not built");
        const QString store = QDir::temp().filePath("moe_tst_crash.sqlite");
        QFile::remove(store);
        QProcess child;
        child.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        child.setStandardOutputFile(QProcess::nullDevice());
        child.start(moe, {"train", QString(MOE_SOURCE_DIR) + "/tests/data/train/crash.json", "--out", store, "--plain", "--threads", "1"});
        QVERIFY(child.waitForStarted(10000));
        // Read the store while the child writes it, until a few snapshots are committed.
        std::size_t seen = 0;
        QElapsedTimer timer;
        timer.start();
        std::shared_ptr<moe::telemetry::RunReader> live;
        while (seen < 5 && timer.elapsed() < 90000 && child.state() == QProcess::Running) {
            QTest::qWait(100);
            if (!live) {
                auto r = moe::telemetry::RunReader::open(store.toStdString());
                if (r.ok()) live = r.value();
                continue;
            }
            live->refresh();
            seen = live->snapshots().size();
        }
        QVERIFY2(child.state() == QProcess::Running, "the child ended before it could be killed");
        QVERIFY2(seen >= 5, "no snapshots appeared while the child was training");
        QCOMPARE(live->info().status, std::string("running"));
        child.kill();  // SIGKILL
        QVERIFY(child.waitForFinished(10000));
        QCOMPARE(child.exitStatus(), QProcess::CrashExit);
        auto after = moe::telemetry::RunReader::open(store.toStdString());
        QVERIFY2(after.ok(), after.message().c_str());
        const auto& snaps = after.value()->snapshots();
        QVERIFY(snaps.size() >= seen);
        QCOMPARE(after.value()->info().status, std::string("running"));  // never finished
        for (size_t i = 0; i < snaps.size(); ++i) {
            QCOMPARE(snaps[i]->blocks.size(), size_t(1));
            QCOMPARE(snaps[i]->blocks[0].experts, 4);
            if (i > 0) QVERIFY(snaps[i]->step > snaps[i - 1]->step);
        }
        QCOMPARE(snaps.front()->step, std::int64_t(1));
    }
};

QTEST_GUILESS_MAIN(TestCrash)
#include "tst_crash.moc"
