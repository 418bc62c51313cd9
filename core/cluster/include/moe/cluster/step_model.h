#pragma once
// Step time of the whole model for a training layout: embedding and head, attention (with its
// sequence-length term), dense FFNs, MoE layers, the optimizer, and the communication of every
// parallelism; per-GPU tokens/s, model FLOP/s and MFU.
//
// Model, per micro-batch on the slowest pipeline rank (details in the README of core/cluster):
//  - GEMMs by roofline: max(FLOPs / (peak x gemm_efficiency), bytes / (HBM x hbm_efficiency)).
//    Attention and dense layers split over tp (and the tokens over cp); FLOPs from spec::computeFigures.
//  - Routed experts as grouped GEMMs: each GPU computes the copies its experts receive (k per token,
//    gathered over etp with 1/etp of the width); rows per expert are padded to the 128-row tiles of
//    grouped GEMM kernels, and the weights of few-token experts make them memory-bound. The hottest
//    expert rank (from the routing) sets the pace.
//  - Expert-parallel all-to-all (dispatch and combine, with stragglers) from the MoE step simulator
//    (simulate.h) on one expert-parallel group, in both passes; ETP all-gather / reduce-scatter.
//    With ep_overlap (batch-level overlap of two micro-batches) only the part of each layer's
//    all-to-all longer than that layer's compute is exposed, and the compute it overlaps runs on
//    the SMs/CUs the deployment's EP kernel leaves (ep_kernels.h, overlappedComputeUs).
//  - TP: all-reduce per attention and FFN block in each pass, or all-gather + reduce-scatter with
//    sequence parallelism; CP: keys and values gathered over the cp ranks, hidden behind the
//    attention core when it is longer.
//  - Backward = 2x forward FLOPs; selective recomputation re-runs norms and activation functions
//    (HBM-bound), full recomputation the whole forward (with its communication).
//  - Pipeline: 1F1B takes (m + pp - 1) x t, interleaved (m + (pp - 1) / vpp) x t per step, t the
//    slowest rank's forward + backward of a micro-batch plus its send/receive to the neighbours.
//  - Data parallel: gradients reduced (all-reduce, or reduce-scatter + parameter all-gather with a
//    distributed optimizer) over dp x cp ranks (dense) and edp ranks (experts), hidden behind the
//    last micro-batch's backward (and the parameter gather behind the first forward) as far as they
//    fit; ZeRO-2 reduces every micro-batch, ZeRO-3 also gathers the weights twice per micro-batch.
//  - Optimizer: Adam over the rank's shard, bound by HBM (30 bytes per parameter).

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "moe/cluster/catalog.h"
#include "moe/cluster/layout.h"
#include "moe/cluster/routing.h"

namespace moe::cluster {

struct StepBreakdown {
    double stepUs = 0;
    // Per step on the slowest pipeline rank (m micro-batches): compute, and what is exposed.
    double computeUs = 0, recomputeUs = 0;
    double tpCommUs = 0, cpCommUs = 0, epCommUs = 0, etpCommUs = 0, ppCommUs = 0;
    // With ep_overlap: compute time added because the EP kernel holds SMs/CUs while the compute
    // it hides behind runs (EpKernelSpec::computeUnits).
    double epKernelSlowdownUs = 0;
    double bubbleUs = 0;
    double dpCommUs = 0, dpExposedUs = 0;
    double optimizerUs = 0;
    double microBatchUs = 0;       // forward + backward of one micro-batch on the slowest rank
    int slowestStage = 0;
    double moeImbalance = 1;       // max / mean expert-rank load over MoE layers (the worst)
    double tokensPerGpuPerSec = 0;
    double modelTflopsPerGpu = 0;  // 3 x forward FLOPs per token (no recomputation), per GPU
    double mfu = 0;
    std::vector<std::string> notes;

    // The largest part of the step that is not compute ("pipeline bubble", "expert all-to-all", ...)
    // with its share of the step.
    std::string mostExposed() const;
    // Named parts of the step, in a fixed order (for tables and reasons).
    std::vector<std::pair<std::string, double>> parts() const;
};

// Per-layer expert loads for the model's MoE layers from a routing text (uniform, zipf:S, a run
// store). A recorded run with a different MoE layer count needs `routingMap` ("tile" or
// "interpolate"); otherwise the error names `mapWhere` and both counts. `note` says what was done.
spec::Result<std::vector<std::vector<double>>> modelLoads(const ModelShape& s, const std::string& routing, const std::string& where,
                                                          const std::string& routingMap, const std::string& mapWhere, std::string* note = nullptr);

class StepModel {
public:
    // `loads`: one row per MoE layer (modelLoads). `capacityFactor` 0: dropless.
    // `dedupTokens`: a token goes once to each rank holding some of its experts.
    // `epKernel`: the dispatch/combine library (deployment.ep_kernel; nullptr: the flow model).
    StepModel(const ModelShape& shape, const Catalog& catalog, const ResolvedCluster& rc, std::vector<std::vector<double>> loads,
              double capacityFactor = 0.0, bool dedupTokens = false, const EpKernelSpec* epKernel = nullptr);

    spec::Result<StepBreakdown> price(const Layout& l) const;

    const ModelShape& shape() const { return m_shape; }

private:
    struct A2a {
        std::vector<double> fwdUs, bwdUs;  // per MoE layer: dispatch + combine, slowest rank
        std::vector<double> imbalance;     // per MoE layer
    };
    spec::Result<A2a> allToAll(const Layout& l, double tokensPerGpu) const;

    const ModelShape& m_shape;
    const Catalog& m_catalog;
    ResolvedCluster m_rc;
    std::vector<std::vector<double>> m_loads;
    bool m_uniform = true;
    double m_capacityFactor = 0;
    bool m_dedup = false;
    const EpKernelSpec* m_epKernel = nullptr;
    mutable std::mutex m_mutex;
    mutable std::map<std::tuple<int, int, long long, std::string, std::string>, std::shared_ptr<const A2a>> m_cache;
};

}  // namespace moe::cluster
