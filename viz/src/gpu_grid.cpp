#include "moe/viz/gpu_grid.h"

#include <imgui.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "draw_util.h"
#include "vk_util.h"

namespace moe::viz {

namespace {

// SPIR-V compiled at build time by glslc from viz/shaders/grid.{vert,frag}.
const std::uint32_t kVert[] = {
#include "grid.vert.inc"
};
const std::uint32_t kFrag[] = {
#include "grid.frag.inc"
};

struct Push {
    float rect[4];
    float viewport[2];
    float uvScale[2];
    float uvOffset[2];
    float rows;
    std::uint32_t rule;
};

constexpr VkFormat kCellFormat = VK_FORMAT_R8G8B8A8_UNORM;  // ImU32's byte order on little-endian hosts

VkShaderModule shader(VkDevice dev, const std::uint32_t* code, std::size_t bytes) {
    VkShaderModuleCreateInfo ci{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
    ci.codeSize = bytes;
    ci.pCode = code;
    VkShaderModule m = VK_NULL_HANDLE;
    vkCreateShaderModule(dev, &ci, nullptr, &m);
    return m;
}

}  // namespace

std::unique_ptr<GridRenderer> GridRenderer::create(VkPhysicalDevice physical, VkDevice device, VkRenderPass renderPass,
                                                   int frameSlots, std::string& error) {
    std::unique_ptr<GridRenderer> g(new GridRenderer);
    g->m_physical = physical;
    g->m_device = device;
    VkFormatProperties fp;
    vkGetPhysicalDeviceFormatProperties(physical, kCellFormat, &fp);
    if (!(fp.linearTilingFeatures & VK_FORMAT_FEATURE_SAMPLED_IMAGE_BIT)) {
        error = "the device cannot sample linear RGBA8 textures";
        return nullptr;
    }
    VkSamplerCreateInfo sci{VK_STRUCTURE_TYPE_SAMPLER_CREATE_INFO};
    sci.magFilter = sci.minFilter = VK_FILTER_NEAREST;
    sci.mipmapMode = VK_SAMPLER_MIPMAP_MODE_NEAREST;
    sci.addressModeU = sci.addressModeV = sci.addressModeW = VK_SAMPLER_ADDRESS_MODE_CLAMP_TO_EDGE;
    sci.maxLod = 0;
    if (vkCreateSampler(device, &sci, nullptr, &g->m_sampler) != VK_SUCCESS) {
        error = "could not create the grid's sampler";
        return nullptr;
    }
    VkDescriptorSetLayoutBinding b{0, VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER, 1, VK_SHADER_STAGE_FRAGMENT_BIT, nullptr};
    VkDescriptorSetLayoutCreateInfo slci{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
    slci.bindingCount = 1;
    slci.pBindings = &b;
    VkPushConstantRange pr{VK_SHADER_STAGE_VERTEX_BIT | VK_SHADER_STAGE_FRAGMENT_BIT, 0, sizeof(Push)};
    if (vkCreateDescriptorSetLayout(device, &slci, nullptr, &g->m_setLayout) != VK_SUCCESS) {
        error = "could not create the grid's descriptor set layout";
        return nullptr;
    }
    VkPipelineLayoutCreateInfo plci{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
    plci.setLayoutCount = 1;
    plci.pSetLayouts = &g->m_setLayout;
    plci.pushConstantRangeCount = 1;
    plci.pPushConstantRanges = &pr;
    vkCreatePipelineLayout(device, &plci, nullptr, &g->m_layout);

    VkShaderModule vs = shader(device, kVert, sizeof kVert), fs = shader(device, kFrag, sizeof kFrag);
    VkPipelineShaderStageCreateInfo stages[2]{};
    stages[0] = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, nullptr, 0, VK_SHADER_STAGE_VERTEX_BIT, vs, "main", nullptr};
    stages[1] = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, nullptr, 0, VK_SHADER_STAGE_FRAGMENT_BIT, fs, "main", nullptr};
    VkPipelineVertexInputStateCreateInfo vi{VK_STRUCTURE_TYPE_PIPELINE_VERTEX_INPUT_STATE_CREATE_INFO};
    VkPipelineInputAssemblyStateCreateInfo ia{VK_STRUCTURE_TYPE_PIPELINE_INPUT_ASSEMBLY_STATE_CREATE_INFO};
    ia.topology = VK_PRIMITIVE_TOPOLOGY_TRIANGLE_LIST;
    VkPipelineViewportStateCreateInfo vp{VK_STRUCTURE_TYPE_PIPELINE_VIEWPORT_STATE_CREATE_INFO};
    vp.viewportCount = 1;
    vp.scissorCount = 1;
    VkPipelineRasterizationStateCreateInfo rs{VK_STRUCTURE_TYPE_PIPELINE_RASTERIZATION_STATE_CREATE_INFO};
    rs.polygonMode = VK_POLYGON_MODE_FILL;
    rs.cullMode = VK_CULL_MODE_NONE;
    rs.frontFace = VK_FRONT_FACE_COUNTER_CLOCKWISE;
    rs.lineWidth = 1.0f;
    VkPipelineMultisampleStateCreateInfo ms{VK_STRUCTURE_TYPE_PIPELINE_MULTISAMPLE_STATE_CREATE_INFO};
    ms.rasterizationSamples = VK_SAMPLE_COUNT_1_BIT;
    VkPipelineColorBlendAttachmentState cb{};
    // Cells are opaque, so no blending: it would cost a read of every pixel on a software
    // rasteriser.
    cb.blendEnable = VK_FALSE;
    cb.colorWriteMask = VK_COLOR_COMPONENT_R_BIT | VK_COLOR_COMPONENT_G_BIT | VK_COLOR_COMPONENT_B_BIT | VK_COLOR_COMPONENT_A_BIT;
    VkPipelineColorBlendStateCreateInfo bs{VK_STRUCTURE_TYPE_PIPELINE_COLOR_BLEND_STATE_CREATE_INFO};
    bs.attachmentCount = 1;
    bs.pAttachments = &cb;
    VkPipelineDepthStencilStateCreateInfo ds{VK_STRUCTURE_TYPE_PIPELINE_DEPTH_STENCIL_STATE_CREATE_INFO};
    const VkDynamicState dyn[] = {VK_DYNAMIC_STATE_VIEWPORT, VK_DYNAMIC_STATE_SCISSOR};
    VkPipelineDynamicStateCreateInfo dy{VK_STRUCTURE_TYPE_PIPELINE_DYNAMIC_STATE_CREATE_INFO};
    dy.dynamicStateCount = 2;
    dy.pDynamicStates = dyn;
    VkGraphicsPipelineCreateInfo pci{VK_STRUCTURE_TYPE_GRAPHICS_PIPELINE_CREATE_INFO};
    pci.stageCount = 2;
    pci.pStages = stages;
    pci.pVertexInputState = &vi;
    pci.pInputAssemblyState = &ia;
    pci.pViewportState = &vp;
    pci.pRasterizationState = &rs;
    pci.pMultisampleState = &ms;
    pci.pDepthStencilState = &ds;
    pci.pColorBlendState = &bs;
    pci.pDynamicState = &dy;
    pci.layout = g->m_layout;
    pci.renderPass = renderPass;
    const VkResult r = vkCreateGraphicsPipelines(device, VK_NULL_HANDLE, 1, &pci, nullptr, &g->m_pipeline);
    vkDestroyShaderModule(device, vs, nullptr);
    vkDestroyShaderModule(device, fs, nullptr);
    if (r != VK_SUCCESS) {
        g->m_pipeline = VK_NULL_HANDLE;
        error = "could not create the grid pipeline (Vulkan error " + std::to_string(static_cast<int>(r)) + ")";
        return nullptr;
    }
    frameSlots = std::max(1, frameSlots);
    VkDescriptorPoolSize ps{VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER, static_cast<std::uint32_t>(frameSlots)};
    VkDescriptorPoolCreateInfo dpci{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
    dpci.maxSets = static_cast<std::uint32_t>(frameSlots);
    dpci.poolSizeCount = 1;
    dpci.pPoolSizes = &ps;
    vkCreateDescriptorPool(device, &dpci, nullptr, &g->m_pool);
    g->m_slots.resize(static_cast<size_t>(frameSlots));
    for (auto& s : g->m_slots) {
        VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
        ai.descriptorPool = g->m_pool;
        ai.descriptorSetCount = 1;
        ai.pSetLayouts = &g->m_setLayout;
        if (vkAllocateDescriptorSets(device, &ai, &s.set) != VK_SUCCESS || !g->ensureCapacity(s, 256, 64)) {
            error = "could not allocate the grid's textures";
            return nullptr;
        }
    }
    return g;
}

GridRenderer::~GridRenderer() {
    if (!m_device) return;
    for (auto& s : m_slots) release(s);
    vkDestroyDescriptorPool(m_device, m_pool, nullptr);
    vkDestroyPipeline(m_device, m_pipeline, nullptr);
    vkDestroyPipelineLayout(m_device, m_layout, nullptr);
    vkDestroyDescriptorSetLayout(m_device, m_setLayout, nullptr);
    vkDestroySampler(m_device, m_sampler, nullptr);
}

void GridRenderer::release(Slot& s) {
    if (s.mapped) vkUnmapMemory(m_device, s.memory);
    vkDestroyImageView(m_device, s.view, nullptr);
    vkDestroyImage(m_device, s.image, nullptr);
    vkFreeMemory(m_device, s.memory, nullptr);
    const VkDescriptorSet set = s.set;  // the set outlives its textures: it is re-pointed
    s = Slot{};
    s.set = set;
}

bool GridRenderer::ensureCapacity(Slot& s, int width, int height) {
    if (s.image && width <= s.width && height <= s.height) return true;
    // Grow with some headroom so a window resize or one more block does not recreate it per frame.
    width = std::max({width + width / 4, s.width, 256});
    height = std::max({height + height / 4, s.height, 64});
    release(s);
    // Linear: written by the host row by row, every frame.
    const VkImageCreateInfo ici = detail::image2D(kCellFormat, width, height, VK_IMAGE_TILING_LINEAR, VK_IMAGE_USAGE_SAMPLED_BIT,
                                                  VK_IMAGE_LAYOUT_PREINITIALIZED);
    if (vkCreateImage(m_device, &ici, nullptr, &s.image) != VK_SUCCESS) return false;
    s.memory = detail::allocateBound(m_physical, m_device, s.image,
                                     VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
    void* mapped = nullptr;
    if (!s.memory || vkMapMemory(m_device, s.memory, 0, VK_WHOLE_SIZE, 0, &mapped) != VK_SUCCESS) {
        release(s);
        return false;
    }
    VkImageSubresource sub{VK_IMAGE_ASPECT_COLOR_BIT, 0, 0};
    VkSubresourceLayout lay;
    vkGetImageSubresourceLayout(m_device, s.image, &sub, &lay);
    s.mapped = static_cast<unsigned char*>(mapped);
    s.texels = s.mapped + lay.offset;
    s.rowPitch = lay.rowPitch;
    s.view = detail::colourView(m_device, s.image, kCellFormat);
    if (!s.view) {
        release(s);
        return false;
    }
    s.width = width;
    s.height = height;
    s.preinitialized = true;
    VkDescriptorImageInfo ii{m_sampler, s.view, VK_IMAGE_LAYOUT_GENERAL};
    VkWriteDescriptorSet w{VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
    w.dstSet = s.set;
    w.descriptorCount = 1;
    w.descriptorType = VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER;
    w.pImageInfo = &ii;
    vkUpdateDescriptorSets(m_device, 1, &w, 0, nullptr);
    return true;
}

void GridRenderer::attach(ImGuiContext* ctx, GridRenderer* grid) {
    ImGuiContext* prev = ImGui::GetCurrentContext();
    ImGui::SetCurrentContext(ctx);
    if (auto* f = static_cast<detail::Fonts*>(ImGui::GetIO().UserData)) f->grid = grid;
    ImGui::SetCurrentContext(prev);
}

void GridRenderer::beginFrame(int slot) {
    m_slot = std::clamp(slot, 0, static_cast<int>(m_slots.size()) - 1);
    m_cells.clear();
    m_draws.clear();
}

void GridRenderer::add(ImDrawList* dl, float x0, float y0, float x1, float y1, int cols, int rows, const std::uint32_t* colours,
                       std::uint32_t rowRule) {
    if (cols <= 0 || rows <= 0) return;
    const int offset = static_cast<int>(m_cells.size());
    m_cells.insert(m_cells.end(), colours, colours + static_cast<std::ptrdiff_t>(cols) * rows);
    m_draws.push_back({this, x0, y0, x1, y1, cols, rows, offset, 0, rowRule});
    dl->AddCallback(&GridRenderer::callback, &m_draws.back());
    dl->AddCallback(ImDrawCallback_ResetRenderState, nullptr);
}

void GridRenderer::flush(const ImDrawData* dd, VkCommandBuffer cmd) {
    m_cmd = cmd;
    m_displayX = dd->DisplayPos.x;
    m_displayY = dd->DisplayPos.y;
    m_scaleX = dd->FramebufferScale.x;
    m_scaleY = dd->FramebufferScale.y;
    m_fbW = dd->DisplaySize.x * m_scaleX;
    m_fbH = dd->DisplaySize.y * m_scaleY;
    Slot& s = m_slots[static_cast<size_t>(m_slot)];
    if (m_draws.empty()) return;
    int width = 0, height = 0;
    for (auto& d : m_draws) {
        d.row = height;
        height += d.rows;
        width = std::max(width, d.cols);
    }
    if (!ensureCapacity(s, width, height)) {
        spdlog::error("viz: out of memory for the heatmap's cells");
        m_draws.clear();
        return;
    }
    for (const auto& d : m_draws)
        for (int r = 0; r < d.rows; ++r)
            std::memcpy(s.texels + static_cast<VkDeviceSize>(d.row + r) * s.rowPitch,
                        m_cells.data() + d.offset + static_cast<std::ptrdiff_t>(r) * d.cols, static_cast<size_t>(d.cols) * 4);
    if (s.preinitialized) {
        // Once per texture: keep what the host wrote and make it readable by the shader. Later
        // host writes need no barrier: submitting the command buffer makes them visible.
        VkImageMemoryBarrier b{VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER};
        b.srcAccessMask = VK_ACCESS_HOST_WRITE_BIT;
        b.dstAccessMask = VK_ACCESS_SHADER_READ_BIT;
        b.oldLayout = VK_IMAGE_LAYOUT_PREINITIALIZED;
        b.newLayout = VK_IMAGE_LAYOUT_GENERAL;
        b.srcQueueFamilyIndex = b.dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
        b.image = s.image;
        b.subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
        vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_HOST_BIT, VK_PIPELINE_STAGE_FRAGMENT_SHADER_BIT, 0, 0, nullptr, 0, nullptr, 1, &b);
        s.preinitialized = false;
    }
}

void GridRenderer::callback(const ImDrawList*, const ImDrawCmd* cmd) {
    const auto* d = static_cast<const Draw*>(cmd->UserCallbackData);
    d->owner->record(*d, *cmd);
}

void GridRenderer::record(const Draw& d, const ImDrawCmd& cmd) {
    const Slot& s = m_slots[static_cast<size_t>(m_slot)];
    if (!m_cmd || !s.image || d.row + d.rows > s.height || d.cols > s.width) return;
    const float cx0 = std::max(0.0f, (cmd.ClipRect.x - m_displayX) * m_scaleX);
    const float cy0 = std::max(0.0f, (cmd.ClipRect.y - m_displayY) * m_scaleY);
    const float cx1 = std::min(m_fbW, (cmd.ClipRect.z - m_displayX) * m_scaleX);
    const float cy1 = std::min(m_fbH, (cmd.ClipRect.w - m_displayY) * m_scaleY);
    if (cx1 <= cx0 || cy1 <= cy0) return;
    vkCmdBindPipeline(m_cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, m_pipeline);
    vkCmdBindDescriptorSets(m_cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, m_layout, 0, 1, &s.set, 0, nullptr);
    VkViewport vp{0, 0, m_fbW, m_fbH, 0, 1};
    vkCmdSetViewport(m_cmd, 0, 1, &vp);
    VkRect2D sc{{static_cast<std::int32_t>(cx0), static_cast<std::int32_t>(cy0)},
                {static_cast<std::uint32_t>(cx1 - cx0), static_cast<std::uint32_t>(cy1 - cy0)}};
    vkCmdSetScissor(m_cmd, 0, 1, &sc);
    const float w = static_cast<float>(s.width), h = static_cast<float>(s.height);
    Push p{{(d.x0 - m_displayX) * m_scaleX, (d.y0 - m_displayY) * m_scaleY, (d.x1 - m_displayX) * m_scaleX,
            (d.y1 - m_displayY) * m_scaleY},
           {m_fbW, m_fbH},
           {static_cast<float>(d.cols) / w, static_cast<float>(d.rows) / h},
           {0.0f, static_cast<float>(d.row) / h},
           static_cast<float>(d.rows),
           d.rule};
    vkCmdPushConstants(m_cmd, m_layout, VK_SHADER_STAGE_VERTEX_BIT | VK_SHADER_STAGE_FRAGMENT_BIT, 0, sizeof p, &p);
    vkCmdDraw(m_cmd, 6, 1, 0, 0);
}

}  // namespace moe::viz
