// The fast CPU backend: same results as the reference (same tie and NaN rules, same order of
// summation over j), parallel over tokens or rows with OpenMP, which is the runtime LibTorch
// uses, so both share one thread pool and one thread count.
//
// Dispatch is built stably in two passes over contiguous chunks (count per chunk, then fill from
// per-chunk starting offsets), so the layout equals the reference's whatever the thread count.
// Permute / combine are gathers of whole rows: each output row has one owner, reads are
// contiguous d-float rows, and no atomics are needed.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "cpu_backends.h"

namespace moe::kernels::detail {
namespace {

// Work (in element updates) below which a parallel region costs more than it saves. Set high on
// purpose: the studio runs the trainer beside the UI and other processes, and on an
// oversubscribed CPU a parallel region waits for every thread to be scheduled, which costs a
// time slice (milliseconds), not microseconds. Measured with `moe bench kernels` under load.
constexpr int64_t kParallelGrain = 1 << 18;
// Row loops hand out chunks dynamically: tokens differ in work (dropped choices) and on a shared
// machine a descheduled thread must not hold up a static share of the rows.
#define MOE_ROW_SCHEDULE schedule(dynamic, 32)

int threadsFor(int64_t work) {
    if (work < kParallelGrain) return 1;
    const int64_t maxUseful = std::max<int64_t>(1, work / kParallelGrain);
    return static_cast<int>(std::min<int64_t>(omp_get_max_threads(), maxUseful));
}

Status badIndex(const char* op, const char* field, int64_t at, int64_t v, int64_t lo, int64_t hi) {
    const std::string range = lo == -1 ? "-1 or in [0, " + std::to_string(hi) + ")"
                                       : "in [" + std::to_string(lo) + ", " + std::to_string(hi) + ")";
    return Status::invalid(std::string(op) + ": " + field + "[" + std::to_string(at) + "] = " + std::to_string(v) +
                           " must be " + range);
}

// First index in [0, n) with v outside [lo, hi), or -1.
int64_t firstOutOfRange(const int64_t* v, int64_t n, int64_t lo, int64_t hi) {
    for (int64_t i = 0; i < n; ++i)
        if (v[i] < lo || v[i] >= hi) return i;
    return -1;
}

inline void scaleRow(float* dst, const float* src, float g, int64_t d) {
#pragma omp simd
    for (int64_t i = 0; i < d; ++i) dst[i] = g * src[i];
}
inline void axpyRow(float* dst, const float* src, float g, int64_t d) {
#pragma omp simd
    for (int64_t i = 0; i < d; ++i) dst[i] += g * src[i];
}
inline void addRow(float* dst, const float* src, int64_t d) {
#pragma omp simd
    for (int64_t i = 0; i < d; ++i) dst[i] += src[i];
}
inline float dotRow(const float* x, const float* y, int64_t d) {
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < d; ++i) acc += x[i] * y[i];
    return acc;
}

// Stable per-expert positions of the assignments in token order, computed in parallel chunks.
// pos[i] = number of earlier assignments (lower i) with the same expert, -1 for expert -1.
// count[e] = total per expert.
void stablePositions(const int64_t* expertIdx, int64_t n, int64_t experts, int64_t* pos,
                     std::vector<int64_t>& count) {
    const int chunks = std::max(1, std::min(threadsFor(n * 8), static_cast<int>(std::max<int64_t>(1, n / 1024))));
    const int64_t per = (n + chunks - 1) / chunks;
    std::vector<int64_t> local(static_cast<size_t>(chunks * experts), 0);
#pragma omp parallel for num_threads(chunks) schedule(static, 1)
    for (int c = 0; c < chunks; ++c) {
        int64_t* cnt = local.data() + static_cast<int64_t>(c) * experts;
        const int64_t lo = c * per, hi = std::min(n, lo + per);
        for (int64_t i = lo; i < hi; ++i)
            if (expertIdx[i] >= 0) ++cnt[expertIdx[i]];
    }
    count.assign(static_cast<size_t>(experts), 0);
    for (int c = 0; c < chunks; ++c)
        for (int64_t e = 0; e < experts; ++e) {
            int64_t& v = local[static_cast<size_t>(c * experts + e)];
            const int64_t start = count[static_cast<size_t>(e)];
            count[static_cast<size_t>(e)] += v;
            v = start;
        }
#pragma omp parallel for num_threads(chunks) schedule(static, 1)
    for (int c = 0; c < chunks; ++c) {
        int64_t* next = local.data() + static_cast<int64_t>(c) * experts;
        const int64_t lo = c * per, hi = std::min(n, lo + per);
        for (int64_t i = lo; i < hi; ++i) {
            const int64_t e = expertIdx[i];
            pos[i] = e >= 0 ? next[e]++ : -1;
        }
    }
}

class CpuFastBackend final : public Backend {
public:
    BackendKind kind() const override { return BackendKind::CpuFast; }
    bool supports(Op) const override { return true; }
    std::string description() const override {
        return "OpenMP, " + std::to_string(omp_get_max_threads()) + " threads";
    }

protected:
    Status doGatingForward(const GatingForwardArgs& a) override {
        const int64_t E = a.p.experts, K = a.p.k, T = a.p.tokens;
        // Division by the temperature (not a product with its inverse) matches the reference bit
        // for bit, so ties and near-ties select the same experts on both backends.
#pragma omp parallel num_threads(threadsFor(T * E * 8))
        {
            std::vector<float> select(static_cast<size_t>(E));
            std::vector<uint8_t> taken(static_cast<size_t>(E));
#pragma omp for schedule(static)
            for (int64_t t = 0; t < T; ++t) {
                const float* z = a.logits + t * E;
                float* s = a.probs + t * E;
                if (a.p.score == ScoreFn::Softmax) {
                    float m = z[0] / a.p.temperature;
                    for (int64_t e = 1; e < E; ++e) m = std::max(m, z[e] / a.p.temperature);
                    float sum = 0.0f;
                    for (int64_t e = 0; e < E; ++e) {
                        s[e] = std::exp(z[e] / a.p.temperature - m);
                        sum += s[e];
                    }
                    for (int64_t e = 0; e < E; ++e) s[e] = s[e] / sum;
                } else {
                    for (int64_t e = 0; e < E; ++e) s[e] = 1.0f / (1.0f + std::exp(-(z[e] / a.p.temperature)));
                }
                for (int64_t e = 0; e < E; ++e) {
                    select[static_cast<size_t>(e)] = a.bias ? s[e] + a.bias[e] : s[e];
                    taken[static_cast<size_t>(e)] = 0;
                }
                float denom = kRenormEps;
                for (int64_t j = 0; j < K; ++j) {
                    int64_t best = -1;
                    float bestV = 0.0f;
                    for (int64_t e = 0; e < E; ++e) {
                        if (taken[static_cast<size_t>(e)]) continue;
                        const float v = select[static_cast<size_t>(e)];
                        if (best < 0 || selectBefore(v, bestV)) {
                            best = e;
                            bestV = v;
                        }
                    }
                    taken[static_cast<size_t>(best)] = 1;
                    a.expertIdx[t * K + j] = best;
                    a.gates[t * K + j] = s[best];
                    denom += s[best];
                }
                if (a.p.renormalize)
                    for (int64_t j = 0; j < K; ++j) a.gates[t * K + j] = a.gates[t * K + j] / denom;
            }
        }
        return Status::ok();
    }

    Status doGatingBackward(const GatingBackwardArgs& a) override {
        const int64_t E = a.p.experts, K = a.p.k, T = a.p.tokens;
        if (int64_t bad = firstOutOfRange(a.expertIdx, T * K, 0, E); bad >= 0)
            return badIndex("gating backward", "expertIdx", bad, a.expertIdx[bad], 0, E);
#pragma omp parallel num_threads(threadsFor(T * E * 4))
        {
            std::vector<float> dS(static_cast<size_t>(E));
#pragma omp for schedule(static)
            for (int64_t t = 0; t < T; ++t) {
                const float* s = a.probs + t * E;
                for (int64_t e = 0; e < E; ++e) dS[static_cast<size_t>(e)] = a.dProbs ? a.dProbs[t * E + e] : 0.0f;
                const int64_t* idx = a.expertIdx + t * K;
                const float* g = a.gates + t * K;
                const float* dG = a.dGates + t * K;
                if (a.p.renormalize) {
                    float denom = kRenormEps;
                    for (int64_t j = 0; j < K; ++j) denom += s[idx[j]];
                    float dot = 0.0f;
                    for (int64_t j = 0; j < K; ++j) dot += dG[j] * g[j];
                    for (int64_t j = 0; j < K; ++j) dS[static_cast<size_t>(idx[j])] += (dG[j] - dot) / denom;
                } else {
                    for (int64_t j = 0; j < K; ++j) dS[static_cast<size_t>(idx[j])] += dG[j];
                }
                float* dz = a.dLogits + t * E;
                if (a.p.score == ScoreFn::Softmax) {
                    float dot = 0.0f;
                    for (int64_t e = 0; e < E; ++e) dot += dS[static_cast<size_t>(e)] * s[e];
                    for (int64_t e = 0; e < E; ++e)
                        dz[e] = s[e] * (dS[static_cast<size_t>(e)] - dot) / a.p.temperature;
                } else {
                    for (int64_t e = 0; e < E; ++e)
                        dz[e] = dS[static_cast<size_t>(e)] * s[e] * (1.0f - s[e]) / a.p.temperature;
                }
            }
        }
        return Status::ok();
    }

    Status doHistogram(const HistogramArgs& a) override {
        if (int64_t bad = firstOutOfRange(a.expertIdx, a.assignments, -1, a.experts); bad >= 0)
            return badIndex("histogram", "expertIdx", bad, a.expertIdx[bad], -1, a.experts);
        const int64_t n = a.assignments, E = a.experts;
        const int chunks = threadsFor(n * 8);
        std::vector<int64_t> local(static_cast<size_t>(chunks * E), 0);
#pragma omp parallel for num_threads(chunks) schedule(static, 1)
        for (int c = 0; c < chunks; ++c) {
            int64_t* cnt = local.data() + static_cast<int64_t>(c) * E;
            const int64_t lo = n * c / chunks, hi = n * (c + 1) / chunks;
            for (int64_t i = lo; i < hi; ++i)
                if (a.expertIdx[i] >= 0) ++cnt[a.expertIdx[i]];
        }
        for (int64_t e = 0; e < E; ++e) {
            int64_t sum = 0;
            for (int c = 0; c < chunks; ++c) sum += local[static_cast<size_t>(c * E + e)];
            a.counts[e] = sum;
        }
        return Status::ok();
    }

    Status doAssignSlots(const AssignSlotsArgs& a) override {
        const int64_t n = a.tokens * a.k;
        if (int64_t bad = firstOutOfRange(a.expertIdx, n, -1, a.experts); bad >= 0)
            return badIndex("assign slots", "expertIdx", bad, a.expertIdx[bad], -1, a.experts);
        std::vector<int64_t> count;
        stablePositions(a.expertIdx, n, a.experts, a.slot, count);
        const bool limited = a.capacity >= 0;
        if (!limited || a.policy == DropPolicy::Position) {
            // The kept assignments are exactly the first `capacity`, so a slot is the position.
            for (int64_t i = 0; i < n; ++i) {
                const bool drop = a.slot[i] >= 0 && limited && a.slot[i] >= a.capacity;
                a.dropped[i] = drop ? 1 : 0;
                if (drop) a.slot[i] = -1;
            }
            for (int64_t e = 0; e < a.experts; ++e)
                a.kept[e] = limited ? std::min(count[static_cast<size_t>(e)], a.capacity) : count[static_cast<size_t>(e)];
            return Status::ok();
        }
        // Probs: group the assignments by expert (token order within), select each overfull
        // expert's top `capacity` gates with nth_element, then number the kept ones in token order.
        std::vector<int64_t> start(static_cast<size_t>(a.experts + 1), 0);
        for (int64_t e = 0; e < a.experts; ++e) start[static_cast<size_t>(e + 1)] = start[static_cast<size_t>(e)] + count[static_cast<size_t>(e)];
        std::vector<int64_t> grouped(static_cast<size_t>(start.back()));
        for (int64_t i = 0; i < n; ++i) {
            const int64_t e = a.expertIdx[i];
            a.dropped[i] = 0;
            if (e >= 0) grouped[static_cast<size_t>(start[static_cast<size_t>(e)] + a.slot[i])] = i;
        }
        const int64_t E = a.experts;
#pragma omp parallel num_threads(static_cast<int>(std::min<int64_t>(E, threadsFor(n * 16))))
        {
            std::vector<int64_t> order;
#pragma omp for schedule(dynamic, 1)
            for (int64_t e = 0; e < E; ++e) {
                const int64_t* list = grouped.data() + start[static_cast<size_t>(e)];
                const int64_t m = count[static_cast<size_t>(e)];
                if (m > a.capacity) {
                    order.assign(list, list + m);
                    auto before = [&](int64_t x, int64_t y) {
                        const float gx = dropKey(a.gates[x]), gy = dropKey(a.gates[y]);
                        return gx > gy || (gx == gy && x < y);
                    };
                    if (a.capacity > 0)
                        std::nth_element(order.begin(), order.begin() + (a.capacity - 1), order.end(), before);
                    for (int64_t q = a.capacity; q < m; ++q) a.dropped[order[static_cast<size_t>(q)]] = 1;
                }
                int64_t next = 0;
                for (int64_t q = 0; q < m; ++q) {
                    const int64_t i = list[q];
                    a.slot[i] = a.dropped[i] ? -1 : next++;
                }
                a.kept[e] = next;
            }
        }
        return Status::ok();
    }

    Status doBuildDispatch(const BuildDispatchArgs& a) override {
        const int64_t n = a.tokens * a.k;
        if (int64_t bad = firstOutOfRange(a.expertIdx, n, -1, a.experts); bad >= 0)
            return badIndex("build dispatch", "expertIdx", bad, a.expertIdx[bad], -1, a.experts);
        std::vector<int64_t> count;
        stablePositions(a.expertIdx, n, a.experts, a.slotOf, count);
        a.offsets[0] = 0;
        for (int64_t e = 0; e < a.experts; ++e) a.offsets[e + 1] = a.offsets[e] + count[static_cast<size_t>(e)];
        const int64_t k = a.k;
#pragma omp parallel for num_threads(threadsFor(n * 4)) schedule(static)
        for (int64_t i = 0; i < n; ++i) {
            const int64_t e = a.expertIdx[i];
            if (e < 0) continue;
            const int64_t r = a.offsets[e] + a.slotOf[i];
            a.slotOf[i] = r;
            a.rowToken[r] = i / k;
            a.rowAssign[r] = i;
        }
        return Status::ok();
    }

    Status doPermute(const PermuteArgs& a) override {
        if (int64_t bad = firstOutOfRange(a.rowToken, a.rows, 0, a.tokens); bad >= 0)
            return badIndex("permute", "rowToken", bad, a.rowToken[bad], 0, a.tokens);
        const int64_t d = a.dim;
#pragma omp parallel for num_threads(threadsFor(a.rows * d)) MOE_ROW_SCHEDULE
        for (int64_t r = 0; r < a.rows; ++r)
            std::memcpy(a.out + r * d, a.x + a.rowToken[r] * d, static_cast<size_t>(d) * sizeof(float));
        return Status::ok();
    }

    Status doPermuteBackward(const PermuteBackwardArgs& a) override {
        if (int64_t bad = firstOutOfRange(a.slotOf, a.tokens * a.k, -1, a.rows); bad >= 0)
            return badIndex("permute backward", "slotOf", bad, a.slotOf[bad], -1, a.rows);
        const int64_t d = a.dim, k = a.k;
#pragma omp parallel for num_threads(threadsFor(a.tokens * k * d)) MOE_ROW_SCHEDULE
        for (int64_t t = 0; t < a.tokens; ++t) {
            float* dst = a.dX + t * d;
            bool first = true;
            for (int64_t j = 0; j < k; ++j) {
                const int64_t r = a.slotOf[t * k + j];
                if (r < 0) continue;
                if (first)
                    std::memcpy(dst, a.dTokens + r * d, static_cast<size_t>(d) * sizeof(float));
                else
                    addRow(dst, a.dTokens + r * d, d);
                first = false;
            }
            if (first) std::memset(dst, 0, static_cast<size_t>(d) * sizeof(float));
        }
        return Status::ok();
    }

    Status doUnpermuteCombine(const UnpermuteCombineArgs& a) override {
        if (int64_t bad = firstOutOfRange(a.slotOf, a.tokens * a.k, -1, a.rows); bad >= 0)
            return badIndex("unpermute combine", "slotOf", bad, a.slotOf[bad], -1, a.rows);
        const int64_t d = a.dim, k = a.k;
#pragma omp parallel for num_threads(threadsFor(a.tokens * k * d)) MOE_ROW_SCHEDULE
        for (int64_t t = 0; t < a.tokens; ++t) {
            float* dst = a.out + t * d;
            bool first = true;
            for (int64_t j = 0; j < k; ++j) {
                const int64_t r = a.slotOf[t * k + j];
                if (r < 0) continue;
                const float g = a.gates[t * k + j];
                if (first)
                    scaleRow(dst, a.y + r * d, g, d);
                else
                    axpyRow(dst, a.y + r * d, g, d);
                first = false;
            }
            if (first) std::memset(dst, 0, static_cast<size_t>(d) * sizeof(float));
        }
        return Status::ok();
    }

    Status doUnpermuteCombineBackward(const UnpermuteCombineBackwardArgs& a) override {
        const int64_t n = a.tokens * a.k, d = a.dim, k = a.k;
        if (int64_t bad = firstOutOfRange(a.slotOf, n, -1, a.rows); bad >= 0)
            return badIndex("unpermute combine backward", "slotOf", bad, a.slotOf[bad], -1, a.rows);
        if (a.dY) {
            // Walking tokens reads each dOut row once for both gradients; that needs every row
            // to be referenced by exactly one assignment, as BuildDispatch produces.
            std::vector<uint8_t> seen(static_cast<size_t>(a.rows), 0);
            int64_t valid = 0;
            for (int64_t i = 0; i < n; ++i) {
                const int64_t r = a.slotOf[i];
                if (r < 0) continue;
                if (seen[static_cast<size_t>(r)])
                    return Status::invalid("unpermute combine backward: row " + std::to_string(r) +
                                           " appears twice in slotOf; slotOf must come from BuildDispatch");
                seen[static_cast<size_t>(r)] = 1;
                ++valid;
            }
            if (valid != a.rows)
                return Status::invalid("unpermute combine backward: slotOf references " + std::to_string(valid) +
                                       " rows but rows = " + std::to_string(a.rows));
        }
#pragma omp parallel for num_threads(threadsFor(n * d * 2)) MOE_ROW_SCHEDULE
        for (int64_t t = 0; t < a.tokens; ++t) {
            const float* go = a.dOut + t * d;
            for (int64_t j = 0; j < k; ++j) {
                const int64_t r = a.slotOf[t * k + j];
                if (a.dGates) a.dGates[t * k + j] = r >= 0 ? dotRow(go, a.y + r * d, d) : 0.0f;
                if (a.dY && r >= 0) scaleRow(a.dY + r * d, go, a.gates[t * k + j], d);
            }
        }
        return Status::ok();
    }
};

}  // namespace

std::unique_ptr<Backend> makeCpuFastBackend() { return std::make_unique<CpuFastBackend>(); }

}  // namespace moe::kernels::detail
