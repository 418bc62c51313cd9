// The studio's dashboard window under Xvfb (Qt's offscreen platform has no Vulkan): it renders
// the panels through QVulkanWindow, and Qt's mouse, wheel and keyboard reach ImGui. Exits 77
// when there is no display or no Vulkan device.
#include <QGuiApplication>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include <cstdio>

#include "moe/telemetry/run_store.h"
#include "moe/viz/colormap.h"
#include "moe/viz_qt/dashboard_window.h"
#include "viz_fixture.h"
#include "test_time.h"

using namespace moe;

class TestWindow : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;
    std::shared_ptr<viz::RunView> m_run;
    std::unique_ptr<viz::DashboardWindow> m_w;

    // Sends a mouse event straight to the window (what the window does with it is under test).
    void mouse(QEvent::Type type, QPoint p, Qt::MouseButton button = Qt::NoButton) {
        const Qt::MouseButtons held = type == QEvent::MouseButtonPress ? Qt::MouseButtons(button) : Qt::MouseButtons();
        QMouseEvent e(type, QPointF(p), m_w->mapToGlobal(QPointF(p)), button, held, Qt::NoModifier);
        QCoreApplication::sendEvent(m_w.get(), &e);
    }

    // What is on screen, in RGB order (QVulkanWindow::grab() of a BGRA swap chain swaps R and B).
    QImage grabbed() {
        const QImage img = m_w->grab();
        return m_w->colorFormat() == VK_FORMAT_B8G8R8A8_UNORM ? img.rgbSwapped() : img;
    }

    // Waits until the window has drawn `n` more frames.
    bool frames(int n = 3) {
        const int target = m_w->framesRendered() + n;
        return QTest::qWaitFor([&] { return m_w->framesRendered() >= target; }, test_time::scaled(5000));
    }

private Q_SLOTS:
    void initTestCase() {
        const auto project = viz::testdata::smallProject();
        const std::string path = m_dir.filePath("run.sqlite").toStdString();
        QCOMPARE(QString::fromStdString(viz::testdata::writeRun(path, &project, viz::testdata::collapsingRun(project))), QString());
        auto rd = telemetry::RunReader::open(path);
        QVERIFY(rd.ok());
        m_run = std::make_shared<viz::RunView>(viz::RunView::fromReader(*rd.value()));
        m_w = std::make_unique<viz::DashboardWindow>();
        m_w->setRun(m_run);
        m_w->resize(1100, 700);
        QSignalSpy ready(m_w.get(), &viz::DashboardWindow::vulkanReady);
        m_w->show();
        QVERIFY(QTest::qWaitForWindowExposed(m_w.get()));
        QVERIFY(ready.count() == 1 || ready.wait(5000));
        QVERIFY(!m_w->deviceName().isEmpty());
        QVERIFY(frames(2));
    }

    void drawsTheHeatmap() {
        const QImage img = m_w->grab();
        QVERIFY(!img.isNull());
        // Count viridis-coloured pixels; QVulkanWindow::grab() may return R and B swapped.
        int hits = 0;
        for (int y = 0; y < img.height(); y += 2)
            for (int x = 0; x < img.width(); x += 2) {
                const QRgb p = img.pixel(x, y);
                for (double t : {0.0, 0.25, 0.5, 0.75, 1.0}) {
                    const auto c = viz::viridis(t);
                    const int r = int(c.r * 255 + 0.5), g = int(c.g * 255 + 0.5), b = int(c.b * 255 + 0.5);
                    const int d1 = std::abs(qRed(p) - r) + std::abs(qGreen(p) - g) + std::abs(qBlue(p) - b);
                    const int d2 = std::abs(qBlue(p) - r) + std::abs(qGreen(p) - g) + std::abs(qRed(p) - b);
                    if (std::min(d1, d2) < 40) { ++hits; break; }
                }
            }
        QVERIFY2(hits > 2000, qPrintable(QString("only %1 heatmap-coloured samples").arg(hits)));
        const QString suffix = m_w->devicePixelRatio() > 1 ? QString("@%1x").arg(m_w->devicePixelRatio()) : QString();
        grabbed().save(QString(MOE_BINARY_DIR) + "/tests/viz/renders/window-heatmap" + suffix + ".png");
    }

    void mouseHoverAndClickReachImGui() {
        QSignalSpy blocks(m_w.get(), &viz::DashboardWindow::blockSelected);
        const QPoint p(500, 380);  // inside the heatmap's plot
        mouse(QEvent::MouseMove, p);
        QVERIFY(frames());
        QVERIFY(m_w->state().hover.valid);
        const int block = m_w->state().hover.block;
        // A quick click: pressed and released before the next frame is drawn.
        mouse(QEvent::MouseButtonPress, p, Qt::LeftButton);
        mouse(QEvent::MouseButtonRelease, p, Qt::LeftButton);
        QVERIFY(frames());
        QVERIFY(blocks.count() >= 1 || blocks.wait(2000));
        QCOMPARE(blocks.first().first().toInt(), block);
    }

    // Tap-to-click on a touchpad: press and release reach the window before the next frame. The
    // tab under a quick click must still become the view (ImGui samples the button once a frame).
    void aQuickClickOnATabSwitchesTheView() {
        m_w->setView(viz::View::Heatmap);
        QVERIFY(frames(3));
        QCOMPARE(int(m_w->view()), int(viz::View::Heatmap));
        // The tab bar is the top row; the first tab is the heatmap, the others follow it.
        const int y = 12;
        bool switched = false;
        for (int x = 90; x < 400 && !switched; x += 15) {
            mouse(QEvent::MouseMove, QPoint(x, y));
            QVERIFY(frames(2));
            mouse(QEvent::MouseButtonPress, QPoint(x, y), Qt::LeftButton);
            mouse(QEvent::MouseButtonRelease, QPoint(x, y), Qt::LeftButton);
            QVERIFY(frames(3));
            switched = m_w->view() != viz::View::Heatmap;
        }
        QVERIFY2(switched, "no quick click on the tab row changed the view");
        m_w->setView(viz::View::Heatmap);
        QVERIFY(frames(3));
    }

    void wheelZooms() {
        const QPoint p(500, 380);
        const QPointF global = m_w->mapToGlobal(QPointF(p));
        QWheelEvent wheel(QPointF(p), global, QPoint(), QPoint(0, 240), Qt::NoButton, Qt::NoModifier, Qt::NoScrollPhase, false);
        QCoreApplication::sendEvent(m_w.get(), &wheel);
        QVERIFY(frames());
        QVERIFY(m_w->state().expertEnd - m_w->state().expertBegin < 7);
    }

    void keyboardStepsTheScrubber() {
        m_w->state().snapshotIndex = 3;
        mouse(QEvent::MouseButtonPress, QPoint(20, 20), Qt::LeftButton);  // focus ImGui's window
        QVERIFY(frames(1));
        mouse(QEvent::MouseButtonRelease, QPoint(20, 20), Qt::LeftButton);
        QVERIFY(frames());
        QTest::keyPress(m_w.get(), Qt::Key_Right);
        QVERIFY(frames(2));
        QTest::keyRelease(m_w.get(), Qt::Key_Right);
        QVERIFY(frames());
        QCOMPARE(m_w->state().snapshotIndex, 4);
    }

    void newDataRedraws() {
        const int before = m_w->framesRendered();
        auto more = std::make_shared<viz::RunView>(*m_run);
        more->snapshots.pop_back();
        m_w->setRun(more);
        QVERIFY(QTest::qWaitFor([&] { return m_w->framesRendered() > before; }, test_time::scaled(3000)));
    }

    void liveRunsKeepDrawingUntilTheyEnd() {
        m_w->setRun(std::make_shared<viz::RunView>(*m_run));
        for (const auto& s : m_run->snapshots) m_w->appendSnapshot(s);  // replaces, step by step
        QCOMPARE(int(m_w->run()->snapshots.size()), int(m_run->snapshots.size()));
        QVERIFY(m_w->run()->live);
        const int a = m_w->framesRendered();
        QTest::qWait(500);
        QVERIFY(m_w->framesRendered() > a + 3);  // redraws while live (about 30 a second)
        m_w->setLive(false);
        QVERIFY(frames(1));
    }

    void idleWindowStopsDrawing() {
        QVERIFY(frames(1));
        QTest::qWait(300);
        const int a = m_w->framesRendered();
        QTest::qWait(400);
        QCOMPARE(m_w->framesRendered(), a);  // nothing changed, nothing live: no redraws
    }

    void clusterIsSimulatedOffTheUiThread() {
        if (!viz::viewAvailable(viz::View::Cluster)) QSKIP("this build has no cluster simulator");
        QSignalSpy done(m_w.get(), &viz::DashboardWindow::clusterSimulated);
        m_w->simulateClusterAsync();
        QVERIFY(done.wait(20000));
        QVERIFY2(done.first().first().toBool(), qPrintable(done.first().at(1).toString()));
        QVERIFY(m_w->run()->cluster != nullptr);
    }

    void everyTabDraws() {
        for (viz::View v : viz::kAllViews) {
            if (!viz::viewAvailable(v)) continue;
            m_w->setView(v);
            QVERIFY(frames(3));
            QCOMPARE(int(m_w->view()), int(v));
            grabbed().save(QString(MOE_BINARY_DIR) + "/tests/viz/renders/window-" + QString::fromStdString(std::string(viz::toString(v))) + ".png");
        }
    }
};

int main(int argc, char** argv) {
    // CTest's default platform for the suite is "offscreen", which has no Vulkan: use the X server.
    if (qEnvironmentVariableIsEmpty("DISPLAY")) {
        std::printf("SKIP: no X display (run under xvfb-run)\n");
        return 77;
    }
    qputenv("QT_QPA_PLATFORM", "xcb");
    QGuiApplication app(argc, argv);
    QString why;
    if (!viz::DashboardWindow::vulkanAvailable(&why)) {
        std::printf("SKIP: %s\n", qPrintable(why));
        return 77;
    }
    TestWindow t;
    return QTest::qExec(&t, argc, argv);
}

#include "tst_window.moc"
