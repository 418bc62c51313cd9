#version 450
// One quad (two triangles, no vertex buffer) covering the grid's rectangle in framebuffer pixels.
layout(push_constant) uniform Push {
    vec4 rect;      // x0, y0, x1, y1 in framebuffer pixels
    vec2 viewport;  // framebuffer size in pixels
    ivec2 dims;     // columns, rows
    int offset;     // first cell in the buffer
} pc;

void main() {
    const vec2 corners[6] = vec2[](vec2(0, 0), vec2(1, 0), vec2(1, 1), vec2(0, 0), vec2(1, 1), vec2(0, 1));
    vec2 px = mix(pc.rect.xy, pc.rect.zw, corners[gl_VertexIndex]);
    gl_Position = vec4(px / pc.viewport * 2.0 - 1.0, 0.0, 1.0);
}
