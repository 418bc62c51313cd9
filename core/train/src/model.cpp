// Blocks and the network built from a ModelSpec. Parameter layout follows the conventions of
// moe/spec/derived.h, so `moe describe` counts exactly what is built here:
//  - stem: Linear(tokenDim, d) with bias, or Embedding(vocab, d); learned positions [rows, d];
//  - classification head: norm + Linear(d, classes) with bias; LM head: norm + Linear(d, vocab)
//    without bias, no parameters of its own when tied to the embedding table;
//  - every block: its pre-norm, then an FFN (moe_net.h: FfnImpl), an MoE, or attention
//    (moe_net.h: AttentionImpl).

#include <spdlog/spdlog.h>

#include <chrono>

#include "cpu_fused.h"
#include "moe_net.h"

namespace moe::train::detail {

using moe::spec::BlockKind;
using moe::spec::StemKind;

namespace {
moe::spec::BlockSpec layerOf(const moe::spec::ModelSpec& m, int index) {
    const auto& blocks = m.hasGroups() ? m.flattened().blocks : m.blocks;
    TORCH_CHECK(index >= 0 && index < static_cast<int>(blocks.size()), "no layer ", index, " in the model");
    return blocks[static_cast<size_t>(index)];
}
}  // namespace

BlockImpl::BlockImpl(const moe::spec::ModelSpec& m, int index)
    : m_spec(layerOf(m, index)), m_index(index), m_moe(m_spec.kind == BlockKind::Moe) {
    const int d = m.stem.dModel;
    m_norm = register_module("norm", Norm(m_spec.norm, d));
    switch (m_spec.kind) {
        case BlockKind::Dense: m_ffn = register_module("ffn", Ffn(d, m_spec.ffn)); return;
        case BlockKind::Attention:
            m_attn = register_module("attention", Attention(m_spec.attention, d, m.stem.positions, m.stem.ropeTheta));
            return;
        case BlockKind::Group: TORCH_CHECK(false, "layer ", index, " is a group: build blocks from the flattened model");
        case BlockKind::Moe: break;
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
    torch::Tensor y;
    if (m_moe) {
        y = moeForward(h, ctx);
    } else if (m_attn) {
        const auto T = h.size(0);
        const auto P = ctx.seqLen > 0 ? ctx.seqLen : T;
        TORCH_CHECK(T % P == 0, "attention: ", T, " tokens do not split into sequences of ", P);
        y = m_attn->forward(h.view({T / P, P, h.size(1)})).reshape({T, -1});
    } else {
        y = m_ffn->forward(h);
    }
    return m_spec.residual ? x + y : y;
}

torch::Tensor BlockImpl::runColumn(int e, const torch::Tensor& rows) {
    const int F = ffnExperts();
    const int zeros = m_spec.zeroExperts.zero, copies = m_spec.zeroExperts.copy;
    if (e < F) return m_experts[static_cast<size_t>(e)]->forward(rows);
    if (e < F + zeros) return torch::zeros_like(rows);
    if (e < F + zeros + copies) return rows;
    return m_constants[static_cast<size_t>(e - F - zeros - copies)]->forward(rows);
}

namespace {
// The rows of each expert, in order, from rows sorted by expert: one split, whose backward pass
// joins the experts' gradients in one go. (A narrow per expert would give every expert a
// gradient the size of all the rows, zeros but its own, and add them all up.)
std::vector<torch::Tensor> byColumn(const torch::Tensor& rows, const std::vector<std::int64_t>& sizes) {
    std::int64_t total = 0;
    for (const auto n : sizes) total += n;
    const auto used = total == rows.size(0) ? rows : rows.narrow(0, 0, total);
    return used.split_with_sizes(sizes, 0);
}
}  // namespace

torch::Tensor BlockImpl::runExperts(const Permuted& p) {
    auto off = p.offsets.to(torch::kCPU);
    const auto* o = off.data_ptr<std::int64_t>();
    std::vector<std::int64_t> sizes(static_cast<size_t>(m_routed));
    for (int e = 0; e < m_routed; ++e) sizes[static_cast<size_t>(e)] = o[e + 1] - o[e];
    const int F = ffnExperts();
    if (F > 0 && o[F] > o[0] && fusedCpuExpertsApplies(p.tokens, m_spec.ffn.activation)) {
        // The FFN experts in one operation; the zero, copy and constant experts' rows after them.
        std::vector<torch::Tensor> weights;
        for (auto& x : m_experts)
            for (auto* l : x->layers()) {
                weights.push_back((*l)->weight);
                if (m_spec.ffn.bias) weights.push_back((*l)->bias);
            }
        std::vector<torch::Tensor> parts{fusedCpuExperts(p.tokens.narrow(0, o[0], o[F] - o[0]), std::vector<std::int64_t>(sizes.begin(), sizes.begin() + F),
                                                         m_spec.ffn.activation, m_spec.ffn.bias, weights)};
        for (int e = F; e < m_routed; ++e)
            if (sizes[static_cast<size_t>(e)] > 0) parts.push_back(runColumn(e, p.tokens.narrow(0, o[e], sizes[static_cast<size_t>(e)])));
        return parts.size() == 1 ? parts[0] : torch::cat(parts, 0);
    }
    const auto columns = byColumn(p.tokens, sizes);
    std::vector<torch::Tensor> parts;
    parts.reserve(static_cast<size_t>(m_routed));
    for (int e = 0; e < m_routed; ++e)
        if (sizes[static_cast<size_t>(e)] > 0) parts.push_back(runColumn(e, columns[static_cast<size_t>(e)]));
    if (parts.empty()) return torch::zeros({0, p.tokens.size(1)}, p.tokens.options());
    return torch::cat(parts, 0);
}

torch::Tensor BlockImpl::runExpertsAcrossRanks(const Permuted& p, const Routing& global, const RouteContext& ctx) {
    auto& ep = *ctx.experts;
    const int W = ep.size(), me = ep.rank(), F = ffnExperts();
    auto off = p.offsets.to(torch::kCPU);
    const auto* o = off.data_ptr<std::int64_t>();
    // counts[j][e]: rows of rank j's tokens that FFN expert e takes, from the batch-wide routing
    // (every rank routed every rank's tokens, so no rank has to ask the others).
    std::vector<std::vector<std::int64_t>> counts(static_cast<size_t>(W));
    {
        torch::NoGradGuard ng;
        auto idx = global.expertIdx.to(torch::kCPU);
        std::int64_t begin = 0;
        for (int r = 0; r < ep.firstRank(); ++r) begin += ctx.group->rowsOf(r);
        for (int j = 0; j < W; ++j) {
            const auto n = ctx.group->rowsOf(ep.firstRank() + j);
            auto mine = idx.narrow(0, begin, n).reshape({-1});
            auto c = torch::bincount(mine.index({(mine >= 0).logical_and(mine < F)}), {}, F).to(torch::kLong).contiguous();
            counts[static_cast<size_t>(j)].assign(c.data_ptr<std::int64_t>(), c.data_ptr<std::int64_t>() + F);
            begin += n;
        }
    }
    const auto [first, last] = ep.expertsOf(F, me);
    std::vector<std::int64_t> send(static_cast<size_t>(W)), recv(static_cast<size_t>(W), 0);
    for (int j = 0; j < W; ++j) {
        const auto [a, b] = ep.expertsOf(F, j);
        send[static_cast<size_t>(j)] = o[b] - o[a];
        for (int e = first; e < last; ++e) recv[static_cast<size_t>(j)] += counts[static_cast<size_t>(j)][static_cast<size_t>(e)];
    }
    auto got = ep.exchange(p.tokens.narrow(0, 0, o[F]), send, recv, m_index, /*dispatch=*/true);
    // `got` holds rank 0's rows for my experts (in expert order), then rank 1's, ...; the experts
    // want their rows together: the order by expert, then by rank.
    std::vector<std::int64_t> order;
    std::vector<std::int64_t> rankStart(static_cast<size_t>(W), 0);
    for (int j = 1; j < W; ++j) rankStart[static_cast<size_t>(j)] = rankStart[static_cast<size_t>(j - 1)] + recv[static_cast<size_t>(j - 1)];
    std::vector<std::int64_t> perExpert;
    for (int e = first; e < last; ++e) {
        std::int64_t n = 0;
        for (int j = 0; j < W; ++j) {
            std::int64_t at = rankStart[static_cast<size_t>(j)];
            for (int e2 = first; e2 < e; ++e2) at += counts[static_cast<size_t>(j)][static_cast<size_t>(e2)];
            const auto c = counts[static_cast<size_t>(j)][static_cast<size_t>(e)];
            for (std::int64_t i = 0; i < c; ++i) order.push_back(at + i);
            n += c;
        }
        perExpert.push_back(n);
    }
    auto orderT = torch::tensor(order, torch::kLong).to(got.device());
    auto byExpert = got.index_select(0, orderT);
    const auto t0 = std::chrono::steady_clock::now();
    const auto columns = byColumn(byExpert, perExpert);
    std::vector<torch::Tensor> parts;
    for (int e = first; e < last; ++e)
        if (perExpert[static_cast<size_t>(e - first)] > 0) parts.push_back(runColumn(e, columns[static_cast<size_t>(e - first)]));
    ep.addExpertSeconds(m_index, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    // With no rows here the (empty) result still hangs on the exchange, so this rank's backward
    // pass takes part in the reverse exchange as every other rank's does.
    auto y = parts.empty() ? byExpert * 0.0 : torch::cat(parts, 0);
    // Back to the order the rows arrived in, then home.
    auto inverse = torch::empty_like(orderT);
    inverse.index_put_({orderT}, torch::arange(orderT.size(0), orderT.options()));
    auto home = ep.exchange(y.index_select(0, inverse), recv, send, m_index, /*dispatch=*/false);
    // The zero, copy and constant experts run where their tokens are.
    std::vector<torch::Tensor> out{home};
    for (int e = F; e < m_routed; ++e) {
        const auto n = o[e + 1] - o[e];
        if (n > 0) out.push_back(runColumn(e, p.tokens.narrow(0, o[e], n)));
    }
    return out.size() == 1 ? home : torch::cat(out, 0);
}

torch::Tensor BlockImpl::moeForward(const torch::Tensor& h, const RouteContext& ctx) {
    const auto T = h.size(0);
    // Over a batch group the routing covers every rank's tokens until the local rows are taken.
    Routing r = m_router->forward(h, ctx);
    BlockRecord rec;
    // Load balancing (Switch/GShard): E x sum_i f_i P_i, f from the router's choices before
    // capacity, P the mean router probability. 1 when perfectly balanced.
    auto f = r.wanted.to(h.scalar_type());
    f = f / f.sum().clamp_min(1.0);
    rec.aux = static_cast<double>(m_routed) * (f * r.probs.mean(0)).sum();
    rec.z = r.logits.defined() ? torch::logsumexp(r.logits, -1).pow(2).mean() : torch::zeros({}, h.options());
    if (ctx.group) {
        rec.aux = ctx.group->wholeBatchTerm(rec.aux);
        rec.z = ctx.group->wholeBatchTerm(rec.z);
    }
    const auto before = r.expertIdx;
    if (!m_spec.capacity.dropless)
        rec.capacity = applyCapacity(r, m_routed, m_spec.capacity.factor, m_spec.capacity.dropPolicy);
    const Routing global = r;
    if (ctx.group) r = localRows(r, before, T);
    // The dispatch/combine seam (kernels' autograd ops when built, plain LibTorch otherwise).
    Permuted p = dispatchPermute(h, r.expertIdx, m_routed);
    TORCH_CHECK(!ctx.experts || ctx.group, "expert parallel needs the batch-wide routing of a batch group");
    auto y = ctx.experts ? runExpertsAcrossRanks(p, global, ctx) : runExperts(p);
    auto out = dispatchCombine(y, p.slotOf, r.gates, T);
    for (auto& s : m_shared) out = out + s->forward(h);
    rec.routing = std::move(r);
    rec.input = h.detach();
    m_last = std::move(rec);
    return out;
}

MoeNetImpl::MoeNetImpl(const moe::spec::ModelSpec& authored) : m_spec(authored.flattened()) {
    const auto& m = m_spec;
    const int d = m.stem.dModel;
    if (m.stem.kind == StemKind::Embedding) {
        TORCH_CHECK(m.input.isText(), "an embedding stem needs text input (token ids)");
        m_embed = register_module("embedding", torch::nn::Embedding(m.stem.vocab, d));
        // GPT-2's initialisation (std 0.02): a tied head then starts with small logits.
        torch::NoGradGuard ng;
        m_embed->weight.normal_(0.0, 0.02);
    } else {
        m_stem = register_module("stem", makeLinear(m.input.tokenDim(), d, true));
    }
    if (m.stem.positions == moe::spec::PositionKind::Learned) {
        const int rows = m.stem.maxPositions > 0 ? m.stem.maxPositions : m.input.tokensPerSample();
        m_positions = register_parameter("positions", torch::randn({rows, d}) * 0.02);
    }
    for (int i = 0; i < static_cast<int>(m.blocks.size()); ++i) {
        m_blocks.push_back(register_module("block" + std::to_string(i), Block(m, i)));
        if (m.blocks[static_cast<size_t>(i)].kind == BlockKind::Moe && m.blocks[static_cast<size_t>(i)].router.kind == moe::spec::RouterKind::Hash)
            m_needsIds = true;
    }
    m_headNorm = register_module("head_norm", Norm(m.head.norm, d));
    if (m.input.isText()) {
        const int vocab = m_embed ? m.stem.vocab : m.input.numClasses();
        TORCH_CHECK(!m.head.tied || m_embed, "a tied LM head needs an embedding stem");
        if (!m.head.tied) m_head = register_module("head", makeLinear(d, vocab, false));
    } else {
        TORCH_CHECK(!m.head.tied, "only a language model's head can be tied to the embedding");
        m_head = register_module("head", makeLinear(d, m.input.numClasses(), true));
    }
    // Fixed multipliers for content ids: a hash of the quantised token, not learned, not saved.
    auto gen = at::detail::createCPUGenerator(0x4a5b);
    m_hashWeights = torch::randint(1, 1 << 20, {m.input.tokenDim()}, gen, torch::kLong);
}

torch::Tensor MoeNetImpl::tokenize(const torch::Tensor& x) const {
    const auto B = x.size(0);
    const auto& in = m_spec.input;
    if (in.isText()) return x.view({B, x.size(1), 1});  // one byte per token, any prefix length
    const int P = in.tokensPerSample();
    if (P == 1) return x.view({B, 1, x.size(1)});
    const int p = in.patch, g = 28 / p;
    return x.view({B, g, p, g, p}).permute({0, 1, 3, 2, 4}).reshape({B, g * g, p * p});
}

torch::Tensor MoeNetImpl::tokenIds(const torch::Tensor& tokens) const {
    torch::NoGradGuard ng;
    const auto B = tokens.size(0), P = tokens.size(1);
    torch::Tensor ids;
    if (m_spec.input.isText()) {
        // Hash layers (Roller et al. 2021) hash the token itself, wherever it stands.
        ids = tokens.to(torch::kCPU).squeeze(-1).to(torch::kLong) * m_hashWeights[0];
    } else {
        auto q = torch::floor(tokens.to(torch::kCPU) * 16).to(torch::kLong);
        ids = (q * m_hashWeights.view({1, 1, -1})).sum(-1) + torch::arange(P, torch::kLong).view({1, P}) * 1000003;
    }
    // One Lehmer step spreads nearby sums before the router takes them modulo its experts.
    ids = torch::remainder(torch::remainder(ids, 2147483647) * 48271, 2147483647);
    return ids.reshape({B * P}).to(tokens.device());
}

torch::Tensor MoeNetImpl::lmHeadWeight() const {
    if (m_spec.head.tied) return m_embed->weight;
    return m_head->weight;
}

torch::Tensor MoeNetImpl::forward(const torch::Tensor& x, const RouteContext& ctxIn, int stopAfter) {
    const auto B = x.size(0);
    auto tokens = tokenize(x);
    const auto P = tokens.size(1);
    torch::Tensor h;
    if (m_embed) {
        h = m_embed->forward(tokens.squeeze(-1).to(torch::kLong));
    } else {
        h = activate(m_stem->forward(tokens), m_spec.stem.activation);
    }
    if (m_positions.defined()) {
        TORCH_CHECK(P <= m_positions.size(0), P, " tokens exceed the ", m_positions.size(0), " learned positions");
        h = h + m_positions.narrow(0, 0, P).unsqueeze(0);
    }
    h = h.reshape({B * P, -1});
    RouteContext ctx = ctxIn;
    ctx.seqLen = P;
    torch::Tensor ids;
    if (m_needsIds) {
        ids = tokenIds(tokens);
        ctx.tokenIds = &ids;
    }
    for (auto& b : m_blocks) {
        h = b->forward(h, ctx);
        if (b->index() == stopAfter) return {};
    }
    if (m_spec.input.isText()) {
        h = m_headNorm->forward(h);
        return m_head ? m_head->forward(h) : applyLinear(h, m_embed->weight);
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

torch::Tensor nextTokenLogits(MoeNetImpl& net, const torch::Tensor& ids) {
    TORCH_CHECK(net.spec().input.isText(), "next-token logits need a language model");
    auto x = ids.dim() == 1 ? ids.unsqueeze(0) : ids;
    TORCH_CHECK(x.dim() == 2 && x.size(0) == 1 && x.size(1) > 0, "nextTokenLogits wants ids [t] or [1, t], got ", ids.sizes());
    const std::int64_t context = net.spec().input.tokensPerSample();
    if (x.size(1) > context) x = x.narrow(1, x.size(1) - context, context);
    EvalScope eval(net);
    const auto params = net.parameters();
    const auto device = params.empty() ? torch::Device(torch::kCPU) : params.front().device();
    auto logits = net.forward(x.to(device, torch::kFloat), RouteContext{});
    return logits[logits.size(0) - 1];
}

}  // namespace moe::train::detail
