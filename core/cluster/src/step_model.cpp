#include "moe/cluster/step_model.h"

#include <algorithm>
#include <cmath>

#include "moe/cluster/collective.h"
#include "moe/cluster/ep_kernels.h"
#include "moe/cluster/memory.h"
#include "moe/cluster/simulate.h"

namespace moe::cluster {
namespace {

using spec::BlockKind;

std::string n(long long v) { return std::to_string(v); }

double peakFlops(const GpuSpec& g, const std::string& dtype) {
    if (dtype == "fp8") return g.fp8Tflops * 1e12;
    if (dtype == "fp32") return g.bf16Tflops * 0.5e12;  // TF32
    return g.bf16Tflops * 1e12;
}

// Rows of a grouped GEMM are padded to whole tiles per expert.
constexpr double kGroupedTileRows = 128;

struct PassCost {
    double compute = 0, tp = 0, cp = 0, ep = 0, etp = 0;
    double epSm = 0;  // compute slowed by the EP kernel's SMs/CUs (ep_overlap)
    double total() const { return compute + tp + cp + ep + etp + epSm; }
    PassCost& operator+=(const PassCost& o) {
        compute += o.compute;
        epSm += o.epSm;
        tp += o.tp;
        cp += o.cp;
        ep += o.ep;
        etp += o.etp;
        return *this;
    }
};

}  // namespace

std::vector<std::pair<std::string, double>> StepBreakdown::parts() const {
    return {{"compute", computeUs},
            {"recompute", recomputeUs},
            {"tensor-parallel comm", tpCommUs},
            {"context-parallel comm", cpCommUs},
            {"expert all-to-all", epCommUs},
            {"compute beside EP kernels", epKernelSlowdownUs},
            {"expert-TP comm", etpCommUs},
            {"pipeline send/recv", ppCommUs},
            {"pipeline bubble", bubbleUs},
            {"exposed gradient sync", dpExposedUs},
            {"optimizer", optimizerUs}};
}

std::string StepBreakdown::mostExposed() const {
    std::string best = "nothing";
    double v = 0;
    for (const auto& [name, us] : parts())
        if (name != "compute" && us > v) {
            v = us;
            best = name;
        }
    if (stepUs <= 0 || v <= 0) return "nothing exposed";
    return best + " " + std::to_string(static_cast<int>(std::round(100.0 * v / stepUs))) + "%";
}

spec::Result<std::vector<std::vector<double>>> modelLoads(const ModelShape& s, const std::string& routing, const std::string& where,
                                                          const std::string& routingMap, const std::string& mapWhere, std::string* note) {
    if (s.moeLayers == 0) return std::vector<std::vector<double>>{};
    auto choice = parseRouting(routing, where);
    if (!choice) return choice.errors();
    const int L = s.moeLayers, E = s.experts;
    if (choice->kind != RoutingKind::Recorded) return syntheticLoads(choice.value(), L, E);
    auto rec = loadRecordedRouting(choice->path, where);
    if (!rec) return rec.errors();
    const int R = static_cast<int>(rec->blocks.size());
    if (R != L && routingMap.empty())
        return spec::Diagnostics{{mapWhere, "the run (" + rec->description + ") recorded " + n(R) + " MoE layer(s) but the model has " + n(L) +
                                                "; say how to map them: \"tile\" (repeat the recorded layers in order) or \"interpolate\" "
                                                "(stretch them over the model's depth)"}};
    auto per = rescaleRecorded(rec->blocks, R, E, where);
    if (!per) return per.errors();
    if (R == L) return per;
    std::vector<std::vector<double>> out(static_cast<size_t>(L));
    for (int l = 0; l < L; ++l) {
        if (routingMap == "tile") {
            out[static_cast<size_t>(l)] = per.value()[static_cast<size_t>(l % R)];
            continue;
        }
        // interpolate: layer l sits at depth l / (L - 1); blend the two recorded layers around it.
        const double x = L > 1 ? double(l) * (R - 1) / (L - 1) : 0.0;
        const int a = std::min(R - 1, static_cast<int>(std::floor(x)));
        const int b = std::min(R - 1, a + 1);
        const double t = x - a;
        auto& row = out[static_cast<size_t>(l)];
        row.resize(static_cast<size_t>(E));
        for (int e = 0; e < E; ++e)
            row[static_cast<size_t>(e)] = (1 - t) * per.value()[static_cast<size_t>(a)][static_cast<size_t>(e)] + t * per.value()[static_cast<size_t>(b)][static_cast<size_t>(e)];
    }
    if (note)
        *note = "recorded routing (" + rec->description + "): " + n(R) + " recorded MoE layer(s) " + (routingMap == "tile" ? "tiled" : "interpolated") +
                " over the model's " + n(L);
    return out;
}

StepModel::StepModel(const ModelShape& shape, const Catalog& catalog, const ResolvedCluster& rc, std::vector<std::vector<double>> loads,
                     double capacityFactor, bool dedupTokens, const EpKernelSpec* epKernel)
    : m_shape(shape),
      m_catalog(catalog),
      m_rc(rc),
      m_loads(std::move(loads)),
      m_capacityFactor(capacityFactor),
      m_dedup(dedupTokens),
      m_epKernel(epKernel) {
    for (const auto& row : m_loads)
        if (row != m_loads.front()) m_uniform = false;
}

spec::Result<StepModel::A2a> StepModel::allToAll(const Layout& l, double tokensPerGpu) const {
    const int layers = static_cast<int>(m_loads.size());
    A2a out;
    out.fwdUs.assign(static_cast<size_t>(layers), 0.0);
    out.bwdUs.assign(static_cast<size_t>(layers), 0.0);
    out.imbalance.assign(static_cast<size_t>(layers), 1.0);
    if (layers == 0 || l.ep == 1) return out;
    const auto key = std::make_tuple(l.ep, l.etp, static_cast<long long>(std::llround(tokensPerGpu)), l.dtype, l.dispatchDtype);
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        if (auto it = m_cache.find(key); it != m_cache.end()) return *it->second;
    }
    Deployment d;
    d.cluster = m_rc.cluster->name;
    d.gpus = l.ep * l.etp;
    d.dModel = m_shape.dModel;
    d.ffnHidden = m_shape.expertHidden;
    // Identical layers are priced once: the simulator's result per layer does not depend on depth.
    const int simLayers = m_uniform ? 1 : layers;
    d.layers = simLayers;
    d.experts = m_shape.experts;
    d.k = std::max(1, static_cast<int>(std::lround(m_shape.k)));
    d.sharedExperts = 0;
    d.tokensPerGpu = std::max(1, static_cast<int>(std::lround(tokensPerGpu)));
    d.dtype = l.dtype;
    d.dispatchDtype = l.dispatchDtype;
    d.ep = l.ep;
    d.dp = 1;
    d.tp = l.etp;
    d.capacityFactor = m_capacityFactor;
    d.dedupTokens = m_dedup;
    d.epKernel = m_epKernel;
    d.placement.assign(static_cast<size_t>(d.ep), {});
    for (int e = 0; e < d.experts; ++e) d.placement[static_cast<size_t>(e % d.ep)].push_back(e);
    std::vector<std::vector<double>> loads(m_loads.begin(), m_loads.begin() + simLayers);
    SimOptions so;
    so.training = false;
    so.threads = 1;
    auto r = simulateStep(d, m_catalog, loads, so);
    if (!r) return r.errors();
    const double bwdScale = spec::bytesPerElement(l.dtype) / std::max(1.0, spec::bytesPerElement(l.dispatchDtype));
    for (int i = 0; i < layers; ++i) {
        const auto& lb = r->layers[static_cast<size_t>(m_uniform ? 0 : i)];
        out.fwdUs[static_cast<size_t>(i)] = lb.dispatchUs + lb.combineUs;
        // Backward: gradients travel the other way, both directions in the weight dtype.
        out.bwdUs[static_cast<size_t>(i)] = lb.dispatchUs * bwdScale + lb.combineUs;
        out.imbalance[static_cast<size_t>(i)] = lb.imbalance;
    }
    auto shared = std::make_shared<const A2a>(out);
    std::lock_guard<std::mutex> lock(m_mutex);
    m_cache.emplace(key, shared);
    return out;
}

spec::Result<StepBreakdown> StepModel::price(const Layout& l) const {
    const ModelShape& s = m_shape;
    const GpuSpec& gpu = *m_rc.gpu;
    const int gpn = m_rc.system->gpusPerNode;
    StepBreakdown r;
    if (l.stageUnits.empty()) return spec::Diagnostics{{"deployment.parallel.pp", "the layout has no pipeline split"}};
    const double wB = spec::bytesPerElement(l.dtype), gB = spec::bytesPerElement(l.gradDtype);
    const double peak = peakFlops(gpu, l.dtype);
    const double hbm = gpu.hbmTBs * 1e12 * gpu.hbmEfficiency;
    auto roofline = [&](double flops, double bytes, double eff = 1.0) {
        return std::max(flops / (peak * gpu.gemmEfficiency * eff), bytes / hbm) * 1e6;
    };
    auto coll = [&](CollectiveOp op, double bytes, int ranks, int ranksPerNode) -> double {
        if (ranks <= 1 || bytes <= 0) return 0.0;
        CollectiveOptions co;
        co.ranksPerNode = ranksPerNode;
        auto e = estimateCollective(m_rc, nullptr, op, bytes, ranks, co);
        return e ? e->timeUs : 0.0;
    };
    const double S = l.seqLen, h = s.dModel;
    const double Tq = S * l.microBatch / l.cp;               // tokens of a context-parallel rank
    const double Tseq = l.tp > 1 && l.sequenceParallel ? Tq / l.tp : Tq;  // entering an MoE layer
    const double hidBytes = Tq * h * wB;                     // a block's activations, whole
    // TP collectives of one block (attention, dense FFN, shared experts) in one pass.
    const double tpBlock = l.tp <= 1 ? 0.0
                           : l.sequenceParallel ? coll(CollectiveOp::AllGather, hidBytes, l.tp, 0) + coll(CollectiveOp::ReduceScatter, hidBytes, l.tp, 0)
                                                : coll(CollectiveOp::AllReduce, hidBytes, l.tp, 0);
    auto a2aR = allToAll(l, Tseq);
    if (!a2aR) return a2aR.errors();
    const A2a& a2a = a2aR.value();
    const int cpRanksPerNode = std::min(l.cp, std::max(1, gpn / l.tp));

    // Forward / backward / recompute of every unit (on any rank), per micro-batch.
    struct UnitCost {
        PassCost fwd, bwd, re;
    };
    std::vector<UnitCost> unitCost(static_cast<size_t>(s.units()));
    int moeIndex = 0;
    for (int u = 0; u < s.units(); ++u) {
        UnitCost& c = unitCost[static_cast<size_t>(u)];
        for (int i = s.unitFirst[static_cast<size_t>(u)]; i < s.unitFirst[static_cast<size_t>(u) + 1]; ++i) {
            const auto& b = s.model.blocks[static_cast<size_t>(i)];
            const auto& f = s.figures.blocks[static_cast<size_t>(i)];
            PassCost fw;
            double core = 0;
            switch (b.kind) {
            case BlockKind::Attention: {
                const double linFlops = (f.flopsPerToken - f.attentionFlopsPerToken) * Tq / l.tp;
                core = roofline(f.attentionFlopsPerToken * Tq / l.tp, 0);
                fw.compute = roofline(linFlops, double(f.params) / l.tp * wB + 4.0 * hidBytes / l.tp) + core;
                fw.tp = tpBlock;
                if (l.cp > 1) {
                    const auto& a = b.attention;
                    const double kvWidth = a.kind == spec::AttentionKind::Mla ? double(a.heads) * (a.qkNopeHeadDim + a.qkRopeHeadDim + a.vHeadDim)
                                                                               : 2.0 * a.kvHeads * a.resolvedHeadDim(s.dModel);
                    const double kv = Tq * kvWidth * wB / l.tp * l.cp;  // gathered buffer
                    const double t = coll(CollectiveOp::AllGather, kv, l.cp, cpRanksPerNode);
                    fw.cp = std::max(0.0, t - core);
                }
                break;
            }
            case BlockKind::Dense:
                fw.compute = roofline(f.flopsPerToken * Tq / l.tp, double(f.params) / l.tp * wB + 4.0 * hidBytes / l.tp);
                fw.tp = tpBlock;
                break;
            case BlockKind::Moe: {
                const double other = (f.flopsPerToken - f.expertFlopsPerToken) * Tq / l.tp;
                fw.compute = roofline(other, double(f.params - f.expertParams) / l.tp * wB);
                if (b.sharedExperts > 0) fw.tp = tpBlock;
                const size_t mi = static_cast<size_t>(std::min(moeIndex, static_cast<int>(a2a.fwdUs.size()) - 1));
                const double imb = a2a.imbalance.empty() ? 1.0 : a2a.imbalance[mi];
                r.moeImbalance = std::max(r.moeImbalance, imb);
                const double localExperts = double(f.experts) / l.ep;
                const double copies = Tseq * f.k * l.etp * imb;  // rows this GPU's experts process
                const double perExpert = localExperts > 0 ? copies / localExperts : 0.0;
                const double padEff = perExpert > 0 ? perExpert / (std::ceil(perExpert / kGroupedTileRows) * kGroupedTileRows) : 1.0;
                const double flops = f.expertFlopsPerToken * Tseq * imb;
                const double weightBytes = double(f.expertParams) / (double(l.ep) * l.etp) * wB;
                fw.compute += roofline(flops, weightBytes + copies * (2.0 * h) * wB, padEff);
                if (l.etp > 1) {
                    const double gathered = copies * h * wB;
                    fw.etp = coll(CollectiveOp::AllGather, gathered, l.etp, 0) + coll(CollectiveOp::ReduceScatter, gathered, l.etp, 0);
                }
                if (!a2a.fwdUs.empty()) fw.ep = a2a.fwdUs[mi];
                PassCost bw = fw;
                bw.compute *= 2.0;
                if (!a2a.bwdUs.empty()) bw.ep = a2a.bwdUs[mi];
                bw.cp = fw.cp * 2.0;
                c.fwd += fw;
                c.bwd += bw;
                if (l.recompute == Recompute::Full) c.re += fw;
                ++moeIndex;
                continue;
            }
            case BlockKind::Group: break;
            }
            PassCost bw = fw;
            bw.compute *= 2.0;
            bw.cp = fw.cp * 2.0;
            c.fwd += fw;
            c.bwd += bw;
            if (l.recompute == Recompute::Full) c.re += fw;
        }
        // Batch-level overlap: this unit's all-to-all runs while another micro-batch computes the
        // same unit, so only what is longer than that compute stays exposed.
        // That compute shares the GPU with the kernel's SMs/CUs while the all-to-all runs.
        if (l.epOverlap) {
            const double slowdown = overlapSlowdown(gpu, m_epKernel);
            for (PassCost* p : {&c.fwd, &c.bwd, &c.re}) {
                const double slowed = overlappedComputeUs(p->compute, p->ep, slowdown);
                p->epSm = slowed - p->compute;
                p->ep = std::max(0.0, p->ep - slowed);
            }
        }
        // Selective recomputation re-runs norms and activation functions: memory-bound, reading
        // their inputs and writing the dropped outputs again.
        if (l.recompute == Recompute::Selective) c.re.compute += 2.0 * selectiveRecomputeBytes(s, l, u) / hbm * 1e6;
    }

    // Each pipeline rank: its units, plus the embedding (first) and the head (last).
    const int pp = l.pp;
    const double headFwd = roofline(s.figures.headFlopsPerToken * Tq / l.tp, double(s.figures.headParams) / l.tp * wB + 3.0 * 4.0 * Tq * s.vocab / l.tp);
    PassCost slowestF, slowestB, slowestRe;
    double slowest = -1;
    for (int rank = 0; rank < pp; ++rank) {
        PassCost f, b, re;
        for (int u : l.stageUnits[static_cast<size_t>(rank)]) {
            f += unitCost[static_cast<size_t>(u)].fwd;
            b += unitCost[static_cast<size_t>(u)].bwd;
            re += unitCost[static_cast<size_t>(u)].re;
        }
        if (rank == pp - 1) {
            f.compute += headFwd;
            b.compute += 2.0 * headFwd;
            if (s.vocab > 0 && l.tp > 1) {
                f.tp += tpBlock;
                b.tp += tpBlock;
            }
        }
        const double t = f.total() + b.total() + re.total();
        if (t > slowest) {
            slowest = t;
            slowestF = f;
            slowestB = b;
            slowestRe = re;
            r.slowestStage = rank;
        }
    }
    // Send / receive between neighbouring pipeline ranks, forward and backward, per virtual stage.
    double p2p = 0;
    if (pp > 1) {
        const bool crossNode = l.gpus / pp >= gpn;
        const LinkSpec& link = crossNode ? *m_rc.nic : *m_rc.scaleUp;
        const double bytes = Tseq * h * wB;
        const double bw = link.bwGBs * 1e9 * link.p2pEfficiency;
        const double lat = link.protocols.empty() ? 0.0 : link.protocols.back().baseLatencyUs;
        p2p = 2.0 * l.vpp * (lat + bytes / bw * 1e6);
    }
    const double m = l.microBatches;
    const double tMb = slowestF.total() + slowestB.total() + slowestRe.total() + p2p;
    r.microBatchUs = tMb;
    const double bubbleFactor = pp > 1 ? double(pp - 1) / l.vpp : 0.0;
    r.computeUs = m * (slowestF.compute + slowestB.compute);
    r.recomputeUs = m * slowestRe.compute;
    r.tpCommUs = m * (slowestF.tp + slowestB.tp + slowestRe.tp);
    r.cpCommUs = m * (slowestF.cp + slowestB.cp + slowestRe.cp);
    r.epCommUs = m * (slowestF.ep + slowestB.ep + slowestRe.ep);
    r.epKernelSlowdownUs = m * (slowestF.epSm + slowestB.epSm + slowestRe.epSm);
    r.etpCommUs = m * (slowestF.etp + slowestB.etp + slowestRe.etp);
    r.ppCommUs = m * p2p;
    r.bubbleUs = bubbleFactor * tMb;
    const double pipeline = m * tMb + r.bubbleUs;

    // Data-parallel gradient reduction and parameter gathering, per GPU (the largest rank).
    double denseP = 0, expertP = 0;
    for (int rank = 0; rank < pp; ++rank) {
        double d = 0, x = 0;
        for (int u : l.stageUnits[static_cast<size_t>(rank)])
            for (int i = s.unitFirst[static_cast<size_t>(u)]; i < s.unitFirst[static_cast<size_t>(u) + 1]; ++i) {
                const auto& f = s.figures.blocks[static_cast<size_t>(i)];
                d += double(f.params - f.expertParams);
                x += double(f.expertParams);
            }
        if (rank == 0) d += double(s.figures.stemParams);
        if (rank == pp - 1) d += double(s.figures.headParams);
        denseP = std::max(denseP, d / l.tp);
        expertP = std::max(expertP, x / (double(l.ep) * l.etp));
    }
    const int nD = l.dp * l.cp, nE = l.edp;
    const int rpnD = std::min(nD, std::max(1, gpn / l.tp)), rpnE = std::min(nE, std::max(1, gpn / (l.ep * l.etp)));
    auto reduce = [&](double params, int ranks, int rpn) {
        return l.zero == 0 ? coll(CollectiveOp::AllReduce, params * gB, ranks, rpn) : coll(CollectiveOp::ReduceScatter, params * gB, ranks, rpn);
    };
    auto gather = [&](double params, int ranks, int rpn) { return coll(CollectiveOp::AllGather, params * wB, ranks, rpn); };
    const double rs = reduce(denseP, nD, rpnD) + reduce(expertP, nE, rpnE);
    const double ag = l.zero >= 1 ? gather(denseP, nD, rpnD) + gather(expertP, nE, rpnE) : 0.0;
    const double lastBwd = slowestB.total() + slowestRe.total();
    const double firstFwd = slowestF.total();
    if (l.zero <= 1) {
        r.dpCommUs = rs + ag;
        r.dpExposedUs = std::max(0.0, rs - lastBwd) + std::max(0.0, ag - firstFwd);
    } else if (l.zero == 2) {
        r.dpCommUs = m * rs + ag;
        r.dpExposedUs = m * std::max(0.0, rs - lastBwd) + std::max(0.0, ag - firstFwd);
    } else {
        r.dpCommUs = m * (rs + 2.0 * ag);
        r.dpExposedUs = m * std::max(0.0, rs + 2.0 * ag - (firstFwd + lastBwd));
    }
    const double shardD = l.zero >= 1 ? nD : 1, shardE = l.zero >= 1 ? nE : 1;
    r.optimizerUs = (denseP / shardD + expertP / shardE) * 30.0 / hbm * 1e6;
    r.stepUs = pipeline + r.dpExposedUs + r.optimizerUs;

    const double tokens = double(l.globalBatch) * S;
    const double modelFlops = 3.0 * s.figures.flopsPerToken * tokens;
    const double sec = r.stepUs * 1e-6;
    r.tokensPerGpuPerSec = tokens / sec / l.gpus;
    r.modelTflopsPerGpu = modelFlops / sec / l.gpus / 1e12;
    r.mfu = modelFlops / sec / l.gpus / peak;
    r.notes.push_back("expert all-to-all from the MoE step simulator on one expert-parallel group of " + n(l.ep * l.etp) + " GPU(s), " +
                      (m_uniform ? "identical layers" : "every MoE layer") +
                      (l.epOverlap ? "; hidden behind another micro-batch's compute of the same layer where shorter" : "; not overlapped with compute"));
    r.notes.push_back("GEMMs by roofline at the catalog's gemm_efficiency; grouped expert GEMMs padded to 128-row tiles");
    r.notes.push_back("not modelled: norms, activations and other element-wise kernels, kernel launch gaps, "
                      "communication/compute overlap beyond the gradient sync and context-parallel ring");
    if (s.experts > 0 && s.expertsGcd != s.experts) r.notes.push_back("MoE layers differ in expert count; the all-to-all is priced at " + n(s.experts));
    return r;
}

}  // namespace moe::cluster
