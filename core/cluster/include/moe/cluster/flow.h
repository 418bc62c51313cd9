#pragma once
// Flow-level network model: flows share the links of their paths max-min fairly (progressive
// filling), rates are recomputed whenever flows arrive or finish, and each flow's finish time is
// recorded. This is what prices uneven all-to-allv traffic, where a hot receiver or a shared NIC
// holds back some flows but not others.
//
// To keep big steps fast, flows finishing within `tolerance` x (time elapsed since the origin)
// of the earliest one finish in the same event, and arrivals that close together are admitted
// together: finish times are off by at most about that fraction.

#include <array>
#include <vector>

namespace moe::cluster {

struct Flow {
    int src = 0, dst = 0;          // ranks (for the caller; the solver only uses the path)
    double bytes = 0;
    double release = 0;            // seconds: when the flow may start
    int hops = 0;
    std::array<int, 6> links{};    // link indices
    double latency = -1;           // seconds added to its finish; negative: FlowOptions::latency
};

struct FlowSolution {
    std::vector<double> finish;    // per flow, seconds (release time for empty flows)
    std::vector<double> linkBytes; // per link, bytes carried
    double makespan = 0;           // last finish
    int rateUpdates = 0;           // progressive fillings done
};

struct FlowOptions {
    double tolerance = 0.02;       // relative batching of finishes and arrivals
    double latency = 0;            // seconds added to every flow's finish (per-message latency)
    double origin = -1;            // the time `tolerance` is relative to (elapsed since origin);
                                   // negative: the first release
};

// `capacity` in bytes/second per link; links a flow uses must have capacity > 0.
FlowSolution solveFlows(const std::vector<double>& capacity, const std::vector<Flow>& flows, const FlowOptions& opt = {});

}  // namespace moe::cluster
