#pragma once
// A project file: format "moe-studio/1", holding the model spec, the training settings, an
// optional deployment (read by the cluster simulator) and an optional classroom scenario.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/spec/diagnostic.h"
#include "moe/spec/model_spec.h"

namespace moe::spec {

inline constexpr const char* kProjectFormat = "moe-studio/1";

enum class OptimizerKind { Sgd, Adam, AdamW };
std::string_view toString(OptimizerKind v);

// How the learning rate moves over a run: held constant, or a cosine from the set rate down to
// zero at the planned last step. Either may start with a linear warm-up from zero.
enum class LrSchedule { Constant, Cosine };
std::string_view toString(LrSchedule v);

// A smaller copy of the model for training on this machine (see twin.h). The model itself keeps
// its real size: the simulator and the planner price it, the canvas draws it.
struct TwinSpec {
    int dModel = 64;        // width of the twin's residual stream
    int layers = 4;         // at most this many repeats of each layer group
    int expertHidden = 0;   // hidden width of each routed expert; 0: scaled with the width
    int heads = 0;          // attention heads; 0: scaled with the width (at least 1)
    int vocab = 0;          // token table rows; 0: the corpus's 256 byte ids (text input)
    int seqLen = 0;         // text: tokens per training sequence; 0: the model's seq_len
};

// Random changes to each training image, drawn afresh every time it is used (image datasets
// only): a mirror image left to right, and a shift by up to `shift` pixels in each direction
// (filled with black). Held-out images are never changed.
struct AugmentSpec {
    bool flip = false;
    int shift = 0;
    bool any() const { return flip || shift > 0; }
};

struct TrainingSettings {
    int batch = 64;                   // samples per step
    OptimizerKind optimizer = OptimizerKind::Adam;
    double learningRate = 1e-3;
    double weightDecay = 0.0;
    double momentum = 0.9;            // sgd only
    LrSchedule lrSchedule = LrSchedule::Constant;
    int warmupSteps = 0;              // linear warm-up from 0 to the rate over these steps
    std::optional<int> epochs;        // exactly one of epochs / steps is set
    std::optional<int> steps;
    unsigned seed = 1;
    int telemetryInterval = 10;       // one RoutingSnapshot per MoE block every N steps
    int trainSamples = 4096;          // synthetic sets: samples generated (Fashion-MNIST: 60000)
    int testSamples = 1024;           // synthetic sets: held-out samples (Fashion-MNIST: 10000)
    // Where to train: "auto" (the first CUDA GPU when LibTorch has CUDA and sees one, else the
    // CPU), "cpu", "cuda" (GPU 0) or "cuda:N".
    std::string device = "auto";
    // Expert parallel ranks when training over several processes (moe train --nproc N): 1 (every
    // rank holds every expert) or E dividing N (groups of E consecutive ranks, each rank holding
    // 1/E of every MoE block's experts). One process holds every expert whatever this says.
    int ep = 1;
    AugmentSpec augment;
    std::optional<TwinSpec> twin;     // absent: the model itself trains
};

// Checks a device name ("auto", "cpu", "cuda", "cuda:N"); returns an empty string when valid,
// else what is wrong. The GPU index, when given, is stored in `index` (-1 for none).
std::string checkDeviceName(const std::string& name, int& index);

// Which GPU hosts which experts: round-robin by default, or an explicit list per GPU.
struct PlacementSpec {
    bool roundRobin = true;
    std::vector<std::vector<int>> gpuExperts;  // explicit: experts on each expert-parallel rank
};

// Where and how the cluster simulator and the planner run the project's model: the cluster, the
// GPU count and the parallel layout. The model is the project's own, at its real size.
struct DeploymentSpec {
    std::string cluster = "hgx-h100";  // a system name from the hardware catalog
    int gpus = 8;
    int tokensPerGpu = 4096;           // tokens each GPU routes per step (micro-batch x seq len)
    std::string dtype = "bf16";        // weights and expert GEMMs
    std::string dispatchDtype = "bf16";  // all-to-all payload (fp8 halves it)
    int ep = 8;                        // expert parallel degree
    int dp = 1;                        // data parallel degree (outside expert parallel)
    int tp = 1;                        // tensor parallel degree
    double capacityFactor = 0.0;       // 0: dropless
    bool dedupTokens = false;          // send a token once per rank, even for several experts there
    std::string routing = "uniform";   // uniform | zipf:S | path to a run store
    std::string epKernel;              // dispatch/combine library from the catalog's ep_kernels; empty: the flow model
    PlacementSpec placement;
    // A recorded run whose MoE layer count differs from the model's: how its layers map onto
    // the model's ("" = they must match or divide evenly; "tile": repeat the recorded layers in
    // order; "interpolate": stretch them over the model's depth).
    std::string routingMap;

    // ---- Training layout (Megatron-Core's names in brackets). The memory model, the whole-model
    // step time and the layout planner read these; the model dimensions come from the model spec.
    // `tp` above is the attention/dense tensor-parallel degree; `ep` the expert-parallel degree.
    int pp = 1;                        // pipeline stages [--pipeline-model-parallel-size]
    int vpp = 1;                       // virtual stages per pipeline rank (interleaved 1F1B when > 1)
    int cp = 1;                        // context parallel [--context-parallel-size]
    int etp = 0;                       // expert tensor parallel; 0: the same as tp [--expert-tensor-parallel-size]
    int firstStageLayers = 0;          // uneven pipelines: layers on the first / last stage (0: even split)
    int lastStageLayers = 0;
    bool sequenceParallel = true;      // with tp > 1: reduce-scatter / all-gather instead of all-reduce
    // Hide the expert all-to-all behind another micro-batch's compute (Megatron-Core's
    // --overlap-moe-expert-parallel-comm, DeepSeek's DualPipe).
    bool epOverlap = false;
    int microBatch = 1;                // sequences per micro-batch per data-parallel rank
    int globalBatch = 0;               // sequences per optimizer step; 0: one micro-batch per rank
    int seqLen = 0;                    // tokens per sequence; 0: the model's input seq_len
    std::string recompute = "selective";  // none | selective (core attention) | full
    int zero = 1;                      // 0 plain DP, 1 distributed optimizer (ZeRO-1), 2, 3
    std::string gradDtype = "fp32";    // gradient buffers (Megatron keeps fp32 main grads)
};

// Valid names of the layout's text fields, for messages and pickers.
const std::vector<std::string>& recomputeNames();
const std::vector<std::string>& routingMapNames();
const std::vector<std::string>& gradDtypeNames();  // grad_dtype (dtype and dispatch_dtype: dtypeNames in derived.h)
// "\"value\" is not valid; expected one of a, b or c": a text field given a name not in `names`
// (`is`: what the value is not, "valid" or "a known dtype").
std::string notOneOfText(const std::string& value, const std::vector<std::string_view>& names, const std::string& is = "valid");
std::string notOneOfText(const std::string& value, const std::vector<std::string>& names, const std::string& is = "valid");

// A guided classroom scenario: steps a teacher walks through in front of a class.
struct ScenarioStep {
    std::string title;
    std::string text;                  // what to say / what to watch for
    int trainSteps = 0;                // train this many steps when the step starts (0: none)
    nlohmann::ordered_json edits;      // {"model.blocks[*].losses.aux": 0.01, ...} applied first
    std::string view;                  // the dashboard the step puts up (one of kScenarioViews); empty: as is
    bool compareRuns = false;          // the step shows the latest run beside the one before it
};

// The dashboards a scenario step may put up (the dashboards' own names for their views).
inline constexpr const char* kScenarioViews[] = {"heatmap", "load", "collapse", "specialisation",
                                                 "routing-map", "tokens", "schedule", "cluster"};

// Empty when `view` is one of kScenarioViews (or empty), else what is wrong.
std::string checkScenarioView(const std::string& view);

struct Scenario {
    std::string title;
    std::vector<ScenarioStep> steps;
};

// The learning rate at optimizer step `step` (0-based) of a run planned for `totalSteps`, for a
// set rate `baseRate` (the project's, or one changed while training).
double learningRateAt(const TrainingSettings& t, double baseRate, std::int64_t step, std::int64_t totalSteps);

struct Project {
    std::string description;
    ModelSpec model;
    TrainingSettings training;
    std::optional<DeploymentSpec> deployment;
    std::optional<Scenario> scenario;
    // What loading changed in an older file (for example a `deployment.model` turned into the
    // model at its real size with a trainable twin); shown to the user, never saved.
    Diagnostics migrations;
};

}  // namespace moe::spec
