#pragma once
// Colour maps for the dashboards. Sequential data uses viridis (perceptually uniform, readable in
// grey scale and by people with the common colour-vision deficiencies); categorical data (which
// expert, which status) uses palettes designed to stay distinguishable for them.

#include <cstdint>
#include <string_view>

namespace moe::viz {

struct Rgb {
    float r = 0, g = 0, b = 0;  // 0..1, sRGB-encoded (as stored in a PNG)
};

// viridis at t in [0, 1] (clamped).
Rgb viridis(double t);
// Diverging map for ratios around a centre, t in [0, 1] with 0.5 the centre: Okabe-Ito blue
// (#0072B2) through a neutral grey to Okabe-Ito vermillion (#D55E00), interpolated in sRGB.
Rgb diverging(double t);
// Packed 0xAABBGGRR, the byte order Dear ImGui uses for ImU32 colours.
std::uint32_t packAbgr(Rgb c, float alpha = 1.0f);

// Categorical colours: Paul Tol's "muted" scheme (9 colours) for up to 9 categories; beyond that,
// evenly spaced viridis samples (distinguishable by order, not by hue alone).
Rgb categorical(int index, int count);

// Status colours from the Okabe-Ito palette: ok (bluish green), warning (orange), critical
// (vermillion), info (sky blue). Every badge also carries a text or glyph, never colour alone.
enum class Status { Ok, Info, Warning, Critical };
Rgb statusColour(Status s);
std::string_view statusGlyph(Status s);  // "OK", "i", "!", "!!"

// Black or white, whichever reads better on `background` (WCAG relative luminance).
Rgb contrastingText(Rgb background);

}  // namespace moe::viz
