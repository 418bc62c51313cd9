#include "moe/viz/imgui_setup.h"

#include <imgui.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "draw_util.h"

namespace moe::viz {

namespace {

// Debian's fonts-dejavu-core; ImGui's built-in bitmap font is the fallback.
constexpr const char* kFontRegular = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
constexpr const char* kFontBold = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";

ImFont* loadFont(const char* path, float px) {
    ImGuiIO& io = ImGui::GetIO();
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) {
        ImFontConfig cfg;
        cfg.OversampleH = 2;
        cfg.OversampleV = 1;
        cfg.PixelSnapH = true;
        // Latin-1 plus the few symbols the panels use (dashes, arrows, multiplication sign).
        static const ImWchar ranges[] = {0x0020, 0x00FF, 0x2013, 0x2014, 0x2026, 0x2026, 0x2190, 0x2193, 0x2264, 0x2265, 0};
        if (ImFont* f = io.Fonts->AddFontFromFileTTF(path, px, &cfg, ranges)) return f;
    }
    ImFontConfig cfg;
    cfg.SizePixels = px;
    return io.Fonts->AddFontDefault(&cfg);
}

bool g_light = false;

// Colours of the current context's style for the current theme.
void applyColours() {
    ImGuiStyle& s = ImGui::GetStyle();
    ImVec4* c = s.Colors;
    if (g_light) {
        ImGui::StyleColorsLight(&s);
        c[ImGuiCol_WindowBg] = {0, 0, 0, 0};
        c[ImGuiCol_ChildBg] = {0, 0, 0, 0};
        c[ImGuiCol_Text] = ImGui::ColorConvertU32ToFloat4(detail::theme::kText);
        c[ImGuiCol_TextDisabled] = ImGui::ColorConvertU32ToFloat4(detail::theme::kDimText);
        c[ImGuiCol_PopupBg] = {0.98f, 0.98f, 0.99f, 0.98f};
        c[ImGuiCol_Tab] = {0.86f, 0.88f, 0.91f, 1};
        c[ImGuiCol_TabActive] = {0.76f, 0.82f, 0.92f, 1};
        c[ImGuiCol_TabHovered] = {0.70f, 0.78f, 0.92f, 1};
        return;
    }
    ImGui::StyleColorsDark(&s);
    // The renderers clear to the theme's background, so windows need not paint it again (on a
    // software rasteriser every full-screen layer costs milliseconds).
    c[ImGuiCol_WindowBg] = {0, 0, 0, 0};
    c[ImGuiCol_ChildBg] = {0, 0, 0, 0};
    c[ImGuiCol_Text] = ImGui::ColorConvertU32ToFloat4(detail::theme::kText);
    c[ImGuiCol_TextDisabled] = ImGui::ColorConvertU32ToFloat4(detail::theme::kDimText);
    c[ImGuiCol_FrameBg] = {0.17f, 0.18f, 0.22f, 1};
    c[ImGuiCol_FrameBgHovered] = {0.22f, 0.24f, 0.29f, 1};
    c[ImGuiCol_FrameBgActive] = {0.25f, 0.28f, 0.34f, 1};
    c[ImGuiCol_Button] = {0.20f, 0.22f, 0.27f, 1};
    c[ImGuiCol_ButtonHovered] = {0.26f, 0.29f, 0.36f, 1};
    c[ImGuiCol_ButtonActive] = {0.30f, 0.34f, 0.42f, 1};
    c[ImGuiCol_SliderGrab] = {0.35f, 0.70f, 0.91f, 1};
    c[ImGuiCol_SliderGrabActive] = {0.50f, 0.80f, 0.98f, 1};
    c[ImGuiCol_CheckMark] = {0.35f, 0.70f, 0.91f, 1};
    c[ImGuiCol_Header] = {0.20f, 0.22f, 0.27f, 1};
    c[ImGuiCol_HeaderHovered] = {0.26f, 0.29f, 0.36f, 1};
    c[ImGuiCol_Tab] = {0.16f, 0.17f, 0.21f, 1};
    c[ImGuiCol_TabHovered] = {0.30f, 0.34f, 0.42f, 1};
    c[ImGuiCol_TabActive] = {0.24f, 0.27f, 0.34f, 1};
    c[ImGuiCol_PopupBg] = {0.12f, 0.13f, 0.16f, 0.97f};
    c[ImGuiCol_Border] = {0.30f, 0.32f, 0.38f, 1};
    c[ImGuiCol_TableHeaderBg] = {0.17f, 0.18f, 0.22f, 1};
    c[ImGuiCol_TableRowBgAlt] = {1, 1, 1, 0.03f};
}

void applyStyle(float scale) {
    ImGuiStyle& s = ImGui::GetStyle();
    // Square corners and no borders: rounded or outlined shapes get anti-aliased fringes (long
    // sliver triangles) that a software rasteriser draws slowly; square fills are two triangles.
    s.WindowRounding = 0;
    s.FrameRounding = 0;
    s.GrabRounding = 0;
    s.ChildRounding = 0;
    s.PopupRounding = 0;
    s.ScrollbarRounding = 0;
    s.PopupBorderSize = 0;
    s.ChildBorderSize = 0;
    s.FrameBorderSize = 0;
    s.WindowPadding = {14, 12};
    s.FramePadding = {8, 4};
    s.ItemSpacing = {10, 7};
    s.WindowBorderSize = 0;
    s.TabRounding = 0;
    applyColours();
    s.ScaleAllSizes(scale);
}

}  // namespace

ImGuiContext* createImGuiContext(float scale) {
    if (!(scale > 0.25f && scale < 8.0f)) scale = 1.0f;
    ImGuiContext* ctx = ImGui::CreateContext();
    ImGui::SetCurrentContext(ctx);
    ImGuiIO& io = ImGui::GetIO();
    io.IniFilename = nullptr;  // the dashboards keep no layout file
    io.LogFilename = nullptr;
    auto* f = new detail::Fonts;
    f->scale = scale;
    f->regular = loadFont(kFontRegular, 15.0f * scale);
    f->bold = loadFont(kFontBold, 15.0f * scale);
    f->title = loadFont(kFontBold, 20.0f * scale);
    f->small = loadFont(kFontRegular, 12.5f * scale);
    io.FontDefault = f->regular;
    io.UserData = f;
    if (!io.Fonts->Build()) spdlog::warn("viz: could not build the font atlas");
    applyStyle(scale);
    return ctx;
}

void destroyImGuiContext(ImGuiContext* ctx) {
    if (!ctx) return;
    ImGui::SetCurrentContext(ctx);
    delete static_cast<detail::Fonts*>(ImGui::GetIO().UserData);
    ImGui::GetIO().UserData = nullptr;
    ImGui::DestroyContext(ctx);
}

void setDashboardTheme(bool light) {
    namespace t = detail::theme;
    g_light = light;
    if (light) {
        t::kBackground = IM_COL32(250, 250, 252, 255);
        t::kPlotBackground = IM_COL32(240, 242, 246, 255);
        t::kEmptyCell = IM_COL32(228, 231, 237, 255);
        t::kGrid = IM_COL32(205, 209, 217, 255);
        t::kAxis = IM_COL32(110, 116, 128, 255);
        t::kText = IM_COL32(28, 31, 38, 255);
        t::kDimText = IM_COL32(96, 102, 114, 255);
        t::kHighlight = IM_COL32(0, 0, 0, 255);
    } else {
        t::kBackground = IM_COL32(24, 26, 31, 255);
        t::kPlotBackground = IM_COL32(34, 37, 44, 255);
        t::kEmptyCell = IM_COL32(46, 49, 57, 255);
        t::kGrid = IM_COL32(70, 75, 86, 255);
        t::kAxis = IM_COL32(150, 156, 168, 255);
        t::kText = IM_COL32(226, 229, 235, 255);
        t::kDimText = IM_COL32(150, 156, 168, 255);
        t::kHighlight = IM_COL32(255, 255, 255, 255);
    }
    if (ImGui::GetCurrentContext()) applyColours();
}

bool dashboardThemeLight() { return g_light; }

void dashboardBackground(float rgba[4]) {
    const ImVec4 c = ImGui::ColorConvertU32ToFloat4(detail::theme::kBackground);
    rgba[0] = c.x, rgba[1] = c.y, rgba[2] = c.z, rgba[3] = c.w;
}

namespace detail {

const Fonts& fonts() {
    static const Fonts none;
    if (!ImGui::GetCurrentContext()) return none;
    auto* f = static_cast<const Fonts*>(ImGui::GetIO().UserData);
    return f ? *f : none;
}

}  // namespace detail

}  // namespace moe::viz
