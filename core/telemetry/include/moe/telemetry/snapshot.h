#pragma once
// What the trainer publishes while it trains: one immutable RoutingSnapshot every N steps, with
// one BlockSnapshot per MoE block. Producers publish std::shared_ptr<const RoutingSnapshot>;
// consumers (dashboards, run store, studio, cluster simulator) take the newest.
//
// Matrices are row-major in std::vector<double>.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace moe::telemetry {

struct BlockSnapshot {
    int block = 0;                            // index in ModelSpec::blocks
    int experts = 0;                          // routed experts (FFN + zero-computation)
    int ffnExperts = 0;                       // the first ffnExperts columns are FFN experts
    // The counts below (tokens, tokensPerExpert, dropped, histograms, classExpert) and the means
    // (meanGateProb, meanTokenEntropy) cover every batch of the telemetry interval: `batches`
    // of them. similarity, routerGradNorm, auxLoss, zLoss, the map and the probe are of the last.
    int batches = 1;
    std::int64_t tokens = 0;                  // tokens routed in the measured batches
    std::vector<double> tokensPerExpert;      // [experts] token-expert assignments kept after capacity
    std::vector<double> meanGateProb;         // [experts] mean router probability over tokens
    std::int64_t dropped = 0;                 // token-expert assignments dropped by capacity
    double meanTokenEntropy = 0;              // mean over tokens of H(router probabilities), nats
    std::vector<double> tokenEntropyHist;     // histogram of per-token entropy over [0, ln experts]
    std::vector<double> expertsPerTokenHist;  // [0..experts] tokens that got n experts
    int classes = 0;
    std::vector<double> classExpert;          // [classes x experts] token counts
    std::vector<double> similarity;           // [ffnExperts x ffnExperts] cosine of expert outputs
    double routerGradNorm = 0;                // L2 norm of the router weight gradient; -1: no weights (hash)
    double auxLoss = 0;                       // this block's load-balancing loss (unscaled)
    double zLoss = 0;                         // this block's router z-loss (unscaled)
    // 2-D datasets only: the expert the router ranks first at each cell of a grid over the
    // plane (row-major, row 0 at yMin), fed through the network up to this block.
    int mapResolution = 0;                    // cells per side; 0: no map
    std::vector<int> routingMap;              // [mapResolution^2] expert index
    // Sequence models: how this block routed every token of the run's fixed probe (see
    // RoutingSnapshot::probeTokens): probeK slots per token, expert -1 for an unused slot.
    int probeK = 0;
    std::vector<int> probeExperts;            // [probe tokens x probeK]
    std::vector<float> probeGates;            // [probe tokens x probeK]

    // Share of assignments per expert (sums to 1; all zeros when nothing was routed).
    std::vector<double> loadShare() const;
    // Assignments kept and dropped: the sample size the load figures rest on.
    double assignments() const;
};

// The figures of a block that add up over disjoint sets of tokens (the counts, and the means
// times tokens), flattened in one fixed order for the block's experts and classes: data parallel
// ranks sum them so a snapshot describes the whole global batch.
std::vector<double> additiveFigures(const BlockSnapshot& b);
// Sets `b`'s additive figures from a sum of additiveFigures of blocks laid out like `b`.
void setAdditiveFigures(BlockSnapshot& b, const std::vector<double>& sum);

// Adds `next` (a later batch of the same block) to `sum`: counts add up, means are weighted by
// tokens, the last-batch figures are `next`'s. An empty `sum` (no experts yet) becomes `next`.
void accumulate(BlockSnapshot& sum, const BlockSnapshot& next);

// The coefficient of variation of the load that a perfectly even router would show from
// sampling alone, over `assignments` token-expert assignments to `experts` experts: counts are
// multinomial with p = 1/E, so CV = sqrt((E - 1) / N). Below it, "imbalance" is noise.
double evenRouterCv(double assignments, int experts);

// A collapse detector's verdict on one block, in plain language (see collapse.h).
enum class AlertKind {
    DeadExperts,             // experts whose share is below 1 / (10 x experts)
    LoadImbalance,           // max share or coefficient of variation too high
    LowLoadEntropy,          // few effective experts exp(H)
    HighDropRate,            // capacity drops too many assignments
    RepresentationCollapse,  // experts compute nearly the same function
    RouterStarvation,        // router gradient near zero: it stopped learning
    Divergence               // loss or router logits not finite
};
enum class Severity { Info, Warning, Critical };

std::string_view toString(AlertKind k);
std::string_view toString(Severity s);

struct Alert {
    std::int64_t step = 0;
    int block = -1;                           // index in ModelSpec::blocks, -1 for the whole model
    AlertKind kind = AlertKind::DeadExperts;
    Severity severity = Severity::Warning;
    double value = 0;                         // the measured figure that tripped it
    std::string title;                        // short: "3 of 8 experts are dead"
    std::string explanation;                  // what is happening, in plain language
    std::string fix;                          // what to try
};

// Data parallel runs: where one rank's time went over the steps since the last snapshot.
struct RankTime {
    int rank = 0;
    int steps = 0;                  // optimizer steps measured
    double computeSeconds = 0;      // forward, backward and optimizer, less the waits below
    double gradReduceSeconds = 0;   // waiting for the gradient all-reduce after the backward pass
    double exchangeSeconds = 0;     // forward exchanges: the routers' gathers, the loss and telemetry sums
};

// Expert parallel runs: one rank's all-to-all traffic and time in one MoE block over the steps
// since the last snapshot (forward and backward together).
struct LayerTime {
    int rank = 0;
    int block = 0;                   // the MoE block's layer in the model, as BlockSnapshot::block
    int steps = 0;                   // optimizer steps measured
    double alltoallSeconds = 0;      // in the block's dispatch and combine all-to-alls, forward and backward
    double expertSeconds = 0;        // running this rank's experts on the tokens it received (forward)
    std::vector<double> rowsTo;      // token rows this rank sent to each rank in the dispatch (itself included), summed over the steps
    int bytesPerRow = 0;             // bytes of one token row on the wire (d_model x 4)
    // With moe train --measure-waits: seconds in a barrier before each of those all-to-alls, waiting
    // for the last rank to arrive, so alltoallSeconds is the exchange alone; 0 when not measured.
    double waitSeconds = 0;
};

// Sums the records of each rank and block (each snapshot holds the time since the one before):
// steps, seconds and rows add up, rowsTo element by element (the longer list sets the length).
// Sorted by block, then rank.
std::vector<LayerTime> sumLayerTimes(const std::vector<LayerTime>& times);

struct RoutingSnapshot {
    std::int64_t step = 0;
    double epoch = 0;
    double loss = 0;                          // training loss (task + weighted aux + z)
    double taskLoss = 0;                      // cross-entropy only
    double accuracy = 0;                      // training-batch accuracy in [0, 1]
    double testAccuracy = -1;                 // held-out accuracy, -1 when not measured
    // Language models: held-out cross-entropy in nats per byte (-1 when not measured) and, for
    // reference, the bits per byte of a unigram model of the training text (0: not a text run).
    double testLoss = -1;
    double unigramBitsPerByte = 0;
    double learningRate = 0;
    double tokensPerSecond = 0;
    double wallSeconds = 0;                   // since the run started
    std::vector<BlockSnapshot> blocks;        // one per MoE block, in block order
    // 2-D datasets only: the plane the routing maps cover and a sample of training points.
    double mapXMin = 0, mapXMax = 0, mapYMin = 0, mapYMax = 0;
    std::vector<float> mapPoints;             // x, y, label triplets
    // Sequence models: the fixed probe whose per-token routing every block records. Text: the
    // probe text's bytes; images: probeSamples test images of probeTokens.size()/probeSamples
    // patches each, tokens holding the image's class.
    std::vector<int> probeTokens;
    int probeSamples = 1;
    // Names of BlockSnapshot::classExpert's rows when they are not the dataset's labels (text:
    // token classes such as letters, digits, spaces, punctuation); empty: class numbers.
    std::vector<std::string> classNames;
    std::vector<Alert> alerts;                // the collapse detectors' verdicts at this step
    std::vector<RankTime> rankTimes;          // data parallel runs: one per rank; empty in one process
    std::vector<LayerTime> layerTimes;        // expert parallel runs: one per rank and MoE block; empty otherwise
};

// Nats per byte to bits per byte (a cross-entropy in nats divided by ln 2).
inline double bitsPerByte(double nats) { return nats / 0.69314718055994530942; }

using SnapshotPtr = std::shared_ptr<const RoutingSnapshot>;

}  // namespace moe::telemetry
