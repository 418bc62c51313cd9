#include "moe/spec/derived.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace moe::spec {
namespace {

long long normParams(NormKind k, long long d) {
    switch (k) {
        case NormKind::LayerNorm: return 2 * d;
        case NormKind::RmsNorm: return d;
        case NormKind::None: return 0;
    }
    return 0;
}

long long ffnParams(const FfnSpec& f, long long d) {
    const long long h = f.hidden;
    if (isGated(f.activation)) return 3 * d * h + (f.bias ? 2 * h + d : 0);
    return 2 * d * h + (f.bias ? h + d : 0);
}

double ffnFlops(const FfnSpec& f, long long d) { return (isGated(f.activation) ? 6.0 : 4.0) * static_cast<double>(d * f.hidden); }

// A Linear(in, out): its parameters and FLOPs added to the block's.
struct Linear {
    BlockFigures& bf;
    bool bias;
    void operator()(long long in, long long out) const {
        bf.params += in * out + (bias ? out : 0);
        bf.flopsPerToken += 2.0 * static_cast<double>(in * out);
    }
};

void attentionFigures(const AttentionSpec& a, long long d, int seqLen, BlockFigures& bf) {
    const Linear linear{bf, a.bias};
    const double ctx = averageContext(seqLen, a.causal, a.window);
    const long long h = a.heads;
    if (a.kind == AttentionKind::Mla) {
        const long long qk = a.qkNopeHeadDim + a.qkRopeHeadDim;
        if (a.qLoraRank > 0) {
            linear(d, a.qLoraRank);
            bf.params += a.qLoraRank;  // RMSNorm on the query latent
            linear(a.qLoraRank, h * qk);
        } else linear(d, h * qk);
        linear(d, a.kvLoraRank + a.qkRopeHeadDim);
        bf.params += a.kvLoraRank;     // RMSNorm on the key/value latent
        linear(a.kvLoraRank, h * (a.qkNopeHeadDim + a.vHeadDim));
        linear(h * a.vHeadDim, d);
        bf.attentionFlopsPerToken = 2.0 * static_cast<double>(h * qk) * ctx + 2.0 * static_cast<double>(h * a.vHeadDim) * ctx;
        bf.kvCachePerToken = a.kvLoraRank + a.qkRopeHeadDim;
    } else {
        const long long hd = a.resolvedHeadDim(static_cast<int>(d));
        linear(d, h * hd);
        linear(d, a.kvHeads * hd);
        linear(d, a.kvHeads * hd);
        linear(h * hd, d);
        if (a.qkNorm) bf.params += 2 * hd;
        if (a.sinks) bf.params += h;  // one sink logit per head
        bf.attentionFlopsPerToken = 4.0 * static_cast<double>(h * hd) * ctx;
        bf.kvCachePerToken = 2 * a.kvHeads * hd;
    }
    bf.flopsPerToken += bf.attentionFlopsPerToken;
}

}  // namespace

double averageContext(int seqLen, bool causal, int window) {
    if (seqLen < 1) return 0;
    double sum = 0;
    for (int i = 0; i < seqLen; ++i) {
        int c = causal ? i + 1 : seqLen;
        if (window > 0) c = causal ? std::min(c, window) : std::min(seqLen - 1, i + window - 1) - std::max(0, i - window + 1) + 1;
        sum += c;
    }
    return sum / seqLen;
}

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
    if (m.hasGroups()) return expectedK(m.flattened(), block);
    const BlockSpec& b = m.blocks[static_cast<size_t>(block)];
    if (b.kind != BlockKind::Moe) return 0;
    switch (b.router.kind) {
        case RouterKind::ExpertChoice: return std::min<double>(b.router.capacityFactor, m.routedExpertsOf(block));
        case RouterKind::Dynamic: return b.router.maxExperts;
        default: return m.kOf(block);
    }
}

BlockFigures ModelFigures::authored(int block) const {
    BlockFigures sum;
    sum.layers = 0;
    for (size_t i = 0; i < blocks.size() && i < origins.size(); ++i) {
        if (origins[i].block != block) continue;
        const BlockFigures& b = blocks[i];
        sum.kind = origins[i].child >= 0 ? BlockKind::Group : b.kind;
        sum.layers += 1;
        sum.experts += b.experts;
        sum.zeroExperts += b.zeroExperts;
        sum.k += b.k;
        sum.params += b.params;
        sum.activeParams += b.activeParams;
        sum.flopsPerToken += b.flopsPerToken;
        sum.attentionFlopsPerToken += b.attentionFlopsPerToken;
        sum.kvCachePerToken += b.kvCachePerToken;
        sum.expertParams += b.expertParams;
        sum.expertFlopsPerToken += b.expertFlopsPerToken;
    }
    return sum;
}

double ModelFigures::kvCacheBytesPerToken(std::string_view dtype) const {
    return static_cast<double>(kvCachePerToken) * bytesPerElement(dtype);
}

ModelFigures computeFigures(const ModelSpec& authored) {
    const ModelSpec m = authored.flattened();
    ModelFigures f;
    f.origins = authored.layerOrigins();
    const long long d = m.stem.dModel;
    const long long tokens = std::max(1, m.input.tokensPerSample());
    f.seqLen = static_cast<int>(tokens);
    const StemSpec& s = m.stem;
    if (s.kind == StemKind::Embedding) f.stemParams = static_cast<long long>(s.vocab) * d;
    else {
        const long long in = m.input.tokenDim();
        f.stemParams = in * d + d;
        f.stemFlopsPerToken = 2.0 * static_cast<double>(in * d);
    }
    if (s.positions == PositionKind::Learned) f.stemParams += (s.maxPositions > 0 ? s.maxPositions : tokens) * d;
    f.headParams = normParams(m.head.norm, d);
    if (m.input.isText()) {
        const long long vocab = s.kind == StemKind::Embedding ? s.vocab : m.input.numClasses();
        if (!(m.head.tied && s.kind == StemKind::Embedding)) f.headParams += d * vocab;
        f.headFlopsPerToken = 2.0 * static_cast<double>(d * vocab);
    } else {
        const long long classes = m.input.numClasses();
        f.headParams += d * classes + classes;
        f.headFlopsPerToken = 2.0 * static_cast<double>(d * classes) / static_cast<double>(tokens);
    }
    f.params = f.stemParams + f.headParams;
    f.activeParams = static_cast<double>(f.params);
    f.flopsPerToken = f.stemFlopsPerToken + f.headFlopsPerToken;

    for (int i = 0; i < static_cast<int>(m.blocks.size()); ++i) {
        const BlockSpec& b = m.blocks[static_cast<size_t>(i)];
        BlockFigures bf;
        bf.kind = b.kind;
        const long long norm = normParams(b.norm, d);
        const long long ffnP = ffnParams(b.ffn, d);
        const double ffnF = ffnFlops(b.ffn, d);
        switch (b.kind) {
            case BlockKind::Dense:
                bf.params = norm + ffnP;
                bf.activeParams = static_cast<double>(bf.params);
                bf.flopsPerToken = ffnF;
                break;
            case BlockKind::Attention:
                attentionFigures(b.attention, d, f.seqLen, bf);
                bf.params += norm;
                bf.activeParams = static_cast<double>(bf.params);
                break;
            case BlockKind::Moe: {
                bf.experts = m.expertsOf(i);
                bf.zeroExperts = b.zeroExperts.total();
                bf.k = expectedK(m, i);
                const long long routed = bf.experts + bf.zeroExperts;
                const long long routerParams = b.router.kind == RouterKind::Hash ? 0 : d * routed;
                const double routerFlops = b.router.kind == RouterKind::Hash ? 0.0 : 2.0 * static_cast<double>(d * routed);
                const long long constParams = 3 * d + 2;
                const double constFlops = 2.0 * static_cast<double>(d) * 2;
                bf.params = norm + routerParams + (bf.experts + b.sharedExperts) * ffnP + b.zeroExperts.constant * constParams;
                const double pFfn = routed ? static_cast<double>(bf.experts) / static_cast<double>(routed) : 0.0;
                const double pConst = routed ? static_cast<double>(b.zeroExperts.constant) / static_cast<double>(routed) : 0.0;
                bf.activeParams = static_cast<double>(norm + routerParams + b.sharedExperts * ffnP) +
                                  bf.k * (pFfn * static_cast<double>(ffnP) + pConst * static_cast<double>(constParams));
                bf.flopsPerToken = routerFlops + b.sharedExperts * ffnF + bf.k * (pFfn * ffnF + pConst * constFlops);
                bf.expertParams = bf.experts * ffnP;
                bf.expertFlopsPerToken = bf.k * pFfn * ffnF;
                break;
            }
            case BlockKind::Group: break;  // flattened away
        }
        f.params += bf.params;
        f.activeParams += bf.activeParams;
        f.flopsPerToken += bf.flopsPerToken;
        f.kvCachePerToken += bf.kvCachePerToken;
        f.blocks.push_back(bf);
    }
    f.paramsWithoutEmbedding = f.params - f.stemParams;
    f.activeParamsWithoutEmbedding = f.activeParams - static_cast<double>(f.stemParams);
    return f;
}

std::string humanCount(double v) {
    const char* units[] = {"", "K", "M", "G", "T", "P"};
    int u = 0;
    double a = std::fabs(v);
    while (a >= 1000 && u < 5) {
        a /= 1000;
        v /= 1000;
        ++u;
    }
    char buf[32];
    if (u == 0) std::snprintf(buf, sizeof buf, "%g", std::round(v * 100) / 100);
    else std::snprintf(buf, sizeof buf, "%.2f%s", v, units[u]);
    return buf;
}

std::string humanBytes(double bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int u = 0;
    while (std::fabs(bytes) >= 1024 && u < 5) {
        bytes /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", bytes, units[u]);
    return buf;
}

}  // namespace moe::spec
