#include "moe/train/bench.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <thread>

#include "moe/spec/derived.h"
#include "moe/spec/twin.h"
#include "cpu_blas.h"
#include "device.h"
#include "flat_adam.h"
#include "moe/telemetry/collapse.h"
#include "moe/train/trainer.h"
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

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
}

// Seconds of one n x n x n sgemm on `threads` threads (median of a few): LibTorch's product with
// BLAS on its own threads, or (bands) parallelSgemm, BLAS on one thread and bands over LibTorch's
// threads. It runs on a thread of its own, which takes its OpenMP team with it when it ends
// (cpu_blas.h: SerialScope), and leaves BLAS on one thread.
double gemmSeconds(int n, int threads, bool bands) {
    double seconds = 0;
    std::thread([&] {
        auto a = torch::randn({n, n}), b = torch::randn({n, n});
        auto c = torch::empty({n, n});
        auto product = [&] {
            if (bands)
                detail::parallelSgemm(false, false, n, n, n, 1.0f, a.data_ptr<float>(), n, b.data_ptr<float>(), n, 0.0f, c.data_ptr<float>(), n);
            else
                torch::mm_out(c, a, b);
        };
        detail::setCpuThreads(threads);
        if (!bands) detail::setBlasThreads(threads);
        product();  // warm-up; then into the same output, so no page is new
        std::vector<double> t;
        for (int i = 0; i < 3; ++i) {
            const auto t0 = Clock::now();
            product();
            t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
        }
        detail::setBlasThreads(1);
        seconds = median(t);
    }).join();
    return seconds;
}

}  // namespace

moe::spec::Result<TrainBenchResult> benchTrain(const moe::spec::Project& project, const TrainBenchOptions& o) {
    if (o.steps < 1 || o.warmup < 0 || o.gemmSize < 16)
        return moe::spec::Diagnostics{{"bench", "need at least 1 timed step, no negative warm-up and a GEMM side of at least 16"}};
    moe::spec::Project p = moe::spec::trainingProject(project);  // the network that trains
    if (!detail::haveBlasSgemm()) return moe::spec::Diagnostics{{"bench", "the BLAS LibTorch uses has no sgemm to call directly"}};
    // One step more than is timed: the run's last step evaluates the whole held-out set, which is
    // not training.
    p.training.steps = o.warmup + o.steps + 1;
    p.training.epochs.reset();
    if (o.batch > 0) p.training.batch = o.batch;
    TrainerOptions topt;
    topt.threads = o.threads;
    topt.projectDir = o.projectDir;
    auto created = Trainer::create(p, topt);
    if (!created) return created.errors();
    auto& trainer = *created.value();
    TrainBenchResult r;
    r.threads = trainer.progress().threads;
    r.steps = o.steps;
    r.batch = p.training.batch;
    r.tokensPerStep = static_cast<double>(p.training.batch) * p.model.input.tokensPerSample();
    r.forwardFlopsPerToken = moe::spec::computeFigures(p.model).flopsPerToken;
    const double gemmFlop = 2.0 * o.gemmSize * static_cast<double>(o.gemmSize) * o.gemmSize;
    try {
        // Before the trainer's thread starts; the warm-up steps follow.
        r.gemmBlasThreadsFlops = gemmFlop / gemmSeconds(o.gemmSize, r.threads, false);
        if (o.warmup > 0) {
            trainer.step(o.warmup);
            trainer.wait();
        }
        // Chunks of training steps interleaved with GEMM timings, so a busy machine slows both alike.
        const int chunk = std::max(1, std::min(5, o.steps));
        std::vector<double> perStep, gemm;
        for (int done = 0; done < o.steps;) {
            const int n = std::min(chunk, o.steps - done);
            const auto t0 = Clock::now();
            trainer.step(n);
            trainer.wait();
            perStep.push_back(std::chrono::duration<double>(Clock::now() - t0).count() / n);
            const auto pr = trainer.progress();
            if (pr.state == TrainerState::Failed) return moe::spec::Diagnostics{{"bench", pr.message}};
            gemm.push_back(gemmSeconds(o.gemmSize, r.threads, true));
            done += n;
        }
        r.secondsPerStep = median(perStep);
        // The fastest chunk's product: a slower one was slowed by something else on the machine.
        r.gemmBandsFlops = gemmFlop / *std::min_element(gemm.begin(), gemm.end());
        r.gemmFlops = std::max(r.gemmBandsFlops, r.gemmBlasThreadsFlops);
        r.trainFlops = 3.0 * r.forwardFlopsPerToken * r.tokensPerStep / r.secondsPerStep;
        r.fraction = r.trainFlops / r.gemmFlops;
        trainer.stop();
        return r;
    } catch (const c10::Error& e) {
        return moe::spec::Diagnostics{{"bench", std::string("LibTorch error: ") + e.what_without_backtrace()}};
    }
}

moe::spec::Result<LayerBenchResult> benchLayer(const LayerBenchOptions& o) {
    if (o.k > o.experts || o.k < 1 || o.experts < 1 || o.tokens < 1 || o.dModel < 1 || o.hidden < 1 || o.reps < 1)
        return moe::spec::Diagnostics{{"bench", "need 1 <= k <= experts and positive sizes and repetitions"}};
    try {
        const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
        detail::setCpuThreads(o.threads > 0 ? o.threads : static_cast<int>(hw));
        LayerBenchResult r;
        r.threads = at::get_num_threads();
        torch::Device device(torch::kCPU);
        if (auto e = detail::resolveDevice(o.device, device, "--device"); !e.empty()) return moe::spec::Diagnostics{{"bench", e}};
        r.device = device.str();
        torch::manual_seed(1);
        const auto spec = benchSpec(o);
        detail::RouteContext train;
        train.training = true;

        // MoE block forward + backward.
        detail::Block block(spec, 0);
        block->to(device);
        auto x = torch::randn({o.tokens, o.dModel}, torch::TensorOptions().device(device).requires_grad(true));
        auto moeStep = [&] {
            block->zero_grad();
            auto y = block->forward(x, train);
            y.sum().backward();
        };
        // Dense equivalent: the k chosen experts' GEMMs, i.e. one FFN over tokens x k rows.
        detail::Ffn ffn(o.dModel, spec.blocks[0].ffn);
        ffn->to(device);
        auto xd = torch::randn({static_cast<std::int64_t>(o.tokens) * o.k, o.dModel}, torch::TensorOptions().device(device).requires_grad(true));
        auto denseStep = [&] {
            ffn->zero_grad();
            ffn->forward(xd).sum().backward();
        };
        const auto impl = detail::dispatchImpl();
        r.kernels = impl == detail::DispatchImpl::Kernels;
        // Interleaved repetitions so a busy machine slows all three alike; medians reported.
        std::vector<double> tm, tp, td;
        auto timed = [&device](auto&& f) {
            const auto t0 = Clock::now();
            f();
            detail::synchronize(device);
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
        net->to(device);
        detail::FlatAdam adam(net->parameters(), torch::optim::AdamOptions(1e-3));
        auto xs = torch::randn({o.tokens, o.dModel}).to(device);
        auto ys = torch::randint(0, 8, {o.tokens}, torch::kLong).to(device);
        auto step = [&](bool telemetry) {
            auto logits = net->forward(xs, train);
            auto loss = torch::nn::functional::cross_entropy(logits, ys) + net->routingLoss();
            adam.zeroGrad();
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
                detail::synchronize(device);
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
