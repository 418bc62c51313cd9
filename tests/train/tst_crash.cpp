// `kill -9` a training `moe train` mid-run: the run store stays readable and holds every snapshot
// committed before the kill; it can also be read while the child is still writing it. A train
// never replaces a file the user made, and a write failure (a file size limit standing in for a
// full disk, a checkpoint path that cannot exist) stops the run with a message and keeps the store.
#include <QtTest/QtTest>

#include <sys/resource.h>

#include <csignal>

#include "moe/telemetry/run_store.h"
#include "test_time.h"

namespace {

struct Run {
    int code = -1;
    bool crashed = false;
    QString out, err;
};

QString moeBinary() { return QString(MOE_BINARY_DIR) + "/app/cli/moe"; }
QString crashProject() { return QString(MOE_SOURCE_DIR) + "/tests/data/train/crash.json"; }

// Runs `moe` to the end. `fileSizeLimit` > 0: every file the child writes is capped at that many
// bytes (RLIMIT_FSIZE, with SIGXFSZ ignored so writes fail with EFBIG): a full disk without root.
Run runMoe(const QStringList& args, rlim_t fileSizeLimit = 0) {
    QProcess p;
    if (fileSizeLimit > 0)
        p.setChildProcessModifier([fileSizeLimit] {
            std::signal(SIGXFSZ, SIG_IGN);
            const rlimit lim{fileSizeLimit, fileSizeLimit};
            setrlimit(RLIMIT_FSIZE, &lim);
        });
    p.start(moeBinary(), args);
    p.waitForFinished(test_time::scaled(120000));
    return {p.exitCode(), p.exitStatus() == QProcess::CrashExit, QString::fromUtf8(p.readAllStandardOutput()),
            QString::fromUtf8(p.readAllStandardError())};
}

QByteArray contents(const QString& path) {
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

void writeFile(const QString& path, const QByteArray& bytes) {
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
    f.write(bytes);
}

}  // namespace

class TestCrash : public QObject {
    Q_OBJECT

private Q_SLOTS:
    // --out and --checkpoint never replace a file of another kind (unless --force), the project
    // itself, or a folder; they do replace their own kind.
    void trainNeverOverwritesUserFiles() {
        if (!QFileInfo::exists(moeBinary())) QSKIP("the moe command is not built");
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString notes = dir.filePath("notes.txt");
        const QByteArray text = "my notes, not a run store\n";
        writeFile(notes, text);
        const QString project = dir.filePath("proj.json");
        QVERIFY(QFile::copy(crashProject(), project));
        const QByteArray projectBytes = contents(project);
        const QString base[] = {"train", project, "--steps", "2", "--plain", "--threads", "1"};
        const QStringList train(std::begin(base), std::end(base));

        Run r = runMoe(train + QStringList{"--out", notes});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("--out " + notes + " exists and is not a run store") && r.err.contains("--force"), qPrintable(r.err));
        QCOMPARE(contents(notes), text);

        r = runMoe(train + QStringList{"--out", dir.filePath("run.sqlite"), "--checkpoint", notes});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("--checkpoint " + notes + " exists and is not a checkpoint"), qPrintable(r.err));
        QCOMPARE(contents(notes), text);
        QVERIFY(!QFileInfo::exists(dir.filePath("run.sqlite")));

        for (const QString opt : {"--out", "--checkpoint"}) {
            r = runMoe(train + QStringList{opt, project, "--force"});
            QCOMPARE(r.code, 1);
            QVERIFY2(r.err.contains("is the project being trained"), qPrintable(r.err));
            QCOMPARE(contents(project), projectBytes);
        }
        r = runMoe(train + QStringList{"--out", dir.path()});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("is a folder"), qPrintable(r.err));

        // Its own kind is replaced; --force replaces anything else.
        const QString store = dir.filePath("run.sqlite"), ckpt = dir.filePath("run.pt");
        r = runMoe(train + QStringList{"--out", store, "--checkpoint", ckpt});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        r = runMoe(train + QStringList{"--out", store, "--checkpoint", ckpt});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        r = runMoe(train + QStringList{"--out", notes, "--force"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY(moe::telemetry::isRunStore(notes.toStdString()));
        QVERIFY(!moe::telemetry::isRunStore(project.toStdString()));
    }

    // A model that would not fit is refused before anything is built, with the estimate and the
    // limit; nothing is written.
    void trainRefusesWhatDoesNotFit() {
        if (!QFileInfo::exists(moeBinary())) QSKIP("the moe command is not built");
        QTemporaryDir dir;
        QFile src(crashProject());
        QVERIFY(src.open(QIODevice::ReadOnly));
        QString text = QString::fromUtf8(src.readAll());
        text.replace("\"d_model\": 16", "\"d_model\": 16384");
        text.replace("{\"kind\": \"moe\", \"experts\": 4, \"router\": {\"kind\": \"topk\", \"k\": 2}, \"ffn\": {\"hidden\": 16}}",
                     QString("{\"kind\": \"moe\", \"experts\": 64, \"router\": {\"kind\": \"topk\", \"k\": 2}, \"ffn\": {\"hidden\": 16384}}, ").repeated(7) +
                         "{\"kind\": \"moe\", \"experts\": 64, \"router\": {\"kind\": \"topk\", \"k\": 2}, \"ffn\": {\"hidden\": 16384}}");
        const QString huge = dir.filePath("huge.json");
        writeFile(huge, text.toUtf8());
        const QString store = dir.filePath("huge.sqlite");
        Run r = runMoe({"train", huge, "--steps", "1", "--out", store, "--max-memory", "1T"});
        QCOMPARE(r.code, 1);
        // 8 blocks x 64 experts x 2 x 16384^2 weights: 275G parameters, 4 TiB with gradients and Adam.
        QVERIFY2(r.err.contains("needs about 4.00 TiB (weights 1.00 TiB + gradients 1.00 TiB + Adam states 2.00 TiB") &&
                     r.err.contains("274.90G parameters") && r.err.contains("more than --max-memory 1T (1.00 TiB)"),
                 qPrintable(r.err));
        QVERIFY(!QFileInfo::exists(store));
        r = runMoe({"train", crashProject(), "--steps", "1", "--out", store, "--max-memory", "1K"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("more than --max-memory 1K (1.00 KiB)"), qPrintable(r.err));
        r = runMoe({"train", crashProject(), "--steps", "1", "--out", store, "--max-memory", "lots"});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("\"lots\" is not a size"), qPrintable(r.err));
        r = runMoe({"train", crashProject(), "--steps", "1", "--out", store, "--max-memory", "1G", "--plain"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
    }

    // A run store that cannot grow (the file size limit stands in for a full disk) stops the run:
    // exit 1, a message naming the store and the cause, the steps written before kept, status failed.
    void fullDiskStopsTheRunAndKeepsTheStore() {
        if (!QFileInfo::exists(moeBinary())) QSKIP("the moe command is not built");
        QTemporaryDir dir;
        const QString store = dir.filePath("full.sqlite");
        // The limit leaves room for the store's first commit (its schema and the first snapshot).
        const Run r = runMoe({"train", crashProject(), "--out", store, "--steps", "400", "--plain", "--threads", "1"}, 512 * 1024);
        QVERIFY2(!r.crashed, qPrintable(r.err));
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("cannot write step") && r.err.contains(store), qPrintable(r.err));
        QVERIFY2(!r.err.contains("no transaction is active"), qPrintable(r.err));
        QVERIFY2(r.out.contains("failed at step"), qPrintable(r.out));
        auto after = moe::telemetry::RunReader::open(store.toStdString());
        QVERIFY2(after.ok(), after.message().c_str());
        QCOMPARE(after.value()->info().status, std::string("failed"));
        QVERIFY2(after.value()->info().message.find("cannot write step") != std::string::npos, after.value()->info().message.c_str());
        QVERIFY(!after.value()->snapshots().empty());
        QVERIFY(after.value()->snapshots().back()->step < 400);
    }

    // A checkpoint that cannot be written (its folder is a file) fails the run cleanly, no abort.
    void failedCheckpointFailsTheRun() {
        if (!QFileInfo::exists(moeBinary())) QSKIP("the moe command is not built");
        QTemporaryDir dir;
        const QString notes = dir.filePath("notes.txt");
        writeFile(notes, "x");
        const QString store = dir.filePath("run.sqlite");
        const QString ckpt = notes + "/run.pt";
        const Run r = runMoe({"train", crashProject(), "--out", store, "--checkpoint", ckpt, "--steps", "2", "--plain", "--threads", "1"});
        QVERIFY2(!r.crashed, qPrintable(r.err));
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("cannot write the checkpoint " + ckpt), qPrintable(r.err));
        auto after = moe::telemetry::RunReader::open(store.toStdString());
        QVERIFY2(after.ok(), after.message().c_str());
        QCOMPARE(after.value()->info().status, std::string("failed"));
        QCOMPARE(after.value()->snapshots().back()->step, std::int64_t(2));
        QCOMPARE(contents(notes), QByteArray("x"));
    }

    void killedChildLeavesAReadableStore() {
        const QString moe = QString(MOE_BINARY_DIR) + "/app/cli/moe";
        if (!QFileInfo::exists(moe)) QSKIP("the moe command is not built");
        const QString store = QDir::temp().filePath("moe_tst_crash.sqlite");
        QFile::remove(store);
        QProcess child;
        child.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        child.setStandardOutputFile(QProcess::nullDevice());
        child.start(moe, {"train", QString(MOE_SOURCE_DIR) + "/tests/data/train/crash.json", "--out", store, "--plain", "--threads", "1"});
        QVERIFY(child.waitForStarted(test_time::scaled(10000)));
        // Read the store while the child writes it, until a few snapshots are committed.
        std::size_t seen = 0;
        QElapsedTimer timer;
        timer.start();
        std::shared_ptr<moe::telemetry::RunReader> live;
        while (seen < 5 && timer.elapsed() < test_time::scaled(90000) && child.state() == QProcess::Running) {
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
        QVERIFY(child.waitForFinished(test_time::scaled(10000)));
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
