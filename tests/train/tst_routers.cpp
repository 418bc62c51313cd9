// White-box tests of the LibTorch pieces: every router, capacity, the dispatch/combine seam,
// zero-computation experts and parameter counts against moe/spec/derived.h.
#include <QtTest/QtTest>

#include "moe/spec/derived.h"
#include "moe_net.h"

using namespace moe::train::detail;
namespace spec = moe::spec;
using spec::RouterKind;

namespace {

constexpr int kD = 16;
constexpr std::int64_t kT = 96;

spec::ModelSpec oneBlock(RouterKind kind, int experts, int k) {
    spec::ModelSpec m;
    m.input.dataset = spec::DatasetKind::ClusteredTokens;
    m.input.dims = kD;
    m.input.classes = 4;
    m.stem.dModel = kD;
    spec::BlockSpec b;
    b.kind = spec::BlockKind::Moe;
    b.experts = experts;
    b.router.kind = kind;
    if (kind != RouterKind::ExpertChoice && kind != RouterKind::Dynamic) b.router.k = k;
    b.router.maxExperts = std::min(3, experts);
    b.router.minExperts = 2;
    b.router.capacityFactor = 1.5;
    b.router.noise = kind == RouterKind::Hash ? 0.0 : 0.3;
    b.ffn.hidden = 24;
    b.losses.aux = kind == RouterKind::SigmoidBias ? 0.0 : 0.01;
    b.losses.z = 0.001;
    m.blocks.push_back(b);
    return m;
}

std::vector<std::int64_t> perExpert(const torch::Tensor& idx, int experts) {
    auto flat = idx.reshape({-1});
    auto c = torch::bincount(flat.index({flat >= 0}), {}, experts);
    return std::vector<std::int64_t>(c.data_ptr<std::int64_t>(), c.data_ptr<std::int64_t>() + c.numel());
}

}  // namespace

class TestRouters : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { torch::manual_seed(7); }

    void eachRouter_data() {
        QTest::addColumn<int>("kind");
        QTest::addColumn<int>("k");
        QTest::newRow("topk k=1 (switch)") << int(RouterKind::TopK) << 1;
        QTest::newRow("topk k=2") << int(RouterKind::TopK) << 2;
        QTest::newRow("expert_choice") << int(RouterKind::ExpertChoice) << 0;
        QTest::newRow("dynamic") << int(RouterKind::Dynamic) << 0;
        QTest::newRow("unified") << int(RouterKind::Unified) << 2;
        QTest::newRow("hash") << int(RouterKind::Hash) << 2;
        QTest::newRow("sinkhorn") << int(RouterKind::Sinkhorn) << 2;
        QTest::newRow("sigmoid_bias") << int(RouterKind::SigmoidBias) << 2;
    }

    // Shapes, experts per token, a finite output and finite non-zero router gradients.
    void eachRouter() {
        QFETCH(int, kind);
        QFETCH(int, k);
        const auto rk = static_cast<RouterKind>(kind);
        const int E = 6;
        auto m = oneBlock(rk, E, k);
        Block block(m, 0);
        auto x = torch::randn({kT, kD});
        auto ids = torch::randint(0, 1 << 20, {kT}, torch::kLong);
        RouteContext ctx;
        ctx.training = true;
        ctx.tokenIds = &ids;
        auto y = block->forward(x, ctx);
        QCOMPARE(y.sizes(), x.sizes());
        QVERIFY(torch::isfinite(y).all().item<bool>());
        const Routing& r = block->last().routing;
        QCOMPARE(r.probs.sizes(), (std::vector<std::int64_t>{kT, E}));
        QVERIFY(torch::allclose(r.probs.sum(-1), torch::ones({kT}), 1e-4, 1e-5));
        QCOMPARE(r.gates.sizes(), r.expertIdx.sizes());
        QCOMPARE(r.expertIdx.size(0), kT);
        QCOMPARE(r.rankFirst.sizes(), (std::vector<std::int64_t>{kT}));
        auto perToken = (r.expertIdx >= 0).sum(-1);
        const auto total = perToken.sum().item<std::int64_t>();
        switch (rk) {
            case RouterKind::ExpertChoice: {
                const auto c = std::llround(1.5 * kT / E);
                for (auto n : perExpert(r.expertIdx, E)) QCOMPARE(n, c);  // capacity exact
                break;
            }
            case RouterKind::Dynamic:
                QVERIFY(perToken.min().item<std::int64_t>() >= 2);
                QVERIFY(perToken.max().item<std::int64_t>() <= 3);
                QVERIFY(torch::allclose(r.gates.sum(-1), torch::ones({kT}), 1e-4, 1e-5));
                break;
            case RouterKind::Unified:
                QCOMPARE(total, kT * k);  // tokens x k entries of the batch matrix
                break;
            default:
                QCOMPARE(r.expertIdx.size(1), std::int64_t(k));
                QCOMPARE(perToken.min().item<std::int64_t>(), std::int64_t(k));
                // distinct experts per token
                auto s = std::get<0>(r.expertIdx.sort(-1));
                if (k > 1) QVERIFY((s.narrow(1, 1, k - 1) != s.narrow(1, 0, k - 1)).all().item<bool>());
        }
        QVERIFY(r.expertIdx.max().item<std::int64_t>() < E);
        auto loss = y.pow(2).mean() + block->last().aux * 0.01 + block->last().z * 0.001;
        loss.backward();
        if (rk == RouterKind::Hash) {
            QVERIFY(!block->router()->hasWeights());
        } else {
            const auto& g = block->router()->linear()->weight.grad();
            QVERIFY(g.defined());
            QVERIFY(torch::isfinite(g).all().item<bool>());
            QVERIFY2(g.abs().sum().item<double>() > 0, "router gradient is zero");
        }
    }

    void capacityRespected_data() {
        QTest::addColumn<int>("policy");
        QTest::newRow("probs") << int(spec::DropPolicy::Probs);
        QTest::newRow("position") << int(spec::DropPolicy::Position);
    }

    void capacityRespected() {
        QFETCH(int, policy);
        auto m = oneBlock(RouterKind::TopK, 4, 2);
        auto& b = m.blocks[0];
        b.capacity.dropless = false;
        b.capacity.factor = 0.75;
        b.capacity.dropPolicy = static_cast<spec::DropPolicy>(policy);
        b.router.noise = 0;
        Block block(m, 0);
        // Skewed inputs so some experts overflow.
        auto x = torch::randn({kT, kD}) + 2.0;
        RouteContext ctx;
        auto y = block->forward(x, ctx);
        const auto& rec = block->last();
        const auto cap = static_cast<std::int64_t>(std::ceil(0.75 * kT * 2 / 4.0));
        QCOMPARE(rec.capacity, cap);
        auto kept = perExpert(rec.routing.expertIdx, 4);
        std::int64_t keptTotal = 0;
        for (auto n : kept) {
            QVERIFY(n <= cap);
            keptTotal += n;
        }
        QCOMPARE(keptTotal + rec.routing.dropped, kT * 2);
        QVERIFY(rec.routing.dropped > 0);
        // A token that lost every slot rides the residual unchanged.
        auto none = ((rec.routing.expertIdx >= 0).sum(-1) == 0).nonzero().squeeze(1);
        if (none.numel() > 0) QVERIFY(torch::allclose(y.index_select(0, none), x.index_select(0, none)));
        if (static_cast<spec::DropPolicy>(policy) == spec::DropPolicy::Probs) {
            // Each expert kept its highest-gate assignments.
            auto orig = block->router()->forward(block->last().input, ctx);
            for (int e = 0; e < 4; ++e) {
                auto wantedMask = orig.expertIdx == e;
                auto keptMask = rec.routing.expertIdx == e;
                if (!(wantedMask != keptMask).any().item<bool>()) continue;
                const double minKept = orig.gates.index({keptMask}).min().item<double>();
                const double maxDropped = orig.gates.index({wantedMask & ~keptMask}).max().item<double>();
                QVERIFY(minKept >= maxDropped - 1e-7);
            }
        }
    }

    // permute + unpermuteCombine against a plain loop.
    void dispatchCombine() {
        const std::int64_t T = 40, K = 3, E = 5, d = 7;
        auto x = torch::randn({T, d});
        auto idx = torch::randint(-1, E, {T, K}, torch::kLong);
        auto gates = torch::rand({T, K});
        auto p = permute(x, idx, E);
        auto off = p.offsets;
        QCOMPARE(off[E].item<std::int64_t>(), (idx >= 0).sum().item<std::int64_t>());
        for (std::int64_t t = 0; t < T; ++t)
            for (std::int64_t s = 0; s < K; ++s) {
                const auto e = idx[t][s].item<std::int64_t>();
                const auto row = p.slotOf[t][s].item<std::int64_t>();
                if (e < 0) {
                    QCOMPARE(row, std::int64_t(-1));
                    continue;
                }
                QVERIFY(row >= off[e].item<std::int64_t>() && row < off[e + 1].item<std::int64_t>());
                QVERIFY(torch::equal(p.tokens[row], x[t]));
            }
        // Expert e multiplies by (e + 1).
        auto scale = torch::zeros({p.tokens.size(0), 1});
        for (std::int64_t e = 0; e < E; ++e)
            scale.narrow(0, off[e].item<std::int64_t>(), off[e + 1].item<std::int64_t>() - off[e].item<std::int64_t>()).fill_(double(e + 1));
        auto out = unpermuteCombine(p.tokens * scale, p.slotOf, gates, T);
        auto ref = torch::zeros({T, d});
        for (std::int64_t t = 0; t < T; ++t)
            for (std::int64_t s = 0; s < K; ++s) {
                const auto e = idx[t][s].item<std::int64_t>();
                if (e >= 0) ref[t] += gates[t][s] * double(e + 1) * x[t];
            }
        QVERIFY(torch::allclose(out, ref, 1e-5, 1e-6));
    }

    // The kernels' autograd dispatch/combine and the plain LibTorch one give the same block.
    void dispatchImplementationsAgree() {
        if (!kernelsBuilt()) QSKIP("core/train is built without the kernels module");
        auto m = oneBlock(RouterKind::TopK, 5, 2);
        m.blocks[0].router.noise = 0;
        m.blocks[0].capacity.dropless = false;
        m.blocks[0].capacity.factor = 0.8;  // some dropped assignments (-1 slots)
        Block block(m, 0);
        auto x = torch::randn({kT, kD});
        RouteContext ctx;
        auto run = [&](DispatchImpl impl) {
            setDispatchImpl(impl);
            block->zero_grad();
            auto xi = x.clone().requires_grad_(true);
            auto y = block->forward(xi, ctx);
            (y * y).sum().backward();
            // With capacity drops the gates must still carry the task gradient to the router.
            const auto& gr = block->router()->linear()->weight.grad();
            if (!xi.grad().defined() || !gr.defined() || gr.abs().sum().item<double>() == 0)
                qFatal("%s dispatch: input or router gradient missing", impl == DispatchImpl::Plain ? "plain" : "kernels");
            return std::make_tuple(y.detach(), xi.grad(), gr.clone());
        };
        auto [yp, gxp, grp] = run(DispatchImpl::Plain);
        auto [yk, gxk, grk] = run(DispatchImpl::Kernels);
        setDispatchImpl(DispatchImpl::Kernels);
        QVERIFY(block->last().routing.dropped > 0);
        QVERIFY(torch::allclose(yp, yk, 1e-5, 1e-5));
        QVERIFY(torch::allclose(gxp, gxk, 1e-4, 1e-5));
        QVERIFY(torch::allclose(grp, grk, 1e-4, 1e-5));
    }

    // MoE++: zero experts output 0 and copy experts output their input, exactly.
    void zeroAndCopyExperts() {
        auto m = oneBlock(RouterKind::Hash, 1, 3);
        m.blocks[0].norm = spec::NormKind::None;
        m.blocks[0].zeroExperts.zero = 1;
        m.blocks[0].zeroExperts.copy = 1;
        Block block(m, 0);
        auto x = torch::randn({kT, kD});
        auto ids = torch::arange(kT, torch::kLong);
        RouteContext ctx;
        ctx.tokenIds = &ids;
        torch::NoGradGuard ng;
        auto y = block->forward(x, ctx);  // every token visits all 3 experts with gate 1/3
        auto ref = x + (block->runExpert(0, x) + torch::zeros_like(x) + x) / 3.0;
        QVERIFY(torch::allclose(y, ref, 1e-5, 1e-6));
        // k = 1 over {ffn, zero, copy}: each token's output is exactly 0 or its input or the FFN.
        auto m1 = oneBlock(RouterKind::Hash, 1, 1);
        m1.blocks[0].norm = spec::NormKind::None;
        m1.blocks[0].residual = false;
        m1.blocks[0].zeroExperts.zero = 1;
        m1.blocks[0].zeroExperts.copy = 1;
        Block b1(m1, 0);
        auto y1 = b1->forward(x, ctx);
        auto e = b1->last().routing.expertIdx.squeeze(1);
        QVERIFY((e == 1).any().item<bool>() && (e == 2).any().item<bool>());
        QVERIFY(torch::equal(y1.index({e == 1}), torch::zeros_like(x.index({e == 1}))));
        QVERIFY(torch::equal(y1.index({e == 2}), x.index({e == 2})));
    }

    void sigmoidBiasBalances() {
        auto m = oneBlock(RouterKind::SigmoidBias, 4, 1);
        m.blocks[0].router.biasUpdateRate = 0.05;
        m.blocks[0].router.noise = 0;
        m.blocks[0].norm = spec::NormKind::None;
        Block block(m, 0);
        auto x = torch::randn({256, kD}) + 1.5;  // skewed: one expert wins almost everywhere at first
        RouteContext ctx;
        ctx.training = true;
        auto spread = [&] {
            torch::NoGradGuard ng;
            block->forward(x, ctx);
            auto c = perExpert(block->last().routing.expertIdx, 4);
            return double(*std::max_element(c.begin(), c.end()) - *std::min_element(c.begin(), c.end()));
        };
        const double before = spread();
        double late = 0;
        for (int i = 0; i < 100; ++i) {
            const double s = spread();
            if (i >= 80) late += s / 20;
            block->router()->updateBias();
        }
        QVERIFY2(late < before / 2, qPrintable(QString("spread %1 before, %2 after bias updates").arg(before).arg(late)));
    }

    void parameterCountsMatchDescribe_data() {
        QTest::addColumn<int>("variant");
        QTest::newRow("dense + moe topk") << 0;
        QTest::newRow("shared, zero/copy/constant, rmsnorm") << 1;
        QTest::newRow("hash router, no norms") << 2;
        QTest::newRow("fashion patches, expert schedule") << 3;
    }

    void parameterCountsMatchDescribe() {
        QFETCH(int, variant);
        spec::ModelSpec m = oneBlock(RouterKind::TopK, 4, 2);
        spec::BlockSpec dense;
        dense.kind = spec::BlockKind::Dense;
        dense.ffn.hidden = 40;
        switch (variant) {
            case 0: m.blocks.insert(m.blocks.begin(), dense); break;
            case 1:
                m.blocks[0].sharedExperts = 2;
                m.blocks[0].zeroExperts = {1, 1, 2};
                m.blocks[0].norm = spec::NormKind::RmsNorm;
                m.head.norm = spec::NormKind::RmsNorm;
                break;
            case 2:
                m.blocks[0].router.kind = RouterKind::Hash;
                m.blocks[0].norm = spec::NormKind::None;
                m.head.norm = spec::NormKind::None;
                break;
            case 3: {
                m.input.dataset = spec::DatasetKind::FashionMnist;
                m.input.tokens = spec::TokenMode::Patches;
                m.input.patch = 7;
                m.blocks[0].experts.reset();
                m.blocks.push_back(m.blocks[0]);
                m.blocks.push_back(dense);
                m.blocks.push_back(m.blocks[0]);
                spec::Schedule s;
                s.kind = spec::ScheduleKind::Descending;
                s.min = 2;
                s.max = 6;
                m.expertSchedule = s;
                break;
            }
        }
        MoeNet net(m);
        QCOMPARE(net->parameterCount(), static_cast<std::int64_t>(spec::computeFigures(m).params));
    }
};

QTEST_APPLESS_MAIN(TestRouters)
#include "tst_routers.moc"
