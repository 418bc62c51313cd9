#pragma once
// The dashboards inside the studio: a QVulkanWindow (Qt6::Gui only, no Widgets) whose renderer
// draws the same ImGui panels as the offscreen renderer, with Qt's mouse, wheel, keyboard, resize
// and HiDPI events forwarded to ImGui. Embed it with QWidget::createWindowContainer().
//
// It redraws when something changes (input, new run data, resize) and, while a run is live, at
// most `liveFps` times a second; it never waits for the trainer: the host hands it immutable
// run data (setRun) and receives the user's intents as signals.
//
// No Vulkan (no driver, no device, or a Qt platform without Vulkan such as "offscreen"):
// vulkanAvailable() says why, so the host can show that message instead of the window.

#include <QElapsedTimer>
#include <QTimer>
#include <QVulkanWindow>

#include <memory>

#include "moe/viz/panels.h"

namespace moe::viz {

class DashboardRenderer;

class DashboardWindow : public QVulkanWindow {
    Q_OBJECT
public:
    explicit DashboardWindow(QWindow* parent = nullptr);
    ~DashboardWindow() override;

    // Whether Vulkan can drive this window; on false, `why` explains it in one sentence for the
    // user. Creates the process-wide QVulkanInstance on first use (needs a QGuiApplication).
    static bool vulkanAvailable(QString* why = nullptr);
    static QVulkanInstance* sharedInstance();

    // The run to show (immutable; replace it when the run store has new snapshots).
    void setRun(std::shared_ptr<const RunView> run);
    std::shared_ptr<const RunView> run() const { return m_run; }
    // Live runs: appends the trainer's newest snapshot (a snapshot at or before the last step
    // replaces the tail, e.g. after a resume) and marks the run live. Call on the UI thread;
    // from the trainer's snapshot callback, queue it (QMetaObject::invokeMethod).
    void appendSnapshot(telemetry::SnapshotPtr snapshot);
    // The run ended (finished, stopped, failed): stop the live redraws.
    void setLive(bool live);
    // Shows the snapshot at `step` (or the last one before it), as the scrubber would; a
    // negative step follows the newest snapshot again. For hosts replaying a past run.
    void selectStep(qint64 step);
    // The cluster tab's data: simulates the project's deployment with the routing of the shown
    // snapshot on a worker thread, then updates the run (clusterSimulated / the tab's message).
    // Does nothing in builds without the cluster simulator.
    void simulateClusterAsync();
    void setView(View v);
    View view() const { return m_view; }
    // Presenter mode (a classroom projector): only the current view, no tabs, and fonts and
    // spacing `scale` times their usual size.
    void setPresenter(bool on, float scale = 1.5f);
    bool presenter() const { return m_presenter; }
    float contentScale() const { return m_presenter ? m_presenterScale : 1.0f; }
    PanelState& state() { return m_state; }
    // Frames drawn so far (for tests and diagnostics).
    int framesRendered() const { return m_frames; }
    QString deviceName() const { return m_deviceName; }
    void setLiveFps(int fps);
    // Light or dark colours (the studio's theme); every dashboard window follows.
    void setLightTheme(bool light);

    QVulkanWindowRenderer* createRenderer() override;

Q_SIGNALS:
    void blockSelected(int block);           // index in ModelSpec::blocks
    void stepSelected(qint64 step);
    void followLiveChanged(bool follow);
    void expertSelected(int expert);
    void frameRendered();
    void vulkanReady(const QString& deviceName);
    void vulkanFailed(const QString& reason);
    void clusterSimulated(bool ok, const QString& note);

protected:
    void mouseMoveEvent(QMouseEvent* e) override;
    void mousePressEvent(QMouseEvent* e) override;
    void mouseReleaseEvent(QMouseEvent* e) override;
    void mouseDoubleClickEvent(QMouseEvent* e) override;
    void wheelEvent(QWheelEvent* e) override;
    void keyPressEvent(QKeyEvent* e) override;
    void keyReleaseEvent(QKeyEvent* e) override;
    void focusOutEvent(QFocusEvent* e) override;
    bool event(QEvent* e) override;
    void exposeEvent(QExposeEvent* e) override;

private:
    friend class DashboardRenderer;
    // Something changed: draw a few frames (ImGui settles hover and layout over two frames).
    void poke(int frames = 3);
    void setMouse(const QPointF& p);
    void handleIntents(const std::vector<Intent>& intents);

    std::shared_ptr<const RunView> m_run;
    View m_view = View::Heatmap;
    bool m_presenter = false;
    float m_presenterScale = 1.5f;
    PanelState m_state;
    DashboardRenderer* m_renderer = nullptr;
    int m_pendingFrames = 3;
    int m_frames = 0;
    bool m_failedReported = false;
    QString m_deviceName;
    QTimer m_liveTimer;
    // Input collected between frames, applied by the renderer to ImGui's IO at the next frame.
    struct Input {
        float x = -1e6f, y = -1e6f;
        bool down[3] = {false, false, false};
        bool pressed[3] = {false, false, false};  // pressed since the last frame (a quick click is kept for one frame)
        float wheel = 0, wheelH = 0;
        bool keys[512] = {};
        bool ctrl = false, shift = false, alt = false, super = false;
        QString text;
    } m_input;
};

}  // namespace moe::viz
