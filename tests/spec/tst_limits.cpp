// Project limits: every value a project file cannot hold is refused by validation, with the
// reader's words and the field's path, so a project that validates saves and reopens. For each
// limited field a project built in memory at the limit validates and reads back with the same
// value; one step beyond, validation and the reader both refuse it with the same diagnostic.
#include <QtTest>

#include <cmath>
#include <functional>
#include <limits>

#include "moe/spec/limits.h"
#include "moe/spec/project_io.h"
#include "moe/spec/validate.h"

using namespace moe::spec;
namespace L = moe::spec::limits;

namespace {

// Text through an embedding with rotary positions, an attention block and an MoE block; a
// deployment and a scenario step, so that every section has its fields.
Project base() {
    Project p;
    ModelSpec& m = p.model;
    m.input.dataset = DatasetKind::Text;
    m.input.seqLen = 16;
    m.stem.kind = StemKind::Embedding;
    m.stem.dModel = 16;
    m.stem.positions = PositionKind::Rope;
    BlockSpec att;
    att.kind = BlockKind::Attention;
    att.attention.heads = 2;
    att.attention.kvHeads = 2;
    BlockSpec moe;
    moe.experts = 4;
    moe.router.k = 2;
    moe.ffn.hidden = 16;
    m.blocks = {att, moe};
    p.training.batch = 8;
    p.training.steps = 10;
    p.deployment = DeploymentSpec{};
    p.scenario = Scenario{"limits", {ScenarioStep{"one", "text", 0, {}, "", false}}};
    return p;
}

BlockSpec& attention(Project& p) { return p.model.blocks[0]; }
BlockSpec& moeBlock(Project& p) { return p.model.blocks[1]; }

// A model of features (blobs) with one MoE block: for the fields of non-text inputs.
void features(Project& p, DatasetKind d) {
    p.model.input.dataset = d;
    p.model.stem = StemSpec{};
    p.model.blocks = {moeBlock(p)};
}

// One MoE block repeated by a group.
BlockSpec& group(Project& p) {
    BlockSpec g;
    g.kind = BlockKind::Group;
    g.children = {moeBlock(p)};
    p.model.blocks = {g};
    return p.model.blocks[0];
}

struct Case {
    std::string path;  // as diagnostics name it
    double lo, hi;
    bool integer;
    std::function<void(Project&, double)> set;  // sets the field (and what the value needs to be sound)
    std::function<double(const Project&)> get;
    bool loSound = true;   // the project is sound with the field at lo (else only hi is checked there)
    bool hiSound = true;
    bool zeroUnset = false;  // 0 means "not set": below lo is then no value, not a wrong one
};

Case ic(std::string path, IntRange r, std::function<void(Project&, int)> set, std::function<double(const Project&)> get) {
    return {std::move(path), static_cast<double>(r.lo), static_cast<double>(r.hi), true,
            [set](Project& p, double v) { set(p, static_cast<int>(v)); }, std::move(get)};
}
Case rc(std::string path, RealRange r, std::function<void(Project&, double)> set, std::function<double(const Project&)> get) {
    return {std::move(path), r.lo, r.hi, false, std::move(set), std::move(get)};
}
Case loUnsound(Case c) { c.loSound = false; return c; }
Case neitherSound(Case c) { c.loSound = c.hiSound = false; return c; }
Case zeroUnset(Case c) { c.zeroUnset = true; return c; }

std::vector<Case> cases() {
    using P = const Project&;
    auto& mb = moeBlock;
    std::vector<Case> v;
    // Input and stem.
    v.push_back(ic("model.input.seq_len", L::kSeqLen, [](Project& p, int x) { p.model.input.seqLen = x; }, [](P p) { return p.model.input.seqLen; }));
    v.push_back(ic("model.input.patch", L::kPatch, [](Project& p, int x) { features(p, DatasetKind::FashionMnist); p.model.input.tokens = TokenMode::Patches; p.model.input.patch = x; },
                   [](P p) { return p.model.input.patch; }));
    v.push_back(ic("model.input.classes", L::kClasses, [](Project& p, int x) { features(p, DatasetKind::Blobs); p.model.input.classes = x; }, [](P p) { return p.model.input.classes; }));
    v.push_back(ic("model.input.dims", L::kDims, [](Project& p, int x) { features(p, DatasetKind::ClusteredTokens); p.model.input.dims = x; }, [](P p) { return p.model.input.dims; }));
    v.push_back(rc("model.input.noise", L::kDataNoise, [](Project& p, double x) { features(p, DatasetKind::Blobs); p.model.input.noise = x; }, [](P p) { return p.model.input.noise; }));
    v.push_back(ic("model.embedding.d_model", L::kWidth, [](Project& p, int x) {
        p.model.stem.dModel = x;
        p.model.stem.positions = PositionKind::None;
        p.model.blocks[0].attention.heads = p.model.blocks[0].attention.kvHeads = 1;
    }, [](P p) { return p.model.stem.dModel; }));
    v.push_back(loUnsound(ic("model.embedding.vocab", L::kVocab, [](Project& p, int x) { p.model.stem.vocab = x; }, [](P p) { return p.model.stem.vocab; })));
    v.push_back(rc("model.embedding.rope_theta", L::kRopeTheta, [](Project& p, double x) { p.model.stem.ropeTheta = x; }, [](P p) { return p.model.stem.ropeTheta; }));
    v.push_back(zeroUnset(loUnsound(ic("model.embedding.max_positions", L::kMaxPositions, [](Project& p, int x) {
        p.model.stem.positions = PositionKind::Learned;
        p.model.stem.maxPositions = x;
    }, [](P p) { return p.model.stem.maxPositions; }))));
    // Schedules (the block's own counts removed so that they apply).
    v.push_back(ic("model.schedule.experts.min", L::kExperts, [&](Project& p, int x) {
        mb(p).experts.reset();
        mb(p).router.k = 1;
        p.model.expertSchedule = Schedule{ScheduleKind::Descending, x, L::kMaxExperts, 4, {}};
    }, [](P p) { return p.model.expertSchedule->min; }));
    v.push_back(ic("model.schedule.experts.max", L::kExperts, [&](Project& p, int x) {
        mb(p).experts.reset();
        mb(p).router.k = 1;
        p.model.expertSchedule = Schedule{ScheduleKind::Ascending, 1, x, 4, {}};
    }, [](P p) { return p.model.expertSchedule->max; }));
    v.push_back(ic("model.schedule.experts.period", L::kSchedulePeriod, [&](Project& p, int x) {
        mb(p).experts.reset();
        mb(p).router.k = 1;
        p.model.expertSchedule = Schedule{ScheduleKind::Wave, 1, 2, x, {}};
    }, [](P p) { return p.model.expertSchedule->period; }));
    v.push_back(ic("model.schedule.experts.values[0]", L::kExperts, [&](Project& p, int x) {
        mb(p).experts.reset();
        mb(p).router.k = 1;
        p.model.expertSchedule = Schedule{ScheduleKind::Explicit, 1, 1, 4, {x}};
    }, [](P p) { return p.model.expertSchedule->values.at(0); }));
    v.push_back(ic("model.schedule.k.max", L::kExperts, [&](Project& p, int x) {
        mb(p).router.k.reset();
        mb(p).experts = L::kMaxExperts;
        p.model.kSchedule = Schedule{ScheduleKind::Descending, 1, x, 4, {}};
    }, [](P p) { return p.model.kSchedule->max; }));
    // The MoE block.
    v.push_back(ic("model.blocks[1].experts", L::kExperts, [&](Project& p, int x) { mb(p).experts = x; mb(p).router.k = 1; }, [](P p) { return *p.model.blocks[1].experts; }));
    v.push_back(ic("model.blocks[1].router.k", L::kExperts, [&](Project& p, int x) { mb(p).experts = L::kMaxExperts; mb(p).router.k = x; }, [](P p) { return *p.model.blocks[1].router.k; }));
    v.push_back(ic("model.blocks[1].shared_experts", L::kSharedExperts, [&](Project& p, int x) { mb(p).sharedExperts = x; }, [](P p) { return p.model.blocks[1].sharedExperts; }));
    v.push_back(ic("model.blocks[1].zero_experts.zero", L::kZeroExperts, [&](Project& p, int x) { mb(p).zeroExperts.zero = x; }, [](P p) { return p.model.blocks[1].zeroExperts.zero; }));
    v.push_back(ic("model.blocks[1].zero_experts.copy", L::kZeroExperts, [&](Project& p, int x) { mb(p).zeroExperts.copy = x; }, [](P p) { return p.model.blocks[1].zeroExperts.copy; }));
    v.push_back(ic("model.blocks[1].zero_experts.constant", L::kZeroExperts, [&](Project& p, int x) { mb(p).zeroExperts.constant = x; }, [](P p) { return p.model.blocks[1].zeroExperts.constant; }));
    v.push_back(ic("model.blocks[1].ffn.hidden", L::kWidth, [&](Project& p, int x) { mb(p).ffn.hidden = x; }, [](P p) { return p.model.blocks[1].ffn.hidden; }));
    v.push_back(rc("model.blocks[1].router.temperature", L::kTemperature, [&](Project& p, double x) { mb(p).router.temperature = x; }, [](P p) { return p.model.blocks[1].router.temperature; }));
    v.push_back(rc("model.blocks[1].router.noise", L::kRouterNoise, [&](Project& p, double x) { mb(p).router.noise = x; }, [](P p) { return p.model.blocks[1].router.noise; }));
    v.push_back(rc("model.blocks[1].router.capacity_factor", L::kCapacityFactor, [&](Project& p, double x) {
        mb(p).router.kind = RouterKind::ExpertChoice;
        mb(p).router.k.reset();
        mb(p).router.capacityFactor = x;
    }, [](P p) { return p.model.blocks[1].router.capacityFactor; }));
    v.push_back(rc("model.blocks[1].router.tau", L::kTau, [&](Project& p, double x) {
        mb(p).router.kind = RouterKind::Dynamic;
        mb(p).router.tau = x;
    }, [](P p) { return p.model.blocks[1].router.tau; }));
    v.push_back(ic("model.blocks[1].router.min_experts", L::kExperts, [&](Project& p, int x) {
        mb(p).router.kind = RouterKind::Dynamic;
        mb(p).experts = mb(p).router.maxExperts = L::kMaxExperts;
        mb(p).router.minExperts = x;
    }, [](P p) { return p.model.blocks[1].router.minExperts; }));
    v.push_back(ic("model.blocks[1].router.max_experts", L::kExperts, [&](Project& p, int x) {
        mb(p).router.kind = RouterKind::Dynamic;
        mb(p).experts = L::kMaxExperts;
        mb(p).router.maxExperts = x;
    }, [](P p) { return p.model.blocks[1].router.maxExperts; }));
    v.push_back(rc("model.blocks[1].router.alpha", L::kAlpha, [&](Project& p, double x) { mb(p).router.kind = RouterKind::Unified; mb(p).router.alpha = x; },
                   [](P p) { return p.model.blocks[1].router.alpha; }));
    v.push_back(ic("model.blocks[1].router.iterations", L::kSinkhornIterations, [&](Project& p, int x) { mb(p).router.kind = RouterKind::Sinkhorn; mb(p).router.iterations = x; },
                   [](P p) { return p.model.blocks[1].router.iterations; }));
    v.push_back(rc("model.blocks[1].router.bias_update_rate", L::kBiasUpdateRate, [&](Project& p, double x) {
        mb(p).router.kind = RouterKind::SigmoidBias;
        mb(p).losses.aux = 0;
        mb(p).router.biasUpdateRate = x;
    }, [](P p) { return p.model.blocks[1].router.biasUpdateRate; }));
    v.push_back(ic("model.blocks[1].router.groups", L::kExperts, [&](Project& p, int x) {
        mb(p).experts = L::kMaxExperts;
        mb(p).router.k = 1;
        mb(p).router.groups = x;
    }, [](P p) { return p.model.blocks[1].router.groups; }));
    v.push_back(ic("model.blocks[1].router.topk_groups", L::kExperts, [&](Project& p, int x) {
        mb(p).experts = L::kMaxExperts;
        mb(p).router.k = 1;
        mb(p).router.groups = L::kMaxExperts;
        mb(p).router.topkGroups = x;
    }, [](P p) { return p.model.blocks[1].router.topkGroups; }));
    v.push_back(rc("model.blocks[1].capacity.factor", L::kCapacityFactor, [&](Project& p, double x) { mb(p).capacity.dropless = false; mb(p).capacity.factor = x; },
                   [](P p) { return p.model.blocks[1].capacity.factor; }));
    v.push_back(rc("model.blocks[1].losses.aux", L::kLossCoefficient, [&](Project& p, double x) { mb(p).losses.aux = x; }, [](P p) { return p.model.blocks[1].losses.aux; }));
    v.push_back(rc("model.blocks[1].losses.z", L::kLossCoefficient, [&](Project& p, double x) { mb(p).losses.z = x; }, [](P p) { return p.model.blocks[1].losses.z; }));
    // The attention block.
    auto& at = attention;
    v.push_back(ic("model.blocks[0].heads", L::kHeads, [&](Project& p, int x) { at(p).attention.heads = at(p).attention.kvHeads = x; at(p).attention.headDim = 2; },
                   [](P p) { return p.model.blocks[0].attention.heads; }));
    v.push_back(ic("model.blocks[0].window", L::kWindow, [&](Project& p, int x) { at(p).attention.window = x; }, [](P p) { return p.model.blocks[0].attention.window; }));
    // gqa needs 2 to heads - 1 key/value heads: neither end of the range is a sound gqa.
    v.push_back(neitherSound(ic("model.blocks[0].kv_heads", L::kHeads, [&](Project& p, int x) { at(p).attention.kind = AttentionKind::Gqa; at(p).attention.kvHeads = x; },
                                [](P p) { return p.model.blocks[0].attention.kvHeads; })));
    v.push_back(zeroUnset(ic("model.blocks[0].head_dim", L::kHeadDim, [&](Project& p, int x) { p.model.stem.positions = PositionKind::None; at(p).attention.headDim = x; },
                             [](P p) { return p.model.blocks[0].attention.headDim; })));
    auto mla = [&](Project& p) {
        p.model.stem.positions = PositionKind::None;
        at(p).attention.kind = AttentionKind::Mla;
        return &at(p).attention;
    };
    v.push_back(ic("model.blocks[0].q_lora_rank", L::kQLoraRank, [=](Project& p, int x) { mla(p)->qLoraRank = x; }, [](P p) { return p.model.blocks[0].attention.qLoraRank; }));
    v.push_back(ic("model.blocks[0].kv_lora_rank", L::kWidth, [=](Project& p, int x) { mla(p)->kvLoraRank = x; }, [](P p) { return p.model.blocks[0].attention.kvLoraRank; }));
    v.push_back(ic("model.blocks[0].qk_nope_head_dim", L::kHeadDim, [=](Project& p, int x) { mla(p)->qkNopeHeadDim = x; }, [](P p) { return p.model.blocks[0].attention.qkNopeHeadDim; }));
    v.push_back(ic("model.blocks[0].qk_rope_head_dim", L::kRopeHeadDim, [=](Project& p, int x) { mla(p)->qkRopeHeadDim = x; }, [](P p) { return p.model.blocks[0].attention.qkRopeHeadDim; }));
    v.push_back(ic("model.blocks[0].v_head_dim", L::kHeadDim, [=](Project& p, int x) { mla(p)->vHeadDim = x; }, [](P p) { return p.model.blocks[0].attention.vHeadDim; }));
    // A group.
    v.push_back(ic("model.blocks[0].repeat", L::kRepeat, [](Project& p, int x) { group(p).repeat = x; }, [](P p) { return p.model.blocks[0].repeat; }));
    v.push_back(ic("model.blocks[0].first_dense", L::kFirstDense, [](Project& p, int x) { BlockSpec& g = group(p); g.repeat = L::kMaxLayers; g.firstDense = x; },
                   [](P p) { return p.model.blocks[0].firstDense; }));
    v.push_back(ic("model.blocks[0].dense_ffn.hidden", L::kWidth, [](Project& p, int x) { BlockSpec& g = group(p); g.repeat = 2; g.firstDense = 1; g.denseFfn.hidden = x; },
                   [](P p) { return p.model.blocks[0].denseFfn.hidden; }));
    v.push_back(ic("model.blocks[0].blocks[0].experts", L::kExperts, [](Project& p, int x) { BlockSpec& c = group(p).children[0]; c.experts = x; c.router.k = 1; },
                   [](P p) { return *p.model.blocks[0].children[0].experts; }));
    // Training.
    using T = TrainingSettings;
    auto tr = [](std::function<void(T&, int)> f) { return [f](Project& p, int x) { f(p.training, x); }; };
    auto trr = [](std::function<void(T&, double)> f) { return [f](Project& p, double x) { f(p.training, x); }; };
    v.push_back(ic("training.batch", L::kBatch, tr([](T& t, int x) { t.batch = x; t.trainSamples = std::max(t.trainSamples, x); }), [](P p) { return p.training.batch; }));
    v.push_back(rc("training.learning_rate", L::kLearningRate, trr([](T& t, double x) { t.learningRate = x; }), [](P p) { return p.training.learningRate; }));
    v.push_back(rc("training.weight_decay", L::kWeightDecay, trr([](T& t, double x) { t.weightDecay = x; }), [](P p) { return p.training.weightDecay; }));
    v.push_back(rc("training.momentum", L::kMomentum, trr([](T& t, double x) { t.optimizer = OptimizerKind::Sgd; t.momentum = x; }), [](P p) { return p.training.momentum; }));
    v.push_back(ic("training.warmup_steps", L::kWarmupSteps, tr([](T& t, int x) { t.warmupSteps = x; }), [](P p) { return p.training.warmupSteps; }));
    v.push_back(ic("training.epochs", L::kEpochs, tr([](T& t, int x) { t.steps.reset(); t.epochs = x; }), [](P p) { return *p.training.epochs; }));
    v.push_back(ic("training.steps", L::kSteps, tr([](T& t, int x) { t.steps = x; }), [](P p) { return *p.training.steps; }));
    v.push_back({"training.seed", static_cast<double>(L::kSeed.lo), static_cast<double>(L::kSeed.hi), true,
                 [](Project& p, double x) { p.training.seed = static_cast<unsigned>(static_cast<long long>(x)); }, [](P p) { return static_cast<double>(p.training.seed); }});
    v.push_back(ic("training.telemetry_interval", L::kTelemetryInterval, tr([](T& t, int x) { t.telemetryInterval = x; }), [](P p) { return p.training.telemetryInterval; }));
    v.push_back(ic("training.ep", L::kTrainingEp, tr([](T& t, int x) { t.ep = x; }), [](P p) { return p.training.ep; }));
    v.push_back(ic("training.augment.shift", L::kAugmentShift, [](Project& p, int x) {
        features(p, DatasetKind::FashionMnist);
        p.training.augment.shift = x;
    }, [](P p) { return p.training.augment.shift; }));
    v.push_back(ic("training.train_samples", L::kSamples, tr([](T& t, int x) { t.trainSamples = x; t.batch = std::min(t.batch, x); }), [](P p) { return p.training.trainSamples; }));
    v.push_back(ic("training.test_samples", L::kSamples, tr([](T& t, int x) { t.testSamples = x; }), [](P p) { return p.training.testSamples; }));
    auto twin = [](std::function<void(TwinSpec&, int)> f) {
        return [f](Project& p, int x) {
            TwinSpec w;
            w.dModel = 16;
            f(w, x);
            p.training.twin = w;
        };
    };
    v.push_back(ic("training.twin.d_model", L::kTwinDModel, twin([](TwinSpec& w, int x) { w.dModel = x; }), [](P p) { return p.training.twin->dModel; }));
    v.push_back(ic("training.twin.layers", L::kTwinLayers, twin([](TwinSpec& w, int x) { w.layers = x; }), [](P p) { return p.training.twin->layers; }));
    v.push_back(zeroUnset(ic("training.twin.expert_hidden", L::kTwinExpertHidden, twin([](TwinSpec& w, int x) { w.expertHidden = x; }), [](P p) { return p.training.twin->expertHidden; })));
    v.push_back(zeroUnset(ic("training.twin.heads", L::kTwinHeads, twin([](TwinSpec& w, int x) { w.dModel = 4096; w.heads = x; }), [](P p) { return p.training.twin->heads; })));
    v.push_back(zeroUnset(loUnsound(ic("training.twin.vocab", L::kVocab, twin([](TwinSpec& w, int x) { w.vocab = x; }), [](P p) { return p.training.twin->vocab; }))));
    v.push_back(zeroUnset(ic("training.twin.seq_len", L::kSeqLen, twin([](TwinSpec& w, int x) { w.seqLen = x; }), [](P p) { return p.training.twin->seqLen; })));
    // Deployment.
    using D = DeploymentSpec;
    auto dep = [](std::function<void(D&, int)> f) { return [f](Project& p, int x) { f(*p.deployment, x); }; };
    v.push_back(ic("deployment.gpus", L::kGpus, dep([](D& d, int x) { d.gpus = x; }), [](P p) { return p.deployment->gpus; }));
    v.push_back(ic("deployment.tokens_per_gpu", L::kTokensPerGpu, dep([](D& d, int x) { d.tokensPerGpu = x; }), [](P p) { return p.deployment->tokensPerGpu; }));
    v.push_back(ic("deployment.parallel.ep", L::kGpus, dep([](D& d, int x) { d.ep = x; }), [](P p) { return p.deployment->ep; }));
    v.push_back(ic("deployment.parallel.dp", L::kGpus, dep([](D& d, int x) { d.dp = x; }), [](P p) { return p.deployment->dp; }));
    v.push_back(ic("deployment.parallel.tp", L::kTensorParallel, dep([](D& d, int x) { d.tp = x; }), [](P p) { return p.deployment->tp; }));
    v.push_back(ic("deployment.parallel.pp", L::kPipelineParallel, dep([](D& d, int x) { d.pp = x; }), [](P p) { return p.deployment->pp; }));
    v.push_back(ic("deployment.parallel.vpp", L::kTensorParallel, dep([](D& d, int x) { d.pp = 2; d.vpp = x; }), [](P p) { return p.deployment->vpp; }));
    v.push_back(ic("deployment.parallel.cp", L::kTensorParallel, dep([](D& d, int x) { d.cp = x; }), [](P p) { return p.deployment->cp; }));
    v.push_back(ic("deployment.parallel.etp", L::kExpertTensorParallel, dep([](D& d, int x) { d.etp = x; }), [](P p) { return p.deployment->etp; }));
    v.push_back(ic("deployment.parallel.first_stage_layers", L::kStageLayers, dep([](D& d, int x) { d.pp = 2; d.firstStageLayers = x; }), [](P p) { return p.deployment->firstStageLayers; }));
    v.push_back(ic("deployment.parallel.last_stage_layers", L::kStageLayers, dep([](D& d, int x) { d.pp = 2; d.lastStageLayers = x; }), [](P p) { return p.deployment->lastStageLayers; }));
    v.push_back(ic("deployment.micro_batch", L::kMicroBatch, dep([](D& d, int x) { d.microBatch = x; }), [](P p) { return p.deployment->microBatch; }));
    v.push_back(ic("deployment.global_batch", L::kGlobalBatch, dep([](D& d, int x) { d.globalBatch = x; }), [](P p) { return p.deployment->globalBatch; }));
    v.push_back(ic("deployment.seq_len", L::kDeploymentSeqLen, dep([](D& d, int x) { d.seqLen = x; }), [](P p) { return p.deployment->seqLen; }));
    v.push_back(ic("deployment.zero", L::kZeroStage, dep([](D& d, int x) { d.zero = x; }), [](P p) { return p.deployment->zero; }));
    v.push_back(rc("deployment.capacity_factor", L::kDeploymentCapacityFactor, [](Project& p, double x) { p.deployment->capacityFactor = x; },
                   [](P p) { return p.deployment->capacityFactor; }));
    // The scenario.
    v.push_back(ic("scenario.steps[0].train_steps", L::kScenarioTrainSteps, [](Project& p, int x) { p.scenario->steps[0].trainSteps = x; },
                   [](P p) { return p.scenario->steps[0].trainSteps; }));
    return v;
}

QString formatted(const Diagnostics& d) { return QString::fromStdString(formatAll(d)); }

bool has(const Diagnostics& ds, const std::string& path, const std::string& message) {
    return std::any_of(ds.begin(), ds.end(), [&](const Diagnostic& d) { return d.path == path && d.message == message; });
}

// The diagnostic validation gives for `path`, or an empty one.
Diagnostic at(const Diagnostics& ds, const std::string& path) {
    for (const auto& d : ds)
        if (d.path == path) return d;
    return {};
}

}  // namespace

class TestLimits : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void theBaseProjectIsSound() {
        const Project p = base();
        QVERIFY2(validateProject(p).empty(), qPrintable(formatted(validateProject(p))));
        QVERIFY2(parseProject(serializeProject(p)).ok(), qPrintable(QString::fromStdString(parseProject(serializeProject(p)).message())));
    }

    // At the limit: validates, saves, reopens with the value. One step beyond: validation and the
    // reader refuse it at the same path with the same words.
    void everyLimitedFieldValidatesAtItsLimitAndIsRefusedBeyond() {
        QStringList failures;
        auto fail = [&](const Case& c, const QString& what) { failures << QString::fromStdString(c.path) + ": " + what; };
        for (const Case& c : cases()) {
            for (const bool top : {true, false}) {
                const double limit = top ? c.hi : c.lo;
                if (top ? c.hiSound : c.loSound) {
                    Project p = base();
                    c.set(p, limit);
                    if (const auto d = validateProject(p); !d.empty()) fail(c, QStringLiteral("at %1 it does not validate: %2").arg(limit).arg(formatted(d)));
                    else if (const auto r = parseProject(serializeProject(p)); !r.ok())
                        fail(c, QStringLiteral("at %1 it validates but does not reopen: %2").arg(limit).arg(QString::fromStdString(r.message())));
                    else if (c.get(r.value()) != limit) fail(c, QStringLiteral("saved %1, reopened %2").arg(limit).arg(c.get(r.value())));
                }
                if (!top && c.zeroUnset && c.lo == 1) continue;  // below 1 is 0: not set
                const double beyond = c.integer ? limit + (top ? 1 : -1)
                                                : std::nextafter(limit, top ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity());
                Project p = base();
                c.set(p, beyond);
                const Diagnostics v = validateProject(p);
                const Diagnostic d = at(v, c.path);
                if (d.path.empty()) {
                    fail(c, QStringLiteral("%1 validates: %2").arg(beyond, 0, 'g', 17).arg(formatted(v)));
                    continue;
                }
                if (QString::fromStdString(d.message).indexOf(QStringLiteral(" is out of range (valid: ")) < 0)
                    fail(c, QStringLiteral("unexpected words: %1").arg(QString::fromStdString(d.message)));
                if (!has(validateLimits(p), d.path, d.message)) fail(c, QStringLiteral("validateLimits does not report it"));
                // The file carries the value beyond the top (below the bottom, some fields are left out).
                if (top) {
                    const auto r = parseProject(serializeProject(p));
                    if (r.ok() || !has(r.errors(), d.path, d.message))
                        fail(c, QStringLiteral("the reader says otherwise: validation \"%1\", reader \"%2\"")
                                    .arg(QString::fromStdString(d.message), QString::fromStdString(r.message())));
                }
            }
        }
        QVERIFY2(failures.isEmpty(), qPrintable(failures.join(QLatin1Char('\n'))));
    }

    void aNaNIsOutOfEveryRange() {
        Project p = base();
        p.training.learningRate = std::numeric_limits<double>::quiet_NaN();
        const Diagnostic d = at(validateProject(p), "training.learning_rate");
        QCOMPARE(d.message, outOfRange("nan", limits::kLearningRate));
    }

    // The layers a model holds once its groups are expanded: 4096 validate and reopen; one more
    // is refused by both with the same words, and a hostile repeat is refused without expanding it.
    void theLayerLimitHoldsForGroupsAndPlainBlocks() {
        Project p = base();
        group(p).repeat = limits::kMaxLayers;
        QVERIFY2(validateProject(p).empty(), qPrintable(formatted(validateProject(p))));
        QVERIFY(parseProject(serializeProject(p)).ok());
        QCOMPARE(p.model.layerCount(), limits::kMaxLayers);

        p.model.blocks.push_back(p.model.blocks[0].children[0]);
        const std::string words = tooManyLayersText(limits::kMaxLayers + 1);
        QVERIFY2(has(validateProject(p), "model.blocks", words), qPrintable(formatted(validateProject(p))));
        QVERIFY(has(validateLimits(p), "model.blocks", words));
        const auto r = parseProject(serializeProject(p));
        QVERIFY2(has(r.errors(), "model.blocks", words), qPrintable(QString::fromStdString(r.message())));

        p.model.blocks[0].repeat = std::numeric_limits<int>::max();
        const Diagnostics d = validateProject(p);
        QVERIFY(has(d, "model.blocks[0].repeat", outOfRange(std::to_string(std::numeric_limits<int>::max()), limits::kRepeat)));
        QVERIFY(has(d, "model.blocks", tooManyLayersText(std::int64_t{std::numeric_limits<int>::max()} + 1)));

        Project plain = base();
        plain.model.blocks.assign(limits::kMaxLayers + 1, plain.model.blocks[1]);
        QVERIFY(has(validateProject(plain), "model.blocks", tooManyBlocksText(limits::kMaxLayers + 1)));
        QVERIFY(has(parseProject(serializeProject(plain)).errors(), "model.blocks", tooManyBlocksText(limits::kMaxLayers + 1)));
    }

    // Text fields with a fixed set of names, and the other values a file cannot hold.
    void namesAndShapesTheReaderRefusesValidationRefuses() {
        struct Named {
            const char* path;
            std::function<void(Project&)> set;
        };
        const std::vector<Named> named = {
            {"training.device", [](Project& p) { p.training.device = "gpu0"; }},
            {"deployment.dtype", [](Project& p) { p.deployment->dtype = "int4"; }},
            {"deployment.dispatch_dtype", [](Project& p) { p.deployment->dispatchDtype = "int4"; }},
            {"deployment.recompute", [](Project& p) { p.deployment->recompute = "some"; }},
            {"deployment.grad_dtype", [](Project& p) { p.deployment->gradDtype = "fp8"; }},
            {"deployment.routing_map", [](Project& p) { p.deployment->routingMap = "stretch"; }},
            {"deployment.placement[0][1]", [](Project& p) { p.deployment->placement = {false, {{0, -1}}}; }},
            {"scenario.steps[0].view", [](Project& p) { p.scenario->steps[0].view = "routing"; }},
            {"scenario.steps[0].edits", [](Project& p) { p.scenario->steps[0].edits = nlohmann::ordered_json::array({1}); }},
            {"model.input.corpus", [](Project& p) { p.model.input.corpus.clear(); }},
            {"model.input.tokens", [](Project& p) { features(p, DatasetKind::Blobs); p.model.input.tokens = TokenMode::Patches; }},
        };
        QStringList failures;
        for (const auto& n : named) {
            Project p = base();
            n.set(p);
            const Diagnostic d = at(validateProject(p), n.path);
            const auto r = parseProject(serializeProject(p));
            if (d.path.empty()) failures << QStringLiteral("%1: validates").arg(n.path);
            else if (!has(validateLimits(p), d.path, d.message)) failures << QStringLiteral("%1: not among the limits").arg(n.path);
            else if (!has(r.errors(), d.path, d.message))
                failures << QStringLiteral("%1: validation \"%2\", reader \"%3\"").arg(n.path, QString::fromStdString(d.message), QString::fromStdString(r.message()));
        }
        QVERIFY2(failures.isEmpty(), qPrintable(failures.join(QLatin1Char('\n'))));
    }

    // validateLimits is what a file cannot hold, not every problem: k above the experts saves.
    void crossFieldProblemsAreNotLimits() {
        Project p = base();
        moeBlock(p).router.k = 5;
        QVERIFY(!validateProject(p).empty());
        QVERIFY2(validateLimits(p).empty(), qPrintable(formatted(validateLimits(p))));
    }

    // The counts of every layer at once agree with the per-layer lookups.
    void layerCountsAgreeWithThePerLayerLookups() {
        Project p = base();
        BlockSpec& g = group(p);
        g.repeat = 6;
        g.firstDense = 1;
        g.children[0].experts.reset();
        g.children[0].router.k.reset();
        g.children[0].zeroExperts.copy = 1;
        p.model.expertSchedule = Schedule{ScheduleKind::Pyramid, 2, 8, 4, {}};
        p.model.kSchedule = Schedule{ScheduleKind::Descending, 1, 2, 4, {}};
        const ModelSpec flat = p.model.flattened();
        const auto counts = flat.layerCounts();
        QCOMPARE(static_cast<int>(counts.size()), flat.layerCount());
        for (int i = 0; i < flat.layerCount(); ++i) {
            const LayerCounts& c = counts[static_cast<size_t>(i)];
            QCOMPARE(c.moeIndex, flat.moeIndex(i));
            QCOMPARE(c.experts, flat.expertsOf(i));
            QCOMPARE(c.k, flat.kOf(i));
            QCOMPARE(c.routed, flat.routedExpertsOf(i));
        }
        QCOMPARE(counts[0].moeIndex, -1);  // the first repeat is dense
        QVERIFY(counts[3].experts != counts[1].experts);  // the pyramid varies
    }
};

QTEST_MAIN(TestLimits)
#include "tst_limits.moc"
