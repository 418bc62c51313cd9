// The Trainer through its public, torch-free API: controls, determinism, checkpoints, divergence,
// the run store and 2-D routing maps. Tiny models, few steps.
#include <QtTest/QtTest>

#include <mutex>

#include "moe/spec/project_io.h"
#include "moe/telemetry/run_store.h"
#include "moe/train/trainer.h"
#include "test_time.h"

namespace spec = moe::spec;
using moe::train::Trainer;
using moe::train::TrainerState;

namespace {

// A small 2-D project: one dense block and one MoE block.
std::string projectText(const std::string& router = R"("kind": "topk", "k": 2, "noise": 0.5)", int steps = 30, int interval = 5,
                        unsigned seed = 3, const std::string& extraTraining = "", const std::string& dataset = R"("dataset": "blobs", "classes": 4)") {
    return R"({"format": "moe-studio/1",
      "model": {"name": "tiny", "input": {)" + dataset + R"(},
        "stem": {"d_model": 16},
        "blocks": [{"kind": "dense", "ffn": {"hidden": 16}},
                   {"kind": "moe", "experts": 4, "router": {)" + router + R"(}, "ffn": {"hidden": 16}}]},
      "training": {"batch": 32, "learning_rate": 0.01, "steps": )" + std::to_string(steps) +
           R"(, "telemetry_interval": )" + std::to_string(interval) + R"(, "seed": )" + std::to_string(seed) +
           R"(, "train_samples": 512, "test_samples": 128)" + extraTraining + "}}";
}

spec::Project project(const std::string& text) {
    auto p = spec::parseProject(text, "test.json");
    if (!p) qFatal("bad test project: %s", p.message().c_str());
    return p.value();
}

std::unique_ptr<Trainer> make(const spec::Project& p, moe::train::TrainerOptions o = {}) {
    o.threads = 1;  // tests share the machine; one thread also keeps reductions in a fixed order
    auto t = Trainer::create(p, o);
    if (!t) qFatal("cannot create trainer: %s", t.message().c_str());
    return std::move(t.value());
}

struct Curve {
    std::mutex m;
    std::vector<std::pair<std::int64_t, double>> points;
    void attach(Trainer& t) {
        t.setSnapshotCallback([this](moe::telemetry::SnapshotPtr s) {
            std::lock_guard l(m);
            points.emplace_back(s->step, s->loss);
        });
    }
};

}  // namespace

class TestTrainer : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void controls() {
        auto t = make(project(projectText()));
        QVERIFY(t->progress().state == TrainerState::Idle);
        QCOMPARE(t->progress().totalSteps, std::int64_t(30));
        t->step(3);
        t->wait();
        QVERIFY(t->progress().state == TrainerState::Paused);
        QCOMPARE(t->progress().step, std::int64_t(3));
        t->setLearningRate(0.5);
        t->step(2);
        t->wait();
        QCOMPARE(t->progress().step, std::int64_t(5));
        QCOMPARE(t->progress().learningRate, 0.5);
        QVERIFY(t->latest());
        QCOMPARE(t->latest()->step, std::int64_t(5));
        QCOMPARE(t->latest()->learningRate, 0.5);
        t->start();
        t->wait();
        QVERIFY(t->progress().state == TrainerState::Finished);
        QCOMPARE(t->progress().step, std::int64_t(30));
        QVERIFY(t->progress().testAccuracy >= 0);
        t->step(1);  // finished: nothing happens
        t->wait();
        QCOMPARE(t->progress().step, std::int64_t(30));
    }

    void stopKeepsTheRun() {
        const QString store = QDir::temp().filePath("moe_tst_trainer_stop.sqlite");
        moe::train::TrainerOptions o;
        o.runStorePath = store.toStdString();
        auto t = make(project(projectText(R"("kind": "topk", "k": 1)", 100000, 5)), o);
        t->start();
        QTRY_VERIFY_WITH_TIMEOUT(t->progress().step >= 12, test_time::scaled(60000));
        t->pause();
        t->wait();
        const auto paused = t->progress().step;
        QVERIFY(t->progress().state == TrainerState::Paused);
        QTest::qWait(50);
        QCOMPARE(t->progress().step, paused);
        t->stop();
        t.reset();  // joins
        auto r = moe::telemetry::RunReader::open(store.toStdString());
        QVERIFY2(r.ok(), r.message().c_str());
        QCOMPARE(r.value()->info().status, std::string("stopped"));
        QCOMPARE(r.value()->latest()->step, paused);  // the final snapshot of a stopped run
    }

    void sameSeedSameCurve() {
        Curve a, b, c;
        auto ta = make(project(projectText()));
        auto tb = make(project(projectText()));
        auto tc = make(project(projectText(R"("kind": "topk", "k": 2, "noise": 0.5)", 30, 5, 4)));
        a.attach(*ta);
        b.attach(*tb);
        c.attach(*tc);
        ta->start();
        ta->wait();
        tb->start();
        tb->wait();
        tc->start();
        tc->wait();
        QVERIFY(a.points.size() >= 6);
        QCOMPARE(a.points, b.points);
        QVERIFY(a.points != c.points);
    }

    void checkpointResumesTheSameCurve() {
        // sigmoid_bias: the resumed run also needs the per-expert bias buffers and the noise generator.
        // (The router text closes the router object to add the block's "losses".)
        const auto p = project(projectText(R"("kind": "sigmoid_bias", "k": 2, "noise": 0.2}, "losses": {"aux": 0)", 24, 1, 5));
        const std::string ckpt = QDir::temp().filePath("moe_tst_trainer.ckpt").toStdString();
        auto a = make(p);
        Curve ca;
        ca.attach(*a);
        a->step(12);
        a->wait();
        QCOMPARE(a->saveCheckpoint(ckpt), std::string());
        a->start();
        a->wait();
        moe::train::TrainerOptions o;
        o.resumeFrom = ckpt;
        auto b = make(p, o);
        QCOMPARE(b->progress().step, std::int64_t(12));
        Curve cb;
        cb.attach(*b);
        b->start();
        b->wait();
        QVERIFY(b->progress().state == TrainerState::Finished);
        std::vector<std::pair<std::int64_t, double>> tail;
        for (auto& pt : ca.points)
            if (pt.first > 12) tail.push_back(pt);
        QCOMPARE(cb.points, tail);
        // A checkpoint of another model is refused with a reason.
        moe::train::TrainerOptions wrong;
        wrong.resumeFrom = ckpt;
        auto other = Trainer::create(project(projectText(R"("kind": "topk", "k": 1)")), wrong);
        QVERIFY(!other.ok());
        QVERIFY2(other.message().find("different model") != std::string::npos, other.message().c_str());
    }

    void divergenceNamesStepAndBlock() {
        // Inputs in the hundreds and a huge SGD step blow the router logits up within a few steps.
        auto p = project(projectText(R"("kind": "topk", "k": 2)", 200, 10, 1, R"(, "optimizer": "sgd", "momentum": 0.99)",
                                     R"("dataset": "blobs", "classes": 4, "noise": 100)"));
        p.training.learningRate = 10;
        auto t = make(p);
        t->start();
        t->wait();
        const auto pr = t->progress();
        QVERIFY(pr.state == TrainerState::Failed);
        QVERIFY2(pr.message.find("step ") == 0, pr.message.c_str());
        QVERIFY2(pr.message.find("block 1") != std::string::npos, pr.message.c_str());
        auto s = t->latest();
        QVERIFY(s);
        QVERIFY(!s->alerts.empty());
        QVERIFY(s->alerts.back().kind == moe::telemetry::AlertKind::Divergence);
        QCOMPARE(s->alerts.back().block, 1);
    }

    void runStoreAndRoutingMaps() {
        const QString store = QDir::temp().filePath("moe_tst_trainer_map.sqlite");
        moe::train::TrainerOptions o;
        o.runStorePath = store.toStdString();
        auto t = make(project(projectText(R"("kind": "topk", "k": 1, "noise": 0.3)", 20, 10, 2, "", R"("dataset": "spirals")")), o);
        t->start();
        t->wait();
        QVERIFY(t->progress().state == TrainerState::Finished);
        auto r = moe::telemetry::RunReader::open(store.toStdString());
        QVERIFY2(r.ok(), r.message().c_str());
        const auto& snaps = r.value()->snapshots();
        QCOMPARE(snaps.size(), size_t(4));  // steps 1, 10, 16 (end of epoch 1: 512 / 32) and 20
        QCOMPARE(r.value()->info().status, std::string("finished"));
        QVERIFY(r.value()->info().projectJson.find("\"tiny\"") != std::string::npos);
        // Each snapshot's routing sums every batch since the previous one: 1, 9, 6 and 4 batches
        // of 32 tokens.
        const int batches[] = {1, 9, 6, 4};
        for (size_t i = 0; i < snaps.size(); ++i) {
            const auto& s = snaps[i];
            QCOMPARE(s->blocks.size(), size_t(1));
            const auto& b = s->blocks[0];
            QCOMPARE(b.block, 1);
            QCOMPARE(b.experts, 4);
            QCOMPARE(b.batches, batches[i]);
            const double tokens = 32.0 * batches[i];
            QCOMPARE(b.tokens, std::int64_t(tokens));
            double kept = 0;
            for (double v : b.tokensPerExpert) kept += v;
            QCOMPARE(kept, tokens);
            QCOMPARE(b.classes, 2);
            double ce = 0;
            for (double v : b.classExpert) ce += v;
            QCOMPARE(ce, tokens);
            QCOMPARE(b.expertsPerTokenHist.size(), size_t(5));
            QCOMPARE(b.expertsPerTokenHist[1], tokens);
            QCOMPARE(b.similarity.size(), size_t(16));
            QVERIFY(b.routerGradNorm > 0);
            QCOMPARE(b.mapResolution, 64);
            QCOMPARE(b.routingMap.size(), size_t(64 * 64));
            for (int e : b.routingMap) QVERIFY(e >= 0 && e < 4);
            QVERIFY(s->mapXMin < s->mapXMax && s->mapYMin < s->mapYMax);
            QCOMPARE(s->mapPoints.size(), size_t(3 * 512));
            QVERIFY(s->testAccuracy >= 0);
        }
    }

    void invalidProjectIsRefused() {
        auto p = project(projectText());
        p.model.blocks[1].router.k = 9;
        auto t = Trainer::create(p);
        QVERIFY(!t.ok());
        QVERIFY2(t.message().find("model.blocks[1].router.k") != std::string::npos, t.message().c_str());
    }
};

QTEST_GUILESS_MAIN(TestTrainer)
#include "tst_trainer.moc"
