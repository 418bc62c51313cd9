// The LibTorch autograd functions against plain LibTorch composites (stable sort, index_select,
// index_add, softmax/topk): forward values and gradients. Tolerances: float32 sums of at most k
// terms or d-term dot products in a different order, so 1e-5 relative + 1e-6 absolute.
#include <QtTest/QtTest>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "moe/kernels/torch_ops.h"

namespace ops = moe::kernels::torch_ops;
using moe::kernels::DropPolicy;
using moe::kernels::ScoreFn;

namespace {

bool near(const at::Tensor& a, const at::Tensor& b, double rtol = 1e-5, double atol = 1e-6) {
    return a.sizes() == b.sizes() && at::allclose(a, b, rtol, atol);
}

std::string diff(const at::Tensor& a, const at::Tensor& b) {
    if (a.sizes() != b.sizes()) return "shapes differ";
    return "max |diff| = " + std::to_string((a - b).abs().max().item<double>());
}

// Random routing with some dropped (-1) assignments and no repeated expert within a token.
at::Tensor randomExpertIdx(int64_t T, int64_t k, int64_t E, double dropRate) {
    at::Tensor idx = at::rand({T, E}).argsort(/*dim=*/1, /*descending=*/false).narrow(1, 0, k).contiguous();
    return idx.masked_fill(at::rand({T, k}) < dropRate, -1);
}

}  // namespace

class TstTorchOps : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() {
        torch::manual_seed(7);
        at::set_num_threads(2);
    }

    void permuteCombineMatchComposite_data() {
        QTest::addColumn<int>("T");
        QTest::addColumn<int>("k");
        QTest::addColumn<int>("E");
        QTest::addColumn<int>("d");
        QTest::addColumn<double>("dropRate");
        QTest::newRow("small") << 10 << 2 << 4 << 3 << 0.0;
        QTest::newRow("drops") << 200 << 2 << 8 << 16 << 0.2;
        QTest::newRow("k = E") << 50 << 4 << 4 << 8 << 0.1;
        QTest::newRow("everything dropped") << 20 << 2 << 4 << 8 << 1.0;
        QTest::newRow("large (parallel)") << 2048 << 2 << 8 << 64 << 0.05;
    }
    void permuteCombineMatchComposite() {
        QFETCH(int, T);
        QFETCH(int, k);
        QFETCH(int, E);
        QFETCH(int, d);
        QFETCH(double, dropRate);
        const at::Tensor idx = randomExpertIdx(T, k, E, dropRate);
        const at::Tensor x0 = at::randn({T, d}), g0 = at::rand({T, k}), r = at::randn({T, d});

        // Kernel path: y depends on the permuted tokens so that both gradients flow.
        at::Tensor x = x0.clone().requires_grad_(true), g = g0.clone().requires_grad_(true);
        const ops::Permuted p = ops::permute(x, idx, E);
        const at::Tensor scale = at::linspace(0.5, 1.5, p.tokens.size(0) * d).reshape({-1, d});
        const at::Tensor out = ops::unpermuteCombine(p.tokens * scale, p.slotOf, g, T);
        (out * r).sum().backward();

        at::Tensor xc = x0.clone().requires_grad_(true), gc = g0.clone().requires_grad_(true);
        const ops::Permuted pc = ops::composite::permute(xc, idx, E);
        const at::Tensor outc = ops::composite::unpermuteCombine(pc.tokens * scale, pc.slotOf, gc, T);
        (outc * r).sum().backward();

        QVERIFY(at::equal(p.offsets, pc.offsets));
        QVERIFY(at::equal(p.slotOf, pc.slotOf));
        QVERIFY(at::equal(p.tokens, pc.tokens));
        QVERIFY2(near(out, outc), diff(out, outc).c_str());
        QVERIFY2(near(x.grad(), xc.grad()), diff(x.grad(), xc.grad()).c_str());
        // dGates are d-term dot products summed in another order: absolute error ~ d x 2^-24 x |terms|.
        QVERIFY2(near(g.grad(), gc.grad(), 1e-5, 2e-5), diff(g.grad(), gc.grad()).c_str());
        QVERIFY(!p.offsets.requires_grad());
        QCOMPARE(p.offsets[E].item<int64_t>(), idx.ge(0).sum().item<int64_t>());
    }

    void combineGradOnlyForWhatRequiresIt() {
        const at::Tensor idx = randomExpertIdx(16, 2, 4, 0.0);
        const ops::Permuted p = ops::permute(at::randn({16, 8}), idx, 4);
        at::Tensor y = p.tokens.clone().requires_grad_(true);
        const at::Tensor out = ops::unpermuteCombine(y, p.slotOf, at::rand({16, 2}), 16);
        out.sum().backward();
        const at::Tensor yc = p.tokens.clone().requires_grad_(true);
        ops::composite::unpermuteCombine(yc, p.slotOf, at::rand({16, 2}), 16).sum().backward();
        QVERIFY(y.grad().defined());
        QCOMPARE(y.grad().sizes(), y.sizes());
    }

    void gatingMatchesComposite_data() {
        QTest::addColumn<int>("score");
        QTest::addColumn<double>("temperature");
        QTest::addColumn<bool>("renormalize");
        QTest::addColumn<bool>("bias");
        QTest::addColumn<int>("k");
        QTest::newRow("softmax k2") << 0 << 1.0 << true << false << 2;
        QTest::newRow("softmax T=0.5 plain") << 0 << 0.5 << false << false << 2;
        QTest::newRow("sigmoid + bias k4") << 1 << 1.0 << true << true << 4;
        QTest::newRow("sigmoid T=2 k=E") << 1 << 2.0 << false << false << 8;
        QTest::newRow("softmax k1 + bias") << 0 << 1.0 << true << true << 1;
    }
    void gatingMatchesComposite() {
        QFETCH(int, score);
        QFETCH(double, temperature);
        QFETCH(bool, renormalize);
        QFETCH(bool, bias);
        QFETCH(int, k);
        const int64_t T = 300, E = 8;
        // Distinct logits per row (a shuffled ramp) so that top-k has no ties for topk to order differently.
        const at::Tensor base = at::arange(E, at::kFloat).mul(0.37).unsqueeze(0).expand({T, E});
        const at::Tensor logits0 = base.gather(1, at::rand({T, E}).argsort(/*dim=*/1, /*descending=*/false)) + 0.01 * at::rand({T, E});
        const at::Tensor b = bias ? at::rand({E}) * 0.05 : at::Tensor();
        const at::Tensor wG = at::randn({T, k}), wP = at::randn({T, E});

        at::Tensor l = logits0.clone().requires_grad_(true);
        const ops::Gating g = ops::gating(l, k, static_cast<ScoreFn>(score), temperature, renormalize, b);
        ((g.gates * wG).sum() + (g.probs * wP).sum()).backward();
        at::Tensor lc = logits0.clone().requires_grad_(true);
        const ops::Gating gc = ops::composite::gating(lc, k, static_cast<ScoreFn>(score), temperature, renormalize, b);
        ((gc.gates * wG).sum() + (gc.probs * wP).sum()).backward();

        QVERIFY(at::equal(g.expertIdx, gc.expertIdx));
        QVERIFY2(near(g.probs, gc.probs), diff(g.probs, gc.probs).c_str());
        QVERIFY2(near(g.gates, gc.gates), diff(g.gates, gc.gates).c_str());
        QVERIFY2(near(l.grad(), lc.grad(), 1e-4, 1e-6), diff(l.grad(), lc.grad()).c_str());
    }

    void gatingOnlyGatesUsed() {
        at::Tensor l = at::randn({20, 6}).requires_grad_(true);
        ops::gating(l, 2).gates.sum().backward();  // probs unused: its gradient is undefined
        // Renormalised gates sum to 1 per token, so their sum has zero gradient.
        QVERIFY2(l.grad().abs().max().item<float>() < 1e-6f, "gradient of a constant must be 0");
    }

    void assignSlotsAndHistogram() {
        const at::Tensor idx = torch::tensor({0, 1, 0, 2, 0, 1, 1, 0}, at::kLong).reshape({4, 2});
        const at::Tensor gates = torch::tensor({.6f, .4f, .7f, .3f, .9f, .1f, .8f, .2f}).reshape({4, 2});
        const ops::Slots s = ops::assignSlots(idx, gates, 3, 2, DropPolicy::Probs);
        QVERIFY(at::equal(s.expertIdx, torch::tensor({-1, 1, 0, 2, 0, -1, 1, -1}, at::kLong).reshape({4, 2})));
        QVERIFY(at::equal(s.kept, torch::tensor({2, 2, 1}, at::kLong)));
        QCOMPARE(s.dropped.sum().item<int64_t>(), int64_t{3});
        QVERIFY(at::equal(ops::histogram(idx, 3), torch::tensor({4, 3, 1}, at::kLong)));
        QVERIFY(at::equal(ops::histogram(s.expertIdx, 3), s.kept));
        // Position policy without gates.
        const ops::Slots sp = ops::assignSlots(idx, at::Tensor(), 3, 2, DropPolicy::Position);
        QCOMPARE(sp.dropped.sum().item<int64_t>(), int64_t{3});
    }

    void choiceMajorServesFirstChoicesFirst() {
        const at::Tensor idx = torch::tensor({0, 1, 1, 0, 0, 1}, at::kLong).reshape({3, 2});
        const ops::Slots tm = ops::assignSlots(idx, at::Tensor(), 2, 2, DropPolicy::Position);
        QVERIFY(at::equal(tm.dropped, torch::tensor({0, 0, 0, 0, 1, 1}, at::kBool).reshape({3, 2})));
        const ops::Slots cm =
            ops::assignSlots(idx, at::Tensor(), 2, 2, DropPolicy::Position, ops::SlotPriority::ChoiceMajor);
        QVERIFY(at::equal(cm.dropped, torch::tensor({0, 0, 0, 1, 0, 1}, at::kBool).reshape({3, 2})));
        QVERIFY(at::equal(cm.slot, torch::tensor({0, 1, 0, -1, 1, -1}, at::kLong).reshape({3, 2})));
        QVERIFY(at::equal(cm.expertIdx, torch::tensor({0, 1, 1, -1, 0, -1}, at::kLong).reshape({3, 2})));
        QVERIFY(at::equal(cm.kept, torch::tensor({2, 2}, at::kLong)));
    }

    void errorsNameTheArgument() {
        const at::Tensor idx = torch::zeros({4, 2}, at::kLong);
        try {
            ops::permute(at::zeros({4, 3}, at::kDouble), idx, 2);
            QFAIL("double x must be rejected");
        } catch (const c10::Error& e) {
            QVERIFY2(std::string(e.what()).find("x must be float32") != std::string::npos, e.what());
        }
        try {
            ops::permute(at::zeros({4, 3}), torch::full({4, 2}, 5, at::kLong), 2);
            QFAIL("expert id 5 of 2 must be rejected");
        } catch (const c10::Error& e) {
            QVERIFY2(std::string(e.what()).find("must be -1 or in [0, 2)") != std::string::npos, e.what());
        }
        try {
            ops::gating(at::zeros({4, 3}), 4);
            QFAIL("k > E must be rejected");
        } catch (const c10::Error& e) {
            QVERIFY2(std::string(e.what()).find("k = 4") != std::string::npos, e.what());
        }
        try {
            ops::assignSlots(idx, at::Tensor(), 2, 1, DropPolicy::Probs);
            QFAIL("probs policy without gates must be rejected");
        } catch (const c10::Error& e) {
            QVERIFY2(std::string(e.what()).find("needs gates") != std::string::npos, e.what());
        }
    }
};

QTEST_APPLESS_MAIN(TstTorchOps)
#include "tst_torch_ops.moc"
