#pragma once
// A run as a Markdown report: what it trained, how it ended, each MoE block's load figures (with
// the noise floor), the collapse verdicts at its last snapshot with the step each first tripped,
// and for multi-rank runs each rank's time and each expert parallel block's all-to-all. The
// studio's File > Export writes it; it reads only the run store. `moe report` shows the same
// distributed figures (summarizeDistributed).

#include <cstdint>
#include <ostream>
#include <vector>

#include "moe/telemetry/run_store.h"

namespace moe::telemetry {

void writeMarkdownReport(const RunReader& run, std::ostream& out);

// One expert parallel block: the figures of its slowest rank (most all-to-all time per step).
struct ExpertParallelBlock {
    int block = 0;
    int ranks = 0;
    int steps = 0;             // the slowest rank's measured steps
    int slowestRank = 0;
    double alltoallSeconds = 0;  // per step
    double waitSeconds = 0;      // per step (--measure-waits; 0 otherwise)
    double expertSeconds = 0;    // per step, the most of any rank
    double sentBytes = 0;        // rows every rank sends to the others in one dispatch, summed, in bytes
};

// A multi-rank run's figures summed over the snapshots up to `upToStep`: each rank's time
// (data parallel) and each expert parallel block's (the first snapshot's step, which opens the
// ranks' connections, left out of the layer times when others follow).
struct DistributedSummary {
    std::vector<RankTime> ranks;                 // rank order; empty in one process
    std::vector<LayerTime> layerTimes;           // per block and rank (sumLayerTimes)
    std::vector<ExpertParallelBlock> blocks;     // block order
    bool skippedFirst = false;
    bool waitsMeasured = false;
};
DistributedSummary summarizeDistributed(const RunReader& run, std::int64_t upToStep);

}  // namespace moe::telemetry
