// The command line: every option, and wrong arguments giving a clear message and a non-zero exit.
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include "launch_options.h"
#include "test_time.h"

using namespace moe::studio;

namespace {
const QString kExample = QStringLiteral(MOE_SOURCE_DIR "/projects/classroom_spirals.json");
const QString kStudio = QStringLiteral(MOE_BINARY_DIR "/app/studio/moe-studio");
}  // namespace

class TestLaunch : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void goodArguments() {
        QTemporaryDir dir;
        LaunchOptions o;
        const QString shot = dir.filePath("s.png");
        QCOMPARE(parseLaunchOptions({kExample, "--classroom", "--theme", "dark", "--train-steps", "50", "--screenshot", shot}, &o), QString());
        QCOMPARE(o.project, kExample);
        QVERIFY(o.classroom);
        QVERIFY(o.theme && *o.theme == Theme::Dark);
        QCOMPARE(o.trainSteps, 50);
        QCOMPARE(o.screenshot, shot);
        QVERIFY(o.scripted());
        LaunchOptions eq;
        QCOMPARE(parseLaunchOptions({"--theme=light"}, &eq), QString());
        QVERIFY(eq.theme && *eq.theme == Theme::Light);
        QVERIFY(!eq.scripted());
        LaunchOptions dock;
        QCOMPARE(parseLaunchOptions({"--dock", "cluster"}, &dock), QString());
        QCOMPARE(dock.dock, QStringLiteral("cluster"));
        QVERIFY(!dock.scripted());
    }

    void badArguments_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("expected");
        QTest::newRow("unknown option") << QStringList{"--fast"} << "unknown option \"--fast\"";
        QTest::newRow("bad theme") << QStringList{"--theme", "blue"} << "\"blue\" is not a theme; use light or dark";
        QTest::newRow("missing theme") << QStringList{"--theme"} << "--theme needs a value";
        QTest::newRow("steps not a number") << QStringList{"--train-steps", "many"} << "use a whole number from 1 to 1000000";
        QTest::newRow("steps zero") << QStringList{"--train-steps", "0"} << "use a whole number from 1 to 1000000";
        QTest::newRow("screenshot not png") << QStringList{"--screenshot", "/tmp/x.jpg"} << "must end in .png";
        QTest::newRow("screenshot folder missing") << QStringList{"--screenshot", "/nonexistent-dir/x.png"} << "does not exist";
        QTest::newRow("missing project") << QStringList{"nope.json"} << "no such file \"nope.json\"";
        QTest::newRow("two projects") << QStringList{kExample, kExample} << "only one PROJECT";
        QTest::newRow("bad dock") << QStringList{"--dock", "run"} << "\"run\" is not a dock; use cluster, layouts, dashboards or inspector";
        QTest::newRow("missing dock") << QStringList{"--dock"} << "--dock needs a dock name";
    }
    void badArguments() {
        QFETCH(QStringList, args);
        QFETCH(QString, expected);
        LaunchOptions o;
        const QString err = parseLaunchOptions(args, &o);
        QVERIFY2(err.contains(expected), qPrintable(err));
    }

    void realBinaryExitsNonZeroWithTheMessage() {
        QProcess p;
        p.start(kStudio, {"--theme", "blue"});
        QVERIFY(p.waitForFinished(test_time::scaled(30000)));
        QCOMPARE(p.exitCode(), 2);
        const QString err = QString::fromUtf8(p.readAllStandardError());
        QVERIFY2(err.contains("--theme: \"blue\" is not a theme"), qPrintable(err));
        QVERIFY(err.contains("moe-studio --help"));
    }

    void brokenProjectInScriptedRunExitsWithTheLoaderMessage() {
        QTemporaryDir dir;
        QFile f(dir.filePath("broken.json"));
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("{\"format\": \"moe-studio/1\", \"model\": {\"input\": {\"dataset\": \"blobs\"}, \"blocks\": [{\"kind\": \"moe\", \"experts\": 0}]}, \"training\": {\"steps\": 5}}");
        f.close();
        QProcess p;
        p.start(kStudio, {f.fileName(), "--screenshot", dir.filePath("x.png")});
        QVERIFY(p.waitForFinished(test_time::scaled(30000)));
        QCOMPARE(p.exitCode(), 1);
        const QString err = QString::fromUtf8(p.readAllStandardError());
        QVERIFY2(err.contains("model.blocks[0].experts"), qPrintable(err));
        QVERIFY(!QFile::exists(dir.filePath("x.png")));
    }

    void helpExitsZero() {
        QProcess p;
        p.start(kStudio, {"--help"});
        QVERIFY(p.waitForFinished(test_time::scaled(30000)));
        QCOMPARE(p.exitCode(), 0);
        const QString out = QString::fromUtf8(p.readAllStandardOutput());
        QVERIFY(out.contains("--train-steps N"));
        QVERIFY(out.contains("--dock cluster|layouts|dashboards|inspector"));
    }
};

QTEST_MAIN(TestLaunch)
#include "tst_launch.moc"
