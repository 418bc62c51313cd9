// The fast CPU backend against the reference: every op, every parity case, at several thread
// counts (the layout and the values must not depend on them).
#include <omp.h>

#include <QtTest/QtTest>

#include "parity.h"

using namespace moe::kernels;

class TstCpuFast : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void parity_data() {
        QTest::addColumn<int>("index");
        QTest::addColumn<int>("threads");
        const auto cases = test::standardCases();
        for (int threads : {1, 3})
            for (size_t i = 0; i < cases.size(); ++i)
                QTest::newRow((cases[i].name + " / " + std::to_string(threads) + " threads").c_str())
                    << static_cast<int>(i) << threads;
    }
    void parity() {
        QFETCH(int, index);
        QFETCH(int, threads);
        const int saved = omp_get_max_threads();
        omp_set_num_threads(threads);
        const auto failures = test::checkParity(*backend(BackendKind::CpuFast), test::standardCases()[static_cast<size_t>(index)]);
        omp_set_num_threads(saved);
        std::string all;
        for (const auto& f : failures) all += "\n  " + f;
        QVERIFY2(failures.empty(), all.c_str());
    }

    void supportsEveryOp() {
        Backend* be = backend(BackendKind::CpuFast);
        QVERIFY(be != nullptr);
        for (Op op : kAllOps) QVERIFY2(be->supports(op), std::string(toString(op)).c_str());
        QCOMPARE(&hostBackend(), be);
    }

    void rejectsOutOfRangeIndices() {
        Backend& be = *backend(BackendKind::CpuFast);
        std::vector<int64_t> idx{0, 8}, offsets(9), slotOf(2), rt(2), ra(2);
        const Status s = be.buildDispatch({1, 2, 8, idx.data(), offsets.data(), slotOf.data(), rt.data(), ra.data()});
        QVERIFY(s.code == Status::Code::InvalidArgument);
        QVERIFY2(s.message.find("expertIdx[1] = 8") != std::string::npos, s.message.c_str());

        std::vector<float> y(4), g(2), out(2);
        std::vector<int64_t> badSlot{0, 5};
        const Status c = be.unpermuteCombine({1, 2, 2, 2, y.data(), badSlot.data(), g.data(), out.data()});
        QVERIFY(c.code == Status::Code::InvalidArgument);
        QVERIFY2(c.message.find("slotOf[1] = 5") != std::string::npos, c.message.c_str());

        // The token-walking backward needs every row used exactly once.
        std::vector<int64_t> dup{0, 0};
        std::vector<float> dOut(2), dY(4), dG(2);
        const Status b = be.unpermuteCombineBackward(
            {1, 2, 2, 2, dOut.data(), y.data(), dup.data(), rt.data(), ra.data(), g.data(), dY.data(), dG.data()});
        QVERIFY(b.code == Status::Code::InvalidArgument);
    }
};

QTEST_APPLESS_MAIN(TstCpuFast)
#include "tst_cpu_fast.moc"
