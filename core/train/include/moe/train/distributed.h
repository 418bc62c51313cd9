#pragma once
// Training and measuring across processes on LibTorch's c10d (TCPStore rendezvous, Gloo
// collectives). This header is torch-free: the CLI and tests use it without parsing LibTorch.
//
// A rank learns its place from the usual environment (RANK, WORLD_SIZE, LOCAL_RANK,
// MASTER_ADDR, MASTER_PORT), as torchrun, srun or mpirun wrappers set it; `launchLocal` starts N
// ranks of the running command on this machine with that environment set.

#include <optional>
#include <string>
#include <vector>

#include "moe/spec/diagnostic.h"

namespace moe::train::dist {

struct LaunchEnv {
    int rank = 0;
    int worldSize = 1;
    int localRank = 0;
    int localWorldSize = 1;  // ranks on this machine (LOCAL_WORLD_SIZE; WORLD_SIZE when unset)
    std::string masterAddr = "127.0.0.1";
    int masterPort = 29500;
};

// The rank's environment (LOCAL_RANK and LOCAL_WORLD_SIZE optional); nullopt when neither RANK
// nor WORLD_SIZE is set (not launched as a rank). A clear error for a missing or malformed variable, RANK outside 0..WORLD_SIZE-1, a port
// outside 1..65535.
spec::Result<std::optional<LaunchEnv>> readLaunchEnv();

// The most ranks `launchLocal` starts on this machine: one per logical core.
int maxLocalRanks();

struct LaunchOptions {
    int nproc = 2;
    // How long the launcher lets the other ranks finish once one rank failed, before it kills them.
    double graceSeconds = 5.0;
};

// Starts `nproc` copies of this process's own command line (the same executable and arguments)
// with RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1 and MASTER_PORT set
// (MASTER_PORT from the environment when set, else a free port), and waits for them. A rank that
// exits with an error or is killed stops the others: they get SIGTERM, then SIGKILL after the
// grace time, and a message on stderr names the rank and what happened to it and to the others.
// Returns the exit status for the launcher: 0 when every rank succeeded, 130 when a rank was
// interrupted (Ctrl-C) before training began, else 1. Errors before any rank
// starts (nproc out of range, a busy MASTER_PORT) come back as diagnostics.
spec::Result<int> launchLocal(const LaunchOptions& options);

// True when the port can be listened on at this moment (a quick bind on all interfaces).
bool portIsFree(int port);

// Collectives measured over c10d's ProcessGroupGloo.
enum class Collective { AllReduce, AllGather, ReduceScatter, AllToAll, Broadcast };

// Why the backend cannot run `op` ("" when it can): LibTorch 1.13's Gloo has no reduce_scatter.
std::string unsupportedReason(Collective op);

struct MeasureOptions {
    std::vector<double> sizes;  // bytes, nccl-tests' "size" (the whole buffer of the collective)
    int warmup = 5;             // nccl-tests -w
    int iters = 20;             // nccl-tests -n
    double timeoutSeconds = 60; // rendezvous and each collective; a missing rank fails within it
};

struct RankInfo {
    int rank = 0;
    int pid = 0;
    std::string host;
};

struct MeasuredRow {
    double bytes = 0;      // nccl-tests size: the whole buffer, a multiple of 4 * world size
    long long count = 0;   // float elements in that buffer
    double timeUs = 0;     // mean time of one call, the slowest rank's
    long long wrong = 0;   // elements that differed from the expected result in a checked call
};

struct Measurement {
    std::vector<RankInfo> ranks;  // every rank, gathered through the store
    std::vector<MeasuredRow> rows;
    std::string backend;          // "gloo (c10d, LibTorch x.y.z)"
};

// Runs on every rank of `env`: rendezvous through a TCPStore at MASTER_ADDR:MASTER_PORT (rank 0
// serves it), a ProcessGroupGloo, then for each size one checked call (inputs set so the result is
// known), `warmup` calls and `iters` timed calls. Every rank returns the same rows. Errors (a busy
// port, a rank that does not arrive or dies, Gloo without the collective) name the rank and step.
spec::Result<Measurement> measureCollective(const LaunchEnv& env, Collective op, const MeasureOptions& options);

}  // namespace moe::train::dist
