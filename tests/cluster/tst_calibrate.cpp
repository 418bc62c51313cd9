// Calibration: parsing nccl-tests tables, recovering a known two-regime law, and the catalog
// model against the MI300X rccl-tests sample.
#include <QtTest>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "catalog_files.h"
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

    // Absurd or non-finite values are damaged rows, each named by its line; a file wrong on
    // every row reports the first 100 and how many more.
    void absurdRowsAreRefusedByLine() {
        const std::string ok = "  1024  256  float  sum  -1  12.0  0.08  0.15  0  12.0  0.08  0.15  0\n";
        const std::pair<const char*, const char*> cases[] = {
            {"  1e308  256  float  sum  -1  12.0  0.08  0.15  0  12.0  0.08  0.15  0\n", "the size 1e308 bytes is beyond any collective"},
            {"  -1024  256  float  sum  -1  12.0  0.08  0.15  0  12.0  0.08  0.15  0\n", "size and time must be positive"},
            {"  nan  256  float  sum  -1  12.0  0.08  0.15  0  12.0  0.08  0.15  0\n", "the size \"nan\" is not a finite number of bytes"},
            {"  1024  256  float  sum  -1  nan  0.08  0.15  0  12.0  0.08  0.15  0\n", "time, algbw and busbw must be numbers"},
            {"  1024  256  float  sum  -1  1e300  0.08  0.15  0  12.0  0.08  0.15  0\n", "the time 1e300 us is beyond any measurement"},
        };
        for (const auto& [row, message] : cases) {
            auto r = parseNcclTests(ok + row + ok, "bad.txt");
            QVERIFY2(!r.ok(), row);
            QCOMPARE(r.errors()[0].line, 2);
            QVERIFY2(r.errors()[0].message.find(message) != std::string::npos, r.errors()[0].message.c_str());
        }
        std::string many;
        for (int i = 0; i < 250; ++i) many += "  -1  256  float  sum  -1  12.0  0.08  0.15  0\n";
        auto r = parseNcclTests(many, "many.txt");
        QCOMPARE(r.errors().size(), size_t(101));
        QVERIFY(r.errors().back().message.find("... and 150 more rows with errors") != std::string::npos);
    }

    // The split search (prefix sums, one crossing per pair of lines) finds the same two regimes as
    // trying every split with every point's error summed directly.
    void splitSearchMatchesBruteForce() {
        MeasuredTable t;
        std::vector<double> x, y;
        for (int i = 0; i < 60; ++i) {
            const double bytes = std::pow(2.0, 3 + 0.5 * i);
            const double us = bytes < 1e6 ? 15 + bytes / 8e4 : 60 + bytes / 3e5;
            const double noisy = us * (1 + 0.03 * std::sin(7.0 * i));
            t.points.push_back({bytes, 0, "float", noisy, 0, 0, 0});
            x.push_back(bytes);
            y.push_back(noisy);
        }
        auto c = calibrate(t, cluster("hgx-h100"), CollectiveOp::AllReduce, 8);
        QVERIFY2(c.ok(), c.message().c_str());
        auto err = [&](std::pair<double, double> a, std::pair<double, double> b, bool two) {
            double e = 0;
            for (size_t i = 0; i < x.size(); ++i) {
                const double f = two ? std::min(a.first + a.second * x[i], b.first + b.second * x[i]) : a.first + a.second * x[i];
                e += std::pow((f - y[i]) / y[i], 2);
            }
            return e;
        };
        const auto whole = fitRelative(x, y);
        double best = err(whole, whole, false);
        size_t split = 0;
        for (size_t s = 2; s + 2 <= x.size(); ++s) {
            const auto a = fitRelative({x.begin(), x.begin() + static_cast<long>(s)}, {y.begin(), y.begin() + static_cast<long>(s)});
            const auto b = fitRelative({x.begin() + static_cast<long>(s), x.end()}, {y.begin() + static_cast<long>(s), y.end()});
            if (const double e = err(a, b, true); e < best * 0.999) best = e, split = s;
        }
        QVERIFY(split > 0);
        QCOMPARE(static_cast<int>(c->regimes.size()), 2);
        QCOMPARE(c->regimes[0].points, static_cast<int>(split));
    }

    // A table longer than the descent's row budget: every row is reported, the fit still holds.
    void longTablesAreFittedAndReportedWhole() {
        auto small = parseNcclTests(readData("synthetic_two_regime.txt"), "s.txt").value();
        auto ref = calibrate(small, cluster("hgx-h100"), CollectiveOp::AllReduce, 4);
        QVERIFY2(ref.ok(), ref.message().c_str());
        MeasuredTable t;
        for (int i = 0; i < 3000; ++i) {
            const double bytes = 8 * std::pow(2.0, 30.0 * i / 2999);
            t.points.push_back({bytes, 0, "float", bytes < 1e6 ? 20 + bytes / 1e5 : 40 + bytes / 3e5, 0, 0, 0});
        }
        auto c = calibrate(t, cluster("hgx-h100"), CollectiveOp::AllReduce, 4);
        QVERIFY2(c.ok(), c.message().c_str());
        QCOMPARE(c->points.size(), size_t(3000));
        QCOMPARE(static_cast<int>(c->regimes.size()), 2);
        QVERIFY(std::abs(c->regimes[1].busbwGBs - 450) / 450 < 0.02);
        QVERIFY(c->calibratedRmsPct < ref->calibratedRmsPct + 5);
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

    // The published logs as users paste them (tests/data/cluster, each with its '##' source
    // header): ranks from a trimmed rank list, from "#   Rank N Pid" lines without Group, NCCL
    // INFO lines and code fences between the header and the table.
    void readsThePublishedLogs_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<int>("ranks");
        QTest::addColumn<int>("gpusPerProcess");
        QTest::addColumn<int>("points");
        QTest::addColumn<QString>("op");  // the collective the file names, empty when it names none
        QTest::newRow("4 x H100") << "h100-4gpu-allreduce-dudeperf3ct-lambda.txt" << 4 << 4 << 28 << "all_reduce";
        QTest::newRow("A3 Mega") << "h100-16gpu-2node-allreduce-a3mega-tcpxo.txt" << 16 << 1 << 31 << "all_reduce";
        QTest::newRow("2 x MI300X") << "mi300x-16gpu-2node-allreduce-hisohara-aac10.txt" << 16 << 1 << 32 << "all_reduce";
        QTest::newRow("GB200 NVL72") << "gb200-72gpu-nvl72-allreduce-coreweave.txt" << 72 << 0 << 5 << "";
        QTest::newRow("localhost alltoall") << "localhost-gloo-2rank-alltoall.txt" << 2 << 0 << 17 << "alltoall";
    }
    void readsThePublishedLogs() {
        QFETCH(QString, file);
        QFETCH(int, ranks);
        QFETCH(int, gpusPerProcess);
        QFETCH(int, points);
        QFETCH(QString, op);
        auto t = parseNcclTestsTables(readData(file.toStdString().c_str()), file.toStdString());
        QVERIFY2(t.ok(), t.message().c_str());
        QCOMPARE(static_cast<int>(t->size()), 1);
        QCOMPARE(t->front().ranks, ranks);
        QCOMPARE(t->front().gpusPerProcess, gpusPerProcess);
        QCOMPARE(static_cast<int>(t->front().points.size()), points);
        QVERIFY(!t->front().inPlaceColumns);
        QCOMPARE(QString::fromStdString(t->front().op), op);
    }

    // Variants users produce: CRLF line ends, comment lines that lost their '#', two runs in one
    // file, a table printing only the in-place group, no rank lines but nGpus and mpirun -np.
    void readsLogsAsPrinted() {
        const std::string rows = "           8             2     float     sum      -1    26.08    0.00    0.00      0    24.37    0.00    0.00      0\n"
                                 "        1024           256     float     sum      -1    23.85    0.04    0.06      0    23.30    0.04    0.07      0\n";
        const std::string header = "#  Rank  0 Group  0 Pid  1 on h device  0 [0x01] GPU\n#  Rank  1 Group  0 Pid  2 on h device  1 [0x02] GPU\n"
                                   "#                                                              out-of-place                       in-place\n"
                                   "#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong\n";
        std::string crlf;
        for (char ch : header + rows) {
            if (ch == '\n') crlf += '\r';
            crlf += ch;
        }
        auto a = parseNcclTests(crlf, "crlf.txt");
        QVERIFY2(a.ok(), a.message().c_str());
        QCOMPARE(a->ranks, 2);
        QCOMPARE(a->points[1].timeUs, 23.85);

        // The '#' lost on every comment line (as when copied from a web page).
        std::string bare;
        std::istringstream in(header + "       (B)    (elements)                               (us)  (GB/s)  (GB/s)\n" + rows +
                              " Out of bounds values : 0 OK\n Avg bus bandwidth    : 0.03\n");
        for (std::string line; std::getline(in, line);) {
            const auto hash = line.find('#');
            bare += (hash == std::string::npos ? line : line.substr(0, hash) + " " + line.substr(hash + 1)) + "\n";
        }
        auto b = parseNcclTests(bare, "bare.txt");
        QVERIFY2(b.ok(), b.message().c_str());
        QCOMPARE(b->ranks, 2);
        QCOMPARE(static_cast<int>(b->points.size()), 2);

        // Two runs: the second with 8 ranks from nGpus 4 x mpirun -np 2 (no rank lines).
        const std::string second = "$ mpirun -np 2 ./all_reduce_perf -b 8 -e 1K -g 4\n"
                                   "# nThread 1 nGpus 4 minBytes 8 maxBytes 1024 step: 2(factor) warmup iters: 5 iters: 20\n"
                                   "#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong\n" +
                                   rows;
        auto two = parseNcclTestsTables(header + rows + second, "two.txt");
        QVERIFY2(two.ok(), two.message().c_str());
        QCOMPARE(static_cast<int>(two->size()), 2);
        QCOMPARE(two->at(0).ranks, 2);
        QCOMPARE(two->at(1).ranks, 8);
        QCOMPARE(two->at(1).gpusPerProcess, 4);
        QCOMPARE(two->at(1).processes, 2);

        // Only the in-place group printed: taken (and said), and asked-for in-place works too.
        const std::string ipOnly = "#                                                    in-place\n"
                                   "#       size         count      type   redop    root     time   algbw   busbw #wrong\n"
                                   "        1024           256     float     sum      -1    30.00    0.03    0.05      0\n";
        auto c = parseNcclTests(ipOnly, "ip.txt");
        QVERIFY2(c.ok(), c.message().c_str());
        QVERIFY(c->inPlaceColumns);
        QCOMPARE(c->points[0].timeUs, 30.0);
        QVERIFY(parseNcclTests(ipOnly, "ip.txt", true).ok());
        const std::string oopOnly = "#                                                    out-of-place\n"
                                    "        1024           256     float     sum      -1    30.00    0.03    0.05      0\n";
        auto d = parseNcclTests(oopOnly, "oop.txt", true);
        QVERIFY(!d.ok());
        QVERIFY(d.errors()[0].message.find("only the out-of-place") != std::string::npos);
    }

    // The targets of the simulator against the published logs: the shipped catalog within 20% rms
    // and 40% at any point over each whole sweep; after calibration within 8% rms.
    void modelMeetsThePublishedLogs_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("clusterName");
        QTest::addColumn<bool>("nvls");
        QTest::newRow("4 x H100, NCCL 2.26.2") << "h100-4gpu-allreduce-dudeperf3ct-lambda.txt" << "hgx-h100" << true;
        QTest::newRow("2 x 8 H100, A3 Mega TCPXO") << "h100-16gpu-2node-allreduce-a3mega-tcpxo.txt" << "gcp-a3-mega" << true;
        QTest::newRow("2 x 8 MI300X, RCCL 2.22.3") << "mi300x-16gpu-2node-allreduce-hisohara-aac10.txt" << "mi300x-8-aac" << true;
        QTest::newRow("GB200 NVL72, NVLS off") << "gb200-72gpu-nvl72-allreduce-coreweave.txt" << "gb200-nvl72" << false;
    }
    void modelMeetsThePublishedLogs() {
        QFETCH(QString, file);
        QFETCH(QString, clusterName);
        QFETCH(bool, nvls);
        auto t = parseNcclTests(readData(file.toStdString().c_str()), file.toStdString());
        QVERIFY2(t.ok(), t.message().c_str());
        CollectiveOptions opt;
        opt.nvls = nvls;
        opt.gpusPerProcess = std::max(1, t->gpusPerProcess);
        auto c = calibrate(t.value(), cluster(clusterName.toStdString()), CollectiveOp::AllReduce, t->ranks, opt);
        QVERIFY2(c.ok(), c.message().c_str());
        const std::string msg = "catalog rms " + std::to_string(c->catalogRmsPct) + "% max " + std::to_string(c->catalogMaxAbsPct) + "%, calibrated rms " +
                                std::to_string(c->calibratedRmsPct) + "%";
        QVERIFY2(c->catalogRmsPct <= 20.0, msg.c_str());
        QVERIFY2(c->catalogMaxAbsPct <= 40.0, msg.c_str());
        QVERIFY2(c->calibratedRmsPct <= 8.0, msg.c_str());
        QVERIFY(c->calibratedRmsPct <= c->catalogRmsPct + 1e-9);  // the fit starts from the catalog
        QVERIFY(!c->fittedLinks.empty());
        for (const auto& l : c->fittedLinks) {
            QVERIFY(l.collectiveEfficiency > 0 && l.collectiveEfficiency <= 1.0);  // within the catalog's ranges
            for (const auto& p : l.protocols) QVERIFY(p.bwFactor > 0 && p.bwFactor <= 1.0);
        }
    }

    // The overlay calibrate writes loads over the catalog and reproduces the calibrated model.
    void overlayReproducesTheFit() {
        const char* file = "gb200-72gpu-nvl72-allreduce-coreweave.txt";
        auto t = parseNcclTests(readData(file), file).value();
        CollectiveOptions opt;
        opt.nvls = false;
        auto c = calibrate(t, cluster("gb200-nvl72"), CollectiveOp::AllReduce, 72, opt).value();
        const std::string overlay = calibrationOverlay(c, file, "gb200-nvl72");
        QVERIFY(overlay.find("fitted to gb200-72gpu-nvl72-allreduce-coreweave.txt") != std::string::npos);
        auto cat = Catalog::parse(shippedCatalogFiles(), "catalog", {{"overlay.json", overlay}});
        QVERIFY2(cat.ok(), cat.message().c_str());
        const ResolvedCluster rc = cat->resolve("gb200-nvl72", "").value();
        for (const auto& p : c.points) {
            auto e = estimateCollective(rc, nullptr, CollectiveOp::AllReduce, p.bytes, 72, opt).value();
            QVERIFY(std::abs(e.timeUs - p.calibratedUs) / p.calibratedUs < 1e-3);  // numbers rounded to 1e-6 in the file
        }
        QVERIFY(cat->link("nvlink5")->sources.at("collective_efficiency").find("moe calibrate") != std::string::npos);
        QCOMPARE(cat->links().size(), Catalog::builtin()->links().size());  // replaced, not added
    }

    // A NIC written to an overlay keeps its in-network reduction flag (SHARP, NCCL's CollNet).
    void overlayKeepsSharp() {
        Calibration c;
        c.fittedLinks.push_back(*Catalog::builtin()->link("ib-ndr-cx7"));
        QVERIFY(c.fittedLinks.front().sharp);
        const std::string overlay = calibrationOverlay(c, "log.txt", "hgx-h100");
        QVERIFY2(overlay.find("\"sharp\": true") != std::string::npos, overlay.c_str());
        auto cat = Catalog::parse(shippedCatalogFiles(), "catalog", {{"overlay.json", overlay}});
        QVERIFY2(cat.ok(), cat.message().c_str());
        QVERIFY(cat->link("ib-ndr-cx7")->sharp);
    }

    // The local loop on a table measured with `moe collective alltoall --measure --nproc 2` on the
    // development machine: from a start with half the loopback's point-to-point rate, the fit
    // finds the measured rate again (the all-to-all's efficiency is p2p_efficiency), and the
    // overlay it writes gives the catalog the fitted link.
    void fitsTheLocalLoopback() {
        const char* file = "localhost-gloo-2rank-alltoall.txt";
        auto t = parseNcclTests(readData(file), file);
        QVERIFY2(t.ok(), t.message().c_str());
        QCOMPARE(t->ranks, 2);
        Catalog wrong = Catalog::builtin().value();
        const double shipped = wrong.link("gloo-loopback")->p2pEfficiency;
        wrong.mutableLink("gloo-loopback")->p2pEfficiency = shipped / 2;
        const ResolvedCluster start = wrong.resolve("localhost-gloo", "").value();
        auto c = calibrate(t.value(), start, CollectiveOp::AllToAll, 2);
        QVERIFY2(c.ok(), c.message().c_str());
        QCOMPARE(c->efficiencyField, std::string("p2p_efficiency"));
        QCOMPARE(c->fittedLinks.size(), size_t(1));  // the loopback is the scale-up link and the NIC
        const LinkSpec& fitted = c->fittedLinks.front();
        QCOMPARE(fitted.name, std::string("gloo-loopback"));
        // 16 MiB in 5,137 us: 1.63 GB/s of 12 GB/s
        QVERIFY2(std::abs(fitted.p2pEfficiency - 0.136) / 0.136 < 0.10, std::to_string(fitted.p2pEfficiency).c_str());
        QVERIFY(c->calibratedRmsPct < c->catalogRmsPct);
        QVERIFY(c->catalogRmsPct > 40);  // half the rate is far out at the large sizes
        QVERIFY(c->calibratedRmsPct < 35);  // the small sizes of a shared machine are noisy
        const std::string overlay = calibrationOverlay(c.value(), file, "localhost-gloo");
        auto cat = Catalog::parse(shippedCatalogFiles(), "catalog", {{"local.json", overlay}});
        QVERIFY2(cat.ok(), cat.message().c_str());
        QCOMPARE(cat->link("gloo-loopback")->p2pEfficiency, std::round(fitted.p2pEfficiency * 1e6) / 1e6);
        QVERIFY(cat->link("gloo-loopback")->sources.at("p2p_efficiency").find("moe calibrate") != std::string::npos);
    }

    // The same command on the same machine under load: small messages four times faster, large
    // ones half as fast. Calibration moves the per-message latency to the new floor; one protocol
    // cannot follow both regimes, so the fit stays well above the quiet table's.
    void refitsTheLoadedLoopback() {
        const char* file = "localhost-gloo-2rank-alltoall-loaded.txt";
        auto t = parseNcclTests(readData(file), file);
        QVERIFY2(t.ok(), t.message().c_str());
        auto c = calibrate(t.value(), cluster("localhost-gloo"), CollectiveOp::AllToAll, 2);
        QVERIFY2(c.ok(), c.message().c_str());
        QVERIFY(c->catalogRmsPct > 100);
        QVERIFY(c->calibratedRmsPct < 50);
        const ProtocolSpec& simple = c->fittedLinks.front().protocols.front();
        QVERIFY2(simple.baseLatencyUs + simple.hopLatencyUs < 40, std::to_string(simple.baseLatencyUs + simple.hopLatencyUs).c_str());
    }
};

QTEST_GUILESS_MAIN(TestCalibrate)
#include "tst_calibrate.moc"
