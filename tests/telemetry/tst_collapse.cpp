// Collapse detectors on hand-made snapshots, and the figures they are computed from.
#include <QtTest/QtTest>

#include <cmath>
#include <random>

#include "moe/telemetry/collapse.h"
#include "moe/telemetry/run_store.h"

using namespace moe::telemetry;

namespace {

BlockSnapshot block(std::vector<double> tokens, std::int64_t dropped = 0) {
    BlockSnapshot b;
    b.block = 2;
    b.experts = static_cast<int>(tokens.size());
    b.ffnExperts = b.experts;
    b.tokensPerExpert = std::move(tokens);
    b.meanGateProb.assign(static_cast<size_t>(b.experts), 1.0 / b.experts);
    b.dropped = dropped;
    for (double v : b.tokensPerExpert) b.tokens += static_cast<std::int64_t>(v);
    b.routerGradNorm = 0.05;
    // Orthogonal expert outputs: no representation collapse.
    b.similarity.assign(static_cast<size_t>(b.experts * b.experts), 0.0);
    for (int i = 0; i < b.experts; ++i) b.similarity[static_cast<size_t>(i * b.experts + i)] = 1.0;
    return b;
}

bool has(const std::vector<Alert>& a, AlertKind k) {
    for (const auto& x : a)
        if (x.kind == k) return true;
    return false;
}

const Alert* find(const std::vector<Alert>& a, AlertKind k) {
    for (const auto& x : a)
        if (x.kind == k) return &x;
    return nullptr;
}

}  // namespace

class TestCollapse : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void healthyBlockHasNoAlerts() {
        auto a = detectCollapse(block({100, 110, 95, 105, 98, 102, 99, 101}), 10);
        QVERIFY2(a.empty(), a.empty() ? "" : a.front().title.c_str());
    }

    void figures() {
        auto f = computeLoadFigures(block({50, 50, 0, 0}, 100));
        QCOMPARE(f.deadExperts, 2);
        QCOMPARE(f.maxShare, 0.5);
        QVERIFY(std::abs(f.cv - 1.0) < 1e-12);  // shares .5 .5 0 0: std .25 / mean .25
        QVERIFY(std::abs(f.entropy - std::log(2.0)) < 1e-12);
        QVERIFY(std::abs(f.effectiveExperts - 2.0) < 1e-12);
        QVERIFY(std::abs(f.normalizedEntropy - 0.5) < 1e-12);
        QCOMPARE(f.dropRate, 0.5);
        QCOMPARE(f.meanSimilarity, 0.0);
    }

    void deadExperts() {
        // 1 / (10 x 8) = 1.25%: expert 7 at 1% is dead, expert 6 at 2% is not.
        auto b = block({200, 200, 150, 150, 130, 130, 20, 10});
        auto a = detectCollapse(b, 40);
        const Alert* d = find(a, AlertKind::DeadExperts);
        QVERIFY(d);
        QCOMPARE(d->value, 1.0);
        QCOMPARE(d->step, std::int64_t(40));
        QCOMPARE(d->block, 2);
        QVERIFY(d->severity == Severity::Warning);
        QVERIFY(d->title == "1 of 8 experts are dead");
        QVERIFY(d->explanation.find("expert 7") != std::string::npos);
        QVERIFY(!d->fix.empty());
        // Half or more dead is critical.
        auto c = detectCollapse(block({500, 500, 0, 0}), 1);
        QVERIFY(find(c, AlertKind::DeadExperts)->severity == Severity::Critical);
    }

    void imbalanceAndEntropy() {
        auto a = detectCollapse(block({700, 60, 60, 60, 40, 40, 20, 20}), 5);
        QVERIFY(has(a, AlertKind::LoadImbalance));
        QVERIFY(has(a, AlertKind::LowLoadEntropy) || find(a, AlertKind::LoadImbalance)->value > 0.6);
        const Alert* i = find(a, AlertKind::LoadImbalance);
        QVERIFY(i->title.find("expert 0") != std::string::npos);
        QCOMPARE(i->value, 0.7);
        auto e = detectCollapse(block({1000, 1, 1, 1}), 5);
        QVERIFY(has(e, AlertKind::LowLoadEntropy));
        QVERIFY(has(e, AlertKind::DeadExperts));
    }

    void dropRate() {
        auto ok = detectCollapse(block({100, 100, 100, 100}, 20), 1);
        QVERIFY(!has(ok, AlertKind::HighDropRate));
        auto warn = detectCollapse(block({100, 100, 100, 100}, 80), 1);
        QVERIFY(find(warn, AlertKind::HighDropRate)->severity == Severity::Warning);
        auto crit = detectCollapse(block({100, 100, 100, 100}, 400), 1);
        QVERIFY(find(crit, AlertKind::HighDropRate)->severity == Severity::Critical);
        QVERIFY(find(crit, AlertKind::HighDropRate)->fix.find("capacity") != std::string::npos);
    }

    void representationCollapse() {
        auto b = block({100, 100, 100, 100});
        b.similarity.assign(16, 0.97);
        auto a = detectCollapse(b, 3);
        QVERIFY(has(a, AlertKind::RepresentationCollapse));
        b.similarity.assign(16, 0.5);
        QVERIFY(!has(detectCollapse(b, 3), AlertKind::RepresentationCollapse));
    }

    void routerStarvation() {
        auto b = block({100, 100, 100, 100});
        b.routerGradNorm = 0.0;
        QVERIFY(has(detectCollapse(b, 3), AlertKind::RouterStarvation));
        b.routerGradNorm = -1;  // hash router: no weights, nothing to starve
        QVERIFY(!has(detectCollapse(b, 3), AlertKind::RouterStarvation));
    }

    void snapshotWideAndEmpty() {
        RoutingSnapshot s;
        s.step = 9;
        s.blocks.push_back(block({100, 100, 100, 100}));
        s.blocks.push_back(block({400, 0, 0, 0}));
        s.blocks[1].block = 5;
        auto a = detectCollapse(s);
        QVERIFY(!a.empty());
        for (const auto& x : a) {
            QCOMPARE(x.block, 5);
            QCOMPARE(x.step, std::int64_t(9));
        }
        // Nothing routed yet: no verdicts, no division by zero.
        QVERIFY(detectCollapse(block({0, 0, 0, 0}), 0).empty());
    }

    // Alerts survive the run store, and CSV export lists them.
    // A snapshot sums every batch of its interval: counts add, means are token-weighted.
    void batchesAccumulate() {
        BlockSnapshot sum;
        auto a = block({10, 20, 30, 40}, 4);
        a.meanTokenEntropy = 1.0;
        auto b = block({30, 20, 10, 40}, 6);
        b.meanTokenEntropy = 2.0;
        b.meanGateProb = {0.4, 0.2, 0.2, 0.2};
        b.routerGradNorm = 0.5;
        accumulate(sum, a);
        accumulate(sum, b);
        QCOMPARE(sum.batches, 2);
        QCOMPARE(sum.tokensPerExpert, (std::vector<double>{40, 40, 40, 80}));
        QCOMPARE(sum.tokens, std::int64_t(200));
        QCOMPARE(sum.dropped, std::int64_t(10));
        QCOMPARE(sum.meanTokenEntropy, 1.5);  // 100 tokens each
        QCOMPARE(sum.meanGateProb[0], (0.25 + 0.4) / 2);
        QCOMPARE(sum.routerGradNorm, 0.5);  // the last batch's
        QCOMPARE(sum.assignments(), 210.0);
    }

    // The noise floor: the CV of an even router's counts at N assignments is sqrt((E-1)/N), and
    // sampling a uniform router does land there.
    void noiseFloor() {
        QCOMPARE(evenRouterCv(128, 8), std::sqrt(7.0 / 128));
        QCOMPARE(evenRouterCv(0, 8), 0.0);
        QCOMPARE(evenRouterCv(100, 1), 0.0);
        std::mt19937 rng(7);
        std::uniform_int_distribution<int> pick(0, 7);
        double meanCv = 0;
        const int trials = 400;
        for (int t = 0; t < trials; ++t) {
            std::vector<double> counts(8, 0.0);
            for (int i = 0; i < 1280; ++i) counts[static_cast<size_t>(pick(rng))] += 1;
            const auto f = computeLoadFigures(block(counts));
            meanCv += f.cv / trials;
            QCOMPARE(f.noiseCv, evenRouterCv(1280, 8));
        }
        QVERIFY2(std::abs(meanCv - evenRouterCv(1280, 8)) < 0.15 * evenRouterCv(1280, 8), qPrintable(QString::number(meanCv)));
    }

    // Hysteresis: an alert trips at the threshold and holds until the figure is well past it.
    void hysteresisKeepsAlertsSteady() {
        CollapseMonitor m;
        auto snap = [](std::int64_t step, double dropped) {
            RoutingSnapshot s;
            s.step = step;
            s.blocks.push_back(block({100, 100, 100, 100}, static_cast<std::int64_t>(dropped)));
            return s;
        };
        // Drop rate dropped / (400 + dropped): 0.05 (off), 0.12 (trips at 0.10), 0.09 (holds: release
        // at 0.08), 0.05 (clears), 0.09 (stays off: below the trip level).
        const std::pair<double, bool> seq[] = {{21, false}, {55, true}, {40, true}, {21, false}, {40, false}};
        std::int64_t step = 0;
        for (const auto& [dropped, on] : seq) {
            const auto a = m.update(snap(step += 10, dropped));
            QVERIFY2(has(a, AlertKind::HighDropRate) == on, qPrintable(QString("step %1, %2 dropped").arg(step).arg(dropped)));
        }
        // The one-shot function has no memory: the held case is off there.
        QVERIFY(!has(detectCollapse(snap(30, 40)), AlertKind::HighDropRate));
    }

    void alertsRoundTripThroughTheRunStore() {
        const QString path = QDir::temp().filePath("moe_tst_collapse.sqlite");
        auto w = RunWriter::create(path.toStdString(), RunInfo{});
        QVERIFY2(w.ok(), w.message().c_str());
        auto s = std::make_shared<RoutingSnapshot>();
        s->step = 7;
        s->blocks.push_back(block({400, 0, 0, 0}));
        s->alerts = detectCollapse(*s);
        w.value()->append(s);
        w.value()->finish("finished");
        auto r = RunReader::open(path.toStdString());
        QVERIFY2(r.ok(), r.message().c_str());
        QCOMPARE(r.value()->latest()->alerts.size(), s->alerts.size());
        QCOMPARE(r.value()->latest()->alerts.front().explanation, s->alerts.front().explanation);
        std::ostringstream csv;
        std::string err;
        QVERIFY(r.value()->writeCsv("alerts", csv, err));
        QVERIFY(csv.str().find("dead_experts") != std::string::npos);
        QVERIFY(!r.value()->writeCsv("nope", csv, err));
        QVERIFY(err.find("steps") != std::string::npos);
    }
};

QTEST_APPLESS_MAIN(TestCollapse)
#include "tst_collapse.moc"
