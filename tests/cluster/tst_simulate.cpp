// The MoE step: deployment validation with JSON paths, defaults from the model spec, and the
// behaviour of the step model (skew makes a straggler, capacity drops, dedup and fp8 shrink the
// traffic, timelines are consistent).
#include <atomic>
#include <QtTest>

#include <algorithm>
#include <numeric>

#include "moe/cluster/simulate.h"
#include "moe/spec/project_io.h"

using namespace moe::cluster;
namespace spec = moe::spec;

namespace {

const Catalog& cat() {
    static const Catalog c = Catalog::builtin().value();
    return c;
}

// A 4-layer MoE model of LLM width deployed on one or two H100 nodes.
spec::Project project(int experts = 32, int k = 4) {
    spec::Project p;
    p.model.stem.dModel = 2048;
    spec::BlockSpec b;
    b.kind = spec::BlockKind::Moe;
    b.experts = experts;
    b.router.k = k;
    b.ffn.hidden = 1024;
    b.sharedExperts = 1;
    p.model.blocks = {b, b, b, b};
    spec::DeploymentSpec d;
    d.cluster = "hgx-h100";
    d.gpus = 16;
    d.tokensPerGpu = 2048;
    d.ep = 16;
    d.dp = 1;
    d.tp = 1;
    p.deployment = d;
    return p;
}

StepResult run(const spec::Project& p, SimOptions opt = {}) {
    auto d = resolveDeployment(p, cat());
    if (!d) qFatal("%s", d.message().c_str());
    auto loads = deploymentLoads(d.value(), nullptr);
    if (!loads) qFatal("%s", loads.message().c_str());
    auto r = simulateStep(d.value(), cat(), loads.value(), opt);
    if (!r) qFatal("%s", r.message().c_str());
    return r.value();
}

std::string firstError(const spec::Project& p, const DeploymentOverrides& o = {}) {
    auto d = resolveDeployment(p, cat(), o);
    if (d) return {};
    return d.errors()[0].path + ": " + d.errors()[0].message;
}

double dispatchBytes(const StepResult& r) {
    double s = 0;
    for (const auto& l : r.layers) s += l.dispatchBytes;
    return s;
}

}  // namespace

class TestSimulate : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void exampleProjectsResolve() {
        for (const char* f : {"llm_h100.json", "llm_mi300x.json"}) {
            auto p = spec::loadProject(std::string(MOE_SOURCE_DIR) + "/projects/" + f);
            QVERIFY2(p.ok(), p.message().c_str());
            auto d = resolveDeployment(p.value(), cat());
            QVERIFY2(d.ok(), (std::string(f) + ": " + d.message()).c_str());
            QCOMPARE(d->experts % d->ep, 0);
        }
    }

    void badDeploymentsNameThePath_data() {
        QTest::addColumn<int>("which");
        QTest::addColumn<QString>("expected");
        QTest::newRow("unknown cluster") << 0 << "deployment.cluster: unknown cluster \"h100x\"; known clusters: hgx-h100";
        QTest::newRow("ep does not divide experts") << 1 << "deployment.parallel.ep: 32 experts cannot be split evenly over ep = 12";
        QTest::newRow("degrees do not multiply to gpus") << 2 << "deployment.parallel: ep x dp x tp = 16 x 2 x 1 = 32 must equal the 16 GPUs";
        QTest::newRow("too many gpus") << 3 << "deployment.gpus: 128 GPUs exceed what the single-switch topology";
        QTest::newRow("partial nodes") << 4 << "deployment.gpus: 12 GPUs do not fill whole hgx-h100 nodes";
        QTest::newRow("placement misses an expert") << 5 << "deployment.placement: every expert must be placed exactly once; not placed: 31";
        QTest::newRow("placement places twice") << 6 << "deployment.placement: every expert must be placed exactly once; placed more than once: 0";
        QTest::newRow("placement index") << 7 << "deployment.placement[1][0]: expert 40 does not exist; experts are 0 to 31";
        QTest::newRow("routing") << 8 << "deployment.routing: \"zipf\" is not a routing";
        QTest::newRow("zipf exponent") << 9 << "deployment.routing: \"zipf:-1\": the zipf exponent must be a number in (0, 10]";
        QTest::newRow("tp inside a node") << 10 << "deployment.parallel.tp: tensor parallelism stays inside a node";
        QTest::newRow("no moe block") << 11 << "model: the model has no moe block";
    }
    void badDeploymentsNameThePath() {
        QFETCH(int, which);
        QFETCH(QString, expected);
        spec::Project p = project();
        auto& d = *p.deployment;
        switch (which) {
        case 0: d.cluster = "h100x"; break;
        case 1: d.ep = 12; d.gpus = 12 * 8; d.dp = 8; break;
        case 2: d.dp = 2; break;
        case 3: d.cluster = "hgx-h100-1switch"; d.gpus = 128; d.dp = 8; break;
        case 4: d.gpus = 12; break;
        case 5:
        case 6:
        case 7:
            d.placement.roundRobin = false;
            d.placement.gpuExperts.assign(16, {});
            for (int e = 0; e < 31; ++e) d.placement.gpuExperts[static_cast<size_t>(e % 16)].push_back(e);
            if (which == 6) d.placement.gpuExperts[15].push_back(0);
            if (which == 6) d.placement.gpuExperts[14].push_back(31);
            if (which == 7) d.placement.gpuExperts[1][0] = 40;
            break;
        case 8: d.routing = "zipf"; break;
        case 9: d.routing = "zipf:-1"; break;
        case 10: d.tp = 3; d.ep = 16; d.gpus = 48; break;
        case 11:
            for (auto& b : p.model.blocks) b.kind = spec::BlockKind::Dense;
            break;
        }
        const std::string e = firstError(p);
        QVERIFY2(e.rfind(expected.toStdString(), 0) == 0, e.c_str());
    }

    void overridesNameTheOption() {
        DeploymentOverrides o;
        o.cluster = "nope";
        QVERIFY(firstError(project(), o).rfind("--cluster: unknown cluster", 0) == 0);
        o = {};
        o.gpus = 24;
        QVERIFY(firstError(project(), o).rfind("--gpus:", 0) == 0);
        o.gpus = 64;  // keeps ep 16, dp becomes 4
        auto d = resolveDeployment(project(), cat(), o);
        QVERIFY2(d.ok(), d.message().c_str());
        QCOMPARE(d->dp, 4);
        o = {};
        o.routing = "zipf:abc";
        QVERIFY(firstError(project(), o).rfind("--routing:", 0) == 0);
    }

    void defaultsWithoutADeploymentSection() {
        spec::Project p = project(6, 2);
        p.deployment.reset();
        auto d = resolveDeployment(p, cat());
        QVERIFY2(d.ok(), d.message().c_str());
        QCOMPARE(d->dModel, 2048);   // the model's own dimensions
        QCOMPARE(d->ffnHidden, 1024);
        QCOMPARE(d->layers, 4);
        QCOMPARE(d->experts, 6);
        QCOMPARE(d->ep, 2);  // gcd(6 experts, 8 GPUs)
        QCOMPARE(d->dp, 4);
        QVERIFY(!d->notes.empty());
        QVERIFY(d->notes[0].find("no deployment section") != std::string::npos);
        auto loads = deploymentLoads(d.value(), nullptr).value();
        QVERIFY(simulateStep(d.value(), cat(), loads).ok());
    }

    void uniformStepIsBalancedAndConsistent() {
        const StepResult r = run(project());
        QCOMPARE(r.stragglerRank, -1);
        QCOMPARE(static_cast<int>(r.ranks.size()), 16);
        QCOMPARE(r.stepUs, r.forwardUs + r.backwardUs + r.gradSyncUs);
        QVERIFY(r.gradSyncUs > 0);  // shared experts are replicated on every GPU
        for (const auto& rk : r.ranks) {
            QCOMPARE(rk.computeUs, r.ranks[0].computeUs);
            double cur = 0;
            for (const auto& e : rk.events) {
                QVERIFY(e.endUs > e.startUs);
                QVERIFY(e.endUs <= r.stepUs * (1 + 1e-12));
                if (e.kind == EventKind::Dispatch || e.kind == EventKind::Combine) continue;  // on the network
                QVERIFY2(e.startUs >= cur - 1e-6, "compute-stream events overlap");
                cur = e.endUs;
            }
        }
        for (const auto& l : r.links) QVERIFY(l.utilisation <= 1.0 + 1e-9);
        QVERIFY(std::is_sorted(r.links.begin(), r.links.end(), [](const LinkUse& a, const LinkUse& b) { return a.utilisation > b.utilisation; }));
        // 16 GPUs = 2 nodes: the NICs carry the inter-node half of the traffic and are the hot links.
        QCOMPARE(r.topology.links[static_cast<size_t>(r.links[0].link)].role == LinkRole::NicOut ||
                     r.topology.links[static_cast<size_t>(r.links[0].link)].role == LinkRole::NicIn,
                 true);
    }

    // Data-parallel replicas: the gradient reduction's ring bytes are on the group's NIC links
    // (and only there, across nodes), on top of every group's all-to-all bytes.
    void gradientTrafficIsOnTheHotLinks() {
        spec::Project p = project();
        const StepResult one = run(p);
        p.deployment->gpus = 32;
        p.deployment->dp = 2;
        const StepResult two = run(p);
        QVERIFY(two.gradSyncUs > one.gradSyncUs);
        double grad = 0, gradNic = 0;
        for (const auto& l : two.links) {
            QVERIFY(l.utilisation <= 1.0 + 1e-9);
            QVERIFY(l.bytes >= l.gradientBytes);
            grad += l.gradientBytes;
            const auto role = two.topology.links[static_cast<size_t>(l.link)].role;
            if (role == LinkRole::NicOut || role == LinkRole::NicIn) gradNic += l.gradientBytes;
        }
        QVERIFY(grad > 0);
        QVERIFY(gradNic > 0);
        for (const auto& l : one.links) QVERIFY(l.gradientBytes >= 0);
        bool notes = false;
        for (const auto& n : two.notes) notes = notes || n.find("its bytes are on the hot links") != std::string::npos;
        QVERIFY(notes);
    }

    // A kernel library chosen per deployment: its fixed cost per call replaces the per-message
    // latency, so small dispatches get slower with a costly kernel and the notes say which.
    void epKernelChosenPerDeployment() {
        spec::Project p = project();
        p.deployment->tokensPerGpu = 128;  // latency-bound
        const StepResult flow = run(p);
        p.deployment->epKernel = "deepep-normal";
        const StepResult normal = run(p);
        p.deployment->epKernel = "deepep-ll";
        const StepResult ll = run(p);
        p.deployment->epKernel = "nccl-alltoall";  // no fixed cost of its own in the catalog
        const StepResult nccl = run(p);
        QVERIFY(normal.layers[0].dispatchUs > flow.layers[0].dispatchUs);
        QVERIFY(normal.layers[0].dispatchUs > nccl.layers[0].dispatchUs + 30);  // 40 us per call
        p.deployment->epKernel = "pplx";
        const StepResult pplx = run(p);
        QVERIFY(normal.layers[0].combineUs > pplx.layers[0].combineUs + 5);     // 50 us against 24.5 + 14.5 across nodes
        bool said = false;
        for (const auto& n : ll.notes) said = said || n.find("dispatch and combine as") != std::string::npos;
        QVERIFY(said);
        p.deployment->epKernel = "deepep";
        const std::string e = firstError(p);
        QVERIFY2(e.rfind("deployment.ep_kernel: \"deepep\" is not an expert-parallel kernel", 0) == 0, e.c_str());
        QVERIFY2(e.find("deepep-ll") != std::string::npos, e.c_str());
        // Saved and read back.
        p.deployment->epKernel = "pplx";
        p.training.steps = 10;
        auto again = spec::parseProject(spec::serializeProject(p));
        QVERIFY2(again.ok(), again.message().c_str());
        QCOMPARE(QString::fromStdString(again->deployment->epKernel), QString("pplx"));
    }

    // A kernel holding SMs slows the compute that overlaps it: shared experts run beside the
    // dispatch at total / (total - held) of their time; one holding none changes nothing.
    void kernelComputeUnitsSlowOverlappedCompute() {
        spec::Project p = project();
        p.deployment->epKernel = "deepep-normal";  // 20 of an H100's 132 SMs
        const Deployment d = resolveDeployment(p, cat()).value();
        const auto loads = deploymentLoads(d, nullptr).value();
        EpKernelSpec none = *d.epKernel;
        none.computeUnits = 0;
        Deployment d0 = d;
        d0.epKernel = &none;
        auto sim = [&](const Deployment& dep, int microBatches) {
            SimOptions o;
            o.microBatches = microBatches;
            return simulateStep(dep, cat(), loads, o).value();
        };
        auto shared = [](const StepResult& r, Pass pass) {
            for (const auto& e : r.ranks[0].events)
                if (e.layer == 0 && e.pass == pass && e.kind == EventKind::SharedExperts) return e.endUs - e.startUs;
            return -1.0;
        };
        const double f = 132.0 / 112.0;
        const StepResult r0 = sim(d0, 1), r20 = sim(d, 1);
        const double w = r0.layers[0].sharedUs;
        QVERIFY(w > 0 && w * 2 * f < r0.layers[0].dispatchUs);  // shared experts end inside the dispatch
        QCOMPARE(r0.overlapSlowdown, 1.0);
        QCOMPARE(r0.overlapSlowdownUs, 0.0);
        QCOMPARE(shared(r0, Pass::Forward), w);
        QCOMPARE(shared(r0, Pass::Backward), 2 * w);
        QCOMPARE(r20.overlapSlowdown, f);
        QVERIFY(std::abs(shared(r20, Pass::Forward) - w * f) < 1e-9 * w);
        QVERIFY(std::abs(shared(r20, Pass::Backward) - 2 * w * f) < 1e-9 * w);
        QVERIFY(std::abs(r20.layers[0].overlapSlowdownUs - w * (f - 1)) < 1e-6 * w);
        QCOMPARE(r20.layers[0].dispatchUs, r0.layers[0].dispatchUs);  // the transfer itself is unchanged
        QVERIFY(r20.notes.size() > r0.notes.size() || std::any_of(r20.notes.begin(), r20.notes.end(), [](const std::string& n) {
                    return n.find("20 of the 132") != std::string::npos;
                }));
        // Two micro-batches: experts overlap the other half's dispatch and combine; the added time
        // is at most what the formula gives for the whole expert time.
        const StepResult m0 = sim(d0, 2), m20 = sim(d, 2);
        QCOMPARE(m0.overlapSlowdownUs, 0.0);
        QVERIFY(m20.overlapSlowdownUs > 0);
        QVERIFY(m20.stepUs >= m0.stepUs);  // communication-bound here: the slower experts may stay hidden
        const double e0 = m0.ranks[0].expertUs, e20 = m20.ranks[0].expertUs;
        QVERIFY2(e20 > e0 && e20 <= e0 * f * (1 + 1e-9), qPrintable(QString("%1 vs %2").arg(e20).arg(e0)));
    }

    // Ties among the hot links are one row: 16 GPUs on two nodes load their NICs alike.
    void hotLinkTiesAreGrouped() {
        const StepResult r = run(project());
        const auto groups = groupHotLinks(r, 8);
        QVERIFY(!groups.empty());
        QVERIFY(groups[0].count > 1);
        QVERIFY2(groups[0].name.find("NIC") == 0 && groups[0].name.find(", " + std::to_string(groups[0].count) + " links (e.g. ") != std::string::npos,
                 groups[0].name.c_str());
        int covered = 0;
        for (const auto& g : groups) covered += g.count;
        QVERIFY(covered <= static_cast<int>(r.links.size()));
        QCOMPARE(groups[0].utilisation, r.links[0].utilisation);
        for (size_t i = 1; i < groups.size(); ++i) QVERIFY(groups[i].utilisation <= groups[i - 1].utilisation);
    }

    void skewMakesTheHotRankTheStraggler() {
        spec::Project p = project();
        const StepResult u = run(p);
        p.deployment->routing = "zipf:1.2";
        const StepResult z = run(p);
        QVERIFY(z.stepUs > 1.2 * u.stepUs);
        QVERIFY(z.stragglerRank >= 0);
        auto loads = deploymentLoads(z.deployment, nullptr).value();
        for (const auto& l : z.layers) {
            // The layer's straggler hosts the most-loaded set of experts.
            std::vector<double> recv(16, 0);
            for (int e = 0; e < 32; ++e) recv[static_cast<size_t>(e % 16)] += loads[static_cast<size_t>(l.layer)][static_cast<size_t>(e)];
            const int hot = static_cast<int>(std::max_element(recv.begin(), recv.end()) - recv.begin());
            QCOMPARE(l.stragglerRank, hot);
            QVERIFY(l.imbalance > 1.5);
            QVERIFY(l.expertUs > 1.5 * l.expertMeanUs);
        }
    }

    void capacityFactorDropsAndShrinksTraffic() {
        spec::Project p = project();
        p.deployment->routing = "zipf:1.2";
        const StepResult dropless = run(p);
        p.deployment->capacityFactor = 1.0;
        const StepResult capped = run(p);
        for (const auto& l : dropless.layers) QCOMPARE(l.droppedAssignments, 0.0);
        double dropped = 0;
        for (const auto& l : capped.layers) dropped += l.droppedAssignments;
        QVERIFY(dropped > 0);
        QVERIFY(dispatchBytes(capped) < dispatchBytes(dropless));
        QVERIFY(capped.stepUs < dropless.stepUs);
    }

    void dedupAndFp8ShrinkTheDispatch() {
        spec::Project p = project(64, 8);  // 4 experts per rank: a token often picks two on one rank
        const StepResult plain = run(p);
        p.deployment->dedupTokens = true;
        const StepResult dedup = run(p);
        QVERIFY(dispatchBytes(dedup) < 0.9 * dispatchBytes(plain));
        p.deployment->dedupTokens = false;
        p.deployment->dispatchDtype = "fp8";
        const StepResult fp8 = run(p);
        QCOMPARE(dispatchBytes(fp8), dispatchBytes(plain) / 2);
        QVERIFY(fp8.forwardUs < plain.forwardUs);
        // The matrices: off-diagonal bytes add up to what crossed the links (two hops each on NVLink,
        // PXN adds hops between nodes, so the link total is at least the matrix total).
        const auto m = dispatchMatrix(fp8, 0);
        double total = 0;
        for (size_t a = 0; a < m.size(); ++a) {
            QCOMPARE(m[a][a], 0.0);
            for (double v : m[a]) total += v;
        }
        QVERIFY(total > 0);
        QVERIFY(fp8.layers[0].dispatchBytes >= 2 * total * (1 - 1e-9));
        const auto c = dispatchMatrix(fp8, 0, true);
        QCOMPARE(c[1][2], 2 * m[2][1]);  // combine returns bf16, dispatch went as fp8
    }

    void longSimulationsAreRefusedWithTheirEstimate() {
        // zipf gives every layer different loads; one thread prices them one after another, so the
        // first layer's time x 4 is the projection, far above a limit of a nanosecond.
        spec::Project p = project();
        p.deployment->routing = "zipf:1.2";
        auto d = resolveDeployment(p, cat()).value();
        const auto loads = deploymentLoads(d, nullptr).value();
        SimOptions o;
        o.threads = 1;
        o.maxSeconds = 1e-9;
        auto r = simulateStep(d, cat(), loads, o);
        QVERIFY(!r.ok());
        const std::string m = r.message();
        QVERIFY2(m.find("would take about") != std::string::npos && m.find("4 layers with different loads") != std::string::npos &&
                     m.find("240 flows among 16 GPUs") != std::string::npos && m.find("--max-seconds") != std::string::npos,
                 m.c_str());
        // A generous limit, or none, prices it.
        o.maxSeconds = 3600;
        QVERIFY(simulateStep(d, cat(), loads, o).ok());
        // A cancelled simulation stops with a plain message.
        std::atomic<bool> cancel{true};
        o.cancel = &cancel;
        auto c = simulateStep(d, cat(), loads, o);
        QVERIFY(!c.ok());
        QVERIFY2(c.message().find("cancelled") != std::string::npos, c.message().c_str());
    }

    void twoMicroBatchesHideCommunication() {
        spec::Project p = project();
        const StepResult one = run(p);
        SimOptions o;
        o.microBatches = 2;
        const StepResult two = run(p, o);
        QVERIFY(two.stepUs < 0.95 * one.stepUs);
        // Same GEMM work (compute-bound here), now in two pieces per layer pass.
        QVERIFY(std::abs(two.ranks[0].expertUs - one.ranks[0].expertUs) / one.ranks[0].expertUs < 0.05);
        int experts = 0;
        for (const auto& e : two.ranks[0].events) experts += e.kind == EventKind::ExpertCompute;
        QCOMPARE(experts, 2 * 2 * 4);  // 2 micro-batches x (forward, backward) x 4 layers
        o.microBatches = 3;
        auto d = resolveDeployment(p, cat()).value();
        QVERIFY(!simulateStep(d, cat(), deploymentLoads(d, nullptr).value(), o).ok());
    }

    void forwardOnlyAndAmd() {
        spec::Project p = project();
        p.deployment->cluster = "mi300x-8";
        SimOptions o;
        o.training = false;
        const StepResult r = run(p, o);
        QCOMPARE(r.backwardUs, 0.0);
        QCOMPARE(r.stepUs, r.forwardUs);
        // xGMI mesh: intra-node traffic on direct GPU-to-GPU links.
        bool mesh = false;
        for (const auto& l : r.links) mesh |= r.topology.links[static_cast<size_t>(l.link)].role == LinkRole::Mesh;
        QVERIFY(mesh);
    }
};

QTEST_GUILESS_MAIN(TestSimulate)
#include "tst_simulate.moc"
