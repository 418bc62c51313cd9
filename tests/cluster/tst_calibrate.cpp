// Calibration: parsing nccl-tests tables, recovering a known two-regime law, and the catalog
// model against the MI300X rccl-tests sample.
#include <QtTest>

#include <cmath>
#include <fstream>
#include <sstream>

#include "moe/cluster/calibrate.h"

using namespace moe::cluster;

namespace {
std::string readData(const char* name) {
    std::ifstream in(std::string(MOE_SOURCE_DIR) + "/tests/data/cluster/" + name);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}
ResolvedCluster cluster(const std::string& name) {
    static const Catalog c = Catalog::builtin().value();
    return c.resolve(name, "").value();
}
}  // namespace

class TestCalibrate : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void parsesTables() {
        auto t = parseNcclTests(readData("synthetic_two_regime.txt"), "s.txt");
        QVERIFY2(t.ok(), t.message().c_str());
        QCOMPARE(t->ranks, 4);
        QCOMPARE(static_cast<int>(t->points.size()), 14);
        QCOMPARE(t->points[0].bytes, 8.0);
        QCOMPARE(t->points[0].count, 2LL);
        QCOMPARE(t->points[0].type, std::string("float"));
        auto ip = parseNcclTests(readData("synthetic_two_regime.txt"), "s.txt", true);
        QVERIFY(ip.ok());
        QVERIFY(std::abs(ip->points[5].timeUs / t->points[5].timeUs - 0.99) < 1e-3);
        auto m = parseNcclTests(readData("rccl_tests_mi300x_allreduce.txt"), "m.txt");
        QVERIFY2(m.ok(), m.message().c_str());
        QCOMPARE(m->ranks, 8);
        QCOMPARE(static_cast<int>(m->points.size()), 8);
        QVERIFY(!parseNcclTests(readData("rccl_tests_mi300x_allreduce.txt"), "m.txt", true).ok());  // no in-place columns
    }

    void badTablesSayWhere() {
        auto e = parseNcclTests("# header\n  1024  256  float  sum  -1  12.0\n", "bad.txt");
        QVERIFY(!e.ok());
        QCOMPARE(e.errors()[0].line, 2);
        QVERIFY(e.errors()[0].message.find("needs size, count, type") != std::string::npos);
        auto n = parseNcclTests("hello\n# nothing\n", "empty.txt");
        QVERIFY(!n.ok());
        QVERIFY(n.errors()[0].message.find("no data rows") != std::string::npos);
        auto x = parseNcclTests("1024 256 float sum -1 abc 1 1 0\n", "x.txt");
        QVERIFY(!x.ok());
    }

    void leastSquaresRecoversALine() {
        std::vector<double> x{1, 10, 100, 1000}, t;
        for (double v : x) t.push_back(5 + 0.5 * v);
        auto [a, b] = fitRelative(x, t);
        QVERIFY(std::abs(a - 5) < 1e-9);
        QVERIFY(std::abs(b - 0.5) < 1e-12);
    }

    void recoversTheSyntheticLaw() {
        auto t = parseNcclTests(readData("synthetic_two_regime.txt"), "s.txt").value();
        auto c = calibrate(t, cluster("hgx-h100"), CollectiveOp::AllReduce, 4);
        QVERIFY2(c.ok(), c.message().c_str());
        QCOMPARE(static_cast<int>(c->regimes.size()), 2);
        // time = 20 us + S / 100 GB/s (small), 40 us + S / 300 GB/s (large); busbw = 1.5 x algbw.
        QVERIFY(std::abs(c->regimes[0].latencyUs - 20) < 0.5);
        QVERIFY(std::abs(c->regimes[1].latencyUs - 40) / 40 < 0.05);
        QVERIFY(std::abs(c->regimes[1].busbwGBs - 450) / 450 < 0.01);
        QVERIFY(std::abs(c->regimes[0].busbwGBs - 150) / 150 < 0.02);
        QVERIFY(c->fittedRmsPct < 1.0);
        QCOMPARE(c->link, std::string("nvlink4"));
        QVERIFY(std::abs(c->fittedEfficiency - 1.0) < 0.01);  // 450 GB/s busbw of 450 spec
    }

    void catalogModelMeetsTheMi300xTable() {
        auto t = parseNcclTests(readData("rccl_tests_mi300x_allreduce.txt"), "m.txt").value();
        auto c = calibrate(t, cluster("mi300x-8"), CollectiveOp::AllReduce, t.ranks);
        QVERIFY2(c.ok(), c.message().c_str());
        QVERIFY2(c->catalogMaxAbsPct < 15.0, std::to_string(c->catalogMaxAbsPct).c_str());
        QVERIFY(c->fittedRmsPct < 15.0);
        QCOMPARE(c->link, std::string("xgmi3"));
        QVERIFY(std::abs(c->fittedEfficiency - 0.712) < 0.03);
        QVERIFY(!calibrate(t, cluster("mi300x-8"), CollectiveOp::AllReduce, 1).ok());
    }
};

QTEST_GUILESS_MAIN(TestCalibrate)
#include "tst_calibrate.moc"
