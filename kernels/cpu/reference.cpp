// The CPU reference backend: the specification of every op (see the maths in the op headers).
// Deliberately plain: one thread, one loop per formula, no tricks. Other backends are tested
// against it.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "cpu_backends.h"

namespace moe::kernels::detail {
namespace {

Status badExpert(const char* op, int64_t a, int64_t e, int64_t experts) {
    return Status::invalid(std::string(op) + ": expertIdx[" + std::to_string(a) + "] = " + std::to_string(e) +
                           " must be -1 or in [0, " + std::to_string(experts) + ")");
}

Status badSlot(const char* op, int64_t a, int64_t s, int64_t rows) {
    return Status::invalid(std::string(op) + ": slotOf[" + std::to_string(a) + "] = " + std::to_string(s) +
                           " must be -1 or in [0, " + std::to_string(rows) + ")");
}

class ReferenceBackend final : public Backend {
public:
    BackendKind kind() const override { return BackendKind::Reference; }
    bool supports(Op) const override { return true; }
    std::string description() const override { return "single-threaded plain loops (the specification)"; }

protected:
    Status doGatingForward(const GatingForwardArgs& a) override {
        const int64_t E = a.p.experts, K = a.p.k;
        std::vector<float> select(static_cast<size_t>(E));
        std::vector<bool> taken(static_cast<size_t>(E));
        for (int64_t t = 0; t < a.p.tokens; ++t) {
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
                taken[static_cast<size_t>(e)] = false;
            }
            float denom = kRenormEps;
            for (int64_t j = 0; j < K; ++j) {
                int64_t best = -1;
                for (int64_t e = 0; e < E; ++e) {
                    if (taken[static_cast<size_t>(e)]) continue;
                    if (best < 0 || selectBefore(select[static_cast<size_t>(e)], select[static_cast<size_t>(best)]))
                        best = e;
                }
                taken[static_cast<size_t>(best)] = true;
                a.expertIdx[t * K + j] = best;
                a.gates[t * K + j] = s[best];
                denom += s[best];
            }
            if (a.p.renormalize)
                for (int64_t j = 0; j < K; ++j) a.gates[t * K + j] = a.gates[t * K + j] / denom;
        }
        return Status::ok();
    }

    Status doGatingBackward(const GatingBackwardArgs& a) override {
        const int64_t E = a.p.experts, K = a.p.k;
        std::vector<float> dS(static_cast<size_t>(E));
        for (int64_t t = 0; t < a.p.tokens; ++t) {
            const float* s = a.probs + t * E;
            for (int64_t e = 0; e < E; ++e) dS[static_cast<size_t>(e)] = a.dProbs ? a.dProbs[t * E + e] : 0.0f;
            const int64_t* idx = a.expertIdx + t * K;
            for (int64_t j = 0; j < K; ++j)
                if (idx[j] < 0 || idx[j] >= E)
                    return Status::invalid("gating backward: expertIdx[" + std::to_string(t * K + j) + "] = " +
                                           std::to_string(idx[j]) + " must be in [0, " + std::to_string(E) + ")");
            const float* g = a.gates + t * K;
            const float* dG = a.dGates + t * K;
            if (a.p.renormalize) {
                // D recomputed from the forward's probs, as the forward did.
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
                for (int64_t e = 0; e < E; ++e) dz[e] = s[e] * (dS[static_cast<size_t>(e)] - dot) / a.p.temperature;
            } else {
                for (int64_t e = 0; e < E; ++e)
                    dz[e] = dS[static_cast<size_t>(e)] * s[e] * (1.0f - s[e]) / a.p.temperature;
            }
        }
        return Status::ok();
    }

    Status doHistogram(const HistogramArgs& a) override {
        for (int64_t e = 0; e < a.experts; ++e) a.counts[e] = 0;
        for (int64_t i = 0; i < a.assignments; ++i) {
            const int64_t e = a.expertIdx[i];
            if (e < -1 || e >= a.experts) return badExpert("histogram", i, e, a.experts);
            if (e >= 0) ++a.counts[e];
        }
        return Status::ok();
    }

    Status doAssignSlots(const AssignSlotsArgs& a) override {
        const int64_t n = a.tokens * a.k;
        std::vector<std::vector<int64_t>> byExpert(static_cast<size_t>(a.experts));
        for (int64_t i = 0; i < n; ++i) {
            const int64_t e = a.expertIdx[i];
            if (e < -1 || e >= a.experts) return badExpert("assign slots", i, e, a.experts);
            if (e >= 0) byExpert[static_cast<size_t>(e)].push_back(i);
            a.slot[i] = -1;
            a.dropped[i] = e >= 0 ? 1 : 0;
        }
        for (int64_t e = 0; e < a.experts; ++e) {
            std::vector<int64_t> list = byExpert[static_cast<size_t>(e)];  // token order
            if (a.capacity >= 0 && static_cast<int64_t>(list.size()) > a.capacity) {
                if (a.policy == DropPolicy::Probs)
                    std::stable_sort(list.begin(), list.end(), [&](int64_t x, int64_t y) {
                        return dropKey(a.gates[x]) > dropKey(a.gates[y]);
                    });
                list.resize(static_cast<size_t>(a.capacity));
            }
            for (int64_t i : list) a.dropped[i] = 0;
            int64_t next = 0;
            for (int64_t i : byExpert[static_cast<size_t>(e)])
                if (!a.dropped[i]) a.slot[i] = next++;
            a.kept[e] = next;
        }
        return Status::ok();
    }

    Status doBuildDispatch(const BuildDispatchArgs& a) override {
        const int64_t n = a.tokens * a.k;
        std::vector<int64_t> fill(static_cast<size_t>(a.experts), 0);
        for (int64_t i = 0; i < n; ++i) {
            const int64_t e = a.expertIdx[i];
            if (e < -1 || e >= a.experts) return badExpert("build dispatch", i, e, a.experts);
            if (e >= 0) ++fill[static_cast<size_t>(e)];
        }
        a.offsets[0] = 0;
        for (int64_t e = 0; e < a.experts; ++e) {
            a.offsets[e + 1] = a.offsets[e] + fill[static_cast<size_t>(e)];
            fill[static_cast<size_t>(e)] = a.offsets[e];
        }
        for (int64_t i = 0; i < n; ++i) {
            const int64_t e = a.expertIdx[i];
            if (e < 0) {
                a.slotOf[i] = -1;
                continue;
            }
            const int64_t r = fill[static_cast<size_t>(e)]++;
            a.slotOf[i] = r;
            a.rowToken[r] = i / a.k;
            a.rowAssign[r] = i;
        }
        return Status::ok();
    }

    Status doPermute(const PermuteArgs& a) override {
        for (int64_t r = 0; r < a.rows; ++r) {
            const int64_t t = a.rowToken[r];
            if (t < 0 || t >= a.tokens)
                return Status::invalid("permute: rowToken[" + std::to_string(r) + "] = " + std::to_string(t) +
                                       " must be in [0, " + std::to_string(a.tokens) + ")");
            for (int64_t i = 0; i < a.dim; ++i) a.out[r * a.dim + i] = a.x[t * a.dim + i];
        }
        return Status::ok();
    }

    Status doPermuteBackward(const PermuteBackwardArgs& a) override {
        for (int64_t t = 0; t < a.tokens; ++t) {
            for (int64_t i = 0; i < a.dim; ++i) a.dX[t * a.dim + i] = 0.0f;
            for (int64_t j = 0; j < a.k; ++j) {
                const int64_t r = a.slotOf[t * a.k + j];
                if (r < -1 || r >= a.rows) return badSlot("permute backward", t * a.k + j, r, a.rows);
                if (r < 0) continue;
                for (int64_t i = 0; i < a.dim; ++i) a.dX[t * a.dim + i] += a.dTokens[r * a.dim + i];
            }
        }
        return Status::ok();
    }

    Status doUnpermuteCombine(const UnpermuteCombineArgs& a) override {
        for (int64_t t = 0; t < a.tokens; ++t) {
            for (int64_t i = 0; i < a.dim; ++i) a.out[t * a.dim + i] = 0.0f;
            for (int64_t j = 0; j < a.k; ++j) {
                const int64_t r = a.slotOf[t * a.k + j];
                if (r < -1 || r >= a.rows) return badSlot("unpermute combine", t * a.k + j, r, a.rows);
                if (r < 0) continue;
                const float g = a.gates[t * a.k + j];
                for (int64_t i = 0; i < a.dim; ++i) a.out[t * a.dim + i] += g * a.y[r * a.dim + i];
            }
        }
        return Status::ok();
    }

    Status doUnpermuteCombineBackward(const UnpermuteCombineBackwardArgs& a) override {
        if (a.dY) {
            // Without the maps, invert slotOf (as BuildDispatch would have produced them).
            std::vector<int64_t> ownToken, ownAssign;
            const int64_t* rowToken = a.rowToken;
            const int64_t* rowAssign = a.rowAssign;
            if (!rowToken) {
                ownToken.assign(static_cast<size_t>(a.rows), -1);
                ownAssign.assign(static_cast<size_t>(a.rows), -1);
                for (int64_t i = 0; i < a.tokens * a.k; ++i) {
                    const int64_t r = a.slotOf[i];
                    if (r < -1 || r >= a.rows) return badSlot("unpermute combine backward", i, r, a.rows);
                    if (r < 0) continue;
                    ownToken[static_cast<size_t>(r)] = i / a.k;
                    ownAssign[static_cast<size_t>(r)] = i;
                }
                rowToken = ownToken.data();
                rowAssign = ownAssign.data();
            }
            for (int64_t r = 0; r < a.rows; ++r) {
                const int64_t t = rowToken[r], asg = rowAssign[r];
                if (t < 0 || t >= a.tokens || asg < 0 || asg >= a.tokens * a.k)
                    return Status::invalid("unpermute combine backward: row " + std::to_string(r) +
                                           " has rowToken/rowAssign out of range (is every row in slotOf?)");
                for (int64_t i = 0; i < a.dim; ++i) a.dY[r * a.dim + i] = a.gates[asg] * a.dOut[t * a.dim + i];
            }
        }
        if (a.dGates) {
            for (int64_t t = 0; t < a.tokens; ++t) {
                for (int64_t j = 0; j < a.k; ++j) {
                    const int64_t r = a.slotOf[t * a.k + j];
                    if (r < -1 || r >= a.rows) return badSlot("unpermute combine backward", t * a.k + j, r, a.rows);
                    float dot = 0.0f;
                    if (r >= 0)
                        for (int64_t i = 0; i < a.dim; ++i) dot += a.dOut[t * a.dim + i] * a.y[r * a.dim + i];
                    a.dGates[t * a.k + j] = dot;
                }
            }
        }
        return Status::ok();
    }
};

}  // namespace

std::unique_ptr<Backend> makeReferenceBackend() { return std::make_unique<ReferenceBackend>(); }

}  // namespace moe::kernels::detail
