// The flow-level model: max-min fair sharing, re-rating when flows finish or arrive.
#include <QtTest>

#include "moe/cluster/flow.h"

using namespace moe::cluster;

namespace {
Flow flow(std::vector<int> links, double bytes, double release = 0) {
    Flow f;
    f.bytes = bytes;
    f.release = release;
    f.hops = static_cast<int>(links.size());
    for (size_t i = 0; i < links.size(); ++i) f.links[i] = links[i];
    return f;
}
FlowOptions exact() {
    FlowOptions o;
    o.tolerance = 0;
    return o;
}
}  // namespace

class TestFlow : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void twoFlowsShareALink() {
        // 100 B/s link, 100 B each: both at 50 B/s, both done at 2 s.
        auto s = solveFlows({100}, {flow({0}, 100), flow({0}, 100)}, exact());
        QCOMPARE(s.finish[0], 2.0);
        QCOMPARE(s.finish[1], 2.0);
        QCOMPARE(s.linkBytes[0], 200.0);
    }

    void shortFlowLeavesBandwidthToTheLongOne() {
        // 50 B and 150 B: 50 B/s each until 1 s, then the long one alone at 100 B/s: 1 + 100/100.
        auto s = solveFlows({100}, {flow({0}, 50), flow({0}, 150)}, exact());
        QCOMPARE(s.finish[0], 1.0);
        QCOMPARE(s.finish[1], 2.0);
    }

    void maxMinFairness() {
        // Link 0 (cap 10) carries flows A and B; link 1 (cap 4) carries B and C.
        // Max-min: link 1 saturates first at 2 each (B = C = 2), A takes the rest of link 0: 8.
        auto s = solveFlows({10, 4}, {flow({0}, 80), flow({0, 1}, 20), flow({1}, 20)}, exact());
        QCOMPARE(s.finish[0], 10.0);
        QCOMPARE(s.finish[1], 10.0);
        QCOMPARE(s.finish[2], 10.0);
        QCOMPARE(s.makespan, 10.0);
        QVERIFY(s.rateUpdates >= 1);
    }

    void releasesAndLatency() {
        // The second flow arrives at 1 s: alone 0..1 (100 B), shared after.
        FlowOptions o = exact();
        o.latency = 0.5;
        auto s = solveFlows({100}, {flow({0}, 200), flow({0}, 100, 1.0)}, o);
        // 0..1: A sends 100. 1..3: both at 50 -> A done at 3, B done at 3.
        QCOMPARE(s.finish[0], 3.5);
        QCOMPARE(s.finish[1], 3.5);
        auto e = solveFlows({100}, {flow({0}, 0, 2.0)}, o);
        QCOMPARE(e.finish[0], 2.5);  // empty flows finish at release (+ latency)
    }

    void toleranceBoundsTheError() {
        std::vector<Flow> flows;
        std::vector<double> cap(8, 1000);
        for (int i = 0; i < 200; ++i) flows.push_back(flow({i % 8, (i * 3 + 1) % 8}, 100 + 7 * i, 0.01 * (i % 5)));
        auto a = solveFlows(cap, flows, exact());
        FlowOptions o;
        o.tolerance = 0.05;
        auto b = solveFlows(cap, flows, o);
        QVERIFY(b.rateUpdates < a.rateUpdates);
        QVERIFY(std::abs(b.makespan - a.makespan) / a.makespan < 0.05);
    }
};

QTEST_GUILESS_MAIN(TestFlow)
#include "tst_flow.moc"
