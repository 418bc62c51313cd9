#pragma once
// The MoE step simulator: what one training (or forward) step of the MoE layers costs on a
// cluster, where the time goes and which links are hot. Everything it returns is plain data for
// the CLI and for dashboards (Dear ImGui draws StepResult as is).
//
// [SECTION] resolved deployment (validated against the catalog)
// [SECTION] results: timeline, per-layer breakdown, links
// [SECTION] entry points
//
// Model, in short (README of core/cluster has the long form):
//  - One expert-parallel group (ep x tp GPUs, ranks 0 .. ep*tp-1) is simulated; the dp groups
//    are copies of it on other nodes and run the same traffic on their own NICs and leaves.
//  - Every GPU routes tokens_per_gpu tokens to k experts with the layer's expected loads; the
//    capacity factor caps what each expert keeps (the rest is dropped, not sent); dedup sends a
//    token once per destination rank.
//  - Dispatch and combine are all-to-allv flows on the topology, sharing links max-min fairly
//    (flow.h); a rank starts its experts when all its tokens arrived, and its combine flows
//    leave when its experts finish, so a hot rank delays everyone: the straggler.
//  - With two micro-batches, the second half's dispatch shares the links with the first half's
//    combine while the first half computes (dual micro-batch overlap).
//  - Expert, shared-expert and router GEMMs by roofline (peak x gemm_efficiency vs HBM x
//    hbm_efficiency). Shared experts overlap the dispatch. Compute overlapping a dispatch or
//    combine kernel that holds SMs/CUs runs on the rest of the GPU. Backward: 2x the FLOPs, the same
//    traffic in reverse. Then expert and shared-expert gradients are all-reduced over the
//    replicas (not overlapped: an upper bound).
//  - Attention and dense layers are not priced.

#include <atomic>
#include <string>
#include <vector>

#include "moe/cluster/catalog.h"
#include "moe/cluster/routing.h"
#include "moe/cluster/topology.h"
#include "moe/spec/diagnostic.h"
#include "moe/spec/project.h"
#include "moe/telemetry/snapshot.h"

namespace moe::cluster {

// ---- [SECTION] resolved deployment -----------------------------------------------------------

// Every field concrete and checked. Defaults taken from the model spec or derived are listed in
// `notes` so the CLI can say so.
struct Deployment {
    std::string cluster;
    int gpus = 0;
    int dModel = 0, ffnHidden = 0;
    int layers = 0;                  // MoE layers simulated
    int denseLayers = 0;             // reported, not priced
    int experts = 0, k = 0, sharedExperts = 0;
    int tokensPerGpu = 0;
    std::string dtype, dispatchDtype;
    int ep = 1, dp = 1, tp = 1;
    double capacityFactor = 0;       // 0: dropless
    bool dedupTokens = false;
    RoutingChoice routing;
    std::string routingText;
    std::string routingWhere;        // "deployment.routing" or "--routing", for messages
    std::vector<std::vector<int>> placement;  // experts on each EP rank
    // The library that runs dispatch and combine (its fixed cost per call replaces the flow
    // model's per-message latency); nullptr: the flow model alone.
    const EpKernelSpec* epKernel = nullptr;
    std::vector<std::string> notes;
};

// Command-line overrides of the project's deployment; empty / 0 keep the project's value.
struct DeploymentOverrides {
    std::string cluster;
    int gpus = 0;
    std::string routing;
    std::string epKernel;            // --ep-kernel
};

// Validates a project's deployment (or builds sensible defaults from the model spec when the
// project has none) against the catalog. Errors name the JSON path (deployment.parallel.ep) or
// the option (--gpus) and what would be valid.
spec::Result<Deployment> resolveDeployment(const spec::Project& project, const Catalog& catalog, const DeploymentOverrides& o = {});

// ---- [SECTION] results -----------------------------------------------------------------------

enum class Pass { Forward, Backward };
enum class EventKind {
    Router,          // router GEMM + top-k
    Dispatch,        // from the start of the all-to-all to the last token this rank receives
    SharedExperts,   // shared experts (overlaps the dispatch)
    TensorParallel,  // all-gather / reduce-scatter of the received tokens inside the TP group
    ExpertCompute,   // the rank's expert GEMMs
    Combine,         // from this rank's first combine send to the last result it receives
    Wait,            // idle: waiting for other ranks
    GradSync         // gradient all-reduce over the replicas
};
std::string toString(EventKind k);
std::string toString(Pass p);

struct RankEvent {
    int layer = 0;                   // MoE layer; -1 for the gradient sync
    Pass pass = Pass::Forward;
    EventKind kind = EventKind::Router;
    double startUs = 0, endUs = 0;   // from the start of the step
};

struct RankTimeline {
    int rank = 0;                    // GPU rank (ranks 0 .. ep*tp-1 are simulated)
    int epRank = 0;
    int node = 0;
    std::vector<int> experts;        // experts hosted
    std::vector<RankEvent> events;   // in time order; Dispatch/Combine may overlap compute events
    double computeUs = 0;            // router + shared + experts + TP, both passes
    double expertUs = 0;             // expert GEMMs only
    double waitUs = 0;
    double tokensReceived = 0;       // token-expert assignments received, all layers, forward
    double overlapSlowdownUs = 0;    // compute time added by the SMs/CUs the EP kernel holds, both passes
};

struct LayerBreakdown {
    int layer = 0;
    double startUs = 0, endUs = 0;   // forward and backward of this layer together
    double forwardUs = 0, backwardUs = 0;
    double routerUs = 0;             // forward
    double dispatchUs = 0;           // forward: slowest rank's dispatch
    double sharedUs = 0;             // forward
    double expertUs = 0;             // forward: slowest rank's expert GEMMs (incl. TP collectives)
    double expertMeanUs = 0;         // forward: mean over ranks
    double combineUs = 0;            // forward: slowest rank's combine
    double overlapSlowdownUs = 0;    // forward: most compute time a rank lost to the EP kernel's SMs/CUs
    int stragglerRank = -1;          // the rank whose experts finished last (forward); -1: balanced (within 0.5%)
    double imbalance = 1;            // max / mean assignments received per EP rank
    double dispatchBytes = 0;        // bytes sent over links by the EP group, forward dispatch
    double droppedAssignments = 0;   // per EP group, forward (capacity factor)
    double keptAssignments = 0;
    // The dispatch and combine matrices in compact form: in expectation every GPU sends the
    // same to a given EP rank, so the EP x EP matrix is M[r][s] = sendBytesTo[s] x tp for r != s
    // (0 on the diagonal, which stays on the GPU); see dispatchMatrix().
    std::vector<double> sendBytesTo;       // [ep] forward dispatch bytes one GPU sends to EP rank s
    std::vector<double> combineBytesFrom;  // [ep] forward combine bytes EP rank s returns to one GPU
    std::vector<double> receivedAssignments;  // [ep] token-expert assignments each EP rank processes
};

struct LinkUse {
    int link = 0;                    // index into Topology::links
    std::string name;
    double bytes = 0;                // over the step, this link: every group's all-to-alls and the gradient reduction
    double gradientBytes = 0;        // of which the gradient reduction
    double busyUs = 0;               // bytes / capacity
    double utilisation = 0;          // busyUs / step time
};

// Hot links as a reader wants them: links of the same kind at the same load (within 0.1%) are
// one row ("NIC in, 8 links (e.g. ...)") instead of eight arbitrary ties.
struct LinkGroup {
    int count = 0;                   // links in the group
    std::string name;                // the link's name, or "NIC in, 8 links (e.g. leaf rail0 pod0 -> gpu32 ...)"
    double bytes = 0, busyUs = 0, utilisation = 0;  // per link (equal within the group)
};

struct StepResult {
    Deployment deployment;
    Topology topology;               // the whole cluster
    bool training = true;            // forward + backward + gradient sync
    int microBatches = 1;            // 1, or 2 (dual micro-batch overlap)
    int simulatedGpus = 0;           // ep * tp: ranks 0 .. simulatedGpus-1
    int replicas = 1;                // identical EP groups (dp)
    std::vector<RankTimeline> ranks; // the simulated ranks
    std::vector<LayerBreakdown> layers;
    std::vector<LinkUse> links;      // every link the simulated group used, hottest first
    double stepUs = 0;
    double forwardUs = 0, backwardUs = 0, gradSyncUs = 0;
    double computeUs = 0;            // mean over ranks of compute time
    double exposedCommUs = 0;        // step - slowest rank's compute (communication + waiting not hidden)
    int stragglerRank = -1;          // the rank most often last to finish its experts; -1: none (balanced)
    int stragglerLayers = 0;         // in how many layer passes it was last
    double expertWeightGiBPerGpu = 0;
    double hbmGiB = 0;
    // Compute beside the EP kernel (Deployment::epKernel): the SMs/CUs it holds, how much slower
    // overlapping compute runs (total / (total - held)), and the most time a rank lost to it.
    int kernelComputeUnits = 0;
    double overlapSlowdown = 1;
    double overlapSlowdownUs = 0;
    int flowRateUpdates = 0;         // flow-model work, for benchmarks
    std::vector<std::string> notes;  // assumptions and defaults, for the user
};

// The hottest links grouped by kind and load, busiest first, at most `maxRows` rows.
std::vector<LinkGroup> groupHotLinks(const StepResult& r, size_t maxRows);

struct SimOptions {
    bool training = true;            // false: forward only
    int microBatches = 1;            // 2: split each GPU's tokens in halves so the second half's
                                     // dispatch and the first half's combine hide behind compute
    int threads = 0;                 // worker threads pricing layers; 0: one per core (at most 8)
    double flowTolerance = 0.05;     // flow.h batching (finish times within ~5% of elapsed)
    // A guard against simulations that would run for minutes (very many GPUs per expert-parallel
    // group with skewed routing): once the first distinct layer is priced, the time for all of
    // them is projected from it, and above maxSeconds the simulation stops with that estimate.
    // 0: no limit.
    double maxSeconds = 0;
    const char* maxSecondsWhere = "--max-seconds";  // what the message tells the user to raise
    // Set from another thread to stop between layers (the result is then an error).
    const std::atomic<bool>* cancel = nullptr;
};

// ---- [SECTION] entry points ------------------------------------------------------------------

// Per-layer expert loads for the deployment's routing; recorded routing takes `recorded` (the
// blocks of one snapshot of a run store) and errors when it is missing or cannot be mapped.
spec::Result<std::vector<std::vector<double>>> deploymentLoads(const Deployment& d,
                                                               const std::vector<telemetry::BlockSnapshot>* recorded);

// The full EP x EP byte matrix (row: sending EP rank, column: receiving EP rank) of a layer's
// forward dispatch, or its combine with `combine` (row: the expert rank sending results back).
std::vector<std::vector<double>> dispatchMatrix(const StepResult& r, int layer, bool combine = false);

spec::Result<StepResult> simulateStep(const Deployment& d, const Catalog& catalog, const std::vector<std::vector<double>>& loads,
                                      const SimOptions& opt = {});

}  // namespace moe::cluster
