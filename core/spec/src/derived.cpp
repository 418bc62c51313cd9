#include "moe/spec/derived.h"

#include <algorithm>

namespace moe::spec {
namespace {

long long normParams(NormKind k, long long d) {
    switch (k) {
        case NormKind::LayerNorm: return 2 * d;
        case NormKind::RmsNorm: return d;
        default: return 0;
    }
}

}  // namespace

double bytesPerElement(std::string_view dtype) {
    if (dtype == "fp32") return 4;
    if (dtype == "bf16" || dtype == "fp16") return 2;
    if (dtype == "fp8") return 1;
    return 0;
}

const std::vector<std::string_view>& dtypeNames() {
    static const std::vector<std::string_view> names = {"fp32", "bf16", "fp16", "fp8"};
    return names;
}

double expectedK(const ModelSpec& m, int block) {
    const BlockSpec& b = m.blocks[static_cast<size_t>(block)];
    if (b.kind != BlockKind::Moe) return 0;
    switch (b.router.kind) {
        case RouterKind::ExpertChoice: return std::min<double>(b.router.capacityFactor, m.routedExpertsOf(block));
        case RouterKind::Dynamic: return b.router.maxExperts;
        default: return m.kOf(block);
    }
}

ModelFigures computeFigures(const ModelSpec& m) {
    ModelFigures f;
    const long long d = m.stem.dModel;
    const long long in = m.input.tokenDim();
    const long long classes = m.input.numClasses();
    const long long tokens = m.input.tokensPerSample();
    f.stemParams = in * d + d;
    f.headParams = normParams(m.head.norm, d) + d * classes + classes;
    f.params = f.stemParams + f.headParams;
    f.activeParams = static_cast<double>(f.params);
    f.flopsPerToken = 2.0 * in * d + 2.0 * d * classes / static_cast<double>(tokens);

    for (int i = 0; i < static_cast<int>(m.blocks.size()); ++i) {
        const BlockSpec& b = m.blocks[static_cast<size_t>(i)];
        BlockFigures bf;
        const long long h = b.ffn.hidden;
        const long long ffnParams = 2 * d * h + h + d;
        const double ffnFlops = 4.0 * d * h;
        const long long norm = normParams(b.norm, d);
        if (b.kind == BlockKind::Dense) {
            bf.params = norm + ffnParams;
            bf.activeParams = static_cast<double>(bf.params);
            bf.flopsPerToken = ffnFlops;
        } else {
            bf.experts = m.expertsOf(i);
            bf.zeroExperts = b.zeroExperts.total();
            bf.k = expectedK(m, i);
            const long long routed = bf.experts + bf.zeroExperts;
            const long long routerParams = b.router.kind == RouterKind::Hash ? 0 : d * routed;
            const double routerFlops = b.router.kind == RouterKind::Hash ? 0.0 : 2.0 * d * routed;
            const long long constParams = 3 * d + 2;
            const double constFlops = 2.0 * d * 2;
            bf.params = norm + routerParams + (bf.experts + b.sharedExperts) * ffnParams + b.zeroExperts.constant * constParams;
            const double pFfn = routed ? static_cast<double>(bf.experts) / routed : 0.0;
            const double pConst = routed ? static_cast<double>(b.zeroExperts.constant) / routed : 0.0;
            bf.activeParams = norm + routerParams + b.sharedExperts * ffnParams + bf.k * (pFfn * ffnParams + pConst * constParams);
            bf.flopsPerToken = routerFlops + b.sharedExperts * ffnFlops + bf.k * (pFfn * ffnFlops + pConst * constFlops);
        }
        f.params += bf.params;
        f.activeParams += bf.activeParams;
        f.flopsPerToken += bf.flopsPerToken;
        f.blocks.push_back(bf);
    }
    return f;
}

}  // namespace moe::spec
