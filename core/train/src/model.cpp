// Experts, blocks and the network built from a ModelSpec. Parameter layout follows the
// conventions of moe/spec/derived.h, so `moe describe` counts exactly what is built here.

#include <spdlog/spdlog.h>

#include "moe_net.h"

namespace moe::train::detail {

using moe::spec::Activation;
using moe::spec::BlockKind;
using moe::spec::NormKind;

torch::Tensor activate(const torch::Tensor& x, Activation a) {
    switch (a) {
        case Activation::Relu: return torch::relu(x);
        case Activation::Gelu: return torch::gelu(x);
        case Activation::Silu: return torch::silu(x);
        case Activation::Tanh: return torch::tanh(x);
        // Gated FFNs apply these to their gate projection.
        case Activation::Swiglu: return torch::silu(x);
        case Activation::Geglu: return torch::gelu(x);
    }
    return x;
}

FfnImpl::FfnImpl(int d, const moe::spec::FfnSpec& spec) : act(spec.activation) {
    fc1 = register_module("fc1", torch::nn::Linear(d, spec.hidden));
    fc2 = register_module("fc2", torch::nn::Linear(spec.hidden, d));
}

torch::Tensor FfnImpl::forward(const torch::Tensor& x) { return fc2->forward(activate(fc1->forward(x), act)); }

ConstantExpertImpl::ConstantExpertImpl(int d) {
    vec = register_parameter("vec", torch::randn({d}) * 0.02);
    mix = register_module("mix", torch::nn::Linear(d, 2));
}

torch::Tensor ConstantExpertImpl::forward(const torch::Tensor& x) {
    auto a = torch::softmax(mix->forward(x), -1);  // [n,2]
    return a.narrow(1, 0, 1) * x + a.narrow(1, 1, 1) * vec.unsqueeze(0);
}

RmsNormImpl::RmsNormImpl(int d) { weight = register_parameter("weight", torch::ones({d})); }

torch::Tensor RmsNormImpl::forward(const torch::Tensor& x) {
    return x * torch::rsqrt(x.pow(2).mean(-1, true) + 1e-6) * weight;
}

NormImpl::NormImpl(NormKind kind, int d) {
    if (kind == NormKind::LayerNorm) m_ln = register_module("ln", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
    if (kind == NormKind::RmsNorm) m_rms = register_module("rms", RmsNorm(d));
}

torch::Tensor NormImpl::forward(const torch::Tensor& x) {
    if (m_ln) return m_ln->forward(x);
    if (m_rms) return m_rms->forward(x);
    return x;
}

BlockImpl::BlockImpl(const moe::spec::ModelSpec& m, int index)
    : m_spec(m.blocks[static_cast<size_t>(index)]), m_index(index), m_moe(m_spec.kind == BlockKind::Moe) {
    const int d = m.stem.dModel;
    m_norm = register_module("norm", Norm(m_spec.norm, d));
    if (!m_moe) {
        m_ffn = register_module("ffn", Ffn(d, m_spec.ffn));
        return;
    }
    m_k = m.kOf(index);
    m_routed = m.routedExpertsOf(index);
    m_router = register_module("router", Router(m_spec.router, d, m_routed, m_k));
    for (int e = 0; e < m.expertsOf(index); ++e)
        m_experts.push_back(register_module("expert" + std::to_string(e), Ffn(d, m_spec.ffn)));
    for (int c = 0; c < m_spec.zeroExperts.constant; ++c)
        m_constants.push_back(register_module("constant" + std::to_string(c), ConstantExpert(d)));
    for (int s = 0; s < m_spec.sharedExperts; ++s)
        m_shared.push_back(register_module("shared" + std::to_string(s), Ffn(d, m_spec.ffn)));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, const RouteContext& ctx) {
    auto h = m_norm->forward(x);
    auto y = m_moe ? moeForward(h, ctx) : m_ffn->forward(h);
    return m_spec.residual ? x + y : y;
}

torch::Tensor BlockImpl::runExperts(const Permuted& p) {
    auto off = p.offsets.to(torch::kCPU);
    const auto* o = off.data_ptr<std::int64_t>();
    const int F = ffnExperts();
    const int zeros = m_spec.zeroExperts.zero, copies = m_spec.zeroExperts.copy;
    std::vector<torch::Tensor> parts;
    parts.reserve(static_cast<size_t>(m_routed));
    for (int e = 0; e < m_routed; ++e) {
        const auto n = o[e + 1] - o[e];
        if (n == 0) continue;
        auto chunk = p.tokens.narrow(0, o[e], n);
        if (e < F) parts.push_back(m_experts[static_cast<size_t>(e)]->forward(chunk));
        else if (e < F + zeros) parts.push_back(torch::zeros_like(chunk));
        else if (e < F + zeros + copies) parts.push_back(chunk);
        else parts.push_back(m_constants[static_cast<size_t>(e - F - zeros - copies)]->forward(chunk));
    }
    if (parts.empty()) return torch::zeros({0, p.tokens.size(1)}, p.tokens.options());
    return torch::cat(parts, 0);
}

torch::Tensor BlockImpl::moeForward(const torch::Tensor& h, const RouteContext& ctx) {
    const auto T = h.size(0);
    Routing r = m_router->forward(h, ctx);
    BlockRecord rec;
    // Load balancing (Switch/GShard): E x sum_i f_i P_i, f from the router's choices before
    // capacity, P the mean router probability. 1 when perfectly balanced.
    auto f = r.wanted.to(h.scalar_type());
    f = f / f.sum().clamp_min(1.0);
    rec.aux = static_cast<double>(m_routed) * (f * r.probs.mean(0)).sum();
    rec.z = r.logits.defined() ? torch::logsumexp(r.logits, -1).pow(2).mean() : torch::zeros({}, h.options());
    if (!m_spec.capacity.dropless)
        rec.capacity = applyCapacity(r, m_routed, m_spec.capacity.factor, m_spec.capacity.dropPolicy);
    // The dispatch/combine seam (kernels' autograd ops when built, plain LibTorch otherwise).
    Permuted p = dispatchPermute(h, r.expertIdx, m_routed);
    auto out = dispatchCombine(runExperts(p), p.slotOf, r.gates, T);
    for (auto& s : m_shared) out = out + s->forward(h);
    rec.routing = std::move(r);
    rec.input = h.detach();
    m_last = std::move(rec);
    return out;
}

MoeNetImpl::MoeNetImpl(const moe::spec::ModelSpec& m) : m_spec(m) {
    const int d = m.stem.dModel;
    m_stem = register_module("stem", torch::nn::Linear(m.input.tokenDim(), d));
    for (int i = 0; i < static_cast<int>(m.blocks.size()); ++i) {
        m_blocks.push_back(register_module("block" + std::to_string(i), Block(m, i)));
        if (m.blocks[static_cast<size_t>(i)].kind == BlockKind::Moe && m.blocks[static_cast<size_t>(i)].router.kind == moe::spec::RouterKind::Hash)
            m_needsIds = true;
    }
    m_headNorm = register_module("head_norm", Norm(m.head.norm, d));
    m_head = register_module("head", torch::nn::Linear(d, m.input.numClasses()));
    // Fixed multipliers for content ids: a hash of the quantised token, not learned, not saved.
    auto gen = at::detail::createCPUGenerator(0x4a5b);
    m_hashWeights = torch::randint(1, 1 << 20, {m.input.tokenDim()}, gen, torch::kLong);
}

torch::Tensor MoeNetImpl::tokenize(const torch::Tensor& x) const {
    const auto B = x.size(0);
    const auto& in = m_spec.input;
    const int P = in.tokensPerSample();
    if (P == 1) return x.view({B, 1, x.size(1)});
    const int p = in.patch, g = 28 / p;
    return x.view({B, g, p, g, p}).permute({0, 1, 3, 2, 4}).reshape({B, g * g, p * p});
}

torch::Tensor MoeNetImpl::tokenIds(const torch::Tensor& tokens) const {
    torch::NoGradGuard ng;
    const auto B = tokens.size(0), P = tokens.size(1);
    auto q = torch::floor(tokens.to(torch::kCPU) * 16).to(torch::kLong);
    auto ids = (q * m_hashWeights.view({1, 1, -1})).sum(-1) + torch::arange(P, torch::kLong).view({1, P}) * 1000003;
    // One Lehmer step spreads nearby sums before the router takes them modulo its experts.
    ids = torch::remainder(torch::remainder(ids, 2147483647) * 48271, 2147483647);
    return ids.reshape({B * P}).to(tokens.device());
}

torch::Tensor MoeNetImpl::forward(const torch::Tensor& x, const RouteContext& ctxIn, int stopAfter) {
    const auto B = x.size(0);
    auto tokens = tokenize(x);
    const auto P = tokens.size(1);
    auto h = activate(m_stem->forward(tokens), m_spec.stem.activation).reshape({B * P, -1});
    RouteContext ctx = ctxIn;
    torch::Tensor ids;
    if (m_needsIds) {
        ids = tokenIds(tokens);
        ctx.tokenIds = &ids;
    }
    for (auto& b : m_blocks) {
        h = b->forward(h, ctx);
        if (b->index() == stopAfter) return {};
    }
    h = h.view({B, P, -1}).mean(1);
    return m_head->forward(m_headNorm->forward(h));
}

torch::Tensor MoeNetImpl::routingLoss() const {
    torch::Tensor total;
    for (const auto& b : m_blocks) {
        if (!b->isMoe() || !b->last().aux.defined()) continue;
        const auto& l = b->spec().losses;
        if (l.aux > 0) total = total.defined() ? total + l.aux * b->last().aux : l.aux * b->last().aux;
        if (l.z > 0) total = total.defined() ? total + l.z * b->last().z : l.z * b->last().z;
    }
    return total.defined() ? total : torch::zeros({});
}

void MoeNetImpl::afterOptimizerStep() {
    for (auto& b : m_blocks)
        if (b->isMoe()) b->router()->updateBias();
}

std::int64_t MoeNetImpl::parameterCount() const {
    std::int64_t n = 0;
    for (const auto& p : parameters()) n += p.numel();
    return n;
}

}  // namespace moe::train::detail
