#pragma once
// The Trainer's private state and work, shared by trainer.cpp (set-up, the trainer thread,
// checkpoints, the public API), trainer_step.cpp (one optimizer step and its telemetry) and
// trainer_ranks.cpp (data and expert parallel ranks). Private to core/train.

#include "moe/train/trainer.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <condition_variable>
#include <filesystem>
#include <limits>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>
#include <utility>

#ifdef __linux__
#include <sys/resource.h>
#include <unistd.h>
#endif

#include "moe/spec/atomic_file.h"
#include "moe/spec/derived.h"
#include "moe/spec/twin.h"
#include "moe/spec/project_io.h"
#include "moe/spec/validate.h"
#include "moe/telemetry/collapse.h"
#include "moe/telemetry/run_store.h"
#include "moe/train/datasets.h"
#include "checkpoint.h"
#include "cpu_blas.h"
#include "data_parallel.h"
#include "device.h"
#include "flat_adam.h"
#include "probe.h"

namespace moe::train {

using detail::MoeNet;
using moe::spec::Diagnostics;
using telemetry::RoutingSnapshot;
using telemetry::SnapshotPtr;

struct Trainer::Impl {
    static constexpr int kMapResolution = 64;
    static constexpr int kMapPoints = 512;
    static constexpr std::int64_t kSmallTestSet = 2048;  // evaluated at every snapshot; larger sets per epoch
    // Language models: the held-out windows evaluated at every snapshot (a fixed set, so successive
    // snapshots compare the same text) and the longest probe recorded per token.
    static constexpr int kHeldOutWindows = 32;
    static constexpr std::int64_t kProbeTokens = 256;
    static constexpr std::int64_t kProbeImages = 4;

    moe::spec::Project project;
    TrainerOptions options;
    int threads = 1;  // intra-op threads; set on the trainer thread too (OpenMP keeps it per thread)
    DataSplit data;
    torch::Tensor trainX, trainY, testX, testY;
    // Language modelling: the corpus as int64 byte ids, the held-out windows and the reference.
    bool text() const { return project.model.input.isText(); }
    TextCorpus corpus;
    torch::Tensor trainText, testText;
    torch::Tensor tokenClassTable;  // [256] int64 token class of each byte
    double unigramBpb = 0;
    double testLoss = -1;
    // The fixed probe whose per-token routing every snapshot records (sequence models only).
    torch::Tensor probeX;
    std::vector<int> probeTokens;
    int probeSamples = 1;
    torch::Device device{torch::kCPU};
    MoeNet net{nullptr};
    // Data parallel: the other ranks (null when training alone). Its gradient hooks point at it,
    // so it goes before the model (members are destroyed in reverse order).
    std::unique_ptr<detail::DataParallel> dp;
    // Expert parallel (training.ep = the ranks): the MoE blocks' all-to-alls. Rank 0 keeps a copy
    // of the experts the others hold, refreshed before it probes, evaluates or saves the model.
    std::unique_ptr<detail::ExpertParallel> ep;
    // Expert parallel: this rank's experts' parameters, and the other ranks' of its group by rank
    // (released, empty, except on rank 0, which keeps a copy to probe, evaluate and save).
    std::vector<torch::Tensor> heldExperts;
    std::vector<std::vector<torch::Tensor>> otherExperts;
    telemetry::RankTime rankInterval;  // this rank's time since the last snapshot
    bool leader() const { return !dp || dp->rank() == 0; }
    std::unique_ptr<torch::optim::Optimizer> optimizer;
    at::Generator generator;
    std::unique_ptr<telemetry::RunWriter> writer;
    std::int64_t batch = 0, stepsPerEpoch = 1, totalSteps = 0, tokensPerStep = 0;
    std::vector<float> mapPoints;

    // Owned by the trainer thread (and by whoever holds modelMutex while it is not running).
    std::int64_t step = 0;
    std::vector<std::int64_t> order;
    std::int64_t orderEpoch = -1;
    double lossEma = std::numeric_limits<double>::quiet_NaN(), accEma = 0, stepSecondsEma = 0;
    double testAccuracy = -1;
    std::int64_t lastSnapshotStep = -1;
    std::vector<telemetry::BlockSnapshot> intervalBlocks;  // routing summed since the last snapshot
    telemetry::CollapseMonitor collapseMonitor;            // the detectors, with hysteresis over the run
    std::chrono::steady_clock::time_point started;
    bool startedClock = false;
    std::mutex modelMutex;

    // Shared with callers, under mutex.
    mutable std::mutex mutex;
    std::condition_variable wake, idle;
    TrainerState state = TrainerState::Idle;
    std::int64_t budget = -1;  // steps left before pausing; -1: until done
    bool stopRequested = false;
    bool pauseRequested = false;
    bool finalized = false;
    bool stopAgreed = false;  // data parallel: some rank asked to stop; every rank ends after this step
    double pendingLr = std::numeric_limits<double>::quiet_NaN();
    double baseLr = 0;  // the set rate; the schedule (warm-up, cosine) scales it every step
    Progress progress;
    SnapshotPtr latest;
    std::function<void(SnapshotPtr)> callback;
    std::thread thread;

    // ---- [SECTION] set-up (trainer.cpp) ---------------------------------------------------------

    std::string build();

    // ---- [SECTION] the trainer thread (trainer.cpp) ----------------------------------------------

    void ensureThread();
    void loop();

    // Final snapshot, run store status and checkpoint; runs on the trainer thread (or on the
    // caller's when the thread never started).
    // Any write failure (the run store's last snapshots, the checkpoint) turns the run into a
    // failed one whose message names the file and the cause; what was written before stays.
    void finish(TrainerState final, std::string message);

    // ---- [SECTION] one optimizer step and its telemetry (trainer_step.cpp) ----------------------

    const std::vector<std::int64_t>& epochOrder(std::int64_t epoch);

    // Text: inputs are bytes 0..S-1 of each window, targets bytes 1..S (flattened like the logits).
    std::pair<torch::Tensor, torch::Tensor> windows(const torch::Tensor& bytes, const std::vector<std::int64_t>& starts) const;

    // Samples [begin, end) of each global batch this process trains on: its shard when data
    // parallel, else (or with `whole`) the whole batch.
    std::pair<std::int64_t, std::int64_t> shard(bool whole = false) const;

    // The training batch of optimizer step `s` (0-based), on the device: this rank's shard of it
    // unless `whole`.
    std::pair<torch::Tensor, torch::Tensor> batchAt(std::int64_t s, bool whole = false);

    // Routing telemetry of the last forward (over batch x, y). Rows of the class matrix: token
    // classes for text, the sample's class for everything else.
    std::vector<telemetry::BlockSnapshot> blockSnapshots(const torch::Tensor& x, const torch::Tensor& y, bool withSimilarity = true);

    // Held-out accuracy (next-byte accuracy for text) and, for text, the held-out loss.
    void evaluateHeldOut();

    std::string runStep();

    // Fills the run-wide fields, the routing maps and the detectors' verdicts, then publishes.
    void publish(std::shared_ptr<RoutingSnapshot> s, double testAcc);

    // A snapshot for the state at the end of the run when the last step had none: routing of a
    // fresh forward over one batch (no gradient, so no router gradient norm).
    void publishFinal();

    void publishDivergence(int block, const std::string& what);

    // ---- [SECTION] the ranks of a distributed run (trainer_ranks.cpp) ---------------------------

    // Data parallel: joins the other ranks and checks that they train the same thing.
    std::string joinRanks();

    // Expert parallel: the routed FFN experts of every MoE block, as each rank holds them.
    // held: this rank's (their gradients stay here); others: everyone else's, by rank.
    void expertParameters(std::vector<torch::Tensor>& held, std::vector<std::vector<torch::Tensor>>& others);

    // After every rank took rank 0's model: the gradient reducer leaves out the experts, this
    // rank's being reduced by the all-to-alls' backward pass and the others' not trained here.
    // Ranks other than 0 let go of the other ranks' experts.
    void holdExperts();

    // Expert parallel: rank 0's copy of every other rank's experts takes their current values
    // (collective: every rank calls it at the same point).
    void gatherExperts();

    // Data parallel snapshot: the routing counts of every rank's tokens summed into `blocks` (so
    // they describe the global batches) and every rank's time since the last snapshot, in one
    // exchange.
    std::vector<telemetry::RankTime> mergeRanks(std::vector<telemetry::BlockSnapshot>& blocks, std::vector<telemetry::LayerTime>& layers);

    // ---- [SECTION] checkpoints (trainer.cpp) ------------------------------------------------------

    std::string saveCheckpointLocked(const std::string& path);
    std::string loadCheckpoint(const std::string& path);
};

}  // namespace moe::train
