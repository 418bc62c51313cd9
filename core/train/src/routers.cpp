// The router zoo, capacity and the plain LibTorch dispatch/combine.
//
// [SECTION] dispatch / combine (the kernels' seam)
// [SECTION] capacity
// [SECTION] routers

#include <atomic>
#include <cmath>
#include <limits>

#include "moe_net.h"
#ifdef MOE_TRAIN_HAS_KERNELS
#include "moe/kernels/torch_ops.h"
#endif

namespace moe::train::detail {

using moe::spec::RouterKind;
using torch::indexing::None;
using torch::indexing::Slice;

// ---- [SECTION] dispatch / combine ------------------------------------------------------------

Permuted permute(const torch::Tensor& x, const torch::Tensor& expertIdx, std::int64_t experts) {
    const auto T = expertIdx.size(0), K = expertIdx.size(1);
    auto flat = expertIdx.reshape({-1});
    // Unused slots get key E so they sort after every expert; a stable sort keeps token order
    // within an expert, which makes the layout deterministic.
    auto key = torch::where(flat >= 0, flat, torch::full_like(flat, experts));
    auto [sortedKey, order] = torch::sort(key, /*stable=*/true, 0, false);
    auto counts = torch::bincount(sortedKey, {}, experts + 1);
    auto offsets = torch::zeros({experts + 1}, flat.options());
    offsets.index_put_({Slice(1, None)}, torch::cumsum(counts.index({Slice(0, experts)}), 0));
    const std::int64_t S = offsets[experts].item<std::int64_t>();
    auto used = order.index({Slice(0, S)});
    Permuted p;
    p.tokens = x.index_select(0, torch::div(used, K, "floor"));
    auto slot = torch::full({T * K}, -1, flat.options());
    slot.index_put_({used}, torch::arange(S, flat.options()));
    p.slotOf = slot.view({T, K});
    p.offsets = offsets;
    return p;
}

torch::Tensor unpermuteCombine(const torch::Tensor& y, const torch::Tensor& slotOf, const torch::Tensor& gates, std::int64_t tokens) {
    const auto K = slotOf.size(1);
    auto flat = slotOf.reshape({-1});
    auto assign = torch::nonzero(flat >= 0).squeeze(1);
    auto rows = flat.index_select(0, assign);
    auto tok = torch::div(assign, K, "floor");
    auto w = gates.reshape({-1}).index_select(0, assign).unsqueeze(1);
    auto out = torch::zeros({tokens, y.size(1)}, y.options());
    return out.index_add(0, tok, y.index_select(0, rows) * w);
}

namespace {
#ifdef MOE_TRAIN_HAS_KERNELS
std::atomic<DispatchImpl> g_dispatch{DispatchImpl::Kernels};
#else
std::atomic<DispatchImpl> g_dispatch{DispatchImpl::Plain};
#endif
}  // namespace

bool kernelsBuilt() {
#ifdef MOE_TRAIN_HAS_KERNELS
    return true;
#else
    return false;
#endif
}

void setDispatchImpl(DispatchImpl impl) { g_dispatch = kernelsBuilt() ? impl : DispatchImpl::Plain; }

DispatchImpl dispatchImpl() { return g_dispatch; }

Permuted dispatchPermute(const torch::Tensor& x, const torch::Tensor& expertIdx, std::int64_t experts) {
#ifdef MOE_TRAIN_HAS_KERNELS
    // The kernels want float32 rows and int64 indices; other dtypes take the plain path.
    if (g_dispatch == DispatchImpl::Kernels && x.scalar_type() == torch::kFloat) {
        auto p = moe::kernels::torch_ops::permute(x.contiguous(), expertIdx.contiguous(), experts);
        return Permuted{p.tokens, p.offsets, p.slotOf};
    }
#endif
    return permute(x, expertIdx, experts);
}

torch::Tensor dispatchCombine(const torch::Tensor& y, const torch::Tensor& slotOf, const torch::Tensor& gates, std::int64_t tokens) {
#ifdef MOE_TRAIN_HAS_KERNELS
    if (g_dispatch == DispatchImpl::Kernels && y.scalar_type() == torch::kFloat && gates.scalar_type() == torch::kFloat)
        return moe::kernels::torch_ops::unpermuteCombine(y.contiguous(), slotOf.contiguous(), gates.contiguous(), tokens);
#endif
    return unpermuteCombine(y, slotOf, gates, tokens);
}

// ---- [SECTION] capacity ----------------------------------------------------------------------

std::int64_t applyCapacity(Routing& r, std::int64_t experts, double factor, moe::spec::DropPolicy policy) {
    torch::Tensor drop;
    std::int64_t capacity = 0;
    const auto T = r.expertIdx.size(0), K = r.expertIdx.size(1);
    {
        // Choosing what to drop needs no gradient; the gates keep theirs (masked below).
        torch::NoGradGuard ng;
        drop = dropMask(r, experts, factor, policy, capacity).view({T, K});
    }
    r.dropped = drop.sum().item<std::int64_t>();
    if (r.dropped > 0) {
        r.expertIdx = r.expertIdx.masked_fill(drop, -1);
        r.gates = r.gates.masked_fill(drop, 0.0);
    }
    return capacity;
}

torch::Tensor dropMask(const Routing& r, std::int64_t experts, double factor, moe::spec::DropPolicy policy, std::int64_t& capacityOut) {
    const auto T = r.expertIdx.size(0), K = r.expertIdx.size(1), N = T * K;
    auto flat = r.expertIdx.reshape({-1});
    auto valid = flat >= 0;
    const auto assignments = valid.sum().item<std::int64_t>();
    const auto capacity = static_cast<std::int64_t>(std::ceil(factor * static_cast<double>(assignments) / static_cast<double>(experts) - 1e-9));
    capacityOut = capacity;
    auto opts = flat.options();
    torch::Tensor order;
    if (policy == moe::spec::DropPolicy::Probs) {
        order = std::get<1>(torch::sort(r.gates.detach().reshape({-1}), /*stable=*/true, 0, /*descending=*/true));
    } else {
        auto n = torch::arange(N, opts);
        order = std::get<1>(torch::sort(torch::remainder(n, K) * T + torch::div(n, K, "floor"), true, 0, false));
    }
    auto key = torch::where(valid, flat, torch::full_like(flat, experts)).index_select(0, order);
    auto [sortedKey, idx2] = torch::sort(key, true, 0, false);
    auto finalOrder = order.index_select(0, idx2);
    auto counts = torch::bincount(sortedKey, {}, experts + 1);
    auto starts = torch::cumsum(counts, 0) - counts;
    auto pos = torch::arange(N, opts) - starts.index_select(0, sortedKey);
    auto dropSorted = (pos >= capacity) & (sortedKey < experts);
    return torch::zeros({N}, opts.dtype(torch::kBool)).index_put_({finalOrder}, dropSorted);
}

Routing localRows(const Routing& r, const torch::Tensor& before, std::int64_t count) {
    Routing out;
    const auto rows = [&](const torch::Tensor& t) { return t.defined() ? t.narrow(0, r.rowBegin, count) : t; };
    out.logits = rows(r.logits);
    out.probs = rows(r.probs);
    out.expertIdx = rows(r.expertIdx);
    out.gates = rows(r.gates);
    out.rankFirst = rows(r.rankFirst);
    torch::NoGradGuard ng;
    const auto mine = rows(before).reshape({-1});
    out.wanted = torch::bincount(mine.index({mine >= 0}), {}, r.wanted.size(0));
    out.dropped = (mine >= 0).sum().item<std::int64_t>() - (out.expertIdx >= 0).sum().item<std::int64_t>();
    return out;
}

// ---- [SECTION] routers -----------------------------------------------------------------------

namespace {

// Top-k on `select` picks the experts; the gates come from `weights` at those experts.
void pickTopK(Routing& r, const torch::Tensor& select, const torch::Tensor& weights, int k, bool renormalize) {
    auto idx = std::get<1>(select.topk(k, -1));
    auto g = weights.gather(1, idx);
    // Renormalising a single choice would pin its gate at 1 and cut the router off from the task
    // gradient, so k = 1 keeps the raw probability (as Switch does).
    if (renormalize && k > 1) g = g / g.sum(-1, true).clamp_min(1e-9);
    r.expertIdx = idx;
    r.gates = g;
}

// Routers that give a token a variable number of experts use one slot per expert: [T,E].
void fromMask(Routing& r, const torch::Tensor& mask, const torch::Tensor& weights) {
    auto e = torch::arange(mask.size(1), torch::TensorOptions(torch::kLong).device(mask.device())).unsqueeze(0).expand_as(mask);
    r.expertIdx = torch::where(mask, e, torch::full_like(e, -1));
    r.gates = weights * mask.to(weights.scalar_type());
}

torch::Tensor countPerExpert(const torch::Tensor& expertIdx, int experts) {
    auto flat = expertIdx.reshape({-1});
    return torch::bincount(flat.index({flat >= 0}), {}, experts);
}

}  // namespace

RouterImpl::RouterImpl(const moe::spec::RouterSpec& spec, int dModel, int experts, int k)
    : m_spec(spec), m_experts(experts), m_k(k) {
    if (spec.kind != RouterKind::Hash)
        m_linear = register_module("linear", makeLinear(dModel, experts, false));
    if (spec.kind == RouterKind::SigmoidBias) m_bias = register_buffer("bias", torch::zeros({experts}));
    if (spec.groups > 1) {
        TORCH_CHECK(experts % spec.groups == 0, "router: ", experts, " routed experts do not split into ", spec.groups, " equal groups");
        TORCH_CHECK(spec.topkGroups >= 1 && spec.topkGroups <= spec.groups, "router: topk_groups ", spec.topkGroups,
                    " must lie in [1, ", spec.groups, "]");
        TORCH_CHECK(k <= spec.topkGroups * (experts / spec.groups), "router: k = ", k, " exceeds the ",
                    spec.topkGroups * (experts / spec.groups), " experts of ", spec.topkGroups, " groups");
    }
}

torch::Tensor RouterImpl::limitGroups(const torch::Tensor& select) const {
    const int G = m_spec.groups;
    if (G <= 1 || (m_spec.kind != RouterKind::TopK && m_spec.kind != RouterKind::SigmoidBias)) return select;
    torch::NoGradGuard ng;
    const auto T = select.size(0);
    const int size = m_experts / G;
    // A group's score is the sum of its two best expert scores, as DeepSeek-V3 does (technical
    // report, arXiv:2412.19437, section 2.1.2 and its node-limited routing); DeepSeek-V2 took the
    // single best (arXiv:2405.04434, section 2.2.3).
    auto grouped = select.detach().view({T, G, size});
    auto groupScore = std::get<0>(grouped.topk(std::min(2, size), -1)).sum(-1);  // [T, G]
    auto best = std::get<1>(groupScore.topk(m_spec.topkGroups, -1));              // [T, topkGroups]
    auto keep = torch::zeros({T, G}, select.options().dtype(torch::kBool)).scatter_(1, best, true);
    keep = keep.unsqueeze(-1).expand({T, G, size}).reshape({T, m_experts});
    return select.masked_fill(keep.logical_not(), -std::numeric_limits<double>::infinity());
}

Routing RouterImpl::forward(const torch::Tensor& x, const RouteContext& ctx) {
    Routing r;
    const int E = m_experts;
    const double temp = m_spec.temperature;
    if (ctx.group) r.rowBegin = ctx.group->rowBegin();
    if (m_spec.kind == RouterKind::Hash) {
        TORCH_CHECK(ctx.tokenIds && ctx.tokenIds->numel() == x.size(0), "hash router needs one content id per token");
        const auto ids = ctx.group ? ctx.group->gatherRows(*ctx.tokenIds) : *ctx.tokenIds;
        const auto T = ids.size(0);
        auto h = torch::remainder(ids, E);
        auto idx = torch::remainder(h.unsqueeze(1) + torch::arange(m_k, h.options()).unsqueeze(0), E);
        r.expertIdx = idx;
        r.gates = torch::full({T, m_k}, 1.0 / m_k, x.options());
        r.probs = torch::zeros({T, E}, x.options()).scatter_(1, idx, 1.0 / m_k);
        r.rankFirst = h;
        r.wanted = countPerExpert(idx, E);
        return r;
    }
    // Over a batch group the decisions below see every rank's logits; the noise is drawn for all
    // of them from the same generator on every rank, as one process draws it.
    r.logits = ctx.group ? ctx.group->gatherRows(m_linear->forward(x)) : m_linear->forward(x);
    const auto T = r.logits.size(0);
    auto logits = r.logits;
    if (ctx.training && m_spec.noise > 0) {
        auto n = ctx.generator ? torch::randn(logits.sizes(), *ctx.generator, logits.options())
                               : torch::randn(logits.sizes(), logits.options());
        logits = logits + m_spec.noise * n;
    }
    switch (m_spec.kind) {
        case RouterKind::TopK: {
            r.probs = torch::softmax(logits / temp, -1);
            pickTopK(r, limitGroups(r.probs.detach()), r.probs, m_k, m_spec.renormalize);
            break;
        }
        case RouterKind::ExpertChoice: {
            r.probs = torch::softmax(logits / temp, -1);
            const auto c = std::clamp<std::int64_t>(std::llround(m_spec.capacityFactor * static_cast<double>(T) / E), 1, T);
            auto idx = std::get<1>(r.probs.detach().topk(c, 0));  // [C,E]: each expert's top tokens
            auto mask = torch::zeros({T, E}, idx.options().dtype(torch::kBool)).scatter_(0, idx, true);
            fromMask(r, mask, r.probs);
            break;
        }
        case RouterKind::Dynamic: {
            r.probs = torch::softmax(logits / temp, -1);
            const int maxE = std::min(m_spec.maxExperts, E);
            const int minE = std::min(m_spec.minExperts, maxE);
            auto pd = r.probs.detach();
            auto thr = torch::quantile(pd, m_spec.tau, -1, true);
            auto n = (pd > thr).sum(-1).clamp(minE, maxE);  // [T]
            auto [vals, idx] = pd.topk(maxE, -1);
            auto keep = torch::arange(maxE, idx.options()).unsqueeze(0) < n.unsqueeze(1);
            auto g = r.probs.gather(1, idx) * keep.to(r.probs.scalar_type());
            g = g / g.sum(-1, true).clamp_min(1e-9);
            r.expertIdx = torch::where(keep, idx, torch::full_like(idx, -1));
            r.gates = g;
            break;
        }
        case RouterKind::Unified: {
            // USMoE: both tokens and experts compete for the batch's T x k best entries.
            auto score = m_spec.alpha * torch::softmax(logits / temp, -1) + (1.0 - m_spec.alpha) * torch::sigmoid(logits) * (2.0 / E);
            r.probs = score / score.sum(-1, true);
            const auto picks = std::min<std::int64_t>(T * m_k, T * E);
            auto idx = std::get<1>(score.detach().reshape({-1}).topk(picks));
            auto mask = torch::zeros({T * E}, idx.options().dtype(torch::kBool)).index_fill_(0, idx, true).view({T, E});
            fromMask(r, mask, score);
            r.rankFirst = score.detach().argmax(-1);
            break;
        }
        case RouterKind::Sinkhorn: {
            r.probs = torch::softmax(logits / temp, -1);
            if (ctx.training) {
                torch::NoGradGuard ng;
                // Log-domain Sinkhorn: alternately give every expert an equal share of the batch
                // and every token a total of one, then assign from the balanced plan.
                auto l = logits.detach() / temp;
                for (int i = 0; i < m_spec.iterations; ++i) {
                    l = l - torch::logsumexp(l, 0, true);
                    l = l - torch::logsumexp(l, 1, true);
                }
                pickTopK(r, l, r.probs, m_k, false);
                if (m_spec.renormalize && m_k > 1) r.gates = r.gates / r.gates.sum(-1, true).clamp_min(1e-9);
            } else {
                pickTopK(r, r.probs, r.probs, m_k, m_spec.renormalize);
            }
            break;
        }
        case RouterKind::SigmoidBias: {
            auto s = torch::sigmoid(logits);
            r.probs = s / s.sum(-1, true);
            // Groups are ranked on the bias-corrected scores too (DeepSeek-V3).
            auto select = limitGroups(s.detach() + m_bias);
            pickTopK(r, select, s, m_k, m_spec.renormalize);
            r.rankFirst = select.argmax(-1);
            break;
        }
        case RouterKind::Hash: break;
    }
    if (!r.rankFirst.defined()) r.rankFirst = r.probs.detach().argmax(-1);
    r.wanted = countPerExpert(r.expertIdx, E);
    if (m_spec.kind == RouterKind::SigmoidBias && ctx.training) m_lastLoad = r.wanted.to(torch::kFloat);
    return r;
}

void RouterImpl::updateBias() {
    if (m_spec.kind != RouterKind::SigmoidBias || !m_lastLoad.defined()) return;
    torch::NoGradGuard ng;
    // Aux-loss-free balancing: under-loaded experts become more attractive, over-loaded less.
    m_bias.add_(m_spec.biasUpdateRate * torch::sign(m_lastLoad.mean() - m_lastLoad));
    m_lastLoad = torch::Tensor();
}

}  // namespace moe::train::detail
