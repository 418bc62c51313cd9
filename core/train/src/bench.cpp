#include "moe/train/bench.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "moe/telemetry/collapse.h"
#include "probe.h"

namespace moe::train {
namespace {

using Clock = std::chrono::steady_clock;

moe::spec::ModelSpec benchSpec(const LayerBenchOptions& o) {
    moe::spec::ModelSpec m;
    m.name = "bench layer";
    m.input.dataset = moe::spec::DatasetKind::ClusteredTokens;
    m.input.dims = o.dModel;
    m.input.classes = 8;
    m.stem.dModel = o.dModel;
    moe::spec::BlockSpec b;
    b.kind = moe::spec::BlockKind::Moe;
    b.norm = moe::spec::NormKind::None;
    b.experts = o.experts;
    b.router.k = o.k;
    b.ffn.hidden = o.hidden;
    b.losses.aux = 0.01;
    m.blocks.push_back(b);
    return m;
}

}  // namespace

moe::spec::Result<LayerBenchResult> benchLayer(const LayerBenchOptions& o) {
    if (o.k > o.experts || o.k < 1 || o.experts < 1 || o.tokens < 1 || o.dModel < 1 || o.hidden < 1 || o.reps < 1)
        return moe::spec::Diagnostics{{"bench", "need 1 <= k <= experts and positive sizes and repetitions"}};
    try {
        const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
        at::set_num_threads(o.threads > 0 ? o.threads : static_cast<int>(hw));
        LayerBenchResult r;
        r.threads = at::get_num_threads();
        torch::manual_seed(1);
        const auto spec = benchSpec(o);
        detail::RouteContext train;
        train.training = true;

        // MoE block forward + backward.
        detail::Block block(spec, 0);
        auto x = torch::randn({o.tokens, o.dModel}, torch::requires_grad());
        auto moeStep = [&] {
            block->zero_grad();
            auto y = block->forward(x, train);
            y.sum().backward();
        };
        // Dense equivalent: the k chosen experts' GEMMs, i.e. one FFN over tokens x k rows.
        detail::Ffn ffn(o.dModel, spec.blocks[0].ffn);
        auto xd = torch::randn({static_cast<std::int64_t>(o.tokens) * o.k, o.dModel}, torch::requires_grad());
        auto denseStep = [&] {
            ffn->zero_grad();
            ffn->forward(xd).sum().backward();
        };
        const auto impl = detail::dispatchImpl();
        r.kernels = impl == detail::DispatchImpl::Kernels;
        // Interleaved repetitions so a busy machine slows all three alike; medians reported.
        std::vector<double> tm, tp, td;
        auto timed = [](auto&& f) {
            const auto t0 = Clock::now();
            f();
            return std::chrono::duration<double>(Clock::now() - t0).count();
        };
        for (int i = 0; i < o.warmup + o.reps; ++i) {
            detail::setDispatchImpl(impl);
            const double a = timed(moeStep);
            detail::setDispatchImpl(detail::DispatchImpl::Plain);
            const double b = timed(moeStep);
            const double c = timed(denseStep);
            if (i < o.warmup) continue;
            tm.push_back(a);
            tp.push_back(b);
            td.push_back(c);
        }
        detail::setDispatchImpl(impl);
        for (auto* v : {&tm, &tp, &td}) std::sort(v->begin(), v->end());
        r.moeSeconds = tm[tm.size() / 2];
        r.moePlainSeconds = tp[tp.size() / 2];
        r.denseSeconds = td[td.size() / 2];
        r.moeOverDense = r.moeSeconds / r.denseSeconds;

        // Training step with and without the snapshot work, interleaved so machine load hits both.
        detail::MoeNet net(spec);
        torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(1e-3));
        auto xs = torch::randn({o.tokens, o.dModel});
        auto ys = torch::randint(0, 8, {o.tokens}, torch::kLong);
        auto step = [&](bool telemetry) {
            auto logits = net->forward(xs, train);
            auto loss = torch::nn::functional::cross_entropy(logits, ys) + net->routingLoss();
            adam.zero_grad();
            loss.backward();
            if (telemetry) {
                auto s = std::make_shared<moe::telemetry::RoutingSnapshot>();
                for (auto& b : net->blocks())
                    if (b->isMoe()) s->blocks.push_back(detail::probeBlock(*b, ys, 8));
                s->alerts = moe::telemetry::detectCollapse(*s);
            }
            adam.step();
            net->afterOptimizerStep();
        };
        for (int i = 0; i < o.warmup; ++i) step(true);
        std::vector<double> off, on;
        for (int i = 0; i < o.reps; ++i)
            for (bool tel : {false, true}) {
                const auto t0 = Clock::now();
                step(tel);
                (tel ? on : off).push_back(std::chrono::duration<double>(Clock::now() - t0).count());
            }
        std::sort(off.begin(), off.end());
        std::sort(on.begin(), on.end());
        r.stepSeconds = off[off.size() / 2];
        r.stepTelemetrySeconds = on[on.size() / 2];
        r.telemetryOverStep = r.stepTelemetrySeconds / r.stepSeconds;
        const double interval = std::max(1, o.telemetryInterval);
        r.telemetryAmortized = 1.0 + (r.telemetryOverStep - 1.0) / interval;
        return r;
    } catch (const c10::Error& e) {
        return moe::spec::Diagnostics{{"bench", std::string("LibTorch error: ") + e.what_without_backtrace()}};
    }
}

}  // namespace moe::train
