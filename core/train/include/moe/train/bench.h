#pragma once
// `moe bench layer`: what an MoE block costs next to the dense work it cannot avoid, and what
// routing telemetry adds to a training step. Torch-free header; the work runs in core/train.

#include <string>

#include "moe/spec/diagnostic.h"
#include "moe/spec/project.h"

namespace moe::train {

struct LayerBenchOptions {
    int experts = 8;
    int k = 2;
    int dModel = 256;
    int hidden = 1024;       // FFN hidden width of each expert
    int tokens = 4096;
    int reps = 7;            // timed repetitions, interleaved (median is reported)
    int warmup = 1;
    int threads = 0;         // 0: all hardware threads
    int telemetryInterval = 10;  // for the amortised telemetry cost
    std::string device = "cpu";  // "cpu", "cuda", "cuda:N" or "auto"
};

struct LayerBenchResult {
    int threads = 0;
    std::string device;            // where it ran: "cpu" or "cuda:N"
    // MoE block (top-k router, dropless, dispatch/combine, experts) forward + backward, with the
    // dispatch/combine the trainer uses (the kernels' ops when built) and with plain LibTorch ops.
    double moeSeconds = 0;
    double moePlainSeconds = 0;
    bool kernels = false;          // moeSeconds used the kernels' dispatch/combine
    // The dense work it cannot avoid: one expert FFN over tokens x k rows, forward + backward.
    double denseSeconds = 0;
    double moeOverDense = 0;
    // One training step (forward, loss, backward, Adam) of a one-block network on the same shape,
    // without and with the telemetry a snapshot step adds (block probe + collapse detectors).
    double stepSeconds = 0;
    double stepTelemetrySeconds = 0;
    double telemetryOverStep = 0;       // per snapshot step
    double telemetryAmortized = 0;      // with one snapshot every telemetryInterval steps
};

moe::spec::Result<LayerBenchResult> benchLayer(const LayerBenchOptions& options);

// `moe bench train`: the training FLOP rate a project achieves (the describe figures' forward
// FLOPs per token x 3 for forward + backward, x tokens trained, over the wall time of real
// trainer steps, telemetry included) next to this machine's GEMM rate measured in the same run.
struct TrainBenchOptions {
    int steps = 30;              // timed optimizer steps
    int warmup = 3;              // untimed steps first (allocator, thread pool)
    int threads = 0;             // 0: what `moe train` would use
    int gemmSize = 1024;         // square sgemm side for the reference rate
    int batch = 0;               // samples per step; 0: the project's training.batch
    std::string projectDir;      // for relative corpus paths
};

struct TrainBenchResult {
    int threads = 0;
    int steps = 0;
    int batch = 0;                  // samples per step
    double tokensPerStep = 0;
    double forwardFlopsPerToken = 0;
    double secondsPerStep = 0;      // median over the timed steps' chunks
    double trainFlops = 0;          // achieved FLOP/s: 3 x forward FLOPs x tokens / second
    // This machine's GEMM rate at the same thread count: the faster of two ways to run a square
    // sgemm. LibTorch's product with BLAS on its own threads, timed once before training (waking
    // BLAS's threads in between would slow the training steps), and the bands over LibTorch's
    // threads that training uses, timed in between the training steps.
    double gemmBlasThreadsFlops = 0;
    double gemmBandsFlops = 0;      // the fastest over the chunks of steps
    double gemmFlops = 0;           // the larger of the two
    double fraction = 0;            // trainFlops / gemmFlops
};

moe::spec::Result<TrainBenchResult> benchTrain(const moe::spec::Project& project, const TrainBenchOptions& options);

}  // namespace moe::train
