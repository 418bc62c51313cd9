// Predictions against measured figures (within 15%). The model is general (NCCL-style
// latency-bandwidth costs with catalog efficiencies); these are examples of reality it must meet.
//  - 8 x H100 all-reduce busbw ~480 GB/s with NVLS, ~370 GB/s ring, at 4-8 GiB
//  - 4 nodes x 8 H100, 8 x 400G IB per node: all-reduce busbw ~331 GB/s
//  - 8 x MI300X rccl-tests all-reduce (float, out-of-place, no graph): the times below
#include <QtTest>

#include <cmath>

#include "moe/cluster/collective.h"

using namespace moe::cluster;

namespace {

ResolvedCluster cluster(const std::string& name) {
    static const Catalog cat = Catalog::builtin().value();
    return cat.resolve(name, "").value();
}

double relErr(double model, double measured) { return std::abs(model - measured) / measured; }

}  // namespace

class TestValidation : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void h100NvlsAndRing_data() {
        QTest::addColumn<QString>("algo");
        QTest::addColumn<double>("bytes");
        QTest::addColumn<double>("busbw");
        const double GiB = 1024.0 * 1024 * 1024;
        QTest::newRow("nvls 4 GiB") << "nvls" << 4 * GiB << 480.0;
        QTest::newRow("nvls 8 GiB") << "nvls" << 8 * GiB << 480.0;
        QTest::newRow("ring 4 GiB") << "ring" << 4 * GiB << 370.0;
        QTest::newRow("ring 8 GiB") << "ring" << 8 * GiB << 370.0;
        QTest::newRow("auto 8 GiB is nvls") << "auto" << 8 * GiB << 480.0;
    }
    void h100NvlsAndRing() {
        QFETCH(QString, algo);
        QFETCH(double, bytes);
        QFETCH(double, busbw);
        CollectiveOptions o;
        QVERIFY(parseAlgorithm(algo.toStdString(), o.algorithm));
        auto e = estimateCollective(cluster("hgx-h100"), nullptr, CollectiveOp::AllReduce, bytes, 8, o);
        QVERIFY2(e.ok(), e.message().c_str());
        QVERIFY2(relErr(e->busbwGBs, busbw) < 0.15, (std::to_string(e->busbwGBs) + " vs " + std::to_string(busbw)).c_str());
    }

    void h100FourNodes() {
        for (double gib : {4.0, 8.0}) {
            auto e = estimateCollective(cluster("hgx-h100"), nullptr, CollectiveOp::AllReduce, gib * 1024 * 1024 * 1024, 32);
            QVERIFY2(e.ok(), e.message().c_str());
            QVERIFY2(relErr(e->busbwGBs, 331.0) < 0.15, std::to_string(e->busbwGBs).c_str());
            QCOMPARE(e->busbwGBs, e->algbwGBs * 2.0 * 31 / 32);
        }
    }

    void mi300xRcclTests_data() {
        QTest::addColumn<double>("bytes");
        QTest::addColumn<double>("timeUs");
        QTest::addColumn<double>("busbw");  // 0: not quoted
        const double K = 1024, M = K * K, G = M * K;
        QTest::newRow("8 B") << 8.0 << 16.6 << 0.0;
        QTest::newRow("1 KiB") << K << 13.1 << 0.0;
        QTest::newRow("64 KiB") << 64 * K << 13.8 << 0.0;
        QTest::newRow("1 MiB") << M << 27.4 << 66.9;
        QTest::newRow("16 MiB") << 16 * M << 148.8 << 197.3;
        QTest::newRow("256 MiB") << 256 * M << 1537.0 << 305.6;
        QTest::newRow("1 GiB") << G << 5971.0 << 314.7;
        QTest::newRow("16 GiB") << 16 * G << 94254.0 << 319.0;
    }
    void mi300xRcclTests() {
        QFETCH(double, bytes);
        QFETCH(double, timeUs);
        QFETCH(double, busbw);
        auto e = estimateCollective(cluster("mi300x-8"), nullptr, CollectiveOp::AllReduce, bytes, 8);
        QVERIFY2(e.ok(), e.message().c_str());
        QVERIFY2(relErr(e->timeUs, timeUs) < 0.15, (std::to_string(e->timeUs) + " us vs " + std::to_string(timeUs)).c_str());
        if (busbw > 0) QVERIFY2(relErr(e->busbwGBs, busbw) < 0.15, std::to_string(e->busbwGBs).c_str());
    }

    // Generality: the same catalog gives sensible answers where no figure was fitted.
    void generalBehaviour() {
        const double GiB = 1024.0 * 1024 * 1024;
        auto h8 = estimateCollective(cluster("hgx-h100"), nullptr, CollectiveOp::AllReduce, GiB, 8).value();
        auto h64 = estimateCollective(cluster("hgx-h100"), nullptr, CollectiveOp::AllReduce, GiB, 64).value();
        QVERIFY(h64.timeUs > h8.timeUs);                       // leaving the node costs
        auto b8 = estimateCollective(cluster("hgx-b200"), nullptr, CollectiveOp::AllReduce, GiB, 8).value();
        QVERIFY(b8.timeUs < h8.timeUs * 0.6);                  // NVLink 5 doubles NVLink 4
        auto m4 = estimateCollective(cluster("mi300x-8"), nullptr, CollectiveOp::AllReduce, GiB, 4).value();
        auto m8 = estimateCollective(cluster("mi300x-8"), nullptr, CollectiveOp::AllReduce, GiB, 8).value();
        QVERIFY(m4.busbwGBs < m8.busbwGBs);                     // a partial mesh uses fewer links
    }
};

QTEST_GUILESS_MAIN(TestValidation)
#include "tst_validation.moc"
