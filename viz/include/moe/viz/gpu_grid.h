#pragma once
// Colour grids (heatmaps) drawn by the GPU as one textured quad each: the cells' colours go to a
// small texture (one texel per cell, host-visible, linear) read with nearest sampling. Dear ImGui
// would otherwise draw one rectangle (two triangles) per cell, which is what makes a 64 x 256
// heatmap slow on a software rasteriser. One-pixel rules between rows are drawn by the same
// shader: as ImGui rectangles they cost lavapipe more than the grid. The panels use it through
// their draw list (an ImGui draw callback), so it works inside any renderer that owns one: the
// offscreen renderer and the studio's window.
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

    // Called by the panels: queues a cols x rows grid of packed opaque colours (ImU32, row-major)
    // to be drawn into [x0, x1) x [y0, y1) at this point of `dl`, with a one-pixel rule of colour
    // `rowRule` at the top of every row but the first (0: no rules).
    void add(ImDrawList* dl, float x0, float y0, float x1, float y1, int cols, int rows, const std::uint32_t* colours,
             std::uint32_t rowRule = 0);

private:
    struct Draw {
        GridRenderer* owner;
        float x0, y0, x1, y1;
        int cols, rows, offset;  // offset: first cell in m_cells
        int row = 0;             // first texture row (set by flush)
        std::uint32_t rule = 0;  // colour of the rules between rows; 0: none
    };
    // One texture per frame in flight; every grid of a frame takes its own rows of it.
    struct Slot {
        VkImage image = VK_NULL_HANDLE;
        VkDeviceMemory memory = VK_NULL_HANDLE;
        VkImageView view = VK_NULL_HANDLE;
        unsigned char* mapped = nullptr;  // the mapped memory
        unsigned char* texels = nullptr;  // its first texel
        VkDeviceSize rowPitch = 0;
        int width = 0, height = 0;
        bool preinitialized = false;  // still needs its move to the GENERAL layout
        VkDescriptorSet set = VK_NULL_HANDLE;
    };
    GridRenderer() = default;
    bool ensureCapacity(Slot& s, int width, int height);
    void release(Slot& s);
    static void callback(const ImDrawList* list, const ImDrawCmd* cmd);
    void record(const Draw& d, const ImDrawCmd& cmd);

    VkPhysicalDevice m_physical = VK_NULL_HANDLE;
    VkDevice m_device = VK_NULL_HANDLE;
    VkDescriptorSetLayout m_setLayout = VK_NULL_HANDLE;
    VkPipelineLayout m_layout = VK_NULL_HANDLE;
    VkPipeline m_pipeline = VK_NULL_HANDLE;
    VkDescriptorPool m_pool = VK_NULL_HANDLE;
    VkSampler m_sampler = VK_NULL_HANDLE;
    std::vector<Slot> m_slots;
    int m_slot = 0;
    std::vector<std::uint32_t> m_cells;  // this frame's cells, uploaded by flush()
    std::deque<Draw> m_draws;            // stable addresses: the draw callbacks point at them
    VkCommandBuffer m_cmd = VK_NULL_HANDLE;
    float m_displayX = 0, m_displayY = 0, m_scaleX = 1, m_scaleY = 1, m_fbW = 0, m_fbH = 0;
};

}  // namespace moe::viz
