#include "moe/spec/validate.h"

#include <functional>
#include <set>
#include <string>

#include "moe/spec/twin.h"

namespace moe::spec {
namespace {

std::string n(int v) { return std::to_string(v); }

}  // namespace

namespace {

// Where a flattened layer lives in the project file.
std::string layerPath(const LayerOrigin& o) {
    return "blocks[" + n(o.block) + "]" + (o.child >= 0 ? ".blocks[" + n(o.child) + "]" : std::string());
}

using Err = std::function<void(const std::string&, const std::string&)>;

void checkStem(const ModelSpec& m, const Err& err) {
    const StemSpec& s = m.stem;
    const std::string key = s.kind == StemKind::Embedding ? "embedding" : "stem";
    if (m.input.isText() && s.kind != StemKind::Embedding)
        err("stem", "text input needs \"embedding\" (vocab, d_model, positions): token ids index a table");
    if (!m.input.isText() && s.kind == StemKind::Embedding)
        err("embedding", "an embedding table needs token ids (text input); use \"stem\" for " + std::string(toString(m.input.dataset)));
    if (s.kind == StemKind::Linear && isGated(s.activation))
        err("stem.activation", "a stem cannot use a gated activation (" + std::string(toString(s.activation)) +
                                   "); gated activations belong to FFNs; use relu, gelu, silu or tanh");
    // The byte-level corpus produces ids 0..255; every one needs a row.
    if (m.input.isText() && s.kind == StemKind::Embedding && s.vocab < 256)
        err("embedding.vocab", "the byte-level text corpus has 256 token ids; a vocab of " + n(s.vocab) + " cannot hold them (use 256 or more)");
    if (s.positions == PositionKind::Learned && s.maxPositions > 0 && s.maxPositions < m.input.tokensPerSample())
        err(key + ".max_positions", n(s.maxPositions) + " learned positions are fewer than the " + n(m.input.tokensPerSample()) +
                                        " tokens of a sample" + (m.input.isText() ? " (seq_len)" : "") + "; use at least that many (or omit it)");
    if (m.head.tied && s.kind != StemKind::Embedding)
        err("head.tied", "a tied LM head shares the embedding table; this model has a linear stem (tie needs \"embedding\" and text input)");
}

void checkAttention(const ModelSpec& m, const AttentionSpec& a, const std::string& bp, const Err& err) {
    const int d = m.stem.dModel;
    const std::string kind(toString(a.kind));
    if (a.heads < 1) {
        err(bp + ".heads", "an attention block needs at least one head");
        return;
    }
    if (a.window < 0) err(bp + ".window", "the window is a token count: 0 (whole context) or more, not " + n(a.window));
    if (m.input.tokensPerSample() <= 1)
        err(bp, "attention mixes the tokens of a sample, but " + std::string(toString(m.input.dataset)) +
                    " gives one token per sample here; use text, or fashion_mnist with \"tokens\": \"patches\"");
    const bool rope = m.stem.positions == PositionKind::Rope;
    if (a.kind == AttentionKind::Mla) {
        if (rope && (a.qkRopeHeadDim <= 0 || a.qkRopeHeadDim % 2 != 0))
            err(bp + ".qk_rope_head_dim", "rotary positions rotate pairs of dimensions: qk_rope_head_dim must be even and above 0, not " +
                                              n(a.qkRopeHeadDim));
        return;
    }
    if (a.kind == AttentionKind::Mha && a.kvHeads != a.heads)
        err(bp + ".kv_heads", "mha has as many key/value heads as heads (" + n(a.heads) + "), not " + n(a.kvHeads) + "; use gqa for fewer");
    else if (a.kind == AttentionKind::Mqa && a.kvHeads != 1)
        err(bp + ".kv_heads", "mqa has one key/value head, not " + n(a.kvHeads));
    else if (a.kind == AttentionKind::Gqa && (a.kvHeads < 2 || a.kvHeads > a.heads - 1))
        err(bp + ".kv_heads", "gqa needs 2 to heads - 1 = " + n(a.heads - 1) + " key/value heads, not " + n(a.kvHeads) +
                                  " (1 is mqa, " + n(a.heads) + " is mha)");
    else if (a.kvHeads < 1 || a.heads % a.kvHeads != 0)
        err(bp + ".kv_heads", n(a.kvHeads) + " key/value heads do not divide the " + n(a.heads) +
                                  " heads (each key/value head serves an equal share of query heads)");
    if (a.headDim == 0 && d % a.heads != 0)
        err(bp + ".heads", "d_model " + n(d) + " does not split into " + n(a.heads) + " heads; pick heads dividing " + n(d) + " or set head_dim");
    else if (rope && a.resolvedHeadDim(d) % 2 != 0)
        err(bp + (a.headDim > 0 ? ".head_dim" : ".heads"), "rotary positions rotate pairs of dimensions: the head dim must be even, not " +
                                                             n(a.resolvedHeadDim(d)) + (a.headDim > 0 ? "" : " (d_model / heads)"));
}

void checkGroup(const BlockSpec& g, const std::string& bp, const Err& err) {
    if (g.children.empty()) err(bp + ".blocks", "a group needs at least one block to repeat");
    if (g.repeat < 1) err(bp + ".repeat", "repeat must be 1 or more, not " + n(g.repeat));
    if (g.firstDense > g.repeat)
        err(bp + ".first_dense", n(g.firstDense) + " dense repeats exceed the " + n(g.repeat) + " repeats of this group");
    bool hasMoe = false;
    for (size_t c = 0; c < g.children.size(); ++c) {
        hasMoe = hasMoe || g.children[c].kind == BlockKind::Moe;
        if (g.children[c].kind == BlockKind::Group)
            err(bp + ".blocks[" + n(static_cast<int>(c)) + "].kind", "groups do not nest: put these blocks directly in the outer group");
    }
    if (g.firstDense > 0 && !hasMoe)
        err(bp + ".first_dense", "this group has no moe block to make dense in its first repeats");
}

void checkMoeLayer(const ModelSpec& m, int i, const std::string& bp, const Err& err) {
    const BlockSpec& b = m.blocks[static_cast<size_t>(i)];
    if (!b.experts && !m.expertSchedule) {
        err(bp, "this moe block has no expert count: set \"experts\" here or a model \"schedule\" with \"experts\"");
        return;
    }
    const int routed = m.routedExpertsOf(i);
    const std::string ofBlock = " expert" + std::string(routed == 1 ? "" : "s") + " of this block";
    const RouterSpec& r = b.router;
    const bool topKStyle = r.kind != RouterKind::ExpertChoice && r.kind != RouterKind::Dynamic;
    const std::string kWhere = r.k ? bp + ".router.k" : "schedule.k";
    if (topKStyle) {
        const int k = m.kOf(i);
        if (k > routed) err(kWhere, n(k) + " exceeds the " + n(routed) + ofBlock + " (k must be 1 to " + n(routed) + ")");
    }
    if (r.groups > 1 || r.topkGroups > 1) {
        if (r.kind != RouterKind::TopK && r.kind != RouterKind::SigmoidBias)
            err(bp + ".router.groups", "group-limited routing applies to topk and sigmoid_bias routers only");
        else if (routed % r.groups != 0)
            err(bp + ".router.groups", n(r.groups) + " groups do not divide the " + n(routed) + ofBlock + " evenly");
        else if (r.topkGroups < 1 || r.topkGroups > r.groups)
            err(bp + ".router.topk_groups", n(r.topkGroups) + " is not between 1 and the " + n(r.groups) + " expert groups");
        else if (const int reach = r.topkGroups * (routed / r.groups); m.kOf(i) > reach)
            err(kWhere, n(m.kOf(i)) + " experts cannot be picked from " + n(r.topkGroups) + " group(s) of " + n(routed / r.groups) +
                            " (at most " + n(reach) + ")");
    }
    if (r.kind == RouterKind::Dynamic) {
        if (r.minExperts > r.maxExperts)
            err(bp + ".router.min_experts", n(r.minExperts) + " is above max_experts (" + n(r.maxExperts) + ")");
        if (r.maxExperts > routed) err(bp + ".router.max_experts", n(r.maxExperts) + " exceeds the " + n(routed) + ofBlock);
    }
    if (r.kind == RouterKind::ExpertChoice && b.zeroExperts.total() > 0)
        err(bp + ".zero_experts", "expert_choice routing picks tokens per expert; zero-computation experts need a token-choice router (topk, dynamic, unified, hash, sinkhorn or sigmoid_bias)");
    if (r.kind == RouterKind::SigmoidBias && b.losses.aux > 0)
        err(bp + ".losses.aux", "sigmoid_bias balances with its bias instead of an aux loss; set aux to 0 (or pick another router)");
}

}  // namespace

Diagnostics validateModel(const ModelSpec& m, const std::string& prefix) {
    Diagnostics out;
    // A group repeats its blocks: a problem in one of them is reported once, at its path in the group.
    std::set<std::string> seen;
    const Err err = [&](const std::string& path, const std::string& msg) {
        const std::string full = path.empty() ? prefix : prefix + "." + path;
        if (seen.insert(full + "\n" + msg).second) out.push_back({full, msg});
    };
    if (m.input.tokens == TokenMode::Patches && (m.input.patch < 1 || 28 % m.input.patch != 0))
        err("input.patch", "a patch of " + n(m.input.patch) + " pixels does not tile a 28x28 image; use 1, 2, 4, 7, 14 or 28");
    if (m.blocks.empty()) err("blocks", "a model needs at least one block");
    checkStem(m, err);

    for (int i = 0; i < static_cast<int>(m.blocks.size()); ++i) {
        const BlockSpec& b = m.blocks[static_cast<size_t>(i)];
        const std::string bp = "blocks[" + n(i) + "]";
        if (b.kind == BlockKind::Attention) checkAttention(m, b.attention, bp, err);
        if (b.kind != BlockKind::Group) continue;
        checkGroup(b, bp, err);
        for (int c = 0; c < static_cast<int>(b.children.size()); ++c)
            if (b.children[static_cast<size_t>(c)].kind == BlockKind::Attention)
                checkAttention(m, b.children[static_cast<size_t>(c)].attention, bp + ".blocks[" + n(c) + "]", err);
    }
    if (!out.empty()) return out;  // the layer checks below assume well-formed groups

    const ModelSpec flat = m.flattened();
    const int moeCount = flat.moeBlockCount();
    if (m.expertSchedule) {
        if (auto e = checkSchedule(*m.expertSchedule, moeCount); !e.empty()) err("schedule.experts", e);
    }
    if (m.kSchedule) {
        if (auto e = checkSchedule(*m.kSchedule, moeCount); !e.empty()) err("schedule.k", e);
    }
    if ((m.expertSchedule || m.kSchedule) && moeCount == 0)
        err("schedule", "there are no moe blocks for the schedule to spread experts over");
    const std::vector<LayerOrigin> origins = m.layerOrigins();
    // Per repeat, messages may differ (schedules give each layer its own count); one per path is enough.
    std::set<std::string> layerPaths;
    for (int i = 0; i < static_cast<int>(flat.blocks.size()); ++i) {
        if (flat.blocks[static_cast<size_t>(i)].kind != BlockKind::Moe) continue;
        const std::string bp = layerPath(origins[static_cast<size_t>(i)]);
        checkMoeLayer(flat, i, bp, [&](const std::string& path, const std::string& msg) {
            if (layerPaths.insert(path).second) err(path, msg);
        });
    }
    return out;
}

Diagnostics validateTraining(const TrainingSettings& t, const std::string& prefix) {
    Diagnostics out;
    if (t.epochs && t.steps) out.push_back({prefix, "give either \"epochs\" or \"steps\", not both"});
    if (!t.epochs && !t.steps) out.push_back({prefix, "give how long to train: \"epochs\" or \"steps\""});
    return out;
}

Diagnostics validateProject(const Project& p) {
    Diagnostics out = validateModel(p.model);
    Diagnostics t = validateTraining(p.training);
    out.insert(out.end(), t.begin(), t.end());
    if (p.model.input.dataset != DatasetKind::FashionMnist && p.training.batch > p.training.trainSamples)
        out.push_back({"training.batch", "a batch of " + n(p.training.batch) + " is larger than the " +
                                             n(p.training.trainSamples) + " training samples"});
    // The twin is derived from the model: check it only when the model itself is sound.
    if (p.training.twin && out.empty()) {
        Diagnostics tw = validateModel(twinOf(p.model, *p.training.twin), "training.twin.model");
        out.insert(out.end(), tw.begin(), tw.end());
    }
    if (p.deployment) {
        const DeploymentSpec& d = *p.deployment;
        // The training layout on its own; against the model and the cluster it is checked where
        // both are known (core/cluster's checkLayout).
        if (d.vpp > 1 && d.pp < 2) out.push_back({"deployment.parallel.vpp", "virtual pipeline stages need pp >= 2; with pp = 1 set vpp to 1"});
        if ((d.firstStageLayers > 0 || d.lastStageLayers > 0) && d.pp < 2)
            out.push_back({"deployment.parallel.first_stage_layers", "an uneven pipeline needs pp >= 2, not " + n(d.pp)});
        if ((d.firstStageLayers > 0 || d.lastStageLayers > 0) && d.vpp > 1)
            out.push_back({"deployment.parallel.first_stage_layers", "uneven first / last stages need vpp = 1, not " + n(d.vpp)});
        if (d.globalBatch > 0 && d.globalBatch % d.microBatch != 0)
            out.push_back({"deployment.global_batch", n(d.globalBatch) + " sequences are not a multiple of micro_batch " + n(d.microBatch)});
    }
    return out;
}

}  // namespace moe::spec
