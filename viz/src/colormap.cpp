#include "moe/viz/colormap.h"

#include <algorithm>
#include <cmath>

namespace moe::viz {

namespace {

float clamp01(double v) { return static_cast<float>(std::clamp(v, 0.0, 1.0)); }

}  // namespace

Rgb viridis(double t) {
    // Degree-6 polynomial fit of matplotlib's viridis (van der Walt & Smith, 2015), coefficients
    // from Matt Zucker's published least-squares fit of matplotlib's table
    // (shadertoy.com/view/WlfXRN).
    static constexpr double c[7][3] = {
        {0.2777273272234177, 0.005407344544966578, 0.3340998053353061},
        {0.1050930431085774, 1.404613529898575, 1.384590162594685},
        {-0.3308618287255563, 0.214847559468213, 0.09509516302823659},
        {-4.634230498983486, -5.799100973351585, -19.33244095627987},
        {6.228269936347081, 14.17993336680509, 56.69055260068105},
        {4.776384997670288, -13.74514537774601, -65.35303263337234},
        {-5.435455855934631, 4.645852612178535, 26.3124352495832},
    };
    if (!std::isfinite(t)) t = 0;
    t = std::clamp(t, 0.0, 1.0);
    double ch[3];
    for (int k = 0; k < 3; ++k) {
        double v = c[6][k];
        for (int i = 5; i >= 0; --i) v = v * t + c[i][k];
        ch[k] = v;
    }
    return {clamp01(ch[0]), clamp01(ch[1]), clamp01(ch[2])};
}

Rgb diverging(double t) {
    if (!std::isfinite(t)) t = 0.5;
    t = std::clamp(t, 0.0, 1.0);
    static constexpr Rgb kLow{0.0f, 114 / 255.0f, 178 / 255.0f}, kMid{0.86f, 0.86f, 0.86f}, kHigh{213 / 255.0f, 94 / 255.0f, 0.0f};
    const Rgb& a = t < 0.5 ? kLow : kMid;
    const Rgb& b = t < 0.5 ? kMid : kHigh;
    const float u = static_cast<float>(t < 0.5 ? t * 2 : (t - 0.5) * 2);
    return {a.r + (b.r - a.r) * u, a.g + (b.g - a.g) * u, a.b + (b.b - a.b) * u};
}

std::uint32_t packAbgr(Rgb c, float alpha) {
    auto byte = [](float v) { return static_cast<std::uint32_t>(std::lround(std::clamp(v, 0.0f, 1.0f) * 255.0f)); };
    return byte(c.r) | (byte(c.g) << 8) | (byte(c.b) << 16) | (byte(alpha) << 24);
}

Rgb categorical(int index, int count) {
    // Paul Tol, "Colour schemes" (SRON/EPS/TN/09-002, 2021), qualitative scheme "muted".
    static constexpr std::uint32_t kMuted[9] = {0x332288, 0x88CCEE, 0x44AA99, 0x117733, 0x999933,
                                                0xDDCC77, 0xCC6677, 0x882255, 0xAA4499};
    if (count <= 9 && index >= 0 && index < 9) {
        const auto v = kMuted[index];
        return {((v >> 16) & 0xFF) / 255.0f, ((v >> 8) & 0xFF) / 255.0f, (v & 0xFF) / 255.0f};
    }
    return viridis(count <= 1 ? 0.5 : static_cast<double>(index) / (count - 1));
}

Rgb statusColour(Status s) {
    // Okabe & Ito (2008), "Color Universal Design": bluish green #009E73, sky blue #56B4E9,
    // orange #E69F00, vermillion #D55E00.
    switch (s) {
        case Status::Ok: return {0x00 / 255.0f, 0x9E / 255.0f, 0x73 / 255.0f};
        case Status::Info: return {0x56 / 255.0f, 0xB4 / 255.0f, 0xE9 / 255.0f};
        case Status::Warning: return {0xE6 / 255.0f, 0x9F / 255.0f, 0x00 / 255.0f};
        case Status::Critical: return {0xD5 / 255.0f, 0x5E / 255.0f, 0x00 / 255.0f};
    }
    return {1, 1, 1};
}

std::string_view statusGlyph(Status s) {
    switch (s) {
        case Status::Ok: return "OK";
        case Status::Info: return "i";
        case Status::Warning: return "!";
        case Status::Critical: return "!!";
    }
    return "?";
}

Rgb contrastingText(Rgb bg) {
    auto lin = [](float c) { return c <= 0.04045f ? c / 12.92f : std::pow((c + 0.055f) / 1.055f, 2.4f); };
    const float l = 0.2126f * lin(bg.r) + 0.7152f * lin(bg.g) + 0.0722f * lin(bg.b);
    // Contrast against black (l+0.05)/0.05 vs against white 1.05/(l+0.05): equal at l ~ 0.179.
    return l > 0.179f ? Rgb{0.05f, 0.05f, 0.07f} : Rgb{1, 1, 1};
}

}  // namespace moe::viz
