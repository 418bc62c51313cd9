#include "moe/viz/gpu_grid.h"

#include <imgui.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "draw_util.h"

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
    std::int32_t dims[2];
    std::int32_t offset;
};

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
    VkDescriptorSetLayoutBinding b{0, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_FRAGMENT_BIT, nullptr};
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
    // Cells are opaque (transparent ones are discarded), so no blending: it would cost a read of
    // every pixel on a software rasteriser.
    cb.blendEnable = VK_FALSE;
    cb.srcColorBlendFactor = VK_BLEND_FACTOR_SRC_ALPHA;
    cb.dstColorBlendFactor = VK_BLEND_FACTOR_ONE_MINUS_SRC_ALPHA;
    cb.colorBlendOp = VK_BLEND_OP_ADD;
    cb.srcAlphaBlendFactor = VK_BLEND_FACTOR_ONE;
    cb.dstAlphaBlendFactor = VK_BLEND_FACTOR_ONE_MINUS_SRC_ALPHA;
    cb.alphaBlendOp = VK_BLEND_OP_ADD;
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
    VkDescriptorPoolSize ps{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, static_cast<std::uint32_t>(frameSlots)};
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
        if (vkAllocateDescriptorSets(device, &ai, &s.set) != VK_SUCCESS || !g->ensureCapacity(s, 64 * 256)) {
            error = "could not allocate the grid's buffers";
            return nullptr;
        }
    }
    return g;
}

GridRenderer::~GridRenderer() {
    if (!m_device) return;
    for (auto& s : m_slots) {
        if (s.mapped) vkUnmapMemory(m_device, s.memory);
        vkDestroyBuffer(m_device, s.buffer, nullptr);
        vkFreeMemory(m_device, s.memory, nullptr);
    }
    vkDestroyDescriptorPool(m_device, m_pool, nullptr);
    vkDestroyPipeline(m_device, m_pipeline, nullptr);
    vkDestroyPipelineLayout(m_device, m_layout, nullptr);
    vkDestroyDescriptorSetLayout(m_device, m_setLayout, nullptr);
}

bool GridRenderer::ensureCapacity(Slot& s, std::size_t cells) {
    if (cells <= s.capacity && s.buffer) return true;
    const std::size_t cap = std::max<std::size_t>(cells + cells / 2, 1024);
    if (s.buffer) {
        vkUnmapMemory(m_device, s.memory);
        vkDestroyBuffer(m_device, s.buffer, nullptr);
        vkFreeMemory(m_device, s.memory, nullptr);
        s = Slot{VK_NULL_HANDLE, VK_NULL_HANDLE, nullptr, 0, s.set};
    }
    VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bci.size = cap * sizeof(std::uint32_t);
    bci.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
    if (vkCreateBuffer(m_device, &bci, nullptr, &s.buffer) != VK_SUCCESS) return false;
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(m_device, s.buffer, &req);
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(m_physical, &mp);
    const VkMemoryPropertyFlags want = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    std::uint32_t type = UINT32_MAX;
    for (std::uint32_t i = 0; i < mp.memoryTypeCount; ++i)
        if ((req.memoryTypeBits & (1u << i)) && (mp.memoryTypes[i].propertyFlags & want) == want) { type = i; break; }
    if (type == UINT32_MAX) return false;
    VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    mai.allocationSize = req.size;
    mai.memoryTypeIndex = type;
    if (vkAllocateMemory(m_device, &mai, nullptr, &s.memory) != VK_SUCCESS) return false;
    vkBindBufferMemory(m_device, s.buffer, s.memory, 0);
    vkMapMemory(m_device, s.memory, 0, VK_WHOLE_SIZE, 0, &s.mapped);
    s.capacity = cap;
    VkDescriptorBufferInfo bi{s.buffer, 0, VK_WHOLE_SIZE};
    VkWriteDescriptorSet w{VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
    w.dstSet = s.set;
    w.descriptorCount = 1;
    w.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    w.pBufferInfo = &bi;
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

void GridRenderer::add(ImDrawList* dl, float x0, float y0, float x1, float y1, int cols, int rows, const std::uint32_t* colours) {
    if (cols <= 0 || rows <= 0) return;
    const int offset = static_cast<int>(m_cells.size());
    m_cells.insert(m_cells.end(), colours, colours + static_cast<std::ptrdiff_t>(cols) * rows);
    m_draws.push_back({this, x0, y0, x1, y1, cols, rows, offset});
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
    if (m_cells.empty()) return;
    if (!ensureCapacity(s, m_cells.size())) {
        spdlog::error("viz: out of memory for the heatmap's cells");
        m_cells.clear();
        return;
    }
    std::memcpy(s.mapped, m_cells.data(), m_cells.size() * sizeof(std::uint32_t));
}

void GridRenderer::callback(const ImDrawList*, const ImDrawCmd* cmd) {
    const auto* d = static_cast<const Draw*>(cmd->UserCallbackData);
    d->owner->record(*d, *cmd);
}

void GridRenderer::record(const Draw& d, const ImDrawCmd& cmd) {
    if (!m_cmd || static_cast<size_t>(d.offset) + static_cast<size_t>(d.cols) * d.rows > m_cells.size()) return;
    const float cx0 = std::max(0.0f, (cmd.ClipRect.x - m_displayX) * m_scaleX);
    const float cy0 = std::max(0.0f, (cmd.ClipRect.y - m_displayY) * m_scaleY);
    const float cx1 = std::min(m_fbW, (cmd.ClipRect.z - m_displayX) * m_scaleX);
    const float cy1 = std::min(m_fbH, (cmd.ClipRect.w - m_displayY) * m_scaleY);
    if (cx1 <= cx0 || cy1 <= cy0) return;
    vkCmdBindPipeline(m_cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, m_pipeline);
    vkCmdBindDescriptorSets(m_cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, m_layout, 0, 1, &m_slots[static_cast<size_t>(m_slot)].set, 0, nullptr);
    VkViewport vp{0, 0, m_fbW, m_fbH, 0, 1};
    vkCmdSetViewport(m_cmd, 0, 1, &vp);
    VkRect2D sc{{static_cast<std::int32_t>(cx0), static_cast<std::int32_t>(cy0)},
                {static_cast<std::uint32_t>(cx1 - cx0), static_cast<std::uint32_t>(cy1 - cy0)}};
    vkCmdSetScissor(m_cmd, 0, 1, &sc);
    Push p{{(d.x0 - m_displayX) * m_scaleX, (d.y0 - m_displayY) * m_scaleY, (d.x1 - m_displayX) * m_scaleX,
            (d.y1 - m_displayY) * m_scaleY},
           {m_fbW, m_fbH},
           {d.cols, d.rows},
           d.offset};
    vkCmdPushConstants(m_cmd, m_layout, VK_SHADER_STAGE_VERTEX_BIT | VK_SHADER_STAGE_FRAGMENT_BIT, 0, sizeof p, &p);
    vkCmdDraw(m_cmd, 6, 1, 0, 0);
}

}  // namespace moe::viz
