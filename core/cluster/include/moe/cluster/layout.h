#pragma once
// A training layout (how one model is split over a cluster) and the model as the cost models see
// it. Megatron-Core's "parallel folding": attention and dense layers use TP x CP x DP x PP, the
// MoE layers ETP x EP x EDP x PP over the same GPUs, so both must divide the GPU count.
//
// Rank order (Megatron-Core's default, innermost first): TP, CP, DP, PP for attention; ETP, EP,
// EDP, PP for the experts. Groups of consecutive ranks share a node first, so a TP group of 8
// sits in one node and pipeline neighbours are gpus / pp ranks apart.

#include <string>
#include <vector>

#include "moe/cluster/catalog.h"
#include "moe/spec/derived.h"
#include "moe/spec/diagnostic.h"
#include "moe/spec/project.h"

namespace moe::cluster {

enum class Recompute { None, Selective, Full };
std::string toString(Recompute r);

struct Layout {
    int gpus = 1;
    int tp = 1, cp = 1, pp = 1, vpp = 1, dp = 1;   // attention and dense layers: tp x cp x dp x pp = gpus
    int ep = 1, etp = 1, edp = 1;                  // MoE layers: etp x ep x edp x pp = gpus
    bool sequenceParallel = true;                  // meaningful with tp > 1
    bool epOverlap = false;                        // expert all-to-all hidden behind another micro-batch's compute
    int microBatch = 1;                            // sequences per micro-batch
    int globalBatch = 1;                           // sequences per optimizer step
    int microBatches = 1;                          // per step and data-parallel rank: global / (micro x dp)
    int seqLen = 1;
    Recompute recompute = Recompute::Selective;
    int zero = 1;                                  // 0 plain DP, 1 distributed optimizer, 2, 3
    std::string dtype = "bf16", gradDtype = "fp32", dispatchDtype = "bf16";
    int firstStageLayers = 0, lastStageLayers = 0; // uneven pipeline (0: even)
    // Transformer layers (ModelShape units) held by each pipeline rank, over its virtual stages.
    std::vector<std::vector<int>> stageUnits;

    std::string summary() const;  // "tp2 cp1 pp8x4 ep32 etp1 dp16 mb1 selective zero1"
};

// The model as the cost models see it: the project's model flattened, its figures at the
// layout's sequence length, and the layers grouped into transformer layers (an attention layer
// with the FFN or MoE layers after it), the unit a pipeline stage takes.
struct ModelShape {
    spec::ModelSpec model;             // flattened
    spec::ModelFigures figures;
    int dModel = 0, vocab = 0, seqLen = 0;
    bool tied = false;
    std::vector<int> unitFirst;        // first flattened layer of each unit, plus a final sentinel
    int units() const { return static_cast<int>(unitFirst.size()) - 1; }
    int moeLayers = 0;
    int experts = 0;                   // routed FFN experts of the MoE layers (largest)
    int expertsGcd = 0;                // their greatest common divisor (what EP must divide)
    double k = 0;                      // expected experts per token (largest)
    int expertHidden = 0;              // FFN width of a routed expert (first MoE layer)
    int minHeads = 0, headsGcd = 0, kvHeadsGcd = 0;  // over attention layers (MLA: kv = heads)
    bool hasMla = false;
};

// seqLen 0 takes the model's own (text: input.seq_len).
ModelShape shapeOf(const spec::ModelSpec& m, int seqLen = 0);

// Splits the units over pp ranks x vpp virtual stages (rank r holds chunks r, r + pp, ...);
// uneven first / last stages when given (vpp 1 only). Empty when it does not divide.
std::vector<std::vector<int>> splitStages(int units, int pp, int vpp, int firstStageLayers, int lastStageLayers);

// Everything that makes a layout invalid for this model on this cluster, each naming the field
// under `prefix` ("deployment" in project files) and what would be valid.
spec::Diagnostics checkLayout(const Layout& l, const ModelShape& s, const ResolvedCluster& rc, const std::string& prefix = "deployment");

// The project's own layout (deployment section), checked. `gpus` > 0 overrides deployment.gpus
// (path "--gpus"); the cluster is resolved by the caller.
spec::Result<Layout> layoutFromDeployment(const spec::DeploymentSpec& d, const ModelShape& s, const ResolvedCluster& rc, int gpus = 0);

// Writes a layout into a deployment section (the planner's "apply"); other fields are kept.
void applyLayout(const Layout& l, spec::DeploymentSpec& d);

}  // namespace moe::cluster
