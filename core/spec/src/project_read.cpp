// Project JSON -> Project, with every error naming its JSON path (line:column attached later).
#include <algorithm>
#include <cmath>
#include <optional>

#include "json_reader.h"
#include "moe/spec/derived.h"
#include "project_json.h"

namespace moe::spec::detail {
namespace {

using limits::kMaxLayers;
using limits::kMaxWidth;

Schedule readSchedule(ReadContext& ctx, const Json& j, const std::string& path) {
    Schedule s;
    ObjectReader r(ctx, j, path);
    s.kind = r.getEnum("kind", ScheduleKind::Uniform);
    if (!r.has("kind")) ctx.error(path, "a schedule needs \"kind\": one of " + joinNames(allNames<ScheduleKind>()));
    if (s.kind == ScheduleKind::Explicit) {
        if (const Json* v = r.get("values")) {
            if (!v->is_array()) ctx.error(r.childPath("values"), "expected an array of counts but found " + typeName(*v));
            else
                for (size_t i = 0; i < v->size(); ++i) {
                    const Json& e = (*v)[i];
                    const std::string at = r.childPath("values") + "[" + std::to_string(i) + "]";
                    if (!e.is_number_integer()) ctx.error(at, "expected a whole number but found " + typeName(e) + rangeText(limits::kExperts));
                    else if (!limits::kExperts.contains(e.get<long long>())) ctx.error(at, outOfRange(e.dump(), limits::kExperts));
                    else s.values.push_back(e.get<int>());
                }
        } else ctx.error(path, "an explicit schedule needs \"values\": one count per MoE block");
        r.rejectIfPresent("min", "does not apply to explicit schedules (they use \"values\")");
        r.rejectIfPresent("max", "does not apply to explicit schedules (they use \"values\")");
        r.rejectIfPresent("period", "applies to wave schedules only");
    } else {
        s.min = r.getInt("min", 1, limits::kExperts);
        s.max = r.getInt("max", s.min, limits::kExperts);
        if (!r.has("max")) ctx.error(path, "a " + std::string(toString(s.kind)) + " schedule needs \"max\"");
        if (s.kind == ScheduleKind::Wave) s.period = r.getInt("period", 4, limits::kSchedulePeriod);
        else r.rejectIfPresent("period", "applies to wave schedules only");
        r.rejectIfPresent("values", "applies to explicit schedules only");
    }
    r.finish();
    return s;
}

void readRouter(ReadContext& ctx, const Json& j, const std::string& path, RouterSpec& rt) {
    ObjectReader r(ctx, j, path);
    rt.kind = r.getEnum("kind", RouterKind::TopK);
    const auto kind = rt.kind;
    const std::string only = " does not apply to a " + std::string(toString(kind)) + " router";
    auto opt = [&](const char* key, bool applies) {
        if (!applies) r.rejectIfPresent(key, only.substr(1));
        return applies;
    };
    using K = RouterKind;
    if (opt("k", kind != K::ExpertChoice && kind != K::Dynamic)) rt.k = r.optInt("k", limits::kExperts);
    if (opt("temperature", kind != K::Hash && kind != K::SigmoidBias)) rt.temperature = r.getDouble("temperature", 1.0, limits::kTemperature);
    if (opt("noise", kind != K::Hash)) rt.noise = r.getDouble("noise", 0.0, limits::kRouterNoise);
    if (opt("renormalize", kind == K::TopK || kind == K::SigmoidBias || kind == K::Sinkhorn)) rt.renormalize = r.getBool("renormalize", true);
    if (opt("capacity_factor", kind == K::ExpertChoice)) rt.capacityFactor = r.getDouble("capacity_factor", 1.0, limits::kCapacityFactor);
    if (opt("tau", kind == K::Dynamic)) rt.tau = r.getDouble("tau", 0.5, limits::kTau);
    if (opt("min_experts", kind == K::Dynamic)) rt.minExperts = r.getInt("min_experts", 1, limits::kExperts);
    if (opt("max_experts", kind == K::Dynamic)) rt.maxExperts = r.getInt("max_experts", 4, limits::kExperts);
    if (opt("alpha", kind == K::Unified)) rt.alpha = r.getDouble("alpha", 0.5, limits::kAlpha);
    if (opt("iterations", kind == K::Sinkhorn)) rt.iterations = r.getInt("iterations", 3, limits::kSinkhornIterations);
    if (opt("bias_update_rate", kind == K::SigmoidBias)) rt.biasUpdateRate = r.getDouble("bias_update_rate", 1e-3, limits::kBiasUpdateRate);
    if (opt("groups", kind == K::TopK || kind == K::SigmoidBias)) {
        rt.groups = r.getInt("groups", 1, limits::kExperts);
        if (rt.groups > 1) {
            rt.topkGroups = r.getInt("topk_groups", 1, limits::kExperts);
            if (!r.has("topk_groups"))
                ctx.error(path, "group-limited routing needs \"topk_groups\": how many of the " + std::to_string(rt.groups) +
                                    " expert groups one token may use");
        } else r.rejectIfPresent("topk_groups", "needs \"groups\" above 1 (group-limited routing)");
    } else r.rejectIfPresent("topk_groups", only.substr(1));
    r.finish();
}

void readFfn(ReadContext& ctx, const Json& j, const std::string& path, FfnSpec& f) {
    ObjectReader r(ctx, j, path);
    f.hidden = r.getInt("hidden", f.hidden, limits::kWidth);
    f.activation = r.getEnum("activation", f.activation);
    // Gated FFNs (LLaMA, Mixtral, DeepSeek) are bias-free by custom; the classic MLP has biases.
    f.bias = r.getBool("bias", !isGated(f.activation));
    r.finish();
}

// The fields of an attention block sit flat in the block object.
void readAttention(ReadContext& ctx, ObjectReader& r, AttentionSpec& a) {
    a.kind = r.getEnum("type", AttentionKind::Mha);
    const bool mla = a.kind == AttentionKind::Mla;
    a.heads = r.getInt("heads", a.heads, limits::kHeads);
    a.causal = r.getBool("causal", true);
    a.window = r.getInt("window", 0, limits::kWindow);
    a.bias = r.getBool("bias", false);
    const std::string kindName(toString(a.kind));
    switch (a.kind) {
        case AttentionKind::Mha:
            r.rejectIfPresent("kv_heads", "is fixed for mha (= heads); use \"type\": \"gqa\" for fewer key/value heads");
            a.kvHeads = a.heads;
            break;
        case AttentionKind::Mqa:
            r.rejectIfPresent("kv_heads", "is fixed for mqa (1 key/value head)");
            a.kvHeads = 1;
            break;
        case AttentionKind::Gqa:
            a.kvHeads = r.getInt("kv_heads", 0, limits::kHeads);
            if (!r.has("kv_heads")) ctx.error(r.path(), "a gqa block needs \"kv_heads\": key/value heads, from 2 to heads - 1, dividing heads");
            break;
        case AttentionKind::Mla:
            r.rejectIfPresent("kv_heads", "does not apply to mla (keys and values come from one shared latent of kv_lora_rank)");
            break;
    }
    if (mla) {
        r.rejectIfPresent("head_dim", "does not apply to mla (it uses qk_nope_head_dim, qk_rope_head_dim and v_head_dim)");
        r.rejectIfPresent("qk_norm", "does not apply to mla (its latents are normalised instead)");
        r.rejectIfPresent("sinks", "applies to mha, gqa and mqa attention, not to mla");
        a.qLoraRank = r.getInt("q_lora_rank", 0, limits::kQLoraRank);
        a.kvLoraRank = r.getInt("kv_lora_rank", a.kvLoraRank, limits::kWidth);
        a.qkNopeHeadDim = r.getInt("qk_nope_head_dim", a.qkNopeHeadDim, limits::kHeadDim);
        a.qkRopeHeadDim = r.getInt("qk_rope_head_dim", a.qkRopeHeadDim, limits::kRopeHeadDim);
        a.vHeadDim = r.getInt("v_head_dim", a.vHeadDim, limits::kHeadDim);
    } else {
        a.headDim = r.getInt("head_dim", 0, limits::kHeadDim);
        a.qkNorm = r.getBool("qk_norm", false);
        a.sinks = r.getBool("sinks", false);
        for (const char* k : {"q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"})
            r.rejectIfPresent(k, "applies to mla attention only (this block is " + kindName + ")");
    }
}

BlockSpec readBlock(ReadContext& ctx, const Json& j, const std::string& path, bool inGroup);

void readGroup(ReadContext& ctx, ObjectReader& r, BlockSpec& b) {
    for (const char* k : {"norm", "residual"})
        r.rejectIfPresent(k, "applies to the blocks inside a group, not to the group");
    for (const char* k : {"ffn", "experts", "zero_experts", "shared_experts", "router", "capacity", "losses", "type", "heads"})
        r.rejectIfPresent(k, "belongs on a block inside the group's \"blocks\"");
    b.repeat = r.getInt("repeat", 1, limits::kRepeat);
    b.firstDense = r.getInt("first_dense", 0, limits::kFirstDense);
    if (const Json* bl = r.get("blocks")) {
        if (!bl->is_array()) ctx.error(r.childPath("blocks"), "expected an array of blocks but found " + typeName(*bl));
        else
            for (size_t i = 0; i < bl->size(); ++i)
                b.children.push_back(readBlock(ctx, (*bl)[i], r.childPath("blocks") + "[" + std::to_string(i) + "]", true));
    } else ctx.error(r.path(), "a group needs \"blocks\": the layers it repeats (e.g. attention then moe)");
    if (b.firstDense > 0) {
        // Default: the dense layers keep the width and activation of the group's moe experts.
        for (const auto& c : b.children)
            if (c.kind == BlockKind::Moe) {
                b.denseFfn = c.ffn;
                break;
            }
        if (const Json* f = r.get("dense_ffn")) readFfn(ctx, *f, r.childPath("dense_ffn"), b.denseFfn);
    } else r.rejectIfPresent("dense_ffn", "applies only with \"first_dense\" above 0");
}

BlockSpec readBlock(ReadContext& ctx, const Json& j, const std::string& path, bool inGroup) {
    BlockSpec b;
    ObjectReader r(ctx, j, path);
    b.kind = r.getEnum("kind", BlockKind::Moe);
    if (!r.has("kind")) ctx.error(path, "a block needs \"kind\": " + joinNames(allNames<BlockKind>()));
    b.label = r.getString("label", "");
    if (b.kind == BlockKind::Group) {
        if (inGroup) ctx.error(r.childPath("kind"), "groups do not nest: put these blocks directly in the outer group's \"blocks\"");
        readGroup(ctx, r, b);
        r.finish();
        return b;
    }
    for (const char* k : {"repeat", "first_dense", "dense_ffn", "blocks"})
        r.rejectIfPresent(k, "applies to groups only (this block is " + std::string(toString(b.kind)) + ")");
    b.norm = r.getEnum("norm", b.norm);
    b.residual = r.getBool("residual", true);
    const char* moeKeys[] = {"experts", "zero_experts", "shared_experts", "router", "capacity", "losses"};
    const char* attentionKeys[] = {"type", "heads", "kv_heads", "head_dim", "causal", "qk_norm", "window", "bias",
                                   "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"};
    if (b.kind == BlockKind::Attention) {
        for (const char* k : moeKeys) r.rejectIfPresent(k, "applies to moe blocks only (this block is attention)");
        r.rejectIfPresent("ffn", "applies to dense and moe blocks (an attention block has no FFN; follow it with one)");
        readAttention(ctx, r, b.attention);
        r.finish();
        return b;
    }
    const std::string notAttention = "applies to attention blocks only (this block is " + std::string(toString(b.kind)) + ")";
    for (const char* k : attentionKeys) r.rejectIfPresent(k, notAttention);
    if (const Json* f = r.get("ffn")) readFfn(ctx, *f, r.childPath("ffn"), b.ffn);
    if (b.kind == BlockKind::Dense) {
        for (const char* k : moeKeys) r.rejectIfPresent(k, "applies to moe blocks only (this block is dense)");
        r.finish();
        return b;
    }
    b.experts = r.optInt("experts", limits::kExperts);
    b.sharedExperts = r.getInt("shared_experts", 0, limits::kSharedExperts);
    if (const Json* z = r.get("zero_experts")) {
        ObjectReader zr(ctx, *z, r.childPath("zero_experts"));
        b.zeroExperts.zero = zr.getInt("zero", 0, limits::kZeroExperts);
        b.zeroExperts.copy = zr.getInt("copy", 0, limits::kZeroExperts);
        b.zeroExperts.constant = zr.getInt("constant", 0, limits::kZeroExperts);
        zr.finish();
    }
    if (const Json* rt = r.get("router")) readRouter(ctx, *rt, r.childPath("router"), b.router);
    if (const Json* c = r.get("capacity")) {
        ObjectReader cr(ctx, *c, r.childPath("capacity"));
        b.capacity.dropless = cr.getBool("dropless", !cr.has("factor"));
        if (b.capacity.dropless) {
            cr.rejectIfPresent("factor", "conflicts with \"dropless\": true (a dropless layer has no capacity factor)");
            cr.rejectIfPresent("drop_policy", "conflicts with \"dropless\": true (nothing is dropped)");
        } else {
            b.capacity.factor = cr.getDouble("factor", 1.25, limits::kCapacityFactor);
            b.capacity.dropPolicy = cr.getEnum("drop_policy", DropPolicy::Probs);
        }
        cr.finish();
    }
    if (const Json* l = r.get("losses")) {
        ObjectReader lr(ctx, *l, r.childPath("losses"));
        b.losses.aux = lr.getDouble("aux", b.losses.aux, limits::kLossCoefficient);
        b.losses.z = lr.getDouble("z", b.losses.z, limits::kLossCoefficient);
        lr.finish();
    }
    r.finish();
    return b;
}

void readInput(ReadContext& ctx, ObjectReader& ir, InputSpec& in) {
    in.dataset = ir.getEnum("dataset", in.dataset);
    if (!ir.has("dataset")) ctx.error(ir.path(), "the input needs \"dataset\": one of " + joinNames(allNames<DatasetKind>()));
    if (in.isText()) {
        const std::string why = "does not apply to text (each byte of the corpus is one token)";
        for (const char* k : {"tokens", "patch", "classes", "dims", "noise"}) ir.rejectIfPresent(k, why);
        in.corpus = ir.getString("corpus", "fortunes");
        if (in.corpus.empty()) ctx.error(ir.childPath("corpus"), kEmptyCorpusText);
        in.seqLen = ir.getInt("seq_len", in.seqLen, limits::kSeqLen);
        return;
    }
    for (const char* k : {"corpus", "seq_len"}) ir.rejectIfPresent(k, "applies to the text dataset only");
    in.tokens = ir.getEnum("tokens", TokenMode::Sample);
    const bool fmnist = in.dataset == DatasetKind::FashionMnist;
    const bool patches = in.tokens == TokenMode::Patches;
    if (patches && !fmnist) ctx.error(ir.childPath("tokens"), kPatchesNeedImagesText);
    if (patches) in.patch = ir.getInt("patch", 7, limits::kPatch);
    else ir.rejectIfPresent("patch", "applies only with \"tokens\": \"patches\"");
    const bool ownClasses = in.dataset == DatasetKind::Blobs || in.dataset == DatasetKind::ClusteredTokens;
    if (ownClasses) in.classes = ir.getInt("classes", 4, limits::kClasses);
    else ir.rejectIfPresent("classes", "is fixed by the " + std::string(toString(in.dataset)) + " dataset");
    if (in.dataset == DatasetKind::ClusteredTokens) in.dims = ir.getInt("dims", 16, limits::kDims);
    else ir.rejectIfPresent("dims", "applies to clustered_tokens only");
    if (!fmnist) in.noise = ir.getDouble("noise", 0.1, limits::kDataNoise);
    else ir.rejectIfPresent("noise", "does not apply to fashion_mnist (real data)");
}

// "stem" (a Linear projection of each token) or "embedding" (a token table); same positions keys.
void readStem(ObjectReader& sr, StemSpec& s) {
    s.dModel = sr.getInt("d_model", s.dModel, limits::kWidth);
    if (s.kind == StemKind::Linear) {
        s.activation = sr.getEnum("activation", s.activation);
        sr.rejectIfPresent("vocab", "applies to \"embedding\" only (a stem projects features, it has no token table)");
    } else {
        sr.rejectIfPresent("activation", "applies to \"stem\" only (an embedding is a table lookup)");
        s.vocab = sr.getInt("vocab", s.vocab, limits::kVocab);
    }
    s.positions = sr.getEnum("positions", PositionKind::None);
    if (s.positions == PositionKind::Rope) s.ropeTheta = sr.getDouble("rope_theta", s.ropeTheta, limits::kRopeTheta);
    else sr.rejectIfPresent("rope_theta", "applies only with \"positions\": \"rope\"");
    if (s.positions == PositionKind::Learned) s.maxPositions = sr.getInt("max_positions", 0, limits::kMaxPositions);
    else sr.rejectIfPresent("max_positions", "applies only with \"positions\": \"learned\"");
}

ModelSpec readModel(ReadContext& ctx, const Json& j, const std::string& path) {
    ModelSpec m;
    ObjectReader r(ctx, j, path);
    m.name = r.getString("name", "");
    if (const Json* in = r.get("input")) {
        ObjectReader ir(ctx, *in, r.childPath("input"));
        readInput(ctx, ir, m.input);
        ir.finish();
    } else ctx.error(path, "the model needs \"input\" (the dataset and how samples become tokens)");
    const Json* st = r.get("stem");
    const Json* em = r.get("embedding");
    if (st && em) ctx.error(r.childPath("embedding"), "give either \"stem\" (a projection of features) or \"embedding\" (a token table), not both");
    if (st || em) {
        m.stem.kind = em && !st ? StemKind::Embedding : StemKind::Linear;
        ObjectReader sr(ctx, st ? *st : *em, r.childPath(st ? "stem" : "embedding"));
        readStem(sr, m.stem);
        sr.finish();
    }
    // Text arrives as token ids, which index a table; features (images, points) are projected.
    if (m.input.isText() && !em)
        ctx.error(st ? r.childPath("stem") : path, "text input needs \"embedding\" (vocab, d_model, positions): token ids index a table");
    if (!m.input.isText() && em && !st)
        ctx.error(r.childPath("embedding"), "an embedding table needs token ids (text input); " + std::string(toString(m.input.dataset)) +
                                                " samples are features: use \"stem\"");
    if (const Json* h = r.get("head")) {
        ObjectReader hr(ctx, *h, r.childPath("head"));
        m.head.norm = hr.getEnum("norm", m.head.norm);
        m.head.tied = hr.getBool("tied", false);
        hr.finish();
    }
    if (const Json* sc = r.get("schedule")) {
        ObjectReader sr(ctx, *sc, r.childPath("schedule"));
        if (const Json* e = sr.get("experts")) m.expertSchedule = readSchedule(ctx, *e, sr.childPath("experts"));
        if (const Json* k = sr.get("k")) m.kSchedule = readSchedule(ctx, *k, sr.childPath("k"));
        sr.finish();
    }
    if (const Json* bl = r.get("blocks")) {
        if (!bl->is_array()) ctx.error(r.childPath("blocks"), "expected an array of blocks but found " + typeName(*bl));
        else if (bl->size() > static_cast<size_t>(kMaxLayers))
            ctx.error(r.childPath("blocks"), tooManyBlocksText(bl->size()));
        else {
            for (size_t i = 0; i < bl->size(); ++i)
                m.blocks.push_back(readBlock(ctx, (*bl)[i], r.childPath("blocks") + "[" + std::to_string(i) + "]", false));
            // Groups multiply: the layer count is what validation and every per-layer figure walk.
            if (const std::int64_t layers = countLayers(m.blocks); layers > kMaxLayers) ctx.error(r.childPath("blocks"), tooManyLayersText(layers));
        }
    } else ctx.error(path, "the model needs \"blocks\": a list of dense, moe, attention and group blocks");
    r.finish();
    return m;
}

TrainingSettings readTraining(ReadContext& ctx, const Json& j, const std::string& path) {
    TrainingSettings t;
    ObjectReader r(ctx, j, path);
    t.batch = r.getInt("batch", t.batch, limits::kBatch);
    t.optimizer = r.getEnum("optimizer", t.optimizer);
    t.learningRate = r.getDouble("learning_rate", t.learningRate, limits::kLearningRate);
    t.weightDecay = r.getDouble("weight_decay", 0.0, limits::kWeightDecay);
    if (t.optimizer == OptimizerKind::Sgd) t.momentum = r.getDouble("momentum", 0.9, limits::kMomentum);
    else r.rejectIfPresent("momentum", "applies to the sgd optimizer only");
    t.lrSchedule = r.getEnum("lr_schedule", t.lrSchedule);
    t.warmupSteps = r.getInt("warmup_steps", 0, limits::kWarmupSteps);
    t.epochs = r.optInt("epochs", limits::kEpochs);
    t.steps = r.optInt("steps", limits::kSteps);
    if (t.epochs && t.steps) ctx.error(path, "give either \"epochs\" or \"steps\", not both");
    if (!r.has("epochs") && !r.has("steps")) ctx.error(path, "give how long to train: \"epochs\" or \"steps\"");
    const int seed = r.getInt("seed", 1, limits::kSeed);
    t.seed = static_cast<unsigned>(seed);
    t.telemetryInterval = r.getInt("telemetry_interval", t.telemetryInterval, limits::kTelemetryInterval);
    t.trainSamples = r.getInt("train_samples", t.trainSamples, limits::kSamples);
    t.testSamples = r.getInt("test_samples", t.testSamples, limits::kSamples);
    t.device = r.getString("device", t.device);
    t.ep = r.getInt("ep", t.ep, limits::kTrainingEp);
    int gpu = -1;
    if (auto e = checkDeviceName(t.device, gpu); !e.empty()) ctx.error(r.childPath("device"), e);
    if (const Json* a = r.get("augment")) {
        ObjectReader ar(ctx, *a, r.childPath("augment"));
        t.augment.flip = ar.getBool("flip", false);
        t.augment.shift = ar.getInt("shift", 0, limits::kAugmentShift);
        ar.finish();
    }
    if (const Json* tw = r.get("twin")) {
        ObjectReader wr(ctx, *tw, r.childPath("twin"));
        TwinSpec w;
        w.dModel = wr.getInt("d_model", w.dModel, limits::kTwinDModel);
        w.layers = wr.getInt("layers", w.layers, limits::kTwinLayers);
        w.expertHidden = wr.getInt("expert_hidden", 0, limits::kTwinExpertHidden);
        w.heads = wr.getInt("heads", 0, limits::kTwinHeads);
        w.vocab = wr.getInt("vocab", 0, limits::kVocab);
        w.seqLen = wr.getInt("seq_len", 0, limits::kSeqLen);
        wr.finish();
        t.twin = w;
    }
    r.finish();
    return t;
}

// One of `names` (or the default) or an error naming the key and the valid values.
std::string readName(ReadContext& ctx, ObjectReader& r, const char* key, const std::string& def, const std::vector<std::string>& names) {
    std::string v = r.getString(key, def);
    if (v == def || std::find(names.begin(), names.end(), v) != names.end()) return v;
    ctx.error(r.childPath(key), notOneOfText(v, names));
    return def;
}

// The training layout keys of a deployment (batch, recomputation, ZeRO stage, gradient dtype).
void readLayout(ReadContext& ctx, ObjectReader& r, DeploymentSpec& d) {
    d.microBatch = r.getInt("micro_batch", d.microBatch, limits::kMicroBatch);
    d.globalBatch = r.getInt("global_batch", d.globalBatch, limits::kGlobalBatch);
    d.seqLen = r.getInt("seq_len", d.seqLen, limits::kDeploymentSeqLen);
    d.recompute = readName(ctx, r, "recompute", d.recompute, recomputeNames());
    d.zero = r.getInt("zero", d.zero, limits::kZeroStage);
    d.gradDtype = readName(ctx, r, "grad_dtype", d.gradDtype, gradDtypeNames());
    d.routingMap = readName(ctx, r, "routing_map", d.routingMap, routingMapNames());
}

// The model dimensions older files gave the deployment (`deployment.model`), before the model
// itself was the one priced. Read only to migrate them (see migrateDeploymentModel).
struct LegacyDeploymentModel {
    int dModel = 0, ffnHidden = 0, layers = 0, denseLayers = 0, experts = 0, k = 0;
    int sharedExperts = -1;
};

DeploymentSpec readDeployment(ReadContext& ctx, const Json& j, const std::string& path, std::optional<LegacyDeploymentModel>& legacy) {
    DeploymentSpec d;
    ObjectReader r(ctx, j, path);
    d.cluster = r.getString("cluster", d.cluster);
    d.gpus = r.getInt("gpus", d.gpus, limits::kGpus);
    if (const Json* m = r.get("model")) {
        ObjectReader mr(ctx, *m, r.childPath("model"));
        LegacyDeploymentModel l;
        l.dModel = mr.getInt("d_model", 0, {1, kMaxWidth});
        l.ffnHidden = mr.getInt("ffn_hidden", 0, {1, kMaxWidth});
        l.layers = mr.getInt("layers", 0, {1, 100000});
        l.denseLayers = mr.getInt("dense_layers", 0, {0, 100000});
        l.experts = mr.getInt("experts", 0, {1, 1 << 16});
        l.k = mr.getInt("k", 0, {1, 1 << 16});
        l.sharedExperts = mr.getInt("shared_experts", -1, {0, 1024});
        mr.finish();
        legacy = l;
    }
    d.tokensPerGpu = r.getInt("tokens_per_gpu", d.tokensPerGpu, limits::kTokensPerGpu);
    // Every dtype is checked, the default included: dispatch_dtype defaults to dtype.
    auto readDtype = [&](const char* key, const std::string& def) {
        std::string v = r.getString(key, def);
        if (std::find(dtypeNames().begin(), dtypeNames().end(), v) == dtypeNames().end()) {
            ctx.error(r.childPath(key), notOneOfText(v, dtypeNames(), "a known dtype"));
            return def;
        }
        return v;
    };
    d.dtype = readDtype("dtype", d.dtype);
    d.dispatchDtype = readDtype("dispatch_dtype", d.dtype);
    if (const Json* p = r.get("parallel")) {
        ObjectReader pr(ctx, *p, r.childPath("parallel"));
        d.ep = pr.getInt("ep", d.ep, limits::kGpus);
        d.dp = pr.getInt("dp", d.dp, limits::kGpus);
        d.tp = pr.getInt("tp", d.tp, limits::kTensorParallel);
        d.pp = pr.getInt("pp", d.pp, limits::kPipelineParallel);
        d.vpp = pr.getInt("vpp", d.vpp, limits::kTensorParallel);
        d.cp = pr.getInt("cp", d.cp, limits::kTensorParallel);
        d.etp = pr.getInt("etp", d.etp, limits::kExpertTensorParallel);
        d.firstStageLayers = pr.getInt("first_stage_layers", 0, limits::kStageLayers);
        d.lastStageLayers = pr.getInt("last_stage_layers", 0, limits::kStageLayers);
        d.sequenceParallel = pr.getBool("sequence_parallel", d.sequenceParallel);
        d.epOverlap = pr.getBool("ep_overlap", d.epOverlap);
        pr.finish();
    }
    readLayout(ctx, r, d);
    d.capacityFactor = r.getDouble("capacity_factor", 0.0, limits::kDeploymentCapacityFactor);
    d.dedupTokens = r.getBool("dedup_tokens", false);
    d.routing = r.getString("routing", "uniform");
    d.epKernel = r.getString("ep_kernel", "");  // checked against the catalog where it is resolved
    if (const Json* pl = r.get("placement")) {
        if (pl->is_string()) {
            if (pl->get<std::string>() != "round_robin")
                ctx.error(r.childPath("placement"), "expected \"round_robin\" or a list of expert lists (one per expert-parallel rank)");
        } else if (pl->is_array()) {
            d.placement.roundRobin = false;
            for (size_t g = 0; g < pl->size(); ++g) {
                const Json& row = (*pl)[g];
                const std::string rp = r.childPath("placement") + "[" + std::to_string(g) + "]";
                std::vector<int> experts;
                if (!row.is_array()) ctx.error(rp, "expected a list of expert indices but found " + typeName(row));
                else
                    for (size_t e = 0; e < row.size(); ++e) {
                        if (!row[e].is_number_integer() || row[e].get<long long>() < 0)
                            ctx.error(rp + "[" + std::to_string(e) + "]", kExpertIndexText + typeName(row[e]));
                        else experts.push_back(row[e].get<int>());
                    }
                d.placement.gpuExperts.push_back(std::move(experts));
            }
        } else ctx.error(r.childPath("placement"), "expected \"round_robin\" or a list of expert lists but found " + typeName(*pl));
    }
    r.finish();
    return d;
}

Scenario readScenario(ReadContext& ctx, const Json& j, const std::string& path) {
    Scenario s;
    ObjectReader r(ctx, j, path);
    s.title = r.getString("title", "");
    if (const Json* st = r.get("steps")) {
        if (!st->is_array()) ctx.error(r.childPath("steps"), "expected an array of steps but found " + typeName(*st));
        else
            for (size_t i = 0; i < st->size(); ++i) {
                ScenarioStep step;
                ObjectReader sr(ctx, (*st)[i], r.childPath("steps") + "[" + std::to_string(i) + "]");
                step.title = sr.getString("title", "");
                step.text = sr.getString("text", "");
                step.trainSteps = sr.getInt("train_steps", 0, limits::kScenarioTrainSteps);
                step.view = sr.getString("view", "");
                if (const std::string e = checkScenarioView(step.view); !e.empty()) ctx.error(sr.childPath("view"), e);
                step.compareRuns = sr.getBool("compare_runs", false);
                if (const Json* e = sr.get("edits")) {
                    if (!e->is_object()) ctx.error(sr.childPath("edits"), kEditsObjectText + typeName(*e));
                    else step.edits = *e;
                }
                sr.finish();
                s.steps.push_back(std::move(step));
            }
    }
    r.finish();
    return s;
}

int scaledWidth(int v, int to, int from) { return std::max(1, static_cast<int>(std::lround(static_cast<double>(v) * to / std::max(1, from)))); }

// Older files kept a small trainable model in `model` and the real size in `deployment.model`.
// Now the model is the real one: the dimensions move into it (its MoE blocks repeated to the
// given depth, first-k dense), and `training.twin` keeps training the small one's width and depth.
void migrateDeploymentModel(ReadContext& ctx, Project& p, const LegacyDeploymentModel& l) {
    const std::string at = "deployment.model";
    ModelSpec& m = p.model;
    if (l.layers > 0 && l.denseLayers >= l.layers) {
        ctx.error(at + ".dense_layers", std::to_string(l.denseLayers) + " dense layers leave no moe layers out of " + std::to_string(l.layers));
        return;
    }
    if (l.k > 0 && l.experts > 0 && l.k > l.experts) {
        ctx.error(at + ".k", std::to_string(l.k) + " exceeds the " + std::to_string(l.experts) + " experts of the deployment");
        return;
    }
    int firstMoe = -1, firstDense = -1;
    for (int i = 0; i < static_cast<int>(m.blocks.size()); ++i) {
        const auto kind = m.blocks[static_cast<size_t>(i)].kind;
        if (kind == BlockKind::Moe && firstMoe < 0) firstMoe = i;
        if (kind == BlockKind::Dense && firstDense < 0) firstDense = i;
    }
    if (firstMoe < 0) {
        ctx.error(at, "an older deployment.model gave the real size of the model's moe blocks, but the model has no plain moe block to carry it; "
                      "remove deployment.model and give the model its real size");
        return;
    }
    const int oldD = m.stem.dModel;
    TwinSpec twin;
    twin.dModel = oldD;
    twin.layers = std::max(1, m.layerCount());
    twin.expertHidden = m.blocks[static_cast<size_t>(firstMoe)].ffn.hidden;
    const int newD = l.dModel > 0 ? l.dModel : oldD;

    BlockSpec moe = m.blocks[static_cast<size_t>(firstMoe)];
    if (l.ffnHidden > 0) moe.ffn.hidden = l.ffnHidden;
    if (l.experts > 0) moe.experts = l.experts;
    if (l.k > 0) moe.router.k = l.k;
    if (l.sharedExperts >= 0) moe.sharedExperts = l.sharedExperts;
    auto widen = [&](BlockSpec& b) {
        if (b.kind == BlockKind::Dense) b.ffn.hidden = scaledWidth(b.ffn.hidden, newD, oldD);
    };
    std::string shape;
    if (l.layers > 0) {
        BlockSpec group;
        group.kind = BlockKind::Group;
        group.repeat = l.layers;
        group.firstDense = l.denseLayers;
        group.denseFfn = firstDense >= 0 ? m.blocks[static_cast<size_t>(firstDense)].ffn : moe.ffn;
        group.denseFfn.hidden = firstDense >= 0 ? scaledWidth(group.denseFfn.hidden, newD, oldD) : 4 * newD;
        if (firstMoe > 0 && m.blocks[static_cast<size_t>(firstMoe - 1)].kind == BlockKind::Attention)
            group.children.push_back(m.blocks[static_cast<size_t>(firstMoe - 1)]);
        group.children.push_back(moe);
        m.blocks = {group};
        shape = std::to_string(l.layers) + " layers" + (l.denseLayers > 0 ? " (the first " + std::to_string(l.denseLayers) + " dense)" : "");
    } else {
        for (auto& b : m.blocks) {
            if (b.kind == BlockKind::Moe) {
                b.ffn.hidden = moe.ffn.hidden;
                b.experts = moe.experts;
                b.router.k = moe.router.k;
                b.sharedExperts = moe.sharedExperts;
            } else widen(b);
        }
        shape = std::to_string(m.layerCount()) + " layers";
    }
    m.stem.dModel = newD;
    if (!p.training.twin) p.training.twin = twin;
    const BlockSpec& mb = l.layers > 0 ? m.blocks.front().children.back() : moe;
    p.migrations.push_back(
        {at, "deployment.model is no longer read: the simulator and the planner price the model itself. The model now has the real size (" +
                 shape + ", d_model " + std::to_string(newD) + ", " + std::to_string(mb.experts.value_or(kDefaultExperts)) +
                 " experts of hidden " + std::to_string(mb.ffn.hidden) + ", " + std::to_string(mb.sharedExperts) +
                 " shared) and trains as training.twin (d_model " + std::to_string(twin.dModel) + ", " + std::to_string(twin.layers) +
                 " layers, expert hidden " + std::to_string(twin.expertHidden) + "), the network this file trained before. Save to keep the new form."});
}

}  // namespace

Project readProject(ReadContext& ctx, const Json& root) {
    Project p;
    ObjectReader r(ctx, root, "");
    const Json* fmt = r.get("format");
    if (!fmt) ctx.error("format", std::string("missing \"format\": a project file starts with \"format\": \"") + kProjectFormat + "\"");
    else if (!fmt->is_string() || fmt->get<std::string>() != kProjectFormat)
        ctx.error("format", "unsupported format " + fmt->dump() + "; this version reads \"" + kProjectFormat + "\"");
    p.description = r.getString("description", "");
    if (const Json* m = r.get("model")) p.model = readModel(ctx, *m, "model");
    else ctx.error("", "missing \"model\": the network to build");
    if (const Json* t = r.get("training")) p.training = readTraining(ctx, *t, "training");
    else ctx.error("", "missing \"training\": batch, optimizer, learning rate, epochs or steps, seed");
    std::optional<LegacyDeploymentModel> legacy;
    if (const Json* d = r.get("deployment")) p.deployment = readDeployment(ctx, *d, "deployment", legacy);
    if (const Json* s = r.get("scenario")) p.scenario = readScenario(ctx, *s, "scenario");
    r.finish();
    if (legacy && ctx.errors.empty()) migrateDeploymentModel(ctx, p, *legacy);
    return p;
}

}  // namespace moe::spec::detail
