#pragma once
// Colour grids (heatmaps) drawn by the GPU as one quad each: the cells' colours go to a storage
// buffer and a small fragment shader looks each pixel's cell up. Dear ImGui would otherwise draw
// one rectangle (two triangles) per cell, which is what makes a 64 x 256 heatmap slow on a
// software rasteriser. The panels use it through their draw list (an ImGui draw callback), so it
// works inside any renderer that owns one: the offscreen renderer and the studio's window.
// Without one, the panels fall back to plain ImGui rectangles.

#include <vulkan/vulkan.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

struct ImGuiContext;
struct ImDrawData;
struct ImDrawList;
struct ImDrawCmd;

namespace moe::viz {

class GridRenderer {
public:
    // `frameSlots`: frames that may be in flight at once (each gets its own buffer). Fails (with
    // a message in `error`) when the pipeline cannot be built; callers then leave it out.
    static std::unique_ptr<GridRenderer> create(VkPhysicalDevice physical, VkDevice device, VkRenderPass renderPass,
                                                int frameSlots, std::string& error);
    ~GridRenderer();
    GridRenderer(const GridRenderer&) = delete;
    GridRenderer& operator=(const GridRenderer&) = delete;

    // Makes this the grid renderer of an ImGui context (nullptr detaches).
    static void attach(ImGuiContext* ctx, GridRenderer* grid);

    // Per frame: beginFrame(slot) before ImGui::NewFrame; flush(drawData, cmd) after
    // ImGui::Render and before ImGui_ImplVulkan_RenderDrawData into the same command buffer.
    void beginFrame(int slot);
    void flush(const ImDrawData* drawData, VkCommandBuffer cmd);

    // Called by the panels: queues a cols x rows grid of packed colours (ImU32, row-major) to be
    // drawn into [x0, x1) x [y0, y1) at this point of `dl`.
    void add(ImDrawList* dl, float x0, float y0, float x1, float y1, int cols, int rows, const std::uint32_t* colours);

private:
    struct Draw {
        GridRenderer* owner;
        float x0, y0, x1, y1;
        int cols, rows, offset;
    };
    struct Slot {
        VkBuffer buffer = VK_NULL_HANDLE;
        VkDeviceMemory memory = VK_NULL_HANDLE;
        void* mapped = nullptr;
        std::size_t capacity = 0;  // in cells
        VkDescriptorSet set = VK_NULL_HANDLE;
    };
    GridRenderer() = default;
    bool ensureCapacity(Slot& s, std::size_t cells);
    static void callback(const ImDrawList* list, const ImDrawCmd* cmd);
    void record(const Draw& d, const ImDrawCmd& cmd);

    VkPhysicalDevice m_physical = VK_NULL_HANDLE;
    VkDevice m_device = VK_NULL_HANDLE;
    VkDescriptorSetLayout m_setLayout = VK_NULL_HANDLE;
    VkPipelineLayout m_layout = VK_NULL_HANDLE;
    VkPipeline m_pipeline = VK_NULL_HANDLE;
    VkDescriptorPool m_pool = VK_NULL_HANDLE;
    std::vector<Slot> m_slots;
    int m_slot = 0;
    std::vector<std::uint32_t> m_cells;  // this frame's cells, uploaded by flush()
    std::deque<Draw> m_draws;            // stable addresses: the draw callbacks point at them
    VkCommandBuffer m_cmd = VK_NULL_HANDLE;
    float m_displayX = 0, m_displayY = 0, m_scaleX = 1, m_scaleY = 1, m_fbW = 0, m_fbH = 0;
};

}  // namespace moe::viz
