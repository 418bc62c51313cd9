#pragma once
// The LibTorch model built from a ModelSpec. Private to core/train (and its white-box tests):
// nothing outside core/train includes LibTorch.
//
// [SECTION] routing decisions and the dispatch/combine seam
// [SECTION] linear layers
// [SECTION] routers
// [SECTION] layers: activations, norms, FFNs, rotary positions
// [SECTION] attention
// [SECTION] blocks
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
    // Routed over a BatchGroup: the rows are every rank's tokens (rank order) and this rank's
    // tokens start here; 0 in one process.
    std::int64_t rowBegin = 0;
};

// This rank's rows [begin, begin + count) of a routing over every rank's tokens; `before` is the
// expert choice of those rows before capacity (wanted and dropped count them).
Routing localRows(const Routing& r, const torch::Tensor& before, std::int64_t count);

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

// ---- [SECTION] linear layers -----------------------------------------------------------------

// torch::nn::Linear whose forward takes the fused CPU path (cpu_fused.h) where it applies. Same
// parameters ("weight", "bias"), so checkpoints do not change.
class LinearImpl : public torch::nn::LinearImpl {
public:
    using torch::nn::LinearImpl::LinearImpl;
    torch::Tensor forward(const torch::Tensor& x);
};
TORCH_MODULE(Linear);

Linear makeLinear(int in, int out, bool bias);

// x w^T + b: the fused CPU path where it applies, LibTorch's linear elsewhere.
torch::Tensor applyLinear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b = {});

// ---- [SECTION] routers -----------------------------------------------------------------------

// Data parallel: the ranks that share one global batch, each holding a contiguous run of its
// rows in rank order. The routers take their batch-wide decisions (capacity, expert choice,
// unified's batch top-k, Sinkhorn balancing, sigmoid_bias loads) and the aux and z losses over
// every rank's rows, so a data parallel step routes exactly as one process on the whole batch.
class BatchGroup {
public:
    virtual ~BatchGroup() = default;
    virtual int size() const = 0;
    // First row of this rank's tokens in the current step's global batch.
    virtual std::int64_t rowBegin() const = 0;
    // Rows rank `rank` holds in the current step.
    virtual std::int64_t rowsOf(int rank) const = 0;
    // Every rank's rows of `local` in rank order. This rank's rows are `local` itself (its
    // gradient flows through them); the other ranks' rows are constants.
    virtual torch::Tensor gatherRows(const torch::Tensor& local) = 0;
    // A loss term computed over every rank's rows: the same value, its gradient (which reaches
    // only this rank's rows) scaled by the number of ranks, since the gradient all-reduce averages.
    torch::Tensor wholeBatchTerm(const torch::Tensor& t) const { return t + static_cast<double>(size() - 1) * (t - t.detach()); }
};

// Expert parallel: groups of consecutive ranks of a batch group share each MoE block's routed FFN
// experts, rank r of a group holding the contiguous run expertsOf(F, r) of them (sizes differing by
// at most one). A token goes to the rank of its expert in its own group and its output comes back,
// by two all-to-alls with per-rank row counts taken from the batch-wide routing; the zero, copy
// and constant experts and the shared experts run on every rank.
class ExpertGroup {
public:
    virtual ~ExpertGroup() = default;
    virtual int size() const = 0;
    virtual int rank() const = 0;
    // The batch group's rank of this group's rank 0 (groups are consecutive ranks).
    virtual int firstRank() const = 0;
    // The routed FFN experts [first, last) of a block with `ffnExperts` that rank `r` holds.
    std::pair<int, int> expertsOf(int ffnExperts, int r) const {
        return {static_cast<int>(static_cast<long long>(ffnExperts) * r / size()), static_cast<int>(static_cast<long long>(ffnExperts) * (r + 1) / size())};
    }
    // Sends send[j] rows of `rows` (grouped by destination rank, in rank order) to each rank j and
    // returns what every rank sent here (recv[j] rows from rank j, in rank order). Differentiable:
    // the backward pass is the reverse exchange. `block` is the layer and `dispatch` says whether
    // the rows are tokens going to their experts (else outputs coming back), for the record.
    virtual torch::Tensor exchange(const torch::Tensor& rows, const std::vector<std::int64_t>& send, const std::vector<std::int64_t>& recv,
                                   int block, bool dispatch) = 0;
    // Seconds this rank spent running its experts in `block`'s forward pass.
    virtual void addExpertSeconds(int block, double seconds) = 0;
};

struct RouteContext {
    bool training = false;
    const torch::Tensor* tokenIds = nullptr;  // [T] int64 content ids (hash router)
    std::optional<at::Generator> generator;   // router noise
    // Tokens per sample: blocks see [B*seqLen, d] and attention regroups them into sequences.
    // 0: the whole batch is one sequence.
    std::int64_t seqLen = 0;
    BatchGroup* group = nullptr;  // data parallel training steps only; evaluation routes alone
    ExpertGroup* experts = nullptr;  // expert parallel training steps only (needs `group`)
};

class RouterImpl : public torch::nn::Module {
public:
    RouterImpl(const moe::spec::RouterSpec& spec, int dModel, int experts, int k);
    Routing forward(const torch::Tensor& x, const RouteContext& ctx);
    // sigmoid_bias: nudge each expert's bias toward balance after an optimizer step.
    void updateBias();
    bool hasWeights() const { return static_cast<bool>(m_linear); }
    Linear& linear() { return m_linear; }
    const moe::spec::RouterSpec& spec() const { return m_spec; }
    int experts() const { return m_experts; }

private:
    // Group-limited routing: `select` with the experts outside each token's best groups masked.
    torch::Tensor limitGroups(const torch::Tensor& select) const;

    moe::spec::RouterSpec m_spec;
    int m_experts;
    int m_k;
    Linear m_linear{nullptr};
    torch::Tensor m_bias;      // sigmoid_bias: per-expert selection bias (a buffer, not learned)
    torch::Tensor m_lastLoad;  // sigmoid_bias: wanted load of the last training forward
};
TORCH_MODULE(Router);

// ---- [SECTION] layers: activations, norms, FFNs, rotary positions ---------------------------

torch::Tensor activate(const torch::Tensor& x, moe::spec::Activation a);

// Plain: fc2(act(fc1 x)). Gated (swiglu, geglu): down(act(gate x) * up x). Biases per spec.bias.
class FfnImpl : public torch::nn::Module {
public:
    FfnImpl(int d, const moe::spec::FfnSpec& spec);
    torch::Tensor forward(const torch::Tensor& x);
    // Its linear layers in order: fc1, fc2, or gate, up, down.
    std::vector<Linear*> layers();
    Linear fc1{nullptr}, fc2{nullptr};               // plain
    Linear gate{nullptr}, up{nullptr}, down{nullptr};  // gated
    moe::spec::Activation act;
};
TORCH_MODULE(Ffn);

// MoE++ constant expert: a learned mix of the input and a learned vector, weights from Linear(d,2).
class ConstantExpertImpl : public torch::nn::Module {
public:
    explicit ConstantExpertImpl(int d);
    torch::Tensor forward(const torch::Tensor& x);
    torch::Tensor vec;
    Linear mix{nullptr};
};
TORCH_MODULE(ConstantExpert);

// RMSNorm over the last dimension, d learned scales.
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

// Rotary position embedding (RoFormer, Su et al. 2021, arXiv:2104.09864) in the half-split
// layout (dimension i pairs with i + dim/2, as GPT-NeoX and Llama): x [B, H, P, dim], positions
// 0..P-1. dim must be even.
torch::Tensor applyRope(const torch::Tensor& x, double theta);
// The rotation angles: position p times theta^(-2i/dim) for i < dim/2, [P, dim/2] float32.
torch::Tensor ropeAngles(std::int64_t P, std::int64_t dim, double theta, const torch::TensorOptions& options);

// ---- [SECTION] attention ---------------------------------------------------------------------

// Self-attention over the tokens of each sequence: x [B, P, d] -> [B, P, d].
// MHA/GQA/MQA: q Linear(d, heads*hd), k and v Linear(d, kvHeads*hd), o Linear(heads*hd, d); each
// key/value head serves heads/kvHeads consecutive query heads (MQA: kvHeads = 1). Optional QK-norm: one RMSNorm(hd)
// for queries and one for keys, shared by the heads.
// MLA (DeepSeek-V2, arXiv:2405.04434, section 2.1): queries direct, Linear(d, heads*(nope+rope)),
// or low-rank: q_a Linear(d, qLora), RMSNorm(qLora), q_b Linear(qLora, heads*(nope+rope)); kv_a
// Linear(d, kvLora+rope) gives the latent and one rotary key shared by the heads; RMSNorm(kvLora)
// on the latent; kv_b Linear(kvLora, heads*(nope+v)); o Linear(heads*v, d). Rotary positions touch
// only the rope parts. Every Linear has a bias when spec.bias.
class AttentionImpl : public torch::nn::Module {
public:
    AttentionImpl(const moe::spec::AttentionSpec& spec, int dModel, moe::spec::PositionKind positions, double ropeTheta);
    torch::Tensor forward(const torch::Tensor& x);
    const moe::spec::AttentionSpec& spec() const { return m_spec; }
    int headDim() const { return m_headDim; }
    // The mask of which keys each query sees ([P, P] bool, true = sees), or undefined when every
    // query sees every key.
    torch::Tensor visibility(std::int64_t P, const torch::Device& device) const;

    Linear q{nullptr}, k{nullptr}, v{nullptr}, o{nullptr};
    RmsNorm qNorm{nullptr}, kNorm{nullptr};
    // MLA
    Linear qA{nullptr}, qB{nullptr}, kvA{nullptr}, kvB{nullptr};
    RmsNorm qANorm{nullptr}, kvANorm{nullptr};
    torch::Tensor sinks;  // [heads] learned sink logits (spec.sinks), else undefined

private:
    torch::Tensor standardForward(const torch::Tensor& x);
    torch::Tensor mlaForward(const torch::Tensor& x);
    // softmax(q k^T / sqrt(q's last dim) + mask) v over [B, H, P, *].
    torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) const;

    moe::spec::AttentionSpec m_spec;
    int m_heads, m_kvHeads, m_headDim;
    bool m_rope;
    double m_theta;
};
TORCH_MODULE(Attention);

// ---- [SECTION] blocks ------------------------------------------------------------------------

// What a block remembers of its last forward (detached where it matters), for losses, telemetry
// and the divergence report.
struct BlockRecord {
    Routing routing;
    torch::Tensor input;     // [T,d] normed block input, detached (similarity probe)
    torch::Tensor aux;       // scalar, differentiable, unscaled
    torch::Tensor z;         // scalar, differentiable, unscaled
    std::int64_t capacity = -1;
};

// One layer of the flattened model, pre-norm with an optional residual: dense FFN, MoE or attention.
class BlockImpl : public torch::nn::Module {
public:
    // `index` is a layer of m.flattened().
    BlockImpl(const moe::spec::ModelSpec& m, int index);
    // x: [T, d] tokens, T = samples x ctx.seqLen.
    torch::Tensor forward(const torch::Tensor& x, const RouteContext& ctx);

    bool isMoe() const { return m_moe; }
    bool isAttention() const { return static_cast<bool>(m_attn); }
    Attention& attention() { return m_attn; }
    int index() const { return m_index; }
    const moe::spec::BlockSpec& spec() const { return m_spec; }
    int ffnExperts() const { return static_cast<int>(m_experts.size()); }
    int routedExperts() const { return m_routed; }
    Router& router() { return m_router; }
    Ffn& expert(int e) { return m_experts.at(static_cast<size_t>(e)); }
    // Runs one routed FFN expert (similarity probe).
    torch::Tensor runExpert(int e, const torch::Tensor& x) { return m_experts[static_cast<size_t>(e)]->forward(x); }
    const BlockRecord& last() const { return m_last; }

private:
    torch::Tensor moeForward(const torch::Tensor& h, const RouteContext& ctx);
    // Runs every routed expert on its slice of the permuted tokens; rows stay in the same order.
    torch::Tensor runExperts(const Permuted& p);
    // Runs routed column e (an FFN, zero, copy or constant expert) on its rows.
    torch::Tensor runColumn(int e, const torch::Tensor& rows);
    // Expert parallel: the FFN experts' rows of `p` go to the ranks holding them and come back;
    // the other columns run here. Same result as runExperts.
    torch::Tensor runExpertsAcrossRanks(const Permuted& p, const Routing& global, const RouteContext& ctx);

    moe::spec::BlockSpec m_spec;
    int m_index;
    bool m_moe;
    int m_k = 0;
    int m_routed = 0;
    Norm m_norm{nullptr};
    Ffn m_ffn{nullptr};                          // dense block
    Attention m_attn{nullptr};                   // attention block
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
    // Built from m.flattened(): blocks() are the flat layers, so block indices are layer indices.
    explicit MoeNetImpl(const moe::spec::ModelSpec& m);
    // x: [B, sampleFeatures] (text: [B, t] byte values as floats, t <= the position table).
    // Classification: class logits [B, classes], tokens mean-pooled. Text: next-token logits of
    // every position, [B*t, vocab]. Stops after block `stopAfter` when it is >= 0 (routing maps
    // only need the routers up to a block) and then returns undefined.
    torch::Tensor forward(const torch::Tensor& x, const RouteContext& ctx, int stopAfter = -1);
    // Splits samples into tokens: [B, F] -> [B, P, tokenDim].
    torch::Tensor tokenize(const torch::Tensor& x) const;
    // Content ids of tokens for the hash router: [B*P] int64.
    torch::Tensor tokenIds(const torch::Tensor& tokens) const;
    // Sum over MoE blocks of aux x coefficient + z x coefficient from the last forward.
    torch::Tensor routingLoss() const;
    void afterOptimizerStep();
    std::vector<Block>& blocks() { return m_blocks; }
    const moe::spec::ModelSpec& spec() const { return m_spec; }  // the flattened spec
    std::int64_t parameterCount() const;
    torch::nn::Embedding& embedding() { return m_embed; }  // undefined for a Linear stem
    // The LM head's [vocab, d] weight: the embedding table itself when the head is tied.
    torch::Tensor lmHeadWeight() const;

private:
    moe::spec::ModelSpec m_spec;
    Linear m_stem{nullptr};
    torch::nn::Embedding m_embed{nullptr};
    torch::Tensor m_positions;    // learned positions: [rows, d]
    std::vector<Block> m_blocks;
    Norm m_headNorm{nullptr};
    Linear m_head{nullptr};  // classifier, or the untied LM head (no bias)
    torch::Tensor m_hashWeights;  // [tokenDim] int64 multipliers for content ids
    bool m_needsIds = false;
};
TORCH_MODULE(MoeNet);

// Runs the net in eval mode without gradients for the guard's life, then restores the mode it
// had, also when a forward throws (evaluation, probes, routing maps, generation).
class EvalScope {
public:
    explicit EvalScope(torch::nn::Module& net) : m_net(net), m_training(net.is_training()) { m_net.eval(); }
    ~EvalScope() { m_net.train(m_training); }
    EvalScope(const EvalScope&) = delete;
    EvalScope& operator=(const EvalScope&) = delete;

private:
    torch::nn::Module& m_net;
    bool m_training;
    torch::NoGradGuard m_noGrad;
};

// Generation: the logits [vocab] for the token after `ids` ([t] or [1, t] int64 or float byte
// ids), recomputing the whole prefix (no cache). Prefixes longer than the sequence length the
// model was built for keep their last seqLen tokens. Runs in eval mode without gradients and
// restores the module's mode.
torch::Tensor nextTokenLogits(MoeNetImpl& net, const torch::Tensor& ids);

}  // namespace moe::train::detail
