// Self-attention: MHA, GQA and MQA with optional QK-norm, sliding windows and rotary positions,
// and DeepSeek's multi-head latent attention (MLA).

#include <cmath>
#include <limits>

#include <torch/version.h>

#include "batched_matmul.h"
#include "cpu_fused.h"
#include "moe_net.h"

namespace moe::train::detail {

using moe::spec::AttentionKind;

namespace {

// [B, P, H*dim] -> [B, H, P, dim]
torch::Tensor splitHeads(const torch::Tensor& x, std::int64_t heads) {
    return x.view({x.size(0), x.size(1), heads, -1}).transpose(1, 2);
}

// [B, H, P, dim] -> [B, P, H*dim]
torch::Tensor mergeHeads(const torch::Tensor& x) {
    return x.transpose(1, 2).reshape({x.size(0), x.size(2), -1});
}

// Each of the kv heads serves `group` consecutive query heads: [B, KV, P, dim] -> [B, KV*group, P, dim].
torch::Tensor repeatKv(const torch::Tensor& x, std::int64_t group) {
    if (group == 1) return x;
    const auto B = x.size(0), KV = x.size(1), P = x.size(2), D = x.size(3);
    return x.unsqueeze(2).expand({B, KV, group, P, D}).reshape({B, KV * group, P, D});
}

// MLA expands its latent into every head; the others have the spec's key/value heads (validation
// ties them to the kind: heads for MHA, one for MQA).
int kvHeadsOf(const moe::spec::AttentionSpec& s) { return s.kind == AttentionKind::Mla ? s.heads : s.kvHeads; }

}  // namespace

AttentionImpl::AttentionImpl(const moe::spec::AttentionSpec& spec, int d, moe::spec::PositionKind positions, double ropeTheta)
    : m_spec(spec), m_heads(spec.heads), m_kvHeads(kvHeadsOf(spec)), m_headDim(spec.resolvedHeadDim(d)),
      m_rope(positions == moe::spec::PositionKind::Rope), m_theta(ropeTheta) {
    TORCH_CHECK(m_heads > 0 && m_kvHeads > 0 && m_heads % m_kvHeads == 0, "attention: ", m_heads,
                " query heads cannot share ", m_kvHeads, " key/value heads evenly");
    const bool b = spec.bias;
    if (spec.kind == AttentionKind::Mla) {
        const int qk = spec.qkNopeHeadDim + spec.qkRopeHeadDim;
        if (spec.qLoraRank > 0) {
            qA = register_module("q_a", makeLinear(d, spec.qLoraRank, b));
            qANorm = register_module("q_a_norm", RmsNorm(spec.qLoraRank));
            qB = register_module("q_b", makeLinear(spec.qLoraRank, m_heads * qk, b));
        } else {
            q = register_module("q", makeLinear(d, m_heads * qk, b));
        }
        kvA = register_module("kv_a", makeLinear(d, spec.kvLoraRank + spec.qkRopeHeadDim, b));
        kvANorm = register_module("kv_a_norm", RmsNorm(spec.kvLoraRank));
        kvB = register_module("kv_b", makeLinear(spec.kvLoraRank, m_heads * (spec.qkNopeHeadDim + spec.vHeadDim), b));
        o = register_module("o", makeLinear(m_heads * spec.vHeadDim, d, b));
        return;
    }
    TORCH_CHECK(m_headDim > 0, "attention: head dimension must be positive");
    q = register_module("q", makeLinear(d, m_heads * m_headDim, b));
    k = register_module("k", makeLinear(d, m_kvHeads * m_headDim, b));
    v = register_module("v", makeLinear(d, m_kvHeads * m_headDim, b));
    o = register_module("o", makeLinear(m_heads * m_headDim, d, b));
    if (spec.qkNorm) {
        qNorm = register_module("q_norm", RmsNorm(m_headDim));
        kNorm = register_module("k_norm", RmsNorm(m_headDim));
    }
    if (spec.sinks) sinks = register_parameter("sinks", torch::zeros({m_heads}));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x) {
    TORCH_CHECK(x.dim() == 3, "attention wants [batch, tokens, d], got ", x.sizes());
    return m_spec.kind == AttentionKind::Mla ? mlaForward(x) : standardForward(x);
}

torch::Tensor AttentionImpl::standardForward(const torch::Tensor& x) {
    auto qh = splitHeads(q->forward(x), m_heads);
    auto kh = splitHeads(k->forward(x), m_kvHeads);
    auto vh = splitHeads(v->forward(x), m_kvHeads);
    // Norm before rotation, as OLMoE and Qwen3 do: the rotation then acts on unit-scale vectors.
    if (qNorm) {
        qh = qNorm->forward(qh);
        kh = kNorm->forward(kh);
    }
    if (m_rope) {
        qh = applyRope(qh, m_theta);
        kh = applyRope(kh, m_theta);
    }
    const auto group = m_heads / m_kvHeads;
    return o->forward(mergeHeads(attend(qh, repeatKv(kh, group), repeatKv(vh, group))));
}

torch::Tensor AttentionImpl::mlaForward(const torch::Tensor& x) {
    const auto B = x.size(0), P = x.size(1);
    const int nope = m_spec.qkNopeHeadDim, rope = m_spec.qkRopeHeadDim, vDim = m_spec.vHeadDim, lora = m_spec.kvLoraRank;
    auto qh = splitHeads(qA ? qB->forward(qANorm->forward(qA->forward(x))) : q->forward(x), m_heads);
    auto qNope = qh.narrow(-1, 0, nope), qRope = qh.narrow(-1, nope, rope);
    auto kv = kvA->forward(x);                                      // [B, P, lora + rope]
    auto latent = kvANorm->forward(kv.narrow(-1, 0, lora));
    auto kRope = kv.narrow(-1, lora, rope).unsqueeze(1);            // [B, 1, P, rope], shared by heads
    auto kvh = splitHeads(kvB->forward(latent), m_heads);           // [B, H, P, nope + v]
    auto kNope = kvh.narrow(-1, 0, nope), vh = kvh.narrow(-1, nope, vDim);
    if (m_rope) {
        qRope = applyRope(qRope, m_theta);
        kRope = applyRope(kRope, m_theta);
    }
    auto qq = torch::cat({qNope, qRope}, -1);
    auto kk = torch::cat({kNope, kRope.expand({B, m_heads, P, rope})}, -1);
    return o->forward(mergeHeads(attend(qq, kk, vh)));
}

torch::Tensor AttentionImpl::visibility(std::int64_t P, const torch::Device& device) const {
    if (!m_spec.causal && m_spec.window <= 0) return {};
    auto pos = torch::arange(P, torch::TensorOptions(torch::kLong).device(device));
    auto diff = pos.unsqueeze(1) - pos.unsqueeze(0);  // query - key
    auto sees = torch::ones({P, P}, torch::TensorOptions(torch::kBool).device(device));
    if (m_spec.causal) sees = sees & (diff >= 0);
    // A causal window of w: the token itself and the w-1 before it; without causality, w-1 on
    // either side.
    if (m_spec.window > 0) sees = sees & (diff.abs() < m_spec.window);
    return sees;
}

torch::Tensor AttentionImpl::attend(const torch::Tensor& qh, const torch::Tensor& kh, const torch::Tensor& vh) const {
    // Scaled by 1/sqrt(q's last dimension): the head dimension, or nope + rope for MLA.
    const bool plainCausal = m_spec.causal && m_spec.window <= 0;
    const auto B = qh.size(0), H = qh.size(1), P = qh.size(2);
#if TORCH_VERSION_MAJOR >= 2
    const bool writtenOut = sinks.defined();
#else
    // LibTorch 1.13 has no fused attention on the CPU, only these same steps through its bmm;
    // fusedCpuAttention (or, with sinks, batchedMatmul) runs them with less overhead.
    const bool writtenOut = sinks.defined() || qh.device().is_cpu();
#endif
    if (writtenOut) {
        const auto q3 = qh.reshape({B * H, P, qh.size(3)}), k3 = kh.reshape({B * H, P, kh.size(3)});
        const auto v3 = vh.reshape({B * H, P, vh.size(3)});
        const double scale = 1.0 / std::sqrt(static_cast<double>(qh.size(-1)));
        if (!sinks.defined() && fusedCpuAttentionApplies(q3, k3, v3))
            return fusedCpuAttention(q3, k3, v3, scale, m_spec.causal, m_spec.window).view({B, H, P, vh.size(3)});
        auto scores = batchedMatmul(q3, k3.transpose(1, 2)).mul_(scale);
        if (auto seen = visibility(P, qh.device()); seen.defined())
            scores = scores.masked_fill(seen.logical_not(), -std::numeric_limits<float>::infinity());
        torch::Tensor probs;
        if (sinks.defined()) {
            // Attention sinks (gpt-oss): each head's learned logit joins the softmax as one more
            // column that carries no value, so a query may attend to "nothing".
            auto sink = sinks.to(scores.dtype()).view({1, -1, 1, 1}).expand({B, H, P, 1}).reshape({B * H, P, 1});
            probs = torch::softmax(torch::cat({scores, sink}, -1), -1).narrow(-1, 0, P);
        } else {
            probs = torch::softmax(scores, -1);
        }
        return batchedMatmul(probs, v3).view({B, H, P, vh.size(3)});
    }
    // The fused scaled-dot-product attention (flash kernels on CUDA). A boolean mask is true
    // where a query sees a key. LibTorch 1.13 names it _scaled_dot_product_attention.
    c10::optional<at::Tensor> mask;
    if (!plainCausal) {
        auto m = visibility(P, qh.device());
        if (m.defined()) mask = m;
    }
#if TORCH_VERSION_MAJOR >= 2
    return at::scaled_dot_product_attention(qh, kh, vh, mask, 0.0, plainCausal);
#else
    return std::get<0>(at::_scaled_dot_product_attention(qh, kh, vh, mask, 0.0, false, plainCausal));
#endif
}

}  // namespace moe::train::detail
