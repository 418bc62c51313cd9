#include "moe/spec/hf.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include "moe/spec/derived.h"
#include "moe/spec/project_io.h"
#include "moe/spec/validate.h"
#include "project_json.h"

namespace moe::spec {
namespace {

using Json = nlohmann::ordered_json;

// ---- [SECTION] reading config fields -----------------------------------------------------------

// One config.json object with the model_type it claims; every read names the field in errors.
class Config {
public:
    Config(const Json& j, std::string type, Diagnostics& errs) : m_j(j), m_type(std::move(type)), m_errs(errs) {}

    // A nested object ("attn_config"), or this one when `key` is empty.
    Config child(const std::string& key) const {
        const Json* c = find(key);
        if (!c || !c->is_object()) {
            error(key, std::string(c ? "expected an object" : "missing") + " (" + m_type + " keeps " + key + " there)");
            return Config(kEmpty, m_type, m_errs, key);
        }
        return Config(*c, m_type, m_errs, key);
    }
    bool has(const std::string& key) const { return find(key) != nullptr; }
    int req(const std::string& key, int lo = 1, int hi = 1 << 24) const {
        const Json* v = find(key);
        if (!v) {
            error(key, "missing; a " + m_type + " config gives it");
            return lo;
        }
        return intOf(key, *v, lo, hi, lo);
    }
    // Several names for one field (configs of one family differ): the first present.
    int reqAny(std::initializer_list<const char*> keys, int lo = 1, int hi = 1 << 24) const {
        for (const char* k : keys)
            if (find(k)) return req(k, lo, hi);
        std::string names;
        for (const char* k : keys) names += (names.empty() ? "" : " or ") + std::string(k);
        error(*keys.begin(), "missing (" + names + "); a " + m_type + " config gives it");
        return lo;
    }
    int opt(const std::string& key, int def, int lo = 0, int hi = 1 << 24) const {
        const Json* v = find(key);
        return v ? intOf(key, *v, lo, hi, def) : def;
    }
    double optD(const std::string& key, double def) const {
        const Json* v = find(key);
        if (!v) return def;
        if (!v->is_number()) {
            error(key, "expected a number");
            return def;
        }
        return v->get<double>();
    }
    bool optB(const std::string& key, bool def) const {
        const Json* v = find(key);
        if (!v) return def;
        if (!v->is_boolean()) {
            error(key, "expected true or false");
            return def;
        }
        return v->get<bool>();
    }
    std::string optS(const std::string& key, const std::string& def) const {
        const Json* v = find(key);
        if (!v) return def;
        if (!v->is_string()) {
            error(key, "expected a string");
            return def;
        }
        return v->get<std::string>();
    }
    // A list of ints (mlp_only_layers) or strings (layer_types); empty when absent.
    const Json* list(const std::string& key) const {
        const Json* v = find(key);
        if (v && !v->is_array()) {
            error(key, "expected a list");
            return nullptr;
        }
        return v;
    }
    void error(const std::string& key, const std::string& msg) const { m_errs.push_back({path(key), msg}); }
    std::string path(const std::string& key) const { return m_prefix.empty() ? key : m_prefix + "." + key; }

private:
    Config(const Json& j, std::string type, Diagnostics& errs, std::string prefix)
        : m_j(j), m_type(std::move(type)), m_errs(errs), m_prefix(std::move(prefix)) {}
    // null counts as absent: configs write "q_lora_rank": null, "sliding_window": null.
    const Json* find(const std::string& key) const {
        if (!m_j.is_object()) return nullptr;
        auto it = m_j.find(key);
        return it == m_j.end() || it->is_null() ? nullptr : &*it;
    }
    int intOf(const std::string& key, const Json& v, int lo, int hi, int def) const {
        if (!v.is_number_integer()) {
            error(key, "expected a whole number but found " + v.dump());
            return def;
        }
        const long long x = v.get<long long>();
        if (x < lo || x > hi) {
            error(key, std::to_string(x) + " is out of range (" + std::to_string(lo) + " to " + std::to_string(hi) + ")");
            return def;
        }
        return static_cast<int>(x);
    }
    static inline const Json kEmpty = Json::object();
    const Json& m_j;
    std::string m_type;
    Diagnostics& m_errs;
    std::string m_prefix;
};

// ---- [SECTION] building the model ----------------------------------------------------------------

struct Layer {
    bool moe = true;
    int window = 0;
    bool operator==(const Layer& o) const { return moe == o.moe && window == o.window; }
};

struct Shape {
    std::string name;
    int dModel = 0, vocab = 0, seqLen = 4096;
    bool tied = false;
    double ropeTheta = 10000;
    NormKind norm = NormKind::RmsNorm;
    AttentionSpec attention;
    BlockSpec moe;                 // kind Moe, complete
    FfnSpec dense;                 // FFN of the dense layers
    std::vector<Layer> layers;
};

BlockSpec attentionBlock(const Shape& s, int window) {
    BlockSpec b;
    b.kind = BlockKind::Attention;
    b.norm = s.norm;
    b.attention = s.attention;
    b.attention.window = window;
    return b;
}

BlockSpec ffnBlock(const Shape& s, bool moe) {
    if (moe) return s.moe;
    BlockSpec b;
    b.kind = BlockKind::Dense;
    b.norm = s.norm;
    b.ffn = s.dense;
    return b;
}

BlockSpec group(std::vector<BlockSpec> children, int repeat, const std::string& label) {
    BlockSpec g;
    g.kind = BlockKind::Group;
    g.label = label;
    g.repeat = repeat;
    g.children = std::move(children);
    return g;
}

// One group repeating layers [from, from + period) of `s` `repeat` times.
BlockSpec periodGroup(const Shape& s, int from, int period, int repeat) {
    std::vector<BlockSpec> children;
    for (int i = from; i < from + period; ++i) {
        const Layer& l = s.layers[static_cast<size_t>(i)];
        children.push_back(attentionBlock(s, l.window));
        children.push_back(ffnBlock(s, l.moe));
    }
    const Layer& first = s.layers[static_cast<size_t>(from)];
    const std::string label = period == 1   ? (first.moe ? "moe layers" : "dense layers")
                              : period == 2 ? "decoder layer pair"
                                            : "decoder layers, period " + std::to_string(period);
    return group(std::move(children), repeat, label);
}

// The layers as few groups as the pattern allows: first-k-dense then one repeated layer; else
// the shortest period that repeats to the last layer (alternating windows, DeepSeek's
// moe_layer_freq), after a run of equal layers (first-k-dense) when there is one; else one group
// per run of equal layers.
std::vector<BlockSpec> layerGroups(const Shape& s) {
    const auto& L = s.layers;
    const int n = static_cast<int>(L.size());
    int k = 0;
    while (k < n && !L[static_cast<size_t>(k)].moe && L[static_cast<size_t>(k)].window == L.back().window) ++k;
    bool uniform = k < n;
    for (int i = k; i < n && uniform; ++i) uniform = L[static_cast<size_t>(i)] == L.back();
    if (uniform) {
        BlockSpec g = group({attentionBlock(s, L.back().window), ffnBlock(s, true)}, n, "decoder layer");
        if (k > 0) {
            g.firstDense = k;
            g.denseFfn = s.dense;
        }
        return {g};
    }
    int firstRun = 1;  // the layers equal to the first: a prefix the period may start after
    while (firstRun < n && L[static_cast<size_t>(firstRun)] == L[0]) ++firstRun;
    for (int period = 2; period <= n / 2; ++period)
        for (int from = 0; from <= firstRun && n - from >= 2 * period; ++from) {
            if ((n - from) % period != 0) continue;
            bool periodic = true;
            for (int i = from + period; i < n && periodic; ++i) periodic = L[static_cast<size_t>(i)] == L[static_cast<size_t>(i - period)];
            if (!periodic) continue;
            std::vector<BlockSpec> out;
            if (from > 0) out.push_back(periodGroup(s, 0, 1, from));
            out.push_back(periodGroup(s, from, period, (n - from) / period));
            return out;
        }
    std::vector<BlockSpec> out;
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && L[static_cast<size_t>(j)] == L[static_cast<size_t>(i)]) ++j;
        out.push_back(periodGroup(s, i, 1, j - i));
        i = j;
    }
    return out;
}

AttentionSpec standardAttention(int heads, int kvHeads, int headDim, int dModel) {
    AttentionSpec a;
    a.kind = kvHeads == heads ? AttentionKind::Mha : kvHeads == 1 ? AttentionKind::Mqa : AttentionKind::Gqa;
    a.heads = heads;
    a.kvHeads = kvHeads;
    a.headDim = headDim * heads != dModel ? headDim : 0;  // 0: d_model / heads
    a.causal = true;
    return a;
}

BlockSpec moeBlock(NormKind norm, int experts, int k, int hidden, bool renormalize) {
    BlockSpec b;
    b.kind = BlockKind::Moe;
    b.norm = norm;
    b.experts = experts;
    b.router.kind = RouterKind::TopK;
    b.router.k = k;
    b.router.renormalize = renormalize;
    b.ffn.hidden = hidden;
    b.ffn.activation = Activation::Swiglu;
    b.ffn.bias = false;
    b.capacity.dropless = true;
    b.losses.aux = 0;
    b.losses.z = 0;
    return b;
}

Project projectOf(const Shape& s) {
    Project p;
    ModelSpec& m = p.model;
    m.name = s.name;
    m.input.dataset = DatasetKind::Text;
    m.input.corpus = "fortunes";
    m.input.seqLen = s.seqLen;
    m.stem.kind = StemKind::Embedding;
    m.stem.dModel = s.dModel;
    m.stem.vocab = s.vocab;
    m.stem.positions = PositionKind::Rope;
    m.stem.ropeTheta = s.ropeTheta;
    m.head.norm = s.norm;
    m.head.tied = s.tied;
    m.blocks = layerGroups(s);
    TrainingSettings& t = p.training;
    t.batch = 16;
    t.optimizer = OptimizerKind::AdamW;
    t.learningRate = 2e-3;
    t.weightDecay = 0.01;
    t.lrSchedule = LrSchedule::Cosine;
    t.warmupSteps = 30;
    t.steps = 300;
    t.telemetryInterval = 10;
    TwinSpec twin;
    twin.dModel = 64;
    twin.layers = 4;
    twin.heads = 4;
    twin.seqLen = 64;
    twin.expertHidden = s.moe.experts.value_or(kDefaultExperts) >= 64 ? 16 : 32;
    t.twin = twin;
    return p;
}

// The layer list from first-k-dense, a sparse step and explicit dense layers.
// num_hidden_layers: each decoder layer is an attention and an FFN layer of the spec, so a
// project holds half of limits::kMaxLayers of them; checked before anything is built for them.
int decoderLayers(const Config& c) {
    const int n = c.req("num_hidden_layers");
    if (n > limits::kMaxLayers / 2) {
        c.error("num_hidden_layers", std::to_string(n) + " decoder layers make " + std::to_string(2LL * n) +
                                         " layers (attention and FFN); a project holds at most " + std::to_string(limits::kMaxLayers) +
                                         " (" + std::to_string(limits::kMaxLayers / 2) + " decoder layers)");
        return 1;
    }
    return n;
}

// Layer i (from 0) is MoE when i >= firstDense and (i + stepOffset) % sparseStep == 0: Qwen2-MoE's
// decoder_sparse_step counts from 1 (offset 1: layers step-1, 2 step-1, ...), DeepSeek's
// moe_layer_freq from 0 (offset 0: layers 0, freq, 2 freq, ... past the first dense ones).
std::vector<Layer> layerList(int n, int firstDense, int sparseStep, int stepOffset, const Json* mlpOnly, const Config& c) {
    std::vector<Layer> L(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
        auto& l = L[static_cast<size_t>(i)];
        l.moe = i >= firstDense && (sparseStep <= 1 || (i + stepOffset) % sparseStep == 0);
    }
    if (mlpOnly)
        for (size_t i = 0; i < mlpOnly->size(); ++i) {
            const Json& v = (*mlpOnly)[i];
            if (!v.is_number_integer() || v.get<long long>() < 0 || v.get<long long>() >= n)
                c.error("mlp_only_layers[" + std::to_string(i) + "]", "expected a layer index from 0 to " + std::to_string(n - 1));
            else L[static_cast<size_t>(v.get<int>())].moe = false;
        }
    return L;
}

// ---- [SECTION] families ---------------------------------------------------------------------------

using Family = std::function<void(const Config&, Shape&, std::vector<std::string>&)>;

void common(const Config& c, Shape& s) {
    s.dModel = c.req("hidden_size");
    s.vocab = c.req("vocab_size", 2);
    s.tied = c.optB("tie_word_embeddings", false);
    s.ropeTheta = c.optD("rope_theta", 10000.0);
    s.seqLen = std::clamp(c.opt("max_position_embeddings", 4096, 2, 1 << 30), 2, 4096);
}

void mixtral(const Config& c, Shape& s, std::vector<std::string>& notes) {
    common(c, s);
    const int heads = c.req("num_attention_heads");
    s.attention = standardAttention(heads, c.opt("num_key_value_heads", heads, 1), c.opt("head_dim", 0), s.dModel);
    s.moe = moeBlock(s.norm, c.req("num_local_experts"), c.req("num_experts_per_tok"), c.req("intermediate_size"), true);
    s.moe.losses.aux = c.optD("router_aux_loss_coef", 0.02);
    const int window = c.opt("sliding_window", 0, 0);
    s.layers.assign(static_cast<size_t>(decoderLayers(c)), Layer{true, window});
    (void)notes;
}

void qwenMoe(const Config& c, Shape& s, std::vector<std::string>& notes, bool qwen3) {
    common(c, s);
    const int heads = c.req("num_attention_heads");
    s.attention = standardAttention(heads, c.opt("num_key_value_heads", heads, 1), c.opt("head_dim", 0), s.dModel);
    s.attention.qkNorm = qwen3;  // Qwen3 normalises queries and keys per head
    s.attention.bias = qwen3 ? c.optB("attention_bias", false) : true;
    if (!qwen3) notes.push_back("Qwen2-MoE has biases on the query, key and value projections but not the output one; the spec's attention bias covers all four (d_model parameters per layer more)");
    const int hidden = c.req("moe_intermediate_size");
    s.moe = moeBlock(s.norm, c.req("num_experts"), c.req("num_experts_per_tok"), hidden, c.optB("norm_topk_prob", false));
    s.moe.losses.aux = c.optD("router_aux_loss_coef", 0.001);
    if (!qwen3) {
        const int shared = c.opt("shared_expert_intermediate_size", 0);
        if (shared > 0) {
            s.moe.sharedExperts = std::max(1, static_cast<int>(std::lround(static_cast<double>(shared) / hidden)));
            if (s.moe.sharedExperts * hidden != shared)
                notes.push_back("the shared expert's hidden width " + std::to_string(shared) + " is not a multiple of the routed experts' " +
                                std::to_string(hidden) + "; modelled as " + std::to_string(s.moe.sharedExperts) + " shared experts of " +
                                std::to_string(hidden));
            notes.push_back("the shared expert's sigmoid gate (d_model parameters per layer) is not modelled");
        }
    }
    s.dense.hidden = c.opt("intermediate_size", 4 * s.dModel, 1);
    s.dense.activation = Activation::Swiglu;
    s.dense.bias = false;
    const int window = c.optB("use_sliding_window", false) ? c.opt("sliding_window", 0, 0) : 0;
    const int n = decoderLayers(c);
    // Qwen2MoeDecoderLayer: MoE when layer_idx not in mlp_only_layers and (layer_idx + 1) %
    // decoder_sparse_step == 0 (transformers, models/qwen2_moe/modeling_qwen2_moe.py).
    s.layers = layerList(n, 0, c.opt("decoder_sparse_step", 1, 1), 1, c.list("mlp_only_layers"), c);
    for (auto& l : s.layers) l.window = window;
    if (window > 0) notes.push_back("sliding windows apply to every layer (max_window_layers is not modelled)");
}

void deepseek(const Config& c, Shape& s, std::vector<std::string>& notes) {
    common(c, s);
    AttentionSpec& a = s.attention;
    a.kind = AttentionKind::Mla;
    a.heads = c.req("num_attention_heads");
    a.causal = true;
    a.qLoraRank = c.opt("q_lora_rank", 0);
    a.kvLoraRank = c.req("kv_lora_rank");
    a.qkNopeHeadDim = c.req("qk_nope_head_dim");
    a.qkRopeHeadDim = c.req("qk_rope_head_dim", 0);
    a.vHeadDim = c.req("v_head_dim");
    a.bias = c.optB("attention_bias", false);
    const std::string scoring = c.optS("scoring_func", "softmax");
    s.moe = moeBlock(s.norm, c.req("n_routed_experts"), c.req("num_experts_per_tok"), c.req("moe_intermediate_size"), c.optB("norm_topk_prob", false));
    s.moe.sharedExperts = c.opt("n_shared_experts", 0);
    if (scoring == "sigmoid") {
        // DeepSeek-V3's auxiliary-loss-free balancing: a per-expert bias moved by gamma = 0.001.
        s.moe.router.kind = RouterKind::SigmoidBias;
        s.moe.router.biasUpdateRate = 0.001;
    } else if (scoring != "softmax")
        c.error("scoring_func", "\"" + scoring + "\" is not a scoring function the spec has (softmax, sigmoid)");
    s.moe.losses.aux = c.optD("aux_loss_alpha", 0.0);
    const int groups = c.opt("n_group", 1, 1), topkGroups = c.opt("topk_group", 1, 1);
    if (groups > 1) {
        s.moe.router.groups = groups;
        s.moe.router.topkGroups = topkGroups;
    }
    if (c.optS("topk_method", "") == "group_limited_greedy")
        notes.push_back("DeepSeek-V2's device-limited routing is modelled as group-limited routing over " + std::to_string(groups) + " groups");
    s.dense.hidden = c.req("intermediate_size");
    s.dense.activation = Activation::Swiglu;
    s.dense.bias = false;
    // DeepseekV2DecoderLayer: MoE when layer_idx >= first_k_dense_replace and layer_idx %
    // moe_layer_freq == 0 (https://huggingface.co/deepseek-ai/DeepSeek-V2/blob/main/modeling_deepseek.py).
    s.layers = layerList(decoderLayers(c), c.opt("first_k_dense_replace", 0), c.opt("moe_layer_freq", 1, 1), 0, nullptr, c);
    if (const int mtp = c.opt("num_nextn_predict_layers", 0); mtp > 0)
        notes.push_back(std::to_string(mtp) + " multi-token-prediction layer(s) are not part of the model (published totals leave them out)");
}

void glm(const Config& c, Shape& s, std::vector<std::string>& notes) {
    common(c, s);
    const int heads = c.req("num_attention_heads");
    s.attention = standardAttention(heads, c.opt("num_key_value_heads", heads, 1), c.opt("head_dim", 0), s.dModel);
    s.attention.qkNorm = c.optB("use_qk_norm", false);
    s.attention.bias = c.optB("attention_bias", false);
    if (s.attention.bias) notes.push_back("GLM-4.5 has biases on the query, key and value projections but not the output one; the spec's attention bias covers all four");
    if (c.optD("partial_rotary_factor", 1.0) < 1.0) notes.push_back("rotary positions cover part of each head (partial_rotary_factor); the spec rotates whole heads");
    s.moe = moeBlock(s.norm, c.req("n_routed_experts"), c.req("num_experts_per_tok"), c.req("moe_intermediate_size"), c.optB("norm_topk_prob", true));
    s.moe.sharedExperts = c.opt("n_shared_experts", 0);
    s.moe.router.kind = RouterKind::SigmoidBias;
    s.moe.router.biasUpdateRate = 0.001;
    const int groups = c.opt("n_group", 1, 1);
    if (groups > 1) {
        s.moe.router.groups = groups;
        s.moe.router.topkGroups = c.opt("topk_group", 1, 1);
    }
    s.dense.hidden = c.req("intermediate_size");
    s.dense.activation = Activation::Swiglu;
    s.dense.bias = false;
    s.layers = layerList(decoderLayers(c), c.opt("first_k_dense_replace", 0), 1, 0, nullptr, c);
    if (const int mtp = c.opt("num_nextn_predict_layers", 0); mtp > 0)
        notes.push_back(std::to_string(mtp) + " multi-token-prediction layer(s) are not part of the model");
}

void gptOss(const Config& c, Shape& s, std::vector<std::string>& notes) {
    common(c, s);
    const int heads = c.req("num_attention_heads");
    s.attention = standardAttention(heads, c.opt("num_key_value_heads", heads, 1), c.opt("head_dim", 0), s.dModel);
    s.attention.bias = c.optB("attention_bias", true);
    s.attention.sinks = true;
    s.moe = moeBlock(s.norm, c.req("num_local_experts"), c.reqAny({"num_experts_per_tok", "experts_per_token"}), c.req("intermediate_size"), true);
    s.moe.ffn.bias = true;
    s.moe.losses.aux = c.optD("router_aux_loss_coef", 0.9);
    notes.push_back("the router's bias (one per expert and layer) and the clamped SwiGLU (swiglu_limit) are not modelled");
    const int window = c.opt("sliding_window", 0, 0);
    const int n = decoderLayers(c);
    s.layers.assign(static_cast<size_t>(n), Layer{true, 0});
    if (const Json* types = c.list("layer_types")) {
        if (static_cast<int>(types->size()) != n) c.error("layer_types", "has " + std::to_string(types->size()) + " entries for " + std::to_string(n) + " layers");
        for (size_t i = 0; i < types->size() && i < s.layers.size(); ++i) {
            const Json& t = (*types)[i];
            if (t == "sliding_attention") s.layers[i].window = window;
            else if (t != "full_attention") c.error("layer_types[" + std::to_string(i) + "]", "expected \"sliding_attention\" or \"full_attention\"");
        }
    } else
        for (size_t i = 0; i < s.layers.size(); i += 2) s.layers[i].window = window;  // gpt-oss alternates, starting banded
}

void olmoe(const Config& c, Shape& s, std::vector<std::string>& notes) {
    common(c, s);
    const int heads = c.req("num_attention_heads");
    s.attention = standardAttention(heads, c.opt("num_key_value_heads", heads, 1), 0, s.dModel);
    s.attention.qkNorm = true;
    notes.push_back("OLMoE normalises queries and keys over the whole projection; the spec's qk_norm is per head (fewer norm weights)");
    if (c.has("clip_qkv")) notes.push_back("clip_qkv is not modelled");
    s.moe = moeBlock(s.norm, c.req("num_experts"), c.req("num_experts_per_tok"), c.req("intermediate_size"), c.optB("norm_topk_prob", false));
    s.moe.losses.aux = c.optD("router_aux_loss_coef", 0.01);
    s.moe.losses.z = c.optD("router_z_loss_coef", 0.001);
    s.layers.assign(static_cast<size_t>(decoderLayers(c)), Layer{true, 0});
}

void dbrx(const Config& c, Shape& s, std::vector<std::string>& notes) {
    s.dModel = c.req("d_model");
    s.vocab = c.req("vocab_size", 2);
    s.tied = c.optB("tie_word_embeddings", false);
    s.seqLen = std::clamp(c.opt("max_seq_len", 4096, 2, 1 << 30), 2, 4096);
    s.norm = NormKind::LayerNorm;
    const Config attn = c.child("attn_config"), ffn = c.child("ffn_config");
    s.ropeTheta = attn.optD("rope_theta", 10000.0);
    const int heads = c.req("n_heads");
    s.attention = standardAttention(heads, attn.opt("kv_n_heads", heads, 1), 0, s.dModel);
    if (attn.has("clip_qkv")) notes.push_back("clip_qkv is not modelled");
    notes.push_back("DBRX's LayerNorms have no bias; the spec's layernorm counts one (d_model parameters per norm)");
    s.moe = moeBlock(s.norm, ffn.req("moe_num_experts"), ffn.req("moe_top_k"), ffn.req("ffn_hidden_size"), true);
    s.moe.losses.aux = ffn.optD("moe_loss_weight", 0.01);
    s.layers.assign(static_cast<size_t>(c.req("n_layers")), Layer{true, 0});
}

const std::map<std::string, Family>& families() {
    static const std::map<std::string, Family> f = {
        {"mixtral", mixtral},
        {"qwen2_moe", [](const Config& c, Shape& s, std::vector<std::string>& n) { qwenMoe(c, s, n, false); }},
        {"qwen3_moe", [](const Config& c, Shape& s, std::vector<std::string>& n) { qwenMoe(c, s, n, true); }},
        {"deepseek_v2", deepseek},
        {"deepseek_v3", deepseek},
        {"kimi_k2", deepseek},
        {"gpt_oss", gptOss},
        {"olmoe", olmoe},
        {"dbrx", dbrx},
        {"glm4_moe", glm},
    };
    return f;
}

std::string nameFromFile(const std::string& fileName) {
    std::string base = fileName.substr(fileName.find_last_of("/\\") + 1);
    if (base.size() > 5 && base.substr(base.size() - 5) == ".json") base.resize(base.size() - 5);
    if (const auto dd = base.find("--"); dd != std::string::npos) base = base.substr(dd + 2);  // "org--Model"
    return base == "config" || base.empty() ? std::string() : base;
}

}  // namespace

const std::vector<std::string>& hfModelTypes() {
    static const std::vector<std::string> t = {"mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v2", "deepseek_v3",
                                               "kimi_k2", "gpt_oss",   "olmoe",     "dbrx",        "glm4_moe"};
    return t;
}

Result<HfImport> importHfConfig(const std::string& text, const std::string& fileName, const std::string& name) {
    Json j;
    try {
        j = Json::parse(text);
    } catch (const std::exception& e) {
        return Diagnostics{{"", std::string("not valid JSON: ") + e.what(), 0, 0, fileName}};
    }
    if (!j.is_object()) return Diagnostics{{"", "a config.json is a JSON object", 0, 0, fileName}};
    auto mt = j.find("model_type");
    if (mt == j.end() || !mt->is_string()) {
        std::string known;
        for (const auto& t : hfModelTypes()) known += (known.empty() ? "" : ", ") + t;
        return Diagnostics{{"model_type", "missing: a Hugging Face config names its family in model_type (read here: " + known + ")", 0, 0, fileName}};
    }
    const std::string type = mt->get<std::string>();
    auto fam = families().find(type);
    if (fam == families().end()) {
        std::string known;
        for (const auto& t : hfModelTypes()) known += (known.empty() ? "" : ", ") + t;
        return Diagnostics{{"model_type", "\"" + type + "\" is not a family this importer reads; it reads " + known, 0, 0, fileName}};
    }
    Diagnostics errs;
    Shape s;
    HfImport out;
    out.modelType = type;
    fam->second(Config(j, type, errs), s, out.notes);
    if (!errs.empty()) {
        for (auto& e : errs) e.file = fileName;
        return errs;
    }
    s.name = !name.empty() ? name : nameFromFile(fileName);
    if (s.name.empty()) s.name = type + " model";
    out.project = projectOf(s);
    out.project.description = "Imported from a Hugging Face config.json (model_type " + type + ").";
    // First the ranges a project file holds (a model beyond them would be saved as a project that
    // never opens again), then how its fields fit together.
    Diagnostics bad = validateLimits(out.project);
    const std::string why = bad.empty() ? "the imported model does not validate: " : "the imported model is beyond what a project holds: ";
    if (bad.empty()) bad = validateProject(out.project);
    if (!bad.empty()) {
        for (auto& e : bad) {
            e.message = why + e.message;
            e.file = fileName;
        }
        return bad;
    }
    return out;
}

// ---- [SECTION] export ------------------------------------------------------------------------------

namespace {

struct Flat {
    BlockSpec attention, moe;            // the first of each
    bool hasMoe = false;
    std::vector<Layer> layers;
    int firstDense = 0;
    FfnSpec dense;
    bool denseSeen = false;
};

// The model as a list of attention + FFN layers, or what keeps it from being one.
Result<Flat> transformerLayers(const ModelSpec& m) {
    Flat f;
    std::string error;
    const ModelSpec flat = m.flattened();
    const auto& b = flat.blocks;
    if (b.size() % 2 != 0) error = "the model is not a list of attention + feed-forward layers";
    for (size_t i = 0; error.empty() && i + 1 < b.size(); i += 2) {
        if (b[i].kind != BlockKind::Attention || (b[i + 1].kind != BlockKind::Moe && b[i + 1].kind != BlockKind::Dense)) {
            error = "layer " + std::to_string(i / 2) + " is not attention followed by a dense or moe block";
            break;
        }
        const bool moe = b[i + 1].kind == BlockKind::Moe;
        if (moe && !f.hasMoe) {
            f.moe = b[i + 1];
            f.hasMoe = true;
        }
        if (!moe) {
            if (!f.denseSeen) f.dense = b[i + 1].ffn;
            f.denseSeen = true;
        }
        if (i == 0) f.attention = b[i];
        f.layers.push_back({moe, b[i].attention.window});
    }
    if (error.empty() && !f.hasMoe) error = "the model has no moe layer";
    while (error.empty() && f.firstDense < static_cast<int>(f.layers.size()) && !f.layers[static_cast<size_t>(f.firstDense)].moe) ++f.firstDense;
    if (!error.empty()) return Diagnostics{{"model", error}};
    return f;
}

}  // namespace

Result<nlohmann::ordered_json> exportHfConfig(const Project& p, const std::string& requested) {
    const ModelSpec& m = p.model;
    if (m.stem.kind != StemKind::Embedding) return Diagnostics{{"model", "a Hugging Face language model starts from a token embedding; this model has a linear stem"}};
    auto fr = transformerLayers(m);
    if (!fr) return fr.errors();
    const Flat& f = fr.value();
    const AttentionSpec& a = f.attention.attention;
    const BlockSpec& e = f.moe;
    const int experts = e.experts.value_or(kDefaultExperts), k = e.router.k.value_or(kDefaultK);
    bool alternating = false;
    for (const auto& l : f.layers) alternating = alternating || l.window != f.layers.front().window;
    std::string type = requested;
    if (type.empty())
        type = a.kind == AttentionKind::Mla ? "deepseek_v3"
               : (a.sinks || alternating) ? "gpt_oss"
               : e.sharedExperts > 0      ? "qwen2_moe"
               : a.qkNorm                 ? "qwen3_moe"
                                          : "mixtral";
    if (!families().count(type)) {
        std::string known;
        for (const auto& t : hfModelTypes()) known += (known.empty() ? "" : ", ") + t;
        return Diagnostics{{"--type", "\"" + type + "\" is not a family this exporter writes; it writes " + known}};
    }
    const bool mla = a.kind == AttentionKind::Mla;
    const bool deepseekLike = type == "deepseek_v2" || type == "deepseek_v3" || type == "kimi_k2";
    if (mla != deepseekLike) return Diagnostics{{"--type", type + (mla ? " has no multi-head latent attention; use deepseek_v3" : " needs multi-head latent attention")}};
    const int n = static_cast<int>(f.layers.size());
    Json j;
    j["model_type"] = type;
    j["hidden_size"] = m.stem.dModel;
    j["num_hidden_layers"] = n;
    j["num_attention_heads"] = a.heads;
    j["vocab_size"] = m.stem.vocab;
    j["tie_word_embeddings"] = m.head.tied;
    j["rope_theta"] = m.stem.ropeTheta;
    j["max_position_embeddings"] = m.input.seqLen;
    if (!mla) {
        j["num_key_value_heads"] = a.kvHeads;
        j["head_dim"] = a.resolvedHeadDim(m.stem.dModel);
        j["attention_bias"] = a.bias;
    }
    if (type == "mixtral" || type == "gpt_oss" || type == "olmoe" || type == "dbrx") {
        if (f.firstDense > 0 || e.sharedExperts > 0)
            return Diagnostics{{"model", type + " has no dense layers or shared experts; this model has " +
                                             (f.firstDense > 0 ? std::to_string(f.firstDense) + " dense layer(s)" : std::to_string(e.sharedExperts) + " shared expert(s)")}};
    }
    if (type == "dbrx") {
        j.erase("hidden_size");
        j.erase("num_hidden_layers");
        j.erase("num_attention_heads");
        j.erase("num_key_value_heads");
        j.erase("head_dim");
        j.erase("attention_bias");
        j.erase("rope_theta");
        j.erase("max_position_embeddings");
        j["d_model"] = m.stem.dModel;
        j["n_layers"] = n;
        j["n_heads"] = a.heads;
        j["max_seq_len"] = m.input.seqLen;
        j["attn_config"] = {{"kv_n_heads", a.kvHeads}, {"rope_theta", m.stem.ropeTheta}};
        j["ffn_config"] = {{"ffn_hidden_size", e.ffn.hidden}, {"moe_num_experts", experts}, {"moe_top_k", k}, {"moe_loss_weight", e.losses.aux}};
        return j;
    }
    if (type == "mixtral" || type == "gpt_oss") {
        j["num_local_experts"] = experts;
        j["num_experts_per_tok"] = k;
        j["intermediate_size"] = e.ffn.hidden;
        j["router_aux_loss_coef"] = e.losses.aux;
        if (type == "gpt_oss") {
            int window = 0;
            Json types = Json::array();
            for (const auto& l : f.layers) {
                window = std::max(window, l.window);
                types.push_back(l.window > 0 ? "sliding_attention" : "full_attention");
            }
            j["sliding_window"] = window;
            j["layer_types"] = types;
        } else j["sliding_window"] = f.layers.front().window > 0 ? Json(f.layers.front().window) : Json(nullptr);
        return j;
    }
    if (type == "olmoe") {
        j["num_experts"] = experts;
        j["num_experts_per_tok"] = k;
        j["intermediate_size"] = e.ffn.hidden;
        j["norm_topk_prob"] = e.router.renormalize;
        j["router_aux_loss_coef"] = e.losses.aux;
        j["router_z_loss_coef"] = e.losses.z;
        return j;
    }
    if (type == "qwen2_moe" || type == "qwen3_moe") {
        j["num_experts"] = experts;
        j["num_experts_per_tok"] = k;
        j["moe_intermediate_size"] = e.ffn.hidden;
        j["norm_topk_prob"] = e.router.renormalize;
        j["router_aux_loss_coef"] = e.losses.aux;
        j["intermediate_size"] = f.denseSeen ? f.dense.hidden : 4 * m.stem.dModel;
        if (type == "qwen2_moe") j["shared_expert_intermediate_size"] = e.sharedExperts * e.ffn.hidden;
        else if (e.sharedExperts > 0) return Diagnostics{{"model", "qwen3_moe has no shared experts; use qwen2_moe"}};
        Json dense = Json::array();
        for (int i = 0; i < n; ++i)
            if (!f.layers[static_cast<size_t>(i)].moe) dense.push_back(i);
        j["mlp_only_layers"] = dense;
        j["decoder_sparse_step"] = 1;
        j["use_sliding_window"] = f.layers.front().window > 0;
        j["sliding_window"] = f.layers.front().window > 0 ? Json(f.layers.front().window) : Json(nullptr);
        return j;
    }
    // deepseek_v2, deepseek_v3, kimi_k2, glm4_moe
    j["n_routed_experts"] = experts;
    j["n_shared_experts"] = e.sharedExperts;
    j["num_experts_per_tok"] = k;
    j["moe_intermediate_size"] = e.ffn.hidden;
    j["intermediate_size"] = f.denseSeen ? f.dense.hidden : 4 * m.stem.dModel;
    j["first_k_dense_replace"] = f.firstDense;
    j["moe_layer_freq"] = 1;
    j["n_group"] = e.router.groups;
    j["topk_group"] = e.router.topkGroups;
    j["norm_topk_prob"] = e.router.renormalize;
    if (mla) {
        j["q_lora_rank"] = a.qLoraRank > 0 ? Json(a.qLoraRank) : Json(nullptr);
        j["kv_lora_rank"] = a.kvLoraRank;
        j["qk_nope_head_dim"] = a.qkNopeHeadDim;
        j["qk_rope_head_dim"] = a.qkRopeHeadDim;
        j["v_head_dim"] = a.vHeadDim;
        j["scoring_func"] = e.router.kind == RouterKind::SigmoidBias ? "sigmoid" : "softmax";
        j["topk_method"] = e.router.kind == RouterKind::SigmoidBias ? "noaux_tc" : "greedy";
        j["aux_loss_alpha"] = e.losses.aux;
    } else {
        j["use_qk_norm"] = a.qkNorm;
    }
    return j;
}

// ---- [SECTION] published counts ----------------------------------------------------------------------

std::string_view toString(CountConvention c) {
    switch (c) {
        case CountConvention::All: return "all parameters";
        case CountConvention::WithoutEmbedding: return "without the input embedding";
        case CountConvention::WithoutEmbeddingAndHead: return "without the embedding and the output head";
    }
    return "";
}

double parameterCount(const ModelFigures& f, CountConvention c, bool active) {
    double v = active ? f.activeParams : static_cast<double>(f.params);
    if (c != CountConvention::All) v -= static_cast<double>(f.stemParams);
    if (c == CountConvention::WithoutEmbeddingAndHead) v -= static_cast<double>(f.headParams);
    return v;
}

const std::vector<PublishedCounts>& publishedCounts() {
    using C = CountConvention;
    // Shapes: d_model, flattened layers (attention + FFN per decoder layer), routed experts, vocab.
    static const std::vector<PublishedCounts> t = {
        {"Mixtral-8x7B", "mixtral", 46.7e9, 0.1e9, C::All, 12.9e9, 0.1e9, C::All,
         "Mistral AI, 'Mixtral of experts', https://mistral.ai/news/mixtral-of-experts/ (46.7B total, 12.9B per token)", 4096, 64, 8, 32000},
        {"Qwen3-30B-A3B", "qwen3_moe", 30.5e9, 0.1e9, C::All, 3.3e9, 0.1e9, C::All,
         "Qwen, model card https://huggingface.co/Qwen/Qwen3-30B-A3B (30.5B in total, 3.3B activated; 29.9B non-embedding)", 2048, 96, 128, 151936},
        {"gpt-oss-20b", "gpt_oss", 20.91e9, 0.01e9, C::All, 3.61e9, 0.01e9, C::WithoutEmbedding,
         "OpenAI, 'gpt-oss-120b & gpt-oss-20b Model Card', arXiv:2508.10925, Table 1 (20.91B total, 3.61B active)", 2880, 48, 32, 201088},
        {"DeepSeek-V3", "deepseek_v3", 671e9, 1e9, C::All, 37e9, 1e9, C::WithoutEmbedding,
         "DeepSeek-AI, 'DeepSeek-V3 Technical Report', arXiv:2412.19437 (671B total, 37B activated per token; the MTP module apart)", 7168, 122, 256, 129280},
        {"DeepSeek-V2", "deepseek_v2", 236e9, 1e9, C::All, 21e9, 1e9, C::WithoutEmbedding,
         "DeepSeek-AI, 'DeepSeek-V2: A Strong, Economical, and Efficient Mixture-of-Experts Language Model', arXiv:2405.04434 (236B total, 21B activated)",
         5120, 120, 160, 102400},
        {"Kimi-K2", "kimi_k2", 1e12, 1e12, C::All, 32e9, 1e9, C::WithoutEmbedding,
         "Moonshot AI, model card https://huggingface.co/moonshotai/Kimi-K2-Instruct (1T total, 32B activated)", 7168, 122, 384, 163840},
        {"OLMoE-1B-7B", "olmoe", 6.9e9, 0.1e9, C::All, 1.3e9, 0.1e9, C::All,
         "Muennighoff et al., 'OLMoE: Open Mixture-of-Experts Language Models', arXiv:2409.02060 (6.9B total, 1.3B active)", 2048, 32, 64, 50304},
        {"DBRX", "dbrx", 132e9, 1e9, C::All, 36e9, 1e9, C::WithoutEmbedding,
         "Databricks, 'Introducing DBRX', https://www.databricks.com/blog/introducing-dbrx-new-state-art-open-llm (132B total, 36B active)", 6144, 80, 16,
         100352},
        {"GLM-4.5", "glm4_moe", 355e9, 1e9, C::All, 32e9, 1e9, C::WithoutEmbeddingAndHead,
         "GLM-4.5 Team, 'GLM-4.5: Agentic, Reasoning, and Coding (ARC) Foundation Models', arXiv:2508.06471 (355B total, 32B activated)", 5120, 184, 160,
         151552,
         "the released config gives 352.8B without its multi-token-prediction layer and 356.8B with it (one more decoder layer); 355B lies between"},
        {"Qwen1.5-MoE-A2.7B", "qwen2_moe", 14.3e9, 0.1e9, C::All, 2.7e9, 0.1e9, C::All,
         "Qwen, 'Qwen1.5-MoE: Matching 7B Model Performance with 1/3 Activated Parameters', https://qwenlm.github.io/blog/qwen-moe/ (14.3B total, 2.7B activated)",
         2048, 48, 60, 151936},
    };
    return t;
}

const PublishedCounts* findPublished(const ModelSpec& m) {
    const ModelSpec flat = m.flattened();
    int experts = 0;
    for (int i = 0; i < static_cast<int>(flat.blocks.size()) && experts == 0; ++i) experts = flat.expertsOf(i);
    const int vocab = m.stem.kind == StemKind::Embedding ? m.stem.vocab : 0;
    for (const auto& p : publishedCounts())
        if (p.dModel == m.stem.dModel && p.layers == flat.layerCount() && p.experts == experts && p.vocab == vocab) return &p;
    return nullptr;
}

}  // namespace moe::spec
