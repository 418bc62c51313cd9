#include "moe/viz_qt/dashboard_window.h"

#include "moe/spec/handover.h"
#include "moe/viz/imgui_setup.h"

#include <QGuiApplication>
#include <QPointer>
#include <QThreadPool>
#include <QKeyEvent>
#include <QMouseEvent>
#include <QVulkanFunctions>
#include <QWheelEvent>

#include <spdlog/spdlog.h>

#include <algorithm>

#ifdef MOE_VIZ_HAS_CLUSTER
#include "moe/viz/cluster_sim.h"
#endif

namespace moe::viz {

namespace {

QVulkanInstance* g_instance = nullptr;
QString g_instanceError;
bool g_instanceTried = false;

}  // namespace

QVulkanInstance* DashboardWindow::sharedInstance() {
    if (g_instanceTried) return g_instance;
    g_instanceTried = true;
    if (!qobject_cast<QGuiApplication*>(QCoreApplication::instance())) {
        g_instanceError = "Vulkan dashboards need a running Qt GUI application";
        return nullptr;
    }
    const QString platform = QGuiApplication::platformName();
    if (platform == "offscreen" || platform == "minimal") {
        g_instanceError = "The '" + platform + "' display platform has no Vulkan, so the dashboards cannot be shown here "
                          "(moe render draws them to PNG files)";
        return nullptr;
    }
    auto* inst = new QVulkanInstance;
    inst->setApiVersion(QVersionNumber(1, 0));
    if (!inst->create()) {
        g_instanceError = QString("No Vulkan driver could be loaded (error %1); install mesa-vulkan-drivers for the "
                                  "software renderer")
                              .arg(static_cast<int>(inst->errorCode()));
        delete inst;
        return nullptr;
    }
    std::uint32_t n = 0;
    inst->functions()->vkEnumeratePhysicalDevices(inst->vkInstance(), &n, nullptr);
    if (n == 0) {
        g_instanceError = "Vulkan is installed but reports no device; install mesa-vulkan-drivers for the software renderer";
        delete inst;
        return nullptr;
    }
    g_instance = inst;  // lives as long as the process: windows may be created and destroyed
    return g_instance;
}

bool DashboardWindow::vulkanAvailable(QString* why) {
    const bool ok = sharedInstance() != nullptr;
    if (!ok && why) *why = g_instanceError;
    return ok;
}

DashboardWindow::DashboardWindow(QWindow* parent) : QVulkanWindow(parent) {
    if (QVulkanInstance* inst = sharedInstance()) setVulkanInstance(inst);
    // UNORM, not sRGB: colours reach the screen exactly as in the PNGs (viridis is defined in sRGB).
    setPreferredColorFormats({VK_FORMAT_B8G8R8A8_UNORM, VK_FORMAT_R8G8B8A8_UNORM});
    m_liveTimer.setInterval(33);
    connect(&m_liveTimer, &QTimer::timeout, this, [this] { poke(1); });
}

DashboardWindow::~DashboardWindow() = default;

void DashboardWindow::setLiveFps(int fps) { m_liveTimer.setInterval(1000 / std::clamp(fps, 1, 120)); }

void DashboardWindow::setRun(std::shared_ptr<const RunView> run) {
    m_run = std::move(run);
    if (m_run && m_run->live) {
        if (!m_liveTimer.isActive()) m_liveTimer.start();
    } else {
        m_liveTimer.stop();
    }
    poke();
}

void DashboardWindow::appendSnapshot(telemetry::SnapshotPtr snapshot) {
    if (!snapshot) return;
    auto next = std::make_shared<RunView>(m_run ? *m_run : RunView{});
    while (!next->snapshots.empty() && next->snapshots.back()->step >= snapshot->step) next->snapshots.pop_back();
    next->snapshots.push_back(std::move(snapshot));
    next->live = true;
    setRun(std::move(next));
}

void DashboardWindow::setLive(bool live) {
    if (m_run && m_run->live != live) {
        auto next = std::make_shared<RunView>(*m_run);
        next->live = live;
        setRun(std::move(next));
    }
}

void DashboardWindow::selectStep(qint64 step) {
    m_state.snapshotIndex = step < 0 || !m_run ? -1 : m_run->indexAtStep(step);
    poke();
}

void DashboardWindow::simulateClusterAsync() {
#ifdef MOE_VIZ_HAS_CLUSTER
    if (!m_run) return;
    auto run = m_run;
    const int index = m_state.snapshotIndex;
    QPointer<DashboardWindow> self(this);
    // The simulator takes milliseconds to seconds: never on the UI thread.
    spec::handOver();
    QThreadPool::globalInstance()->start([run, index, self] {
        spec::takeOver();
        auto sim = simulateCluster(*run, index);
        auto next = std::make_shared<RunView>(*run);
        const bool ok = sim.ok();
        if (ok) {
            next->cluster = sim->result;
            next->clusterNote = sim->note;
        } else {
            next->clusterNote = "The cluster simulation failed: " + sim.message();
        }
        // Back through the application object: this window may be gone by the time it runs.
        spec::handOver();
        QMetaObject::invokeMethod(
            QCoreApplication::instance(),
            [self, next, ok] {
                spec::takeOver();
                if (!self) return;
                // Keep snapshots that arrived meanwhile: only the cluster result is new.
                auto merged = std::make_shared<RunView>(self->m_run ? *self->m_run : *next);
                merged->cluster = next->cluster;
                merged->clusterNote = next->clusterNote;
                self->setRun(merged);
                Q_EMIT self->clusterSimulated(ok, QString::fromStdString(merged->clusterNote));
            },
            Qt::QueuedConnection);
    });
#endif
}

void DashboardWindow::setView(View v) {
    m_view = v;
    poke();
}

void DashboardWindow::setPresenter(bool on, float scale) {
    m_presenter = on;
    m_presenterScale = std::max(1.0f, scale);
    poke();
}

void DashboardWindow::setLightTheme(bool light) {
    setDashboardTheme(light);
    poke();
}

void DashboardWindow::poke(int frames) {
    m_pendingFrames = std::max(m_pendingFrames, frames);
    if (isValid() || isExposed()) requestUpdate();
}

void DashboardWindow::handleIntents(const std::vector<Intent>& intents) {
    for (const auto& i : intents) {
        switch (i.kind) {
            case Intent::Kind::SelectBlock: Q_EMIT blockSelected(static_cast<int>(i.value)); break;
            case Intent::Kind::SelectStep: Q_EMIT stepSelected(i.value); break;
            case Intent::Kind::FollowLive: Q_EMIT followLiveChanged(i.value != 0); break;
            case Intent::Kind::SelectExpert: Q_EMIT expertSelected(static_cast<int>(i.value)); break;
        }
    }
}

// ---- input: collected here, applied to ImGui's IO by the renderer at the next frame -----------

namespace {
int buttonIndex(Qt::MouseButton b) {
    switch (b) {
        case Qt::LeftButton: return 0;
        case Qt::RightButton: return 1;
        case Qt::MiddleButton: return 2;
        default: return -1;
    }
}
}  // namespace

// Qt key codes to ImGui's 512 key slots: printable keys keep their code, Qt's special keys
// (0x01000000 + n) go to 256 + n.
int qtKeySlot(int key) {
    if (key >= 0 && key < 256) return key;
    if ((key & 0x01000000) && (key & 0xFFFFFF) < 256) return 256 + (key & 0xFF);
    return -1;
}

void DashboardWindow::setMouse(const QPointF& p) {
    // Qt gives device-independent pixels; the dashboards draw in framebuffer pixels.
    const double dpr = devicePixelRatio();
    m_input.x = static_cast<float>(p.x() * dpr);
    m_input.y = static_cast<float>(p.y() * dpr);
}

void DashboardWindow::mouseMoveEvent(QMouseEvent* e) {
    setMouse(e->position());
    poke();
}

void DashboardWindow::mousePressEvent(QMouseEvent* e) {
    setMouse(e->position());
    if (int i = buttonIndex(e->button()); i >= 0) m_input.down[i] = m_input.pressed[i] = true;
    requestActivate();
    poke();
}

void DashboardWindow::mouseReleaseEvent(QMouseEvent* e) {
    if (int i = buttonIndex(e->button()); i >= 0) m_input.down[i] = false;
    poke();
}

void DashboardWindow::mouseDoubleClickEvent(QMouseEvent* e) {
    // ImGui detects double clicks itself from press timing; treat it as a press.
    mousePressEvent(e);
}

void DashboardWindow::wheelEvent(QWheelEvent* e) {
    // One notch is 120 eighths of a degree; ImGui counts notches.
    m_input.wheel += static_cast<float>(e->angleDelta().y()) / 120.0f;
    m_input.wheelH += static_cast<float>(e->angleDelta().x()) / 120.0f;
    setMouse(e->position());
    m_input.shift = e->modifiers() & Qt::ShiftModifier;
    poke();
}

void DashboardWindow::keyPressEvent(QKeyEvent* e) {
    if (int k = qtKeySlot(e->key()); k >= 0) m_input.keys[k] = true;
    m_input.ctrl = e->modifiers() & Qt::ControlModifier;
    m_input.shift = e->modifiers() & Qt::ShiftModifier;
    m_input.alt = e->modifiers() & Qt::AltModifier;
    m_input.super = e->modifiers() & Qt::MetaModifier;
    if (!e->text().isEmpty() && e->text().at(0).isPrint()) m_input.text += e->text();
    poke();
}

void DashboardWindow::keyReleaseEvent(QKeyEvent* e) {
    if (int k = qtKeySlot(e->key()); k >= 0) m_input.keys[k] = false;
    m_input.ctrl = e->modifiers() & Qt::ControlModifier;
    m_input.shift = e->modifiers() & Qt::ShiftModifier;
    m_input.alt = e->modifiers() & Qt::AltModifier;
    m_input.super = e->modifiers() & Qt::MetaModifier;
    poke();
}

void DashboardWindow::focusOutEvent(QFocusEvent* e) {
    // Keys and buttons released elsewhere never reach us: let go of everything.
    std::fill(std::begin(m_input.down), std::end(m_input.down), false);
    std::fill(std::begin(m_input.keys), std::end(m_input.keys), false);
    m_input.ctrl = m_input.shift = m_input.alt = m_input.super = false;
    QVulkanWindow::focusOutEvent(e);
    poke();
}

bool DashboardWindow::event(QEvent* e) {
    switch (e->type()) {
        case QEvent::Leave:
            m_input.x = m_input.y = -1e6f;
            poke();
            break;
        case QEvent::Resize:
        case QEvent::ScreenChangeInternal:
            poke();
            break;
        default: break;
    }
    return QVulkanWindow::event(e);
}

void DashboardWindow::exposeEvent(QExposeEvent* e) {
    QVulkanWindow::exposeEvent(e);
    if (!isExposed()) return;
    // QVulkanWindow sets itself up on the first expose; when that fails it only logs.
    if (!isValid() && !m_failedReported) {
        m_failedReported = true;
        QString why;
        if (!vulkanAvailable(&why)) why = why.isEmpty() ? "Vulkan is not available" : why;
        else why = "Vulkan could not draw into this window (no device can present to this display)";
        spdlog::warn("viz: {}", why.toStdString());
        Q_EMIT vulkanFailed(why);
        return;
    }
    poke();
}

}  // namespace moe::viz
