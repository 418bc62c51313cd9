// The Trainer: one thread per run that owns the model, the optimizer and the data order. Callers
// only set intents (start, pause, step, stop, learning rate) under a mutex; the thread acts on
// them between optimizer steps and publishes immutable snapshots.
//
// [SECTION] set-up
// [SECTION] the trainer thread
// [SECTION] one optimizer step and its telemetry
// [SECTION] checkpoints
// [SECTION] public API

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
#include "data_parallel.h"
#include "device.h"
#include "probe.h"

namespace moe::train {

using detail::MoeNet;
using moe::spec::Diagnostics;
using telemetry::RoutingSnapshot;
using telemetry::SnapshotPtr;

std::string_view toString(TrainerState s) {
    switch (s) {
        case TrainerState::Idle: return "idle";
        case TrainerState::Running: return "running";
        case TrainerState::Paused: return "paused";
        case TrainerState::Finished: return "finished";
        case TrainerState::Stopped: return "stopped";
        case TrainerState::Failed: return "failed";
    }
    return "?";
}

namespace {

// Background training: the trainer thread, and the worker threads it starts, yield the cores to
// interactive threads (a desktop UI drawing its frames) whenever both want them.
void lowerPriority() {
#ifdef __linux__
    if (setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 10) != 0)
        spdlog::debug("could not lower the trainer thread's priority");
#endif
}

// Model construction draws from LibTorch's global generator; one lock makes seeding and building
// atomic when several trainers start at once.
std::mutex& initMutex() {
    static std::mutex m;
    return m;
}

constexpr int kMapResolution = 64;
constexpr int kMapPoints = 512;
constexpr std::int64_t kSmallTestSet = 2048;  // evaluated at every snapshot; larger sets per epoch
// Language models: the held-out windows evaluated at every snapshot (a fixed set, so successive
// snapshots compare the same text) and the longest probe recorded per token.
constexpr int kHeldOutWindows = 32;
constexpr std::int64_t kProbeTokens = 256;
constexpr std::int64_t kProbeImages = 4;

torch::Tensor toTensor(const Dataset& d) {
    return torch::from_blob(const_cast<float*>(d.x.data()), {d.size(), d.features}, torch::kFloat).clone();
}

torch::Tensor labelsOf(const Dataset& d) {
    return torch::from_blob(const_cast<std::int64_t*>(d.y.data()), {d.size()}, torch::kLong).clone();
}

torch::Tensor bytesTensor(const std::vector<std::uint8_t>& b) {
    return torch::from_blob(const_cast<std::uint8_t*>(b.data()), {static_cast<std::int64_t>(b.size())}, torch::kUInt8).to(torch::kLong);
}

// All hardware threads, except for models whose whole step is too small to split: their ops run
// in microseconds, and handing each one to a second thread costs more than it saves (measured on
// the 2-D classroom project: 10x slower with 2 threads than with 1 on a busy 2-core machine).
constexpr double kParallelStepFlops = 20e6;  // forward FLOPs per step

// Marks a checkpoint written by an expert parallel run (the number of ranks).
constexpr const char* kExpertParallelKey = "trainer_expert_parallel";

// Data parallel ranks on one machine share its cores.
int defaultThreads(const moe::spec::Project& p, int localRanks) {
    const int hw = std::max(1, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())) / std::max(1, localRanks));
    const double tokens = static_cast<double>(p.training.batch) * p.model.input.tokensPerSample();
    const double flops = tokens * moe::spec::computeFigures(p.model).flopsPerToken;
    return flops < kParallelStepFlops ? 1 : hw;
}

// FNV-1a, 64 bit: the same on every machine and build, unlike std::hash.
std::string fingerprint(const std::string& s) {
    std::uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ULL;
    }
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

}  // namespace

struct Trainer::Impl {
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
    telemetry::RankTime rankInterval;  // this rank's time since the last snapshot
    double alltoallBefore = 0;         // expert parallel: all-to-all seconds already counted since the last snapshot
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

    // ---- [SECTION] set-up ----------------------------------------------------------------------

    std::string build() {
        const auto& t = project.training;
        const auto& m = project.model;
        if (text()) {
            // An epoch is as many windows as it takes to cover the training text once.
            batch = t.batch;
            const auto perStep = batch * static_cast<std::int64_t>(m.input.seqLen);
            stepsPerEpoch = std::max<std::int64_t>(1, static_cast<std::int64_t>(corpus.train.size()) / perStep);
            trainText = bytesTensor(corpus.train);
            testText = bytesTensor(corpus.test);
            std::vector<std::int64_t> classes(kByteVocab);
            for (int b = 0; b < kByteVocab; ++b) classes[static_cast<size_t>(b)] = tokenClassOf(b);
            tokenClassTable = torch::tensor(classes, torch::kLong);
            unigramBpb = unigramBitsPerByte(corpus.train, corpus.test);
            auto held = heldOutWindows(testText.size(0), m.input.seqLen, kHeldOutWindows);
            std::tie(testX, testY) = windows(testText, held);
            // The probe: the start of the held-out text, as one sequence of the trained length.
            probeX = testX.narrow(0, 0, 1);
            const auto n = std::min<std::int64_t>(kProbeTokens, m.input.seqLen);
            for (std::int64_t i = 0; i < n; ++i) probeTokens.push_back(static_cast<int>(corpus.test[static_cast<size_t>(i)]));
        } else {
            batch = std::min<std::int64_t>(t.batch, data.train.size());
            stepsPerEpoch = std::max<std::int64_t>(1, data.train.size() / batch);
            trainX = toTensor(data.train);
            trainY = labelsOf(data.train);
            testX = toTensor(data.test);
            testY = labelsOf(data.test);
            // Images cut into patches: a few whole test images, each patch labelled with its image's class.
            const auto P = m.input.tokensPerSample();
            if (P > 1 && testX.size(0) > 0) {
                const auto n = std::min<std::int64_t>(kProbeImages, testX.size(0));
                probeX = testX.narrow(0, 0, n);
                probeSamples = static_cast<int>(n);
                for (std::int64_t i = 0; i < n; ++i)
                    for (std::int64_t p = 0; p < P; ++p) probeTokens.push_back(static_cast<int>(data.test.y[static_cast<size_t>(i)]));
            }
        }
        totalSteps = t.steps ? *t.steps : static_cast<std::int64_t>(*t.epochs) * stepsPerEpoch;
        tokensPerStep = batch * m.input.tokensPerSample();
        if (auto e = detail::resolveDevice(t.device, device); !e.empty()) return e;
        if (options.ranks)
            if (auto e = joinRanks(); !e.empty()) return e;
        {
            std::lock_guard lock(initMutex());
            torch::manual_seed(t.seed);
            net = MoeNet(m);
        }
        net->to(device);
        generator = at::detail::createCPUGenerator(t.seed + 0x9e37ULL);
        switch (t.optimizer) {
            case moe::spec::OptimizerKind::Sgd:
                optimizer = std::make_unique<torch::optim::SGD>(
                    net->parameters(), torch::optim::SGDOptions(t.learningRate).momentum(t.momentum).weight_decay(t.weightDecay));
                break;
            case moe::spec::OptimizerKind::Adam:
                optimizer = std::make_unique<torch::optim::Adam>(net->parameters(),
                                                                 torch::optim::AdamOptions(t.learningRate).weight_decay(t.weightDecay));
                break;
            case moe::spec::OptimizerKind::AdamW:
                optimizer = std::make_unique<torch::optim::AdamW>(net->parameters(),
                                                                  torch::optim::AdamWOptions(t.learningRate).weight_decay(t.weightDecay));
                break;
        }
        if (data.planar) {
            const auto n = std::min<std::int64_t>(kMapPoints, data.train.size());
            for (std::int64_t i = 0; i < n; ++i) {
                mapPoints.push_back(data.train.x[static_cast<size_t>(2 * i)]);
                mapPoints.push_back(data.train.x[static_cast<size_t>(2 * i + 1)]);
                mapPoints.push_back(static_cast<float>(data.train.y[static_cast<size_t>(i)]));
            }
        }
        if (!options.resumeFrom.empty())
            if (auto e = loadCheckpoint(options.resumeFrom); !e.empty()) return e;
        if (dp) {
            // The same seed built the same model on every rank; rank 0's copy makes sure of it.
            try {
                auto state = net->parameters();
                for (const auto& b : net->buffers()) state.push_back(b);
                dp->broadcastFromRankZero(state);
                if (ep) {
                    holdExperts();
                } else {
                    dp->attach(net->parameters());
                }
            } catch (const std::exception& e) {
                return detail::rankFailure(*options.ranks, "taking rank 0's model", e);
            }
        }
        progress.totalSteps = totalSteps;
        progress.unigramBitsPerByte = unigramBpb;
        progress.threads = at::get_num_threads();
        progress.device = device.str();
        progress.step = step;
        baseLr = t.learningRate;
        progress.learningRate = spec::learningRateAt(t, baseLr, step, totalSteps);
        progress.epoch = static_cast<double>(step) / static_cast<double>(stepsPerEpoch);
        if (!options.runStorePath.empty() && leader()) {
            telemetry::RunInfo info;
            info.projectJson = moe::spec::serializeProject(project);
            info.checkpoint = options.checkpointPath;
            auto w = telemetry::RunWriter::create(options.runStorePath, info);
            if (!w) return w.message();
            writer = std::move(w.value());
        }
        return {};
    }

    // Data parallel: joins the other ranks and checks that they train the same thing.
    std::string joinRanks() {
        const auto& env = *options.ranks;
        const std::string who = "rank " + std::to_string(env.rank);
        if (device.type() != torch::kCPU)
            return who + ": data parallel training runs on the CPU (c10d's Gloo); set training.device to cpu";
        if (batch < env.worldSize)
            return who + ": the global batch of " + std::to_string(batch) + " samples (training.batch) cannot be shared by " +
                   std::to_string(env.worldSize) + " ranks: every rank needs at least one sample per step; raise training.batch or start fewer ranks";
        std::string step;
        try {
            detail::ProcessGroup group;
            const auto timeout = std::chrono::milliseconds(static_cast<long long>(options.rankTimeoutSeconds * 1000));
            if (auto e = detail::joinProcessGroup(env, timeout, group, step); !e.empty()) return e;
            dp = std::make_unique<detail::DataParallel>(std::move(group), env.rank, env.worldSize, options.bucketMegabytes * 1024 * 1024);
            step = "comparing the project across ranks";
            // The bucket layout must match too: each bucket is one all-reduce of the same size on every rank.
            const std::string same = moe::spec::serializeProject(project) + "\n" + options.sameOnEveryRank + "\nbucket bytes " +
                                     std::to_string(options.bucketMegabytes * 1024 * 1024);
            if (auto e = dp->checkSame("project or training options", fingerprint(same)); !e.empty())
                return who + ": " + e + "; start every rank with the same project file and options";
            if (project.training.ep > 1) {
                if (project.training.ep != env.worldSize)
                    return who + ": training.ep is " + std::to_string(project.training.ep) + " but " + std::to_string(env.worldSize) +
                           " ranks train; expert parallel spans every rank: set training.ep to " + std::to_string(env.worldSize) +
                           " or to 1 (data parallel only)";
                step = "joining the expert parallel group";
                ep = std::make_unique<detail::ExpertParallel>(dp->group(), env, timeout);
                ep->setMeasureWaits(options.measureExpertWaits);
            }
        } catch (const std::exception& e) {
            return detail::rankFailure(env, step, e);
        }
        return {};
    }

    // Expert parallel: the routed FFN experts of every MoE block, as each rank holds them.
    // held: this rank's (their gradients stay here); others: everyone else's, by rank.
    void expertParameters(std::vector<torch::Tensor>& held, std::vector<std::vector<torch::Tensor>>& others) {
        others.assign(static_cast<size_t>(ep->size()), {});
        for (auto& b : net->blocks()) {
            if (!b->isMoe()) continue;
            const int F = b->ffnExperts();
            for (int r = 0; r < ep->size(); ++r) {
                const auto [first, last] = ep->expertsOf(F, r);
                for (int e = first; e < last; ++e)
                    for (auto& p : b->expert(e)->parameters()) (r == ep->rank() ? held : others[static_cast<size_t>(r)]).push_back(p);
            }
        }
    }

    // After every rank took rank 0's model: the gradient reducer leaves out the experts, this
    // rank's being reduced by the all-to-alls' backward pass and the others' not trained here.
    // Ranks other than 0 let go of the other ranks' experts.
    void holdExperts() {
        std::vector<torch::Tensor> held;
        std::vector<std::vector<torch::Tensor>> others;
        expertParameters(held, others);
        std::vector<torch::Tensor> params;
        for (const auto& p : net->parameters()) {
            bool other = false;
            for (const auto& list : others)
                for (const auto& o : list) other = other || o.is_same(p);
            if (!other) params.push_back(p);
        }
        dp->attach(params, held);
        if (leader()) return;
        torch::NoGradGuard ng;
        for (auto& list : others)
            for (auto& p : list) p.set_data(torch::empty({0}, p.options()));
    }

    // Expert parallel: rank 0's copy of every other rank's experts takes their current values
    // (collective: every rank calls it at the same point).
    void gatherExperts() {
        if (!ep) return;
        std::vector<torch::Tensor> held;
        std::vector<std::vector<torch::Tensor>> others;
        expertParameters(held, others);
        ep->collectOnRankZero(held, others);
    }

    // ---- [SECTION] the trainer thread ----------------------------------------------------------

    void ensureThread() {
        if (!thread.joinable() && !finalized) thread = std::thread([this] { loop(); });
    }

    void loop() {
        at::set_num_threads(threads);
        if (options.background) lowerPriority();
        while (true) {
            {
                std::unique_lock lock(mutex);
                while (true) {
                    if (stopRequested) break;
                    // A pause takes effect between steps, so wait() returns only once the model is quiet.
                    if (state == TrainerState::Running && pauseRequested) {
                        pauseRequested = false;
                        state = TrainerState::Paused;
                        progress.state = state;
                        idle.notify_all();
                    }
                    if (state == TrainerState::Running) break;
                    wake.wait(lock);
                }
                // Data parallel ranks stop together: a stop request rides on the next step's
                // exchange (runStep), so no rank waits for one that is gone.
                if (stopRequested && !dp) break;
            }
            if (step >= totalSteps) {
                finish(TrainerState::Finished, {});
                return;
            }
            std::string error;
            try {
                error = runStep();
            } catch (const c10::Error& e) {
                error = "step " + std::to_string(step + 1) + ": LibTorch error: " + e.what_without_backtrace();
            } catch (const std::exception& e) {
                error = "step " + std::to_string(step + 1) + ": " + e.what();
            }
            // A run store that can no longer be written (disk full, file gone read-only) stops the
            // run: training on without a record would lose what the user runs it for.
            if (error.empty() && writer) error = writer->error();
            if (!error.empty()) {
                finish(TrainerState::Failed, error);
                return;
            }
            if (stopAgreed) break;
            std::lock_guard lock(mutex);
            if (budget > 0 && --budget == 0 && step < totalSteps && state == TrainerState::Running) {
                state = TrainerState::Paused;
                progress.state = state;
                idle.notify_all();
            }
        }
        finish(TrainerState::Stopped, "stopped by request");
    }

    // Final snapshot, run store status and checkpoint; runs on the trainer thread (or on the
    // caller's when the thread never started).
    // Any write failure (the run store's last snapshots, the checkpoint) turns the run into a
    // failed one whose message names the file and the cause; what was written before stays.
    void finish(TrainerState final, std::string message) {
        try {
            // Expert parallel: rank 0 needs the other ranks' experts for the last evaluation and
            // the checkpoint (the ranks agree on both conditions: they ran the same steps).
            if (ep && final != TrainerState::Failed && step > 0 && (lastSnapshotStep != step || !options.checkpointPath.empty())) {
                std::lock_guard lock(modelMutex);
                gatherExperts();
            }
            if (final != TrainerState::Failed && step > 0 && lastSnapshotStep != step && leader()) {
                std::lock_guard lock(modelMutex);
                evaluateHeldOut();
                publishFinal();
            }
        } catch (const c10::Error& e) {
            spdlog::error("final evaluation failed: {}", e.what_without_backtrace());
        } catch (const std::exception& e) {
            spdlog::error("final evaluation failed: {}", e.what());
        }
        if (writer) {
            writer->flush();
            if (auto e = writer->error(); !e.empty() && final != TrainerState::Failed) {
                final = TrainerState::Failed;
                message = e;
            }
        }
        if (!options.checkpointPath.empty() && final != TrainerState::Failed && step > 0 && leader()) {
            std::lock_guard lock(modelMutex);
            if (auto e = saveCheckpointLocked(options.checkpointPath); !e.empty()) {
                spdlog::error("{}", e);
                final = TrainerState::Failed;
                message = e;
            }
        }
        if (writer) writer->finish(std::string(toString(final)), message);
        std::lock_guard lock(mutex);
        state = final;
        finalized = true;
        progress.state = final;
        progress.message = message;
        progress.etaSeconds = 0;
        idle.notify_all();
    }

    // ---- [SECTION] one optimizer step and its telemetry -----------------------------------------

    const std::vector<std::int64_t>& epochOrder(std::int64_t epoch) {
        if (orderEpoch != epoch) {
            order.resize(static_cast<size_t>(data.train.size()));
            for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
            std::mt19937_64 rng(static_cast<std::uint64_t>(project.training.seed) * 1000003ULL + static_cast<std::uint64_t>(epoch));
            std::shuffle(order.begin(), order.end(), rng);
            orderEpoch = epoch;
        }
        return order;
    }

    // Text: inputs are bytes 0..S-1 of each window, targets bytes 1..S (flattened like the logits).
    std::pair<torch::Tensor, torch::Tensor> windows(const torch::Tensor& bytes, const std::vector<std::int64_t>& starts) const {
        const std::int64_t S = project.model.input.seqLen;
        auto idx = torch::tensor(starts, torch::kLong).unsqueeze(1) + torch::arange(S + 1, torch::kLong).unsqueeze(0);
        auto w = bytes.index({idx});
        return {w.narrow(1, 0, S).to(torch::kFloat), w.narrow(1, 1, S).reshape({-1})};
    }

    // Samples [begin, end) of each global batch this process trains on: its shard when data
    // parallel, else (or with `whole`) the whole batch.
    std::pair<std::int64_t, std::int64_t> shard(bool whole = false) const {
        return dp && !whole ? detail::shardOf(batch, dp->rank(), dp->size()) : std::pair<std::int64_t, std::int64_t>{0, batch};
    }

    // The training batch of optimizer step `s` (0-based), on the device: this rank's shard of it
    // unless `whole`.
    std::pair<torch::Tensor, torch::Tensor> batchAt(std::int64_t s, bool whole = false) {
        const auto [b0, b1] = shard(whole);
        if (text()) {
            auto starts = trainingWindows(trainText.size(0), project.model.input.seqLen, static_cast<int>(batch), project.training.seed, s);
            starts = std::vector<std::int64_t>(starts.begin() + b0, starts.begin() + b1);
            auto [x, y] = windows(trainText, starts);
            return {x.to(device), y.to(device)};
        }
        const std::int64_t epoch = s / stepsPerEpoch, pos = s % stepsPerEpoch;
        const auto& ord = epochOrder(epoch);
        auto idx = torch::from_blob(const_cast<std::int64_t*>(ord.data() + pos * batch + b0), {b1 - b0}, torch::kLong);
        return {trainX.index_select(0, idx).to(device), trainY.index_select(0, idx).to(device)};
    }

    // Routing telemetry of the last forward (over batch x, y). Rows of the class matrix: token
    // classes for text, the sample's class for everything else.
    std::vector<telemetry::BlockSnapshot> blockSnapshots(const torch::Tensor& x, const torch::Tensor& y, bool withSimilarity = true) {
        torch::Tensor labels;
        int classes = project.model.input.numClasses();
        if (text()) {
            labels = tokenClassTable.index({x.to(torch::kCPU).to(torch::kLong).reshape({-1})});
            classes = kTokenClasses;
        } else {
            labels = y.repeat_interleave(project.model.input.tokensPerSample());
        }
        std::vector<telemetry::BlockSnapshot> out;
        for (auto& b : net->blocks())
            if (b->isMoe()) out.push_back(detail::probeBlock(*b, labels, classes, withSimilarity));
        return out;
    }

    // Held-out accuracy (next-byte accuracy for text) and, for text, the held-out loss.
    void evaluateHeldOut() {
        if (!leader()) return;  // data parallel: rank 0 evaluates and records
        if (text()) {
            auto r = detail::evaluateLm(*net, testX, testY, device);
            testLoss = r.loss;
            testAccuracy = r.accuracy;
        } else {
            testAccuracy = detail::evaluate(*net, testX, testY, device);
        }
    }

    std::string runStep() {
        std::lock_guard modelLock(modelMutex);
        if (!startedClock) {
            started = std::chrono::steady_clock::now();
            startedClock = true;
        }
        const auto t0 = std::chrono::steady_clock::now();
        {
            std::lock_guard lock(mutex);
            if (!std::isnan(pendingLr)) {
                baseLr = pendingLr;
                pendingLr = std::numeric_limits<double>::quiet_NaN();
            }
            progress.learningRate = spec::learningRateAt(project.training, baseLr, step, totalSteps);
            for (auto& g : optimizer->param_groups()) g.options().set_lr(progress.learningRate);
        }
        auto [x, y] = batchAt(step);
        net->train();
        detail::RouteContext ctx;
        ctx.training = true;
        ctx.generator = generator;
        // Data parallel: this rank's mean task loss is weighted by its share of the global batch
        // (shards differ by one sample when the batch does not divide by the ranks), so the mean
        // of the ranks' gradients is the gradient of the global batch's mean loss.
        double weight = 1;
        if (dp) {
            const auto tokensPerSample = project.model.input.tokensPerSample();
            std::vector<std::int64_t> rows;
            for (int r = 0; r < dp->size(); ++r) {
                const auto [b0, b1] = detail::shardOf(batch, r, dp->size());
                rows.push_back((b1 - b0) * tokensPerSample);
            }
            dp->setRows(std::move(rows));
            ctx.group = dp.get();
            ctx.experts = ep.get();
            weight = static_cast<double>(dp->size()) * static_cast<double>(x.size(0)) / static_cast<double>(batch);
        }
        auto logits = net->forward(x, ctx);
        auto task = torch::nn::functional::cross_entropy(logits, y);
        auto routing = net->routingLoss().to(device);
        auto loss = dp ? weight * task + routing : task + routing;
        double lossV = loss.item<double>(), taskV = task.item<double>();
        int blown = -1;
        double maxLogit = detail::maxRouterLogit(*net, blown);
        double acc = logits.argmax(-1).eq(y).to(torch::kDouble).mean().item<double>();
        if (dp) {
            // The global batch's figures, and whether any rank was asked to stop, on every rank.
            bool stopAsked;
            {
                std::lock_guard lock(mutex);
                stopAsked = stopRequested;
            }
            const double correct = logits.argmax(-1).eq(y).sum().item<double>();
            auto sums = torch::tensor({weight * taskV + routing.item<double>(), weight * taskV, correct, static_cast<double>(y.size(0)),
                                       stopAsked ? 1.0 : 0.0}, torch::kDouble);
            dp->sum(sums);
            auto most = torch::tensor({std::isfinite(maxLogit) ? maxLogit : std::numeric_limits<double>::max()}, torch::kDouble);
            dp->max(most);
            const auto* v = sums.data_ptr<double>();
            const double n = static_cast<double>(dp->size());
            lossV = v[0] / n;
            taskV = v[1] / n;
            acc = v[3] > 0 ? v[2] / v[3] : 0.0;
            stopAgreed = v[4] > 0;
            maxLogit = most.item<double>();
        }
        if (!std::isfinite(lossV) || !std::isfinite(maxLogit) || maxLogit > detail::kRouterLogitLimit) {
            std::string where = detail::describeBlowUp(*net, blown);
            const std::string what = !std::isfinite(lossV) ? "the loss became " + std::string(std::isnan(lossV) ? "NaN" : "infinite")
                                                           : "training diverged";
            publishDivergence(blown, what + "; " + where);
            return "step " + std::to_string(step + 1) + ": " + what + "; " + where +
                   ". Try a lower learning rate, a router z-loss (losses.z) or a higher softmax temperature.";
        }
        optimizer->zero_grad();
        if (dp) dp->beginBackward();
        loss.backward();
        if (dp) dp->finishGradients();
        const std::int64_t done = step + 1;
        const bool epochEnd = done % stepsPerEpoch == 0;
        const bool snapshot = done == 1 || done % project.training.telemetryInterval == 0 || epochEnd || done == totalSteps;
        // Routing statistics sum every batch since the last snapshot, so a snapshot's loads rest
        // on telemetry_interval batches of tokens rather than one.
        // Expert parallel: the similarity probe runs every expert on rank 0.
        if (snapshot && ep) gatherExperts();
        {
            auto batch = blockSnapshots(x, y, snapshot && leader());
            if (intervalBlocks.size() != batch.size()) intervalBlocks.assign(batch.size(), {});
            for (size_t i = 0; i < batch.size(); ++i) telemetry::accumulate(intervalBlocks[i], batch[i]);
        }
        std::vector<telemetry::BlockSnapshot> blocks;
        if (snapshot) blocks = std::exchange(intervalBlocks, {});
        optimizer->step();
        net->afterOptimizerStep();
        // ... and the evaluation, routing maps and probes after the step.
        if (snapshot && ep) gatherExperts();
        step = done;
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::vector<telemetry::RankTime> rankTimes;
        std::vector<telemetry::LayerTime> layerTimes;
        if (dp) {
            const auto [reduce, exchange] = dp->takeWaitSeconds();
            const double alltoall = ep ? ep->alltoallSecondsSinceTake() - alltoallBefore : 0.0;
            alltoallBefore += alltoall;
            rankInterval.steps += 1;
            rankInterval.computeSeconds += std::max(0.0, secs - reduce - exchange - alltoall);
            rankInterval.gradReduceSeconds += reduce;
            rankInterval.exchangeSeconds += exchange;
            if (snapshot) rankTimes = mergeRanks(blocks, layerTimes);
        }
        stepSecondsEma = stepSecondsEma == 0 ? secs : 0.9 * stepSecondsEma + 0.1 * secs;
        lossEma = std::isnan(lossEma) ? lossV : 0.9 * lossEma + 0.1 * lossV;
        accEma = done == 1 ? acc : 0.9 * accEma + 0.1 * acc;
        if (snapshot) {
            // Text evaluates its few fixed held-out windows at every snapshot.
            const bool evaluated = text() || epochEnd || done == totalSteps || testY.size(0) <= kSmallTestSet;
            if (evaluated) evaluateHeldOut();
            auto s = std::make_shared<RoutingSnapshot>();
            s->testLoss = evaluated ? testLoss : -1;
            s->loss = lossV;
            s->taskLoss = taskV;
            s->accuracy = acc;
            s->blocks = std::move(blocks);
            s->rankTimes = std::move(rankTimes);
            s->layerTimes = std::move(layerTimes);
            publish(std::move(s), (epochEnd || done == totalSteps || testY.size(0) <= kSmallTestSet) ? testAccuracy : -1);
        }
        std::lock_guard lock(mutex);
        progress.step = step;
        progress.epoch = static_cast<double>(step) / static_cast<double>(stepsPerEpoch);
        progress.loss = lossEma;
        progress.accuracy = accEma;
        progress.testAccuracy = testAccuracy;
        progress.testLoss = testLoss;
        progress.tokensPerSecond = stepSecondsEma > 0 ? static_cast<double>(tokensPerStep) / stepSecondsEma : 0;
        progress.etaSeconds = stepSecondsEma * static_cast<double>(totalSteps - step);
        return {};
    }

    // Data parallel snapshot: the routing counts of every rank's tokens summed into `blocks` (so
    // they describe the global batches) and every rank's time since the last snapshot, in one
    // exchange.
    std::vector<telemetry::RankTime> mergeRanks(std::vector<telemetry::BlockSnapshot>& blocks, std::vector<telemetry::LayerTime>& layers) {
        std::vector<double> packed;
        std::vector<size_t> sizes;
        for (const auto& b : blocks) {
            auto f = telemetry::additiveFigures(b);
            sizes.push_back(f.size());
            packed.insert(packed.end(), f.begin(), f.end());
        }
        const size_t timesAt = packed.size();
        packed.resize(timesAt + 4 * static_cast<size_t>(dp->size()), 0.0);
        double* mine = packed.data() + timesAt + 4 * static_cast<size_t>(dp->rank());
        mine[0] = rankInterval.steps;
        mine[1] = rankInterval.computeSeconds;
        mine[2] = rankInterval.gradReduceSeconds;
        mine[3] = rankInterval.exchangeSeconds;
        // Expert parallel: per MoE block and rank, all-to-all and expert seconds and rows sent to each rank.
        const size_t W = static_cast<size_t>(dp->size()), per = 3 + W;
        const size_t layersAt = packed.size();
        std::vector<int> moeLayers;
        for (auto& b : net->blocks())
            if (b->isMoe()) moeLayers.push_back(b->index());
        if (ep) {
            packed.resize(layersAt + moeLayers.size() * W * per, 0.0);
            auto totals = ep->takeTotals();
            alltoallBefore = 0;
            for (size_t i = 0; i < moeLayers.size(); ++i) {
                const auto it = totals.find(moeLayers[i]);
                if (it == totals.end()) continue;
                double* x = packed.data() + layersAt + (i * W + static_cast<size_t>(dp->rank())) * per;
                x[0] = it->second.alltoallSeconds;
                x[1] = it->second.expertSeconds;
                x[2] = it->second.waitSeconds;
                for (size_t j = 0; j < it->second.rowsTo.size() && j < W; ++j) x[3 + j] = it->second.rowsTo[j];
            }
        }
        const int steps = rankInterval.steps;
        rankInterval = {};
        auto t = torch::tensor(packed, torch::kDouble);
        dp->sum(t);
        const double* v = t.data_ptr<double>();
        size_t at = 0;
        for (size_t i = 0; i < blocks.size(); ++i) {
            telemetry::setAdditiveFigures(blocks[i], std::vector<double>(v + at, v + at + sizes[i]));
            at += sizes[i];
        }
        std::vector<telemetry::RankTime> times;
        for (int r = 0; r < dp->size(); ++r) {
            const double* x = v + timesAt + 4 * static_cast<size_t>(r);
            telemetry::RankTime rt;
            rt.rank = r;
            rt.steps = static_cast<int>(std::lround(x[0]));
            rt.computeSeconds = x[1];
            rt.gradReduceSeconds = x[2];
            rt.exchangeSeconds = x[3];
            times.push_back(rt);
        }
        if (ep) {
            const int bytesPerRow = project.model.stem.dModel * 4;
            for (size_t i = 0; i < moeLayers.size(); ++i)
                for (size_t r = 0; r < W; ++r) {
                    const double* x = v + layersAt + (i * W + r) * per;
                    telemetry::LayerTime lt;
                    lt.rank = static_cast<int>(r);
                    lt.block = moeLayers[i];
                    lt.steps = steps;
                    lt.alltoallSeconds = x[0];
                    lt.expertSeconds = x[1];
                    lt.waitSeconds = x[2];
                    lt.rowsTo.assign(x + 3, x + 3 + W);
                    lt.bytesPerRow = bytesPerRow;
                    layers.push_back(std::move(lt));
                }
        }
        return times;
    }

    // Fills the run-wide fields, the routing maps and the detectors' verdicts, then publishes.
    void publish(std::shared_ptr<RoutingSnapshot> s, double testAcc) {
        s->step = step;
        s->epoch = static_cast<double>(step) / static_cast<double>(stepsPerEpoch);
        s->testAccuracy = testAcc;
        s->learningRate = optimizer->param_groups()[0].options().get_lr();
        s->tokensPerSecond = stepSecondsEma > 0 ? static_cast<double>(tokensPerStep) / stepSecondsEma : 0;
        s->wallSeconds = startedClock ? std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() : 0;
        if (!leader()) {
            // Data parallel: rank 0 records the run; the others only keep their latest figures.
            lastSnapshotStep = step;
            std::lock_guard lock(mutex);
            latest = std::move(s);
            return;
        }
        if (data.planar && !s->blocks.empty()) {
            s->mapXMin = data.xMin;
            s->mapXMax = data.xMax;
            s->mapYMin = data.yMin;
            s->mapYMax = data.yMax;
            s->mapPoints = mapPoints;
            auto maps = detail::routingMaps(*net, data.xMin, data.xMax, data.yMin, data.yMax, kMapResolution, device);
            for (size_t i = 0; i < maps.size() && i < s->blocks.size(); ++i) {
                s->blocks[i].mapResolution = kMapResolution;
                s->blocks[i].routingMap = std::move(maps[i]);
            }
        }
        s->unigramBitsPerByte = unigramBpb;
        if (text()) s->classNames = tokenClassNames();
        if (probeX.defined() && !s->blocks.empty()) {
            s->probeTokens = probeTokens;
            s->probeSamples = probeSamples;
            auto routes = detail::probeRouting(*net, probeX, static_cast<std::int64_t>(probeTokens.size()), device);
            for (size_t i = 0; i < routes.size() && i < s->blocks.size(); ++i) {
                s->blocks[i].probeK = routes[i].k;
                s->blocks[i].probeExperts = std::move(routes[i].experts);
                s->blocks[i].probeGates = std::move(routes[i].gates);
            }
        }
        auto alerts = collapseMonitor.update(*s);
        s->alerts.insert(s->alerts.end(), alerts.begin(), alerts.end());
        lastSnapshotStep = step;
        SnapshotPtr p = std::move(s);
        std::function<void(SnapshotPtr)> cb;
        {
            std::lock_guard lock(mutex);
            latest = p;
            cb = callback;
        }
        if (writer) writer->append(p);
        if (cb) cb(p);
    }

    // A snapshot for the state at the end of the run when the last step had none: routing of a
    // fresh forward over one batch (no gradient, so no router gradient norm).
    void publishFinal() {
        auto [x, y] = batchAt(0, /*whole=*/true);
        torch::NoGradGuard ng;
        net->eval();
        detail::RouteContext ctx;
        auto logits = net->forward(x, ctx);
        auto task = torch::nn::functional::cross_entropy(logits, y);
        auto s = std::make_shared<RoutingSnapshot>();
        s->taskLoss = task.item<double>();
        s->loss = (task + net->routingLoss().to(device)).item<double>();
        s->accuracy = logits.argmax(-1).eq(y).to(torch::kDouble).mean().item<double>();
        s->blocks = blockSnapshots(x, y);
        s->testLoss = testLoss;
        net->train();
        // No backward ran for this forward: keep the router gradient norms last measured.
        SnapshotPtr prev;
        {
            std::lock_guard lock(mutex);
            prev = latest;
        }
        for (size_t i = 0; i < s->blocks.size(); ++i)
            s->blocks[i].routerGradNorm = prev && i < prev->blocks.size() ? prev->blocks[i].routerGradNorm : s->blocks[i].routerGradNorm;
        publish(std::move(s), testAccuracy);
    }

    void publishDivergence(int block, const std::string& what) {
        auto s = std::make_shared<RoutingSnapshot>();
        s->step = step + 1;
        s->loss = std::numeric_limits<double>::quiet_NaN();
        telemetry::Alert a;
        a.step = step + 1;
        a.block = block;
        a.kind = telemetry::AlertKind::Divergence;
        a.severity = telemetry::Severity::Critical;
        a.value = step + 1;
        a.title = "training diverged at step " + std::to_string(step + 1);
        a.explanation = "At step " + std::to_string(step + 1) + " " + what +
                        ". Once a value is infinite or NaN it spreads through every later step, so training stopped here.";
        a.fix = "Lower the learning rate, add a router z-loss (losses.z, e.g. 0.001) to keep router logits small, or raise the softmax "
                "temperature; then start again from the last checkpoint.";
        s->alerts.push_back(std::move(a));
        s->epoch = static_cast<double>(step) / static_cast<double>(stepsPerEpoch);
        s->learningRate = optimizer->param_groups()[0].options().get_lr();
        SnapshotPtr p = std::move(s);
        {
            std::lock_guard lock(mutex);
            latest = p;
        }
        if (writer) writer->append(p);
    }

    // ---- [SECTION] checkpoints -----------------------------------------------------------------

    std::string saveCheckpointLocked(const std::string& path) {
        try {
            torch::serialize::OutputArchive a;
            net->save(a);
            torch::serialize::OutputArchive opt;
            optimizer->save(opt);
            a.write("optimizer", opt);
            a.write("trainer_step", torch::tensor(step, torch::kLong));
            a.write("trainer_generator", generator.get_state());
            // Expert parallel: the weights are whole (rank 0 gathered them) but the optimizer state
            // of the experts other ranks held is not here, so the file cannot be resumed.
            if (ep) a.write(kExpertParallelKey, torch::tensor(ep->size(), torch::kLong));
            a.write(detail::kCheckpointSpecKey, c10::IValue(detail::checkpointModelJson(project)));
            // Serialised in memory, then saved atomically by our own writer: LibTorch's file writer
            // throws again from its destructor when a write fails (disk full), which aborts the
            // process; this way a failed save is an error message and the old file stays intact.
            std::ostringstream bytes;
            a.save_to(bytes);
            if (!bytes) return "cannot write the checkpoint " + path + ": serialising the model failed";
            if (auto e = moe::spec::writeFileAtomic(path, bytes.str()); !e.empty()) return "cannot write the checkpoint " + path + ": " + e;
            return {};
        } catch (const c10::Error& e) {
            return "cannot write the checkpoint " + path + ": " + e.what_without_backtrace();
        } catch (const std::exception& e) {
            return "cannot write the checkpoint " + path + ": " + e.what();
        }
    }

    std::string loadCheckpoint(const std::string& path) {
        std::error_code ec;
        if (!std::filesystem::is_regular_file(path, ec)) return "no checkpoint at " + path;
        try {
            torch::serialize::InputArchive a;
            a.load_from(path);
            c10::IValue spec;
            if (!a.try_read(detail::kCheckpointSpecKey, spec) || !spec.isString())
                return path + " is not a MoE Studio checkpoint (it has no model spec)";
            if (spec.toStringRef() != detail::checkpointModelJson(project))
                return "the checkpoint " + path + " was written for a different model; resume it with the project it was trained with";
            torch::Tensor ranks;
            if (a.try_read(kExpertParallelKey, ranks))
                return "the checkpoint " + path + " was written by an expert parallel run over " + std::to_string(ranks.item<std::int64_t>()) +
                       " ranks: it holds the whole model's weights (for moe generate and the studio) but not the optimizer state of the experts "
                       "the other ranks trained, so it cannot be resumed";
            net->load(a);
            torch::serialize::InputArchive opt;
            a.read("optimizer", opt);
            optimizer->load(opt);
            torch::Tensor st, gen;
            a.read("trainer_step", st);
            a.read("trainer_generator", gen);
            step = st.item<std::int64_t>();
            generator.set_state(gen);
            return {};
        } catch (const c10::Error& e) {
            return "cannot read the checkpoint " + path + ": " + e.what_without_backtrace();
        }
    }
};

// ---- [SECTION] public API ----------------------------------------------------------------------

moe::spec::Result<std::unique_ptr<Trainer>> Trainer::create(const moe::spec::Project& source, TrainerOptions options) {
    if (auto errs = moe::spec::validateProject(source); !errs.empty()) return errs;
    // What trains is the model's twin when the project sets one (its model keeps the real size).
    const moe::spec::Project project = moe::spec::trainingProject(source);
    try {
        const int threads = options.threads > 0 ? options.threads : defaultThreads(project, options.ranks ? options.ranks->localWorldSize : 1);
        at::set_num_threads(threads);
        spdlog::info("training with {} CPU thread(s)", threads);
        auto impl = std::make_unique<Impl>();
        if (project.model.input.isText()) {
            auto corpus = loadTextCorpus(project.model.input, options.projectDir);
            if (!corpus) return corpus.errors();
            impl->corpus = std::move(corpus.value());
        } else {
            auto data = makeData(project.model.input, project.training.trainSamples, project.training.testSamples, project.training.seed);
            if (!data) return data.errors();
            impl->data = std::move(data.value());
        }
        impl->project = project;
        impl->progress.twin = moe::spec::describeTwin(source);
        impl->options = std::move(options);
        impl->threads = threads;
        if (auto e = impl->build(); !e.empty()) return Diagnostics{{"", e}};
        return std::unique_ptr<Trainer>(new Trainer(std::move(impl)));
    } catch (const c10::Error& e) {
        return Diagnostics{{"", std::string("cannot build the model: ") + e.what_without_backtrace()}};
    } catch (const std::exception& e) {
        return Diagnostics{{"", std::string("cannot build the model: ") + e.what()}};
    }
}

bool isCheckpointFile(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) return false;
    // A LibTorch archive is a zip file: check its signature before handing the file to LibTorch.
    char magic[4] = {};
    if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
        const size_t n = std::fread(magic, 1, sizeof magic, f);
        std::fclose(f);
        if (n != sizeof magic || std::memcmp(magic, "PK\x03\x04", sizeof magic) != 0) return false;
    } else {
        return false;
    }
    try {
        torch::serialize::InputArchive a;
        a.load_from(path);
        c10::IValue spec;
        return a.try_read(detail::kCheckpointSpecKey, spec) && spec.isString();
    } catch (const std::exception&) {
        return false;
    }
}

Trainer::Trainer(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}

Trainer::~Trainer() {
    stop();
    if (m_impl->thread.joinable()) m_impl->thread.join();
}

void Trainer::start() {
    auto& d = *m_impl;
    std::lock_guard lock(d.mutex);
    if (d.state != TrainerState::Idle && d.state != TrainerState::Paused) return;
    d.budget = -1;
    d.pauseRequested = false;
    d.state = TrainerState::Running;
    d.progress.state = d.state;
    d.ensureThread();
    d.wake.notify_all();
}

void Trainer::pause() {
    auto& d = *m_impl;
    std::lock_guard lock(d.mutex);
    if (d.state != TrainerState::Running) return;
    d.pauseRequested = true;
    d.wake.notify_all();
}

void Trainer::resume() {
    auto& d = *m_impl;
    {
        std::lock_guard lock(d.mutex);
        if (d.state == TrainerState::Running) {
            d.pauseRequested = false;  // a pause that has not taken effect yet is withdrawn
            return;
        }
        if (d.state != TrainerState::Paused) return;
    }
    start();
}

void Trainer::step(int n) {
    auto& d = *m_impl;
    if (n <= 0) return;
    std::lock_guard lock(d.mutex);
    if (d.state != TrainerState::Idle && d.state != TrainerState::Paused) return;
    d.budget = n;
    d.pauseRequested = false;
    d.state = TrainerState::Running;
    d.progress.state = d.state;
    d.ensureThread();
    d.wake.notify_all();
}

void Trainer::stop() {
    auto& d = *m_impl;
    {
        std::lock_guard lock(d.mutex);
        if (d.finalized || d.stopRequested) return;
        d.stopRequested = true;
        d.wake.notify_all();
        if (d.thread.joinable()) return;
        // No thread yet: finish here. Stopped state keeps a racing start() from spawning one.
        d.state = TrainerState::Stopped;
    }
    d.finish(TrainerState::Stopped, "stopped by request");
}

void Trainer::setLearningRate(double lr) {
    if (!(lr > 0) || !std::isfinite(lr)) {
        spdlog::warn("ignoring learning rate {}: it must be a positive number", lr);
        return;
    }
    std::lock_guard lock(m_impl->mutex);
    m_impl->pendingLr = lr;
}

void Trainer::wait() {
    auto& d = *m_impl;
    std::unique_lock lock(d.mutex);
    d.idle.wait(lock, [&] { return d.state != TrainerState::Running; });
}

Progress Trainer::progress() const {
    std::lock_guard lock(m_impl->mutex);
    return m_impl->progress;
}

telemetry::SnapshotPtr Trainer::latest() const {
    std::lock_guard lock(m_impl->mutex);
    return m_impl->latest;
}

void Trainer::setSnapshotCallback(std::function<void(telemetry::SnapshotPtr)> cb) {
    std::lock_guard lock(m_impl->mutex);
    m_impl->callback = std::move(cb);
}

std::string Trainer::saveCheckpoint(const std::string& path) {
    // Waits for the step in flight (if any) to end; the trainer thread holds modelMutex per step.
    std::lock_guard lock(m_impl->modelMutex);
    return m_impl->saveCheckpointLocked(path);
}

const moe::spec::Project& Trainer::project() const { return m_impl->project; }

}  // namespace moe::train
