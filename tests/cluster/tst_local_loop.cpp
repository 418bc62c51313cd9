// The local loop end to end: a collective table measured on CPU ranks, fitted on localhost-gloo
// and used by `moe simulate`; `moe report --predict` of a run store with known layer times.
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>

#include "moe/cluster/catalog.h"
#include "moe/cluster/collective.h"
#include "moe/cluster/topology.h"
#include "moe/telemetry/run_store.h"
#include "moe_process.h"
#include "test_time.h"

namespace {

using moe_process::Run;
using moe_process::runMoe;

QString project(const char* name) { return QString(MOE_SOURCE_DIR) + "/projects/" + name; }

}  // namespace

class TestLocalLoop : public QObject {
    Q_OBJECT
private Q_SLOTS:
    // The local loop: a table measured with `moe collective alltoall --measure --nproc 2`,
    // fitted on localhost-gloo, written as an overlay, and `moe simulate` of a project with
    // expert parallelism over 2 CPU ranks on that overlay.
    void localhostCalibrateAndSimulate() {
        QTemporaryDir dir;
        const QString overlay = dir.filePath("local.json");
        auto c = runMoe({"calibrate", QString(MOE_SOURCE_DIR) + "/tests/data/cluster/localhost-gloo-2rank-alltoall.txt", "--cluster", "localhost-gloo",
                      "--op", "alltoall", "--overlay", overlay, "--json"});
        QVERIFY2(c.code == 0, qPrintable(c.err));
        const auto cj = QJsonDocument::fromJson(c.out.toUtf8()).object();
        QCOMPARE(cj["ranks"].toInt(), 2);
        QCOMPARE(cj["efficiency_field"].toString(), QString("p2p_efficiency"));
        QVERIFY(QFile::exists(overlay));
        // The table names its collective: without --op it is taken, a different --op is refused.
        auto named = runMoe({"calibrate", QString(MOE_SOURCE_DIR) + "/tests/data/cluster/localhost-gloo-2rank-alltoall.txt", "--cluster", "localhost-gloo", "--json"});
        QVERIFY2(named.code == 0, qPrintable(named.err));
        QCOMPARE(QJsonDocument::fromJson(named.out.toUtf8()).object()["op"].toString(), QString("alltoall"));
        auto wrongOp = runMoe({"calibrate", QString(MOE_SOURCE_DIR) + "/tests/data/cluster/localhost-gloo-2rank-alltoall.txt", "--cluster", "localhost-gloo",
                               "--op", "all_reduce"});
        QCOMPARE(wrongOp.code, 2);
        QVERIFY2(wrongOp.err.contains("line 4 names alltoall"), qPrintable(wrongOp.err));
        QFile in(project("classroom_spirals.json"));
        QVERIFY(in.open(QIODevice::ReadOnly));
        QJsonObject proj = QJsonDocument::fromJson(in.readAll()).object();
        proj["deployment"] = QJsonObject{{"cluster", "localhost-gloo"}, {"gpus", 2}, {"tokens_per_gpu", 32}, {"dtype", "fp32"},
                                         {"parallel", QJsonObject{{"ep", 2}, {"dp", 1}, {"tp", 1}}}, {"routing", "uniform"}};
        const QString projectPath = dir.filePath("spirals_ep2.json");
        QFile out(projectPath);
        QVERIFY(out.open(QIODevice::WriteOnly));
        out.write(QJsonDocument(proj).toJson());
        out.close();
        auto stepUs = [&](const QStringList& extra) {
            auto r = runMoe(QStringList{"simulate", projectPath, "--json"} + extra);
            if (r.code != 0) qWarning("%s", qPrintable(r.err));
            const auto j = QJsonDocument::fromJson(r.out.toUtf8()).object();
            return r.code == 0 && j["cluster"].toString() == "localhost-gloo" && j["parallel"].toObject()["ep"].toInt() == 2 ? j["step_us"].toDouble() : -1.0;
        };
        const double shipped = stepUs({}), calibrated = stepUs({"--catalog-overlay", overlay});
        QVERIFY(shipped > 0 && calibrated > 0);
        QVERIFY(shipped != calibrated);  // the fitted latencies and rate are what the simulation used
    }

    // `moe report RUN --predict CLUSTER` of a store with known layer times: each block's predicted
    // all-to-all is the flow model's price of the recorded traffic (dispatch and combine, forward and
    // backward), the measured one the slowest rank's time per step.
    void reportPredictsRecordedLayers() {
        QTemporaryDir dir;
        const std::string path = dir.filePath("ep.sqlite").toStdString();
        const double rows[2][2][2] = {{{4000, 6000}, {3000, 7000}}, {{9000, 1000}, {500, 9500}}};  // [block][rank][to rank], over 10 steps
        {
            auto w = moe::telemetry::RunWriter::create(path, {});
            QVERIFY2(w.ok(), w.message().c_str());
            for (int step : {5, 10}) {  // two snapshots of 5 steps each
                auto s = std::make_shared<moe::telemetry::RoutingSnapshot>();
                s->step = step;
                for (int block = 0; block < 2; ++block)
                    for (int r = 0; r < 2; ++r)
                        s->layerTimes.push_back({r, block, 5, 0.001 * (1 + r + 2 * block), 0.0005,
                                                 {rows[block][r][0] / 2, rows[block][r][1] / 2}, 256});
                w.value()->append(s);
            }
            w.value()->finish("finished");
        }
        auto r = runMoe({"report", QString::fromStdString(path), "--predict", "localhost-gloo", "--json"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const auto j = QJsonDocument::fromJson(r.out.toUtf8()).object();
        QCOMPARE(j["layer_times"].toArray().size(), 4);
        const auto blocks = j["prediction"].toObject()["blocks"].toArray();
        QCOMPARE(blocks.size(), 2);
        const auto cat = moe::cluster::Catalog::builtin().value();
        const auto rc = cat.resolve("localhost-gloo", "").value();
        const auto topo = moe::cluster::buildTopology(rc, 2);
        double predictedTotal = 0;
        for (int block = 0; block < 2; ++block) {
            std::vector<std::vector<double>> dispatch(2, std::vector<double>(2)), combine(2, std::vector<double>(2));
            for (int i = 0; i < 2; ++i)
                for (int k = 0; k < 2; ++k) combine[k][i] = dispatch[i][k] = rows[block][i][k] / 10 * 256;
            const double us = 2 * (moe::cluster::estimateAllToAllV(rc, topo, dispatch).value() + moe::cluster::estimateAllToAllV(rc, topo, combine).value());
            const auto b = blocks[block].toObject();
            QCOMPARE(b["block"].toInt(), block);
            QVERIFY2(std::abs(b["predicted_alltoall_ms_per_step"].toDouble() - us / 1000) < 1e-9, QByteArray::number(b["predicted_alltoall_ms_per_step"].toDouble()));
            QCOMPARE(b["measured_alltoall_ms_per_step"].toDouble(), 1e3 * 2 * 0.001 * (2 + 2 * block) / 10);  // rank 1, 2 snapshots
            QCOMPARE(b["slowest_rank"].toInt(), 1);
            predictedTotal += us / 1000;
        }
        QVERIFY(std::abs(j["prediction"].toObject()["total"].toObject()["predicted_alltoall_ms_per_step"].toDouble() - predictedTotal) < 1e-9);
        auto text = runMoe({"report", QString::fromStdString(path), "--predict", "localhost-gloo"});
        QVERIFY2(text.code == 0, qPrintable(text.err));
        QVERIFY(text.out.contains("predicted on localhost-gloo"));
        QVERIFY(text.out.contains("expert parallel, time per step"));
        auto csv = runMoe({"report", QString::fromStdString(path), "--csv", "layer_times"});
        QCOMPARE(csv.code, 0);
        QVERIFY(csv.out.startsWith("step,rank,block,steps,alltoall_seconds,expert_seconds,rows_to,bytes_per_row,wait_seconds\n"));
        QCOMPARE(csv.out.count('\n'), 9);
        // Without layer times there is nothing to predict; an overlay without --predict is a mistake.
        auto none = runMoe({"report", QString::fromStdString(path), "--predict", "nope"});
        QCOMPARE(none.code, 2);
        QVERIFY2(none.err.contains("known"), qPrintable(none.err));
        auto stray = runMoe({"report", QString::fromStdString(path), "--catalog-overlay", "x.json"});
        QCOMPARE(stray.code, 2);
        QVERIFY2(stray.err.contains("--predict"), qPrintable(stray.err));
        const std::string plain = dir.filePath("plain.sqlite").toStdString();
        {
            auto w = moe::telemetry::RunWriter::create(plain, {});
            auto s = std::make_shared<moe::telemetry::RoutingSnapshot>();
            s->step = 1;
            w.value()->append(s);
            w.value()->finish("finished");
        }
        auto noTimes = runMoe({"report", QString::fromStdString(plain), "--predict", "localhost-gloo"});
        QCOMPARE(noTimes.code, 2);
        QVERIFY2(noTimes.err.contains("no expert-parallel layer times"), qPrintable(noTimes.err));
    }
};

QTEST_GUILESS_MAIN(TestLocalLoop)
#include "tst_local_loop.moc"
