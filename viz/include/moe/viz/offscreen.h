#pragma once
// Headless rendering of the dashboards: its own VkInstance (no window system, no display), the
// first Vulkan device with a graphics queue (lavapipe where there is no GPU), an offscreen
// R8G8B8A8 image, Dear ImGui's Vulkan backend, and a copy back to host memory for PNG files and
// pixel checks. Used by `moe render`, `moe bench viz` and the tests.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "moe/spec/diagnostic.h"

namespace moe::viz {

struct Image {
    int width = 0, height = 0;
    std::vector<std::uint8_t> rgba;  // row-major, 4 bytes per pixel, top row first

    std::uint32_t pixel(int x, int y) const;  // 0xRRGGBBAA
};

// Writes an RGBA image as PNG (stb_image_write). Returns an empty string or the error.
std::string savePng(const Image& img, const std::string& path);

class OffscreenRenderer {
public:
    // Fails with a message (never throws) when there is no Vulkan loader, driver or device; the
    // message says which, so callers can report it or skip (tests exit 77).
    static moe::spec::Result<std::unique_ptr<OffscreenRenderer>> create(int width, int height);
    ~OffscreenRenderer();
    OffscreenRenderer(const OffscreenRenderer&) = delete;
    OffscreenRenderer& operator=(const OffscreenRenderer&) = delete;

    // Runs one Dear ImGui frame: `draw` is called between NewFrame and Render with this
    // renderer's context current; the frame is rendered and the GPU work waited for.
    void frame(const std::function<void()>& draw, float deltaSeconds = 1.0f / 60.0f);
    // Copies the last frame's pixels back to the host.
    Image readPixels();
    // Scripted input for the next frames (window pixels; buttons: 0 left, 1 right).
    void setMouse(float x, float y, bool leftDown = false);
    void setWheel(float wheel);
    std::string deviceName() const;
    int width() const;
    int height() const;

private:
    struct Impl;
    explicit OffscreenRenderer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

}  // namespace moe::viz
