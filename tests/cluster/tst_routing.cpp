// Routing for the simulator: synthetic loads, rescaling recorded loads to another expert and
// layer count, and reading them from a real run store (with clear errors for another model).
#include <QtTest>
#include <QTemporaryDir>

#include <algorithm>
#include <cmath>
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

    // Top-k picks k distinct experts per token, so no expert can take more than 1/k of a layer's
    // assignments, whatever the skew; the old weight-proportional shares gave the hottest expert
    // 25% with top-8 of 256 at zipf:1.2.
    void zipfNeverExceedsOneOverK() {
        for (double s : {0.5, 1.0, 1.2, 2.0, 4.0, 10.0}) {
            for (int experts : {8, 64, 256}) {
                RoutingChoice z;
                z.kind = RoutingKind::Zipf;
                z.zipfS = s;
                for (int k = 1; k <= experts; ++k) {
                    const auto loads = syntheticLoads(z, 2, experts, k);
                    for (const auto& l : loads) {
                        QVERIFY(std::abs(sum(l) - 1.0) < 1e-9);
                        const double hottest = *std::max_element(l.begin(), l.end());
                        QVERIFY2(hottest <= 1.0 / k + 1e-12, qPrintable(QString("zipf:%1 E=%2 k=%3 hottest %4").arg(s).arg(experts).arg(k).arg(hottest)));
                        QVERIFY(*std::min_element(l.begin(), l.end()) >= 0);
                    }
                    // Popularity order is kept: a heavier expert never gets a smaller share.
                    std::vector<double> w(static_cast<size_t>(experts));
                    for (int i = 0; i < experts; ++i) w[static_cast<size_t>(i)] = std::pow(i + 1.0, -s);
                    const auto pi = distinctInclusion(w, k);
                    for (int i = 1; i < experts; ++i) QVERIFY(pi[static_cast<size_t>(i)] <= pi[static_cast<size_t>(i - 1)] + 1e-12);
                }
            }
        }
        // The case of the bug report: top-8 of 256 at zipf:1.2 capped exactly at 1/8.
        RoutingChoice z;
        z.kind = RoutingKind::Zipf;
        z.zipfS = 1.2;
        const auto l = syntheticLoads(z, 1, 256, 8)[0];
        QCOMPARE(*std::max_element(l.begin(), l.end()), 0.125);
        // k = 1 keeps the plain zipf shares (1 : 1/2 at S = 1).
        z.zipfS = 1.0;
        auto one = syntheticLoads(z, 1, 16, 1)[0];
        std::sort(one.rbegin(), one.rend());
        QCOMPARE(one[0] / one[1], 2.0);
    }

    // Drawing tokens one by one with the inclusion probabilities gives k distinct experts each,
    // and the counts converge to the shares syntheticLoads reports.
    void sampledTokensMatchTheShares() {
        std::vector<double> w(32);
        for (size_t i = 0; i < w.size(); ++i) w[i] = std::pow(double(i) + 1.0, -1.5);
        const int k = 4, tokens = 20000;
        const auto pi = distinctInclusion(w, k);
        QVERIFY(std::abs(sum(pi) - k) < 1e-9);
        std::vector<double> counts(w.size(), 0.0);
        for (int t = 0; t < tokens; ++t) {
            const auto picks = sampleDistinct(pi, (t + 0.5) / tokens);
            QCOMPARE(static_cast<int>(picks.size()), k);
            for (size_t a = 0; a < picks.size(); ++a)
                for (size_t b = a + 1; b < picks.size(); ++b) QVERIFY(picks[a] != picks[b]);
            for (int e : picks) counts[static_cast<size_t>(e)] += 1;
        }
        for (size_t i = 0; i < w.size(); ++i) QVERIFY(std::abs(counts[i] / (double(tokens) * k) - pi[i] / k) < 1e-3);
        QCOMPARE(counts[0], double(tokens));  // the hottest expert is in every token, not twice in any
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
        QVERIFY2(bad.errors()[0].message.find("recorded 2 MoE block(s) but the model has 61 MoE layers") != std::string::npos,
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
