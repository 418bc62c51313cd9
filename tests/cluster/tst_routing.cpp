// Routing for the simulator: synthetic loads, rescaling recorded loads to another expert and
// layer count, and reading them from a real run store (with clear errors for another model).
#include <QtTest>
#include <QTemporaryDir>

#include <numeric>

#include "moe/cluster/simulate.h"
#include "moe/telemetry/run_store.h"

using namespace moe::cluster;
using moe::telemetry::BlockSnapshot;

namespace {

BlockSnapshot block(std::vector<double> tokens) {
    BlockSnapshot b;
    b.experts = static_cast<int>(tokens.size());
    b.ffnExperts = b.experts;
    b.tokensPerExpert = std::move(tokens);
    return b;
}

double sum(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); }

}  // namespace

class TestRouting : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void parsesRoutings() {
        QVERIFY(parseRouting("uniform", "x")->kind == RoutingKind::Uniform);
        auto z = parseRouting("zipf:1.2", "x");
        QVERIFY(z.ok() && z->kind == RoutingKind::Zipf);
        QCOMPARE(z->zipfS, 1.2);
        QVERIFY(parseRouting("runs/a.sqlite", "x")->kind == RoutingKind::Recorded);
        for (const char* bad : {"zipf:", "zipf:0", "zipf:11", "Uniform", "zipf:1.2x", "runs/a.json"}) {
            auto r = parseRouting(bad, "--routing");
            QVERIFY2(!r.ok(), bad);
            QCOMPARE(QString::fromStdString(r.errors()[0].path), QString("--routing"));
        }
    }

    void zipfLoadsAreSkewedAndDifferPerLayer() {
        RoutingChoice z;
        z.kind = RoutingKind::Zipf;
        z.zipfS = 1.0;
        auto loads = syntheticLoads(z, 3, 16);
        QCOMPARE(static_cast<int>(loads.size()), 3);
        for (const auto& l : loads) {
            QCOMPARE(sum(l), 1.0);
            auto sorted = l;
            std::sort(sorted.rbegin(), sorted.rend());
            QCOMPARE(sorted[0] / sorted[1], 2.0);  // 1/1 vs 1/2
        }
        const auto hot = [](const std::vector<double>& l) { return std::max_element(l.begin(), l.end()) - l.begin(); };
        QVERIFY(hot(loads[0]) != hot(loads[1]) || hot(loads[1]) != hot(loads[2]));
        auto again = syntheticLoads(z, 3, 16);
        QCOMPARE(again, loads);  // deterministic
    }

    void rescalesExperts() {
        auto same = rescaleRecorded({block({1, 3})}, 1, 2, "r").value();
        QCOMPARE(same[0][0], 0.25);
        auto split = rescaleRecorded({block({1, 3})}, 1, 4, "r").value();
        QCOMPARE(split[0][0], 0.125);
        QCOMPARE(split[0][1], 0.125);
        QCOMPARE(split[0][3], 0.375);
        auto merge = rescaleRecorded({block({1, 1, 3, 3})}, 1, 2, "r").value();
        QCOMPARE(merge[0][0], 0.25);
        QCOMPARE(merge[0][1], 0.75);
        auto odd = rescaleRecorded({block({1, 2, 3})}, 1, 7, "r").value();
        QCOMPARE(sum(odd[0]), 1.0);
        QVERIFY(odd[0][6] > odd[0][0]);
    }

    void mapsLayersOrSaysWhy() {
        auto rep = rescaleRecorded({block({1, 0}), block({0, 1})}, 4, 2, "r").value();
        QCOMPARE(rep[0][0], 1.0);
        QCOMPARE(rep[1][0], 1.0);
        QCOMPARE(rep[2][1], 1.0);
        QCOMPARE(rep[3][1], 1.0);
        auto bad = rescaleRecorded({block({1, 0}), block({0, 1})}, 61, 8, "--routing");
        QVERIFY(!bad.ok());
        QVERIFY2(bad.errors()[0].message.find("recorded 2 MoE block(s) but the deployment has 61 MoE layers") != std::string::npos,
                 bad.message().c_str());
        QVERIFY(!rescaleRecorded({}, 4, 8, "r").ok());
        QVERIFY(!rescaleRecorded({block({0, 0})}, 1, 8, "r").ok());
        BlockSnapshot empty;
        QVERIFY(!rescaleRecorded({empty}, 1, 8, "r").ok());
    }

    void readsARunStore() {
        QTemporaryDir dir;
        const std::string path = dir.filePath("run.sqlite").toStdString();
        {
            moe::telemetry::RunInfo info;
            info.runId = "test-run";
            auto w = moe::telemetry::RunWriter::create(path, info);
            QVERIFY2(w.ok(), w.message().c_str());
            for (int step : {10, 20}) {
                auto s = std::make_shared<moe::telemetry::RoutingSnapshot>();
                s->step = step;
                // Two MoE blocks of 4 experts; block 1 sends everything to expert 3 at step 20.
                s->blocks = {block({10, 10, 10, 10}), block(step == 20 ? std::vector<double>{0, 0, 0, 40} : std::vector<double>{10, 10, 10, 10})};
                s->blocks[1].block = 2;
                w.value()->append(s);
            }
            w.value()->finish("finished");
        }
        auto rec = loadRecordedRouting(path, "--routing");
        QVERIFY2(rec.ok(), rec.message().c_str());
        QCOMPARE(static_cast<int>(rec->blocks.size()), 2);
        QVERIFY(rec->description.find("step 20") != std::string::npos);

        Deployment d;
        d.layers = 4;
        d.experts = 8;
        d.routing = parseRouting(path, "--routing").value();
        d.routingWhere = "--routing";
        auto loads = deploymentLoads(d, nullptr);
        QVERIFY2(loads.ok(), loads.message().c_str());
        QCOMPARE(loads.value()[0][0], 0.125);
        QCOMPARE(loads.value()[3][6] + loads.value()[3][7], 1.0);  // expert 3 of 4 -> experts 6, 7 of 8

        d.layers = 3;  // another model: 3 layers cannot take 2 recorded blocks
        auto bad = deploymentLoads(d, nullptr);
        QVERIFY(!bad.ok());
        QCOMPARE(QString::fromStdString(bad.errors()[0].path), QString("--routing"));
        QVERIFY(bad.errors()[0].message.find("multiple of 2") != std::string::npos);

        d.routing.path = dir.filePath("missing.sqlite").toStdString();
        QVERIFY(!deploymentLoads(d, nullptr).ok());
    }
};

QTEST_GUILESS_MAIN(TestRouting)
#include "tst_routing.moc"
