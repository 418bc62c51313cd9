#pragma once
// The range of every number a project holds, in one place. The project reader refuses a value
// outside its range while parsing; validation refuses it in a project built in memory (the
// studio's inspector, importers), with the same words and the path of the field. So a project
// that validates is one that saves and reopens.

#include <climits>
#include <cstddef>
#include <cstdint>
#include <string>

namespace moe::spec {

struct IntRange {
    int lo;
    int hi;
    constexpr bool contains(long long v) const { return v >= lo && v <= hi; }
};

struct RealRange {
    double lo;
    double hi;
    constexpr bool contains(double v) const { return v >= lo && v <= hi; }  // NaN is outside
};

// " (valid: lo to hi)", the tail of every range message.
std::string rangeText(IntRange r);
std::string rangeText(RealRange r);
// "<value> is out of range (valid: lo to hi)"; `value` as the user wrote it.
std::string outOfRange(const std::string& value, IntRange r);
std::string outOfRange(const std::string& value, RealRange r);
// A number as a project file writes it (shortest form that reads back the same).
std::string numberText(double v);

// "N blocks; a model has at most kMaxLayers layers": a block list longer than any model.
std::string tooManyBlocksText(std::size_t blocks);
// "the blocks make N layers (groups counted with their repeats); a model has at most kMaxLayers"
std::string tooManyLayersText(std::int64_t layers);

// What the reader says of the other values a project file cannot hold; validation says the same.
inline constexpr const char* kEmptyCorpusText = "name a corpus: \"fortunes\" or a UTF-8 text file";
inline constexpr const char* kPatchesNeedImagesText =
    "\"patches\" needs an image dataset (fashion_mnist); 2-D and clustered sets use \"sample\"";
inline constexpr const char* kExpertIndexText = "expected an expert index (0 or more) but found ";  // + what was found
inline constexpr const char* kEditsObjectText = "expected an object of \"path\": value edits but found ";  // + what was found

namespace limits {

// The most layers a model holds once its groups are expanded: far above any published model
// (DeepSeek-V3: 61 decoder layers, 122 layers here; the deepest dense LLMs: a few hundred), and low
// enough that per-layer checks stay cheap on a hostile file. The reader, validation and the
// importers keep to it.
inline constexpr int kMaxLayers = 4096;
inline constexpr int kMaxExperts = 4096;
inline constexpr int kMaxWidth = 1 << 20;

// Model: experts and routing. kExperts bounds every expert count (routed experts, k, schedule
// counts, dynamic min/max, router groups).
inline constexpr IntRange kExperts{1, kMaxExperts};
inline constexpr IntRange kZeroExperts{0, kMaxExperts};  // each kind of zero-computation expert
inline constexpr IntRange kSharedExperts{0, 64};
inline constexpr IntRange kSchedulePeriod{2, 1024};
inline constexpr RealRange kTemperature{1e-3, 1e3};
inline constexpr RealRange kRouterNoise{0.0, 100.0};
inline constexpr RealRange kCapacityFactor{0.01, 64.0};  // expert_choice and a capacity's factor
inline constexpr RealRange kTau{0.0, 1.0};
inline constexpr RealRange kAlpha{0.0, 1.0};
inline constexpr IntRange kSinkhornIterations{1, 100};
inline constexpr RealRange kBiasUpdateRate{0.0, 1.0};
inline constexpr RealRange kLossCoefficient{0.0, 100.0};  // aux and z
// Widths, attention and groups.
inline constexpr IntRange kWidth{1, kMaxWidth};  // d_model, FFN hidden, kv_lora_rank
inline constexpr IntRange kQLoraRank{0, kMaxWidth};
inline constexpr IntRange kHeads{1, 4096};        // heads, kv_heads
inline constexpr IntRange kHeadDim{1, 4096};      // head_dim, qk_nope_head_dim, v_head_dim
inline constexpr IntRange kRopeHeadDim{0, 4096};
inline constexpr IntRange kWindow{0, 1 << 20};
inline constexpr IntRange kRepeat{1, kMaxLayers};
inline constexpr IntRange kFirstDense{0, kMaxLayers};
// Input and stem.
inline constexpr IntRange kSeqLen{2, 8192};
inline constexpr IntRange kPatch{1, 28};
inline constexpr IntRange kClasses{2, 1000};
inline constexpr IntRange kDims{2, 4096};
inline constexpr RealRange kDataNoise{0.0, 100.0};
inline constexpr IntRange kVocab{2, 1 << 22};
inline constexpr RealRange kRopeTheta{1.0, 1e9};
inline constexpr IntRange kMaxPositions{1, 1 << 20};
// Training.
inline constexpr IntRange kBatch{1, 1 << 16};
inline constexpr RealRange kLearningRate{1e-9, 10.0};
inline constexpr RealRange kWeightDecay{0.0, 10.0};
inline constexpr RealRange kMomentum{0.0, 0.9999};
inline constexpr IntRange kWarmupSteps{0, 100000000};
inline constexpr IntRange kEpochs{1, 10000};
inline constexpr IntRange kSteps{1, 100000000};
inline constexpr IntRange kSeed{0, INT_MAX};
inline constexpr IntRange kTelemetryInterval{1, 1000000};
inline constexpr IntRange kTrainingEp{1, 4096};  // training.ep: expert parallel ranks
inline constexpr IntRange kSamples{1, 10000000};  // train and test samples
inline constexpr IntRange kAugmentShift{0, 7};     // training.augment.shift: pixels, a quarter of a 28-pixel side
// The training twin (vocab and seq_len as the model's).
inline constexpr IntRange kTwinDModel{4, 4096};
inline constexpr IntRange kTwinLayers{1, 256};
inline constexpr IntRange kTwinExpertHidden{1, 65536};
inline constexpr IntRange kTwinHeads{1, 256};
// Deployment.
inline constexpr IntRange kGpus{1, 1 << 20};  // gpus, ep, dp
inline constexpr IntRange kTokensPerGpu{1, 1 << 30};
inline constexpr IntRange kTensorParallel{1, 1024};  // tp, vpp, cp
inline constexpr IntRange kPipelineParallel{1, 4096};
inline constexpr IntRange kExpertTensorParallel{0, 1024};
inline constexpr IntRange kStageLayers{0, 100000};
inline constexpr IntRange kMicroBatch{1, 1 << 20};
inline constexpr IntRange kGlobalBatch{0, 1 << 30};
inline constexpr IntRange kDeploymentSeqLen{0, 1 << 24};
inline constexpr IntRange kZeroStage{0, 3};
inline constexpr RealRange kDeploymentCapacityFactor{0.0, 64.0};
// Classroom scenarios.
inline constexpr IntRange kScenarioTrainSteps{0, 1000000};

}  // namespace limits
}  // namespace moe::spec
