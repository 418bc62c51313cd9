// Predicted against measured per MoE block: the recorded traffic of an expert-parallel run priced
// by the flow model (four all-to-alls per step), checked against direct calls of the model and,
// for two ranks, against the latency-bandwidth price worked by hand.
#include <QtTest>

#include "moe/cluster/catalog.h"
#include "moe/cluster/collective.h"
#include "moe/cluster/layer_times.h"
#include "moe/cluster/topology.h"

using namespace moe::cluster;
using moe::telemetry::LayerTime;

namespace {

Catalog builtinCatalog() {
    auto c = Catalog::builtin();
    if (!c) qFatal("%s", c.message().c_str());
    return std::move(c.value());
}

}  // namespace

class TestLayerTimes : public QObject {
    Q_OBJECT
private Q_SLOTS:
    // Two ranks on the loopback: each direction is one flow on its own links, so one all-to-all
    // costs the per-message latency plus the larger direction's bytes at the link's rate.
    void twoRanksByHand() {
        const Catalog cat = builtinCatalog();
        auto rc = cat.resolve("localhost-gloo", "--cluster");
        QVERIFY2(rc.ok(), rc.message().c_str());
        const LinkSpec& link = *rc->scaleUp;
        const int bytesPerRow = 128;
        // Rank 0 sends 300 rows to itself and 500 to rank 1 over 10 steps; rank 1 200 to rank 0.
        std::vector<LayerTime> times = {{0, 0, 10, 0.040, 0.01, {300, 500}, bytesPerRow}, {1, 0, 10, 0.030, 0.01, {200, 600}, bytesPerRow}};
        auto p = predictLayerTimes(rc.value(), times);
        QVERIFY2(p.ok(), p.message().c_str());
        QCOMPARE(p->size(), size_t(1));
        const LayerPrediction& b = p->front();
        QCOMPARE(b.ranks, 2);
        QCOMPARE(b.slowestRank, 0);
        QCOMPARE(b.measuredSeconds, 0.004);
        const double rate = link.bwGBs * link.p2pEfficiency * 1e9;
        const double latency = (link.protocols.back().baseLatencyUs + link.protocols.back().hopLatencyUs) * 1e-6;
        const double larger = 50.0 * bytesPerRow;  // rank 0 -> 1: 500 rows / 10 steps
        QVERIFY(std::abs(b.dispatchSeconds - (latency + larger / rate)) < 1e-9);
        QVERIFY(std::abs(b.combineSeconds - (latency + larger / rate)) < 1e-9);
        QVERIFY(std::abs(b.predictedSeconds - 4 * (latency + larger / rate)) < 1e-9);
        QCOMPARE(b.dispatchBytes, (50.0 + 20.0) * bytesPerRow);
        QVERIFY(std::abs(b.errorPct() - 100.0 * (b.predictedSeconds - 0.004) / 0.004) < 1e-9);
    }

    // Three ranks with uneven traffic, two blocks and records split over two snapshots: each
    // block's prediction is the model's price of its summed mean-step matrix and of its reverse.
    void unevenMatchesTheModel() {
        const Catalog cat = builtinCatalog();
        auto rc = cat.resolve("localhost-gloo", "--cluster");
        QVERIFY2(rc.ok(), rc.message().c_str());
        std::vector<LayerTime> times;
        const double rows[2][3][3] = {{{10, 40, 0}, {5, 5, 90}, {30, 0, 1}}, {{0, 1, 2}, {3, 0, 4}, {5, 6, 0}}};
        for (int block = 0; block < 2; ++block)
            for (int r = 0; r < 3; ++r)
                for (int half = 0; half < 2; ++half) {  // two snapshots of 2 steps each
                    const auto* row = rows[block][r];
                    times.push_back({r, block, 2, 0.001 * (r + 1), 0.0, {row[0] / 2, row[1] / 2, row[2] / 2}, 256});
                }
        auto p = predictLayerTimes(rc.value(), times);
        QVERIFY2(p.ok(), p.message().c_str());
        QCOMPARE(p->size(), size_t(2));
        const Topology topo = buildTopology(rc.value(), 3);
        for (int block = 0; block < 2; ++block) {
            std::vector<std::vector<double>> m(3, std::vector<double>(3)), t(3, std::vector<double>(3));
            for (int i = 0; i < 3; ++i)
                for (int j = 0; j < 3; ++j) t[j][i] = m[i][j] = rows[block][i][j] / 4 * 256;  // 4 steps
            auto d = estimateAllToAllV(rc.value(), topo, m), c = estimateAllToAllV(rc.value(), topo, t);
            QVERIFY(d.ok() && c.ok());
            const LayerPrediction& b = p.value()[static_cast<size_t>(block)];
            QCOMPARE(b.block, block);
            QCOMPARE(b.steps, 4);
            QCOMPARE(b.slowestRank, 2);
            QCOMPARE(b.measuredSeconds, 0.006 / 4);
            QCOMPARE(b.dispatchSeconds, d.value() * 1e-6);
            QCOMPARE(b.combineSeconds, c.value() * 1e-6);
            QCOMPARE(b.predictedSeconds, 2 * (d.value() + c.value()) * 1e-6);
        }
        // The hot receiver (rank 2 gets 90 rows from rank 1) makes block 0 the dearer one.
        QVERIFY(p.value()[0].predictedSeconds > p.value()[1].predictedSeconds);
    }

    void badRecordsAreNamed() {
        const Catalog cat = builtinCatalog();
        auto rc = cat.resolve("localhost-gloo", "--cluster");
        QVERIFY2(rc.ok(), rc.message().c_str());
        auto missing = predictLayerTimes(rc.value(), {{0, 3, 5, 0.1, 0, {1, 2, 3}, 64}, {2, 3, 5, 0.1, 0, {1, 2, 3}, 64}});
        QVERIFY(!missing.ok());
        QVERIFY2(missing.message().find("layer_times (block 3), rank 1") != std::string::npos, missing.message().c_str());
        auto noSteps = predictLayerTimes(rc.value(), {{0, 0, 0, 0.1, 0, {1, 2}, 64}, {1, 0, 5, 0.1, 0, {1, 2}, 64}});
        QVERIFY(!noSteps.ok());
        QVERIFY2(noSteps.message().find("rank 0") != std::string::npos && noSteps.message().find("no steps") != std::string::npos,
                 noSteps.message().c_str());
        auto shortRow = predictLayerTimes(rc.value(), {{0, 0, 5, 0.1, 0, {1, 2}, 64}, {1, 0, 5, 0.1, 0, {1}, 64}});
        QVERIFY(!shortRow.ok());
        QVERIFY2(shortRow.message().find("rank 1") != std::string::npos, shortRow.message().c_str());
        QVERIFY(!predictLayerTimes(rc.value(), {}).ok());
        // 12 ranks do not fill whole 8-GPU nodes: the cluster's own check, naming the block.
        std::vector<LayerTime> twelve;
        for (int r = 0; r < 12; ++r) twelve.push_back({r, 0, 5, 0.1, 0, std::vector<double>(12, 1.0), 64});
        auto wrongSize = predictLayerTimes(cat.resolve("hgx-h100", "--cluster").value(), twelve);
        QVERIFY(!wrongSize.ok());
        QVERIFY2(wrongSize.message().find("block 0") != std::string::npos && wrongSize.message().find("whole") != std::string::npos,
                 wrongSize.message().c_str());
    }
};

QTEST_GUILESS_MAIN(TestLayerTimes)
#include "tst_layer_times.moc"
