// `moe render` and `moe bench viz` as a user runs them: every view to a PNG of the asked size,
// and clear errors for wrong arguments. Exits 77 when there is no Vulkan device.
#include <QImage>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <cstdio>

#include "moe/spec/project_io.h"
#include "moe/viz/offscreen.h"
#include "moe/viz/panels.h"
#include "viz_fixture.h"
#include "test_time.h"

using namespace moe;

struct Run {
    int code = -1;
    QString out, err;
};

static Run moeCli(const QStringList& args) {
    QProcess p;
    p.start(MOE_CLI, args);
    p.waitForFinished(test_time::scaled(120000));
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, p.readAllStandardOutput(), p.readAllStandardError()};
}

class TestCli : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;
    QString m_run, m_fashion;

private Q_SLOTS:
    void initTestCase() {
        const auto project = viz::testdata::smallProject();
        m_run = m_dir.filePath("run.sqlite");
        QCOMPARE(QString::fromStdString(viz::testdata::writeRun(m_run.toStdString(), &project, viz::testdata::collapsingRun(project))), QString());
        // A project from the examples, for the schedule view (its snapshots are the fixture's).
        auto fashion = spec::loadProject(std::string(MOE_SOURCE_DIR) + "/projects/fashion_descending.json");
        QVERIFY2(fashion.ok(), fashion.message().c_str());
        m_fashion = m_dir.filePath("fashion.sqlite");
        QCOMPARE(QString::fromStdString(viz::testdata::writeRun(m_fashion.toStdString(), &fashion.value(), viz::testdata::collapsingRun(project, 3))), QString());
    }

    void rendersEveryView_data() {
        QTest::addColumn<QString>("view");
        for (viz::View v : viz::kAllViews)
            if (viz::viewAvailable(v)) QTest::newRow(std::string(viz::toString(v)).c_str()) << QString::fromStdString(std::string(viz::toString(v)));
    }
    void rendersEveryView() {
        QFETCH(QString, view);
        const QString out = QString(MOE_BINARY_DIR) + "/tests/viz/renders/cli-" + view + ".png";
        const auto r = moeCli({"render", m_run, "--view", view, "--out", out, "--size", "900x600", "--step", "300"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY(r.out.contains("wrote"));
        QVERIFY(r.out.contains("step 300"));
        QImage img(out);
        QCOMPARE(img.size(), QSize(900, 600));
    }

    void rendersTheExampleProjectsSchedule() {
        const QString out = QString(MOE_BINARY_DIR) + "/tests/viz/renders/cli-schedule-fashion-descending.png";
        const auto r = moeCli({"render", m_fashion, "--view", "schedule", "--out", out});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QImage img(out);
        QCOMPARE(img.size(), QSize(1280, 800));
        // The project's bars (sky blue) are there.
        int solid = 0;
        for (int y = 0; y < img.height(); y += 2)
            for (int x = 0; x < img.width() / 2; x += 2) solid += img.pixel(x, y) == qRgb(0x56, 0xB4, 0xE9);
        QVERIFY(solid > 2000);
    }

    void aRunThatDoesNotMapOntoTheDeploymentIsAnError() {
        if (!viz::viewAvailable(viz::View::Cluster)) QSKIP("this build has no cluster simulator");
        // An example project's LLM-scale deployment; the fixture's 4-block routing does not map onto
        // its layers: an error naming the mismatch, as in moe simulate and the planner.
        auto llm = spec::loadProject(std::string(MOE_SOURCE_DIR) + "/projects/llm_h100.json");
        QVERIFY2(llm.ok(), llm.message().c_str());
        const QString run = m_dir.filePath("llm.sqlite");
        const auto small = viz::testdata::smallProject();
        QCOMPARE(QString::fromStdString(viz::testdata::writeRun(run.toStdString(), &llm.value(), viz::testdata::collapsingRun(small, 2))), QString());
        const QString out = QString(MOE_BINARY_DIR) + "/tests/viz/renders/cli-cluster-llm-h100.png";
        QFile::remove(out);
        const auto r = moeCli({"render", run, "--view", "cluster", "--out", out});
        QVERIFY2(r.code != 0, qPrintable(r.err));
        QVERIFY2(r.err.contains("does not map onto the deployment"), qPrintable(r.err));
        QVERIFY(!QFileInfo::exists(out));
    }

    void wrongArgumentsSayWhatIsValid_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<int>("code");
        QTest::addColumn<QString>("message");
        QTest::newRow("no view") << QStringList{"--out", "x.png"} << 2 << "--view is required: one of heatmap|load";
        QTest::newRow("bad view") << QStringList{"--view", "heat", "--out", "x.png"} << 2 << "unknown view 'heat'";
        QTest::newRow("no out") << QStringList{"--view", "load"} << 2 << "--out FILE.png is required";
        QTest::newRow("bad size") << QStringList{"--view", "load", "--out", "x.png", "--size", "12x"} << 2 << "is not WIDTHxHEIGHT";
        QTest::newRow("tiny size") << QStringList{"--view", "load", "--out", "x.png", "--size", "10x10"} << 2 << "out of range";
        QTest::newRow("early step") << QStringList{"--view", "load", "--out", "x.png", "--step", "10"} << 2 << "first snapshot is at step 50";
        QTest::newRow("bad step") << QStringList{"--view", "load", "--out", "x.png", "--step", "ten"} << 2 << "'ten' is not a whole number";
        QTest::newRow("bad block") << QStringList{"--view", "load", "--out", "x.png", "--block", "9"} << 2 << "no MoE block with that index";
        QTest::newRow("bad metric") << QStringList{"--view", "heatmap", "--out", "x.png", "--metric", "load"} << 2 << "choose share, gate, drops or ratio";
        QTest::newRow("bad folder") << QStringList{"--view", "load", "--out", "/nonexistent-folder/x.png"} << 1 << "could not write the PNG";
    }
    void wrongArgumentsSayWhatIsValid() {
        QFETCH(QStringList, args);
        QFETCH(int, code);
        QFETCH(QString, message);
        const auto r = moeCli(QStringList{"render", m_run} + args);
        QCOMPARE(r.code, code);
        QVERIFY2(r.err.contains(message), qPrintable(r.err));
    }

    void missingRunStoreIsAnError() {
        const auto r = moeCli({"render", m_dir.filePath("nope.sqlite"), "--view", "load", "--out", "x.png"});
        QCOMPARE(r.code, 1);
        QVERIFY(r.err.contains("nope.sqlite"));
    }

    void clusterViewNeedsTheSimulator() {
        if (viz::viewAvailable(viz::View::Cluster)) QSKIP("this build has the cluster simulator");
        const auto r = moeCli({"render", m_run, "--view", "cluster", "--out", m_dir.filePath("c.png")});
        QCOMPARE(r.code, 2);
        QVERIFY(r.err.contains("no cluster simulator"));
    }

    void benchPrintsJson() {
        const auto r = moeCli({"bench", "viz", "--json", "--frames", "10", "--size", "640x400"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const auto j = QJsonDocument::fromJson(r.out.toUtf8()).object();
        QCOMPARE(j["blocks"].toInt(), 64);
        QCOMPARE(j["experts"].toInt(), 256);
        QVERIFY(j["median_ms"].toDouble() > 0);
        QVERIFY(j["cpu_ms_per_frame"].toDouble() > 0);
        QCOMPARE(j["target_ms"].toDouble(), 8.0);
    }
};

int main(int argc, char** argv) {
    {
        auto probe = viz::OffscreenRenderer::create(64, 64);
        if (!probe) {
            std::printf("SKIP: no Vulkan device: %s\n", probe.message().c_str());
            return 77;
        }
    }
    QCoreApplication app(argc, argv);
    TestCli t;
    return QTest::qExec(&t, argc, argv);
}

#include "tst_cli.moc"
