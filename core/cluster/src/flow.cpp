#include "moe/cluster/flow.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace moe::cluster {

FlowSolution solveFlows(const std::vector<double>& capacity, const std::vector<Flow>& flows, const FlowOptions& opt) {
    const size_t nf = flows.size(), nl = capacity.size();
    FlowSolution sol;
    sol.finish.assign(nf, 0.0);
    sol.linkBytes.assign(nl, 0.0);
    if (nf == 0) return sol;
    constexpr double kInf = std::numeric_limits<double>::infinity();

    // Link -> flows incidence (CSR).
    std::vector<int> start(nl + 1, 0);
    for (const Flow& f : flows)
        for (int h = 0; h < f.hops; ++h) ++start[static_cast<size_t>(f.links[static_cast<size_t>(h)]) + 1];
    std::partial_sum(start.begin(), start.end(), start.begin());
    std::vector<int> incidence(static_cast<size_t>(start[nl]));
    {
        std::vector<int> fill(start.begin(), start.end() - 1);
        for (size_t i = 0; i < nf; ++i)
            for (int h = 0; h < flows[i].hops; ++h) {
                const size_t l = static_cast<size_t>(flows[i].links[static_cast<size_t>(h)]);
                incidence[static_cast<size_t>(fill[l]++)] = static_cast<int>(i);
                sol.linkBytes[l] += flows[i].bytes;
            }
    }

    std::vector<size_t> order(nf);
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return flows[a].release < flows[b].release; });

    enum : char { kPending, kActive, kDone };
    std::vector<char> state(nf, kPending);
    std::vector<double> rem(nf), rate(nf, 0.0);
    std::vector<int> frozenStamp(nf, -1), linkStamp(nl, -1), cnt(nl, 0);
    std::vector<double> capRem(nl, 0.0);
    std::vector<size_t> active;
    active.reserve(nf);
    size_t next = 0;
    double t = flows[order[0]].release;
    const double t0 = opt.origin >= 0 ? std::min(opt.origin, t) : t;
    int fillId = 0;

    auto finishFlow = [&](size_t i, double when) {
        state[i] = kDone;
        sol.finish[i] = when + (flows[i].latency >= 0 ? flows[i].latency : opt.latency);
        sol.makespan = std::max(sol.makespan, sol.finish[i]);
    };
    auto admit = [&](double upTo) {
        while (next < nf && flows[order[next]].release <= upTo) {
            const size_t i = order[next++];
            if (flows[i].bytes <= 0 || flows[i].hops == 0) {
                finishFlow(i, std::max(t, flows[i].release));
                continue;
            }
            state[i] = kActive;
            rem[i] = flows[i].bytes;
            active.push_back(i);
        }
    };

    std::vector<int> touched;
    while (next < nf || !active.empty()) {
        if (active.empty()) {
            t = std::max(t, flows[order[next]].release);
            admit(t + opt.tolerance * (t - t0));
            if (active.empty()) continue;
        }
        // Progressive filling: the link with the smallest fair share saturates first; its flows
        // are frozen at that share and leave the other links' budgets.
        ++fillId;
        ++sol.rateUpdates;
        touched.clear();
        for (size_t i : active)
            for (int h = 0; h < flows[i].hops; ++h) {
                const size_t l = static_cast<size_t>(flows[i].links[static_cast<size_t>(h)]);
                if (linkStamp[l] != fillId) {
                    linkStamp[l] = fillId;
                    cnt[l] = 0;
                    capRem[l] = capacity[l];
                    touched.push_back(static_cast<int>(l));
                }
                ++cnt[l];
            }
        // Rounds: every link at the smallest fair share saturates together; its unfrozen flows
        // take that share and leave the other links' budgets. Rounds = distinct share levels.
        size_t live = touched.size();
        while (live > 0) {
            double minShare = kInf;
            size_t w = 0;
            for (size_t q = 0; q < live; ++q) {
                const size_t l = static_cast<size_t>(touched[q]);
                if (cnt[l] <= 0) continue;
                touched[w++] = static_cast<int>(l);
                minShare = std::min(minShare, std::max(capRem[l], 1e-9 * capacity[l]) / cnt[l]);
            }
            live = w;
            if (live == 0) break;
            const double level = minShare * (1 + 1e-12);
            for (size_t q = 0; q < live; ++q) {
                const size_t l = static_cast<size_t>(touched[q]);
                if (cnt[l] <= 0 || std::max(capRem[l], 1e-9 * capacity[l]) / cnt[l] > level) continue;
                for (int k = start[l]; k < start[l + 1]; ++k) {
                    const size_t i = static_cast<size_t>(incidence[static_cast<size_t>(k)]);
                    if (state[i] != kActive || frozenStamp[i] == fillId) continue;
                    frozenStamp[i] = fillId;
                    rate[i] = minShare;
                    for (int h = 0; h < flows[i].hops; ++h) {
                        const size_t m = static_cast<size_t>(flows[i].links[static_cast<size_t>(h)]);
                        capRem[m] -= minShare;
                        --cnt[m];
                    }
                }
            }
        }

        double dtc = kInf;
        for (size_t i : active)
            if (rate[i] > 0) dtc = std::min(dtc, rem[i] / rate[i]);
        const double nextRelease = next < nf ? flows[order[next]].release : kInf;
        if (dtc == kInf && nextRelease == kInf) {
            // No capacity on some path: cannot finish (callers give every used link capacity).
            for (size_t i : active) finishFlow(i, kInf);
            active.clear();
            break;
        }
        if (t + dtc <= nextRelease) {
            // Finishes within `tolerance` of the time elapsed in this solve count as one event.
            const double limit = dtc + opt.tolerance * (t + dtc - t0);
            size_t w = 0;
            for (size_t i : active) {
                const double need = rate[i] > 0 ? rem[i] / rate[i] : kInf;
                if (need <= limit) finishFlow(i, t + std::max(0.0, need));
                else {
                    rem[i] -= rate[i] * dtc;
                    active[w++] = i;
                }
            }
            active.resize(w);
            t += dtc;
        } else {
            const double dt = nextRelease - t;
            for (size_t i : active) rem[i] -= rate[i] * dt;
            t = nextRelease;
            admit(t + opt.tolerance * (t - t0));
        }
    }
    return sol;
}

}  // namespace moe::cluster
