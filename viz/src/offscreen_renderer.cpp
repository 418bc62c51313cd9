#include "moe/viz/offscreen.h"

#include <backends/imgui_impl_vulkan.h>
#include <imgui.h>
#include <spdlog/spdlog.h>
#include <stb_image_write.h>
#include <vulkan/vulkan.h>

#include <cstring>

#include "moe/viz/gpu_grid.h"
#include "moe/viz/imgui_setup.h"
#include "vk_util.h"

namespace moe::viz {

std::uint32_t Image::pixel(int x, int y) const {
    if (x < 0 || y < 0 || x >= width || y >= height) return 0;
    const auto* p = &rgba[(static_cast<size_t>(y) * static_cast<size_t>(width) + static_cast<size_t>(x)) * 4];
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

std::string savePng(const Image& img, const std::string& path) {
    if (img.width <= 0 || img.height <= 0 || img.rgba.size() != static_cast<size_t>(img.width) * img.height * 4)
        return "no image to write";
    if (!stbi_write_png(path.c_str(), img.width, img.height, 4, img.rgba.data(), img.width * 4))
        return "could not write the PNG file '" + path + "' (check the folder exists and is writable)";
    return {};
}

namespace {

void checkVk(VkResult r) {
    if (r != VK_SUCCESS) spdlog::error("viz: Vulkan call failed in the ImGui backend: {}", static_cast<int>(r));
}

constexpr VkFormat kFormat = VK_FORMAT_R8G8B8A8_UNORM;

}  // namespace

struct OffscreenRenderer::Impl {
    int width = 0, height = 0;
    VkInstance instance = VK_NULL_HANDLE;
    VkPhysicalDevice physical = VK_NULL_HANDLE;
    VkDevice device = VK_NULL_HANDLE;
    std::uint32_t queueFamily = 0;
    VkQueue queue = VK_NULL_HANDLE;
    VkImage image = VK_NULL_HANDLE;
    VkDeviceMemory imageMemory = VK_NULL_HANDLE;
    VkImageView view = VK_NULL_HANDLE;
    VkRenderPass renderPass = VK_NULL_HANDLE;
    VkFramebuffer framebuffer = VK_NULL_HANDLE;
    VkBuffer readback = VK_NULL_HANDLE;
    VkDeviceMemory readbackMemory = VK_NULL_HANDLE;
    VkCommandPool pool = VK_NULL_HANDLE;
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    VkFence fence = VK_NULL_HANDLE;
    VkDescriptorPool descriptors = VK_NULL_HANDLE;
    ImGuiContext* ctx = nullptr;
    bool imguiVulkan = false;
    std::unique_ptr<GridRenderer> grid;
    std::string deviceName;
    float wheel = 0;

    ~Impl() {
        if (device) vkDeviceWaitIdle(device);
        if (ctx) {
            ImGui::SetCurrentContext(ctx);
            if (imguiVulkan) ImGui_ImplVulkan_Shutdown();
            destroyImGuiContext(ctx);
        }
        grid.reset();
        if (device) {
            vkDestroyDescriptorPool(device, descriptors, nullptr);
            vkDestroyFence(device, fence, nullptr);
            vkDestroyCommandPool(device, pool, nullptr);
            vkDestroyBuffer(device, readback, nullptr);
            vkFreeMemory(device, readbackMemory, nullptr);
            vkDestroyFramebuffer(device, framebuffer, nullptr);
            vkDestroyRenderPass(device, renderPass, nullptr);
            vkDestroyImageView(device, view, nullptr);
            vkDestroyImage(device, image, nullptr);
            vkFreeMemory(device, imageMemory, nullptr);
            vkDestroyDevice(device, nullptr);
        }
        if (instance) vkDestroyInstance(instance, nullptr);
    }

    // Records into `cmd`, submits, waits.
    template <class F>
    VkResult submit(F&& record) {
        vkResetCommandPool(device, pool, 0);
        VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
        bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
        vkBeginCommandBuffer(cmd, &bi);
        record(cmd);
        vkEndCommandBuffer(cmd);
        VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
        si.commandBufferCount = 1;
        si.pCommandBuffers = &cmd;
        VkResult r = vkQueueSubmit(queue, 1, &si, fence);
        if (r != VK_SUCCESS) return r;
        r = vkWaitForFences(device, 1, &fence, VK_TRUE, UINT64_MAX);
        vkResetFences(device, 1, &fence);
        return r;
    }

    std::string init() {
        VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
        app.pApplicationName = "moe-viz-offscreen";
        app.apiVersion = VK_API_VERSION_1_0;
        VkInstanceCreateInfo ici{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
        ici.pApplicationInfo = &app;
        if (VkResult r = vkCreateInstance(&ici, nullptr, &instance); r != VK_SUCCESS) {
            instance = VK_NULL_HANDLE;
            return "no Vulkan driver: vkCreateInstance failed (" + std::to_string(static_cast<int>(r)) +
                   "); install mesa-vulkan-drivers for the lavapipe software device";
        }
        detail::keepVulkanDriversMappedForLeakReports();
        std::uint32_t n = 0;
        vkEnumeratePhysicalDevices(instance, &n, nullptr);
        std::vector<VkPhysicalDevice> devs(n);
        if (n) vkEnumeratePhysicalDevices(instance, &n, devs.data());
        for (VkPhysicalDevice d : devs) {
            std::uint32_t qn = 0;
            vkGetPhysicalDeviceQueueFamilyProperties(d, &qn, nullptr);
            std::vector<VkQueueFamilyProperties> qs(qn);
            vkGetPhysicalDeviceQueueFamilyProperties(d, &qn, qs.data());
            for (std::uint32_t i = 0; i < qn; ++i)
                if (qs[i].queueFlags & VK_QUEUE_GRAPHICS_BIT) {
                    physical = d;
                    queueFamily = i;
                    break;
                }
            if (physical) break;
        }
        if (!physical) return "no Vulkan device with a graphics queue was found";
        VkPhysicalDeviceProperties props;
        vkGetPhysicalDeviceProperties(physical, &props);
        deviceName = props.deviceName;

        const float prio = 1.0f;
        VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
        qci.queueFamilyIndex = queueFamily;
        qci.queueCount = 1;
        qci.pQueuePriorities = &prio;
        VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
        dci.queueCreateInfoCount = 1;
        dci.pQueueCreateInfos = &qci;
        if (vkCreateDevice(physical, &dci, nullptr, &device) != VK_SUCCESS) {
            device = VK_NULL_HANDLE;
            return "could not create a Vulkan device on " + deviceName;
        }
        vkGetDeviceQueue(device, queueFamily, 0, &queue);

        VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
        pci.queueFamilyIndex = queueFamily;
        vkCreateCommandPool(device, &pci, nullptr, &pool);
        VkCommandBufferAllocateInfo cai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
        cai.commandPool = pool;
        cai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
        cai.commandBufferCount = 1;
        vkAllocateCommandBuffers(device, &cai, &cmd);
        VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        vkCreateFence(device, &fci, nullptr, &fence);

        // Render pass: clear, draw, leave the image ready to be copied out.
        VkAttachmentDescription att{};
        att.format = kFormat;
        att.samples = VK_SAMPLE_COUNT_1_BIT;
        att.loadOp = VK_ATTACHMENT_LOAD_OP_CLEAR;
        att.storeOp = VK_ATTACHMENT_STORE_OP_STORE;
        att.stencilLoadOp = VK_ATTACHMENT_LOAD_OP_DONT_CARE;
        att.stencilStoreOp = VK_ATTACHMENT_STORE_OP_DONT_CARE;
        att.initialLayout = VK_IMAGE_LAYOUT_UNDEFINED;
        att.finalLayout = VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL;
        VkAttachmentReference ref{0, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL};
        VkSubpassDescription sub{};
        sub.pipelineBindPoint = VK_PIPELINE_BIND_POINT_GRAPHICS;
        sub.colorAttachmentCount = 1;
        sub.pColorAttachments = &ref;
        VkSubpassDependency deps[2]{};
        deps[0].srcSubpass = VK_SUBPASS_EXTERNAL;
        deps[0].dstSubpass = 0;
        deps[0].srcStageMask = VK_PIPELINE_STAGE_TRANSFER_BIT;
        deps[0].srcAccessMask = VK_ACCESS_TRANSFER_READ_BIT;
        deps[0].dstStageMask = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT;
        deps[0].dstAccessMask = VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT;
        deps[1].srcSubpass = 0;
        deps[1].dstSubpass = VK_SUBPASS_EXTERNAL;
        deps[1].srcStageMask = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT;
        deps[1].srcAccessMask = VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT;
        deps[1].dstStageMask = VK_PIPELINE_STAGE_TRANSFER_BIT;
        deps[1].dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT;
        VkRenderPassCreateInfo rpci{VK_STRUCTURE_TYPE_RENDER_PASS_CREATE_INFO};
        rpci.attachmentCount = 1;
        rpci.pAttachments = &att;
        rpci.subpassCount = 1;
        rpci.pSubpasses = &sub;
        rpci.dependencyCount = 2;
        rpci.pDependencies = deps;
        if (vkCreateRenderPass(device, &rpci, nullptr, &renderPass) != VK_SUCCESS) return "could not create a render pass";

        VkDescriptorPoolSize ps{VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER, 16};
        VkDescriptorPoolCreateInfo dpci{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
        dpci.flags = VK_DESCRIPTOR_POOL_CREATE_FREE_DESCRIPTOR_SET_BIT;
        dpci.maxSets = 16;
        dpci.poolSizeCount = 1;
        dpci.pPoolSizes = &ps;
        vkCreateDescriptorPool(device, &dpci, nullptr, &descriptors);

        if (auto e = createTarget(); !e.empty()) return e;

        ctx = createImGuiContext(1.0f);
        ImGui_ImplVulkan_InitInfo ii{};
        ii.Instance = instance;
        ii.PhysicalDevice = physical;
        ii.Device = device;
        ii.QueueFamily = queueFamily;
        ii.Queue = queue;
        ii.DescriptorPool = descriptors;
        ii.MinImageCount = 2;
        ii.ImageCount = 2;
        ii.MSAASamples = VK_SAMPLE_COUNT_1_BIT;
        ii.CheckVkResultFn = checkVk;
        if (!ImGui_ImplVulkan_Init(&ii, renderPass)) return "Dear ImGui's Vulkan backend failed to initialise";
        imguiVulkan = true;
        if (submit([](VkCommandBuffer c) { ImGui_ImplVulkan_CreateFontsTexture(c); }) != VK_SUCCESS)
            return "could not upload the font texture";
        ImGui_ImplVulkan_DestroyFontUploadObjects();
        std::string gridError;
        grid = GridRenderer::create(physical, device, renderPass, 1, gridError);
        if (grid) GridRenderer::attach(ctx, grid.get());
        else spdlog::warn("viz: heatmaps fall back to ImGui rectangles: {}", gridError);
        return {};
    }

    std::string createTarget() {
        const VkImageCreateInfo ici = detail::image2D(kFormat, width, height, VK_IMAGE_TILING_OPTIMAL,
                                                      VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT | VK_IMAGE_USAGE_TRANSFER_SRC_BIT,
                                                      VK_IMAGE_LAYOUT_UNDEFINED);
        if (vkCreateImage(device, &ici, nullptr, &image) != VK_SUCCESS) return "could not create the offscreen image";
        imageMemory = detail::allocateBound(physical, device, image, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
        if (!imageMemory) return "no device memory for the offscreen image";
        view = detail::colourView(device, image, kFormat);
        if (!view) return "could not create the offscreen image's view";
        VkFramebufferCreateInfo fci{VK_STRUCTURE_TYPE_FRAMEBUFFER_CREATE_INFO};
        fci.renderPass = renderPass;
        fci.attachmentCount = 1;
        fci.pAttachments = &view;
        fci.width = static_cast<std::uint32_t>(width);
        fci.height = static_cast<std::uint32_t>(height);
        fci.layers = 1;
        vkCreateFramebuffer(device, &fci, nullptr, &framebuffer);

        VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
        bci.size = static_cast<VkDeviceSize>(width) * height * 4;
        bci.usage = VK_BUFFER_USAGE_TRANSFER_DST_BIT;
        if (vkCreateBuffer(device, &bci, nullptr, &readback) != VK_SUCCESS) return "could not create the read-back buffer";
        readbackMemory = detail::allocateBound(physical, device, readback,
                                               VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
        if (!readbackMemory) return "no host-visible memory for the read-back buffer";
        return {};
    }
};

OffscreenRenderer::OffscreenRenderer(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
OffscreenRenderer::~OffscreenRenderer() = default;

moe::spec::Result<std::unique_ptr<OffscreenRenderer>> OffscreenRenderer::create(int width, int height) {
    if (width < 64 || height < 64 || width > 8192 || height > 8192)
        return moe::spec::Diagnostics{{"size", "the image size must be between 64x64 and 8192x8192 pixels, not " +
                                                   std::to_string(width) + "x" + std::to_string(height)}};
    auto impl = std::make_unique<Impl>();
    impl->width = width;
    impl->height = height;
    if (auto e = impl->init(); !e.empty()) return moe::spec::Diagnostics{{"vulkan", e}};
    spdlog::debug("viz: offscreen renderer on {} ({}x{})", impl->deviceName, width, height);
    return std::unique_ptr<OffscreenRenderer>(new OffscreenRenderer(std::move(impl)));
}

void OffscreenRenderer::frame(const std::function<void()>& draw, float dt) {
    Impl& d = *m_impl;
    ImGui::SetCurrentContext(d.ctx);
    ImGuiIO& io = ImGui::GetIO();
    io.DisplaySize = {static_cast<float>(d.width), static_cast<float>(d.height)};
    io.DisplayFramebufferScale = {1, 1};
    io.DeltaTime = dt > 0 ? dt : 1.0f / 60.0f;
    io.MouseWheel = d.wheel;
    d.wheel = 0;
    if (d.grid) d.grid->beginFrame(0);
    ImGui_ImplVulkan_NewFrame();
    ImGui::NewFrame();
    if (draw) draw();
    ImGui::Render();
    ImDrawData* dd = ImGui::GetDrawData();
    const VkResult r = d.submit([&](VkCommandBuffer c) {
        if (d.grid) d.grid->flush(dd, c);
        VkClearValue clear{};
        dashboardBackground(clear.color.float32);
        VkRenderPassBeginInfo rbi{VK_STRUCTURE_TYPE_RENDER_PASS_BEGIN_INFO};
        rbi.renderPass = d.renderPass;
        rbi.framebuffer = d.framebuffer;
        rbi.renderArea.extent = {static_cast<std::uint32_t>(d.width), static_cast<std::uint32_t>(d.height)};
        rbi.clearValueCount = 1;
        rbi.pClearValues = &clear;
        vkCmdBeginRenderPass(c, &rbi, VK_SUBPASS_CONTENTS_INLINE);
        ImGui_ImplVulkan_RenderDrawData(dd, c);
        vkCmdEndRenderPass(c);
    });
    if (r != VK_SUCCESS) spdlog::error("viz: offscreen frame failed: Vulkan error {}", static_cast<int>(r));
}

Image OffscreenRenderer::readPixels() {
    Impl& d = *m_impl;
    Image img;
    img.width = d.width;
    img.height = d.height;
    const VkResult r = d.submit([&](VkCommandBuffer c) {
        VkBufferImageCopy region{};
        region.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1};
        region.imageExtent = {static_cast<std::uint32_t>(d.width), static_cast<std::uint32_t>(d.height), 1};
        vkCmdCopyImageToBuffer(c, d.image, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, d.readback, 1, &region);
    });
    if (r != VK_SUCCESS) {
        spdlog::error("viz: reading the offscreen image failed: Vulkan error {}", static_cast<int>(r));
        return {};
    }
    const size_t bytes = static_cast<size_t>(d.width) * d.height * 4;
    void* mapped = nullptr;
    if (vkMapMemory(d.device, d.readbackMemory, 0, bytes, 0, &mapped) != VK_SUCCESS) return {};
    img.rgba.resize(bytes);
    std::memcpy(img.rgba.data(), mapped, bytes);
    vkUnmapMemory(d.device, d.readbackMemory);
    return img;
}

void OffscreenRenderer::setMouse(float x, float y, bool leftDown) {
    ImGui::SetCurrentContext(m_impl->ctx);
    ImGuiIO& io = ImGui::GetIO();
    io.MousePos = {x, y};
    io.MouseDown[0] = leftDown;
}

void OffscreenRenderer::setWheel(float wheel) { m_impl->wheel = wheel; }
std::string OffscreenRenderer::deviceName() const { return m_impl->deviceName; }
int OffscreenRenderer::width() const { return m_impl->width; }
int OffscreenRenderer::height() const { return m_impl->height; }

}  // namespace moe::viz
