#version 450
// One quad (two triangles, no vertex buffer) covering the grid's rectangle in framebuffer pixels,
// mapped onto the grid's rows of the cell texture.
layout(push_constant) uniform Push {
    vec4 rect;      // x0, y0, x1, y1 in framebuffer pixels
    vec2 viewport;  // framebuffer size in pixels
    vec2 uvScale;   // the grid's extent in the texture (columns / width, rows / height)
    vec2 uvOffset;  // its first texel (0, first row / height)
    float rows;     // (fragment shader)
    uint rule;      // (fragment shader)
} pc;
layout(location = 0) out vec2 uv;

void main() {
    const vec2 corners[6] = vec2[](vec2(0, 0), vec2(1, 0), vec2(1, 1), vec2(0, 0), vec2(1, 1), vec2(0, 1));
    vec2 c = corners[gl_VertexIndex];
    vec2 px = mix(pc.rect.xy, pc.rect.zw, c);
    gl_Position = vec4(px / pc.viewport * 2.0 - 1.0, 0.0, 1.0);
    uv = pc.uvOffset + c * pc.uvScale;
}
