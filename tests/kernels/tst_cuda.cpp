// The CUDA backend against the reference, the same parity cases as the fast CPU backend.
// Exits 77 (skipped) when no CUDA device answers (cudaGetDeviceCount fails or reports 0).
#include <QtTest/QtTest>

#include <cstdio>

#include "parity.h"

using namespace moe::kernels;

class TstCuda : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void parity_data() {
        QTest::addColumn<int>("index");
        const auto cases = test::standardCases();
        for (size_t i = 0; i < cases.size(); ++i) QTest::newRow(cases[i].name.c_str()) << static_cast<int>(i);
    }
    void parity() {
        QFETCH(int, index);
        const auto failures = test::checkParity(*backend(BackendKind::Cuda), test::standardCases()[static_cast<size_t>(index)]);
        std::string all;
        for (const auto& f : failures) all += "\n  " + f;
        QVERIFY2(failures.empty(), all.c_str());
    }
    void deviceMemory() {
        Backend* be = backend(BackendKind::Cuda);
        QVERIFY(be->deviceMemory());
        for (Op op : kAllOps) QVERIFY(be->supports(op));
    }
};

int main(int argc, char** argv) {
    if (!backend(BackendKind::Cuda)) {
        std::printf("skipping CUDA kernel tests: %s\n", unavailableReason(BackendKind::Cuda).c_str());
        return 77;
    }
    TstCuda t;
    return QTest::qExec(&t, argc, argv);
}
#include "tst_cuda.moc"
