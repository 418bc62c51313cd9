#pragma once
// Predicted against measured per MoE block of an expert-parallel run: the traffic each rank
// recorded (telemetry::LayerTime: token rows sent to each rank, bytes per row, steps) is priced on
// a catalog cluster by the flow model (estimateAllToAllV), and compared with the all-to-all time
// the ranks measured.
//
// One training step of a block runs four all-to-alls: the forward dispatch (the recorded traffic
// matrix M, row = sending rank), the forward combine (M reversed: every row goes back to the rank
// it came from), and in the backward pass the combine's gradient (M again) and the dispatch's
// gradient (M reversed). The matrix priced is the mean step's (the recorded rows / steps).

#include <vector>

#include "moe/cluster/catalog.h"
#include "moe/spec/diagnostic.h"
#include "moe/telemetry/snapshot.h"

namespace moe::cluster {

struct LayerPrediction {
    int block = 0;
    int ranks = 0;                // ranks of the expert-parallel group
    int steps = 0;                // steps the slowest rank measured
    int slowestRank = 0;          // the rank with the most all-to-all time per step
    double measuredSeconds = 0;   // per step: the slowest rank's all-to-all seconds / its steps
    double predictedSeconds = 0;  // per step: 2 x dispatch + 2 x combine
    double dispatchSeconds = 0;   // one dispatch of the mean step's traffic
    double combineSeconds = 0;    // one combine (the dispatch's traffic reversed)
    double dispatchBytes = 0;     // bytes between ranks in one dispatch (a rank's rows to itself excluded)
    double errorPct() const { return measuredSeconds > 0 ? 100.0 * (predictedSeconds - measuredSeconds) / measuredSeconds : 0.0; }
};

// The dispatch traffic of one block per step: bytes[i][j] = rows rank i sent to rank j / rank i's
// steps x bytes per row. `ranks` holds one summed record per rank of the block (sumLayerTimes);
// the group is ranks 0..n-1 with n = the largest rank + 1 and the length of rowsTo. Errors name
// the block and rank (a missing rank, no steps, no bytes per row, a rowsTo of another length).
spec::Result<std::vector<std::vector<double>>> layerTrafficMatrix(const std::vector<telemetry::LayerTime>& ranks);

// One prediction per block recorded in `times` (summed over snapshots first), in block order.
spec::Result<std::vector<LayerPrediction>> predictLayerTimes(const ResolvedCluster& c, const std::vector<telemetry::LayerTime>& times);

}  // namespace moe::cluster
