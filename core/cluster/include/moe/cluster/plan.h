#pragma once
// The layout planner: enumerates the layouts of a project's model on N GPUs of a cluster (TP, CP,
// PP and virtual stages, EP, ETP, DP, micro-batch, recomputation, ZeRO stage), drops those that do
// not fit in memory, ranks the rest by step time at a fixed global batch and says why the top
// ones win.

#include <string>
#include <vector>

#include "moe/cluster/catalog.h"
#include "moe/cluster/layout.h"
#include "moe/cluster/memory.h"
#include "moe/cluster/step_model.h"
#include "moe/spec/project.h"

namespace moe::cluster {

struct PlanOptions {
    std::string cluster;        // empty: deployment.cluster
    int gpus = 0;               // 0: deployment.gpus
    int top = 10;               // rows returned
    int globalBatch = 0;        // sequences per step; 0: deployment.global_batch, else 4 per GPU
    std::string routing;        // empty: deployment.routing
    std::vector<int> microBatches{1, 2, 4};
    bool inference = false;     // costProjectLayout: memory for inference (weights + KV cache)
};

struct PlanRow {
    Layout layout;
    MemoryBreakdown memory;
    StepBreakdown step;
    std::string reason;         // why it ranks where it does (what is exposed, what it beats)
};

struct PlanResult {
    std::string cluster;
    int gpus = 0;
    int globalBatch = 0;
    int seqLen = 0;
    long long enumerated = 0;   // layouts that divide
    long long fitting = 0;      // of those, the ones that fit in memory
    std::vector<PlanRow> rows;  // the best `top`, fastest first
    std::vector<std::string> notes;
};

spec::Result<PlanResult> planLayouts(const spec::Project& project, const Catalog& catalog, const PlanOptions& o);

// Memory and step time of the project's own layout (its deployment section), checked: errors name
// the deployment field (or --gpus / --cluster) and what would be valid.
struct LayoutCost {
    Layout layout;
    MemoryBreakdown memory;
    StepBreakdown step;
    std::vector<std::string> notes;
};
spec::Result<LayoutCost> costProjectLayout(const spec::Project& project, const Catalog& catalog, const PlanOptions& o);

// The project's model and its own layout, checked (what the exports take).
struct ProjectLayout {
    ModelShape shape;
    Layout layout;
};
spec::Result<ProjectLayout> projectLayout(const spec::Project& project, const Catalog& catalog, const PlanOptions& o);

}  // namespace moe::cluster
