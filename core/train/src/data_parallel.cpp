// Data parallel training on c10d: rendezvous, start-up checks, the routers' batch group and the
// bucketed gradient all-reduce (c10d's Gloo does every transfer).
#include "data_parallel.h"

#include <algorithm>

namespace moe::train::detail {

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::vector<uint8_t> bytesOf(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

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
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    opts->devices.push_back(env.masterAddr == "127.0.0.1" || env.masterAddr == "localhost"
                                ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                : c10d::ProcessGroupGloo::createDefaultDevice());
    out.pg = c10::make_intrusive<c10d::ProcessGroupGloo>(out.store, env.rank, env.worldSize, opts);
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

void DataParallel::attach(const std::vector<torch::Tensor>& params) {
    m_params.clear();
    for (const auto& p : params)
        if (p.requires_grad()) m_params.push_back(p);
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
}

std::pair<double, double> DataParallel::takeWaitSeconds() {
    const std::pair<double, double> out{m_reduceWait, m_exchangeWait};
    m_reduceWait = m_exchangeWait = 0;
    return out;
}

}  // namespace moe::train::detail
