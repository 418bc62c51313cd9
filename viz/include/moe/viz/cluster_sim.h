#pragma once
// Preprocess step of the cluster view (builds with core/cluster only): simulates one step of the
// run's project deployment with the routing recorded in one of its snapshots, so the cluster
// view shows what the routing actually trained costs. Takes milliseconds to seconds: hosts call
// it off the UI thread and put the result in RunView::cluster.

#include <memory>
#include <string>

#include "moe/spec/diagnostic.h"
#include "moe/viz/panels.h"

namespace moe::viz {

struct ClusterSimulation {
    std::shared_ptr<const cluster::StepResult> result;
    std::string note;  // what was simulated: cluster, routing source
};

// Uses the snapshot at `snapshotIndex` (-1: the newest) for the routing when the deployment's
// layers and experts can be mapped from it, else the deployment's own routing (said in `note`).
spec::Result<ClusterSimulation> simulateCluster(const RunView& run, int snapshotIndex = -1);

}  // namespace moe::viz
