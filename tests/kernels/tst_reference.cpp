// The CPU reference is the specification: golden values worked out by hand, a finite-difference
// check of the gating backward, argument validation and the registry.
#include <QtTest/QtTest>

#include <cmath>
#include <random>

#include "moe/kernels/backend.h"

using namespace moe::kernels;

namespace {

Backend& ref() { return referenceBackend(); }

// Loss used for the finite-difference check: L = sum wG * gates + sum wP * probs.
double gatingLoss(const GatingParams& p, const std::vector<float>& logits, const std::vector<float>& wG,
                  const std::vector<float>& wP, std::vector<int64_t>* idxOut = nullptr) {
    std::vector<float> probs(static_cast<size_t>(p.tokens * p.experts)), gates(static_cast<size_t>(p.tokens * p.k));
    std::vector<int64_t> idx(gates.size());
    ref().gatingForward({p, logits.data(), nullptr, probs.data(), idx.data(), gates.data()});
    if (idxOut) *idxOut = idx;
    double l = 0.0;
    for (size_t i = 0; i < gates.size(); ++i) l += static_cast<double>(wG[i]) * gates[i];
    for (size_t i = 0; i < probs.size(); ++i) l += static_cast<double>(wP[i]) * probs[i];
    return l;
}

}  // namespace

class TstReference : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void gatingGolden() {
        // softmax([1, 2, 3, 0]), top-2 = experts 2, 1; renormalised gates e^3/(e^3+e^2), e^2/(e^3+e^2).
        const std::vector<float> logits{1, 2, 3, 0};
        std::vector<float> probs(4), gates(2);
        std::vector<int64_t> idx(2);
        QVERIFY(ref().gatingForward({{1, 4, 2}, logits.data(), nullptr, probs.data(), idx.data(), gates.data()}));
        QCOMPARE(idx, (std::vector<int64_t>{2, 1}));
        QVERIFY(std::fabs(gates[0] - 0.7310586f) < 1e-6f);
        QVERIFY(std::fabs(gates[1] - 0.2689414f) < 1e-6f);
        const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0) + 1.0;
        QVERIFY(std::fabs(probs[3] - 1.0 / z) < 1e-7);
    }

    void gatingTiesGoToLowerExpert() {
        const std::vector<float> logits{0, 0, 0, 0, 5, 5, 1, 5};
        std::vector<float> probs(8), gates(4);
        std::vector<int64_t> idx(4);
        QVERIFY(ref().gatingForward({{2, 4, 2}, logits.data(), nullptr, probs.data(), idx.data(), gates.data()}));
        QCOMPARE(idx, (std::vector<int64_t>{0, 1, 0, 1}));
        QCOMPARE(gates[0], 0.5f);
        QCOMPARE(gates[3], 0.5f);
    }

    void biasSteersSelectionOnly() {
        // sigmoid(0) = 0.5 for all; bias picks expert 1, the gate stays the unbiased score.
        const std::vector<float> logits{0, 0, 0}, bias{0.0f, 0.5f, 0.2f};
        std::vector<float> probs(3), gates(1);
        std::vector<int64_t> idx(1);
        GatingParams p{1, 3, 1, ScoreFn::Sigmoid, 1.0f, false};
        QVERIFY(ref().gatingForward({p, logits.data(), bias.data(), probs.data(), idx.data(), gates.data()}));
        QCOMPARE(idx[0], int64_t{1});
        QCOMPARE(gates[0], 0.5f);
    }

    void temperatureSharpens() {
        const std::vector<float> logits{1, 0};
        std::vector<float> p1(2), p2(2), g(1);
        std::vector<int64_t> idx(1);
        QVERIFY(ref().gatingForward({{1, 2, 1, ScoreFn::Softmax, 1.0f, false}, logits.data(), nullptr, p1.data(), idx.data(), g.data()}));
        QVERIFY(ref().gatingForward({{1, 2, 1, ScoreFn::Softmax, 0.5f, false}, logits.data(), nullptr, p2.data(), idx.data(), g.data()}));
        QVERIFY(std::fabs(p2[0] - 1.0f / (1.0f + std::exp(-2.0f))) < 1e-6f);
        QVERIFY(p2[0] > p1[0]);
    }

    void gatingBackwardMatchesFiniteDifferences_data() {
        QTest::addColumn<int>("score");
        QTest::addColumn<bool>("renormalize");
        QTest::addColumn<float>("temperature");
        QTest::newRow("softmax renorm") << 0 << true << 1.0f;
        QTest::newRow("softmax plain T=0.7") << 0 << false << 0.7f;
        QTest::newRow("sigmoid renorm T=2") << 1 << true << 2.0f;
        QTest::newRow("sigmoid plain") << 1 << false << 1.0f;
    }
    void gatingBackwardMatchesFiniteDifferences() {
        QFETCH(int, score);
        QFETCH(bool, renormalize);
        QFETCH(float, temperature);
        const GatingParams p{3, 5, 2, static_cast<ScoreFn>(score), temperature, renormalize};
        std::mt19937 rng(5);
        std::uniform_real_distribution<float> u(-1.0f, 1.0f);
        std::vector<float> logits(15), wG(6), wP(15);
        for (size_t i = 0; i < logits.size(); ++i) logits[i] = static_cast<float>(i % 5) * 0.6f + 0.1f * u(rng);
        for (auto& w : wG) w = u(rng);
        for (auto& w : wP) w = u(rng);
        std::vector<float> probs(15), gates(6), dLogits(15);
        std::vector<int64_t> idx(6);
        QVERIFY(ref().gatingForward({p, logits.data(), nullptr, probs.data(), idx.data(), gates.data()}));
        QVERIFY(ref().gatingBackward({p, probs.data(), idx.data(), gates.data(), wG.data(), wP.data(), dLogits.data()}));
        // Central differences in float with h = 1e-2: error ~h^2 plus rounding, well under 2e-3.
        const float h = 1e-2f;
        for (size_t i = 0; i < logits.size(); ++i) {
            auto lp = logits, lm = logits;
            lp[i] += h;
            lm[i] -= h;
            std::vector<int64_t> ip, im;
            const double fd = (gatingLoss(p, lp, wG, wP, &ip) - gatingLoss(p, lm, wG, wP, &im)) / (2.0 * h);
            QCOMPARE(ip, idx);  // the selection must not move inside the difference stencil
            QCOMPARE(im, idx);
            QVERIFY2(std::fabs(fd - dLogits[i]) < 2e-3, qPrintable(QString("dLogits[%1] = %2, finite difference %3")
                                                                    .arg(i).arg(dLogits[i]).arg(fd)));
        }
    }

    void assignSlotsGolden_data() {
        QTest::addColumn<int>("policy");
        QTest::addColumn<std::vector<int64_t>>("slot");
        QTest::addColumn<std::vector<uint8_t>>("dropped");
        // expert 0: a0 (.6) a2 (.7) a4 (.9) a7 (.2); expert 1: a1 (.4) a5 (.1) a6 (.8); expert 2: a3 (.3)
        QTest::newRow("position") << static_cast<int>(DropPolicy::Position)
                                  << std::vector<int64_t>{0, 0, 1, 0, -1, 1, -1, -1}
                                  << std::vector<uint8_t>{0, 0, 0, 0, 1, 0, 1, 1};
        QTest::newRow("probs") << static_cast<int>(DropPolicy::Probs) << std::vector<int64_t>{-1, 0, 0, 0, 1, -1, 1, -1}
                               << std::vector<uint8_t>{1, 0, 0, 0, 0, 1, 0, 1};
    }
    void assignSlotsGolden() {
        QFETCH(int, policy);
        QFETCH(std::vector<int64_t>, slot);
        QFETCH(std::vector<uint8_t>, dropped);
        const std::vector<int64_t> idx{0, 1, 0, 2, 0, 1, 1, 0};
        const std::vector<float> gates{.6f, .4f, .7f, .3f, .9f, .1f, .8f, .2f};
        std::vector<int64_t> gotSlot(8), kept(3);
        std::vector<uint8_t> gotDropped(8);
        QVERIFY(ref().assignSlots({4, 2, 3, 2, static_cast<DropPolicy>(policy), idx.data(), gates.data(), gotSlot.data(),
                                   gotDropped.data(), kept.data()}));
        QCOMPARE(gotSlot, slot);
        QCOMPARE(gotDropped, dropped);
        QCOMPARE(kept, (std::vector<int64_t>{2, 2, 1}));
    }

    void assignSlotsEdges() {
        const std::vector<int64_t> idx{0, -1, 0, 1};
        const std::vector<float> gates{.5f, .5f, .5f, .5f};
        std::vector<int64_t> slot(4), kept(2);
        std::vector<uint8_t> dropped(4);
        // Capacity 0 drops every routed assignment; -1 entries are not "dropped" (never routed).
        QVERIFY(ref().assignSlots({2, 2, 2, 0, DropPolicy::Probs, idx.data(), gates.data(), slot.data(), dropped.data(), kept.data()}));
        QCOMPARE(dropped, (std::vector<uint8_t>{1, 0, 1, 1}));
        QCOMPARE(slot, (std::vector<int64_t>{-1, -1, -1, -1}));
        QCOMPARE(kept, (std::vector<int64_t>{0, 0}));
        // Unlimited; equal gates under Probs with capacity 1 keep the earlier token.
        QVERIFY(ref().assignSlots({2, 2, 2, -1, DropPolicy::Probs, idx.data(), gates.data(), slot.data(), dropped.data(), kept.data()}));
        QCOMPARE(slot, (std::vector<int64_t>{0, -1, 1, 0}));
        QVERIFY(ref().assignSlots({2, 2, 2, 1, DropPolicy::Probs, idx.data(), gates.data(), slot.data(), dropped.data(), kept.data()}));
        QCOMPARE(dropped, (std::vector<uint8_t>{0, 0, 1, 0}));
        QCOMPARE(capacityFor(1.25, 100, 2, 8), int64_t{32});
        QCOMPARE(capacityFor(1.0, 0, 2, 8), int64_t{0});
    }

    void dispatchPermuteCombineGolden() {
        const std::vector<int64_t> idx{1, 0, 1, -1, 0, 2};  // T = 3, k = 2, E = 3
        std::vector<int64_t> offsets(4), slotOf(6), rowToken(6), rowAssign(6);
        QVERIFY(ref().buildDispatch({3, 2, 3, idx.data(), offsets.data(), slotOf.data(), rowToken.data(), rowAssign.data()}));
        QCOMPARE(offsets, (std::vector<int64_t>{0, 2, 4, 5}));
        QCOMPARE(slotOf, (std::vector<int64_t>{2, 0, 3, -1, 1, 4}));
        rowToken.resize(5);
        rowAssign.resize(5);
        QCOMPARE(rowToken, (std::vector<int64_t>{0, 2, 0, 1, 2}));
        QCOMPARE(rowAssign, (std::vector<int64_t>{1, 4, 0, 2, 5}));

        const std::vector<float> x{1, 10, 2, 20, 3, 30};  // d = 2
        std::vector<float> tokens(10);
        QVERIFY(ref().permute({3, 5, 2, x.data(), rowToken.data(), tokens.data()}));
        QCOMPARE(tokens, (std::vector<float>{1, 10, 3, 30, 1, 10, 2, 20, 3, 30}));

        std::vector<float> dX(6);
        QVERIFY(ref().permuteBackward({3, 2, 5, 2, tokens.data(), slotOf.data(), dX.data()}));
        QCOMPARE(dX, (std::vector<float>{2, 20, 2, 20, 6, 60}));

        const std::vector<float> gates{0.25f, 0.75f, 1.0f, 9.0f, 0.5f, 0.5f};
        std::vector<float> out(6);
        QVERIFY(ref().unpermuteCombine({3, 2, 5, 2, tokens.data(), slotOf.data(), gates.data(), out.data()}));
        QCOMPARE(out, (std::vector<float>{1, 10, 2, 20, 3, 30}));  // gates sum to 1 over kept choices

        const std::vector<float> dOut{1, 0, 0, 1, 1, 1};
        std::vector<float> dY(10), dG(6);
        QVERIFY(ref().unpermuteCombineBackward({3, 2, 5, 2, dOut.data(), tokens.data(), slotOf.data(), rowToken.data(),
                                                rowAssign.data(), gates.data(), dY.data(), dG.data()}));
        QCOMPARE(dG, (std::vector<float>{1, 1, 20, 0, 33, 33}));
        QCOMPARE(dY, (std::vector<float>{0.75f, 0, 0.5f, 0.5f, 0.25f, 0, 0, 1, 0.5f, 0.5f}));
    }

    void histogramGolden() {
        const std::vector<int64_t> idx{2, 0, -1, 2, 2, 1};
        std::vector<int64_t> counts(4, 99);
        QVERIFY(ref().histogram({6, 4, idx.data(), counts.data()}));
        QCOMPARE(counts, (std::vector<int64_t>{1, 1, 3, 0}));
    }

    void invalidArgumentsAreNamed() {
        std::vector<float> logits(8), probs(8), gates(8);
        std::vector<int64_t> idx(8);
        Status s = ref().gatingForward({{2, 4, 5}, logits.data(), nullptr, probs.data(), idx.data(), gates.data()});
        QVERIFY(s.code == Status::Code::InvalidArgument);
        QVERIFY2(s.message.find("k = 5 must be in [1, experts = 4]") != std::string::npos, s.message.c_str());
        s = ref().gatingForward({{2, 4, 2, ScoreFn::Softmax, 0.0f}, logits.data(), nullptr, probs.data(), idx.data(), gates.data()});
        QVERIFY2(s.message.find("temperature") != std::string::npos, s.message.c_str());
        s = ref().gatingForward({{2, 4, 2}, nullptr, nullptr, probs.data(), idx.data(), gates.data()});
        QVERIFY2(s.message.find("logits is null") != std::string::npos, s.message.c_str());
        const std::vector<int64_t> bad{0, 3, -2};
        std::vector<int64_t> counts(3);
        s = ref().histogram({3, 3, bad.data(), counts.data()});
        QVERIFY(s.code == Status::Code::InvalidArgument);
        QVERIFY2(s.message.find("expertIdx[1] = 3") != std::string::npos, s.message.c_str());
        s = ref().histogram({3, 0, bad.data(), counts.data()});
        QVERIFY2(s.message.find("experts = 0") != std::string::npos, s.message.c_str());
    }

    void registryListsBackends() {
        const auto& all = availableBackends();
        QVERIFY(all.size() >= 2);
        QVERIFY(all[0]->kind() == BackendKind::Reference);
        QVERIFY(all[1]->kind() == BackendKind::CpuFast);
        for (Op op : kAllOps) QVERIFY(referenceBackend().supports(op));
        if (!backend(BackendKind::Cuda)) QVERIFY(!unavailableReason(BackendKind::Cuda).empty());
        QVERIFY(unavailableReason(BackendKind::Reference).empty());
        QVERIFY(toString(Op::UnpermuteCombine) == "unpermute_combine");
    }
};

QTEST_APPLESS_MAIN(TstReference)
#include "tst_reference.moc"
