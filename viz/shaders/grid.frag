#version 450
// Each fragment looks up its cell's colour (packed RGBA8, as Dear ImGui packs ImU32) in a buffer:
// a 64 x 256 heatmap costs one quad instead of 16384.
layout(push_constant) uniform Push {
    vec4 rect;
    vec2 viewport;
    ivec2 dims;
    int offset;
} pc;
layout(std430, set = 0, binding = 0) readonly buffer Cells { uint rgba[]; };
layout(location = 0) out vec4 outColour;

void main() {
    vec2 f = (gl_FragCoord.xy - pc.rect.xy) / (pc.rect.zw - pc.rect.xy);
    ivec2 cell = clamp(ivec2(floor(f * vec2(pc.dims))), ivec2(0), pc.dims - 1);
    vec4 c = unpackUnorm4x8(rgba[pc.offset + cell.y * pc.dims.x + cell.x]);
    if (c.a == 0.0) discard;  // no value: whatever is below shows through
    outColour = c;
}
