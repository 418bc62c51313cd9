#pragma once
// What the planner hands its worker thread and gets back; shared by the planner's two sources.

#include <QString>

#include <memory>
#include <vector>

#include "moe/cluster/simulate.h"

namespace moe::studio {

struct PlannerJob {
    quint64 generation = 0;
    QString key;
    moe::cluster::Deployment deployment;  // resolved; a recorded routing path is absolute
    std::shared_ptr<const moe::cluster::Catalog> catalog;
    moe::cluster::SimOptions options;          // options.cancel points into `cancel`
    std::shared_ptr<std::atomic<bool>> cancel;
};

struct PlannerOutcome {
    quint64 generation = 0;
    QString key;
    std::shared_ptr<const moe::cluster::StepResult> result;  // null on error
    std::vector<std::vector<double>> loads;                    // [layer][expert] the result used
    QString routingNote;                                       // where the loads came from
    QString error;                                             // the simulator's message
};

// Runs on a worker thread: loads (recorded routing reads the run store) and simulateStep.
std::shared_ptr<PlannerOutcome> runPlannerJob(const PlannerJob& job);
// Everything a simulation depends on, as text: equal keys give equal results.
QString plannerRequestKey(const moe::cluster::Deployment& d, bool training, int microBatches);

}  // namespace moe::studio
