// `moe simulate`, `moe collective`, `moe calibrate`, `moe clusters` and `moe bench sim` end to end.
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <cmath>
#include <QtTest>
#include "test_time.h"

namespace {

struct Run {
    int code = -1;
    QByteArray out, err;
};

Run moe(const QStringList& args) {
    QProcess p;
    p.start(MOE_CLI_PATH, args);
    p.waitForFinished(test_time::scaled(120000));
    return {p.exitCode(), p.readAllStandardOutput(), p.readAllStandardError()};
}

QString project(const char* name) { return QString(MOE_SOURCE_DIR) + "/projects/" + name; }

}  // namespace

class TestCli : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void clusters() {
        auto r = moe({"clusters", "--json"});
        QCOMPARE(r.code, 0);
        const auto j = QJsonDocument::fromJson(r.out).object();
        QVERIFY(j["clusters"].toArray().size() >= 8);
    }

    void simulateJson() {
        auto r = moe({"simulate", project("llm_h100.json"), "--routing", "zipf:1.2", "--json", "--timeline"});
        QVERIFY2(r.code == 0, r.err.constData());
        const auto j = QJsonDocument::fromJson(r.out).object();
        QCOMPARE(j["layers"].toArray().size(), 58);  // 61 layers, the first 3 dense
        QVERIFY(j["step_us"].toDouble() > 0);
        QVERIFY(j["straggler"].isObject());
        QCOMPARE(j["ranks"].toArray().size(), 64);
        QVERIFY(!j["links"].toArray().isEmpty());
    }

    void simulateText() {
        auto r = moe({"simulate", project("llm_mi300x.json"), "--forward"});
        QVERIFY2(r.code == 0, r.err.constData());
        QVERIFY(r.out.contains("hot link"));
        QVERIFY(r.out.contains("forward only"));
    }

    void collectiveTable() {
        auto r = moe({"collective", "all_reduce", "--cluster", "mi300x-8", "--gpus", "8", "--sizes", "1M,16M", "--json"});
        QVERIFY2(r.code == 0, r.err.constData());
        const auto rows = QJsonDocument::fromJson(r.out).object()["rows"].toArray();
        QCOMPARE(rows.size(), 2);
        QCOMPARE(rows[0].toObject()["size"].toDouble(), 1048576.0);
        auto v = moe({"collective", "alltoallv", "--cluster", "hgx-h100", "--gpus", "16", "--sizes", "64M"});
        QVERIFY2(v.code == 0, v.err.constData());
        QVERIFY(v.out.contains("flow"));
    }

    void calibrateSample() {
        auto r = moe({"calibrate", QString(MOE_SOURCE_DIR) + "/tests/data/cluster/rccl_tests_mi300x_allreduce.txt", "--cluster", "mi300x-8"});
        QVERIFY2(r.code == 0, r.err.constData());
        QVERIFY(r.out.contains("catalog err"));
        QVERIFY(r.out.contains("xgmi3"));
    }

    // A published log fitted, written as an overlay, and used by `moe collective`.
    void calibrateOverlayRoundTrip() {
        QTemporaryDir dir;
        const QString overlay = dir.filePath("gb200.json");
        auto c = moe({"calibrate", QString(MOE_SOURCE_DIR) + "/tests/data/cluster/gb200-72gpu-nvl72-allreduce-coreweave.txt", "--cluster", "gb200-nvl72",
                      "--no-nvls", "--overlay", overlay, "--json"});
        QVERIFY2(c.code == 0, c.err.constData());
        const auto j = QJsonDocument::fromJson(c.out).object();
        QCOMPARE(j["ranks"].toInt(), 72);
        QVERIFY(j["calibrated_rms_pct"].toDouble() < 8.0);
        QVERIFY(QFile::exists(overlay));
        auto time8G = [&](const QStringList& extra) {
            auto r = moe(QStringList{"collective", "all_reduce", "--cluster", "gb200-nvl72", "--gpus", "72", "--sizes", "8G", "--no-nvls", "--json"} + extra);
            return r.code == 0 ? QJsonDocument::fromJson(r.out).object()["rows"].toArray()[0].toObject()["time_us"].toDouble() : -1.0;
        };
        const double measured = 20299.0, before = time8G({}), after = time8G({"--catalog-overlay", overlay});
        QVERIFY(before > 0 && after > 0);
        QVERIFY2(std::abs(after - measured) / measured < 0.05, QByteArray::number(after));
        QVERIFY(std::abs(after - measured) < std::abs(before - measured));
    }

    void epKernels() {
        auto r = moe({"ep", "--cluster", "hgx-h800", "--ep", "16", "--json"});
        QVERIFY2(r.code == 0, r.err.constData());
        const auto rows = QJsonDocument::fromJson(r.out).object()["rows"].toArray();
        QVERIFY(rows.size() >= 3);
        for (const auto& row : rows) {
            const auto o = row.toObject();
            QVERIFY(o["dispatch_us"].toDouble() > 0);
            QCOMPARE(o["compute_units_total"].toInt(), 132);
            if (o["kernel"].toString() == "deepep-normal") QCOMPARE(o["overlap_compute_slowdown"].toDouble(), 132.0 / 112.0);
            if (o["kernel"].toString() == "deepep-ll") QCOMPARE(o["overlap_compute_slowdown"].toDouble(), 1.0);
        }
        // The step simulation says what the kernel's SMs cost the compute beside it.
        auto sim = moe({"simulate", project("llm_h100.json"), "--ep-kernel", "deepep-normal", "--micro-batches", "2", "--json"});
        QVERIFY2(sim.code == 0, sim.err.constData());
        const auto j = QJsonDocument::fromJson(sim.out).object();
        QCOMPARE(j["ep_kernel"].toString(), QString("deepep-normal"));
        QCOMPARE(j["kernel_compute_units"].toInt(), 20);
        QVERIFY(j["overlap_slowdown_us"].toDouble() > 0);
        auto bad = moe({"ep", "--cluster", "hgx-h800", "--ep", "16", "--kernel", "nope"});
        QCOMPARE(bad.code, 2);
        QVERIFY(bad.err.contains("deepep-ll"));
        // CPU ranks over Gloo: only the all-to-all, and the GPU libraries are named as not shown.
        auto cpu = moe({"ep", "--cluster", "localhost-gloo", "--ep", "2"});
        QVERIFY2(cpu.code == 0, cpu.err.constData());
        QVERIFY(cpu.out.contains("nccl-alltoall") && cpu.out.contains("gloo-loopback"));
        QVERIFY(!cpu.out.contains("NVLink"));
        QVERIFY2(cpu.out.contains("Not shown, as they do not run on cpu-rank (cpu): deepep-ll, deepep-normal, pplx, mori-ep"), cpu.out.constData());
        auto wrong = moe({"ep", "--cluster", "mi300x-8", "--ep", "8", "--kernel", "deepep-ll"});
        QCOMPARE(wrong.code, 2);
        QVERIFY2(wrong.err.contains("deepep-ll runs on nvidia GPUs, and a mi300x is amd"), wrong.err.constData());
    }

    void benchSmall() {
        auto r = moe({"bench", "sim", "--max-gpus", "16", "--layers", "2", "--json"});
        QVERIFY2(r.code == 0, r.err.constData());
        QCOMPARE(QJsonDocument::fromJson(r.out).object()["rows"].toArray().size(), 4);
    }

    void badInput_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<int>("code");
        QTest::addColumn<QString>("message");
        QTest::newRow("unknown cluster") << QStringList{"simulate", project("llm_h100.json"), "--cluster", "nope"} << 2 << "known clusters: hgx-h100";
        QTest::newRow("gpus not whole nodes") << QStringList{"simulate", project("llm_h100.json"), "--gpus", "12"} << 2 << "--gpus";
        QTest::newRow("bad routing") << QStringList{"simulate", project("llm_h100.json"), "--routing", "zipf:x"} << 2 << "zipf exponent";
        QTest::newRow("missing run store") << QStringList{"simulate", project("llm_h100.json"), "--routing", "missing.sqlite"} << 2 << "missing.sqlite";
        QTest::newRow("unknown op") << QStringList{"collective", "allsum", "--cluster", "hgx-h100", "--gpus", "8"} << 2 << "all_reduce";
        QTest::newRow("bad sizes") << QStringList{"collective", "all_reduce", "--cluster", "hgx-h100", "--gpus", "8", "--sizes", "1G:1M"} << 2 << "MAX is below MIN";
        QTest::newRow("nvls on a mesh") << QStringList{"collective", "all_reduce", "--cluster", "mi300x-8", "--gpus", "8", "--algo", "nvls"} << 2 << "valid: ring";
        QTest::newRow("too many gpus") << QStringList{"collective", "all_reduce", "--cluster", "hgx-h100-1switch", "--gpus", "128"} << 2 << "64 GPUs at most";
        QTest::newRow("missing overlay") << QStringList{"collective", "all_reduce", "--cluster", "hgx-h100", "--gpus", "8", "--catalog-overlay", "none.json"} << 1 << "cannot read catalog overlay";
        QTest::newRow("bad level") << QStringList{"calibrate", QString(MOE_SOURCE_DIR) + "/tests/data/cluster/gb200-72gpu-nvl72-allreduce-coreweave.txt", "--cluster", "gb200-nvl72", "--level", "x"} << 2 << "--level";
        QTest::newRow("not a table") << QStringList{"calibrate", project("llm_h100.json"), "--cluster", "hgx-h100"} << 1 << "no data rows";
    }
    void badInput() {
        QFETCH(QStringList, args);
        QFETCH(int, code);
        QFETCH(QString, message);
        auto r = moe(args);
        QCOMPARE(r.code, code);
        QVERIFY2(QString::fromUtf8(r.err).contains(message), r.err.constData());
    }
};

QTEST_GUILESS_MAIN(TestCli)
#include "tst_cli.moc"
