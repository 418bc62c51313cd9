#pragma once
// The training engine's public face: torch-free (LibTorch lives in the .cpp files), so the studio,
// the CLI and the tests include it cheaply. The Trainer runs on its own thread; no call blocks the
// caller. Consumers take the newest snapshot (latest()) or get a callback on the trainer thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "moe/spec/diagnostic.h"
#include "moe/spec/project.h"
#include "moe/telemetry/snapshot.h"
#include "moe/train/distributed.h"

namespace moe::train {

enum class TrainerState { Idle, Running, Paused, Finished, Stopped, Failed };
std::string_view toString(TrainerState s);

struct Progress {
    TrainerState state = TrainerState::Idle;
    std::int64_t step = 0;           // optimizer steps done
    std::int64_t totalSteps = 0;     // planned (epochs x steps per epoch, or steps)
    double epoch = 0;
    double loss = 0;
    double accuracy = 0;             // recent training accuracy in [0, 1]
    double testAccuracy = -1;        // last held-out accuracy (text: next-byte), -1 before the first evaluation
    // Language models: last held-out loss in nats per byte (-1 before the first evaluation; bits
    // per byte = telemetry::bitsPerByte(testLoss)) and the unigram reference in bits per byte.
    double testLoss = -1;
    double unigramBitsPerByte = 0;
    double tokensPerSecond = 0;
    double etaSeconds = -1;          // -1 when unknown
    double learningRate = 0;
    std::string message;             // why it failed or stopped; empty otherwise
    int threads = 0;                 // CPU threads LibTorch uses for this run
    std::string device;              // where it trains: "cpu" or "cuda:N"
    std::string twin;                // what trains when it is the model's twin (moe::spec::describeTwin); else empty
};

struct TrainerOptions {
    std::string runStorePath;        // empty: no run store
    int threads = 0;                 // 0: all hardware threads (one for models too small to split)
    std::string checkpointPath;      // empty: no checkpoint written at the end; recorded in the run store
    std::string projectDir;          // folder relative corpus paths start from (the project file's); empty: current
    std::string resumeFrom;          // a checkpoint to resume from; empty: fresh start
    bool background = false;         // lower the training threads' CPU priority (a UI shares the cores)
    // Data parallel: this process is one rank of `ranks` (nullopt: it trains alone). Every rank
    // trains its shard of each global batch (the project's batch) and the gradients are averaged;
    // create() joins the other ranks and returns only when all have the same project and
    // `sameOnEveryRank`. Only rank 0 writes the run store and the checkpoint.
    std::optional<dist::LaunchEnv> ranks;
    std::string sameOnEveryRank;     // options that change the run (e.g. the command's), compared at start
    // Gradient all-reduce bucket size: PyTorch DDP's default bucket_cap_mb = 25
    // (https://pytorch.org/docs/1.13/generated/torch.nn.parallel.DistributedDataParallel.html).
    double bucketMegabytes = 25;
    double rankTimeoutSeconds = 300; // the rendezvous and each collective; a rank gone longer fails the run
    // Expert parallel: a barrier before each all-to-all tells waiting for the last rank apart from
    // the exchange (LayerTime::waitSeconds). Every rank must agree (sameOnEveryRank).
    bool measureExpertWaits = false;
};

class Trainer {
public:
    // Builds the model and the data; fails with a message (never throws) when it cannot, e.g. a
    // missing dataset file naming the Debian package to install.
    static moe::spec::Result<std::unique_ptr<Trainer>> create(const moe::spec::Project& project,
                                                             TrainerOptions options = {});
    ~Trainer();  // stops and joins the thread
    Trainer(const Trainer&) = delete;
    Trainer& operator=(const Trainer&) = delete;

    void start();                    // run until the planned steps are done (or stop/pause)
    void pause();
    void resume();
    void step(int n = 1);            // while paused or idle: run exactly n steps, then pause
    void stop();                     // ends the run; the run store keeps everything so far
    void setLearningRate(double lr);
    // Blocks until the trainer is not running (finished, stopped, failed or paused); for CLI/tests.
    void wait();

    Progress progress() const;
    telemetry::SnapshotPtr latest() const;
    // Called on the trainer thread after each snapshot is published; keep it short.
    void setSnapshotCallback(std::function<void(telemetry::SnapshotPtr)> cb);

    // Checkpoint: model, optimizer and step. Returns an empty string on success, else the error.
    std::string saveCheckpoint(const std::string& path);

    const moe::spec::Project& project() const;

private:
    struct Impl;
    explicit Trainer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

// True when `path` is a checkpoint this program wrote (a LibTorch archive holding the model spec
// key): what `moe train --checkpoint` may replace without --force.
bool isCheckpointFile(const std::string& path);

}  // namespace moe::train
