#pragma once
// The LibTorch model built from a ModelSpec. Private to core/train (and its white-box tests):
// nothing outside core/train includes LibTorch.
//
// [SECTION] routing decisions and the dispatch/combine seam
// [SECTION] routers
// [SECTION] experts and blocks
// [SECTION] the network

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "moe/spec/model_spec.h"

namespace moe::train::detail {

// ---- [SECTION] routing decisions and the dispatch/combine seam -------------------------------

// One MoE block's routing of T tokens over E routed experts. A token has K slots; slot s of token
// t sends it to expertIdx[t][s] with weight gates[t][s], or nowhere when expertIdx is -1 (an
// unused slot of a variable-k router, or an assignment dropped by capacity).
struct Routing {
    torch::Tensor logits;     // [T,E] raw router logits; undefined for routers without weights
    torch::Tensor probs;      // [T,E] router probabilities (rows sum to 1): aux loss and telemetry
    torch::Tensor expertIdx;  // [T,K] int64, -1 for none
    torch::Tensor gates;      // [T,K] differentiable weights, 0 where expertIdx is -1
    torch::Tensor rankFirst;  // [T] int64, the expert the router ranks first (routing maps)
    torch::Tensor wanted;     // [E] assignments per expert before capacity (aux loss, bias update)
    std::int64_t dropped = 0; // assignments dropped by capacity
};

// Gathers the tokens per expert and scatters the weighted expert outputs back. This is the seam
// where the kernels' autograd ops (moe::kernels::torch_ops::permute / unpermuteCombine, same
// signatures) replace the plain LibTorch versions in dispatch.cpp.
struct Permuted {
    torch::Tensor tokens;   // [S,d] token copies grouped by expert (expert 0 first)
    torch::Tensor offsets;  // [E+1] int64: expert e owns rows offsets[e] .. offsets[e+1]
    torch::Tensor slotOf;   // [T,K] int64: row of `tokens` holding slot (t,k), -1 when unused
};
Permuted permute(const torch::Tensor& x, const torch::Tensor& expertIdx, std::int64_t experts);
torch::Tensor unpermuteCombine(const torch::Tensor& y, const torch::Tensor& slotOf, const torch::Tensor& gates, std::int64_t tokens);

// The MoE blocks call dispatchPermute / dispatchCombine, which run either the plain versions
// above or, when core/train is built with the kernels module, moe::kernels::torch_ops (same
// signatures, faster autograd ops). Kernels are the default when built; the bench and the tests
// switch between the two.
enum class DispatchImpl { Plain, Kernels };
bool kernelsBuilt();
void setDispatchImpl(DispatchImpl impl);  // Kernels falls back to Plain when they are not built
DispatchImpl dispatchImpl();
Permuted dispatchPermute(const torch::Tensor& x, const torch::Tensor& expertIdx, std::int64_t experts);
torch::Tensor dispatchCombine(const torch::Tensor& y, const torch::Tensor& slotOf, const torch::Tensor& gates, std::int64_t tokens);

// Capacity: an expert keeps at most ceil(factor x assignments / E) of its assignments (for a
// fixed-k router that is the usual ceil(factor x T x k / E)); the others are dropped (set to -1)
// by lowest gate (`probs`) or, for `position`, first choices before second choices and earlier
// tokens before later ones. Returns the capacity used.
std::int64_t applyCapacity(Routing& r, std::int64_t experts, double factor, moe::spec::DropPolicy policy);
// The assignments applyCapacity drops, as a flat [T*K] bool mask (no gradient); fills capacityOut.
torch::Tensor dropMask(const Routing& r, std::int64_t experts, double factor, moe::spec::DropPolicy policy, std::int64_t& capacityOut);

// ---- [SECTION] routers -----------------------------------------------------------------------

struct RouteContext {
    bool training = false;
    const torch::Tensor* tokenIds = nullptr;  // [T] int64 content ids (hash router)
    std::optional<at::Generator> generator;   // router noise
};

class RouterImpl : public torch::nn::Module {
public:
    RouterImpl(const moe::spec::RouterSpec& spec, int dModel, int experts, int k);
    Routing forward(const torch::Tensor& x, const RouteContext& ctx);
    // sigmoid_bias: nudge each expert's bias toward balance after an optimizer step.
    void updateBias();
    bool hasWeights() const { return static_cast<bool>(m_linear); }
    torch::nn::Linear& linear() { return m_linear; }
    const moe::spec::RouterSpec& spec() const { return m_spec; }
    int experts() const { return m_experts; }

private:
    moe::spec::RouterSpec m_spec;
    int m_experts;
    int m_k;
    torch::nn::Linear m_linear{nullptr};
    torch::Tensor m_bias;      // sigmoid_bias: per-expert selection bias (a buffer, not learned)
    torch::Tensor m_lastLoad;  // sigmoid_bias: wanted load of the last training forward
};
TORCH_MODULE(Router);

// ---- [SECTION] experts and blocks ------------------------------------------------------------

torch::Tensor activate(const torch::Tensor& x, moe::spec::Activation a);

class FfnImpl : public torch::nn::Module {
public:
    FfnImpl(int d, const moe::spec::FfnSpec& spec);
    torch::Tensor forward(const torch::Tensor& x);
    torch::nn::Linear fc1{nullptr}, fc2{nullptr};
    moe::spec::Activation act;
};
TORCH_MODULE(Ffn);

// MoE++ constant expert: a learned mix of the input and a learned vector, weights from Linear(d,2).
class ConstantExpertImpl : public torch::nn::Module {
public:
    explicit ConstantExpertImpl(int d);
    torch::Tensor forward(const torch::Tensor& x);
    torch::Tensor vec;
    torch::nn::Linear mix{nullptr};
};
TORCH_MODULE(ConstantExpert);

class RmsNormImpl : public torch::nn::Module {
public:
    explicit RmsNormImpl(int d);
    torch::Tensor forward(const torch::Tensor& x);
    torch::Tensor weight;
};
TORCH_MODULE(RmsNorm);

class NormImpl : public torch::nn::Module {
public:
    NormImpl(moe::spec::NormKind kind, int d);
    torch::Tensor forward(const torch::Tensor& x);

private:
    torch::nn::LayerNorm m_ln{nullptr};
    RmsNorm m_rms{nullptr};
};
TORCH_MODULE(Norm);

// What a block remembers of its last forward (detached where it matters), for losses, telemetry
// and the divergence report.
struct BlockRecord {
    Routing routing;
    torch::Tensor input;     // [T,d] normed block input, detached (similarity probe)
    torch::Tensor aux;       // scalar, differentiable, unscaled
    torch::Tensor z;         // scalar, differentiable, unscaled
    std::int64_t capacity = -1;
};

class BlockImpl : public torch::nn::Module {
public:
    BlockImpl(const moe::spec::ModelSpec& m, int index);
    torch::Tensor forward(const torch::Tensor& x, const RouteContext& ctx);

    bool isMoe() const { return m_moe; }
    int index() const { return m_index; }
    const moe::spec::BlockSpec& spec() const { return m_spec; }
    int ffnExperts() const { return static_cast<int>(m_experts.size()); }
    int routedExperts() const { return m_routed; }
    Router& router() { return m_router; }
    // Runs one routed FFN expert (similarity probe).
    torch::Tensor runExpert(int e, const torch::Tensor& x) { return m_experts[static_cast<size_t>(e)]->forward(x); }
    const BlockRecord& last() const { return m_last; }

private:
    torch::Tensor moeForward(const torch::Tensor& h, const RouteContext& ctx);
    // Runs every routed expert on its slice of the permuted tokens; rows stay in the same order.
    torch::Tensor runExperts(const Permuted& p);

    moe::spec::BlockSpec m_spec;
    int m_index;
    bool m_moe;
    int m_k = 0;
    int m_routed = 0;
    Norm m_norm{nullptr};
    Ffn m_ffn{nullptr};                          // dense block
    Router m_router{nullptr};
    std::vector<Ffn> m_experts;                  // routed FFN experts: columns [0, F)
    std::vector<ConstantExpert> m_constants;     // columns after the zero and copy experts
    std::vector<Ffn> m_shared;
    BlockRecord m_last;
};
TORCH_MODULE(Block);

// ---- [SECTION] the network -------------------------------------------------------------------

class MoeNetImpl : public torch::nn::Module {
public:
    explicit MoeNetImpl(const moe::spec::ModelSpec& m);
    // x: [B, sampleFeatures] -> class logits [B, classes]. Stops after block `stopAfter` when it
    // is >= 0 (routing maps only need the routers up to a block) and then returns undefined.
    torch::Tensor forward(const torch::Tensor& x, const RouteContext& ctx, int stopAfter = -1);
    // Splits samples into tokens: [B, F] -> [B, P, tokenDim].
    torch::Tensor tokenize(const torch::Tensor& x) const;
    // Content ids of tokens for the hash router: [B*P] int64.
    torch::Tensor tokenIds(const torch::Tensor& tokens) const;
    // Sum over MoE blocks of aux x coefficient + z x coefficient from the last forward.
    torch::Tensor routingLoss() const;
    void afterOptimizerStep();
    std::vector<Block>& blocks() { return m_blocks; }
    const moe::spec::ModelSpec& spec() const { return m_spec; }
    std::int64_t parameterCount() const;

private:
    moe::spec::ModelSpec m_spec;
    torch::nn::Linear m_stem{nullptr};
    std::vector<Block> m_blocks;
    Norm m_headNorm{nullptr};
    torch::nn::Linear m_head{nullptr};
    torch::Tensor m_hashWeights;  // [tokenDim] int64 multipliers for content ids
    bool m_needsIds = false;
};
TORCH_MODULE(MoeNet);

}  // namespace moe::train::detail
