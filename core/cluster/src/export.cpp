#include "moe/cluster/export.h"

#include <sstream>

namespace moe::cluster {
namespace {

using spec::BlockKind;

std::string n(long long v) { return std::to_string(v); }

std::string num(double v) {
    std::ostringstream s;
    s << v;
    return s.str();
}

// The first layer of a kind in the flattened model, or nullptr.
const spec::BlockSpec* firstOf(const ModelShape& s, BlockKind k, int* index = nullptr) {
    for (size_t i = 0; i < s.model.blocks.size(); ++i)
        if (s.model.blocks[i].kind == k) {
            if (index) *index = static_cast<int>(i);
            return &s.model.blocks[i];
        }
    return nullptr;
}

// Megatron builds every transformer layer alike: one attention block and one FFN or MoE block.
// Checks that, naming the first layer that differs.
spec::Diagnostics checkUniform(const ModelShape& s) {
    spec::Diagnostics errs;
    const spec::BlockSpec* att = firstOf(s, BlockKind::Attention);
    if (!att) {
        errs.push_back({"model.blocks", "Megatron-Core and DeepSpeed train transformers: the model has no attention layer"});
        return errs;
    }
    const auto origins = s.model.layerOrigins();
    for (int u = 0; u < s.units(); ++u) {
        const int a = s.unitFirst[static_cast<size_t>(u)], b = s.unitFirst[static_cast<size_t>(u) + 1];
        const std::string where = "model (layer " + n(a) + ")";
        if (b - a != 2 || s.model.blocks[static_cast<size_t>(a)].kind != BlockKind::Attention) {
            errs.push_back({where, "every transformer layer must be one attention block followed by one dense or MoE block to export"});
            return errs;
        }
        const auto& x = s.model.blocks[static_cast<size_t>(a)].attention;
        if (x.kind != att->attention.kind || x.heads != att->attention.heads || x.kvHeads != att->attention.kvHeads || x.headDim != att->attention.headDim ||
            x.window != att->attention.window || x.qkNorm != att->attention.qkNorm) {
            errs.push_back({where, "its attention differs from the first layer's; Megatron-Core builds all attention layers alike"});
            return errs;
        }
    }
    return errs;
}

}  // namespace

std::string MegatronExport::commandLine() const {
    std::string s = "pretrain_gpt.py";
    for (size_t i = 0; i < args.size(); ++i) {
        const bool flag = args[i].rfind("--", 0) == 0;
        s += flag ? " \\\n  " + args[i] : " " + (args[i].find_first_of(" ()*+[]") != std::string::npos ? "\"" + args[i] + "\"" : args[i]);
    }
    return s + "\n";
}

spec::Result<MegatronExport> exportMegatron(const ModelShape& s, const spec::TrainingSettings& t, const Layout& l) {
    if (auto e = checkUniform(s); !e.empty()) return e;
    MegatronExport out;
    auto& a = out.args;
    auto add = [&](const std::string& flag, const std::string& value = {}) {
        a.push_back(flag);
        if (!value.empty()) a.push_back(value);
    };
    const spec::BlockSpec& att = *firstOf(s, BlockKind::Attention);
    int moeIndex = -1;
    const spec::BlockSpec* moe = firstOf(s, BlockKind::Moe, &moeIndex);
    const spec::BlockSpec* dense = firstOf(s, BlockKind::Dense);
    const auto& A = att.attention;
    add("--num-layers", n(s.units()));
    add("--hidden-size", n(s.dModel));
    add("--ffn-hidden-size", n(dense ? dense->ffn.hidden : moe->ffn.hidden));
    add("--num-attention-heads", n(A.heads));
    if (A.kind == spec::AttentionKind::Mla) {
        add("--multi-latent-attention");
        if (A.qLoraRank > 0) add("--q-lora-rank", n(A.qLoraRank));
        add("--kv-lora-rank", n(A.kvLoraRank));
        add("--qk-head-dim", n(A.qkNopeHeadDim));
        add("--qk-pos-emb-head-dim", n(A.qkRopeHeadDim));
        add("--v-head-dim", n(A.vHeadDim));
    } else {
        if (A.kvHeads != A.heads) {
            add("--group-query-attention");
            add("--num-query-groups", n(A.kvHeads));
        }
        if (A.headDim > 0 && A.headDim * A.heads != s.dModel) add("--kv-channels", n(A.headDim));
    }
    if (A.qkNorm) add("--qk-layernorm");
    if (A.window > 0) out.notes.push_back("sliding-window attention (" + n(A.window) + " tokens) is not exported; add --window-size for your Megatron version");
    add("--seq-length", n(l.seqLen));
    add("--max-position-embeddings", n(l.seqLen));
    add("--vocab-size", n(s.vocab));
    add("--normalization", att.norm == spec::NormKind::RmsNorm ? "RMSNorm" : "LayerNorm");
    const spec::FfnSpec& ffn = dense ? dense->ffn : moe->ffn;
    if (ffn.activation == spec::Activation::Swiglu) add("--swiglu");
    else if (ffn.activation != spec::Activation::Gelu)
        out.notes.push_back("FFN activation " + std::string(spec::toString(ffn.activation)) + " has no Megatron flag; GeLU is Megatron's default");
    if (!s.tied) add("--untie-embeddings-and-output-weights");
    const auto pos = s.model.stem.positions;
    add("--position-embedding-type", pos == spec::PositionKind::Rope ? "rope" : pos == spec::PositionKind::Learned ? "learned_absolute" : "none");
    if (pos == spec::PositionKind::Rope) add("--rotary-base", num(s.model.stem.ropeTheta));
    if (!A.bias && !ffn.bias) add("--disable-bias-linear");
    if (moe) {
        const auto& f = s.figures.blocks[static_cast<size_t>(moeIndex)];
        add("--num-experts", n(f.experts));
        add("--moe-router-topk", n(s.model.kOf(moeIndex)));
        add("--moe-ffn-hidden-size", n(moe->ffn.hidden));
        if (moe->sharedExperts > 0) add("--moe-shared-expert-intermediate-size", n(moe->sharedExperts * moe->ffn.hidden));
        std::string pattern = "[";
        for (int u = 0; u < s.units(); ++u) {
            const auto k = s.model.blocks[static_cast<size_t>(s.unitFirst[static_cast<size_t>(u)] + 1)].kind;
            pattern += (u ? "," : "") + std::string(k == BlockKind::Moe ? "1" : "0");
        }
        add("--moe-layer-freq", pattern + "]");
        const auto& r = moe->router;
        if (r.kind == spec::RouterKind::SigmoidBias) {
            add("--moe-router-score-function", "sigmoid");
            add("--moe-router-enable-expert-bias");
        } else if (r.kind == spec::RouterKind::TopK) add("--moe-router-score-function", "softmax");
        else
            return spec::Diagnostics{{"model.blocks (router.kind)", "Megatron-Core routes with top-k softmax or sigmoid scores; a " +
                                                                        std::string(spec::toString(r.kind)) + " router cannot be exported"}};
        if (r.groups > 1) {
            add("--moe-router-num-groups", n(r.groups));
            add("--moe-router-group-topk", n(r.topkGroups));
        }
        if (moe->losses.aux > 0) {
            add("--moe-router-load-balancing-type", "aux_loss");
            add("--moe-aux-loss-coeff", num(moe->losses.aux));
        } else add("--moe-router-load-balancing-type", "none");
        if (moe->losses.z > 0) add("--moe-z-loss-coeff", num(moe->losses.z));
        if (!moe->capacity.dropless) {
            add("--moe-expert-capacity-factor", num(moe->capacity.factor));
            add("--moe-token-drop-policy", moe->capacity.dropPolicy == spec::DropPolicy::Position ? "position" : "probs");
        }
        if (moe->zeroExperts.total() > 0) out.notes.push_back("zero-computation experts (MoE++) have no Megatron-Core counterpart and are left out");
        add("--moe-grouped-gemm");
        add("--moe-token-dispatcher-type", "alltoall");
    }
    add("--tensor-model-parallel-size", n(l.tp));
    add("--pipeline-model-parallel-size", n(l.pp));
    if (l.vpp > 1) add("--num-layers-per-virtual-pipeline-stage", n(s.units() / (l.pp * l.vpp)));
    if (l.firstStageLayers > 0) add("--decoder-first-pipeline-num-layers", n(l.firstStageLayers));
    if (l.lastStageLayers > 0) add("--decoder-last-pipeline-num-layers", n(l.lastStageLayers));
    add("--context-parallel-size", n(l.cp));
    if (moe) {
        add("--expert-model-parallel-size", n(l.ep));
        add("--expert-tensor-parallel-size", n(l.etp));
    }
    if (l.tp > 1 && l.sequenceParallel) add("--sequence-parallel");
    if (moe && l.epOverlap) {
        add("--overlap-moe-expert-parallel-comm");
        add("--delay-wgrad-compute");
    }
    add("--micro-batch-size", n(l.microBatch));
    add("--global-batch-size", n(l.globalBatch));
    if (l.recompute == Recompute::Selective) {
        add("--recompute-granularity", "selective");
        add("--recompute-modules");
        a.push_back("layernorm");
        a.push_back(moe ? "moe_act" : "mlp");
    } else if (l.recompute == Recompute::Full) {
        add("--recompute-granularity", "full");
        add("--recompute-method", "uniform");
        add("--recompute-num-layers", "1");
    }
    if (l.zero == 1) add("--use-distributed-optimizer");
    else if (l.zero >= 2) {
        add("--use-megatron-fsdp");
        add("--data-parallel-sharding-strategy", l.zero == 2 ? "optim_grads" : "optim_grads_params");
    }
    add("--overlap-grad-reduce");
    if (l.zero == 1) add("--overlap-param-gather");
    if (l.dtype == "bf16") add("--bf16");
    else if (l.dtype == "fp16") add("--fp16");
    else if (l.dtype == "fp8") {
        add("--bf16");
        add("--fp8-format", "e4m3");
    }
    add("--optimizer", t.optimizer == spec::OptimizerKind::Sgd ? "sgd" : "adam");
    if (t.optimizer == spec::OptimizerKind::Adam && t.weightDecay > 0)
        out.notes.push_back("Megatron's adam applies decoupled weight decay (AdamW); the project asks for Adam with L2 weight decay");
    add("--lr", num(t.learningRate));
    add("--weight-decay", num(t.weightDecay));
    add("--lr-decay-style", t.lrSchedule == spec::LrSchedule::Cosine ? "cosine" : "constant");
    if (t.warmupSteps > 0) add("--lr-warmup-iters", n(t.warmupSteps));
    if (t.steps) add("--train-iters", n(*t.steps));
    add("--seed", n(t.seed));
    out.notes.push_back("data, tokenizer, checkpoint and logging flags are left to you");
    return out;
}

spec::Result<DeepSpeedExport> exportDeepSpeed(const ModelShape& s, const spec::TrainingSettings& t, const Layout& l) {
    if (auto e = checkUniform(s); !e.empty()) return e;
    DeepSpeedExport out;
    auto& c = out.config;
    c["train_batch_size"] = l.globalBatch;
    c["train_micro_batch_size_per_gpu"] = l.microBatch;
    c["gradient_accumulation_steps"] = l.microBatches;
    c["steps_per_print"] = 10;
    if (l.dtype == "bf16" || l.dtype == "fp8") c["bf16"] = {{"enabled", true}};
    else if (l.dtype == "fp16") c["fp16"] = {{"enabled", true}};
    c["zero_optimization"] = {{"stage", l.zero}, {"overlap_comm", true}, {"contiguous_gradients", true}, {"reduce_scatter", true}};
    if (t.optimizer == spec::OptimizerKind::Sgd)
        c["optimizer"] = {{"type", "SGD"}, {"params", {{"lr", t.learningRate}, {"weight_decay", t.weightDecay}}}};
    else
        c["optimizer"] = {{"type", t.optimizer == spec::OptimizerKind::AdamW ? "AdamW" : "Adam"},
                          {"params", {{"lr", t.learningRate}, {"betas", {0.9, 0.999}}, {"eps", 1e-8}, {"weight_decay", t.weightDecay}}}};
    if (t.lrSchedule == spec::LrSchedule::Cosine && t.steps)
        c["scheduler"] = {{"type", "WarmupCosineLR"},
                          {"params", {{"total_num_steps", *t.steps}, {"warmup_num_steps", t.warmupSteps}, {"warmup_min_ratio", 0.0}, {"cos_min_ratio", 0.0}}}};
    else if (t.warmupSteps > 0)
        c["scheduler"] = {{"type", "WarmupLR"}, {"params", {{"warmup_min_lr", 0.0}, {"warmup_max_lr", t.learningRate}, {"warmup_num_steps", t.warmupSteps}}}};
    if (l.recompute == Recompute::Full)
        c["activation_checkpointing"] = {{"partition_activations", l.tp > 1}, {"contiguous_memory_optimization", false},
                                         {"number_checkpoints", s.units() / std::max(1, l.pp)}};
    c["wall_clock_breakdown"] = false;
    int moeIndex = -1;
    if (firstOf(s, BlockKind::Moe, &moeIndex))
        out.notes.push_back("MoE layers are built in the model code: deepspeed.moe.layer.MoE(hidden_size=" + n(s.dModel) + ", num_experts=" +
                            n(s.figures.blocks[static_cast<size_t>(moeIndex)].experts) + ", ep_size=" + n(l.ep) + ", k=" +
                            n(s.model.kOf(moeIndex)) + ")");
    if (l.pp > 1) out.notes.push_back("pipeline stages are built in the model code: deepspeed.pipe.PipelineModule(num_stages=" + n(l.pp) + ")");
    if (l.tp > 1) out.notes.push_back("tensor parallelism (tp " + n(l.tp) + ") comes from the model code (Megatron-DeepSpeed --tensor-model-parallel-size)");
    if (l.cp > 1) out.notes.push_back("context parallelism (cp " + n(l.cp) + ") has no DeepSpeed config key; DeepSpeed-Ulysses sets it in code");
    if (l.recompute == Recompute::Selective) out.notes.push_back("selective recomputation is chosen per module in the model code");
    return out;
}

std::vector<std::string> keyPaths(const nlohmann::ordered_json& j) {
    std::vector<std::string> out;
    if (!j.is_object()) return out;
    for (auto it = j.begin(); it != j.end(); ++it) {
        out.push_back(it.key());
        for (const auto& sub : keyPaths(it.value())) out.push_back(it.key() + "." + sub);
    }
    return out;
}

}  // namespace moe::cluster
