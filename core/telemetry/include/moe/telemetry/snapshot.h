#pragma once
// What the trainer publishes while it trains: one immutable RoutingSnapshot every N steps, with
// one BlockSnapshot per MoE block. Producers publish std::shared_ptr<const RoutingSnapshot>;
// consumers (dashboards, run store, studio, cluster simulator) take the newest.
//
// Matrices are row-major in std::vector<double>.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace moe::telemetry {

struct BlockSnapshot {
    int block = 0;                            // index in ModelSpec::blocks
    int experts = 0;                          // routed experts (FFN + zero-computation)
    int ffnExperts = 0;                       // the first ffnExperts columns are FFN experts
    std::int64_t tokens = 0;                  // tokens routed in the measured batch
    std::vector<double> tokensPerExpert;      // [experts] token-expert assignments kept after capacity
    std::vector<double> meanGateProb;         // [experts] mean router probability over tokens
    std::int64_t dropped = 0;                 // token-expert assignments dropped by capacity
    double meanTokenEntropy = 0;              // mean over tokens of H(router probabilities), nats
    std::vector<double> tokenEntropyHist;     // histogram of per-token entropy over [0, ln experts]
    std::vector<double> expertsPerTokenHist;  // [0..experts] tokens that got n experts
    int classes = 0;
    std::vector<double> classExpert;          // [classes x experts] token counts
    std::vector<double> similarity;           // [ffnExperts x ffnExperts] cosine of expert outputs
    double routerGradNorm = 0;                // L2 norm of the router weight gradient
    double auxLoss = 0;                       // this block's load-balancing loss (unscaled)
    double zLoss = 0;                         // this block's router z-loss (unscaled)

    // Share of assignments per expert (sums to 1; all zeros when nothing was routed).
    std::vector<double> loadShare() const;
};

struct RoutingSnapshot {
    std::int64_t step = 0;
    double epoch = 0;
    double loss = 0;                          // training loss (task + weighted aux + z)
    double taskLoss = 0;                      // cross-entropy only
    double accuracy = 0;                      // training-batch accuracy in [0, 1]
    double testAccuracy = -1;                 // held-out accuracy, -1 when not measured
    double learningRate = 0;
    double tokensPerSecond = 0;
    double wallSeconds = 0;                   // since the run started
    std::vector<BlockSnapshot> blocks;        // one per MoE block, in block order
};

using SnapshotPtr = std::shared_ptr<const RoutingSnapshot>;

}  // namespace moe::telemetry
