#include "moe/spec/model_spec.h"

#include <sstream>

#include "moe/spec/diagnostic.h"

namespace moe::spec {

bool isGated(Activation a) { return a == Activation::Swiglu || a == Activation::Geglu; }

int InputSpec::sampleFeatures() const {
    switch (dataset) {
        case DatasetKind::FashionMnist: return 28 * 28;
        case DatasetKind::ClusteredTokens: return dims;
        case DatasetKind::Text: return seqLen;
        default: return 2;
    }
}

int InputSpec::tokensPerSample() const {
    if (dataset == DatasetKind::Text) return seqLen;
    if (tokens == TokenMode::Patches && dataset == DatasetKind::FashionMnist && patch > 0 && 28 % patch == 0)
        return (28 / patch) * (28 / patch);
    return 1;
}

int InputSpec::tokenDim() const {
    if (dataset == DatasetKind::Text) return 1;
    if (tokens == TokenMode::Patches && dataset == DatasetKind::FashionMnist && patch > 0 && 28 % patch == 0)
        return patch * patch;
    return sampleFeatures();
}

int InputSpec::numClasses() const {
    switch (dataset) {
        case DatasetKind::FashionMnist: return 10;
        case DatasetKind::Blobs:
        case DatasetKind::ClusteredTokens: return classes;
        case DatasetKind::Text: return 256;
        default: return 2;  // spirals, circles, xor
    }
}

bool ModelSpec::hasGroups() const {
    for (const auto& b : blocks)
        if (b.kind == BlockKind::Group) return true;
    return false;
}

namespace {

// Calls f(layer, origin) for every layer of the flattened model.
template <class F>
void forEachLayer(const std::vector<BlockSpec>& blocks, F&& f) {
    for (int i = 0; i < static_cast<int>(blocks.size()); ++i) {
        const BlockSpec& b = blocks[static_cast<size_t>(i)];
        if (b.kind != BlockKind::Group) {
            f(b, LayerOrigin{i, 0, -1});
            continue;
        }
        for (int r = 0; r < b.repeat; ++r)
            for (int c = 0; c < static_cast<int>(b.children.size()); ++c) {
                const BlockSpec& child = b.children[static_cast<size_t>(c)];
                if (r < b.firstDense && child.kind == BlockKind::Moe) {
                    BlockSpec dense;
                    dense.kind = BlockKind::Dense;
                    dense.norm = child.norm;
                    dense.residual = child.residual;
                    dense.ffn = b.denseFfn;
                    dense.label = child.label;
                    f(dense, LayerOrigin{i, r, c});
                } else {
                    f(child, LayerOrigin{i, r, c});
                }
            }
    }
}

}  // namespace

ModelSpec ModelSpec::flattened() const {
    if (!hasGroups()) return *this;
    ModelSpec out = *this;
    out.blocks.clear();
    forEachLayer(blocks, [&](const BlockSpec& b, const LayerOrigin&) { out.blocks.push_back(b); });
    return out;
}

std::vector<LayerOrigin> ModelSpec::layerOrigins() const {
    std::vector<LayerOrigin> out;
    forEachLayer(blocks, [&](const BlockSpec&, const LayerOrigin& o) { out.push_back(o); });
    return out;
}

std::int64_t countLayers(const std::vector<BlockSpec>& blocks) {
    std::int64_t n = 0;
    for (const auto& b : blocks)
        n += b.kind == BlockKind::Group ? static_cast<std::int64_t>(b.repeat) * static_cast<std::int64_t>(b.children.size()) : 1;
    return n;
}

int ModelSpec::layerCount() const {
    int n = 0;
    forEachLayer(blocks, [&](const BlockSpec&, const LayerOrigin&) { ++n; });
    return n;
}

int ModelSpec::moeBlockCount() const {
    int n = 0;
    forEachLayer(blocks, [&](const BlockSpec& b, const LayerOrigin&) { n += b.kind == BlockKind::Moe ? 1 : 0; });
    return n;
}

int ModelSpec::moeIndex(int block) const {
    int layer = 0, moe = 0, found = -1;
    forEachLayer(blocks, [&](const BlockSpec& b, const LayerOrigin&) {
        if (layer == block && b.kind == BlockKind::Moe) found = moe;
        moe += b.kind == BlockKind::Moe ? 1 : 0;
        ++layer;
    });
    return found;
}

namespace {
// The flattened layer `block` (callers have checked that it is an MoE layer), without expanding
// the whole model.
BlockSpec layerAt(const ModelSpec& m, int block) {
    if (!m.hasGroups()) return m.blocks[static_cast<size_t>(block)];
    BlockSpec out;
    int layer = 0;
    forEachLayer(m.blocks, [&](const BlockSpec& b, const LayerOrigin&) {
        if (layer++ == block) out = b;
    });
    return out;
}
}  // namespace

namespace {
// A schedule's counts for `moeCount` MoE layers; empty when there is none or it does not fit.
std::vector<int> scheduledCounts(const std::optional<Schedule>& s, int moeCount) {
    if (!s || !checkSchedule(*s, moeCount).empty()) return {};
    return s->counts(moeCount);
}

// A block's own count wins; else the schedule's for its MoE index; else the default.
int resolvedCount(const std::optional<int>& own, const std::vector<int>& scheduled, int moeIdx, int def) {
    if (own) return *own;
    return scheduled.empty() ? def : scheduled[static_cast<size_t>(moeIdx)];
}
}  // namespace

int ModelSpec::expertsOf(int block) const {
    const int mi = moeIndex(block);
    if (mi < 0) return 0;
    return resolvedCount(layerAt(*this, block).experts, scheduledCounts(expertSchedule, moeBlockCount()), mi, kDefaultExperts);
}

int ModelSpec::kOf(int block) const {
    const int mi = moeIndex(block);
    if (mi < 0) return 0;
    return resolvedCount(layerAt(*this, block).router.k, scheduledCounts(kSchedule, moeBlockCount()), mi, kDefaultK);
}

int ModelSpec::routedExpertsOf(int block) const {
    if (moeIndex(block) < 0) return 0;
    return expertsOf(block) + layerAt(*this, block).zeroExperts.total();
}

std::vector<LayerCounts> ModelSpec::layerCounts() const {
    const int moeCount = moeBlockCount();
    const std::vector<int> experts = scheduledCounts(expertSchedule, moeCount);
    const std::vector<int> ks = scheduledCounts(kSchedule, moeCount);
    std::vector<LayerCounts> out;
    int moe = 0;
    forEachLayer(blocks, [&](const BlockSpec& b, const LayerOrigin&) {
        LayerCounts c;
        if (b.kind == BlockKind::Moe) {
            c.moeIndex = moe++;
            c.experts = resolvedCount(b.experts, experts, c.moeIndex, kDefaultExperts);
            c.k = resolvedCount(b.router.k, ks, c.moeIndex, kDefaultK);
            c.routed = c.experts + b.zeroExperts.total();
        }
        out.push_back(c);
    });
    return out;
}

std::string Diagnostic::format() const {
    std::ostringstream s;
    if (!file.empty()) s << file << ":";
    if (line > 0) s << line << ":" << column << ":";
    if (!file.empty() || line > 0) s << " ";
    if (!path.empty()) s << path << ": ";
    s << message;
    return s.str();
}

std::string formatAll(const Diagnostics& d) {
    std::string out;
    for (const auto& e : d) {
        if (!out.empty()) out += "\n";
        out += e.format();
    }
    return out;
}

}  // namespace moe::spec
