// Data parallel training on c10d: rendezvous, start-up checks, the routers' batch group and the
// bucketed gradient all-reduce (c10d's Gloo does every transfer).
#include "data_parallel.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>

#include <algorithm>

namespace moe::train::detail {

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::vector<uint8_t> bytesOf(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

// A Gloo group of every rank over `store`: the loopback device on one machine, the host's
// interface otherwise.
c10::intrusive_ptr<c10d::ProcessGroupGloo> glooGroup(const c10::intrusive_ptr<c10d::Store>& store, const dist::LaunchEnv& env,
                                                     std::chrono::milliseconds timeout, int rank, int size) {
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    opts->devices.push_back(env.masterAddr == "127.0.0.1" || env.masterAddr == "localhost"
                                ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                : c10d::ProcessGroupGloo::createDefaultDevice());
    return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, opts);
}

}  // namespace

std::string joinProcessGroup(const dist::LaunchEnv& env, std::chrono::milliseconds timeout, ProcessGroup& out, std::string& step) {
    step = "starting the rendezvous store at " + env.masterAddr + ":" + std::to_string(env.masterPort);
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(env.masterPort);
    so.isServer = env.rank == 0;
    so.numWorkers = static_cast<size_t>(env.worldSize);
    so.waitWorkers = true;
    so.timeout = timeout;
    out.store = c10::make_intrusive<c10d::TCPStore>(env.masterAddr, so);

    // Every rank must agree on the world size: a mismatch would otherwise hang in the rendezvous.
    step = "checking the world size";
    const std::string mine = std::to_string(env.worldSize);
    out.store->set("moe/ws/" + std::to_string(env.rank), bytesOf(mine));
    if (env.rank != 0) {
        auto v = out.store->get("moe/ws/0");
        const std::string theirs(v.begin(), v.end());
        if (theirs != mine) return "rank " + std::to_string(env.rank) + ": WORLD_SIZE=" + mine + " but rank 0 has WORLD_SIZE=" + theirs;
    }

    step = "joining the Gloo process group";
    out.pg = glooGroup(out.store, env, timeout, env.rank, env.worldSize);
    return {};
}

std::string rankFailure(const dist::LaunchEnv& env, const std::string& step, const std::exception& e) {
    const std::string what = e.what();
    std::string msg = what.substr(0, what.find('\n'));
    if (msg.find("Address already in use") != std::string::npos || msg.find("EADDRINUSE") != std::string::npos)
        msg = "port " + std::to_string(env.masterPort) + " is busy: " + msg;
    return "rank " + std::to_string(env.rank) + ": " + step + " failed: " + msg;
}

std::pair<std::int64_t, std::int64_t> shardOf(std::int64_t rows, int rank, int world) {
    return {rows * rank / world, rows * (rank + 1) / world};
}

DataParallel::DataParallel(ProcessGroup group, int rank, int world, double bucketBytes)
    : m_group(std::move(group)), m_rank(rank), m_world(world), m_bucketBytes(bucketBytes) {}

DataParallel::~DataParallel() {
    // Work still in flight (a step that failed half way) is waited for before its buffers go.
    for (auto& b : m_buckets)
        if (b.work) try {
                b.work->wait();
            } catch (const std::exception&) {
            }
}

std::string DataParallel::checkSame(const std::string& what, const std::string& value) {
    m_group.store->set("moe/same/" + what + "/" + std::to_string(m_rank), bytesOf(value));
    auto ref = m_group.store->get("moe/same/" + what + "/0");
    for (int r = 1; r < m_world; ++r) {
        auto v = m_group.store->get("moe/same/" + what + "/" + std::to_string(r));
        if (v != ref) {
            doneComparing(what);
            return "rank " + std::to_string(r) + " has a different " + what + " than rank 0 (" + std::string(v.begin(), v.end()) +
                   " against " + std::string(ref.begin(), ref.end()) + ")";
        }
    }
    doneComparing(what);
    return {};
}

void DataParallel::doneComparing(const std::string& what) {
    // Rank 0 serves the store: it stays until every rank has read what it compares.
    m_group.store->set("moe/same/" + what + "/read/" + std::to_string(m_rank), bytesOf("1"));
    if (m_rank != 0) return;
    std::vector<std::string> keys;
    for (int r = 1; r < m_world; ++r) keys.push_back("moe/same/" + what + "/read/" + std::to_string(r));
    m_group.store->wait(keys);
}

void DataParallel::broadcastFromRankZero(const std::vector<torch::Tensor>& tensors) {
    torch::NoGradGuard ng;
    for (const auto& t : tensors) {
        auto buf = t.detach().contiguous().clone();
        std::vector<torch::Tensor> v{buf};
        c10d::BroadcastOptions o;
        o.rootRank = 0;
        m_group.pg->broadcast(v, o)->wait();
        t.detach().copy_(buf);
    }
}

void DataParallel::setRows(std::vector<std::int64_t> rowsPerRank) {
    m_rows = std::move(rowsPerRank);
    m_rowBegin = 0;
    for (int r = 0; r < m_rank; ++r) m_rowBegin += m_rows[static_cast<size_t>(r)];
}

torch::Tensor DataParallel::gatherRows(const torch::Tensor& local) {
    TORCH_CHECK(m_rows.size() == static_cast<size_t>(m_world), "batch group: rows per rank not set");
    TORCH_CHECK(local.size(0) == m_rows[static_cast<size_t>(m_rank)], "batch group: rank ", m_rank, " holds ", local.size(0),
                " rows, expected ", m_rows[static_cast<size_t>(m_rank)]);
    const auto t0 = Clock::now();
    const std::int64_t most = *std::max_element(m_rows.begin(), m_rows.end());
    // Gloo's all_gather wants equal shapes: every rank sends `most` rows, padded.
    auto shape = local.sizes().vec();
    shape[0] = most;
    torch::Tensor padded;
    {
        torch::NoGradGuard ng;
        padded = torch::zeros(shape, local.options().requires_grad(false));
        padded.narrow(0, 0, local.size(0)).copy_(local.detach());
    }
    std::vector<torch::Tensor> outs;
    for (int r = 0; r < m_world; ++r) outs.push_back(torch::empty(shape, padded.options()));
    std::vector<std::vector<torch::Tensor>> outputs{outs};
    std::vector<torch::Tensor> inputs{padded};
    m_group.pg->allgather(outputs, inputs)->wait();
    std::vector<torch::Tensor> parts;
    for (int r = 0; r < m_world; ++r)
        parts.push_back(r == m_rank ? local : outputs[0][static_cast<size_t>(r)].narrow(0, 0, m_rows[static_cast<size_t>(r)]));
    m_exchangeWait += secondsSince(t0);
    return torch::cat(parts, 0);
}

void DataParallel::sum(torch::Tensor& t) {
    const auto t0 = Clock::now();
    std::vector<torch::Tensor> v{t};
    m_group.pg->allreduce(v)->wait();
    m_exchangeWait += secondsSince(t0);
}

void DataParallel::max(torch::Tensor& t) {
    const auto t0 = Clock::now();
    std::vector<torch::Tensor> v{t};
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::MAX;
    m_group.pg->allreduce(v, o)->wait();
    m_exchangeWait += secondsSince(t0);
}

void DataParallel::attach(const std::vector<torch::Tensor>& params, const std::vector<torch::Tensor>& held) {
    m_params.clear();
    m_held = held;
    const auto isHeld = [&](const torch::Tensor& p) {
        return std::any_of(held.begin(), held.end(), [&](const torch::Tensor& h) { return h.is_same(p); });
    };
    for (const auto& p : params)
        if (p.requires_grad() && !isHeld(p)) m_params.push_back(p);
    m_buckets.clear();
    m_where.assign(m_params.size(), {0, 0});
    for (size_t i = m_params.size(); i-- > 0;) {
        const auto& p = m_params[i];
        TORCH_CHECK(p.scalar_type() == torch::kFloat, "data parallel training reduces float32 gradients; a parameter is ", p.scalar_type());
        const double bytes = static_cast<double>(p.numel()) * 4;
        if (m_buckets.empty() || (!m_buckets.back().params.empty() && static_cast<double>(m_buckets.back().elements) * 4 + bytes > m_bucketBytes))
            m_buckets.emplace_back();
        auto& b = m_buckets.back();
        m_where[i] = {m_buckets.size() - 1, b.params.size()};
        b.params.push_back(i);
        b.offset.push_back(b.elements);
        b.elements += p.numel();
    }
    for (auto& b : m_buckets)
        b.flat = torch::zeros({b.elements + static_cast<std::int64_t>(b.params.size())}, torch::kFloat);
    for (size_t i = 0; i < m_params.size(); ++i)
        m_params[i].register_hook([this, i](const torch::Tensor& g) { onGradient(i, g); });
}

void DataParallel::beginBackward() {
    for (auto& b : m_buckets) {
        b.flat.zero_();
        b.pending = static_cast<int>(b.params.size());
        b.work.reset();
    }
    m_nextLaunch = 0;
    m_armed = true;
}

void DataParallel::onGradient(size_t param, const torch::Tensor& grad) {
    if (!m_armed) return;
    const auto [bi, slot] = m_where[param];
    auto& b = m_buckets[bi];
    torch::NoGradGuard ng;
    b.flat.narrow(0, b.offset[slot], grad.numel()).copy_(grad.detach().reshape({-1}));
    b.flat[b.elements + static_cast<std::int64_t>(slot)] = 1.0f;  // this rank gave a gradient
    --b.pending;
    launchReady(false);
}

void DataParallel::launchReady(bool all) {
    while (m_nextLaunch < m_buckets.size() && (all || m_buckets[m_nextLaunch].pending == 0)) {
        auto& b = m_buckets[m_nextLaunch++];
        std::vector<torch::Tensor> v{b.flat};
        b.work = m_group.pg->allreduce(v);
    }
}

void DataParallel::finishGradients() {
    launchReady(true);
    m_armed = false;
    const auto t0 = Clock::now();
    for (auto& b : m_buckets) {
        b.work->wait();
        b.work.reset();
    }
    m_reduceWait += secondsSince(t0);
    torch::NoGradGuard ng;
    for (auto& b : m_buckets) {
        auto flags = b.flat.narrow(0, b.elements, static_cast<std::int64_t>(b.params.size()));
        const auto* f = flags.data_ptr<float>();
        for (size_t s = 0; s < b.params.size(); ++s) {
            if (f[s] == 0) continue;  // no rank gave this parameter a gradient
            auto& p = m_params[b.params[s]];
            auto mean = b.flat.narrow(0, b.offset[s], p.numel()).view(p.sizes()) / static_cast<double>(m_world);
            if (p.mutable_grad().defined()) p.mutable_grad().copy_(mean);
            else p.mutable_grad() = mean.clone();
        }
    }
    for (auto& p : m_held)
        if (p.mutable_grad().defined()) p.mutable_grad().div_(static_cast<double>(m_world));
}

std::pair<double, double> DataParallel::takeWaitSeconds() {
    const std::pair<double, double> out{m_reduceWait, m_exchangeWait};
    m_reduceWait = m_exchangeWait = 0;
    return out;
}

// ---- expert parallel ---------------------------------------------------------------------------

namespace {

// The all-to-all as an autograd op: forward sends by `send` and receives by `recv`; backward
// sends the gradient rows back the way they came.
struct AllToAllFn : public torch::autograd::Function<AllToAllFn> {
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& rows, ExpertParallel* ep,
                                 std::vector<std::int64_t> send, std::vector<std::int64_t> recv, std::int64_t block) {
        ctx->saved_data["ep"] = reinterpret_cast<std::int64_t>(ep);
        ctx->saved_data["send"] = send;
        ctx->saved_data["recv"] = recv;
        ctx->saved_data["block"] = block;
        return ep->allToAll(rows, send, recv, static_cast<int>(block));
    }
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
        auto* ep = reinterpret_cast<ExpertParallel*>(ctx->saved_data["ep"].toInt());
        const auto send = ctx->saved_data["send"].toIntVector();
        const auto recv = ctx->saved_data["recv"].toIntVector();
        const auto block = static_cast<int>(ctx->saved_data["block"].toInt());
        auto g = ep->allToAll(grads[0], recv, send, block);
        return {g, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
    }
};

std::int64_t total(const std::vector<std::int64_t>& v) {
    std::int64_t n = 0;
    for (auto x : v) n += x;
    return n;
}

}  // namespace

ExpertParallel::ExpertParallel(const ProcessGroup& group, const dist::LaunchEnv& env, std::chrono::milliseconds timeout, int ep)
    : m_rank(env.rank % ep), m_world(ep), m_first(env.rank - env.rank % ep) {
    const int g = env.rank / ep;
    m_pg = glooGroup(c10::make_intrusive<c10d::PrefixStore>("moe/ep/" + std::to_string(g), group.store), env, timeout, m_rank, ep);
    if (env.worldSize > ep)
        m_replicas = glooGroup(c10::make_intrusive<c10d::PrefixStore>("moe/ep-replicas/" + std::to_string(m_rank), group.store), env, timeout, g,
                               env.worldSize / ep);
}

void ExpertParallel::sumOverReplicas(const std::vector<torch::Tensor>& held) {
    if (!m_replicas || held.empty()) return;
    torch::NoGradGuard ng;
    // One flat sum: every gradient (zeros where this rank has none), then one flag per parameter.
    std::int64_t n = 0;
    for (const auto& p : held) n += p.numel();
    auto flat = torch::zeros({n + static_cast<std::int64_t>(held.size())}, torch::kFloat);
    std::int64_t at = 0;
    for (size_t i = 0; i < held.size(); ++i) {
        const auto& g = held[i].grad();
        if (g.defined()) {
            flat.narrow(0, at, held[i].numel()).copy_(g.reshape({-1}));
            flat[n + static_cast<std::int64_t>(i)] = 1.0f;
        }
        at += held[i].numel();
    }
    const auto t0 = Clock::now();
    std::vector<torch::Tensor> v{flat};
    m_replicas->allreduce(v)->wait();
    m_replicaSeconds += secondsSince(t0);
    at = 0;
    const auto* flags = flat.data_ptr<float>() + n;
    for (size_t i = 0; i < held.size(); ++i) {
        auto p = held[i];
        if (flags[i] != 0) {
            auto sum = flat.narrow(0, at, p.numel()).view(p.sizes());
            if (p.mutable_grad().defined()) p.mutable_grad().copy_(sum);
            else p.mutable_grad() = sum.clone();
        }
        at += p.numel();
    }
}

torch::Tensor ExpertParallel::allToAll(const torch::Tensor& rows, const std::vector<std::int64_t>& send, const std::vector<std::int64_t>& recv,
                                       int block) {
    TORCH_CHECK(static_cast<int>(send.size()) == m_world && static_cast<int>(recv.size()) == m_world, "all-to-all: one count per rank");
    TORCH_CHECK(rows.size(0) == total(send), "all-to-all: ", rows.size(0), " rows but ", total(send), " to send");
    torch::NoGradGuard ng;
    if (m_measureWaits) {
        const auto w0 = Clock::now();
        m_pg->barrier()->wait();
        const double waited = secondsSince(w0);
        m_totals[block].waitSeconds += waited;
        m_stepSeconds += waited;
    }
    const auto t0 = Clock::now();
    auto in = rows.detach().contiguous();
    auto shape = in.sizes().vec();
    shape[0] = total(recv);
    auto out = torch::empty(shape, in.options());
    auto sendCopy = send, recvCopy = recv;
    m_pg->alltoall_base(out, in, recvCopy, sendCopy)->wait();
    const double took = secondsSince(t0);
    m_totals[block].alltoallSeconds += took;
    m_stepSeconds += took;
    return out;
}

torch::Tensor ExpertParallel::exchange(const torch::Tensor& rows, const std::vector<std::int64_t>& send, const std::vector<std::int64_t>& recv,
                                       int block, bool dispatch) {
    if (dispatch) {
        auto& to = m_totals[block].rowsTo;
        to.resize(static_cast<size_t>(m_world), 0.0);
        for (int j = 0; j < m_world; ++j) to[static_cast<size_t>(j)] += static_cast<double>(send[static_cast<size_t>(j)]);
    }
    return AllToAllFn::apply(rows, this, send, recv, static_cast<std::int64_t>(block));
}

void ExpertParallel::addExpertSeconds(int block, double seconds) { m_totals[block].expertSeconds += seconds; }

std::map<int, ExpertParallel::BlockTotals> ExpertParallel::takeTotals() { return std::exchange(m_totals, {}); }

void ExpertParallel::collectOnRankZero(const std::vector<torch::Tensor>& mine, std::vector<std::vector<torch::Tensor>>& theirs) {
    torch::NoGradGuard ng;
    constexpr int kTag = 7;
    if (m_rank != 0) {
        std::vector<torch::Tensor> flat;
        for (const auto& t : mine) flat.push_back(t.detach().reshape({-1}));
        std::vector<torch::Tensor> v{flat.empty() ? torch::zeros({0}) : torch::cat(flat).contiguous()};
        if (v[0].numel() > 0) m_pg->send(v, 0, kTag)->wait();
        return;
    }
    for (int r = 1; r < m_world && r < static_cast<int>(theirs.size()); ++r) {
        std::int64_t n = 0;
        for (const auto& t : theirs[static_cast<size_t>(r)]) n += t.numel();
        if (n == 0) continue;
        std::vector<torch::Tensor> v{torch::empty({n}, torch::kFloat)};
        m_pg->recv(v, r, kTag)->wait();
        std::int64_t at = 0;
        for (auto& t : theirs[static_cast<size_t>(r)]) {
            t.detach().copy_(v[0].narrow(0, at, t.numel()).view(t.sizes()));
            at += t.numel();
        }
    }
}

}  // namespace moe::train::detail
