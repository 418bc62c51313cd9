// training.device: where a run trains, and clear refusals when the device asked for is not here.
// Runs on any build: with a CPU-only LibTorch the CUDA requests are refused; with a CUDA LibTorch
// on a GPU machine they train.
#include <QtTest/QtTest>

#include "moe/spec/project_io.h"
#include "moe/train/trainer.h"

namespace spec = moe::spec;
using moe::train::Trainer;

namespace {

spec::Project tiny(const std::string& device) {
    const std::string text = R"({"format": "moe-studio/1",
      "model": {"input": {"dataset": "blobs", "classes": 3},
        "stem": {"d_model": 8},
        "blocks": [{"kind": "moe", "experts": 4, "router": {"kind": "topk", "k": 2}, "ffn": {"hidden": 8}}]},
      "training": {"batch": 16, "steps": 3, "seed": 1, "train_samples": 64, "test_samples": 32, "device": ")" +
                             device + R"("}})";
    auto p = spec::parseProject(text, "device.json");
    if (!p) qFatal("bad test project: %s", p.message().c_str());
    return p.value();
}

}  // namespace

class TestDevice : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void cpuTrainsOnTheCpu() {
        auto t = Trainer::create(tiny("cpu"), {});
        QVERIFY2(t.ok(), t.message().c_str());
        QCOMPARE(QString::fromStdString(t.value()->progress().device), QStringLiteral("cpu"));
        t.value()->start();
        t.value()->wait();
        QCOMPARE(t.value()->progress().step, 3);
    }

    void autoPicksWhatIsThere() {
        auto t = Trainer::create(tiny("auto"), {});
        QVERIFY2(t.ok(), t.message().c_str());
        const QString dev = QString::fromStdString(t.value()->progress().device);
        QVERIFY2(dev == QLatin1String("cpu") || dev.startsWith(QLatin1String("cuda:")), qPrintable(dev));
    }

    // A GPU that is not there is refused with the reason, never silently replaced by the CPU.
    void missingGpuIsRefused() {
        auto t = Trainer::create(tiny("cuda:7"), {});
        if (t.ok()) {
            // A machine with eight GPUs and a CUDA LibTorch: then it trains there.
            QCOMPARE(QString::fromStdString(t.value()->progress().device), QStringLiteral("cuda:7"));
            return;
        }
        const QString msg = QString::fromStdString(t.message());
        QVERIFY2(msg.contains(QLatin1String("training.device is \"cuda:7\"")), qPrintable(msg));
        QVERIFY2(msg.contains(QLatin1String("no CUDA support")) || msg.contains(QLatin1String("no CUDA GPU")) ||
                     msg.contains(QLatin1String("CUDA GPU")),
                 qPrintable(msg));
    }

    void cudaOnCpuOnlyBuildSaysSo() {
        auto t = Trainer::create(tiny("cuda"), {});
        if (t.ok()) {
            QVERIFY(QString::fromStdString(t.value()->progress().device).startsWith(QLatin1String("cuda:")));
            return;
        }
        const QString msg = QString::fromStdString(t.message());
        QVERIFY2(msg.contains(QLatin1String("no CUDA support")) || msg.contains(QLatin1String("sees no CUDA GPU")), qPrintable(msg));
    }

    void deviceRoundTrips() {
        auto p = tiny("cuda:1");
        QCOMPARE(QString::fromStdString(p.training.device), QStringLiteral("cuda:1"));
        auto again = spec::parseProject(spec::serializeProject(p), "again.json");
        QVERIFY2(again.ok(), again.message().c_str());
        QCOMPARE(QString::fromStdString(again.value().training.device), QStringLiteral("cuda:1"));
        // The default is not written, so projects without the key stay as they were.
        QVERIFY(spec::serializeProject(tiny("auto")).find("\"device\"") == std::string::npos);
    }
};

QTEST_GUILESS_MAIN(TestDevice)
#include "tst_device.moc"
