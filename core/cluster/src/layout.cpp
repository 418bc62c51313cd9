#include "moe/cluster/layout.h"

#include <algorithm>
#include <numeric>

namespace moe::cluster {
namespace {

std::string n(long long v) { return std::to_string(v); }

std::string listInts(const std::vector<int>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + n(v[i]);
    return s.empty() ? "none" : s;
}

std::vector<int> divisorsOf(int x, int cap) {
    std::vector<int> d;
    for (int i = 1; i <= std::min(x, cap); ++i)
        if (x % i == 0) d.push_back(i);
    return d;
}

}  // namespace

std::string toString(Recompute r) {
    switch (r) {
    case Recompute::None: return "none";
    case Recompute::Selective: return "selective";
    case Recompute::Full: return "full";
    }
    return "?";
}

std::string Layout::summary() const {
    std::string s = "tp" + n(tp) + " cp" + n(cp) + " pp" + n(pp);
    if (vpp > 1) s += "x" + n(vpp);
    if (firstStageLayers || lastStageLayers) s += "(" + n(firstStageLayers) + ".." + n(lastStageLayers) + ")";
    s += " ep" + n(ep) + " etp" + n(etp) + " dp" + n(dp) + " mb" + n(microBatch) + " " + toString(recompute) + " zero" + n(zero);
    if (epOverlap) s += " a2a-overlap";
    return s;
}

ModelShape shapeOf(const spec::ModelSpec& authored, int seqLen) {
    ModelShape s;
    s.model = authored.flattened();
    if (seqLen > 0 && s.model.input.isText()) s.model.input.seqLen = seqLen;
    s.figures = spec::computeFigures(s.model);
    s.seqLen = s.figures.seqLen;
    s.dModel = s.model.stem.dModel;
    s.vocab = s.model.stem.kind == spec::StemKind::Embedding ? s.model.stem.vocab : s.model.input.numClasses();
    s.tied = s.model.head.tied && s.model.stem.kind == spec::StemKind::Embedding;
    const auto& blocks = s.model.blocks;
    bool anyAttention = false;
    for (const auto& b : blocks) anyAttention = anyAttention || b.kind == spec::BlockKind::Attention;
    for (int i = 0; i < static_cast<int>(blocks.size()); ++i) {
        const auto& b = blocks[static_cast<size_t>(i)];
        if (i == 0 || !anyAttention || b.kind == spec::BlockKind::Attention) s.unitFirst.push_back(i);
        if (b.kind == spec::BlockKind::Attention) {
            const int h = b.attention.heads;
            const int g = b.attention.kind == spec::AttentionKind::Mla ? h : b.attention.kvHeads;
            s.hasMla = s.hasMla || b.attention.kind == spec::AttentionKind::Mla;
            s.minHeads = s.minHeads ? std::min(s.minHeads, h) : h;
            s.headsGcd = std::gcd(s.headsGcd, h);
            s.kvHeadsGcd = std::gcd(s.kvHeadsGcd, g);
        }
        if (b.kind == spec::BlockKind::Moe) {
            const int e = s.model.expertsOf(i);
            if (s.moeLayers == 0) s.expertHidden = b.ffn.hidden;
            ++s.moeLayers;
            s.experts = std::max(s.experts, e);
            s.expertsGcd = std::gcd(s.expertsGcd, e);
            s.k = std::max(s.k, s.figures.blocks[static_cast<size_t>(i)].k);
        }
    }
    s.unitFirst.push_back(static_cast<int>(blocks.size()));
    return s;
}

std::vector<std::vector<int>> splitStages(int units, int pp, int vpp, int first, int last) {
    std::vector<std::vector<int>> out(static_cast<size_t>(std::max(1, pp)));
    if (pp < 1 || vpp < 1 || units < pp * vpp) return {};
    if (first > 0 || last > 0) {
        if (vpp != 1 || pp < 2) return {};
        const int f = first > 0 ? first : 0, l = last > 0 ? last : 0;
        const int middleStages = pp - (f > 0 ? 1 : 0) - (l > 0 ? 1 : 0);
        const int rest = units - f - l;
        if (rest < 0 || (middleStages == 0 ? rest != 0 : rest % middleStages != 0 || rest / middleStages < 1)) return {};
        const int per = middleStages > 0 ? rest / middleStages : 0;
        int u = 0;
        for (int r = 0; r < pp; ++r) {
            const int count = (r == 0 && f > 0) ? f : (r == pp - 1 && l > 0) ? l : per;
            for (int i = 0; i < count; ++i) out[static_cast<size_t>(r)].push_back(u++);
        }
        return out;
    }
    if (units % (pp * vpp) != 0) return {};
    const int per = units / (pp * vpp);
    for (int c = 0; c < pp * vpp; ++c)
        for (int i = 0; i < per; ++i) out[static_cast<size_t>(c % pp)].push_back(c * per + i);
    return out;
}

spec::Diagnostics checkLayout(const Layout& l, const ModelShape& s, const ResolvedCluster& rc, const std::string& prefix) {
    spec::Diagnostics errs;
    auto err = [&](const std::string& key, const std::string& msg) { errs.push_back({prefix + "." + key, msg}); };
    const int gpn = rc.system->gpusPerNode;
    if (std::string e = rc.checkGpuCount(l.gpus); !e.empty()) err("gpus", e);
    if (l.tp < 1 || gpn % l.tp != 0)
        err("parallel.tp", "tensor parallelism stays inside a node: tp must divide " + n(gpn) + " (valid: " + listInts(divisorsOf(gpn, gpn)) + "), not " + n(l.tp));
    if (l.etp < 1 || gpn % l.etp != 0)
        err("parallel.etp", "expert tensor parallelism stays inside a node: etp must divide " + n(gpn) + ", not " + n(l.etp));
    if (s.headsGcd > 0 && l.tp >= 1) {
        std::vector<int> valid;
        for (int t : divisorsOf(gpn, gpn))
            if (s.headsGcd % t == 0 && s.kvHeadsGcd % t == 0) valid.push_back(t);
        if (s.headsGcd % l.tp != 0 || s.kvHeadsGcd % l.tp != 0)
            err("parallel.tp", "tp = " + n(l.tp) + " does not divide the attention heads (" + n(s.headsGcd) + " query, " + n(s.kvHeadsGcd) +
                                   " key/value); valid: " + listInts(valid));
    }
    if (s.moeLayers > 0) {
        if (l.ep < 1 || s.expertsGcd % l.ep != 0)
            err("parallel.ep", n(s.expertsGcd) + " experts per MoE layer cannot be split evenly over ep = " + n(l.ep) + " ranks; valid: " +
                                   listInts(divisorsOf(s.expertsGcd, 1 << 20)));
        if (s.expertHidden % std::max(1, l.etp) != 0)
            err("parallel.etp", "etp = " + n(l.etp) + " does not divide the expert FFN width " + n(s.expertHidden));
        if (l.ep * l.etp > 512)
            err("parallel.ep", "ep x etp = " + n(l.ep * l.etp) + " is above the 512 GPUs one expert-parallel group may span in the simulator");
        if (l.tp > 1 && !l.sequenceParallel)
            err("parallel.sequence_parallel", "MoE layers with tp > 1 need sequence parallelism (Megatron-Core requires it); set it to true");
    } else if (l.ep != 1) err("parallel.ep", "the model has no MoE layer; ep must be 1, not " + n(l.ep));
    if (l.vpp > 1 && l.pp < 2) err("parallel.vpp", "virtual pipeline stages need pp >= 2; with pp = 1 set vpp to 1");
    const int units = s.units();
    if (l.stageUnits.empty()) {
        if (l.firstStageLayers || l.lastStageLayers) {
            if (l.vpp > 1) err("parallel.first_stage_layers", "uneven first / last stages need vpp = 1, not " + n(l.vpp));
            else
                err("parallel.first_stage_layers", "first " + n(l.firstStageLayers) + " and last " + n(l.lastStageLayers) + " stage layers leave " +
                                                       n(units - l.firstStageLayers - l.lastStageLayers) + " of the " + n(units) +
                                                       " transformer layers for the other " + n(std::max(0, l.pp - 2)) +
                                                       " stages; they must split evenly, each stage holding at least one");
        } else {
            std::vector<int> valid;
            for (int p : divisorsOf(units, 4096))
                if ((units / p) % l.vpp == 0) valid.push_back(p);
            err("parallel.pp", "the model's " + n(units) + " transformer layers do not split evenly over pp = " + n(l.pp) + " x vpp = " + n(l.vpp) +
                                   " stages; with vpp " + n(l.vpp) + " valid pp: " + listInts(valid) +
                                   ", or set parallel.first_stage_layers / last_stage_layers for an uneven split");
        }
    }
    const long long dense = 1LL * l.tp * l.cp * l.pp;
    if (dense > 0 && l.gpus % dense != 0)
        err("parallel", "tp x cp x pp = " + n(l.tp) + " x " + n(l.cp) + " x " + n(l.pp) + " = " + n(dense) + " must divide the " + n(l.gpus) + " GPUs");
    const long long moe = 1LL * l.etp * l.ep * l.pp;
    if (moe > 0 && l.gpus % moe != 0)
        err("parallel.ep", "etp x ep x pp = " + n(l.etp) + " x " + n(l.ep) + " x " + n(l.pp) + " = " + n(moe) + " must divide the " + n(l.gpus) + " GPUs");
    if (l.cp > 1 && l.seqLen % (2 * l.cp) != 0)
        err("parallel.cp", "context parallelism splits each sequence in 2 x cp chunks: seq_len " + n(l.seqLen) + " is not a multiple of " + n(2 * l.cp));
    if (l.tp > 1 && l.sequenceParallel && (l.seqLen / std::max(1, l.cp)) % l.tp != 0)
        err("parallel.sequence_parallel", "sequence parallelism splits the " + n(l.seqLen / std::max(1, l.cp)) + " tokens of a context-parallel rank over tp = " +
                                              n(l.tp) + "; they must divide evenly");
    if (l.dp >= 1 && l.microBatch >= 1 && l.globalBatch % (l.microBatch * l.dp) != 0)
        err("global_batch", "global_batch " + n(l.globalBatch) + " must be a multiple of micro_batch x dp = " + n(l.microBatch) + " x " + n(l.dp) + " = " +
                                n(l.microBatch * l.dp));
    else if (l.vpp > 1 && l.microBatches % l.pp != 0)
        err("global_batch", "the interleaved schedule needs the micro-batches per step (" + n(l.microBatches) + ") to be a multiple of pp = " + n(l.pp) +
                                "; use a global_batch that is a multiple of " + n(l.microBatch * l.dp * l.pp));
    if (l.zero < 0 || l.zero > 3) err("zero", "ZeRO stage " + n(l.zero) + " does not exist; use 0, 1, 2 or 3");
    return errs;
}

spec::Result<Layout> layoutFromDeployment(const spec::DeploymentSpec& d, const ModelShape& s, const ResolvedCluster& rc, int gpus) {
    Layout l;
    l.gpus = gpus > 0 ? gpus : d.gpus;
    l.tp = d.tp;
    l.cp = d.cp;
    l.pp = d.pp;
    l.vpp = d.vpp;
    l.ep = s.moeLayers > 0 ? d.ep : 1;
    l.etp = d.etp > 0 ? d.etp : d.tp;
    l.sequenceParallel = d.sequenceParallel;
    l.epOverlap = d.epOverlap;
    l.microBatch = d.microBatch;
    l.seqLen = s.seqLen;
    l.recompute = d.recompute == "none" ? Recompute::None : d.recompute == "full" ? Recompute::Full : Recompute::Selective;
    l.zero = d.zero;
    l.dtype = d.dtype;
    l.gradDtype = d.gradDtype;
    l.dispatchDtype = d.dispatchDtype;
    l.firstStageLayers = d.firstStageLayers;
    l.lastStageLayers = d.lastStageLayers;
    const long long dense = 1LL * l.tp * l.cp * l.pp, moe = 1LL * l.etp * l.ep * l.pp;
    l.dp = dense > 0 && l.gpus % dense == 0 ? static_cast<int>(l.gpus / dense) : 1;
    l.edp = moe > 0 && l.gpus % moe == 0 ? static_cast<int>(l.gpus / moe) : 1;
    l.globalBatch = d.globalBatch > 0 ? d.globalBatch : l.microBatch * l.dp;
    l.microBatches = std::max(1, l.globalBatch / std::max(1, l.microBatch * l.dp));
    l.stageUnits = splitStages(s.units(), l.pp, l.vpp, l.firstStageLayers, l.lastStageLayers);
    spec::Diagnostics errs = checkLayout(l, s, rc);
    if (gpus > 0)
        for (auto& e : errs)
            if (e.path == "deployment.gpus") e.path = "--gpus";
    if (!errs.empty()) return errs;
    return l;
}

void applyLayout(const Layout& l, spec::DeploymentSpec& d) {
    d.gpus = l.gpus;
    d.tp = l.tp;
    d.cp = l.cp;
    d.pp = l.pp;
    d.vpp = l.vpp;
    d.ep = l.ep;
    d.etp = l.etp == l.tp ? 0 : l.etp;
    // deployment.parallel.dp keeps its meaning for the MoE step simulator: the replicas of one
    // expert-parallel group (ep x tp GPUs), when they divide the GPUs.
    if (l.ep * l.tp > 0 && l.gpus % (l.ep * l.tp) == 0) d.dp = l.gpus / (l.ep * l.tp);
    d.sequenceParallel = l.sequenceParallel;
    d.epOverlap = l.epOverlap;
    d.microBatch = l.microBatch;
    d.globalBatch = l.globalBatch;
    d.recompute = toString(l.recompute);
    d.zero = l.zero;
    d.firstStageLayers = l.firstStageLayers;
    d.lastStageLayers = l.lastStageLayers;
    d.tokensPerGpu = std::max(1, l.microBatch * l.seqLen / std::max(1, l.cp * l.tp));
}

}  // namespace moe::cluster
