// The real app under xvfb-run: opens an example project, trains 50 steps when the training
// engine is built, saves a screenshot into the build tree, and the screenshot is not blank.
#include <QDir>
#include <QDirIterator>
#include <QImage>
#include <QProcess>
#include <QSet>
#include <QtTest>

#include "moe/telemetry/run_store.h"
#include "training_controller.h"
#include "test_time.h"

namespace {
const QString kStudio = QStringLiteral(MOE_BINARY_DIR "/app/studio/moe-studio");
const QString kWork = QStringLiteral(MOE_BINARY_DIR "/tests/studio/app_run");
}  // namespace

class TestApp : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void trainsAndTakesAScreenshot_data() {
        QTest::addColumn<QString>("theme");
        QTest::addColumn<bool>("classroom");
        QTest::newRow("light") << "light" << false;
        QTest::newRow("dark classroom") << "dark" << true;
    }
    void trainsAndTakesAScreenshot() {
        QFETCH(QString, theme);
        QFETCH(bool, classroom);
        if (qEnvironmentVariable("DISPLAY").isEmpty()) QSKIP("needs an X display (runs under xvfb-run)");
        // A copy in the build tree; the run store goes to the per-user data folder.
        QDir().mkpath(kWork);
        const QString project = kWork + "/classroom_spirals.json";
        QFile::remove(project);
        QVERIFY(QFile::copy(QStringLiteral(MOE_SOURCE_DIR "/projects/classroom_spirals.json"), project));
        QDir(kWork + "/data").removeRecursively();
        QDir(kWork + "/runs").removeRecursively();  // left by an older build: the check below is for this run
        const QString shot = QStringLiteral(MOE_BINARY_DIR "/tests/studio/studio_%1%2.png").arg(theme, classroom ? "_classroom" : "");
        QFile::remove(shot);

        QStringList args{project, "--theme", theme, "--screenshot", shot};
        if (classroom) args << "--classroom";
        const bool engine = moe::studio::TrainingController::engineAvailable();
        if (engine) args << "--train-steps" << "50";
        QProcess p;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("QT_QPA_PLATFORM", "xcb");
        env.insert("XDG_CONFIG_HOME", kWork + "/config");
        env.insert("XDG_DATA_HOME", kWork + "/data");
        p.setProcessEnvironment(env);
        p.start(kStudio, args);
        QVERIFY(p.waitForFinished(test_time::scaled(180000)));
        const QString err = QString::fromUtf8(p.readAllStandardError());
        QVERIFY2(p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0, qPrintable(err));

        QImage img(shot);
        QVERIFY2(!img.isNull(), qPrintable("no screenshot at " + shot));
        QVERIFY(img.width() >= 800 && img.height() >= 600);
        // Not blank: many colours, and no single colour covers almost everything.
        QHash<QRgb, int> counts;
        for (int y = 0; y < img.height(); y += 3)
            for (int x = 0; x < img.width(); x += 3) ++counts[img.pixel(x, y)];
        int total = 0, top = 0;
        for (int c : counts) {
            total += c;
            top = std::max(top, c);
        }
        QVERIFY2(counts.size() > 50, qPrintable(QString("only %1 colours").arg(counts.size())));
        QVERIFY2(top < total * 0.9, "one colour covers 90% of the screenshot");

        if (!engine) {
            qInfo("training engine not built: screenshot checked without training");
            return;
        }
        QStringList runs;
        for (QDirIterator it(kWork + "/data", {"*.sqlite"}, QDir::Files, QDirIterator::Subdirectories); it.hasNext();) runs << it.next();
        QCOMPARE(runs.size(), 1);
        QVERIFY2(runs.front().contains("/runs/classroom_spirals-"), qPrintable(runs.front()));
        QVERIFY(!QFileInfo::exists(kWork + "/runs"));  // nothing beside the project
        auto reader = moe::telemetry::RunReader::open(runs.front().toStdString());
        QVERIFY2(reader.ok(), reader.message().c_str());
        QVERIFY(reader.value()->latest());
        QCOMPARE(reader.value()->latest()->step, std::int64_t(50));
    }

    // The collapse lesson end to end, as a class plays it: four steps, two runs in the user's
    // data folder, the shipped project byte for byte unchanged.
    void playsTheCollapseScenario() {
        if (qEnvironmentVariable("DISPLAY").isEmpty()) QSKIP("needs an X display (runs under xvfb-run)");
        if (!moe::studio::TrainingController::engineAvailable()) QSKIP("the training engine is not built");
        const QString shipped = QStringLiteral(MOE_SOURCE_DIR "/projects/collapse.json");
        QFile f(shipped);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QByteArray before = f.readAll();
        f.close();
        QDir(kWork + "/scenario-data").removeRecursively();
        QProcess p;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("QT_QPA_PLATFORM", "xcb");
        env.insert("XDG_CONFIG_HOME", kWork + "/scenario-config");
        env.insert("XDG_DATA_HOME", kWork + "/scenario-data");
        p.setProcessEnvironment(env);
        p.start(kStudio, {shipped, "--classroom", "--play-scenario"});
        QVERIFY(p.waitForFinished(test_time::scaled(180000)));
        const QString err = QString::fromUtf8(p.readAllStandardError());
        QVERIFY2(p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0, qPrintable(err));
        for (int i = 1; i <= 4; ++i) QVERIFY2(err.contains(QString("scenario step %1 ").arg(i)), qPrintable(err));
        QStringList runs;
        for (QDirIterator it(kWork + "/scenario-data", {"*.sqlite"}, QDir::Files, QDirIterator::Subdirectories); it.hasNext();) runs << it.next();
        QCOMPARE(runs.size(), 2);  // the collapsed run and the fixed one
        QVERIFY(f.open(QIODevice::ReadOnly));
        QCOMPARE(f.readAll(), before);
    }
};

QTEST_MAIN(TestApp)
#include "tst_app.moc"
