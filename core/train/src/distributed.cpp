// Collectives measured on c10d: TCPStore rendezvous and ProcessGroupGloo, as LibTorch ships them.
#include <torch/torch.h>
#include <torch/version.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "data_parallel.h"
#include "moe/train/distributed.h"

namespace moe::train::dist {

namespace {

std::string opName(Collective op) {
    switch (op) {
    case Collective::AllReduce: return "all_reduce";
    case Collective::AllGather: return "all_gather";
    case Collective::ReduceScatter: return "reduce_scatter";
    case Collective::AllToAll: return "alltoall";
    case Collective::Broadcast: return "broadcast";
    }
    return "?";
}

// The buffers of one collective call on this rank, set so the result of one call is known.
struct Buffers {
    at::Tensor in, out;               // out undefined for in-place collectives
    std::vector<at::Tensor> outList;  // all_gather's per-rank outputs (views into out)
};

class Runner {
public:
    Runner(c10d::ProcessGroupGloo& pg, Collective op, int rank, int world) : m_pg(pg), m_op(op), m_rank(rank), m_world(world) {}

    // count: float elements of the whole buffer (a multiple of world).
    void prepare(int64_t count) {
        const int64_t per = count / m_world;
        m_b = Buffers{};
        switch (m_op) {
        case Collective::AllReduce:
        case Collective::Broadcast: m_b.in = torch::empty({count}, torch::kFloat32); break;
        case Collective::AllGather:
            m_b.in = torch::empty({per}, torch::kFloat32);
            m_b.out = torch::empty({count}, torch::kFloat32);
            m_b.outList = m_b.out.chunk(m_world);
            break;
        case Collective::AllToAll:
            m_b.in = torch::empty({count}, torch::kFloat32);
            m_b.out = torch::empty({count}, torch::kFloat32);
            break;
        case Collective::ReduceScatter: break;
        }
        m_count = count;
    }

    // Inputs for a checked call: rank r's element i holds r + 1 + i mod 7 (exact in float).
    void fillForCheck() {
        auto idx = torch::arange(m_b.in.numel(), torch::kInt64);
        if (m_op == Collective::AllToAll) {
            // Element i goes to rank i / per; mark it with the sender and the slot.
            m_b.in.copy_((idx % 7) + (m_rank + 1) * 8);
        } else {
            m_b.in.copy_((idx % 7) + (m_rank + 1));
        }
    }

    long long wrongAfterCheck() const {
        const int64_t per = m_count / m_world;
        at::Tensor expected;
        at::Tensor got;
        switch (m_op) {
        case Collective::AllReduce: {
            auto idx = torch::arange(m_count, torch::kInt64);
            expected = (idx % 7) * m_world + m_world * (m_world + 1) / 2;
            got = m_b.in;
            break;
        }
        case Collective::Broadcast: {
            auto idx = torch::arange(m_count, torch::kInt64);
            expected = (idx % 7) + 1;  // root 0's values
            got = m_b.in;
            break;
        }
        case Collective::AllGather: {
            auto idx = torch::arange(per, torch::kInt64);
            std::vector<at::Tensor> parts;
            for (int r = 0; r < m_world; ++r) parts.push_back((idx % 7) + (r + 1));
            expected = torch::cat(parts);
            got = m_b.out;
            break;
        }
        case Collective::AllToAll: {
            // Block s of the output came from rank s's block m_rank: its elements m_rank*per + j.
            std::vector<at::Tensor> parts;
            auto j = torch::arange(per, torch::kInt64) + m_rank * per;
            for (int s = 0; s < m_world; ++s) parts.push_back((j % 7) + (s + 1) * 8);
            expected = torch::cat(parts);
            got = m_b.out;
            break;
        }
        case Collective::ReduceScatter: return 0;
        }
        return static_cast<long long>((got != expected.to(torch::kFloat32)).sum().item<int64_t>());
    }

    void call() {
        c10::intrusive_ptr<c10d::Work> w;
        switch (m_op) {
        case Collective::AllReduce: {
            std::vector<at::Tensor> v{m_b.in};
            w = m_pg.allreduce(v);
            break;
        }
        case Collective::Broadcast: {
            std::vector<at::Tensor> v{m_b.in};
            c10d::BroadcastOptions bo;
            bo.rootRank = 0;
            w = m_pg.broadcast(v, bo);
            break;
        }
        case Collective::AllGather: {
            std::vector<std::vector<at::Tensor>> outs{m_b.outList};
            std::vector<at::Tensor> ins{m_b.in};
            w = m_pg.allgather(outs, ins);
            break;
        }
        case Collective::AllToAll: {
            std::vector<int64_t> even;
            w = m_pg.alltoall_base(m_b.out, m_b.in, even, even);
            break;
        }
        case Collective::ReduceScatter: break;
        }
        w->wait();
    }

private:
    c10d::ProcessGroupGloo& m_pg;
    Collective m_op;
    int m_rank, m_world;
    int64_t m_count = 0;
    Buffers m_b;
};

}  // namespace

std::string unsupportedReason(Collective op) {
    if (op == Collective::ReduceScatter)
        return "reduce_scatter: LibTorch " TORCH_VERSION "'s Gloo process group has no reduce_scatter; measure all_reduce, all_gather, "
               "alltoall or broadcast";
    return {};
}

spec::Result<Measurement> measureCollective(const LaunchEnv& env, Collective op, const MeasureOptions& o) {
    if (std::string why = unsupportedReason(op); !why.empty()) return spec::Diagnostics{{"", why}};
    const auto timeout = std::chrono::milliseconds(static_cast<long long>(o.timeoutSeconds * 1000));
    std::string step;
    try {
        detail::ProcessGroup group;
        if (std::string e = detail::joinProcessGroup(env, timeout, group, step); !e.empty()) return spec::Diagnostics{{"WORLD_SIZE", e}};
        auto& store = group.store;
        auto& pg = *group.pg;

        Measurement m;
        m.backend = "gloo (c10d, LibTorch " TORCH_VERSION ")";
        char host[256] = {0};
        ::gethostname(host, sizeof(host) - 1);
        const std::string info = std::to_string(::getpid()) + " " + host;
        store->set("moe/info/" + std::to_string(env.rank), std::vector<uint8_t>(info.begin(), info.end()));
        for (int r = 0; r < env.worldSize; ++r) {
            auto v = store->get("moe/info/" + std::to_string(r));
            const std::string s(v.begin(), v.end());
            RankInfo ri;
            ri.rank = r;
            const auto sp = s.find(' ');
            ri.pid = std::atoi(s.substr(0, sp).c_str());
            ri.host = sp == std::string::npos ? "" : s.substr(sp + 1);
            m.ranks.push_back(ri);
        }

        torch::NoGradGuard ng;
        Runner run(pg, op, env.rank, env.worldSize);
        for (double bytes : o.sizes) {
            // nccl-tests rounds the size down to whole elements on every rank.
            int64_t count = static_cast<int64_t>(bytes / 4) / env.worldSize * env.worldSize;
            if (count < env.worldSize) count = env.worldSize;
            step = opName(op) + " of " + std::to_string(count * 4) + " B";
            run.prepare(count);
            run.fillForCheck();
            run.call();
            long long wrong = run.wrongAfterCheck();
            for (int i = 0; i < o.warmup; ++i) run.call();
            pg.barrier()->wait();
            const auto t0 = std::chrono::steady_clock::now();
            for (int i = 0; i < o.iters; ++i) run.call();
            const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / std::max(1, o.iters);
            // The slowest rank's time and every rank's wrong count, as nccl-tests reports them.
            std::vector<at::Tensor> t{torch::tensor({us}, torch::kFloat64)};
            c10d::AllreduceOptions mx;
            mx.reduceOp = c10d::ReduceOp::MAX;
            pg.allreduce(t, mx)->wait();
            std::vector<at::Tensor> wr{torch::tensor({static_cast<int64_t>(wrong)}, torch::kInt64)};
            pg.allreduce(wr)->wait();
            MeasuredRow row;
            row.count = count;
            row.bytes = static_cast<double>(count) * 4;
            row.timeUs = t[0].item<double>();
            row.wrong = static_cast<long long>(wr[0].item<int64_t>());
            m.rows.push_back(row);
        }
        return m;
    } catch (const std::exception& e) {
        return spec::Diagnostics{{"", detail::rankFailure(env, step, e)}};
    }
}

}  // namespace moe::train::dist
