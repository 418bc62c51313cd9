#pragma once
// Per-layer expert load for the simulator: the share of token-expert assignments each routed
// expert receives (sums to 1), from `uniform`, `zipf:S` or loads recorded while training.

#include <string>
#include <vector>

#include "moe/spec/diagnostic.h"
#include "moe/telemetry/snapshot.h"

namespace moe::cluster {

enum class RoutingKind { Uniform, Zipf, Recorded };

struct RoutingChoice {
    RoutingKind kind = RoutingKind::Uniform;
    double zipfS = 0;      // zipf exponent
    std::string path;      // recorded: the run store file
};

// Parses "uniform", "zipf:1.2" or a run-store path (anything ending in .sqlite, .sqlite3 or .db).
// `where` names the JSON path or option in errors.
spec::Result<RoutingChoice> parseRouting(const std::string& text, const std::string& where);

// Loads per layer (outer) per expert (inner), each summing to 1, for top-`k` routing.
//  - uniform: 1/E everywhere.
//  - zipf:S: expert of popularity rank i has weight (i+1)^-S; which expert is hot differs per
//    layer (a fixed pseudo-random permutation per layer), as it does in trained models. Each
//    token picks k DISTINCT experts (top-k cannot pick one twice), with inclusion probabilities
//    proportional to the weights and capped at 1 (`distinctInclusion`); an expert's share of the
//    layer's assignments is its inclusion probability / k, so never above 1/k.
std::vector<std::vector<double>> syntheticLoads(const RoutingChoice& r, int layers, int experts, int k = 1);

// Inclusion probabilities of drawing `k` distinct items with probabilities proportional to
// `weights`: pi_i = min(1, c * w_i) with c such that the pi sum to k (items that reach 1 are
// taken by every draw, the rest share the remaining picks by weight). k >= n gives all 1.
std::vector<double> distinctInclusion(const std::vector<double>& weights, int k);

// One draw of distinct items with the given inclusion probabilities (summing to an integer k,
// each <= 1) by systematic sampling with offset u in [0, 1): returns the k item indices. The
// per-token realisation of `distinctInclusion`, for tests and for traces of single tokens.
std::vector<int> sampleDistinct(const std::vector<double>& inclusion, double u);

// Rescales recorded loads (one BlockSnapshot per MoE block of the recorded run) to `layers`
// layers of `experts` experts. Experts: the recorded shares over FFN experts are treated as a
// density over the expert axis and integrated into `experts` equal bins (splits or merges
// experts, keeping the skew). Layers: equal counts map one to one; a deployment with a multiple
// of the recorded block count repeats each block over consecutive layers; anything else is an
// error naming both counts. Errors also for empty runs and blocks that routed nothing.
spec::Result<std::vector<std::vector<double>>> rescaleRecorded(const std::vector<telemetry::BlockSnapshot>& blocks, int layers,
                                                               int experts, const std::string& where);

// The recorded loads of a run store: the blocks of its latest snapshot. `description` gets
// "run RUN_ID, step N" for messages. Errors name `where` (deployment.routing or --routing).
struct RecordedRouting {
    std::vector<telemetry::BlockSnapshot> blocks;
    std::string description;
};
spec::Result<RecordedRouting> loadRecordedRouting(const std::string& path, const std::string& where);

}  // namespace moe::cluster
