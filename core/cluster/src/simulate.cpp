#include "moe/cluster/simulate.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <thread>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <unordered_map>

#include "moe/cluster/collective.h"
#include "moe/cluster/ep_kernels.h"
#include "moe/cluster/flow.h"
#include "moe/spec/derived.h"

namespace moe::cluster {
namespace {

constexpr double kGB = 1e9;
constexpr double kInf = std::numeric_limits<double>::infinity();

// Dense peak for a dtype. TF32 (fp32 GEMMs) runs at half the BF16 rate on both vendors' parts.
double peakFlops(const GpuSpec& g, const std::string& dtype) {
    if (dtype == "fp8") return g.fp8Tflops * 1e12;
    if (dtype == "fp32") return g.bf16Tflops * 0.5e12;
    return g.bf16Tflops * 1e12;
}

// The EP group's links, renumbered densely so per-solve arrays stay small on big clusters.
// Every expert-parallel group runs the same all-to-alls at the same time on its own GPUs; where
// their flows cross the same link (a leaf uplink, a spine, a shared NIC), each group gets its
// share. By symmetry the groups' flows on a link run at equal rates, so the simulated group sees
// the link at capacity x (its flows there) / (all groups' flows there): exact for lockstep
// groups, and it puts every group's traffic on the hot links.
struct LocalNet {
    std::vector<int> global;                 // local -> topology link
    std::vector<double> capacity;            // bytes/s left to the simulated group
    std::vector<double> fullCapacity;        // bytes/s of the link
    std::vector<double> share;               // capacity / fullCapacity: the group's share
    std::vector<Path> paths;                 // [src gpu * G + dst gpu], local link ids
    std::unordered_map<int, int> local;      // topology link -> local id
};

LocalNet buildLocalNet(const Topology& topo, int G, int groups) {
    LocalNet net;
    net.paths.resize(static_cast<size_t>(G) * static_cast<size_t>(G));
    std::vector<double> own;
    for (int a = 0; a < G; ++a)
        for (int b = 0; b < G; ++b) {
            Path p = topo.path(a, b);
            for (int h = 0; h < p.hops; ++h) {
                int& l = p.links[static_cast<size_t>(h)];
                auto [it, inserted] = net.local.emplace(l, static_cast<int>(net.global.size()));
                if (inserted) {
                    net.global.push_back(l);
                    net.fullCapacity.push_back(topo.links[static_cast<size_t>(l)].capacityGBs * kGB);
                    own.push_back(0);
                }
                l = it->second;
                if (a != b) own[static_cast<size_t>(l)] += 1;
            }
            net.paths[static_cast<size_t>(a) * static_cast<size_t>(G) + static_cast<size_t>(b)] = p;
        }
    // Flows of the other groups (ranks shifted by g x G) on the group's links.
    std::vector<double> all = own;
    for (int g = 1; g < groups; ++g) {
        const int base = g * G;
        for (int a = 0; a < G; ++a)
            for (int b = 0; b < G; ++b) {
                if (a == b) continue;
                const Path p = topo.path(base + a, base + b);
                for (int h = 0; h < p.hops; ++h)
                    if (auto it = net.local.find(p.links[static_cast<size_t>(h)]); it != net.local.end()) all[static_cast<size_t>(it->second)] += 1;
            }
    }
    net.share.resize(own.size(), 1.0);
    net.capacity.resize(own.size());
    for (size_t k = 0; k < own.size(); ++k) {
        if (all[k] > own[k] && own[k] > 0) net.share[k] = own[k] / all[k];
        net.capacity[k] = net.fullCapacity[k] * net.share[k];
    }
    return net;
}

// Adds `bytes` sent from rank a to rank b to the links of the simulated group it crosses.
void addPathBytes(const Topology& topo, const LocalNet& net, int a, int b, double bytes, std::vector<double>& linkBytes) {
    if (a == b || bytes <= 0) return;
    const Path p = topo.path(a, b);
    for (int h = 0; h < p.hops; ++h)
        if (auto it = net.local.find(p.links[static_cast<size_t>(h)]); it != net.local.end()) linkBytes[static_cast<size_t>(it->second)] += bytes;
}

// Per-layer traffic and compute of the simulated group, from the layer's expert loads.
struct LayerWork {
    std::vector<double> units;          // per EP rank: messages (tokens) each source GPU sends to it
    std::vector<double> received;       // per EP rank: assignments its experts process
    std::vector<double> expertFwdUs;    // per EP rank, per GPU (TP shard)
    std::vector<double> tpAgUs, tpRsUs; // per EP rank: TP all-gather / reduce-scatter (0 without TP)
    double dropped = 0, kept = 0;
};

// Relative times (from the start of a pass) of one layer pass, per GPU of the group.
struct PassOutcome {
    std::vector<double> firstCommEnd;   // dispatch (forward) / gradient dispatch (backward) done
    std::vector<double> computeStart, computeEnd;  // expert GEMMs (after the TP all-gather)
    std::vector<double> tpAgStart, tpRsEnd;
    std::vector<double> tpAgStartB, computeStartB, computeEndB, tpRsEndB;  // second micro-batch (empty with one)
    std::vector<double> secondCommEnd;  // combine done
    std::vector<double> sharedEnd;      // shared experts done
    std::vector<double> overlapExtraUs; // compute time added by the SMs/CUs the EP kernel holds
    std::vector<double> linkBytes;      // local links
    double end = 0;
    double firstCommBytes = 0;
    // When the GPU's expert work (incl. TP collectives) of the last micro-batch ends.
    double lastEnd(size_t g) const { return tpRsEndB.empty() ? tpRsEnd[g] : tpRsEndB[g]; }
    int rateUpdates = 0;
};

struct Context {
    const Deployment& d;
    const ResolvedCluster& rc;
    const LocalNet& net;
    int G = 0;                          // ep * tp GPUs
    double routerUs = 0, sharedUs = 0;  // forward, per GPU
    double flowTolerance = 0.02;
    double latency = 0;                 // seconds per message (Simple protocol base + hop)
    // With a kernel library chosen: its fixed cost per dispatch / combine call, in seconds
    // (negative: the per-message latency above).
    double dispatchLatency = -1, combineLatency = -1;
    // Compute overlapping a dispatch or combine runs this much slower (the kernel's SMs/CUs).
    double slowdown = 1;
};

// Appends the flows of one all-to-allv: src GPU (r, t) -> (s, t) for EP ranks r != s.
// towardRank: bytesTo[s] is what every GPU sends to EP rank s (dispatch direction); otherwise EP
// rank s sends bytesTo[s] back to every GPU (combine direction). release is per sending GPU.
void appendAllToAll(const Context& c, const std::vector<double>& bytesTo, bool towardRank, const std::vector<double>& release,
                    std::vector<Flow>& flows) {
    const int ep = c.d.ep, tp = c.d.tp;
    for (int r = 0; r < ep; ++r)
        for (int s = 0; s < ep; ++s) {
            if (r == s) continue;
            for (int t = 0; t < tp; ++t) {
                const int a = towardRank ? r * tp + t : s * tp + t;
                const int b = towardRank ? s * tp + t : r * tp + t;
                Flow f;
                f.src = a;
                f.dst = b;
                f.bytes = bytesTo[static_cast<size_t>(s)];
                f.release = release[static_cast<size_t>(a)];
                const Path& p = c.net.paths[static_cast<size_t>(a) * static_cast<size_t>(c.G) + static_cast<size_t>(b)];
                f.hops = p.hops;
                f.links = p.links;
                f.latency = towardRank ? c.dispatchLatency : c.combineLatency;
                flows.push_back(f);
            }
        }
}

FlowSolution solve(const Context& c, const std::vector<Flow>& flows) {
    FlowOptions fo;
    fo.tolerance = c.flowTolerance;
    fo.latency = c.latency;
    fo.origin = 0;  // the start of the pass
    return solveFlows(c.net.capacity, flows, fo);
}

// Per GPU (microseconds): when its last incoming flow of flows[from, to) finished (or `own`),
// or with `bySource` when its last outgoing one did.
std::vector<double> lastFinish(const std::vector<Flow>& flows, const FlowSolution& s, size_t from, size_t to, std::vector<double> own,
                               bool bySource = false) {
    for (size_t i = from; i < to; ++i) {
        const size_t g = static_cast<size_t>(bySource ? flows[i].src : flows[i].dst);
        own[g] = std::max(own[g], s.finish[i] * 1e6);
    }
    return own;
}

std::vector<double> scaled(std::vector<double> v, double k) {
    for (double& x : v) x *= k;
    return v;
}

// One micro-batch's compute on every GPU: the TP group starts together once every member has
// its tokens and the GPU is free; returns {TP all-gather start, expert start, expert end, TP end}.
// Expert GEMMs that start while a dispatch/combine kernel still runs on the GPU (until
// busyUntil) share the GPU with it (Context::slowdown); `extra` is the time that adds.
struct ChunkCompute {
    std::vector<double> tpAgStart, start, end, tpRsEnd, extra;
};
ChunkCompute computeChunk(const Context& c, const LayerWork& w, double mult, const std::vector<double>& arrived,
                          const std::vector<double>& gpuFree, const std::vector<double>& busyUntil) {
    const int tp = c.d.tp;
    ChunkCompute k;
    for (auto* v : {&k.tpAgStart, &k.start, &k.end, &k.tpRsEnd, &k.extra}) v->resize(static_cast<size_t>(c.G));
    for (int s = 0; s < c.d.ep; ++s) {
        double ready = 0, busy = 0;
        for (int t = 0; t < tp; ++t) {
            const size_t g = static_cast<size_t>(s * tp + t);
            ready = std::max({ready, arrived[g], gpuFree[g]});
            busy = std::max(busy, busyUntil[g]);
        }
        const double cs = ready + w.tpAgUs[static_cast<size_t>(s)];
        const double work = mult * w.expertFwdUs[static_cast<size_t>(s)];
        const double ce = cs + overlappedComputeUs(work, busy - cs, c.slowdown);
        const double re = ce + w.tpRsUs[static_cast<size_t>(s)];
        for (int t = 0; t < tp; ++t) {
            const size_t g = static_cast<size_t>(s * tp + t);
            k.tpAgStart[g] = ready;
            k.start[g] = cs;
            k.end[g] = ce;
            k.tpRsEnd[g] = re;
            k.extra[g] = ce - cs - work;
        }
    }
    return k;
}

// Per GPU: when the last flow of flows[from, to) it sends or receives finished (or `own`).
std::vector<double> lastBusy(const std::vector<Flow>& flows, const FlowSolution& s, size_t from, size_t to, const std::vector<double>& own) {
    return lastFinish(flows, s, from, to, lastFinish(flows, s, from, to, own, true));
}

// A layer pass. One micro-batch: dispatch, experts, combine. Two (`half` given): the tokens are
// split in halves; the second half's dispatch shares the links with the first half's combine and
// its experts start when the first half's are done, so communication hides behind compute.
PassOutcome runPass(const Context& c, const LayerWork& w, const LayerWork* half, bool backward) {
    const Deployment& d = c.d;
    const size_t G = static_cast<size_t>(c.G);
    const double mult = backward ? 2.0 : 1.0;
    PassOutcome o;
    o.linkBytes.assign(c.net.capacity.size(), 0.0);
    const double bpeDispatch = spec::bytesPerElement(backward ? d.dtype : d.dispatchDtype);
    const double bpe = spec::bytesPerElement(d.dtype);
    const LayerWork& cw = half ? *half : w;
    std::vector<double> toRank(static_cast<size_t>(d.ep)), fromRank(static_cast<size_t>(d.ep));
    for (size_t s = 0; s < static_cast<size_t>(d.ep); ++s) {
        toRank[s] = cw.units[s] * d.dModel * bpeDispatch;
        fromRank[s] = cw.units[s] * d.dModel * bpe;
    }
    auto addBytes = [&](const FlowSolution& sol) {
        for (size_t l = 0; l < sol.linkBytes.size(); ++l) o.linkBytes[l] += sol.linkBytes[l];
        o.rateUpdates += sol.rateUpdates;
    };
    // First all-to-all: forward dispatch after the router; backward: output gradients to the
    // experts right away. Shared experts run meanwhile.
    const double start = backward ? 0.0 : c.routerUs;
    const std::vector<double> startV(G, start);
    std::vector<Flow> f1;
    appendAllToAll(c, toRank, true, scaled(startV, 1e-6), f1);
    const FlowSolution s1 = solve(c, f1);
    addBytes(s1);
    o.firstCommBytes = std::accumulate(s1.linkBytes.begin(), s1.linkBytes.end(), 0.0);
    const std::vector<double> arrivedA = lastFinish(f1, s1, 0, f1.size(), startV);
    // The dispatch kernel runs on a GPU until its last send or receive is done; shared experts
    // overlap it.
    const std::vector<double> busyA = lastBusy(f1, s1, 0, f1.size(), startV);
    o.sharedEnd.resize(G);
    o.overlapExtraUs.assign(G, 0.0);
    for (size_t g = 0; g < G; ++g) {
        o.sharedEnd[g] = start + overlappedComputeUs(mult * c.sharedUs, busyA[g] - start, c.slowdown);
        o.overlapExtraUs[g] = o.sharedEnd[g] - start - mult * c.sharedUs;
    }
    const std::vector<double>& sharedEnd = o.sharedEnd;
    ChunkCompute A = computeChunk(c, cw, mult, arrivedA, sharedEnd, busyA);
    if (!half) {
        o.firstCommEnd = arrivedA;
        std::vector<Flow> f2;
        appendAllToAll(c, fromRank, false, scaled(A.tpRsEnd, 1e-6), f2);
        const FlowSolution s2 = solve(c, f2);
        addBytes(s2);
        o.secondCommEnd = lastFinish(f2, s2, 0, f2.size(), A.tpRsEnd);
    } else {
        // Second half's dispatch leaves each GPU once its first-half sends are out, together with
        // the first half's combine.
        const std::vector<double> sentA = lastFinish(f1, s1, 0, f1.size(), startV, true);
        std::vector<Flow> f2;
        appendAllToAll(c, toRank, true, scaled(sentA, 1e-6), f2);
        const size_t nB = f2.size();
        appendAllToAll(c, fromRank, false, scaled(A.tpRsEnd, 1e-6), f2);
        FlowSolution s2 = solve(c, f2);
        if (c.slowdown > 1.0) {
            // The first half's experts overlap the second half's dispatch, which the kernel's
            // SMs/CUs slow down; their later end moves the first half's combine, so solve again.
            std::vector<double> busy = lastBusy(f2, s2, 0, nB, busyA);
            A = computeChunk(c, cw, mult, arrivedA, sharedEnd, busy);
            f2.resize(nB);
            appendAllToAll(c, fromRank, false, scaled(A.tpRsEnd, 1e-6), f2);
            o.rateUpdates += s2.rateUpdates;
            s2 = solve(c, f2);
        }
        addBytes(s2);
        const std::vector<double> arrivedB = lastFinish(f2, s2, 0, nB, startV);
        const std::vector<double> combinedA = lastFinish(f2, s2, nB, f2.size(), A.tpRsEnd);
        // The second half's experts overlap the first half's combine (and what is left of the
        // second half's dispatch).
        const ChunkCompute B = computeChunk(c, cw, mult, arrivedB, A.tpRsEnd, lastBusy(f2, s2, 0, f2.size(), startV));
        for (size_t g = 0; g < G; ++g) o.overlapExtraUs[g] += B.extra[g];
        std::vector<Flow> f3;
        appendAllToAll(c, fromRank, false, scaled(B.tpRsEnd, 1e-6), f3);
        const FlowSolution s3 = solve(c, f3);
        addBytes(s3);
        const std::vector<double> combinedB = lastFinish(f3, s3, 0, f3.size(), B.tpRsEnd);
        o.firstCommEnd = arrivedB;
        o.tpAgStartB = B.tpAgStart;
        o.computeStartB = B.start;
        o.computeEndB = B.end;
        o.tpRsEndB = B.tpRsEnd;
        o.secondCommEnd.resize(G);
        for (size_t g = 0; g < G; ++g) o.secondCommEnd[g] = std::max(combinedA[g], combinedB[g]);
    }
    o.tpAgStart = A.tpAgStart;
    o.computeStart = A.start;
    o.computeEnd = A.end;
    o.tpRsEnd = A.tpRsEnd;
    for (size_t g = 0; g < G; ++g) o.overlapExtraUs[g] += A.extra[g];
    for (double& x : o.secondCommEnd) {
        if (backward) x += mult * c.routerUs;  // router gradient after the gradients came back
        o.end = std::max(o.end, x);
    }
    return o;
}

double rooflineUs(const GpuSpec& g, const std::string& dtype, double flops, double bytes) {
    const double tc = flops / (peakFlops(g, dtype) * g.gemmEfficiency);
    const double tm = bytes / (g.hbmTBs * 1e12 * g.hbmEfficiency);
    return std::max(tc, tm) * 1e6;
}

LayerWork layerWork(const Context& c, const std::vector<double>& p, double tokensPerGpu) {
    const Deployment& d = c.d;
    const GpuSpec& gpu = *c.rc.gpu;
    const double T = tokensPerGpu, k = d.k, dm = d.dModel, h = d.ffnHidden, tp = d.tp;
    const double bpe = spec::bytesPerElement(d.dtype);
    const double groupTokens = T * c.G;
    const double capacity = d.capacityFactor > 0 ? std::ceil(d.capacityFactor * groupTokens * k / d.experts) : kInf;
    LayerWork w;
    const size_t ep = static_cast<size_t>(d.ep);
    w.units.assign(ep, 0);
    w.received.assign(ep, 0);
    w.expertFwdUs.assign(ep, 0);
    w.tpAgUs.assign(ep, 0);
    w.tpRsUs.assign(ep, 0);
    for (size_t s = 0; s < ep; ++s) {
        double q = 0, qk = 0;
        for (int e : d.placement[s]) {
            const double pe = p[static_cast<size_t>(e)];
            const double load = groupTokens * k * pe;
            const double kept = std::min(load, capacity);
            w.dropped += load - kept;
            w.kept += kept;
            w.received[s] += kept;
            q += pe;
            qk += load > 0 ? pe * kept / load : 0.0;
            // Two matrices per expert (Linear(d,h), Linear(h,d)), split over the TP group.
            const double flops = 4.0 * kept * dm * h / tp;
            const double bytes = (2.0 * dm * h / tp + kept * (2.0 * dm + 2.0 * h / tp)) * bpe;
            w.expertFwdUs[s] += kept > 0 ? rooflineUs(gpu, d.dtype, flops, bytes) : 0.0;
        }
        // Messages each source GPU sends to rank s: one per assignment, or one per token when
        // de-duplicating (P[token picks an expert of s] = 1 - (1 - q)^k, draws taken independent).
        const double assignments = T * k * qk;
        if (d.dedupTokens && q > 0) w.units[s] = T * (1.0 - std::pow(1.0 - std::min(1.0, q), k)) * (qk / q);
        else w.units[s] = assignments;
    }
    if (d.tp > 1) {
        for (size_t s = 0; s < ep; ++s) {
            // What the TP group received from all c.G GPUs (tokens, or assignments without
            // dedup), gathered on every member; nccl-tests size: the gathered buffer.
            const double gathered = w.units[s] * c.G * dm * bpe;
            if (gathered <= 0) continue;
            CollectiveOptions co;
            auto ag = estimateCollective(c.rc, nullptr, CollectiveOp::AllGather, gathered, d.tp, co);
            auto rs = estimateCollective(c.rc, nullptr, CollectiveOp::ReduceScatter, gathered, d.tp, co);
            w.tpAgUs[s] = ag ? ag->timeUs : 0.0;
            w.tpRsUs[s] = rs ? rs->timeUs : 0.0;
        }
    }
    return w;
}

}  // namespace

std::string toString(EventKind k) {
    switch (k) {
    case EventKind::Router: return "router";
    case EventKind::Dispatch: return "dispatch";
    case EventKind::SharedExperts: return "shared experts";
    case EventKind::TensorParallel: return "tensor parallel";
    case EventKind::ExpertCompute: return "experts";
    case EventKind::Combine: return "combine";
    case EventKind::Wait: return "wait";
    case EventKind::GradSync: return "gradient sync";
    }
    return "?";
}
std::string toString(Pass p) { return p == Pass::Forward ? "forward" : "backward"; }

spec::Result<std::vector<std::vector<double>>> deploymentLoads(const Deployment& d, const std::vector<telemetry::BlockSnapshot>* recorded) {
    if (d.routing.kind != RoutingKind::Recorded) return syntheticLoads(d.routing, d.layers, d.experts, d.k);
    const std::string where = d.routingWhere.empty() ? "deployment.routing" : d.routingWhere;
    if (recorded) return rescaleRecorded(*recorded, d.layers, d.experts, where);
    auto rec = loadRecordedRouting(d.routing.path, where);
    if (!rec) return rec.errors();
    auto loads = rescaleRecorded(rec->blocks, d.layers, d.experts, where);
    if (!loads) {
        spec::Diagnostics errs = loads.errors();
        for (auto& e : errs) e.message = d.routing.path + " (" + rec->description + "): " + e.message;
        return errs;
    }
    return loads;
}

std::vector<std::vector<double>> dispatchMatrix(const StepResult& r, int layer, bool combine) {
    const int ep = r.deployment.ep, tp = r.deployment.tp;
    std::vector<std::vector<double>> m(static_cast<size_t>(ep), std::vector<double>(static_cast<size_t>(ep), 0.0));
    if (layer < 0 || layer >= static_cast<int>(r.layers.size())) return m;
    const auto& lb = r.layers[static_cast<size_t>(layer)];
    for (int a = 0; a < ep; ++a)
        for (int b = 0; b < ep; ++b) {
            if (a == b) continue;
            // dispatch: a sends to expert rank b; combine: expert rank a returns to b.
            m[static_cast<size_t>(a)][static_cast<size_t>(b)] =
                tp * (combine ? lb.combineBytesFrom[static_cast<size_t>(a)] : lb.sendBytesTo[static_cast<size_t>(b)]);
        }
    return m;
}

spec::Result<StepResult> simulateStep(const Deployment& d, const Catalog& catalog, const std::vector<std::vector<double>>& loads,
                                      const SimOptions& opt) {
    auto rcr = catalog.resolve(d.cluster, "deployment.cluster");
    if (!rcr) return rcr.errors();
    const ResolvedCluster& rc = rcr.value();
    if (std::string e = rc.checkGpuCount(d.gpus); !e.empty()) return spec::Diagnostics{{"deployment.gpus", e}};
    if (opt.microBatches != 1 && opt.microBatches != 2)
        return spec::Diagnostics{{"--micro-batches", std::to_string(opt.microBatches) + " is not supported; use 1 or 2"}};
    if (static_cast<int>(loads.size()) != d.layers)
        return spec::Diagnostics{{"deployment.routing", "loads for " + std::to_string(loads.size()) + " layers, expected " + std::to_string(d.layers)}};
    for (const auto& l : loads)
        if (static_cast<int>(l.size()) != d.experts)
            return spec::Diagnostics{{"deployment.routing", "loads for " + std::to_string(l.size()) + " experts, expected " + std::to_string(d.experts)}};

    StepResult r;
    r.deployment = d;
    r.training = opt.training;
    r.microBatches = opt.microBatches;
    r.topology = buildTopology(rc, d.gpus);
    const int G = d.ep * d.tp;
    r.simulatedGpus = G;
    r.replicas = d.dp;
    const LocalNet net = buildLocalNet(r.topology, G, d.dp);

    Context c{d, rc, net};
    c.G = G;
    c.flowTolerance = opt.flowTolerance;
    {
        // Per-message latency: the Simple protocol's base plus one hop of the slowest level used.
        const LinkSpec& lk = G > rc.system->gpusPerNode ? *rc.nic : *rc.scaleUp;
        const ProtocolSpec& p = lk.protocols.back();
        c.latency = (p.baseLatencyUs + p.hopLatencyUs) * 1e-6;
        if (const EpKernelSpec* k = d.epKernel) {
            const bool rdma = G > rc.system->gpusPerNode;
            c.dispatchLatency = kernelCallUs(rc, *k, true, rdma) * 1e-6;
            c.combineLatency = kernelCallUs(rc, *k, false, rdma) * 1e-6;
            c.slowdown = overlapSlowdown(*rc.gpu, k);
            r.overlapSlowdown = c.slowdown;
            r.kernelComputeUnits = k->computeUnits;
        }
    }
    const GpuSpec& gpu = *rc.gpu;
    const double bpe = spec::bytesPerElement(d.dtype);
    const double T = d.tokensPerGpu, dm = d.dModel, h = d.ffnHidden;
    c.routerUs = rooflineUs(gpu, d.dtype, 2.0 * T * dm * d.experts, (dm * d.experts + T * (dm + d.experts)) * bpe);
    c.sharedUs = d.sharedExperts > 0 ? rooflineUs(gpu, d.dtype, 4.0 * T * dm * h * d.sharedExperts / d.tp,
                                                 (2.0 * dm * h * d.sharedExperts / d.tp + T * (2.0 * dm + 2.0 * h / d.tp)) * bpe)
                                     : 0.0;

    r.ranks.resize(static_cast<size_t>(G));
    for (int g = 0; g < G; ++g) {
        auto& rk = r.ranks[static_cast<size_t>(g)];
        rk.rank = g;
        rk.epRank = g / d.tp;
        rk.node = r.topology.nodeOf(g);
        rk.experts = d.placement[static_cast<size_t>(rk.epRank)];
    }
    std::vector<double> linkBytes(net.capacity.size(), 0.0);  // the simulated group's all-to-all bytes
    std::vector<double> gradBytes(net.capacity.size(), 0.0);  // gradient reduction bytes, all groups
    std::vector<int> lastCount(static_cast<size_t>(G), 0);
    std::map<std::vector<double>, std::pair<LayerWork, std::pair<PassOutcome, PassOutcome>>> cache;

    auto emit = [&](int g, int layer, Pass pass, EventKind kind, double s, double e) {
        if (e > s) r.ranks[static_cast<size_t>(g)].events.push_back({layer, pass, kind, s, e});
    };
    // Compute-stream events of one pass; gaps become waits.
    auto emitPass = [&](int layer, Pass pass, const PassOutcome& o, double t0, double passEnd, double mult) {
        const bool bwd = pass == Pass::Backward;
        for (int g = 0; g < G; ++g) {
            const size_t gi = static_cast<size_t>(g);
            auto& rk = r.ranks[gi];
            double cur = t0;
            auto compute = [&](EventKind k, double s, double e) {
                if (s > cur) {
                    emit(g, layer, pass, EventKind::Wait, cur, s);
                    rk.waitUs += s - cur;
                }
                emit(g, layer, pass, k, s, e);
                if (k == EventKind::ExpertCompute) rk.expertUs += e - s;
                rk.computeUs += e - s;
                cur = std::max(cur, e);
            };
            const double start = bwd ? t0 : t0 + c.routerUs;
            if (!bwd) compute(EventKind::Router, t0, t0 + c.routerUs);
            emit(g, layer, pass, EventKind::Dispatch, start, t0 + o.firstCommEnd[gi]);
            if (c.sharedUs > 0) compute(EventKind::SharedExperts, start, t0 + o.sharedEnd[gi]);
            rk.overlapSlowdownUs += o.overlapExtraUs[gi];
            if (o.computeStart[gi] > o.tpAgStart[gi]) compute(EventKind::TensorParallel, t0 + o.tpAgStart[gi], t0 + o.computeStart[gi]);
            compute(EventKind::ExpertCompute, t0 + o.computeStart[gi], t0 + o.computeEnd[gi]);
            if (o.tpRsEnd[gi] > o.computeEnd[gi]) compute(EventKind::TensorParallel, t0 + o.computeEnd[gi], t0 + o.tpRsEnd[gi]);
            if (!o.tpRsEndB.empty()) {  // second micro-batch
                if (o.computeStartB[gi] > o.tpAgStartB[gi]) compute(EventKind::TensorParallel, t0 + o.tpAgStartB[gi], t0 + o.computeStartB[gi]);
                compute(EventKind::ExpertCompute, t0 + o.computeStartB[gi], t0 + o.computeEndB[gi]);
                if (o.tpRsEndB[gi] > o.computeEndB[gi]) compute(EventKind::TensorParallel, t0 + o.computeEndB[gi], t0 + o.tpRsEndB[gi]);
            }
            const double combineEnd = t0 + o.secondCommEnd[gi] - (bwd ? mult * c.routerUs : 0.0);
            emit(g, layer, pass, EventKind::Combine, t0 + o.tpRsEnd[gi], combineEnd);
            if (bwd) compute(EventKind::Router, combineEnd, combineEnd + mult * c.routerUs);
            if (passEnd > cur) {
                emit(g, layer, pass, EventKind::Wait, cur, passEnd);
                rk.waitUs += passEnd - cur;
            }
        }
    };
    // The rank whose experts finish last, or -1 when all finish within 0.5% of each other.
    auto straggler = [&](const PassOutcome& o) {
        int best = 0, first = 0;
        for (int g = 1; g < G; ++g) {
            if (o.lastEnd(static_cast<size_t>(g)) > o.lastEnd(static_cast<size_t>(best)) + 1e-9) best = g;
            if (o.lastEnd(static_cast<size_t>(g)) < o.lastEnd(static_cast<size_t>(first))) first = g;
        }
        const double lo = o.lastEnd(static_cast<size_t>(first)), hi = o.lastEnd(static_cast<size_t>(best));
        return hi - lo <= 0.005 * hi ? -1 : best;
    };
    auto countLast = [&](int g) {
        if (g >= 0) ++lastCount[static_cast<size_t>(g)];
    };

    using Priced = std::pair<LayerWork, std::pair<PassOutcome, PassOutcome>>;
    auto price = [&](const std::vector<double>& p) {
        LayerWork w = layerWork(c, p, d.tokensPerGpu);
        const bool two = opt.microBatches == 2;
        const LayerWork h = two ? layerWork(c, p, d.tokensPerGpu / 2.0) : LayerWork{};
        PassOutcome f = runPass(c, w, two ? &h : nullptr, false);
        PassOutcome b = opt.training ? runPass(c, w, two ? &h : nullptr, true) : PassOutcome{};
        return Priced(std::move(w), std::make_pair(std::move(f), std::move(b)));
    };
    {
        // Layers are independent given their loads (each pass is priced from its own start):
        // price the distinct ones on worker threads, identical layers once.
        std::vector<const std::vector<double>*> distinct;
        std::map<std::vector<double>, int> seen;
        for (const auto& p : loads)
            if (seen.emplace(p, 0).second) distinct.push_back(&p);
        std::vector<Priced> priced(distinct.size());
        std::vector<std::exception_ptr> failed(distinct.size());
        std::atomic<size_t> nextLayer{0};
        const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
        const size_t nThreads = std::min<size_t>(distinct.size(), opt.threads > 0 ? static_cast<size_t>(opt.threads) : std::min(hw, 8u));
        // The time guard: the first layer priced tells how long all of them would take.
        const auto started = std::chrono::steady_clock::now();
        std::atomic<bool> stop{false};
        std::atomic<double> projectedSeconds{0}, firstSeconds{0};
        auto worker = [&] {
            for (size_t i; !stop && (i = nextLayer++) < distinct.size();) {
                if (opt.cancel && opt.cancel->load()) {
                    stop = true;
                    break;
                }
                try {
                    priced[i] = price(*distinct[i]);
                } catch (...) {
                    failed[i] = std::current_exception();
                }
                if (opt.maxSeconds > 0 && firstSeconds == 0) {
                    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
                    double expected = 0;
                    if (firstSeconds.compare_exchange_strong(expected, std::max(took, 1e-9))) {
                        const double rounds = std::ceil(static_cast<double>(distinct.size()) / static_cast<double>(nThreads));
                        projectedSeconds = took * rounds;
                        if (projectedSeconds > opt.maxSeconds) stop = true;
                    }
                }
            }
        };
        std::vector<std::thread> pool;
        for (size_t i = 1; i < nThreads; ++i) pool.emplace_back(worker);
        worker();
        for (auto& th : pool) th.join();
        if (opt.cancel && opt.cancel->load()) return spec::Diagnostics{{"simulation", "cancelled"}};
        if (stop) {
            auto secs = [](double s) { return std::to_string(static_cast<long long>(std::ceil(s))) + " s"; };
            const long long flows = static_cast<long long>(G) * (G - 1);
            return spec::Diagnostics{
                {"simulation",
                 "would take about " + secs(projectedSeconds.load()) + " (" + std::to_string(distinct.size()) +
                     " layers with different loads, each " + (opt.training ? "a forward and a backward pass" : "a forward pass") + " of up to " +
                     std::to_string(flows) + " flows among " + std::to_string(G) + " GPUs; the first took " +
                     std::to_string(firstSeconds.load()).substr(0, 5) + " s on " + std::to_string(nThreads) + " thread(s)), more than the " +
                     secs(opt.maxSeconds) + " allowed by " + opt.maxSecondsWhere +
                     ". Raise it, use fewer GPUs per expert-parallel group, or uniform routing (identical layers are priced once)"}};
        }
        for (const auto& e : failed)
            if (e) std::rethrow_exception(e);
        for (size_t i = 0; i < distinct.size(); ++i) {
            r.flowRateUpdates += priced[i].second.first.rateUpdates + priced[i].second.second.rateUpdates;
            cache.emplace(*distinct[i], std::move(priced[i]));
        }
    }
    auto get = [&](int layer) -> const Priced& { return cache.find(loads[static_cast<size_t>(layer)])->second; };

    r.layers.resize(static_cast<size_t>(d.layers));
    double t = 0;
    for (int l = 0; l < d.layers; ++l) {
        const auto& [w, passes] = get(l);
        const PassOutcome& f = passes.first;
        auto& lb = r.layers[static_cast<size_t>(l)];
        lb.layer = l;
        lb.startUs = t;
        lb.forwardUs = f.end;
        lb.routerUs = c.routerUs;
        lb.sharedUs = c.sharedUs;
        double meanRecv = 0, maxRecv = 0;
        for (int s = 0; s < d.ep; ++s) {
            meanRecv += w.received[static_cast<size_t>(s)] / d.ep;
            maxRecv = std::max(maxRecv, w.received[static_cast<size_t>(s)]);
        }
        lb.imbalance = meanRecv > 0 ? maxRecv / meanRecv : 1.0;
        lb.droppedAssignments = w.dropped;
        lb.keptAssignments = w.kept;
        lb.dispatchBytes = f.firstCommBytes;
        for (int g = 0; g < G; ++g) {
            const size_t gi = static_cast<size_t>(g);
            lb.dispatchUs = std::max(lb.dispatchUs, f.firstCommEnd[gi] - c.routerUs);
            lb.expertUs = std::max(lb.expertUs, f.lastEnd(gi) - f.tpAgStart[gi]);
            lb.expertMeanUs += (f.lastEnd(gi) - f.tpAgStart[gi]) / G;
            lb.combineUs = std::max(lb.combineUs, f.secondCommEnd[gi] - f.lastEnd(gi));
            lb.overlapSlowdownUs = std::max(lb.overlapSlowdownUs, f.overlapExtraUs[gi]);
            r.ranks[gi].tokensReceived += w.received[static_cast<size_t>(g / d.tp)] / d.tp;
        }
        const double bpeD = spec::bytesPerElement(d.dispatchDtype);
        lb.sendBytesTo.resize(static_cast<size_t>(d.ep));
        lb.combineBytesFrom.resize(static_cast<size_t>(d.ep));
        for (size_t s2 = 0; s2 < static_cast<size_t>(d.ep); ++s2) {
            lb.sendBytesTo[s2] = w.units[s2] * dm * bpeD;
            lb.combineBytesFrom[s2] = w.units[s2] * dm * bpe;
        }
        lb.receivedAssignments = w.received;
        lb.stragglerRank = straggler(f);
        countLast(lb.stragglerRank);
        emitPass(l, Pass::Forward, f, t, t + f.end, 1.0);
        for (size_t k = 0; k < linkBytes.size(); ++k) linkBytes[k] += f.linkBytes[k];
        t += f.end;
    }
    r.forwardUs = t;
    if (opt.training) {
        for (int l = d.layers - 1; l >= 0; --l) {
            const auto& b = get(l).second.second;
            auto& lb = r.layers[static_cast<size_t>(l)];
            lb.backwardUs = b.end;
            countLast(straggler(b));
            emitPass(l, Pass::Backward, b, t, t + b.end, 2.0);
            for (size_t k = 0; k < linkBytes.size(); ++k) linkBytes[k] += b.linkBytes[k];
            t += b.end;
        }
        r.backwardUs = t - r.forwardUs;
        // Gradient all-reduce over the replicas: each rank's expert shards over dp replicas
        // (same rail, other nodes), shared experts over every GPU holding the same TP shard.
        const int gpn = rc.system->gpusPerNode;
        double sync = 0;
        // Its traffic on the group's links, as rings: each rank sends 2 (n - 1) / n of the
        // gradient to the next replica of its shard (expert gradients over the dp replicas; shared
        // experts over the group's EP ranks, then over the replicas).
        auto ring = [&](double bytes, int n) { return n > 1 ? 2.0 * (n - 1) / n * bytes : 0.0; };
        if (d.dp > 1) {
            CollectiveOptions co;
            co.ranksPerNode = std::max(1, gpn / G);
            const double bytes = double(d.experts / d.ep) * 2.0 * dm * h / d.tp * d.layers * bpe;
            if (auto e = estimateCollective(rc, nullptr, CollectiveOp::AllReduce, bytes, d.dp, co)) sync += e->timeUs;
            for (int g = 0; g < G; ++g)
                for (int j = 0; j < d.dp; ++j)
                    addPathBytes(r.topology, net, g + j * G, g + ((j + 1) % d.dp) * G, ring(bytes, d.dp), gradBytes);
        }
        const int sharedRanks = d.gpus / d.tp;
        if (d.sharedExperts > 0 && sharedRanks > 1) {
            CollectiveOptions co;
            co.ranksPerNode = std::max(1, gpn / d.tp);
            const double bytes = double(d.sharedExperts) * 2.0 * dm * h / d.tp * d.layers * bpe;
            if (auto e = estimateCollective(rc, nullptr, CollectiveOp::AllReduce, bytes, sharedRanks, co)) sync += e->timeUs;
            for (int g = 0; g < G; ++g) {
                addPathBytes(r.topology, net, g, (g + d.tp) % G, ring(bytes, d.ep), gradBytes);
                for (int j = 0; j < d.dp && d.dp > 1; ++j)
                    addPathBytes(r.topology, net, g + j * G, g + ((j + 1) % d.dp) * G, ring(bytes, d.dp) / d.ep, gradBytes);
            }
        }
        r.gradSyncUs = sync;
        if (sync > 0)
            for (int g = 0; g < G; ++g) emit(g, -1, Pass::Backward, EventKind::GradSync, t, t + sync);
        t += sync;
    }
    for (auto& lb : r.layers) lb.endUs = lb.startUs + lb.forwardUs;  // forward span; backward listed in backwardUs
    r.stepUs = t;

    // Straggler: the rank most often last to finish its experts; ties go to more expert time.
    int best = 0;
    for (int g = 1; g < G; ++g) {
        const size_t gi = static_cast<size_t>(g), bi = static_cast<size_t>(best);
        if (lastCount[gi] > lastCount[bi] || (lastCount[gi] == lastCount[bi] && r.ranks[gi].expertUs > r.ranks[bi].expertUs + 1e-9)) best = g;
    }
    r.stragglerLayers = lastCount[static_cast<size_t>(best)];
    r.stragglerRank = r.stragglerLayers > 0 ? best : -1;
    double maxCompute = 0;
    for (const auto& rk : r.ranks) {
        r.computeUs += rk.computeUs / G;
        maxCompute = std::max(maxCompute, rk.computeUs);
        r.overlapSlowdownUs = std::max(r.overlapSlowdownUs, rk.overlapSlowdownUs);
    }
    r.exposedCommUs = std::max(0.0, r.stepUs - r.gradSyncUs - maxCompute);

    for (size_t k = 0; k < linkBytes.size(); ++k) {
        // All groups' all-to-all bytes on the link, plus the gradient reduction's.
        const double bytes = linkBytes[k] / net.share[k] + gradBytes[k];
        if (bytes <= 0) continue;
        LinkUse u;
        u.link = net.global[k];
        u.name = r.topology.linkName(u.link);
        u.bytes = bytes;
        u.gradientBytes = gradBytes[k];
        u.busyUs = bytes / net.fullCapacity[k] * 1e6;
        u.utilisation = r.stepUs > 0 ? u.busyUs / r.stepUs : 0.0;
        r.links.push_back(std::move(u));
    }
    std::sort(r.links.begin(), r.links.end(), [](const LinkUse& a, const LinkUse& b) { return a.utilisation > b.utilisation; });

    r.expertWeightGiBPerGpu = (double(d.experts / d.ep) + d.sharedExperts) * 2.0 * dm * h / d.tp * d.layers * bpe / double(1ull << 30);
    r.hbmGiB = gpu.hbmGiB;
    r.notes = d.notes;
    int sharedLinks = 0;
    for (double s : net.share) sharedLinks += s < 1.0 ? 1 : 0;
    r.notes.push_back("simulated one expert-parallel group of " + std::to_string(G) + " GPU(s)" +
                      (d.dp > 1 ? "; the other " + std::to_string(d.dp - 1) + " group(s) run the same traffic at the same time" +
                                      (sharedLinks > 0 ? " and share " + std::to_string(sharedLinks) + " of its links (each group gets its share)"
                                                       : " on links of their own")
                                : std::string()));
    r.notes.push_back("attention and dense layers are not priced; experts are two GEMMs (d x h, h x d) by roofline");
    if (opt.training)
        r.notes.push_back("gradient all-reduce is not overlapped with the backward pass (an upper bound); its bytes are on the hot links");
    if (r.expertWeightGiBPerGpu > gpu.hbmGiB)
        r.notes.push_back("expert weights need " + std::to_string(static_cast<int>(r.expertWeightGiBPerGpu)) + " GiB per GPU, more than the " +
                          std::to_string(static_cast<int>(gpu.hbmGiB)) + " GiB of HBM of a " + gpu.name);
    return r;
}

std::vector<LinkGroup> groupHotLinks(const StepResult& r, size_t maxRows) {
    // Links are sorted busiest first; each joins the group of its kind at its load, if any.
    std::vector<LinkGroup> out;
    std::vector<LinkRole> roles;
    for (const auto& l : r.links) {
        const LinkRole lr = r.topology.links[static_cast<size_t>(l.link)].role;
        bool joined = false;
        for (size_t g = 0; g < out.size() && !joined; ++g)
            if (roles[g] == lr && std::abs(l.utilisation - out[g].utilisation) <= 1e-3 * std::max(1e-12, out[g].utilisation)) {
                ++out[g].count;
                joined = true;
            }
        if (joined) continue;
        if (!out.empty() && out.back().utilisation > l.utilisation * (1 + 1e-3) && out.size() >= maxRows) break;
        out.push_back({1, l.name, l.bytes, l.busyUs, l.utilisation});
        roles.push_back(lr);
    }
    if (out.size() > maxRows) out.resize(maxRows);
    for (size_t g = 0; g < out.size(); ++g)
        if (out[g].count > 1) out[g].name = toString(roles[g]) + ", " + std::to_string(out[g].count) + " links (e.g. " + out[g].name + ")";
    return out;
}

}  // namespace moe::cluster
