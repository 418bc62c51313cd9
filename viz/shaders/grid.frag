#version 450
// A nearest-neighbour texture read, one texel per cell, so a 64 x 256 heatmap is one quad instead
// of 16384; optionally a one-pixel rule between rows, drawn here because 63 long thin rectangles
// on top cost a software rasteriser more than the whole grid.
layout(push_constant) uniform Push {
    vec4 rect;      // x0, y0, x1, y1 in framebuffer pixels
    vec2 viewport;
    vec2 uvScale;
    vec2 uvOffset;
    float rows;
    uint rule;      // packed RGBA8 colour of the rules between rows; 0: none
} pc;
layout(set = 0, binding = 0) uniform sampler2D cells;
layout(location = 0) in vec2 uv;
layout(location = 0) out vec4 outColour;

void main() {
    if (pc.rule != 0u) {
        float cellPx = (pc.rect.w - pc.rect.y) / pc.rows;
        float y = gl_FragCoord.y - pc.rect.y;
        if (y >= cellPx && y - floor(y / cellPx) * cellPx < 1.0) {
            outColour = unpackUnorm4x8(pc.rule);
            return;
        }
    }
    outColour = texture(cells, uv);
}
