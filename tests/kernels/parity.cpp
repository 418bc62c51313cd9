#include "parity.h"

#include <algorithm>
#include <sstream>

namespace moe::kernels::test {
namespace {

std::vector<float> makeLogits(const Case& c, std::mt19937& rng) {
    std::vector<float> z(static_cast<size_t>(c.T * c.E));
    std::uniform_int_distribution<int> grid(-32, 32);
    std::uniform_int_distribution<int> bit(0, 1);
    for (int64_t t = 0; t < c.T; ++t)
        for (int64_t e = 0; e < c.E; ++e) {
            float v = 0.0f;
            switch (c.pattern) {
            case LogitPattern::Random: v = static_cast<float>(grid(rng)) / 8.0f; break;
            case LogitPattern::AllToOne: v = e == 0 ? 9.0f : static_cast<float>(grid(rng)) / 8.0f; break;
            case LogitPattern::AllTies: v = 0.5f; break;
            case LogitPattern::SomeTies: v = static_cast<float>(bit(rng)); break;
            case LogitPattern::EmptyExperts:
                v = e >= (c.E + 1) / 2 ? -12.0f : static_cast<float>(grid(rng)) / 8.0f;
                break;
            case LogitPattern::Extreme: v = bit(rng) ? 80.0f : -80.0f; break;
            }
            z[static_cast<size_t>(t * c.E + e)] = v;
        }
    return z;
}

std::vector<float> randomFloats(size_t n, std::mt19937& rng) {
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> v(n);
    for (auto& x : v) x = u(rng);
    return v;
}

struct Report {
    std::vector<std::string> failures;
    void fail(const std::string& op, const std::string& what) { failures.push_back(op + ": " + what); }
    void check(const std::string& op, const Status& s) {
        if (!s) fail(op, "returned " + s.message);
    }
};

template <class T>
void exact(Report& r, const std::string& op, const char* field, const std::vector<T>& want, const std::vector<T>& got,
           size_t n) {
    for (size_t i = 0; i < n; ++i)
        if (want[i] != got[i]) {
            std::ostringstream os;
            os << field << "[" << i << "] = " << +got[i] << ", reference " << +want[i];
            r.fail(op, os.str());
            return;
        }
}

// |got - want| <= abs + rel * scale[i] (scale defaults to |want|); NaN in got where want is finite fails.
void close(Report& r, const std::string& op, const char* field, const std::vector<float>& want,
           const std::vector<float>& got, float abs, float rel, const std::vector<float>* scale = nullptr,
           const std::vector<uint8_t>* skip = nullptr) {
    for (size_t i = 0; i < want.size(); ++i) {
        if (skip && (*skip)[i]) continue;
        const float s = scale ? (*scale)[i] : std::fabs(want[i]);
        const bool ok = std::isfinite(want[i]) ? std::isfinite(got[i]) && std::fabs(got[i] - want[i]) <= abs + rel * s
                                               : std::isnan(want[i]) == std::isnan(got[i]);
        if (!ok) {
            std::ostringstream os;
            os.precision(9);
            os << field << "[" << i << "] = " << got[i] << ", reference " << want[i];
            r.fail(op, os.str());
            return;
        }
    }
}

}  // namespace

std::vector<Case> standardCases() {
    std::vector<Case> cs;
    auto add = [&](Case c) { cs.push_back(std::move(c)); };
    add({"random softmax k2"});
    add({"random sigmoid k2 no renorm", 64, 8, 2, 16, ScoreFn::Sigmoid, 1.0f, false});
    add({"random temperature 0.5 + bias", 64, 8, 2, 16, ScoreFn::Softmax, 0.5f, true, true});
    add({"sigmoid + bias (aux-free)", 64, 8, 4, 8, ScoreFn::Sigmoid, 2.0f, true, true});
    add({"top-1", 50, 16, 1, 8});
    add({"k = experts", 32, 4, 4, 8});
    add({"one expert", 16, 1, 1, 8});
    add({"all tokens to one expert", 64, 8, 2, 16, ScoreFn::Softmax, 1.0f, true, false, -1, DropPolicy::Probs,
         LogitPattern::AllToOne});
    add({"all ties", 40, 8, 3, 8, ScoreFn::Softmax, 1.0f, true, false, -1, DropPolicy::Probs, LogitPattern::AllTies});
    add({"some ties sigmoid", 40, 6, 2, 8, ScoreFn::Sigmoid, 1.0f, true, false, -1, DropPolicy::Probs,
         LogitPattern::SomeTies});
    add({"empty experts", 64, 8, 2, 16, ScoreFn::Softmax, 1.0f, true, false, -1, DropPolicy::Probs,
         LogitPattern::EmptyExperts});
    add({"extreme logits", 32, 8, 2, 8, ScoreFn::Sigmoid, 1.0f, true, false, -1, DropPolicy::Probs,
         LogitPattern::Extreme});
    add({"capacity 0 probs", 32, 8, 2, 8, ScoreFn::Softmax, 1.0f, true, false, 0, DropPolicy::Probs});
    add({"capacity 0 position", 32, 8, 2, 8, ScoreFn::Softmax, 1.0f, true, false, 0, DropPolicy::Position});
    add({"overflow probs", 96, 8, 2, 12, ScoreFn::Softmax, 1.0f, true, false, 5, DropPolicy::Probs});
    add({"overflow position", 96, 8, 2, 12, ScoreFn::Softmax, 1.0f, true, false, 5, DropPolicy::Position});
    add({"one expert overflows, probs ties", 48, 8, 2, 8, ScoreFn::Softmax, 1.0f, true, false, 7, DropPolicy::Probs,
         LogitPattern::AllToOne});
    add({"all ties, position, capacity 3", 40, 8, 3, 8, ScoreFn::Softmax, 1.0f, true, false, 3, DropPolicy::Position,
         LogitPattern::AllTies});
    add({"no tokens", 0, 8, 2, 16});
    add({"dim 1", 20, 4, 2, 1});
    add({"odd dim 37", 33, 5, 2, 37});
    // Large enough that the fast CPU backend takes its multi-threaded paths.
    add({"large (parallel paths)", 3000, 8, 2, 64, ScoreFn::Softmax, 1.0f, true, false, 800, DropPolicy::Probs});
    add({"large position", 3000, 16, 4, 24, ScoreFn::Sigmoid, 1.0f, true, true, 700, DropPolicy::Position});
    return cs;
}

std::vector<std::string> checkParity(Backend& cand, const Case& c) {
    Report rep;
    Backend& ref = referenceBackend();
    std::mt19937 rng(c.seed * 7919u + static_cast<uint32_t>(c.T * 131 + c.E * 17 + c.k));
    const size_t T = static_cast<size_t>(c.T), E = static_cast<size_t>(c.E), K = static_cast<size_t>(c.k),
                 D = static_cast<size_t>(c.d), TK = T * K;
    const GatingParams p{c.T, c.E, c.k, c.score, c.temperature, c.renormalize};

    // ---- gating forward ----
    const std::vector<float> logits = makeLogits(c, rng);
    std::vector<float> bias;
    if (c.bias) {
        bias = randomFloats(E, rng);
        for (auto& b : bias) b *= 0.1f;
    }
    std::vector<float> probs(T * E), gates(TK);
    std::vector<int64_t> idx(TK);
    rep.check("gating forward (reference)",
              ref.gatingForward({p, logits.data(), c.bias ? bias.data() : nullptr, probs.data(), idx.data(), gates.data()}));
    {
        Buf<float> bl(cand, logits), bb(cand, c.bias ? bias : std::vector<float>{}), bp(cand, T * E, 0.0f),
            bg(cand, TK, 0.0f);
        Buf<int64_t> bi(cand, TK, -7);
        rep.check("gating forward", cand.gatingForward({p, bl.get(), c.bias ? bb.get() : nullptr, bp.get(), bi.get(), bg.get()}));
        cand.synchronize();
        close(rep, "gating forward", "probs", probs, bp.host(), 2e-6f, 1e-5f);
        const auto gi = bi.host();
        const auto gg = bg.host();
        std::vector<uint8_t> skip(TK, 0);
        size_t nearTies = 0;
        for (size_t t = 0; t < T; ++t) {
            bool same = true;
            for (size_t j = 0; j < K; ++j) same &= gi[t * K + j] == idx[t * K + j];
            if (same) continue;
            // Accept only a swap between choices whose selection scores are within 1e-5.
            bool nearTie = true;
            for (size_t j = 0; j < K && nearTie; ++j) {
                const int64_t a = gi[t * K + j], b = idx[t * K + j];
                if (a < 0 || a >= c.E) {
                    nearTie = false;
                    break;
                }
                const float va = probs[t * E + static_cast<size_t>(a)] + (c.bias ? bias[static_cast<size_t>(a)] : 0.0f);
                const float vb = probs[t * E + static_cast<size_t>(b)] + (c.bias ? bias[static_cast<size_t>(b)] : 0.0f);
                nearTie = std::fabs(va - vb) < 1e-5f;
            }
            if (!nearTie) {
                exact(rep, "gating forward", "expertIdx", std::vector<int64_t>(idx.begin() + static_cast<long>(t * K), idx.begin() + static_cast<long>(t * K + K)),
                      std::vector<int64_t>(gi.begin() + static_cast<long>(t * K), gi.begin() + static_cast<long>(t * K + K)), K);
                rep.failures.back() += " (token " + std::to_string(t) + ")";
                break;
            }
            ++nearTies;
            for (size_t j = 0; j < K; ++j) skip[t * K + j] = 1;
        }
        if (nearTies * 100 > T) rep.fail("gating forward", std::to_string(nearTies) + " near-tie flips (over 1 %)");
        close(rep, "gating forward", "gates", gates, gg, 2e-6f, 1e-5f, nullptr, &skip);
    }

    // ---- gating backward (on the reference's forward outputs) ----
    {
        const std::vector<float> dG = randomFloats(TK, rng), dP = randomFloats(T * E, rng);
        for (bool withProbs : {false, true}) {
            std::vector<float> want(T * E);
            rep.check("gating backward (reference)",
                      ref.gatingBackward({p, probs.data(), idx.data(), gates.data(), dG.data(),
                                          withProbs ? dP.data() : nullptr, want.data()}));
            Buf<float> bp(cand, probs), bg(cand, gates), bdg(cand, dG), bdp(cand, dP), out(cand, T * E, 0.0f);
            Buf<int64_t> bi(cand, idx);
            rep.check("gating backward", cand.gatingBackward({p, bp.get(), bi.get(), bg.get(), bdg.get(),
                                                              withProbs ? bdp.get() : nullptr, out.get()}));
            cand.synchronize();
            close(rep, withProbs ? "gating backward (dProbs)" : "gating backward", "dLogits", want, out.host(), 2e-6f, 1e-5f);
        }
    }

    // ---- histogram ----
    {
        std::vector<int64_t> want(E);
        rep.check("histogram (reference)", ref.histogram({c.T * c.k, c.E, idx.data(), want.data()}));
        Buf<int64_t> bi(cand, idx), out(cand, E, -7);
        rep.check("histogram", cand.histogram({c.T * c.k, c.E, bi.get(), out.get()}));
        cand.synchronize();
        exact(rep, "histogram", "counts", want, out.host(), E);
    }

    // ---- assign slots ----
    std::vector<int64_t> slot(TK), kept(E), masked(idx);
    std::vector<uint8_t> dropped(TK);
    {
        const AssignSlotsArgs base{c.T, c.k, c.E, c.capacity, c.policy};
        AssignSlotsArgs a = base;
        a.expertIdx = idx.data();
        a.gates = gates.data();
        a.slot = slot.data();
        a.dropped = dropped.data();
        a.kept = kept.data();
        rep.check("assign slots (reference)", ref.assignSlots(a));
        Buf<int64_t> bi(cand, idx), bs(cand, TK, -7), bk(cand, E, -7);
        Buf<float> bg(cand, gates);
        Buf<uint8_t> bd(cand, TK, 7);
        AssignSlotsArgs b = base;
        b.expertIdx = bi.get();
        b.gates = bg.get();
        b.slot = bs.get();
        b.dropped = bd.get();
        b.kept = bk.get();
        rep.check("assign slots", cand.assignSlots(b));
        cand.synchronize();
        exact(rep, "assign slots", "slot", slot, bs.host(), TK);
        exact(rep, "assign slots", "dropped", dropped, bd.host(), TK);
        exact(rep, "assign slots", "kept", kept, bk.host(), E);
        for (size_t i = 0; i < TK; ++i)
            if (dropped[i]) masked[i] = -1;
    }

    // ---- build dispatch (dropped assignments as -1) ----
    std::vector<int64_t> offsets(E + 1), slotOf(TK), rowToken(TK), rowAssign(TK);
    rep.check("build dispatch (reference)", ref.buildDispatch({c.T, c.k, c.E, masked.data(), offsets.data(),
                                                               slotOf.data(), rowToken.data(), rowAssign.data()}));
    const int64_t S = offsets[E];
    const size_t SZ = static_cast<size_t>(S);
    {
        Buf<int64_t> bi(cand, masked), bo(cand, E + 1, -7), bs(cand, TK, -7), brt(cand, TK, -7), bra(cand, TK, -7);
        rep.check("build dispatch", cand.buildDispatch({c.T, c.k, c.E, bi.get(), bo.get(), bs.get(), brt.get(), bra.get()}));
        cand.synchronize();
        exact(rep, "build dispatch", "offsets", offsets, bo.host(), E + 1);
        exact(rep, "build dispatch", "slotOf", slotOf, bs.host(), TK);
        exact(rep, "build dispatch", "rowToken", rowToken, brt.host(), SZ);
        exact(rep, "build dispatch", "rowAssign", rowAssign, bra.host(), SZ);
    }

    // ---- permute and its backward ----
    {
        const std::vector<float> x = randomFloats(T * D, rng);
        std::vector<float> want(SZ * D);
        rep.check("permute (reference)", ref.permute({c.T, S, c.d, x.data(), rowToken.data(), want.data()}));
        Buf<float> bx(cand, x), out(cand, SZ * D, 0.0f);
        Buf<int64_t> brt(cand, rowToken);
        rep.check("permute", cand.permute({c.T, S, c.d, bx.get(), brt.get(), out.get()}));
        cand.synchronize();
        exact(rep, "permute", "tokens", want, out.host(), SZ * D);

        const std::vector<float> dT = randomFloats(SZ * D, rng);
        std::vector<float> wantDx(T * D), scale(T * D, 0.0f);
        rep.check("permute backward (reference)",
                  ref.permuteBackward({c.T, c.k, S, c.d, dT.data(), slotOf.data(), wantDx.data()}));
        for (size_t t = 0; t < T; ++t)
            for (size_t j = 0; j < K; ++j)
                if (slotOf[t * K + j] >= 0)
                    for (size_t i = 0; i < D; ++i) scale[t * D + i] += std::fabs(dT[static_cast<size_t>(slotOf[t * K + j]) * D + i]);
        Buf<float> bdt(cand, dT), bdx(cand, T * D, 7.0f);
        Buf<int64_t> bso(cand, slotOf);
        rep.check("permute backward", cand.permuteBackward({c.T, c.k, S, c.d, bdt.get(), bso.get(), bdx.get()}));
        cand.synchronize();
        close(rep, "permute backward", "dX", wantDx, bdx.host(), 0.0f, 1e-6f, &scale);
    }

    // ---- unpermute-combine and its backward ----
    {
        const std::vector<float> y = randomFloats(SZ * D, rng), g = randomFloats(TK, rng);
        std::vector<float> want(T * D), scale(T * D, 0.0f);
        rep.check("unpermute combine (reference)", ref.unpermuteCombine({c.T, c.k, S, c.d, y.data(), slotOf.data(), g.data(), want.data()}));
        for (size_t t = 0; t < T; ++t)
            for (size_t j = 0; j < K; ++j)
                if (slotOf[t * K + j] >= 0)
                    for (size_t i = 0; i < D; ++i)
                        scale[t * D + i] += std::fabs(g[t * K + j] * y[static_cast<size_t>(slotOf[t * K + j]) * D + i]);
        Buf<float> by(cand, y), bg(cand, g), out(cand, T * D, 7.0f);
        Buf<int64_t> bso(cand, slotOf);
        rep.check("unpermute combine", cand.unpermuteCombine({c.T, c.k, S, c.d, by.get(), bso.get(), bg.get(), out.get()}));
        cand.synchronize();
        close(rep, "unpermute combine", "out", want, out.host(), 0.0f, 1e-6f, &scale);

        const std::vector<float> dO = randomFloats(T * D, rng);
        std::vector<float> wantDy(SZ * D), wantDg(TK), dgScale(TK, 0.0f);
        rep.check("unpermute combine backward (reference)",
                  ref.unpermuteCombineBackward({c.T, c.k, S, c.d, dO.data(), y.data(), slotOf.data(), rowToken.data(),
                                                rowAssign.data(), g.data(), wantDy.data(), wantDg.data()}));
        for (size_t a = 0; a < TK; ++a)
            if (slotOf[a] >= 0)
                for (size_t i = 0; i < D; ++i)
                    dgScale[a] += std::fabs(dO[(a / K) * D + i] * y[static_cast<size_t>(slotOf[a]) * D + i]);
        Buf<float> bdo(cand, dO), bdy(cand, SZ * D, 7.0f), bdg(cand, TK, 7.0f);
        Buf<int64_t> brt(cand, rowToken), bra(cand, rowAssign);
        rep.check("unpermute combine backward",
                  cand.unpermuteCombineBackward({c.T, c.k, S, c.d, bdo.get(), by.get(), bso.get(), brt.get(), bra.get(),
                                                 bg.get(), bdy.get(), bdg.get()}));
        cand.synchronize();
        close(rep, "unpermute combine backward", "dY", wantDy, bdy.host(), 0.0f, 1e-6f);
        close(rep, "unpermute combine backward", "dGates", wantDg, bdg.host(), 1e-6f, 1e-5f, &dgScale);
    }
    return rep.failures;
}

}  // namespace moe::kernels::test
