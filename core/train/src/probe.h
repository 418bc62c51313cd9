#pragma once
// Reading a trained network: per-block routing telemetry, routing maps over a plane, held-out
// accuracy and the divergence report. Private to core/train.

#include <string>
#include <vector>

#include "moe/telemetry/snapshot.h"
#include "moe_net.h"

namespace moe::train::detail {

// Routing telemetry of one MoE block from its last (training) forward and the router gradient
// of the backward that followed. tokenLabels: [T] int64 class of each token's sample.
// `withSimilarity` false skips the expert-similarity probe (it runs every expert): for the
// batches of a telemetry interval before its last, whose counts are summed.
moe::telemetry::BlockSnapshot probeBlock(BlockImpl& block, const torch::Tensor& tokenLabels, int classes, bool withSimilarity = true);

// The expert each MoE block's router ranks first at every cell of a res x res grid over the box
// (row-major, row 0 at yMin). One vector per MoE block, in block order.
std::vector<std::vector<int>> routingMaps(MoeNetImpl& net, double xMin, double xMax, double yMin, double yMax, int res,
                                          torch::Device device);

// Accuracy in [0, 1] over a whole set, in eval mode without gradients.
double evaluate(MoeNetImpl& net, const torch::Tensor& x, const torch::Tensor& y, torch::Device device);

// Language models: mean next-token cross-entropy (nats) and accuracy over held-out sequences
// x [N, seqLen] with targets y [N*seqLen], in eval mode without gradients.
struct LmEvaluation {
    double loss = 0;
    double accuracy = 0;
};
LmEvaluation evaluateLm(MoeNetImpl& net, const torch::Tensor& x, const torch::Tensor& y, torch::Device device);

// Per-token routing of a fixed probe: one entry per MoE block, in block order, holding the first
// `tokens` tokens' k experts (-1: unused or dropped slot) and gates, row-major [tokens x k].
struct ProbeRouting {
    int k = 0;
    std::vector<int> experts;
    std::vector<float> gates;
};
std::vector<ProbeRouting> probeRouting(MoeNetImpl& net, const torch::Tensor& x, std::int64_t tokens, torch::Device device);

// A router logit beyond this in magnitude counts as a blow-up: softmax saturates completely and
// the z-loss (its square) is astronomically large.
inline constexpr double kRouterLogitLimit = 1e4;

// After a non-finite or exploding loss: names the MoE block whose router logits blew up (or the
// one with the largest logits) and fills `block` with its index (-1 when there is no MoE block).
std::string describeBlowUp(MoeNetImpl& net, int& block);

// Largest |router logit| over all MoE blocks of the last forward, and the block holding it.
double maxRouterLogit(MoeNetImpl& net, int& block);

}  // namespace moe::train::detail
