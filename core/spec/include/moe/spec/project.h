#pragma once
// A project file: format "moe-studio/1", holding the model spec, the training settings, an
// optional deployment (read by the cluster simulator) and an optional classroom scenario.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/spec/model_spec.h"

namespace moe::spec {

inline constexpr const char* kProjectFormat = "moe-studio/1";

enum class OptimizerKind { Sgd, Adam, AdamW };
std::string_view toString(OptimizerKind v);

// How the learning rate moves over a run: held constant, or a cosine from the set rate down to
// zero at the planned last step. Either may start with a linear warm-up from zero.
enum class LrSchedule { Constant, Cosine };
std::string_view toString(LrSchedule v);

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
};

// Checks a device name ("auto", "cpu", "cuda", "cuda:N"); returns an empty string when valid,
// else what is wrong. The GPU index, when given, is stored in `index` (-1 for none).
std::string checkDeviceName(const std::string& name, int& index);

// Which GPU hosts which experts: round-robin by default, or an explicit list per GPU.
struct PlacementSpec {
    bool roundRobin = true;
    std::vector<std::vector<int>> gpuExperts;  // explicit: experts on each expert-parallel rank
};

// The deployment the cluster simulator prices. Model dimensions are its own (an LLM-scale
// deployment of a small trainable design); when omitted they come from the model spec.
struct DeploymentSpec {
    std::string cluster = "hgx-h100";  // a system name from the hardware catalog
    int gpus = 8;
    int dModel = 0;                    // 0: from the model spec
    int ffnHidden = 0;
    int layers = 0;                    // all layers (0: the model spec's MoE blocks)
    int denseLayers = 0;               // the first dense_layers of them are dense (no all-to-all)
    int experts = 0;                   // routed experts per MoE layer
    int k = 0;
    int sharedExperts = -1;            // -1: from the model spec
    int tokensPerGpu = 4096;           // tokens each GPU routes per step (micro-batch x seq len)
    std::string dtype = "bf16";        // weights and expert GEMMs
    std::string dispatchDtype = "bf16";  // all-to-all payload (fp8 halves it)
    int ep = 8;                        // expert parallel degree
    int dp = 1;                        // data parallel degree (outside expert parallel)
    int tp = 1;                        // tensor parallel degree
    double capacityFactor = 0.0;       // 0: dropless
    bool dedupTokens = false;          // send a token once per rank, even for several experts there
    std::string routing = "uniform";   // uniform | zipf:S | path to a run store
    PlacementSpec placement;
};

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
};

}  // namespace moe::spec
