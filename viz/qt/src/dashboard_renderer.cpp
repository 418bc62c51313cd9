// The QVulkanWindow renderer: initialises Dear ImGui's Vulkan backend from the window's
// instance, device, queue and default render pass, applies the input the window collected, and
// draws the tabbed dashboards (the same panel code as the offscreen renderer).
#include <QVulkanDeviceFunctions>
#include <QVulkanFunctions>

#include <backends/imgui_impl_vulkan.h>
#include <imgui.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "moe/viz/gpu_grid.h"
#include "moe/viz/imgui_setup.h"
#include "moe/viz_qt/dashboard_window.h"

namespace moe::viz {

int qtKeySlot(int key);

namespace {
void checkVk(VkResult r) {
    if (r != VK_SUCCESS) spdlog::error("viz: Vulkan call failed in the ImGui backend: {}", static_cast<int>(r));
}
}  // namespace

class DashboardRenderer : public QVulkanWindowRenderer {
public:
    explicit DashboardRenderer(DashboardWindow* w) : m_w(w) {}

    void initResources() override {
        m_df = m_w->vulkanInstance()->deviceFunctions(m_w->device());
        VkDescriptorPoolSize ps{VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER, 16};
        VkDescriptorPoolCreateInfo dpci{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
        dpci.flags = VK_DESCRIPTOR_POOL_CREATE_FREE_DESCRIPTOR_SET_BIT;
        dpci.maxSets = 16;
        dpci.poolSizeCount = 1;
        dpci.pPoolSizes = &ps;
        m_df->vkCreateDescriptorPool(m_w->device(), &dpci, nullptr, &m_pool);

        setUpImGui(static_cast<float>(m_w->devicePixelRatio()));
        m_w->m_deviceName = QString::fromUtf8(m_w->physicalDeviceProperties()->deviceName);
        m_clock.start();
        Q_EMIT m_w->vulkanReady(m_w->m_deviceName);
    }

    void releaseResources() override {
        m_df->vkDeviceWaitIdle(m_w->device());
        tearDownImGui();
        m_df->vkDestroyDescriptorPool(m_w->device(), m_pool, nullptr);
        m_pool = VK_NULL_HANDLE;
    }

    void startNextFrame() override {
        // The panels work in framebuffer pixels with fonts and sizes scaled by the device pixel
        // ratio (times the presenter's scale); when it changes (the window moved to another
        // screen, presenter mode) fonts are rebuilt for it.
        const float dpr = static_cast<float>(m_w->devicePixelRatio()) * m_w->contentScale();
        if (dpr != m_scale) {
            m_df->vkDeviceWaitIdle(m_w->device());
            tearDownImGui();
            setUpImGui(dpr);
        }
        ImGui::SetCurrentContext(m_ctx);
        if (dashboardThemeLight() != m_light) {
            m_light = dashboardThemeLight();
            setDashboardTheme(m_light);  // restyles this window's context
        }
        ImGuiIO& io = ImGui::GetIO();
        const QSize px = m_w->swapChainImageSize();
        io.DisplaySize = {static_cast<float>(px.width()), static_cast<float>(px.height())};
        io.DisplayFramebufferScale = {1.0f, 1.0f};
        const qint64 ns = m_clock.nsecsElapsed();
        io.DeltaTime = std::max(1e-4f, static_cast<float>(ns - m_lastNs) * 1e-9f);
        m_lastNs = ns;
        applyInput(io);

        if (m_grid) m_grid->beginFrame(m_w->currentFrame());
        ImGui_ImplVulkan_NewFrame();
        ImGui::NewFrame();
        static const RunView kEmpty;
        const RunView& run = m_w->m_run ? *m_w->m_run : kEmpty;
        m_w->m_state.wantsRedraw = false;
        const auto intents = m_w->m_presenter ? drawSingleView(m_w->m_view, run, m_w->m_state) : drawTabbed(m_w->m_view, run, m_w->m_state);
        ImGui::Render();
        ImDrawData* dd = ImGui::GetDrawData();
        VkCommandBuffer cb = m_w->currentCommandBuffer();
        if (m_grid) m_grid->flush(dd, cb);

        VkClearValue clear[3]{};
        dashboardBackground(clear[0].color.float32);
        clear[1].depthStencil = {1.0f, 0};
        clear[2].color = clear[0].color;
        VkRenderPassBeginInfo rbi{VK_STRUCTURE_TYPE_RENDER_PASS_BEGIN_INFO};
        rbi.renderPass = m_w->defaultRenderPass();
        rbi.framebuffer = m_w->currentFramebuffer();
        rbi.renderArea.extent = {static_cast<std::uint32_t>(px.width()), static_cast<std::uint32_t>(px.height())};
        rbi.clearValueCount = m_w->sampleCountFlagBits() > VK_SAMPLE_COUNT_1_BIT ? 3 : 2;
        rbi.pClearValues = clear;
        m_df->vkCmdBeginRenderPass(cb, &rbi, VK_SUBPASS_CONTENTS_INLINE);
        ImGui_ImplVulkan_RenderDrawData(dd, cb);
        m_df->vkCmdEndRenderPass(cb);
        m_w->frameReady();

        ++m_w->m_frames;
        m_w->handleIntents(intents);
        Q_EMIT m_w->frameRendered();
        // Keep drawing while something is settling or animating; otherwise wait for a change.
        if (m_w->m_state.wantsRedraw || io.MouseDown[0] || io.MouseDown[1]) m_w->m_pendingFrames = std::max(m_w->m_pendingFrames, 2);
        if (--m_w->m_pendingFrames > 0) m_w->requestUpdate();
    }

private:
    void setUpImGui(float scale) {
        m_scale = scale;
        m_ctx = createImGuiContext(scale);
        m_light = dashboardThemeLight();
        ImGui_ImplVulkan_InitInfo ii{};
        ii.Instance = m_w->vulkanInstance()->vkInstance();
        ii.PhysicalDevice = m_w->physicalDevice();
        ii.Device = m_w->device();
        ii.QueueFamily = m_w->graphicsQueueFamilyIndex();
        ii.Queue = m_w->graphicsQueue();
        ii.DescriptorPool = m_pool;
        ii.MinImageCount = 2;
        ii.ImageCount = static_cast<std::uint32_t>(std::max(2, m_w->concurrentFrameCount() + 1));
        ii.MSAASamples = m_w->sampleCountFlagBits();
        ii.CheckVkResultFn = checkVk;
        ImGui_ImplVulkan_Init(&ii, m_w->defaultRenderPass());
        uploadFonts();
        std::string err;
        m_grid = GridRenderer::create(m_w->physicalDevice(), m_w->device(), m_w->defaultRenderPass(),
                                      m_w->concurrentFrameCount(), err);
        if (m_grid) GridRenderer::attach(m_ctx, m_grid.get());
        else spdlog::warn("viz: heatmaps fall back to ImGui rectangles: {}", err);
    }

    void tearDownImGui() {
        m_grid.reset();
        if (m_ctx) {
            ImGui::SetCurrentContext(m_ctx);
            ImGui_ImplVulkan_Shutdown();
            destroyImGuiContext(m_ctx);
            m_ctx = nullptr;
        }
    }

    void uploadFonts() {
        VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
        ai.commandPool = m_w->graphicsCommandPool();
        ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
        ai.commandBufferCount = 1;
        VkCommandBuffer cb = VK_NULL_HANDLE;
        m_df->vkAllocateCommandBuffers(m_w->device(), &ai, &cb);
        VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
        bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
        m_df->vkBeginCommandBuffer(cb, &bi);
        ImGui_ImplVulkan_CreateFontsTexture(cb);
        m_df->vkEndCommandBuffer(cb);
        VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
        si.commandBufferCount = 1;
        si.pCommandBuffers = &cb;
        m_df->vkQueueSubmit(m_w->graphicsQueue(), 1, &si, VK_NULL_HANDLE);
        m_df->vkQueueWaitIdle(m_w->graphicsQueue());
        m_df->vkFreeCommandBuffers(m_w->device(), m_w->graphicsCommandPool(), 1, &cb);
        ImGui_ImplVulkan_DestroyFontUploadObjects();
    }

    void applyInput(ImGuiIO& io) {
        auto& in = m_w->m_input;
        io.MousePos = {in.x, in.y};
        // ImGui 1.86 samples button state once per frame: a press released before the next frame
        // is still shown as down for one frame, so quick clicks are not lost.
        bool releaseLater = false;
        for (int i = 0; i < 3; ++i) {
            io.MouseDown[i] = in.down[i] || in.pressed[i];
            releaseLater |= in.pressed[i] && !in.down[i];
            in.pressed[i] = false;
        }
        if (releaseLater) m_w->m_pendingFrames = std::max(m_w->m_pendingFrames, 2);
        io.MouseWheel = in.wheel;
        io.MouseWheelH = in.wheelH;
        in.wheel = in.wheelH = 0;
        io.KeyCtrl = in.ctrl;
        io.KeyShift = in.shift;
        io.KeyAlt = in.alt;
        io.KeySuper = in.super;
        std::copy(std::begin(in.keys), std::end(in.keys), io.KeysDown);
        if (!in.text.isEmpty()) {
            io.AddInputCharactersUTF8(in.text.toUtf8().constData());
            in.text.clear();
        }
        static bool mapped = false;
        if (!mapped || io.KeyMap[ImGuiKey_LeftArrow] == -1) {
            const std::pair<ImGuiKey_, int> map[] = {
                {ImGuiKey_Tab, Qt::Key_Tab},         {ImGuiKey_LeftArrow, Qt::Key_Left},   {ImGuiKey_RightArrow, Qt::Key_Right},
                {ImGuiKey_UpArrow, Qt::Key_Up},       {ImGuiKey_DownArrow, Qt::Key_Down},   {ImGuiKey_PageUp, Qt::Key_PageUp},
                {ImGuiKey_PageDown, Qt::Key_PageDown}, {ImGuiKey_Home, Qt::Key_Home},       {ImGuiKey_End, Qt::Key_End},
                {ImGuiKey_Insert, Qt::Key_Insert},   {ImGuiKey_Delete, Qt::Key_Delete},   {ImGuiKey_Backspace, Qt::Key_Backspace},
                {ImGuiKey_Space, Qt::Key_Space},     {ImGuiKey_Enter, Qt::Key_Return},    {ImGuiKey_Escape, Qt::Key_Escape},
                {ImGuiKey_KeyPadEnter, Qt::Key_Enter}, {ImGuiKey_A, Qt::Key_A},             {ImGuiKey_C, Qt::Key_C},
                {ImGuiKey_V, Qt::Key_V},             {ImGuiKey_X, Qt::Key_X},             {ImGuiKey_Y, Qt::Key_Y},
                {ImGuiKey_Z, Qt::Key_Z}};
            for (const auto& [k, q] : map) io.KeyMap[k] = qtKeySlot(q);
            mapped = true;
        }
    }

    DashboardWindow* m_w;
    QVulkanDeviceFunctions* m_df = nullptr;
    VkDescriptorPool m_pool = VK_NULL_HANDLE;
    ImGuiContext* m_ctx = nullptr;
    bool m_light = false;  // the theme this context is styled for
    std::unique_ptr<GridRenderer> m_grid;
    float m_scale = 1;
    QElapsedTimer m_clock;
    qint64 m_lastNs = 0;
};

QVulkanWindowRenderer* DashboardWindow::createRenderer() {
    m_renderer = new DashboardRenderer(this);
    return m_renderer;
}

}  // namespace moe::viz
