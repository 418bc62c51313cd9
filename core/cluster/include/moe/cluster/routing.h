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

// Loads per layer (outer) per expert (inner), each summing to 1.
//  - uniform: 1/E everywhere.
//  - zipf:S: expert of popularity rank i gets (i+1)^-S; which expert is hot differs per layer
//    (a fixed pseudo-random permutation per layer), as it does in trained models.
std::vector<std::vector<double>> syntheticLoads(const RoutingChoice& r, int layers, int experts);

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
