#include "moe/spec/twin.h"

#include <algorithm>
#include <cmath>

#include "moe/spec/derived.h"

namespace moe::spec {
namespace {

int scaled(int v, double r, int lo) { return std::max(lo, static_cast<int>(std::lround(v * r))); }
int even(int v) { return v + (v % 2); }

// Heads of the twin: set, else about one per 16 dimensions (never more than the model has), then
// lowered until they split the twin's width evenly.
int twinHeads(int modelHeads, int dModel, const TwinSpec& t) {
    int h = t.heads > 0 ? t.heads : std::clamp(dModel / 16, 1, std::max(1, modelHeads));
    while (h > 1 && dModel % h != 0) --h;
    return std::max(1, h);
}

void scaleAttention(AttentionSpec& a, double r, const TwinSpec& t) {
    const int heads = twinHeads(a.heads, t.dModel, t);
    if (a.kind == AttentionKind::Mla) {
        a.heads = heads;
        if (a.qLoraRank > 0) a.qLoraRank = scaled(a.qLoraRank, r, 4);
        a.kvLoraRank = scaled(a.kvLoraRank, r, 4);
        a.qkNopeHeadDim = scaled(a.qkNopeHeadDim, r, 4);
        a.qkRopeHeadDim = even(scaled(a.qkRopeHeadDim, r, 2));
        a.vHeadDim = scaled(a.vHeadDim, r, 4);
        return;
    }
    // Keep the share of query heads per key/value head where the twin has heads enough for it.
    const int perKv = std::max(1, a.heads / std::max(1, a.kvHeads));
    int kv = std::max(1, heads / perKv);
    while (heads % kv != 0) --kv;
    a.heads = heads;
    a.kvHeads = kv;
    a.kind = kv == heads ? AttentionKind::Mha : kv == 1 ? AttentionKind::Mqa : AttentionKind::Gqa;
    a.headDim = 0;  // d_model / heads
}

void scaleBlock(BlockSpec& b, double r, const TwinSpec& t) {
    switch (b.kind) {
        case BlockKind::Dense: b.ffn.hidden = scaled(b.ffn.hidden, r, 4); break;
        case BlockKind::Moe: b.ffn.hidden = t.expertHidden > 0 ? t.expertHidden : scaled(b.ffn.hidden, r, 4); break;
        case BlockKind::Attention: scaleAttention(b.attention, r, t); break;
        case BlockKind::Group: {
            if (b.repeat > t.layers) {
                // First-k-dense shrinks in proportion; a model with dense layers keeps one, and
                // a twin keeps at least one repeat with experts.
                if (b.firstDense > 0) {
                    const int k = static_cast<int>(std::lround(static_cast<double>(b.firstDense) * t.layers / b.repeat));
                    b.firstDense = std::clamp(k, 1, std::max(0, t.layers - 1));
                }
                b.repeat = t.layers;
            }
            b.denseFfn.hidden = scaled(b.denseFfn.hidden, r, 4);
            for (auto& c : b.children) scaleBlock(c, r, t);
            break;
        }
    }
}

}  // namespace

ModelSpec twinOf(const ModelSpec& m, const TwinSpec& t) {
    ModelSpec out = m;
    const double r = static_cast<double>(t.dModel) / std::max(1, m.stem.dModel);
    out.name = (m.name.empty() ? std::string("model") : m.name) + " (trainable twin)";
    out.stem.dModel = t.dModel;
    if (out.input.isText() && t.seqLen > 0) out.input.seqLen = t.seqLen;
    if (out.stem.kind == StemKind::Embedding) out.stem.vocab = t.vocab > 0 ? t.vocab : (m.input.isText() ? 256 : m.stem.vocab);
    for (auto& b : out.blocks) scaleBlock(b, r, t);
    return out;
}

ModelSpec trainedModel(const Project& p) { return p.training.twin ? twinOf(p.model, *p.training.twin) : p.model; }

Project trainingProject(const Project& p) {
    if (!p.training.twin) return p;
    Project out = p;
    out.model = twinOf(p.model, *p.training.twin);
    out.training.twin.reset();
    out.deployment.reset();  // the deployment prices the model, not its twin
    return out;
}

std::string describeTwin(const Project& p) {
    if (!p.training.twin) return {};
    const ModelSpec twin = trainedModel(p);
    const ModelFigures tf = computeFigures(twin);
    const ModelFigures mf = computeFigures(p.model);
    bool cut = false;
    for (const auto& b : p.model.blocks) cut = cut || (b.kind == BlockKind::Group && b.repeat > p.training.twin->layers);
    return "trains a twin of the model: d_model " + std::to_string(twin.stem.dModel) + ", " + std::to_string(twin.layerCount()) + " layers" +
           (cut ? " (groups cut to " + std::to_string(p.training.twin->layers) + " repeats)" : std::string()) + ", " +
           humanCount(static_cast<double>(tf.params)) + " parameters (the model: d_model " + std::to_string(p.model.stem.dModel) + ", " +
           std::to_string(p.model.layerCount()) + " layers, " + humanCount(static_cast<double>(mf.params)) + ")";
}

}  // namespace moe::spec
