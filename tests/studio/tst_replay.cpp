// Replaying a past run drives the Dashboards dock: opening a run in the Run panel shows it there
// (not live), the replay slider selects the step, and the next live run takes the dashboards back.
// Needs a display with Vulkan (xvfb-run and lavapipe); without one the dock is a message and the
// test is skipped.
#include <QSlider>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QtTest>

#include "main_window.h"
#include "moe/spec/project_io.h"
#include "moe/telemetry/run_store.h"
#include "moe/viz_qt/dashboard_window.h"
#include "run_fixture.h"
#include "run_panel.h"

using namespace moe::studio;
namespace spec = moe::spec;
namespace tel = moe::telemetry;

namespace {

QString writeRun(const QString& dir, const QString& name, int n, const spec::Project& p) {
    return testing::writeRunStore(dir + "/" + name + ".sqlite", p, n, [](int i, tel::RoutingSnapshot& s) {
        s.step = i * 10;
        s.loss = 1.0 / i;
        s.accuracy = 0.5;
        s.blocks.push_back(testing::blockLoad(1, {40, 20, 20, 20}));
    });
}

}  // namespace

class TestReplay : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;

private Q_SLOTS:
    void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

    void replayDrivesTheDashboards() {
        MainWindow w(false, m_dir.filePath("recovery"));
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        if (!w.dashboards()) QSKIP("no Vulkan device here: the Dashboards dock shows a message instead");
        moe::viz::DashboardWindow* dash = w.dashboards();
        const QString path = writeRun(m_dir.path(), "run_a", 5, w.document()->project());
        QString err;
        QVERIFY2(w.runPanel()->openRun(path, &err), qPrintable(err));
        QVERIFY(dash->run());
        QCOMPARE(QString::fromStdString(dash->run()->runId), QStringLiteral("run_a"));
        QCOMPARE(dash->run()->snapshots.size(), size_t(5));
        QVERIFY(dash->run()->project.has_value());
        QVERIFY(!dash->run()->live);
        QCOMPARE(dash->state().snapshotIndex, 4);  // opening shows the last step

        auto* slider = w.runPanel()->findChild<QSlider*>();
        QVERIFY(slider && slider->isEnabled());
        slider->setValue(1);
        QCOMPARE(dash->state().snapshotIndex, 1);
        QCOMPARE(dash->run()->snapshots[1]->step, std::int64_t(20));

        // A live run starts: the dashboards leave the replay and follow the trainer.
        Q_EMIT w.training()->runStarted(m_dir.filePath("live.sqlite"));
        QVERIFY(dash->run()->live);
        QVERIFY(dash->run()->snapshots.empty());
        QCOMPARE(dash->state().snapshotIndex, -1);
        slider->setValue(0);  // the slider is disabled for live runs; a stray value changes nothing
        QCOMPARE(dash->state().snapshotIndex, -1);
    }
};

int main(int argc, char** argv) {
    // CTest sets the offscreen platform, which has no Vulkan; under xvfb-run use the X display.
    if (!qEnvironmentVariableIsEmpty("DISPLAY")) qputenv("QT_QPA_PLATFORM", "xcb");
    QApplication app(argc, argv);
    TestReplay t;
    return QTest::qExec(&t, argc, argv);
}
#include "tst_replay.moc"
