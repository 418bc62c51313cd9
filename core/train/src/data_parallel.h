#pragma once
// Data parallel training on LibTorch's c10d (TCPStore rendezvous, ProcessGroupGloo): the ranks'
// process group, the start-up checks, the batch group the routers gather over, and the bucketed
// gradient all-reduce overlapped with the backward pass. Private to core/train.

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "moe/train/distributed.h"
#include "moe_net.h"

namespace moe::train::detail {

struct ProcessGroup {
    c10::intrusive_ptr<c10d::TCPStore> store;
    c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
};

// Joins the ranks of `env`: a TCPStore at MASTER_ADDR:MASTER_PORT (rank 0 serves it), every
// rank's WORLD_SIZE checked against rank 0's, then a Gloo process group (the loopback device on
// one machine, the host's interface otherwise). `step` names what is being done, for the caller's
// message when LibTorch throws. Returns an error message for a mismatched world size.
std::string joinProcessGroup(const dist::LaunchEnv& env, std::chrono::milliseconds timeout, ProcessGroup& out, std::string& step);

// "rank R: STEP failed: WHY" for an exception LibTorch threw while a rank was doing `step`: the
// first line of its message, a busy port said in words.
std::string rankFailure(const dist::LaunchEnv& env, const std::string& step, const std::exception& e);

// Rows [begin, end) of a global batch of `rows` that rank `rank` of `world` trains on: contiguous
// runs in rank order, sizes differing by at most one.
std::pair<std::int64_t, std::int64_t> shardOf(std::int64_t rows, int rank, int world);

class DataParallel final : public BatchGroup {
public:
    DataParallel(ProcessGroup group, int rank, int world, double bucketBytes);
    ~DataParallel() override;
    int rank() const { return m_rank; }
    int size() const override { return m_world; }
    const ProcessGroup& group() const { return m_group; }

    // Empty when every rank holds the same `value`; else an error naming the first rank whose value
    // differs from rank 0's (`what` says what was compared). Every rank returns the same answer.
    std::string checkSame(const std::string& what, const std::string& value);
    // Every rank takes rank 0's values of `tensors` (parameters and buffers).
    void broadcastFromRankZero(const std::vector<torch::Tensor>& tensors);

    // BatchGroup: the rows each rank holds in the current step (tokens, rank order).
    void setRows(std::vector<std::int64_t> rowsPerRank);
    std::int64_t rowBegin() const override { return m_rowBegin; }
    std::int64_t rowsOf(int rank) const override { return m_rows.at(static_cast<size_t>(rank)); }
    torch::Tensor gatherRows(const torch::Tensor& local) override;

    // Blocking sum / max over the ranks of a small CPU tensor (float64 or int64), in place.
    void sum(torch::Tensor& t);
    void max(torch::Tensor& t);

    // The gradient reducer. `attach` registers a hook on every parameter and groups them in
    // buckets of about bucketBytes, in reverse order (gradients of the last layers come first).
    // During a backward pass between beginBackward() and finishGradients(), each bucket is
    // all-reduced asynchronously as soon as it and every bucket before it are filled (the same
    // order on every rank, whatever order this rank's gradients arrive in);
    // finishGradients() launches what is left (a parameter this rank gave no gradient counts as
    // zero), waits, and sets every parameter's gradient to the mean over the ranks. A parameter no
    // rank gave a gradient keeps the gradient it had (undefined or zero), as in one process.
    // `held` (expert parallel: the experts this rank holds alone) are not all-reduced; the
    // gradient that reached them already sums every rank's tokens, and finishGradients divides
    // it by the ranks like the others' mean.
    void attach(const std::vector<torch::Tensor>& params, const std::vector<torch::Tensor>& held = {});
    void beginBackward();
    void finishGradients();
    int buckets() const { return static_cast<int>(m_buckets.size()); }

    // Seconds this rank spent blocked on communication since the last take: waiting for the
    // gradient all-reduce after the backward pass, and in the forward pass's exchanges (the
    // routers' gathers, the step's loss and telemetry sums).
    std::pair<double, double> takeWaitSeconds();

private:
    struct Bucket {
        std::vector<size_t> params;        // indices into m_params
        std::vector<std::int64_t> offset;  // element offset of each parameter in `flat`
        std::int64_t elements = 0;         // gradient elements; `flat` has one flag per parameter after them
        torch::Tensor flat;
        int pending = 0;
        c10::intrusive_ptr<c10d::Work> work;
    };
    void doneComparing(const std::string& what);
    void onGradient(size_t param, const torch::Tensor& grad);
    void launchReady(bool all);

    ProcessGroup m_group;
    int m_rank, m_world;
    double m_bucketBytes;
    std::vector<std::int64_t> m_rows;
    std::int64_t m_rowBegin = 0;
    std::vector<torch::Tensor> m_params;
    std::vector<torch::Tensor> m_held;
    std::vector<std::pair<size_t, size_t>> m_where;  // parameter -> (bucket, slot)
    std::vector<Bucket> m_buckets;
    size_t m_nextLaunch = 0;
    bool m_armed = false;
    double m_reduceWait = 0, m_exchangeWait = 0;
};

// Expert parallel in groups of `ep` consecutive ranks of a data parallel run (ep divides the
// ranks; world / ep groups hold the same experts): the all-to-alls of the MoE blocks on a process
// group of the ep ranks (the gradient all-reduces, launched from hooks during the backward pass,
// may interleave with the backward all-to-alls in a different order on each rank, and one Gloo
// group must see its collectives in the same order everywhere), the sum of the experts' gradients
// over the groups, and this rank's time and traffic per block since the last take.
class ExpertParallel final : public ExpertGroup {
public:
    // Joins the process groups through `group`'s store: this rank's expert parallel group and, with
    // more than one group, the ranks that hold the same experts as this one.
    ExpertParallel(const ProcessGroup& group, const dist::LaunchEnv& env, std::chrono::milliseconds timeout, int ep);
    int size() const override { return m_world; }
    int rank() const override { return m_rank; }
    int firstRank() const override { return m_first; }
    // Seconds in sumOverReplicas since the last take.
    double takeReplicaSeconds() { return std::exchange(m_replicaSeconds, 0.0); }
    // Several groups: each held expert's gradient summed over the ranks that hold it (a rank that
    // gave none counts as zero), in one all-reduce. Blocking.
    void sumOverReplicas(const std::vector<torch::Tensor>& held);
    torch::Tensor exchange(const torch::Tensor& rows, const std::vector<std::int64_t>& send, const std::vector<std::int64_t>& recv, int block,
                           bool dispatch) override;
    void addExpertSeconds(int block, double seconds) override;

    // The raw exchange without autograd (also the backward pass of `exchange`).
    torch::Tensor allToAll(const torch::Tensor& rows, const std::vector<std::int64_t>& send, const std::vector<std::int64_t>& recv, int block);

    // Rank 0 receives every other rank's tensors (each rank's `mine` in the same order on the rank
    // that sends them; rank 0 passes, for each other rank r, the tensors r holds in `theirs[r]`,
    // which are overwritten). Blocking; the other ranks only send.
    void collectOnRankZero(const std::vector<torch::Tensor>& mine, std::vector<std::vector<torch::Tensor>>& theirs);

    // Per MoE layer (the block's index in the model): seconds in its all-to-alls and experts, and
    // rows sent to each rank in its dispatch, since the last take; `steps` is counted by the caller.
    struct BlockTotals {
        double alltoallSeconds = 0, expertSeconds = 0, waitSeconds = 0;
        std::vector<double> rowsTo;
    };
    std::map<int, BlockTotals> takeTotals();
    // Seconds in the all-to-alls (waits included) since the last call: one step's, for the
    // trainer's compute time.
    double takeStepSeconds() { return std::exchange(m_stepSeconds, 0.0); }
    // A barrier before each all-to-all, so its time (waiting for the last rank to arrive) is
    // told apart from the exchange; costs one small round trip per all-to-all.
    void setMeasureWaits(bool on) { m_measureWaits = on; }

private:
    c10::intrusive_ptr<c10d::ProcessGroupGloo> m_pg;
    c10::intrusive_ptr<c10d::ProcessGroupGloo> m_replicas;  // null with one group
    int m_rank, m_world, m_first;
    double m_stepSeconds = 0;
    double m_replicaSeconds = 0;
    std::map<int, BlockTotals> m_totals;
    bool m_measureWaits = false;
};

}  // namespace moe::train::detail
