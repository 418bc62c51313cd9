#pragma once
// One place that sets up a Dear ImGui context the way the dashboards expect: fonts (DejaVu Sans
// when installed, else ImGui's built-in font), colours and spacing, scaled for HiDPI. Both the
// offscreen renderer and the on-screen window use it, so the two pictures match.

struct ImGuiContext;

namespace moe::viz {

// Creates a context (and makes it current) with the dashboards' fonts and style; `scale` is the
// device pixel ratio (1 for offscreen PNGs). The font atlas is built but not uploaded.
ImGuiContext* createImGuiContext(float scale = 1.0f);
void destroyImGuiContext(ImGuiContext* ctx);

// The dashboards' colours follow the studio's theme: dark (default) or light. Process-wide (one
// theme per application); restyles the current ImGui context, if any. The renderers clear to
// dashboardBackground().
void setDashboardTheme(bool light);
bool dashboardThemeLight();
// The background as red, green, blue, alpha in 0..1.
void dashboardBackground(float rgba[4]);

}  // namespace moe::viz
