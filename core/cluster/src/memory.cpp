#include "moe/cluster/memory.h"

#include <algorithm>

namespace moe::cluster {
namespace {

using spec::BlockKind;

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

struct ActTerms {
    double seqwise = 0;   // split over tp only with sequence parallelism
    double tpSplit = 0;   // split over tp
    // What selective recomputation (norms and activation functions) drops of the above.
    double selSeqwise = 0, selTpSplit = 0;
};

// Activations one flattened layer keeps for one micro-batch of b sequences of sl local tokens.
ActTerms layerActivations(const ModelShape& s, const Layout& l, int i) {
    const auto& b = s.model.blocks[static_cast<size_t>(i)];
    const auto& fig = s.figures.blocks[static_cast<size_t>(i)];
    const double sl = double(l.seqLen) / l.cp, mb = l.microBatch, h = s.dModel, tokens = sl * mb;
    ActTerms t;
    switch (b.kind) {
    case BlockKind::Attention: {
        const auto& a = b.attention;
        const double heads = a.heads;
        t.seqwise = 5.0 * tokens * h;
        if (a.kind == spec::AttentionKind::Mla) {
            const double qk = a.qkNopeHeadDim + a.qkRopeHeadDim;
            t.tpSplit = 2.0 * tokens * (2.0 * heads * qk + 2.0 * heads * a.vHeadDim);
            t.seqwise += 2.0 * tokens * (a.qLoraRank + a.kvLoraRank + a.qkRopeHeadDim);
        } else {
            const double hd = a.resolvedHeadDim(s.dModel);
            t.tpSplit = 2.0 * tokens * (2.0 * heads * hd + 2.0 * a.kvHeads * hd);
        }
        t.selSeqwise = 2.0 * tokens * h;  // the norm's output (QKV input)
        break;
    }
    case BlockKind::Dense:
        t.seqwise = 5.0 * tokens * h;
        t.tpSplit = (spec::isGated(b.ffn.activation) ? 6.0 : 4.0) * tokens * b.ffn.hidden;
        t.selSeqwise = 2.0 * tokens * h;
        t.selTpSplit = 2.0 * tokens * b.ffn.hidden;  // the activation function's output
        break;
    case BlockKind::Moe: {
        const double gated = spec::isGated(b.ffn.activation) ? 6.0 : 4.0;
        t.seqwise = 5.0 * tokens * h + 8.0 * tokens * (fig.experts + fig.zeroExperts);
        // Expert copies of the tokens: permuted input and output (2 x 2h each), FFN activations;
        // gathered over etp with 1/etp of the width: per GPU etp x tokens x k / tp copies.
        const double copies = tokens * fig.k;
        t.tpSplit = copies * (4.0 * h * l.etp + gated * b.ffn.hidden) + b.sharedExperts * gated * tokens * b.ffn.hidden;
        t.selSeqwise = 2.0 * tokens * h;
        t.selTpSplit = 2.0 * (copies + b.sharedExperts * tokens) * b.ffn.hidden;
        break;
    }
    case BlockKind::Group: break;
    }
    return t;
}

// Activations of unit u per micro-batch; `dropped`: only what selective recomputation drops.
double unitActivations(const ModelShape& s, const Layout& l, int u, bool selective, bool dropped = false) {
    const double seqDiv = l.tp > 1 && l.sequenceParallel ? l.tp : 1.0;
    double sum = 0;
    for (int i = s.unitFirst[static_cast<size_t>(u)]; i < s.unitFirst[static_cast<size_t>(u) + 1]; ++i) {
        const ActTerms t = layerActivations(s, l, i);
        if (dropped) sum += t.selSeqwise / seqDiv + t.selTpSplit / l.tp;
        else if (selective) sum += (t.seqwise - t.selSeqwise) / seqDiv + (t.tpSplit - t.selTpSplit) / l.tp;
        else sum += t.seqwise / seqDiv + t.tpSplit / l.tp;
    }
    return sum;
}

double unitParams(const ModelShape& s, int u, bool experts) {
    double p = 0;
    for (int i = s.unitFirst[static_cast<size_t>(u)]; i < s.unitFirst[static_cast<size_t>(u) + 1]; ++i) {
        const auto& f = s.figures.blocks[static_cast<size_t>(i)];
        p += experts ? double(f.expertParams) : double(f.params - f.expertParams);
    }
    return p;
}

}  // namespace

double selectiveRecomputeBytes(const ModelShape& s, const Layout& l, int unit) { return unitActivations(s, l, unit, true, true); }

MemoryBreakdown estimateMemory(const ModelShape& s, const Layout& l, const GpuSpec& gpu, bool inference) {
    MemoryBreakdown best;
    const int pp = std::max(1, l.pp);
    const double wB = spec::bytesPerElement(l.dtype), gB = spec::bytesPerElement(l.gradDtype);
    const double oB = l.dtype == "fp32" ? 8.0 : 12.0;
    const double sl = double(l.seqLen) / l.cp, mb = l.microBatch, h = s.dModel;
    const double nDense = double(l.dp) * l.cp, nExpert = l.edp;
    const bool selective = l.recompute == Recompute::Selective;
    for (int r = 0; r < pp; ++r) {
        MemoryBreakdown m;
        m.stage = r;
        const std::vector<int>& units = l.stageUnits.empty() ? std::vector<int>{} : l.stageUnits[static_cast<size_t>(r)];
        double dense = 0, expert = 0, act = 0, maxUnitAct = 0, maxUnitWeights = 0, kvElems = 0;
        for (int u : units) {
            const double dU = unitParams(s, u, false), xU = unitParams(s, u, true);
            dense += dU;
            expert += xU;
            maxUnitWeights = std::max(maxUnitWeights, dU / l.tp + xU / (double(l.ep) * l.etp));
            const double kept = unitActivations(s, l, u, selective);
            maxUnitAct = std::max(maxUnitAct, unitActivations(s, l, u, false));
            act += l.recompute == Recompute::Full ? 2.0 * sl * mb * h / (l.tp > 1 && l.sequenceParallel ? l.tp : 1.0) : kept;
            for (int i = s.unitFirst[static_cast<size_t>(u)]; i < s.unitFirst[static_cast<size_t>(u) + 1]; ++i) {
                const auto& b = s.model.blocks[static_cast<size_t>(i)];
                if (b.kind != BlockKind::Attention) continue;
                const double e = double(s.figures.blocks[static_cast<size_t>(i)].kvCachePerToken);
                const int g = b.attention.kvHeads;
                kvElems += b.attention.kind == spec::AttentionKind::Mla ? e : e * std::max(1, g / l.tp) / double(g);
            }
        }
        const bool first = r == 0, last = r == pp - 1;
        if (first) dense += double(s.figures.stemParams);
        if (last) dense += double(s.figures.headParams) + (s.tied && pp > 1 ? double(s.figures.stemParams) : 0.0);
        m.denseParams = dense / l.tp;
        m.expertParams = expert / (double(l.ep) * l.etp);
        m.capacity = gpu.hbmGiB * kGiB;
        if (inference) {
            m.weights = (m.denseParams + m.expertParams) * wB;
            m.kvCache = mb * l.seqLen * kvElems * wB / l.cp;
            m.activations = maxUnitAct;
            m.inFlight = 1;
        } else {
            auto shard = [&](double params, double n, int fromStage, double bytes) { return params * bytes / (l.zero >= fromStage ? n : 1.0); };
            m.weights = shard(m.denseParams, nDense, 3, wB) + shard(m.expertParams, nExpert, 3, wB);
            m.gradients = shard(m.denseParams, nDense, 2, gB) + shard(m.expertParams, nExpert, 2, gB);
            m.optimizer = shard(m.denseParams, nDense, 1, oB) + shard(m.expertParams, nExpert, 1, oB);
            if (l.zero >= 3) m.gathered = 2.0 * maxUnitWeights * wB;
            // In-flight micro-batches of the schedule on this rank.
            double inflight = 1;
            if (pp > 1) {
                if (l.vpp > 1) inflight = double(pp - r) + double(pp - 1) / l.vpp;
                else inflight = std::min<double>(pp - r, l.microBatches);
            }
            m.inFlight = inflight;
            double perMb = act;
            if (first) perMb += (8.0 * sl * mb + sl * mb * h) / l.tp;
            m.activationsPerMicroBatch = perMb;
            m.activations = perMb * inflight;
            if (l.recompute == Recompute::Full) m.activations += maxUnitAct;
            if (last) m.activations += (4.0 * sl * mb * h + 4.0 * sl * mb * s.vocab) / l.tp * (pp > 1 ? inflight : 1.0);
        }
        m.total = m.weights + m.gradients + m.optimizer + m.activations + m.kvCache + m.gathered;
        m.fits = m.total <= m.capacity;
        best.stageTotals.push_back(m.total);
        if (r == 0 || m.total > best.total) {
            auto totals = std::move(best.stageTotals);
            best = std::move(m);
            best.stageTotals = std::move(totals);
        }
    }
    if (!inference) {
        best.notes.push_back("optimizer: Adam with fp32 master weights and moments; ZeRO-" + std::to_string(l.zero) + " over dp x cp = " +
                             std::to_string(l.dp * l.cp) + " (dense) and edp = " + std::to_string(l.edp) + " (experts) ranks");
        best.notes.push_back("activations at expected (uniform) expert loads; a hot expert rank needs more");
    } else
        best.notes.push_back("inference: weights and KV cache for " + std::to_string(l.microBatch) + " sequence(s) of " + std::to_string(l.seqLen) + " tokens");
    best.notes.push_back("not counted: CUDA context, communication buffers, allocator fragmentation (keep a few GiB free)");
    return best;
}

}  // namespace moe::cluster
