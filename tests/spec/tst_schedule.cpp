#include <QtTest>

#include <numeric>

#include "moe/spec/project.h"
#include "moe/spec/schedule.h"

using namespace moe::spec;
Q_DECLARE_METATYPE(ScheduleKind)
Q_DECLARE_METATYPE(std::vector<int>)

class TestSchedule : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void exactValues_data() {
        QTest::addColumn<ScheduleKind>("kind");
        QTest::addColumn<int>("layers");
        QTest::addColumn<int>("min");
        QTest::addColumn<int>("max");
        QTest::addColumn<int>("period");
        QTest::addColumn<std::vector<int>>("expected");
        using K = ScheduleKind;
        QTest::newRow("uniform L3") << K::Uniform << 3 << 4 << 8 << 4 << std::vector<int>{8, 8, 8};
        QTest::newRow("uniform L1") << K::Uniform << 1 << 2 << 2 << 4 << std::vector<int>{2};
        QTest::newRow("descending L4") << K::Descending << 4 << 4 << 16 << 4 << std::vector<int>{16, 12, 8, 4};
        QTest::newRow("descending L5") << K::Descending << 5 << 2 << 8 << 4 << std::vector<int>{8, 7, 5, 4, 2};
        QTest::newRow("descending L1") << K::Descending << 1 << 2 << 8 << 4 << std::vector<int>{8};
        QTest::newRow("ascending L5") << K::Ascending << 5 << 2 << 8 << 4 << std::vector<int>{2, 4, 5, 7, 8};
        QTest::newRow("ascending L2") << K::Ascending << 2 << 1 << 64 << 4 << std::vector<int>{1, 64};
        QTest::newRow("pyramid L7") << K::Pyramid << 7 << 2 << 8 << 4 << std::vector<int>{2, 4, 6, 8, 6, 4, 2};
        QTest::newRow("pyramid L4") << K::Pyramid << 4 << 1 << 9 << 4 << std::vector<int>{1, 6, 6, 1};
        QTest::newRow("pyramid L1") << K::Pyramid << 1 << 1 << 9 << 4 << std::vector<int>{9};
        QTest::newRow("hourglass L5") << K::Hourglass << 5 << 2 << 10 << 4 << std::vector<int>{10, 6, 2, 6, 10};
        QTest::newRow("hourglass L6") << K::Hourglass << 6 << 4 << 16 << 4 << std::vector<int>{16, 11, 6, 6, 11, 16};
        QTest::newRow("wave L8 P4") << K::Wave << 8 << 2 << 8 << 4 << std::vector<int>{8, 5, 2, 5, 8, 5, 2, 5};
        QTest::newRow("wave L5 P2") << K::Wave << 5 << 1 << 3 << 2 << std::vector<int>{3, 1, 3, 1, 3};
    }
    void exactValues() {
        QFETCH(ScheduleKind, kind);
        QFETCH(int, layers);
        QFETCH(int, min);
        QFETCH(int, max);
        QFETCH(int, period);
        QFETCH(std::vector<int>, expected);
        QCOMPARE(scheduleCounts(kind, layers, min, max, period), expected);
    }

    // Properties over many L: bounds, sums, ends, symmetry, mirror images.
    void properties() {
        for (int L = 1; L <= 64; ++L) {
            for (auto [mn, mx] : {std::pair{1, 1}, std::pair{2, 8}, std::pair{4, 16}, std::pair{3, 256}}) {
                for (ScheduleKind k : formulaScheduleKinds()) {
                    const auto c = scheduleCounts(k, L, mn, mx, 4);
                    QCOMPARE(static_cast<int>(c.size()), L);
                    for (int v : c) QVERIFY2(v >= mn && v <= mx, qPrintable(QString("L=%1 value %2 outside [%3,%4]").arg(L).arg(v).arg(mn).arg(mx)));
                }
                const auto asc = scheduleCounts(ScheduleKind::Ascending, L, mn, mx);
                auto desc = scheduleCounts(ScheduleKind::Descending, L, mn, mx);
                std::reverse(desc.begin(), desc.end());
                if (L > 1) QCOMPARE(desc, asc);  // descending is ascending mirrored
                if (L > 1) {
                    QCOMPARE(asc.front(), mn);
                    QCOMPARE(asc.back(), mx);
                    QVERIFY(std::is_sorted(asc.begin(), asc.end()));
                }
                for (ScheduleKind k : {ScheduleKind::Pyramid, ScheduleKind::Hourglass}) {
                    const auto c = scheduleCounts(k, L, mn, mx);
                    QVERIFY(std::equal(c.begin(), c.end(), c.rbegin()));  // symmetric
                }
                if (L % 2 == 1) {  // odd L: the middle layer hits the extreme exactly
                    QCOMPARE(scheduleCounts(ScheduleKind::Pyramid, L, mn, mx)[L / 2], L == 1 ? mx : mx);
                    QCOMPARE(scheduleCounts(ScheduleKind::Hourglass, L, mn, mx)[L / 2], L == 1 ? mn : mn);
                }
                const auto uni = scheduleCounts(ScheduleKind::Uniform, L, mn, mx);
                QCOMPARE(std::accumulate(uni.begin(), uni.end(), 0), L * mx);
            }
        }
    }

    void sums() {
        const auto d = scheduleCounts(ScheduleKind::Descending, 4, 4, 16);
        QCOMPARE(std::accumulate(d.begin(), d.end(), 0), 40);
        const auto w = scheduleCounts(ScheduleKind::Wave, 12, 2, 8, 4);
        QCOMPARE(std::accumulate(w.begin(), w.end(), 0), 3 * (8 + 5 + 2 + 5));  // three full periods
    }

    void explicitAndChecks() {
        Schedule s;
        s.kind = ScheduleKind::Explicit;
        s.values = {8, 4, 2};
        QCOMPARE(s.counts(3), (std::vector<int>{8, 4, 2}));
        QVERIFY(checkSchedule(s, 3).empty());
        QVERIFY(checkSchedule(s, 4).find("3 values but there are 4") != std::string::npos);
        s.values = {8, 0, 2};
        QVERIFY(checkSchedule(s, 3).find("values[1] is 0") != std::string::npos);
        Schedule bad;
        bad.kind = ScheduleKind::Pyramid;
        bad.min = 9;
        bad.max = 3;
        QVERIFY(checkSchedule(bad, 5).find("below min") != std::string::npos);
        bad = Schedule{ScheduleKind::Wave, 1, 4, 1, {}};
        QVERIFY(checkSchedule(bad, 5).find("period") != std::string::npos);
    }

    // The learning-rate schedule (training.lr_schedule, training.warmup_steps).
    void learningRate() {
        TrainingSettings t;
        QCOMPARE(learningRateAt(t, 0.01, 0, 100), 0.01);
        QCOMPARE(learningRateAt(t, 0.01, 99, 100), 0.01);
        t.lrSchedule = LrSchedule::Cosine;
        QCOMPARE(learningRateAt(t, 0.01, 0, 100), 0.01);
        QVERIFY(std::abs(learningRateAt(t, 0.01, 50, 100) - 0.005) < 1e-15);  // half way: half the rate
        QVERIFY(learningRateAt(t, 0.01, 99, 100) > 0);
        QVERIFY(learningRateAt(t, 0.01, 99, 100) < 1e-5);                       // nearly zero at the end
        for (int s = 1; s < 100; ++s) QVERIFY(learningRateAt(t, 0.01, s, 100) < learningRateAt(t, 0.01, s - 1, 100));
        t.warmupSteps = 10;
        QCOMPARE(learningRateAt(t, 0.01, 0, 110), 0.001);                      // 1/10 of the rate on the first step
        QVERIFY(std::abs(learningRateAt(t, 0.01, 4, 110) - 0.005) < 1e-15);
        QCOMPARE(learningRateAt(t, 0.01, 10, 110), 0.01);                      // the cosine starts after the warm-up
        QVERIFY(std::abs(learningRateAt(t, 0.01, 60, 110) - 0.005) < 1e-15);
        t.lrSchedule = LrSchedule::Constant;
        QCOMPARE(learningRateAt(t, 0.01, 60, 110), 0.01);
    }
};

QTEST_APPLESS_MAIN(TestSchedule)
#include "tst_schedule.moc"
