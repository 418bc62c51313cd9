#pragma once
// The model spec: plain data describing an MoE network. Everything downstream (trainer, canvas,
// simulator) reads these types; nothing here knows about LibTorch, Qt Widgets or Vulkan.
//
// [SECTION] enums and their names
// [SECTION] input, stem, head
// [SECTION] blocks: experts, routers, capacity, losses
// [SECTION] attention and layer groups
// [SECTION] ModelSpec (with the capacity schedules)

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "moe/spec/schedule.h"

namespace moe::spec {

// ---- [SECTION] enums and their names ---------------------------------------------------------

// Text: causal language modelling on a UTF-8 corpus, one byte per token (vocab 256).
enum class DatasetKind { FashionMnist, Blobs, Spirals, Circles, Xor, ClusteredTokens, Text };
enum class TokenMode { Sample, Patches };
// Swiglu and Geglu are gated FFNs (three matrices: gate, up, down); the others are plain.
enum class Activation { Relu, Gelu, Silu, Tanh, Swiglu, Geglu };
enum class NormKind { None, LayerNorm, RmsNorm };
// Group: a sequence of blocks repeated `repeat` times (a transformer layer = attention + FFN/MoE).
enum class BlockKind { Dense, Moe, Attention, Group };
// Mha/Gqa/Mqa differ in key/value heads (heads, fewer, one); Mla is DeepSeek's latent attention.
enum class AttentionKind { Mha, Gqa, Mqa, Mla };
// Linear: a projection of each token's features (MLP, ViT patches); Embedding: a token table.
enum class StemKind { Linear, Embedding };
// How positions enter: none, a learned table added after the stem, or rotary in each attention.
enum class PositionKind { None, Learned, Rope };
enum class RouterKind { TopK, ExpertChoice, Dynamic, Unified, Hash, Sinkhorn, SigmoidBias };
enum class DropPolicy { Probs, Position };

// Names as written in project files; one table per enum lives in names.cpp.
std::string_view toString(DatasetKind v);
std::string_view toString(TokenMode v);
std::string_view toString(Activation v);
std::string_view toString(NormKind v);
std::string_view toString(BlockKind v);
std::string_view toString(RouterKind v);
std::string_view toString(DropPolicy v);
std::string_view toString(AttentionKind v);
std::string_view toString(StemKind v);
std::string_view toString(PositionKind v);

bool isGated(Activation a);  // swiglu, geglu

// ---- [SECTION] input, stem, head -------------------------------------------------------------

struct InputSpec {
    DatasetKind dataset = DatasetKind::Blobs;
    TokenMode tokens = TokenMode::Sample;  // Sample: one token per sample; Patches: image patches
    int patch = 7;          // patch side in pixels (Patches only; must divide 28)
    int classes = 4;        // blobs: number of blobs; clustered: clusters; fixed for the others
    int dims = 16;          // clustered tokens: feature dimensions (2-D sets are always 2)
    double noise = 0.1;     // synthetic sets: gaussian noise (std dev, in data units)
    // Text only: the corpus ("fortunes": Debian's fortunes package; else a UTF-8 file path,
    // relative paths from the project file's folder) and the tokens per training sequence.
    std::string corpus = "fortunes";
    int seqLen = 128;

    // Derived shape of what reaches the stem.
    int sampleFeatures() const;  // features of one whole sample (784 for Fashion-MNIST; text: seqLen bytes)
    int tokensPerSample() const; // 1, (28/patch)^2, or seqLen for text
    int tokenDim() const;        // features of one token (text: 1, the byte id)
    int numClasses() const;      // label count (text: 256, the next byte)
    bool isText() const { return dataset == DatasetKind::Text; }
};

// Written as "stem" (Linear) or "embedding" (Embedding) in project files.
struct StemSpec {
    StemKind kind = StemKind::Linear;
    int dModel = 32;                  // width of the residual stream
    Activation activation = Activation::Gelu;  // Linear only (never gated)
    int vocab = 256;                  // Embedding only: rows of the token table
    PositionKind positions = PositionKind::None;
    double ropeTheta = 10000.0;       // Rope only: base of the rotary frequencies
    int maxPositions = 0;             // Learned only: table rows; 0 = tokens per sample
};

struct HeadSpec {
    // Classification: tokens of a sample are mean-pooled, then one Linear(dModel -> classes).
    // Text (language modelling): every position predicts the next token, Linear(dModel -> vocab).
    NormKind norm = NormKind::LayerNorm;
    bool tied = false;                // LM head shares the embedding table (Embedding stem only)
};

// ---- [SECTION] blocks ------------------------------------------------------------------------

struct FfnSpec {
    int hidden = 64;                  // hidden width of Linear(d->hidden) -> act -> Linear(hidden->d)
    Activation activation = Activation::Gelu;  // gated: down(act(gate(x)) * up(x)), three matrices
    bool bias = true;                 // Linear biases; project files default to false when gated
};

// MoE++ zero-computation experts: they sit in the routed pool next to the FFN experts.
struct ZeroExpertsSpec {
    int zero = 0;      // outputs 0
    int copy = 0;      // outputs its input
    int constant = 0;  // a learned mix of its input and a learned vector
    int total() const { return zero + copy + constant; }
};

struct RouterSpec {
    RouterKind kind = RouterKind::TopK;
    std::optional<int> k;             // experts per token; empty: from the k schedule (default 2)
    double temperature = 1.0;         // softmax temperature (topk, dynamic, sinkhorn)
    double noise = 0.0;               // std dev of gaussian jitter added to logits while training
    bool renormalize = true;          // renormalise the chosen gates to sum to 1
    double capacityFactor = 1.0;      // expert_choice: each expert takes factor x tokens / experts
    double tau = 0.5;                 // dynamic: percentile threshold in (0, 1)
    int minExperts = 1;               // dynamic: at least this many experts per token
    int maxExperts = 4;               // dynamic: at most this many experts per token
    double alpha = 0.5;               // unified: weight of softmax vs sigmoid scores, [0, 1]
    int iterations = 3;               // sinkhorn: normalisation rounds
    double biasUpdateRate = 1e-3;     // sigmoid_bias: bias step toward balance after each step
    // Group-limited routing (DeepSeek-V2/V3; topk and sigmoid_bias): the routed experts form
    // `groups` equal groups and a token picks its k experts from its best `topkGroups` groups.
    int groups = 1;                   // 1: no grouping
    int topkGroups = 1;
};

struct CapacitySpec {
    bool dropless = true;             // no capacity limit: nothing is dropped
    double factor = 1.25;             // capacity = ceil(factor x tokens x k / experts)
    DropPolicy dropPolicy = DropPolicy::Probs;  // which overflow tokens drop: lowest gate / latest
};

struct LossSpec {
    double aux = 0.01;                // load-balancing coefficient (experts x sum f_i P_i)
    double z = 0.0;                   // router z-loss coefficient
};

// ---- [SECTION] attention and layer groups ----------------------------------------------------

// Self-attention over the tokens of a sample. Projections are bias-free unless `bias`.
struct AttentionSpec {
    AttentionKind kind = AttentionKind::Mha;
    int heads = 4;
    int kvHeads = 4;                  // key/value heads: = heads (MHA), divides heads (GQA), 1 (MQA)
    int headDim = 0;                  // 0: d_model / heads
    bool causal = true;               // a token attends to itself and earlier tokens only
    bool qkNorm = false;              // RMSNorm on queries and keys per head (OLMoE, Qwen3)
    int window = 0;                   // sliding window in tokens; 0 = the whole context
    bool bias = false;
    bool sinks = false;               // a learned logit per head that takes a share of the softmax (gpt-oss)
    // MLA (DeepSeek-V2/V3): queries (optionally through a low-rank q_lora_rank) and a shared
    // compressed key/value latent of kv_lora_rank plus a decoupled rotary key of qk_rope_head_dim.
    int qLoraRank = 0;                // 0: queries projected directly from d_model
    int kvLoraRank = 64;
    int qkNopeHeadDim = 32;
    int qkRopeHeadDim = 16;
    int vHeadDim = 32;

    int resolvedHeadDim(int dModel) const { return headDim > 0 ? headDim : dModel / heads; }
};

struct BlockSpec {
    BlockKind kind = BlockKind::Moe;
    NormKind norm = NormKind::LayerNorm;  // pre-norm
    bool residual = true;
    FfnSpec ffn;                      // dense block's FFN, or each FFN expert's
    // MoE only
    std::optional<int> experts;       // routed FFN experts; empty: from the experts schedule
    ZeroExpertsSpec zeroExperts;
    int sharedExperts = 0;            // FFN experts every token also goes through
    RouterSpec router;
    CapacitySpec capacity;
    LossSpec losses;
    // Attention only
    AttentionSpec attention;
    // Group only: `children` (dense, moe and attention blocks; groups do not nest) repeated
    // `repeat` times. In the first `firstDense` repeats every moe child becomes a dense block
    // with `denseFfn` (DeepSeek's "first k layers dense").
    int repeat = 1;
    int firstDense = 0;
    FfnSpec denseFfn;
    std::vector<BlockSpec> children;
    std::string label;                // optional display name
};

// Where a layer of the flattened model comes from in the authored block list.
struct LayerOrigin {
    int block = 0;     // index in ModelSpec::blocks
    int repeat = 0;    // which repeat of a group (0 for a plain block)
    int child = -1;    // index in the group's children; -1 for a plain block
};

// The resolved counts of one layer of the flattened model (all 0, moeIndex -1, for a layer that
// is not an MoE layer).
struct LayerCounts {
    int moeIndex = -1;  // index among the MoE layers
    int experts = 0;    // routed FFN experts: the block's own or from the experts schedule
    int k = 0;          // the block's own k or from the k schedule
    int routed = 0;     // experts plus zero-computation experts
};

// ---- [SECTION] ModelSpec ---------------------------------------------------------------------

struct ModelSpec {
    std::string name;
    InputSpec input;
    StemSpec stem;
    std::vector<BlockSpec> blocks;    // as authored: may hold groups
    HeadSpec head;
    // Schedules spread routed experts (and k) over the MoE layers of the flattened model, by
    // their index among MoE layers. A block's explicit `experts` / `router.k` wins.
    std::optional<Schedule> expertSchedule;
    std::optional<Schedule> kSchedule;

    // Groups expanded into their layers, in order (first_dense applied); a spec without groups
    // is returned as it is. Everything that builds, counts, records or prices layers (trainer,
    // figures, telemetry block indices, simulator) works on the flattened model; the canvas and
    // the inspector edit the authored blocks.
    bool hasGroups() const;
    ModelSpec flattened() const;
    std::vector<LayerOrigin> layerOrigins() const;  // one per flattened layer

    // The index functions below take indices of the flattened model's layers (the same as
    // `blocks` when there are no groups).
    int layerCount() const;
    int moeBlockCount() const;
    // Index of block b among the MoE blocks, or -1 for a dense block.
    int moeIndex(int block) const;
    // Resolved routed-FFN expert count and k of block b (0 for dense blocks).
    int expertsOf(int block) const;
    int kOf(int block) const;
    // All routed experts: FFN experts plus zero-computation experts.
    int routedExpertsOf(int block) const;
    // The counts above for every flattened layer at once: one walk of the model, where calling
    // the functions above for each layer walks it once per layer.
    std::vector<LayerCounts> layerCounts() const;
};

// The layers `blocks` make once their groups are expanded, counted without expanding them (a
// group's repeat times its children), so a hostile repeat costs nothing to measure.
std::int64_t countLayers(const std::vector<BlockSpec>& blocks);

inline constexpr int kDefaultExperts = 4;
inline constexpr int kDefaultK = 2;

}  // namespace moe::spec
