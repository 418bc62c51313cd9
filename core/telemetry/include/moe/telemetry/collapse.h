#pragma once
// Collapse detectors: plain functions of a BlockSnapshot (no LibTorch). Each verdict is an Alert
// with a plain-language explanation and a fix to try.
//
// Figures (over routed experts E, from tokensPerExpert after capacity):
//   share_i = tokens_i / sum tokens;   dead: share_i < 1 / (10 E)
//   max share; coefficient of variation CV = std(share) / mean(share)
//   load entropy H = -sum share_i ln share_i, normalised H / ln E, effective experts exp(H)
//   drop rate = dropped / (kept + dropped)
//   representation collapse: mean off-diagonal cosine similarity of FFN expert outputs
//   router starvation: router weight-gradient norm near zero (routers with weights only)

#include <cstdint>
#include <set>
#include <utility>
#include <vector>

#include "moe/telemetry/snapshot.h"

namespace moe::telemetry {

struct LoadFigures {
    int experts = 0;
    std::vector<double> share;        // [experts]
    int deadExperts = 0;
    double maxShare = 0;
    double cv = 0;
    double entropy = 0;               // nats
    double normalizedEntropy = 0;     // H / ln E in [0, 1] (1 when E = 1)
    double effectiveExperts = 0;      // exp(H)
    double dropRate = 0;
    double meanSimilarity = -1;       // -1 when not measured (fewer than 2 FFN experts)
    double routerGradNorm = -1;       // -1: router without weights
    double assignments = 0;           // token-expert assignments the figures rest on (kept + dropped)
    double noiseCv = 0;               // CV an even router would show at this sample size (evenRouterCv)
};

LoadFigures computeLoadFigures(const BlockSnapshot& b);

// Thresholds of the detectors; defaults are what the studio and `moe report` use.
struct DetectorThresholds {
    double deadShareFraction = 0.1;   // dead: share below this / experts
    double maxShareFactor = 2.5;      // imbalance: max share above min(0.9, max(0.5, factor / E))
    double maxCv = 1.0;               // imbalance: coefficient of variation above this
    double minNormalizedEntropy = 0.6;
    double dropWarning = 0.10, dropCritical = 0.30;
    double similarity = 0.9;          // representation collapse: mean off-diagonal cosine above
    double starvedGradNorm = 1e-7;    // router starvation: gradient norm below
};

// Verdicts for one block at one step; empty when the block looks healthy.
std::vector<Alert> detectCollapse(const BlockSnapshot& b, std::int64_t step, const DetectorThresholds& t = {});

// All blocks of a snapshot.
std::vector<Alert> detectCollapse(const RoutingSnapshot& s, const DetectorThresholds& t = {});

// The detectors over the snapshots of a run, with hysteresis: an alert trips at the thresholds
// and, once on, stays on until its figure is back past the looser release thresholds, so a
// figure hovering at a threshold does not make the alert flicker.
class CollapseMonitor {
public:
    explicit CollapseMonitor(DetectorThresholds trip = {});
    // The verdicts for the next snapshot of the run.
    std::vector<Alert> update(const RoutingSnapshot& s);
    // Release thresholds: dead below twice the share, imbalance and drops at 80% of the trip
    // level, entropy 10% above it, similarity 0.05 below it.
    static DetectorThresholds releaseOf(const DetectorThresholds& t);

private:
    DetectorThresholds m_trip, m_release;
    std::set<std::pair<int, AlertKind>> m_active;  // (block, kind) on at the last snapshot
};

}  // namespace moe::telemetry
