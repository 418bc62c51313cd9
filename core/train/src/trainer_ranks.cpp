// The Trainer's ranks: joining a data parallel run, the experts each rank holds in an expert
// parallel one, and the sums of every rank's telemetry at a snapshot (see trainer_impl.h).
#include "trainer_impl.h"

namespace moe::train {

namespace {

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

std::string Trainer::Impl::joinRanks() {
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
            if (env.worldSize % project.training.ep != 0)
                return who + ": training.ep is " + std::to_string(project.training.ep) + " but " + std::to_string(env.worldSize) +
                       " ranks train; expert parallel groups are training.ep consecutive ranks, so it must divide the ranks (1 for data parallel only)";
            step = "joining the expert parallel groups";
            ep = std::make_unique<detail::ExpertParallel>(dp->group(), env, timeout, project.training.ep);
            ep->setMeasureWaits(options.measureExpertWaits);
        }
    } catch (const std::exception& e) {
        return detail::rankFailure(env, step, e);
    }
    return {};
}

void Trainer::Impl::expertParameters(std::vector<torch::Tensor>& held, std::vector<std::vector<torch::Tensor>>& others) {
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

void Trainer::Impl::holdExperts() {
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
    heldExperts = std::move(held);
    otherExperts = std::move(others);
    if (leader()) return;
    torch::NoGradGuard ng;
    for (auto& list : otherExperts)
        for (auto& p : list) p.set_data(torch::empty({0}, p.options()));
}

void Trainer::Impl::gatherExperts() {
    if (!ep || ep->firstRank() != 0) return;  // only rank 0's group holds what rank 0 lacks
    ep->collectOnRankZero(heldExperts, otherExperts);
}

std::vector<telemetry::RankTime> Trainer::Impl::mergeRanks(std::vector<telemetry::BlockSnapshot>& blocks, std::vector<telemetry::LayerTime>& layers) {
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
    // Expert parallel: per MoE block and rank of rank 0's group (the others' traffic is alike),
    // all-to-all, expert and waiting seconds and rows sent to each rank of the group.
    const size_t E = ep ? static_cast<size_t>(ep->size()) : 0, per = 3 + E;
    const size_t layersAt = packed.size();
    std::vector<int> moeLayers;
    for (auto& b : net->blocks())
        if (b->isMoe()) moeLayers.push_back(b->index());
    if (ep) {
        packed.resize(layersAt + moeLayers.size() * E * per, 0.0);
        auto totals = ep->takeTotals();
        for (size_t i = 0; i < moeLayers.size() && ep->firstRank() == 0; ++i) {
            const auto it = totals.find(moeLayers[i]);
            if (it == totals.end()) continue;
            double* x = packed.data() + layersAt + (i * E + static_cast<size_t>(ep->rank())) * per;
            x[0] = it->second.alltoallSeconds;
            x[1] = it->second.expertSeconds;
            x[2] = it->second.waitSeconds;
            for (size_t j = 0; j < it->second.rowsTo.size() && j < E; ++j) x[3 + j] = it->second.rowsTo[j];
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
            for (size_t r = 0; r < E; ++r) {
                const double* x = v + layersAt + (i * E + r) * per;
                telemetry::LayerTime lt;
                lt.rank = static_cast<int>(r);
                lt.block = moeLayers[i];
                lt.steps = steps;
                lt.alltoallSeconds = x[0];
                lt.expertSeconds = x[1];
                lt.waitSeconds = x[2];
                lt.rowsTo.assign(x + 3, x + 3 + E);
                lt.bytesPerRow = bytesPerRow;
                layers.push_back(std::move(lt));
            }
    }
    return times;
}

}  // namespace moe::train
