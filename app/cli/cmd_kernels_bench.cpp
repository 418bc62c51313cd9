// `moe bench kernels`: per-op throughput of every available kernel backend and of the plain
// LibTorch index-op path doing the same work, all timed in one run, with ratios.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <thread>

#include "cli_command.h"
#include "moe/kernels/backend.h"
#include "moe/kernels/torch_ops.h"

namespace {

namespace k = moe::kernels;
namespace ops = moe::kernels::torch_ops;
using Clock = std::chrono::steady_clock;

struct Config {
    int64_t T = 4096, d = 1024, E = 8, k = 2;
    int reps = 10, warmup = 2, threads = 1;
    double capacityFactor = 1.25;
};

struct Runner {
    std::function<void()> fn;
    std::function<void()> sync;  // waits for asynchronous backends
};

// Median wall time per call in ms of each runner. Runners take turns within every repetition so
// that load from other processes falls on all of them alike and the ratios stay meaningful.
std::vector<double> timeInterleaved(const Config& c, const std::vector<Runner>& runners) {
    for (const Runner& r : runners) {
        for (int i = 0; i < c.warmup; ++i) r.fn();
        r.sync();
    }
    std::vector<std::vector<double>> ms(runners.size());
    for (int rep = 0; rep < c.reps; ++rep)
        for (size_t i = 0; i < runners.size(); ++i) {
            const auto t0 = Clock::now();
            runners[i].fn();
            runners[i].sync();
            ms[i].push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        }
    std::vector<double> med;
    for (auto& v : ms) {
        std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
        med.push_back(v[v.size() / 2]);
    }
    return med;
}

void ok(const k::Status& s, const char* what) {
    if (!s) throw std::runtime_error(std::string(what) + ": " + s.message);
}

// Host inputs shared by every runner, prepared once by the fast CPU backend.
struct HostData {
    std::vector<float> logits, probs, gates, x, y, dOut, dTokens, dGates, dProbs;
    std::vector<int64_t> idx, offsets, slotOf, rowToken, rowAssign;
    int64_t S = 0, capacity = 0;
};

HostData prepare(const Config& c) {
    HostData h;
    const size_t TE = static_cast<size_t>(c.T * c.E), TK = static_cast<size_t>(c.T * c.k);
    auto rnd = [](size_t n) {
        const at::Tensor t = at::randn({static_cast<int64_t>(n)});
        return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + n);
    };
    h.logits = rnd(TE);
    h.probs.resize(TE);
    h.gates.resize(TK);
    h.idx.resize(TK);
    k::Backend& be = k::hostBackend();
    ok(be.gatingForward({{c.T, c.E, c.k}, h.logits.data(), nullptr, h.probs.data(), h.idx.data(), h.gates.data()}),
       "prepare gating");
    h.offsets.resize(static_cast<size_t>(c.E + 1));
    h.slotOf.resize(TK);
    h.rowToken.resize(TK);
    h.rowAssign.resize(TK);
    ok(be.buildDispatch({c.T, c.k, c.E, h.idx.data(), h.offsets.data(), h.slotOf.data(), h.rowToken.data(),
                         h.rowAssign.data()}),
       "prepare dispatch");
    h.S = h.offsets.back();
    const size_t SD = static_cast<size_t>(h.S * c.d), TD = static_cast<size_t>(c.T * c.d);
    h.x = rnd(TD);
    h.y = rnd(SD);
    h.dOut = rnd(TD);
    h.dTokens = rnd(SD);
    h.dGates = rnd(TK);
    h.dProbs = rnd(TE);
    h.capacity = k::capacityFor(c.capacityFactor, c.T, c.k, c.E);
    return h;
}

// The inputs and outputs of every op in one backend's memory.
class BackendData {
public:
    BackendData(k::Backend& be, const HostData& h, const Config& c) : m_be(be) {
        const size_t TE = static_cast<size_t>(c.T * c.E), TK = static_cast<size_t>(c.T * c.k),
                     SD = static_cast<size_t>(h.S * c.d), TD = static_cast<size_t>(c.T * c.d);
        logits = up(h.logits), probs = up(h.probs), gates = up(h.gates), x = up(h.x), y = up(h.y);
        dOut = up(h.dOut), dTokens = up(h.dTokens), dGates = up(h.dGates), dProbs = up(h.dProbs);
        idx = up(h.idx), slotOf = up(h.slotOf), rowToken = up(h.rowToken), rowAssign = up(h.rowAssign);
        oProbs = alloc<float>(TE), oGates = alloc<float>(TK), oLogits = alloc<float>(TE);
        oIdx = alloc<int64_t>(TK), oSlot = alloc<int64_t>(TK), oKept = alloc<int64_t>(static_cast<size_t>(c.E));
        oDropped = alloc<uint8_t>(TK), oOffsets = alloc<int64_t>(static_cast<size_t>(c.E + 1));
        oSlotOf = alloc<int64_t>(TK), oRowToken = alloc<int64_t>(TK), oRowAssign = alloc<int64_t>(TK);
        oTokens = alloc<float>(SD), oOut = alloc<float>(TD), oDx = alloc<float>(TD), oDy = alloc<float>(SD);
        oDg = alloc<float>(TK);
    }
    ~BackendData() {
        for (void* p : m_ptrs) m_be.release(p);
    }
    BackendData(const BackendData&) = delete;
    BackendData& operator=(const BackendData&) = delete;

    float *logits, *probs, *gates, *x, *y, *dOut, *dTokens, *dGates, *dProbs;
    int64_t *idx, *slotOf, *rowToken, *rowAssign;
    float *oProbs, *oGates, *oLogits, *oTokens, *oOut, *oDx, *oDy, *oDg;
    int64_t *oIdx, *oSlot, *oKept, *oOffsets, *oSlotOf, *oRowToken, *oRowAssign;
    uint8_t* oDropped;

private:
    template <class T>
    T* alloc(size_t n) {
        void* p = m_be.allocate(std::max<size_t>(n, 1) * sizeof(T));
        if (!p) throw std::runtime_error("out of memory on backend " + std::string(m_be.name()));
        m_ptrs.push_back(p);
        return static_cast<T*>(p);
    }
    template <class T>
    T* up(const std::vector<T>& h) {
        T* p = alloc<T>(h.size());
        ok(m_be.copyToBackend(p, h.data(), h.size() * sizeof(T)), "upload");
        return p;
    }
    k::Backend& m_be;
    std::vector<void*> m_ptrs;
};

at::Tensor tensorOf(const std::vector<float>& v, std::vector<int64_t> shape) {
    return at::from_blob(const_cast<float*>(v.data()), shape, at::kFloat).clone();
}
at::Tensor tensorOf(const std::vector<int64_t>& v, std::vector<int64_t> shape) {
    return at::from_blob(const_cast<int64_t*>(v.data()), shape, at::kLong).clone();
}

struct OpRow {
    std::string op;
    std::string what;                           // the plain LibTorch ops it is compared with
    std::function<void(k::Backend&, BackendData&)> kernel;
    std::function<void()> libtorch;
};

int run(const moe::cli::ParsedArgs& a) {
    Config c;
    c.T = a.intValue("tokens", 4096, 1, 1 << 20);
    c.d = a.intValue("dim", 1024, 1, 1 << 16);
    c.E = a.intValue("experts", 8, 1, 4096);
    c.k = a.intValue("k", 2, 1, 4096);
    if (c.k > c.E)
        throw moe::cli::UsageError("--k " + std::to_string(c.k) + " must be at most --experts (" + std::to_string(c.E) + ")");
    if (c.T * c.k * c.d > (int64_t{1} << 31))
        throw moe::cli::UsageError("--tokens x --k x --dim must stay under 2^31 elements (2 GiB of buffers per copy)");
    c.reps = a.intValue("reps", 10, 1, 1000);
    const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    c.threads = a.intValue("threads", hw, 1, 1024);
    const bool json = a.flag("json");
    // LibTorch defaults to one thread here; the kernels' OpenMP pool follows the same setting.
    at::set_num_threads(c.threads);
    at::manual_seed(1);

    const HostData h = prepare(c);
    const int64_t T = c.T, d = c.d, E = c.E, K = c.k, S = h.S;
    // Plain LibTorch tensors for the same work.
    const at::Tensor tLogits = tensorOf(h.logits, {T, E}), tIdx = tensorOf(h.idx, {T, K}),
                     tGates = tensorOf(h.gates, {T, K}), tX = tensorOf(h.x, {T, d}), tY = tensorOf(h.y, {S, d}),
                     tDOut = tensorOf(h.dOut, {T, d}), tDTokens = tensorOf(h.dTokens, {S, d}),
                     tDGates = tensorOf(h.dGates, {T, K}), tSlotOf = tensorOf(h.slotOf, {T, K}),
                     tRowToken = tensorOf(h.rowToken, {S}), tRowAssign = tensorOf(h.rowAssign, {S}),
                     tDProbs = tensorOf(h.dProbs, {T, E});
    const int64_t cap = h.capacity;

    std::vector<OpRow> rows;
    rows.push_back({"gating_forward", "softmax, topk, gather, renormalise",
                    [&](k::Backend& be, BackendData& b) {
                        ok(be.gatingForward({{T, E, K}, b.logits, nullptr, b.oProbs, b.oIdx, b.oGates}), "gating");
                    },
                    [&] { ops::composite::gating(tLogits, K); }});
    rows.push_back({"gating_backward", "autograd through the composite",
                    [&](k::Backend& be, BackendData& b) {
                        ok(be.gatingBackward({{T, E, K}, b.probs, b.idx, b.gates, b.dGates, b.dProbs, b.oLogits}),
                           "gating backward");
                    },
                    [&, l = tLogits.clone().requires_grad_(true)]() mutable {
                        const ops::Gating g = ops::composite::gating(l, K);
                        torch::autograd::grad({g.gates, g.probs}, {l}, {tDGates, tDProbs});
                    }});
    rows.push_back({"histogram", "bincount",
                    [&](k::Backend& be, BackendData& b) { ok(be.histogram({T * K, E, b.idx, b.oKept}), "histogram"); },
                    [&] { at::bincount(tIdx.reshape({-1}), {}, E); }});
    rows.push_back({"assign_slots", "scatter to [T,E], topk per expert, cumsum",
                    [&](k::Backend& be, BackendData& b) {
                        ok(be.assignSlots({T, K, E, cap, k::DropPolicy::Probs, b.idx, b.gates, b.oSlot, b.oDropped, b.oKept}),
                           "assign slots");
                    },
                    [&] {
                        const at::Tensor gm = at::zeros({T, E}).scatter_(1, tIdx, tGates).t();
                        const at::Tensor top = std::get<1>(at::topk(gm, std::min(cap, T), 1));
                        const at::Tensor keep = at::zeros({E, T}).scatter_(1, top, 1.0).mul_(gm.gt(0));
                        (keep.cumsum(1) - 1).mul_(keep);
                    }});
    rows.push_back({"permute", "stable sort, bincount, index_select",
                    [&](k::Backend& be, BackendData& b) {
                        ok(be.buildDispatch({T, K, E, b.idx, b.oOffsets, b.oSlotOf, b.oRowToken, b.oRowAssign}), "dispatch");
                        ok(be.permute({T, S, d, b.x, b.rowToken, b.oTokens}), "permute");
                    },
                    [&] { ops::composite::permute(tX, tIdx, E); }});
    rows.push_back({"unpermute_combine", "index_select, mul, index_add",
                    [&](k::Backend& be, BackendData& b) {
                        ok(be.unpermuteCombine({T, K, S, d, b.y, b.slotOf, b.gates, b.oOut}), "combine");
                    },
                    [&] { ops::composite::unpermuteCombine(tY, tSlotOf, tGates, T); }});
    rows.push_back({"permute_backward", "index_add",
                    [&](k::Backend& be, BackendData& b) {
                        ok(be.permuteBackward({T, K, S, d, b.dTokens, b.slotOf, b.oDx}), "permute backward");
                    },
                    [&] { at::zeros({T, d}).index_add_(0, tRowToken, tDTokens); }});
    rows.push_back({"unpermute_combine_backward", "index_select, mul, sum",
                    [&](k::Backend& be, BackendData& b) {
                        ok(be.unpermuteCombineBackward({T, K, S, d, b.dOut, b.y, b.slotOf, b.rowToken, b.rowAssign,
                                                        b.gates, b.oDy, b.oDg}),
                           "combine backward");
                    },
                    [&] {
                        const at::Tensor g = tDOut.index_select(0, tRowToken);
                        g.mul(tGates.reshape({-1}).index_select(0, tRowAssign).unsqueeze(1));  // dY
                        at::zeros({T * K}).index_put_({tRowAssign}, (g * tY).sum(1));          // dGates
                    }});

    std::vector<k::Backend*> backends = k::availableBackends();
    std::vector<std::unique_ptr<BackendData>> data;
    for (k::Backend* be : backends) data.push_back(std::make_unique<BackendData>(*be, h, c));

    nlohmann::ordered_json j;
    j["config"] = {{"tokens", T}, {"dim", d}, {"experts", E}, {"k", K}, {"capacity", cap},
                   {"threads", c.threads}, {"reps", c.reps}, {"timing", "median wall time per call"}};
    j["backends"] = nlohmann::ordered_json::array();
    for (k::Backend* be : backends) j["backends"].push_back({{"name", be->name()}, {"device", be->description()}});
    if (!k::backend(k::BackendKind::Cuda)) j["unavailable"] = {{"cuda", k::unavailableReason(k::BackendKind::Cuda)}};

    moe::cli::Table table({"op", "backend", "ms", "ktokens/s", "x libtorch"});
    std::map<std::string, std::map<std::string, double>> msOf;  // op -> runner -> ms
    const auto noSync = [] {};
    for (const OpRow& r : rows) {
        std::vector<Runner> runners{{r.libtorch, noSync}};
        for (size_t i = 0; i < backends.size(); ++i) {
            k::Backend* be = backends[i];
            BackendData* bd = data[i].get();
            runners.push_back({[&r, be, bd] { r.kernel(*be, *bd); }, [be] { be->synchronize(); }});
        }
        const std::vector<double> ms = timeInterleaved(c, runners);
        const double ref = ms[0];
        nlohmann::ordered_json jr{{"op", r.op}, {"libtorch_ops", r.what}, {"results", nlohmann::ordered_json::array()}};
        for (size_t i = 0; i < runners.size(); ++i) {
            const std::string name = i == 0 ? std::string("libtorch") : std::string(backends[i - 1]->name());
            const double ktps = static_cast<double>(T) / (ms[i] * 1e-3) / 1e3;
            msOf[r.op][name] = ms[i];
            table.add({r.op, name, moe::cli::fixed(ms[i], 3), moe::cli::fixed(ktps, 0), moe::cli::fixed(ref / ms[i], 2)});
            jr["results"].push_back({{"backend", name}, {"ms", ms[i]}, {"ktokens_per_s", ktps}, {"speedup_vs_libtorch", ref / ms[i]}});
        }
        table.separator();
        j["ops"].push_back(jr);
    }

    // The engine's view: permute -> expert (here a fixed scale) -> combine, forward and backward
    // through autograd, kernels (torch_ops) against the plain composite.
    const at::Tensor scale = at::rand({S, d}) + 0.5, r = at::randn({T, d});
    auto endToEnd = [&](bool kernels) {
        at::Tensor x = tX.clone().requires_grad_(true), g = tGates.clone().requires_grad_(true);
        const ops::Permuted p = kernels ? ops::permute(x, tIdx, E) : ops::composite::permute(x, tIdx, E);
        const at::Tensor y = p.tokens * scale;
        const at::Tensor out = kernels ? ops::unpermuteCombine(y, p.slotOf, g, T)
                                       : ops::composite::unpermuteCombine(y, p.slotOf, g, T);
        (out * r).sum().backward();
    };
    const std::vector<double> e2e = timeInterleaved(c, {{[&] { endToEnd(false); }, noSync}, {[&] { endToEnd(true); }, noSync}});
    const double e2eTorch = e2e[0], e2eKernels = e2e[1];
    table.add({"autograd fwd+bwd", "libtorch", moe::cli::fixed(e2eTorch, 3), "", "1.00"});
    table.add({"autograd fwd+bwd", "torch_ops", moe::cli::fixed(e2eKernels, 3), "", moe::cli::fixed(e2eTorch / e2eKernels, 2)});

    const auto& pm = msOf["permute"];
    const auto& cm = msOf["unpermute_combine"];
    const double fwdTorch = pm.at("libtorch") + cm.at("libtorch");
    const double fwdFast = pm.at("cpu_fast") + cm.at("cpu_fast");
    j["end_to_end"] = {{"what", "permute, x scale, unpermute-combine, sum; forward + backward through autograd"},
                       {"libtorch_ms", e2eTorch}, {"torch_ops_ms", e2eKernels}, {"speedup", e2eTorch / e2eKernels}};
    j["target"] = {{"what", "cpu_fast permute + unpermute_combine vs plain LibTorch, >= 2x"},
                   {"libtorch_ms", fwdTorch}, {"cpu_fast_ms", fwdFast}, {"speedup", fwdTorch / fwdFast},
                   {"met", fwdTorch / fwdFast >= 2.0}};
    if (json) {
        moe::cli::printJson(j);
        return 0;
    }
    std::cout << "moe bench kernels: T=" << T << " d=" << d << " E=" << E << " k=" << K << " capacity=" << cap
              << ", " << c.threads << " threads, median of " << c.reps << "\n";
    for (k::Backend* be : backends) std::cout << "  " << be->name() << ": " << be->description() << "\n";
    if (!k::backend(k::BackendKind::Cuda)) std::cout << "  cuda: " << k::unavailableReason(k::BackendKind::Cuda) << "\n";
    std::cout << "\n" << table.str();
    std::printf("\npermute + unpermute_combine, cpu_fast vs libtorch: %.3f ms vs %.3f ms = %.2fx (target 2x: %s)\n",
                fwdFast, fwdTorch, fwdTorch / fwdFast, fwdTorch / fwdFast >= 2.0 ? "met" : "not met");
    return 0;
}

MOE_CLI_COMMAND(moe::cli::CommandSpec{
    "bench kernels", "throughput of the routing kernels per backend vs plain LibTorch index ops", "",
    "Times every kernel op (gating, histogram, slot assignment, permute, unpermute-combine and the\n"
    "backwards) on each available backend (reference, cpu_fast, cuda when a device answers) and the\n"
    "plain LibTorch ops doing the same work, in one run; ratios are LibTorch time / backend time.\n"
    "Ends with an autograd forward+backward of permute -> combine through torch_ops vs the composite.",
    {{"tokens", "T", "tokens (default 4096)"},
     {"dim", "D", "feature dimension (default 1024)"},
     {"experts", "E", "experts (default 8)"},
     {"k", "K", "experts per token (default 2)"},
     {"reps", "N", "timed repetitions per op, median reported (default 10)"},
     {"threads", "N", "CPU threads for LibTorch and the kernels (default: all cores)"},
     {"json", "", "print JSON"}},
    0, 0, run});

}  // namespace
