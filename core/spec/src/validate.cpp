#include "moe/spec/validate.h"

#include <algorithm>
#include <functional>
#include <set>
#include <string>

#include "json_reader.h"
#include "moe/spec/derived.h"
#include "moe/spec/limits.h"
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

// ---- Limits: the values a project file can hold, checked with the reader's ranges and words ----

// Reports a value outside its range (moe/spec/limits.h) at `path`, as the reader does.
struct RangeCheck {
    const Err& err;
    void operator()(const std::string& path, long long v, IntRange r) const {
        if (!r.contains(v)) err(path, outOfRange(std::to_string(v), r));
    }
    void operator()(const std::string& path, double v, RealRange r) const {
        if (!r.contains(v)) err(path, outOfRange(numberText(v), r));
    }
    // A count where 0 means "not set" (the file then leaves the key out).
    void unlessZero(const std::string& path, int v, IntRange r) const {
        if (v != 0) (*this)(path, v, r);
    }
};

void scheduleLimits(const Schedule& s, const std::string& sp, const RangeCheck& in) {
    using namespace limits;
    if (s.kind == ScheduleKind::Explicit) {
        for (size_t i = 0; i < s.values.size(); ++i) in(sp + ".values[" + std::to_string(i) + "]", s.values[i], kExperts);
        return;
    }
    in(sp + ".min", s.min, kExperts);
    in(sp + ".max", s.max, kExperts);
    if (s.kind == ScheduleKind::Wave) in(sp + ".period", s.period, kSchedulePeriod);
}

void attentionLimits(const AttentionSpec& a, const std::string& bp, const RangeCheck& in) {
    using namespace limits;
    in(bp + ".heads", a.heads, kHeads);
    in(bp + ".window", a.window, kWindow);
    if (a.kind == AttentionKind::Gqa) in(bp + ".kv_heads", a.kvHeads, kHeads);
    if (a.kind != AttentionKind::Mla) {
        in.unlessZero(bp + ".head_dim", a.headDim, kHeadDim);
        return;
    }
    in(bp + ".q_lora_rank", a.qLoraRank, kQLoraRank);
    in(bp + ".kv_lora_rank", a.kvLoraRank, kWidth);
    in(bp + ".qk_nope_head_dim", a.qkNopeHeadDim, kHeadDim);
    in(bp + ".qk_rope_head_dim", a.qkRopeHeadDim, kRopeHeadDim);
    in(bp + ".v_head_dim", a.vHeadDim, kHeadDim);
}

// The router's fields that apply to its kind: the others are not saved (nor read).
void routerLimits(const RouterSpec& r, const std::string& rp, const RangeCheck& in) {
    using namespace limits;
    using K = RouterKind;
    if (r.k && r.kind != K::ExpertChoice && r.kind != K::Dynamic) in(rp + ".k", *r.k, kExperts);
    if (r.kind != K::Hash && r.kind != K::SigmoidBias) in(rp + ".temperature", r.temperature, kTemperature);
    if (r.kind != K::Hash) in(rp + ".noise", r.noise, kRouterNoise);
    if (r.kind == K::ExpertChoice) in(rp + ".capacity_factor", r.capacityFactor, kCapacityFactor);
    if (r.kind == K::Dynamic) {
        in(rp + ".tau", r.tau, kTau);
        in(rp + ".min_experts", r.minExperts, kExperts);
        in(rp + ".max_experts", r.maxExperts, kExperts);
    }
    if (r.kind == K::Unified) in(rp + ".alpha", r.alpha, kAlpha);
    if (r.kind == K::Sinkhorn) in(rp + ".iterations", r.iterations, kSinkhornIterations);
    if (r.kind == K::SigmoidBias) in(rp + ".bias_update_rate", r.biasUpdateRate, kBiasUpdateRate);
    if (r.kind == K::TopK || r.kind == K::SigmoidBias) {
        in(rp + ".groups", r.groups, kExperts);
        if (r.groups > 1) in(rp + ".topk_groups", r.topkGroups, kExperts);
    }
}

// A dense, moe or attention block (groups hold these).
void blockLimits(const BlockSpec& b, const std::string& bp, const RangeCheck& in) {
    using namespace limits;
    if (b.kind == BlockKind::Attention) return attentionLimits(b.attention, bp, in);
    in(bp + ".ffn.hidden", b.ffn.hidden, kWidth);
    if (b.kind != BlockKind::Moe) return;
    if (b.experts) in(bp + ".experts", *b.experts, kExperts);
    in(bp + ".shared_experts", b.sharedExperts, kSharedExperts);
    in(bp + ".zero_experts.zero", b.zeroExperts.zero, kZeroExperts);
    in(bp + ".zero_experts.copy", b.zeroExperts.copy, kZeroExperts);
    in(bp + ".zero_experts.constant", b.zeroExperts.constant, kZeroExperts);
    routerLimits(b.router, bp + ".router", in);
    if (!b.capacity.dropless) in(bp + ".capacity.factor", b.capacity.factor, kCapacityFactor);
    in(bp + ".losses.aux", b.losses.aux, kLossCoefficient);
    in(bp + ".losses.z", b.losses.z, kLossCoefficient);
}

void modelLimits(const ModelSpec& m, const Err& err) {
    using namespace limits;
    const RangeCheck in{err};
    const InputSpec& i = m.input;
    if (i.isText()) {
        in("input.seq_len", i.seqLen, kSeqLen);
        if (i.corpus.empty()) err("input.corpus", kEmptyCorpusText);
    } else {
        const bool fmnist = i.dataset == DatasetKind::FashionMnist;
        if (i.tokens == TokenMode::Patches) {
            if (!fmnist) err("input.tokens", kPatchesNeedImagesText);
            in("input.patch", i.patch, kPatch);
        }
        if (i.dataset == DatasetKind::Blobs || i.dataset == DatasetKind::ClusteredTokens) in("input.classes", i.classes, kClasses);
        if (i.dataset == DatasetKind::ClusteredTokens) in("input.dims", i.dims, kDims);
        if (!fmnist) in("input.noise", i.noise, kDataNoise);
    }
    const StemSpec& s = m.stem;
    const std::string key = s.kind == StemKind::Embedding ? "embedding" : "stem";
    in(key + ".d_model", s.dModel, kWidth);
    if (s.kind == StemKind::Embedding) in(key + ".vocab", s.vocab, kVocab);
    if (s.positions == PositionKind::Rope) in(key + ".rope_theta", s.ropeTheta, kRopeTheta);
    if (s.positions == PositionKind::Learned) in.unlessZero(key + ".max_positions", s.maxPositions, kMaxPositions);
    if (m.expertSchedule) scheduleLimits(*m.expertSchedule, "schedule.experts", in);
    if (m.kSchedule) scheduleLimits(*m.kSchedule, "schedule.k", in);

    if (m.blocks.size() > static_cast<size_t>(kMaxLayers)) err("blocks", tooManyBlocksText(m.blocks.size()));
    else if (const std::int64_t layers = countLayers(m.blocks); layers > kMaxLayers) err("blocks", tooManyLayersText(layers));
    for (size_t b = 0; b < m.blocks.size(); ++b) {
        const BlockSpec& block = m.blocks[b];
        const std::string bp = "blocks[" + std::to_string(b) + "]";
        if (block.kind != BlockKind::Group) {
            blockLimits(block, bp, in);
            continue;
        }
        in(bp + ".repeat", block.repeat, kRepeat);
        in(bp + ".first_dense", block.firstDense, kFirstDense);
        if (block.firstDense > 0) in(bp + ".dense_ffn.hidden", block.denseFfn.hidden, kWidth);
        for (size_t c = 0; c < block.children.size(); ++c)
            if (block.children[c].kind != BlockKind::Group) blockLimits(block.children[c], bp + ".blocks[" + std::to_string(c) + "]", in);
    }
}

// Everything beyond the model: training, deployment, scenario.
void projectLimits(const Project& p, Diagnostics& out) {
    using namespace limits;
    const Err err = [&](const std::string& path, const std::string& msg) { out.push_back({path, msg}); };
    const RangeCheck in{err};
    const TrainingSettings& t = p.training;
    in("training.batch", t.batch, kBatch);
    in("training.learning_rate", t.learningRate, kLearningRate);
    in("training.weight_decay", t.weightDecay, kWeightDecay);
    if (t.optimizer == OptimizerKind::Sgd) in("training.momentum", t.momentum, kMomentum);
    in("training.warmup_steps", t.warmupSteps, kWarmupSteps);
    if (t.epochs) in("training.epochs", *t.epochs, kEpochs);
    if (t.steps) in("training.steps", *t.steps, kSteps);
    in("training.seed", static_cast<long long>(t.seed), kSeed);
    in("training.telemetry_interval", t.telemetryInterval, kTelemetryInterval);
    in("training.ep", t.ep, kTrainingEp);
    in("training.train_samples", t.trainSamples, kSamples);
    in("training.test_samples", t.testSamples, kSamples);
    in("training.augment.shift", t.augment.shift, kAugmentShift);
    int gpu = -1;
    if (const std::string e = checkDeviceName(t.device, gpu); !e.empty()) err("training.device", e);
    if (t.twin) {
        const TwinSpec& w = *t.twin;
        in("training.twin.d_model", w.dModel, kTwinDModel);
        in("training.twin.layers", w.layers, kTwinLayers);
        in.unlessZero("training.twin.expert_hidden", w.expertHidden, kTwinExpertHidden);
        in.unlessZero("training.twin.heads", w.heads, kTwinHeads);
        in.unlessZero("training.twin.vocab", w.vocab, kVocab);
        in.unlessZero("training.twin.seq_len", w.seqLen, kSeqLen);
    }
    if (p.deployment) {
        const DeploymentSpec& d = *p.deployment;
        const std::string dp = "deployment.", pp = "deployment.parallel.";
        auto name = [&](const std::string& path, const std::string& v, const auto& names, const std::string& is = "valid") {
            if (std::find(names.begin(), names.end(), v) == names.end()) err(path, notOneOfText(v, names, is));
        };
        in(dp + "gpus", d.gpus, kGpus);
        in(dp + "tokens_per_gpu", d.tokensPerGpu, kTokensPerGpu);
        name(dp + "dtype", d.dtype, dtypeNames(), "a known dtype");
        name(dp + "dispatch_dtype", d.dispatchDtype, dtypeNames(), "a known dtype");
        in(pp + "ep", d.ep, kGpus);
        in(pp + "dp", d.dp, kGpus);
        in(pp + "tp", d.tp, kTensorParallel);
        in(pp + "pp", d.pp, kPipelineParallel);
        in(pp + "vpp", d.vpp, kTensorParallel);
        in(pp + "cp", d.cp, kTensorParallel);
        in(pp + "etp", d.etp, kExpertTensorParallel);
        in(pp + "first_stage_layers", d.firstStageLayers, kStageLayers);
        in(pp + "last_stage_layers", d.lastStageLayers, kStageLayers);
        in(dp + "micro_batch", d.microBatch, kMicroBatch);
        in(dp + "global_batch", d.globalBatch, kGlobalBatch);
        in(dp + "seq_len", d.seqLen, kDeploymentSeqLen);
        name(dp + "recompute", d.recompute, recomputeNames());
        in(dp + "zero", d.zero, kZeroStage);
        name(dp + "grad_dtype", d.gradDtype, gradDtypeNames());
        if (!d.routingMap.empty()) name(dp + "routing_map", d.routingMap, routingMapNames());
        in(dp + "capacity_factor", d.capacityFactor, kDeploymentCapacityFactor);
        if (!d.placement.roundRobin)
            for (size_t g = 0; g < d.placement.gpuExperts.size(); ++g)
                for (size_t e = 0; e < d.placement.gpuExperts[g].size(); ++e)
                    if (const int x = d.placement.gpuExperts[g][e]; x < 0)
                        err(dp + "placement[" + std::to_string(g) + "][" + std::to_string(e) + "]", kExpertIndexText + detail::typeName(x));
    }
    if (p.scenario) {
        for (size_t i = 0; i < p.scenario->steps.size(); ++i) {
            const ScenarioStep& st = p.scenario->steps[i];
            const std::string sp = "scenario.steps[" + std::to_string(i) + "]";
            in(sp + ".train_steps", st.trainSteps, kScenarioTrainSteps);
            if (const std::string e = checkScenarioView(st.view); !e.empty()) err(sp + ".view", e);
            if (!st.edits.is_null() && !st.edits.empty() && !st.edits.is_object()) err(sp + ".edits", kEditsObjectText + detail::typeName(st.edits));
        }
    }
}

// ---- Soundness: what a model needs to build, train and be priced --------------------------

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

void checkMoeLayer(const ModelSpec& m, const BlockSpec& b, const LayerCounts& counts, const std::string& bp, const Err& err) {
    if (!b.experts && !m.expertSchedule) {
        err(bp, "this moe block has no expert count: set \"experts\" here or a model \"schedule\" with \"experts\"");
        return;
    }
    const int routed = counts.routed;
    const std::string ofBlock = " expert" + std::string(routed == 1 ? "" : "s") + " of this block";
    const RouterSpec& r = b.router;
    const bool topKStyle = r.kind != RouterKind::ExpertChoice && r.kind != RouterKind::Dynamic;
    const std::string kWhere = r.k ? bp + ".router.k" : "schedule.k";
    if (topKStyle) {
        const int k = counts.k;
        if (k > routed) err(kWhere, n(k) + " exceeds the " + n(routed) + ofBlock + " (k must be 1 to " + n(routed) + ")");
    }
    if (r.groups > 1 || r.topkGroups > 1) {
        if (r.kind != RouterKind::TopK && r.kind != RouterKind::SigmoidBias)
            err(bp + ".router.groups", "group-limited routing applies to topk and sigmoid_bias routers only");
        else if (routed % r.groups != 0)
            err(bp + ".router.groups", n(r.groups) + " groups do not divide the " + n(routed) + ofBlock + " evenly");
        else if (r.topkGroups < 1 || r.topkGroups > r.groups)
            err(bp + ".router.topk_groups", n(r.topkGroups) + " is not between 1 and the " + n(r.groups) + " expert groups");
        else if (const int reach = r.topkGroups * (routed / r.groups); counts.k > reach)
            err(kWhere, n(counts.k) + " experts cannot be picked from " + n(r.topkGroups) + " group(s) of " + n(routed / r.groups) +
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
    // Values the project file cannot hold come first: the checks below assume them in range.
    modelLimits(m, err);
    if (!out.empty()) return out;
    if (m.input.tokens == TokenMode::Patches && 28 % m.input.patch != 0)
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

    // One walk of the model for every layer's counts: per-layer lookups would walk it per layer.
    const ModelSpec flat = m.flattened();
    const std::vector<LayerCounts> counts = flat.layerCounts();
    const int moeCount = static_cast<int>(std::count_if(counts.begin(), counts.end(), [](const LayerCounts& c) { return c.moeIndex >= 0; }));
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
        checkMoeLayer(flat, flat.blocks[static_cast<size_t>(i)], counts[static_cast<size_t>(i)], bp, [&](const std::string& path, const std::string& msg) {
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

Diagnostics validateLimits(const Project& p) {
    Diagnostics out;
    modelLimits(p.model, [&](const std::string& path, const std::string& msg) { out.push_back({"model." + path, msg}); });
    projectLimits(p, out);
    return out;
}

Diagnostics validateProject(const Project& p) {
    Diagnostics out = validateModel(p.model);
    projectLimits(p, out);
    Diagnostics t = validateTraining(p.training);
    out.insert(out.end(), t.begin(), t.end());
    if (p.model.input.dataset != DatasetKind::FashionMnist && p.training.batch > p.training.trainSamples)
        out.push_back({"training.batch", "a batch of " + n(p.training.batch) + " is larger than the " +
                                             n(p.training.trainSamples) + " training samples"});
    if (p.training.augment.any() && p.model.input.dataset != DatasetKind::FashionMnist)
        out.push_back({"training.augment", "flips and shifts images, and the dataset \"" + std::string(toString(p.model.input.dataset)) +
                                               "\" has none; remove it, or train on fashion_mnist"});
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
