#include "probe.h"

#include <cmath>
#include <sstream>

namespace moe::train::detail {
namespace {

std::vector<double> toVector(const torch::Tensor& t) {
    auto c = t.detach().to(torch::kCPU, torch::kDouble).contiguous();
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

constexpr int kEntropyBins = 20;
constexpr std::int64_t kSimilarityProbe = 128;  // tokens each expert runs for the similarity matrix

}  // namespace

moe::telemetry::BlockSnapshot probeBlock(BlockImpl& block, const torch::Tensor& tokenLabels, int classes, bool withSimilarity) {
    torch::NoGradGuard ng;
    const BlockRecord& rec = block.last();
    const Routing& r = rec.routing;
    moe::telemetry::BlockSnapshot s;
    const int E = block.routedExperts();
    s.block = block.index();
    s.experts = E;
    s.ffnExperts = block.ffnExperts();
    auto idx = r.expertIdx.to(torch::kCPU);
    const auto T = idx.size(0), K = idx.size(1);
    s.tokens = T;
    auto valid = idx >= 0;
    auto kept = idx.index({valid});
    s.tokensPerExpert = toVector(torch::bincount(kept, {}, E));
    auto probs = r.probs.detach().to(torch::kCPU, torch::kDouble);
    s.meanGateProb = toVector(probs.mean(0));
    s.dropped = r.dropped;
    auto p = probs.clamp_min(1e-12);
    auto h = -(p * p.log()).sum(-1);
    s.meanTokenEntropy = h.mean().item<double>();
    const double hMax = std::log(static_cast<double>(std::max(E, 2)));
    s.tokenEntropyHist = toVector(torch::histc(h.clamp(0.0, hMax).to(torch::kFloat), kEntropyBins, 0.0, hMax));
    s.expertsPerTokenHist = toVector(torch::bincount(valid.sum(-1), {}, E + 1));
    s.classes = classes;
    auto labels = tokenLabels.to(torch::kCPU).unsqueeze(1).expand({T, K}).index({valid});
    s.classExpert = toVector(torch::bincount(labels * E + kept, {}, static_cast<std::int64_t>(classes) * E));
    const int F = block.ffnExperts();
    if (withSimilarity && F >= 2 && rec.input.defined() && rec.input.size(0) > 0) {
        auto probe = rec.input.narrow(0, 0, std::min<std::int64_t>(kSimilarityProbe, rec.input.size(0)));
        std::vector<torch::Tensor> outs;
        for (int e = 0; e < F; ++e) outs.push_back(block.runExpert(e, probe).reshape({-1}));
        auto m = torch::stack(outs).to(torch::kDouble);
        m = m / m.norm(2, 1, true).clamp_min(1e-12);
        s.similarity = toVector(m.matmul(m.t()));
    }
    auto& router = block.router();
    if (router->hasWeights()) {
        const auto& g = router->linear()->weight.grad();
        s.routerGradNorm = g.defined() ? g.norm().item<double>() : 0.0;
    } else {
        s.routerGradNorm = -1;
    }
    s.auxLoss = rec.aux.defined() ? rec.aux.item<double>() : 0.0;
    s.zLoss = rec.z.defined() ? rec.z.item<double>() : 0.0;
    return s;
}

std::vector<std::vector<int>> routingMaps(MoeNetImpl& net, double xMin, double xMax, double yMin, double yMax, int res,
                                          torch::Device device) {
    torch::NoGradGuard ng;
    std::vector<std::vector<int>> maps;
    int lastMoe = -1;
    for (auto& b : net.blocks())
        if (b->isMoe()) lastMoe = b->index();
    if (lastMoe < 0 || res <= 0) return maps;
    auto cells = torch::arange(res, torch::kDouble).add(0.5).div(res);
    auto xs = (xMin + cells * (xMax - xMin)).to(torch::kFloat);
    auto ys = (yMin + cells * (yMax - yMin)).to(torch::kFloat);
    // Row-major with row 0 at yMin: y varies slowest.
    auto grid = torch::stack({xs.repeat({res}), ys.repeat_interleave(res)}, 1).to(device);
    {
        EvalScope eval(net);
        RouteContext ctx;
        net.forward(grid, ctx, lastMoe);
    }
    for (auto& b : net.blocks()) {
        if (!b->isMoe()) continue;
        auto first = b->last().routing.rankFirst.to(torch::kCPU, torch::kInt).contiguous();
        maps.emplace_back(first.data_ptr<int>(), first.data_ptr<int>() + first.numel());
    }
    return maps;
}

double evaluate(MoeNetImpl& net, const torch::Tensor& x, const torch::Tensor& y, torch::Device device) {
    EvalScope eval(net);
    const auto n = x.size(0);
    std::int64_t correct = 0;
    constexpr std::int64_t kBatch = 1024;
    RouteContext ctx;
    for (std::int64_t i = 0; i < n; i += kBatch) {
        const auto m = std::min(kBatch, n - i);
        auto logits = net.forward(x.narrow(0, i, m).to(device), ctx);
        correct += logits.argmax(-1).eq(y.narrow(0, i, m).to(device)).sum().item<std::int64_t>();
    }
    return n > 0 ? static_cast<double>(correct) / static_cast<double>(n) : 0.0;
}

LmEvaluation evaluateLm(MoeNetImpl& net, const torch::Tensor& x, const torch::Tensor& y, torch::Device device) {
    EvalScope eval(net);
    const auto n = x.size(0), S = x.size(1);
    constexpr std::int64_t kSequences = 16;
    double lossSum = 0;
    std::int64_t correct = 0;
    RouteContext ctx;
    for (std::int64_t i = 0; i < n; i += kSequences) {
        const auto m = std::min(kSequences, n - i);
        auto logits = net.forward(x.narrow(0, i, m).to(device), ctx);
        auto target = y.narrow(0, i * S, m * S).to(device);
        lossSum += torch::nn::functional::cross_entropy(logits, target, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                       .item<double>();
        correct += logits.argmax(-1).eq(target).sum().item<std::int64_t>();
    }
    const double tokens = static_cast<double>(n * S);
    return tokens > 0 ? LmEvaluation{lossSum / tokens, static_cast<double>(correct) / tokens} : LmEvaluation{};
}

std::vector<ProbeRouting> probeRouting(MoeNetImpl& net, const torch::Tensor& x, std::int64_t tokens, torch::Device device) {
    {
        EvalScope eval(net);
        RouteContext ctx;
        net.forward(x.to(device), ctx);
    }
    std::vector<ProbeRouting> out;
    for (auto& b : net.blocks()) {
        if (!b->isMoe()) continue;
        const auto& r = b->last().routing;
        const auto n = std::min<std::int64_t>(tokens, r.expertIdx.size(0));
        auto idx = r.expertIdx.narrow(0, 0, n).to(torch::kCPU, torch::kInt).contiguous();
        auto g = r.gates.narrow(0, 0, n).detach().to(torch::kCPU, torch::kFloat).contiguous();
        ProbeRouting p;
        p.k = static_cast<int>(idx.size(1));
        p.experts.assign(idx.data_ptr<int>(), idx.data_ptr<int>() + idx.numel());
        p.gates.assign(g.data_ptr<float>(), g.data_ptr<float>() + g.numel());
        out.push_back(std::move(p));
    }
    return out;
}

double maxRouterLogit(MoeNetImpl& net, int& block) {
    torch::NoGradGuard ng;
    double worst = 0;
    block = -1;
    for (auto& b : net.blocks()) {
        if (!b->isMoe() || !b->last().routing.logits.defined()) continue;
        const auto& l = b->last().routing.logits;
        const double v = torch::isfinite(l).all().item<bool>() ? l.abs().max().item<double>() : INFINITY;
        if (block < 0 || !(v <= worst)) {
            worst = v;
            block = b->index();
        }
        if (!std::isfinite(v)) break;
    }
    return worst;
}

std::string describeBlowUp(MoeNetImpl& net, int& block) {
    const double v = maxRouterLogit(net, block);
    std::ostringstream s;
    if (block < 0) {
        s << "the model has no router to blame (no MoE block)";
    } else if (!std::isfinite(v)) {
        s << "the router logits of block " << block << " blew up (they are no longer finite)";
    } else if (v > kRouterLogitLimit) {
        s << "the router logits of block " << block << " blew up (max |logit| " << v << ")";
    } else {
        s << "the router logits of block " << block << " are the largest (max |logit| " << v << ")";
    }
    return s.str();
}

}  // namespace moe::train::detail
