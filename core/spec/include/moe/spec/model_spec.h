#pragma once
// The model spec: plain data describing an MoE network. Everything downstream (trainer, canvas,
// simulator) reads these types; nothing here knows about LibTorch, Qt Widgets or Vulkan.
//
// [SECTION] enums and their names
// [SECTION] input, stem, head
// [SECTION] blocks: experts, routers, capacity, losses
// [SECTION] ModelSpec (with the capacity schedules)

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "moe/spec/schedule.h"

namespace moe::spec {

// ---- [SECTION] enums and their names ---------------------------------------------------------

enum class DatasetKind { FashionMnist, Blobs, Spirals, Circles, Xor, ClusteredTokens };
enum class TokenMode { Sample, Patches };
enum class Activation { Relu, Gelu, Silu, Tanh };
enum class NormKind { None, LayerNorm, RmsNorm };
enum class BlockKind { Dense, Moe };
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

// ---- [SECTION] input, stem, head -------------------------------------------------------------

struct InputSpec {
    DatasetKind dataset = DatasetKind::Blobs;
    TokenMode tokens = TokenMode::Sample;  // Sample: one token per sample; Patches: image patches
    int patch = 7;          // patch side in pixels (Patches only; must divide 28)
    int classes = 4;        // blobs: number of blobs; clustered: clusters; fixed for the others
    int dims = 16;          // clustered tokens: feature dimensions (2-D sets are always 2)
    double noise = 0.1;     // synthetic sets: gaussian noise (std dev, in data units)

    // Derived shape of what reaches the stem.
    int sampleFeatures() const;  // features of one whole sample (784 for Fashion-MNIST)
    int tokensPerSample() const; // 1, or (28/patch)^2
    int tokenDim() const;        // features of one token
    int numClasses() const;      // label count
};

struct StemSpec {
    int dModel = 32;                  // width of the residual stream
    Activation activation = Activation::Gelu;
};

struct HeadSpec {
    // Tokens of a sample are mean-pooled, then one Linear(dModel -> classes).
    NormKind norm = NormKind::LayerNorm;
};

// ---- [SECTION] blocks ------------------------------------------------------------------------

struct FfnSpec {
    int hidden = 64;                  // hidden width of Linear(d->hidden) -> act -> Linear(hidden->d)
    Activation activation = Activation::Gelu;
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
    std::string label;                // optional display name
};

// ---- [SECTION] ModelSpec ---------------------------------------------------------------------

struct ModelSpec {
    std::string name;
    InputSpec input;
    StemSpec stem;
    std::vector<BlockSpec> blocks;
    HeadSpec head;
    // Schedules spread routed experts (and k) over the MoE blocks, by their index among MoE
    // blocks. A block's explicit `experts` / `router.k` wins over the schedule.
    std::optional<Schedule> expertSchedule;
    std::optional<Schedule> kSchedule;

    int moeBlockCount() const;
    // Index of block b among the MoE blocks, or -1 for a dense block.
    int moeIndex(int block) const;
    // Resolved routed-FFN expert count and k of block b (0 for dense blocks).
    int expertsOf(int block) const;
    int kOf(int block) const;
    // All routed experts: FFN experts plus zero-computation experts.
    int routedExpertsOf(int block) const;
};

inline constexpr int kDefaultExperts = 4;
inline constexpr int kDefaultK = 2;

}  // namespace moe::spec
