// Data parallel `moe train --nproc 2` against one process on the same global batch: the same loss
// curve, routing counts and final weights for every batch-wide router kind, capacity drops and an
// odd batch; its run store opens in `moe report`; mismatched projects and a batch smaller than
// the ranks are refused. Tiny 2-D models, a few steps each.
#include <QtTest/QtTest>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>

#include "moe/spec/project_io.h"
#include "moe/spec/twin.h"
#include "moe/telemetry/run_store.h"
#include "moe_net.h"
#include "moe_process.h"

namespace {

// Stated tolerance: the two runs do the same float32 arithmetic except that matrix products run
// over half the rows and gradients are averaged over ranks (summed in another order), so values
// differ by rounding only: a few float32 ulps per step, far below 1e-5 over these few steps.
constexpr double kTolerance = 1e-5;

using moe_process::cleanEnv;
using moe_process::Run;
using moe_process::runMoe;

QString projectText(const QString& router, int batch, const QString& block = "", unsigned seed = 5, int experts = 4, int ep = 1) {
    return QString(R"({"format": "moe-studio/1",
      "model": {"name": "tiny", "input": {"dataset": "blobs", "classes": 4},
        "stem": {"d_model": 16},
        "blocks": [{"kind": "dense", "ffn": {"hidden": 16}},
                   {"kind": "moe", "experts": %5, "router": {%1}, "ffn": {"hidden": 16}%2}]},
      "training": {"batch": %3, "learning_rate": 0.01, "optimizer": "adam", "steps": 8, "telemetry_interval": 3,
                   "seed": %4, "train_samples": 512, "test_samples": 64%6}})")
        .arg(router, block)
        .arg(batch)
        .arg(seed)
        .arg(experts)
        .arg(ep > 1 ? QString(R"(, "ep": %1)").arg(ep) : QString());
}

QString write(const QTemporaryDir& dir, const QString& name, const QString& text) {
    const QString path = dir.filePath(name);
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly)) qFatal("cannot write %s", qPrintable(path));
    f.write(text.toUtf8());
    return path;
}

int freePort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 && ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
        port = ntohs(a.sin_port);
    ::close(fd);
    return port;
}

// The trained model's parameters and buffers, by name, from a checkpoint of `projectPath`.
std::map<std::string, torch::Tensor> weights(const QString& projectPath, const QString& checkpoint) {
    auto p = moe::spec::loadProject(projectPath.toStdString());
    if (!p) qFatal("%s", p.message().c_str());
    moe::train::detail::MoeNet net(moe::spec::trainingProject(p.value()).model);
    torch::serialize::InputArchive a;
    a.load_from(checkpoint.toStdString());
    net->load(a);
    std::map<std::string, torch::Tensor> out;
    for (const auto& kv : net->named_parameters()) out[kv.key()] = kv.value().detach().clone();
    for (const auto& kv : net->named_buffers()) out[kv.key()] = kv.value().detach().clone();
    return out;
}

}  // namespace

class TestDataParallel : public QObject {
    Q_OBJECT

private Q_SLOTS:
    // Every router kind whose choice looks at the whole batch, capacity drops (both policies), aux
    // and z losses, a batch of 33 that 2 ranks share as 16 + 17, and 16 experts over a batch of 4
    // (experts without tokens on one rank or on both, whose Adam state must not move).
    void matchesOneProcess_data() {
        QTest::addColumn<QString>("router");
        QTest::addColumn<int>("batch");
        QTest::addColumn<QString>("block");
        QTest::addColumn<int>("experts");
        QTest::addColumn<int>("ep");
        const QString losses = R"(, "losses": {"aux": 0.01, "z": 0.001})";
        QTest::newRow("topk, position drops, odd batch")
            << R"("kind": "topk", "k": 2, "noise": 0.5)" << 33
            << R"(, "capacity": {"dropless": false, "factor": 1.0, "drop_policy": "position"})" + losses << 4 << 1;
        QTest::newRow("expert_choice") << R"("kind": "expert_choice", "capacity_factor": 1.0)" << 32 << losses << 4 << 1;
        QTest::newRow("unified, probs drops") << R"("kind": "unified", "k": 2)" << 32
                                              << R"(, "capacity": {"dropless": false, "factor": 1.0, "drop_policy": "probs"})" + losses << 4 << 1;
        QTest::newRow("sinkhorn") << R"("kind": "sinkhorn", "k": 1)" << 32 << losses << 4 << 1;
        QTest::newRow("sigmoid_bias") << R"("kind": "sigmoid_bias", "k": 2, "noise": 0.2)" << 32 << R"(, "losses": {"aux": 0})" << 4 << 1;
        QTest::newRow("hash, drops") << R"("kind": "hash", "k": 1)" << 32 << R"(, "capacity": {"dropless": false, "factor": 1.0})" << 4 << 1;
        QTest::newRow("topk, 16 experts, batch 4") << R"("kind": "topk", "k": 1)" << 4 << losses << 16 << 1;
        // Expert parallel over the 2 ranks (training.ep = 2): each rank holds half of the experts
        // and tokens cross by all-to-all, for every router kind; uneven splits (3 experts over 2
        // ranks), experts and ranks that get no tokens (16 experts over 4 samples), the zero, copy
        // and constant experts and a shared expert (they stay on every rank).
        QTest::newRow("ep: topk, position drops, odd batch")
            << R"("kind": "topk", "k": 2, "noise": 0.5)" << 33
            << R"(, "capacity": {"dropless": false, "factor": 1.0, "drop_policy": "position"})" + losses << 4 << 2;
        QTest::newRow("ep: expert_choice") << R"("kind": "expert_choice", "capacity_factor": 1.0)" << 32 << losses << 4 << 2;
        QTest::newRow("ep: dynamic, 3 experts") << R"("kind": "dynamic", "tau": 0.6, "max_experts": 2)" << 32 << losses << 3 << 2;
        QTest::newRow("ep: unified, probs drops") << R"("kind": "unified", "k": 2)" << 32
                                                  << R"(, "capacity": {"dropless": false, "factor": 1.0, "drop_policy": "probs"})" + losses << 4 << 2;
        QTest::newRow("ep: hash, drops") << R"("kind": "hash", "k": 1)" << 32 << R"(, "capacity": {"dropless": false, "factor": 1.0})" << 4 << 2;
        QTest::newRow("ep: sinkhorn") << R"("kind": "sinkhorn", "k": 1)" << 32 << losses << 4 << 2;
        QTest::newRow("ep: sigmoid_bias, zero/copy/constant and shared experts")
            << R"("kind": "sigmoid_bias", "k": 2, "noise": 0.2)" << 32
            << R"(, "losses": {"aux": 0}, "zero_experts": {"zero": 1, "copy": 1, "constant": 1}, "shared_experts": 1)" << 4 << 2;
        QTest::newRow("ep: topk, 16 experts, batch 4") << R"("kind": "topk", "k": 1)" << 4 << losses << 16 << 2;
        // One FFN expert over 2 ranks: rank 0 holds none and never receives a token, yet takes
        // part in every exchange, forward and backward.
        QTest::newRow("ep: a rank without experts") << R"("kind": "topk", "k": 1)" << 32 << R"(, "zero_experts": {"copy": 1, "zero": 1})" + losses
                                                    << 1 << 2;
    }
    void matchesOneProcess() {
        QFETCH(QString, router);
        QFETCH(int, batch);
        QFETCH(QString, block);
        QFETCH(int, experts);
        QFETCH(int, ep);
        QTemporaryDir dir;
        const QString project = write(dir, "p.json", projectText(router, batch, block, 5, experts, ep));
        auto one = runMoe({"train", project, "--out", dir.filePath("one.sqlite"), "--checkpoint", dir.filePath("one.pt"), "--plain"});
        QVERIFY2(one.code == 0, qPrintable(one.err));
        auto two = runMoe({"train", project, "--nproc", "2", "--out", dir.filePath("two.sqlite"), "--checkpoint", dir.filePath("two.pt"), "--plain"});
        QVERIFY2(two.code == 0, qPrintable(two.err + two.out));
        QVERIFY2(two.out.contains("data parallel over 2 ranks"), qPrintable(two.out));
        QCOMPARE(two.out.contains("expert parallel over groups of 2 ranks"), ep == 2);
        // Rank 1 writes nothing of its own: one store, one checkpoint.
        QCOMPARE(QDir(dir.path()).entryList({"*.sqlite"}).size(), 2);
        QCOMPARE(QDir(dir.path()).entryList({"*.pt"}).size(), 2);

        auto a = moe::telemetry::RunReader::open(dir.filePath("one.sqlite").toStdString());
        auto b = moe::telemetry::RunReader::open(dir.filePath("two.sqlite").toStdString());
        QVERIFY(a.ok() && b.ok());
        const auto& sa = a.value()->snapshots();
        const auto& sb = b.value()->snapshots();
        QCOMPARE(sb.size(), sa.size());
        QVERIFY(sa.size() >= 3);
        for (size_t i = 0; i < sa.size(); ++i) {
            QCOMPARE(sb[i]->step, sa[i]->step);
            QVERIFY2(std::abs(sb[i]->loss - sa[i]->loss) < kTolerance, qPrintable(QString("step %1: loss %2 vs %3").arg(sa[i]->step).arg(sb[i]->loss).arg(sa[i]->loss)));
            QVERIFY(std::abs(sb[i]->taskLoss - sa[i]->taskLoss) < kTolerance);
            QVERIFY(std::abs(sb[i]->accuracy - sa[i]->accuracy) < kTolerance);
            QCOMPARE(sb[i]->blocks.size(), sa[i]->blocks.size());
            for (size_t k = 0; k < sa[i]->blocks.size(); ++k) {
                const auto &x = sa[i]->blocks[k], &y = sb[i]->blocks[k];
                // Routing counts of both ranks' tokens add up to the whole batch's.
                QCOMPARE(y.tokens, x.tokens);
                QCOMPARE(y.dropped, x.dropped);
                QCOMPARE(y.tokensPerExpert, x.tokensPerExpert);
                QCOMPARE(y.expertsPerTokenHist, x.expertsPerTokenHist);
                QCOMPARE(y.classExpert, x.classExpert);
                for (size_t e = 0; e < x.meanGateProb.size(); ++e) QVERIFY(std::abs(y.meanGateProb[e] - x.meanGateProb[e]) < kTolerance);
                QVERIFY(std::abs(y.auxLoss - x.auxLoss) < kTolerance);
                QVERIFY(std::abs(y.zLoss - x.zLoss) < kTolerance);
            }
            QVERIFY(sa[i]->rankTimes.empty());
            QCOMPARE(sb[i]->rankTimes.size(), size_t(2));
            // Expert parallel: per MoE block, each rank's dispatch sent every token copy its FFN
            // experts kept, wherever the expert lives (rows to itself included).
            QCOMPARE(sb[i]->layerTimes.size(), ep == 2 ? sb[i]->blocks.size() * 2 : size_t(0));
            for (const auto& blk : sb[i]->blocks) {
                if (ep != 2) break;
                double sent = 0;
                int ranks = 0;
                for (const auto& lt : sb[i]->layerTimes) {
                    if (lt.block != blk.block) continue;
                    ++ranks;
                    QCOMPARE(lt.rowsTo.size(), size_t(2));
                    QCOMPARE(lt.bytesPerRow, 16 * 4);
                    QVERIFY(lt.alltoallSeconds > 0);
                    for (double r : lt.rowsTo) sent += r;
                    if (experts == 1) QCOMPARE(lt.rowsTo[0], 0.0);  // rank 0 holds no expert
                }
                QCOMPARE(ranks, 2);
                double kept = 0;
                for (int e = 0; e < blk.ffnExperts; ++e) kept += blk.tokensPerExpert[static_cast<size_t>(e)];
                QCOMPARE(sent, kept);
            }
        }
        if (experts == 16) {
            const auto& load = sa[0]->blocks[0].tokensPerExpert;  // step 1: 4 tokens over 16 experts
            QVERIFY(std::count(load.begin(), load.end(), 0.0) >= 12);
        }
        int steps = 0;
        for (const auto& s : sb) steps += s->rankTimes[1].steps;
        QCOMPARE(steps, 8);

        const auto wa = weights(project, dir.filePath("one.pt"));
        const auto wb = weights(project, dir.filePath("two.pt"));
        QCOMPARE(wb.size(), wa.size());
        for (const auto& [name, t] : wa) {
            const double diff = (wb.at(name) - t).abs().max().item<double>();
            QVERIFY2(diff < kTolerance, qPrintable(QString("%1 differs by %2").arg(QString::fromStdString(name)).arg(diff)));
        }

        if (QString(QTest::currentDataTag()).startsWith("topk")) {
            auto r = runMoe({"report", dir.filePath("two.sqlite")});
            QVERIFY2(r.code == 0, qPrintable(r.err));
            QVERIFY2(r.out.contains("data parallel over 2 ranks"), qPrintable(r.out));
            auto j = runMoe({"report", dir.filePath("two.sqlite"), "--json"});
            QVERIFY2(j.code == 0 && j.out.contains("\"grad_reduce_seconds\""), qPrintable(j.err + j.out));
        }
    }

    // Two ranks started by hand (as torchrun would) with projects that differ: both stop at start,
    // naming the rank that differs.
    void mismatchedProjectRefused() {
        QTemporaryDir dir;
        const QString router = R"("kind": "topk", "k": 1)";
        const QString p0 = write(dir, "p0.json", projectText(router, 32, "", 5));
        const QString p1 = write(dir, "p1.json", projectText(router, 32, "", 6));
        const int port = freePort();
        QProcess ranks[2];
        for (int r = 0; r < 2; ++r) {
            auto env = cleanEnv();
            env.insert("RANK", QString::number(r));
            env.insert("WORLD_SIZE", "2");
            env.insert("MASTER_ADDR", "127.0.0.1");
            env.insert("MASTER_PORT", QString::number(port));
            ranks[r].setProcessEnvironment(env);
            ranks[r].setWorkingDirectory(dir.path());
            ranks[r].start(moe_process::moeBinary(), {"train", r == 0 ? p0 : p1, "--out", dir.filePath("run.sqlite"), "--plain"});
        }
        for (auto& p : ranks) {
            QVERIFY(p.waitForFinished(60000));
            QCOMPARE(p.exitCode(), 1);
            const QString err = QString::fromUtf8(p.readAllStandardError());
            QVERIFY2(err.contains("rank 1 has a different project or training options than rank 0"), qPrintable(err));
        }
        QVERIFY(!QFileInfo::exists(dir.filePath("run.sqlite")));
    }

    // Four ranks in two expert parallel groups of two (training.ep = 2), started by hand as a
    // launcher on several machines would: each expert is held by two ranks, whose gradients add
    // up over the groups; the run matches one process, and ep must divide the ranks.
    void expertParallelGroupsMatchOneProcess() {
        QTemporaryDir dir;
        const QString losses = R"(, "capacity": {"dropless": false, "factor": 1.0}, "losses": {"aux": 0.01, "z": 0.001})";
        const QString project = write(dir, "p.json", projectText(R"("kind": "topk", "k": 2)", 32, losses, 5, 4, 2));
        auto one = runMoe({"train", project, "--out", dir.filePath("one.sqlite"), "--checkpoint", dir.filePath("one.pt"), "--plain"});
        QVERIFY2(one.code == 0, qPrintable(one.err));
        const auto startRanks = [&](int world, const QString& out, std::vector<std::unique_ptr<QProcess>>& ranks) {
            const int port = freePort();
            for (int r = 0; r < world; ++r) {
                auto env = cleanEnv();
                env.insert("RANK", QString::number(r));
                env.insert("WORLD_SIZE", QString::number(world));
                env.insert("MASTER_ADDR", "127.0.0.1");
                env.insert("MASTER_PORT", QString::number(port));
                ranks.push_back(std::make_unique<QProcess>());
                ranks.back()->setProcessEnvironment(env);
                ranks.back()->start(moe_process::moeBinary(), {"train", project, "--out", out, "--checkpoint", dir.filePath("four.pt"), "--plain"});
            }
        };
        std::vector<std::unique_ptr<QProcess>> four;
        startRanks(4, dir.filePath("four.sqlite"), four);
        for (auto& p : four) {
            QVERIFY(p->waitForFinished(test_time::scaled(120000)));
            QVERIFY2(p->exitCode() == 0, qPrintable(QString::fromUtf8(p->readAllStandardError())));
        }
        QVERIFY(QString::fromUtf8(four[0]->readAllStandardOutput()).contains("2 groups hold the same experts"));
        auto a = moe::telemetry::RunReader::open(dir.filePath("one.sqlite").toStdString());
        auto b = moe::telemetry::RunReader::open(dir.filePath("four.sqlite").toStdString());
        QVERIFY(a.ok() && b.ok());
        const auto& sa = a.value()->snapshots();
        const auto& sb = b.value()->snapshots();
        QCOMPARE(sb.size(), sa.size());
        for (size_t i = 0; i < sa.size(); ++i) {
            QVERIFY2(std::abs(sb[i]->loss - sa[i]->loss) < kTolerance, qPrintable(QString("step %1: loss %2 vs %3").arg(sa[i]->step).arg(sb[i]->loss).arg(sa[i]->loss)));
            QCOMPARE(sb[i]->blocks[0].tokensPerExpert, sa[i]->blocks[0].tokensPerExpert);
            QCOMPARE(sb[i]->rankTimes.size(), size_t(4));
            QCOMPARE(sb[i]->layerTimes.size(), size_t(2));  // rank 0's group
        }
        const auto wa = weights(project, dir.filePath("one.pt"));
        const auto wb = weights(project, dir.filePath("four.pt"));
        for (const auto& [name, t] : wa) {
            const double diff = (wb.at(name) - t).abs().max().item<double>();
            QVERIFY2(diff < kTolerance, qPrintable(QString("%1 differs by %2").arg(QString::fromStdString(name)).arg(diff)));
        }
        // Three ranks cannot form groups of two.
        std::vector<std::unique_ptr<QProcess>> three;
        startRanks(3, dir.filePath("three.sqlite"), three);
        for (auto& p : three) {
            QVERIFY(p->waitForFinished(test_time::scaled(120000)));
            QCOMPARE(p->exitCode(), 1);
            const QString err = QString::fromUtf8(p->readAllStandardError());
            QVERIFY2(err.contains("training.ep is 2 but 3 ranks train") && err.contains("must divide the ranks"), qPrintable(err));
        }
    }

    void batchSmallerThanRanks() {
        QTemporaryDir dir;
        const QString project = write(dir, "p.json", projectText(R"("kind": "topk", "k": 1)", 1));
        auto r = runMoe({"train", project, "--nproc", "2", "--out", dir.filePath("run.sqlite"), "--plain"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("the global batch of 1 samples (training.batch) cannot be shared by 2 ranks"), qPrintable(r.err));
    }
};

QTEST_GUILESS_MAIN(TestDataParallel)
#include "tst_data_parallel.moc"
