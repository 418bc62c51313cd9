// The run store: round trip of every field, a reader following a live writer, CSV export, and a
// writer killed with SIGKILL mid-run leaving a readable file with every committed step.
#include <QtTest>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "moe/telemetry/report.h"
#include "moe/telemetry/run_store.h"

using namespace moe::telemetry;

namespace {

SnapshotPtr makeSnapshot(std::int64_t step, int blocks = 2, int experts = 4, int classes = 3) {
    auto s = std::make_shared<RoutingSnapshot>();
    s->step = step;
    s->epoch = step / 100.0;
    s->loss = 2.0 / (1 + step);
    s->taskLoss = s->loss * 0.9;
    s->accuracy = 0.5 + step * 0.001;
    s->testAccuracy = step % 20 == 0 ? 0.6 : -1;
    s->learningRate = 1e-3;
    s->tokensPerSecond = 1000 + step;
    s->wallSeconds = step * 0.01;
    for (int b = 0; b < blocks; ++b) {
        BlockSnapshot bs;
        bs.block = b * 2 + 1;
        bs.experts = experts;
        bs.ffnExperts = experts - 1;
        bs.tokens = 128;
        bs.batches = 10;
        bs.dropped = step % 7;
        for (int e = 0; e < experts; ++e) {
            bs.tokensPerExpert.push_back(10.0 * (e + 1) + static_cast<double>(step));
            bs.meanGateProb.push_back(1.0 / experts + 0.01 * e);
        }
        bs.meanTokenEntropy = 0.7;
        bs.tokenEntropyHist = {1, 2, 3, 4};
        bs.expertsPerTokenHist = {0, 100, 28, 0, 0};
        bs.classes = classes;
        for (int c = 0; c < classes; ++c)
            for (int e = 0; e < experts; ++e) bs.classExpert.push_back(c == e ? 40.0 : (e == 0 ? 0.0 : 1.0));
        for (int i = 0; i < bs.ffnExperts * bs.ffnExperts; ++i) bs.similarity.push_back(i % (bs.ffnExperts + 1) == 0 ? 1.0 : 0.25);
        bs.routerGradNorm = 0.01 * (b + 1);
        bs.auxLoss = 1.05;
        bs.zLoss = 0.3;
        bs.mapResolution = 2;
        bs.routingMap = {0, 1, 2, 3};
        s->blocks.push_back(std::move(bs));
    }
    s->mapXMin = -1;
    s->mapXMax = 1;
    s->mapYMin = -2;
    s->mapYMax = 2;
    s->mapPoints = {0.5f, 0.25f, 1.0f, -0.5f, 0.0f, 0.0f};
    if (step == 20) s->alerts.push_back({20, 3, AlertKind::DeadExperts, Severity::Critical, 2, "2 of 4 experts are dead",
                                         "They receive \"no\" tokens,\nso they stop learning.", "Raise the aux coefficient"});
    return s;
}

}  // namespace

class TestRunStore : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void roundTrip() {
        QTemporaryDir dir;
        const std::string path = (dir.path() + "/run.sqlite").toStdString();
        auto w = RunWriter::create(path, {"", "{\"format\":\"moe-studio/1\"}", "", "", "", ""});
        QVERIFY2(w.ok(), w.message().c_str());
        for (int s : {10, 20, 30}) w.value()->append(makeSnapshot(s));
        w.value()->finish("finished");
        QVERIFY(w.value()->error().empty());
        QVERIFY(isRunStore(path));

        auto r = RunReader::open(path);
        QVERIFY2(r.ok(), r.message().c_str());
        const auto& reader = *r.value();
        QCOMPARE(reader.info().status, std::string("finished"));
        QCOMPARE(reader.info().projectJson, std::string("{\"format\":\"moe-studio/1\"}"));
        QCOMPARE(reader.info().runId, std::string("run"));  // one id: the file's name
        QVERIFY(!reader.info().finishedAt.empty());
        QCOMPARE(reader.snapshots().size(), size_t(3));
        const auto expect = makeSnapshot(20);
        const auto got = reader.at(25);  // the last snapshot at or before step 25
        QVERIFY(got);
        QCOMPARE(got->step, std::int64_t(20));
        QCOMPARE(got->loss, expect->loss);
        QCOMPARE(got->testAccuracy, expect->testAccuracy);
        QCOMPARE(got->blocks.size(), size_t(2));
        for (size_t b = 0; b < 2; ++b) {
            const auto& g = got->blocks[b];
            const auto& e = expect->blocks[b];
            QCOMPARE(g.block, e.block);
            QCOMPARE(g.ffnExperts, e.ffnExperts);
            QCOMPARE(g.dropped, e.dropped);
            QCOMPARE(g.batches, 10);
            QCOMPARE(g.tokensPerExpert, e.tokensPerExpert);
            QCOMPARE(g.meanGateProb, e.meanGateProb);
            QCOMPARE(g.classExpert, e.classExpert);
            QCOMPARE(g.similarity, e.similarity);
            QCOMPARE(g.tokenEntropyHist, e.tokenEntropyHist);
            QCOMPARE(g.expertsPerTokenHist, e.expertsPerTokenHist);
            QCOMPARE(g.routerGradNorm, e.routerGradNorm);
            QCOMPARE(g.routingMap, e.routingMap);
            QCOMPARE(g.mapResolution, 2);
        }
        QCOMPARE(got->mapPoints, expect->mapPoints);
        QCOMPARE(got->mapYMax, 2.0);
        QCOMPARE(got->alerts.size(), size_t(1));
        QVERIFY(got->alerts[0].kind == AlertKind::DeadExperts);
        QVERIFY(got->alerts[0].severity == Severity::Critical);
        QCOMPARE(got->alerts[0].explanation, expect->alerts[0].explanation);
        QVERIFY(!reader.at(5));  // before the first snapshot

        std::ostringstream csv;
        std::string err;
        QVERIFY(reader.writeCsv("alerts", csv, err));
        QVERIFY(csv.str().find("\"They receive \"\"no\"\" tokens,\nso they stop learning.\"") != std::string::npos);
        std::ostringstream steps;
        QVERIFY(reader.writeCsv("steps", steps, err));
        const std::string stepsCsv = steps.str();
        QCOMPARE(std::count(stepsCsv.begin(), stepsCsv.end(), '\n'), 4L);  // header + 3 rows
        QVERIFY(!reader.writeCsv("bogus", steps, err));
        QVERIFY(err.find("unknown table 'bogus'") != std::string::npos);
    }

    // Language-model runs: held-out loss, the unigram reference, class names, the checkpoint path
    // and the per-token probe (one entry per probe token per MoE block) survive the store.
    void textRunRoundTrip() {
        QTemporaryDir dir;
        const std::string path = (dir.path() + "/lm.sqlite").toStdString();
        RunInfo info;
        info.checkpoint = "lm.pt";
        auto w = RunWriter::create(path, info);
        QVERIFY2(w.ok(), w.message().c_str());
        const std::vector<int> probe = {'H', 'i', ' ', '!', '\n'};
        for (int step : {10, 20}) {
            auto s = std::const_pointer_cast<RoutingSnapshot>(makeSnapshot(step, 2, 4, 5));
            s->testLoss = step == 20 ? 1.5 : -1;
            s->unigramBitsPerByte = 4.75;
            s->probeTokens = probe;
            s->classNames = {"letters", "digits", "spaces", "punctuation", "other"};
            for (auto& b : s->blocks) {
                b.probeK = 2;
                for (size_t t = 0; t < probe.size(); ++t) {
                    b.probeExperts.insert(b.probeExperts.end(), {static_cast<int>(t % 4), t == 2 ? -1 : static_cast<int>((t + 1) % 4)});
                    b.probeGates.insert(b.probeGates.end(), {0.75f, t == 2 ? 0.0f : 0.25f});
                }
            }
            w.value()->append(s);
        }
        w.value()->finish("finished");
        QVERIFY(w.value()->error().empty());
        auto r = RunReader::open(path);
        QVERIFY2(r.ok(), r.message().c_str());
        QCOMPARE(r.value()->info().checkpoint, std::string("lm.pt"));
        const auto& snaps = r.value()->snapshots();
        QCOMPARE(snaps.size(), size_t(2));
        QCOMPARE(snaps[0]->testLoss, -1.0);
        QCOMPARE(snaps[1]->testLoss, 1.5);
        QCOMPARE(snaps[1]->unigramBitsPerByte, 4.75);
        QCOMPARE(snaps[1]->probeTokens, probe);
        QCOMPARE(snaps[1]->probeSamples, 1);
        QCOMPARE(snaps[1]->classNames.size(), size_t(5));
        QCOMPARE(snaps[1]->classNames[3], std::string("punctuation"));
        for (const auto& b : snaps[1]->blocks) {
            QCOMPARE(b.probeK, 2);
            QCOMPARE(b.probeExperts.size(), probe.size() * 2);
            QCOMPARE(b.probeGates.size(), probe.size() * 2);
            QCOMPARE(b.probeExperts[5], -1);
            QCOMPARE(b.probeExperts[6], 3);
            QCOMPARE(b.probeGates[0], 0.75f);
        }
        std::ostringstream csv;
        std::string err;
        QVERIFY2(r.value()->writeCsv("probe_routing", csv, err), err.c_str());
        const std::string text = csv.str();
        QCOMPARE(std::count(text.begin(), text.end(), '\n'), 5L);  // header + 2 steps x 2 blocks
        QCOMPARE(bitsPerByte(std::log(2.0)), 1.0);
    }

    void liveReader() {
        QTemporaryDir dir;
        const std::string path = (dir.path() + "/live.sqlite").toStdString();
        auto w = RunWriter::create(path, {});
        QVERIFY(w.ok());
        w.value()->append(makeSnapshot(1));
        w.value()->flush();
        auto r = RunReader::open(path);
        QVERIFY2(r.ok(), r.message().c_str());
        QCOMPARE(r.value()->snapshots().size(), size_t(1));
        QCOMPARE(r.value()->info().status, std::string("running"));
        for (int s = 2; s <= 5; ++s) w.value()->append(makeSnapshot(s));
        w.value()->flush();
        QCOMPARE(r.value()->refresh(), 4);
        QCOMPARE(r.value()->latest()->step, std::int64_t(5));
        QCOMPARE(r.value()->refresh(), 0);
        w.value()->finish("stopped", "stopped by the user");
        r.value()->refresh();
        QCOMPARE(r.value()->info().status, std::string("stopped"));
        QCOMPARE(r.value()->info().message, std::string("stopped by the user"));
    }

    void killedWriterLeavesReadableFile() {
        QTemporaryDir dir;
        const std::string path = (dir.path() + "/killed.sqlite").toStdString();
        const pid_t child = fork();
        QVERIFY(child >= 0);
        if (child == 0) {
            auto w = RunWriter::create(path, {});
            if (!w.ok()) _exit(3);
            for (std::int64_t s = 1;; ++s) {
                w.value()->append(makeSnapshot(s, 4, 16, 10));
                if (s % 4 == 0) w.value()->flush();
            }
        }
        // Wait until the child has committed a good number of steps, then kill it mid-write.
        std::shared_ptr<RunReader> reader;
        for (int i = 0; i < 500; ++i) {
            QTest::qWait(20);
            if (!reader) {
                auto r = RunReader::open(path);
                if (r.ok()) reader = r.value();
            } else if (reader->refresh(), reader->snapshots().size() >= 30) {
                break;
            }
        }
        kill(child, SIGKILL);
        int status = 0;
        waitpid(child, &status, 0);
        QVERIFY(WIFSIGNALED(status));
        QVERIFY2(reader && reader->snapshots().size() >= 30, "the writer did not commit 30 steps in time");

        auto after = RunReader::open(path);
        QVERIFY2(after.ok(), after.message().c_str());
        const auto& snaps = after.value()->snapshots();
        QVERIFY(snaps.size() >= reader->snapshots().size());
        QCOMPARE(after.value()->info().status, std::string("running"));  // it never finished
        for (size_t i = 0; i < snaps.size(); ++i) {
            QCOMPARE(snaps[i]->step, static_cast<std::int64_t>(i + 1));  // no gaps
            QCOMPARE(snaps[i]->blocks.size(), size_t(4));                   // whole transactions only
            QCOMPARE(snaps[i]->blocks.back().tokensPerExpert.back(), 160.0 + snaps[i]->step);
        }
    }

    void runsAreNamedAndAnnotated() {
        QTemporaryDir dir;
        const std::string path = (dir.path() + "/20260101-000000-abcd.sqlite").toStdString();
        {
            auto w = RunWriter::create(path, {});
            QVERIFY2(w.ok(), w.message().c_str());
            w.value()->append(makeSnapshot(10));
            w.value()->finish("finished");
        }
        QCOMPARE(setRunLabel(path, "no aux loss", "experts 3 and 5 died by step 60\nsecond line"), std::string());
        auto r = RunReader::open(path);
        QVERIFY2(r.ok(), r.message().c_str());
        QCOMPARE(r.value()->info().runId, std::string("20260101-000000-abcd"));
        QCOMPARE(r.value()->info().name, std::string("no aux loss"));
        QCOMPARE(r.value()->info().notes, std::string("experts 3 and 5 died by step 60\nsecond line"));
        const std::string missing = (dir.path() + "/gone.sqlite").toStdString();
        const std::string err = setRunLabel(missing, "x", "");
        QVERIFY(err.find("gone.sqlite") != std::string::npos);
    }

    // One damaged integer must not make the reader allocate without bound (nor overflow): the row
    // is skipped and named, and the rest of the store still reads.
    void damagedCountsAreBoundedAndNamed() {
        QTemporaryDir dir;
        const std::string path = (dir.path() + "/damaged.sqlite").toStdString();
        {
            auto w = RunWriter::create(path, {});
            QVERIFY2(w.ok(), w.message().c_str());
            for (int s : {10, 20, 30}) w.value()->append(makeSnapshot(s));
            w.value()->finish("finished");
        }
        sqlite3* db = nullptr;
        QCOMPARE(sqlite3_open(path.c_str(), &db), SQLITE_OK);
        const char* damage =
            "UPDATE block_stats SET experts = 1099511627776 WHERE step = 20 AND block = 1;"
            "UPDATE block_stats SET classes = 2147483647 WHERE step = 30 AND block = 1;"
            "UPDATE block_stats SET experts = -4 WHERE step = 30 AND block = 3;"
            "INSERT INTO class_expert VALUES(10, 1, 4611686018427387904, 2, 5.0);"
            "UPDATE routing_map SET resolution = 3037000500 WHERE step = 10 AND block = 3;";
        QCOMPARE(sqlite3_exec(db, damage, nullptr, nullptr, nullptr), SQLITE_OK);
        sqlite3_close(db);

        auto r = RunReader::open(path);
        QVERIFY2(r.ok(), r.message().c_str());
        const auto& reader = *r.value();
        QCOMPARE(reader.snapshots().size(), size_t(3));
        QCOMPARE(reader.snapshots()[0]->blocks.size(), size_t(2));
        QCOMPARE(reader.snapshots()[0]->blocks[0].classExpert, makeSnapshot(10)->blocks[0].classExpert);
        QCOMPARE(reader.snapshots()[0]->blocks[1].mapResolution, 0);
        QCOMPARE(reader.snapshots()[1]->blocks.size(), size_t(1));  // step 20, block 1 skipped
        QCOMPARE(reader.snapshots()[1]->blocks[0].block, 3);
        QCOMPARE(reader.snapshots()[2]->blocks.size(), size_t(0));  // both blocks of step 30 skipped
        const auto& d = reader.damage();
        QCOMPARE(d.size(), size_t(5));
        QVERIFY2(d[0].find("block_stats row (step 20, block 1): experts = 1099511627776") == 0, d[0].c_str());
        QVERIFY2(d[1].find("block_stats row (step 30, block 1): classes = 2147483647") == 0, d[1].c_str());
        QVERIFY2(d[2].find("block_stats row (step 30, block 3): experts = -4") == 0, d[2].c_str());
        QVERIFY2(d[3].find("class_expert row (step 10, block 1, class 4611686018427387904, expert 2)") == 0, d[3].c_str());
        QVERIFY2(d[4].find("routing_map row (step 10, block 3): resolution = 3037000500") == 0, d[4].c_str());
    }

    // Data parallel runs: each rank's times per snapshot come back; a damaged rank row is skipped
    // and named; a store without the table reads as one process.
    void rankTimesRoundTripAndDamage() {
        QTemporaryDir dir;
        const std::string path = (dir.path() + "/ranks.sqlite").toStdString();
        {
            auto w = RunWriter::create(path, {});
            QVERIFY2(w.ok(), w.message().c_str());
            for (int step : {1, 10}) {
                auto s = std::make_shared<RoutingSnapshot>(*makeSnapshot(step));
                for (int r = 0; r < 2; ++r) s->rankTimes.push_back({r, step == 1 ? 1 : 9, 0.5 + r, 0.25 * step, 0.125 + r});
                w.value()->append(s);
            }
            w.value()->append(makeSnapshot(20));
            w.value()->finish("finished");
        }
        sqlite3* db = nullptr;
        QCOMPARE(sqlite3_open(path.c_str(), &db), SQLITE_OK);
        QCOMPARE(sqlite3_exec(db, "INSERT INTO rank_times VALUES(10, -3, 9, 1, 1, 1); INSERT INTO rank_times VALUES(10, 5, 4611686018427387904, 1, 1, 1);",
                              nullptr, nullptr, nullptr),
                 SQLITE_OK);
        sqlite3_close(db);
        auto r = RunReader::open(path);
        QVERIFY2(r.ok(), r.message().c_str());
        const auto& snaps = r.value()->snapshots();
        QCOMPARE(snaps.size(), size_t(3));
        QCOMPARE(snaps[0]->rankTimes.size(), size_t(2));
        QCOMPARE(snaps[1]->rankTimes.size(), size_t(2));
        QVERIFY(snaps[2]->rankTimes.empty());
        const auto& t = snaps[1]->rankTimes[1];
        QCOMPARE(t.rank, 1);
        QCOMPARE(t.steps, 9);
        QCOMPARE(t.computeSeconds, 1.5);
        QCOMPARE(t.gradReduceSeconds, 2.5);
        QCOMPARE(t.exchangeSeconds, 1.125);
        const auto& d = r.value()->damage();
        QCOMPARE(d.size(), size_t(2));
        QVERIFY2(d[0].find("rank_times row (step 10): rank = -3") == 0, d[0].c_str());
        QVERIFY2(d[1].find("rank_times row (step 10): steps = 4611686018427387904") == 0, d[1].c_str());
        std::ostringstream csv;
        std::string err;
        QVERIFY(r.value()->writeCsv("rank_times", csv, err));
        QVERIFY(csv.str().find("step,rank,steps,compute_seconds,grad_reduce_seconds,exchange_seconds") == 0);
    }

    // Expert parallel runs: each rank's all-to-all time and traffic per block and snapshot come
    // back; a damaged row is skipped and named; the CSV lists the table.
    void layerTimesRoundTripAndDamage() {
        QTemporaryDir dir;
        const std::string path = (dir.path() + "/layers.sqlite").toStdString();
        {
            auto w = RunWriter::create(path, {});
            QVERIFY2(w.ok(), w.message().c_str());
            for (int step : {1, 10}) {
                auto s = std::make_shared<RoutingSnapshot>(*makeSnapshot(step));
                for (int block = 0; block < 2; ++block)
                    for (int r = 0; r < 2; ++r)
                        s->layerTimes.push_back({r, block, step == 1 ? 1 : 9, 0.01 * (r + 1) + block, 0.5 * step, {10.0 * r + block, 7.5 + step}, 128});
                w.value()->append(s);
            }
            w.value()->append(makeSnapshot(20));
            w.value()->finish("finished");
        }
        sqlite3* db = nullptr;
        QCOMPARE(sqlite3_open(path.c_str(), &db), SQLITE_OK);
        QCOMPARE(sqlite3_exec(db,
                              "INSERT INTO layer_times VALUES(10, -1, 0, 9, 1, 1, '[1,2]', 128, 0);"
                              "INSERT INTO layer_times VALUES(10, 3, 4611686018427387904, 9, 1, 1, '[1,2]', 128, 0);"
                              "INSERT INTO layer_times VALUES(10, 4, 0, 9, 1, 1, '[1,2]', -5, 0);"
                              "INSERT INTO layer_times VALUES(10, 5, 0, 9, 1, 1, '[1,-2]', 128, 0);"
                              "INSERT INTO layer_times VALUES(10, 6, 0, 9, 1, 1, '[1,2]', 128, -0.5);",
                              nullptr, nullptr, nullptr),
                 SQLITE_OK);
        sqlite3_close(db);
        auto r = RunReader::open(path);
        QVERIFY2(r.ok(), r.message().c_str());
        const auto& snaps = r.value()->snapshots();
        QCOMPARE(snaps.size(), size_t(3));
        QCOMPARE(snaps[0]->layerTimes.size(), size_t(4));
        QCOMPARE(snaps[1]->layerTimes.size(), size_t(4));
        QVERIFY(snaps[2]->layerTimes.empty());
        const auto& t = snaps[1]->layerTimes[3];  // ordered by block, then rank
        QCOMPARE(t.rank, 1);
        QCOMPARE(t.block, 1);
        QCOMPARE(t.steps, 9);
        QCOMPARE(t.alltoallSeconds, 1.02);
        QCOMPARE(t.expertSeconds, 5.0);
        QCOMPARE(t.rowsTo, (std::vector<double>{11.0, 17.5}));
        QCOMPARE(t.bytesPerRow, 128);
        const auto& d = r.value()->damage();
        QCOMPARE(d.size(), size_t(5));
        QVERIFY2(d[0].find("layer_times row (step 10): rank = -1") == 0, d[0].c_str());
        QVERIFY2(d[1].find("layer_times row (step 10): bytes_per_row = -5") == 0, d[1].c_str());
        QVERIFY2(d[2].find("layer_times row (step 10): rows_to holds -2.0") == 0, d[2].c_str());
        QVERIFY2(d[3].find("layer_times row (step 10): wait_seconds = -0.5") == 0, d[3].c_str());
        QVERIFY2(d[4].find("layer_times row (step 10): block = 4611686018427387904") == 0, d[4].c_str());
        std::ostringstream csv;
        std::string err;
        QVERIFY(r.value()->writeCsv("layer_times", csv, err));
        QVERIFY2(csv.str().find("step,rank,block,steps,alltoall_seconds,expert_seconds,rows_to,bytes_per_row,wait_seconds\n1,0,0,1,") == 0, csv.str().c_str());
        // The snapshots' records summed per rank and block: what `moe report` shows.
        std::vector<LayerTime> all;
        for (const auto& s : snaps) all.insert(all.end(), s->layerTimes.begin(), s->layerTimes.end());
        const auto sum = sumLayerTimes(all);
        QCOMPARE(sum.size(), size_t(4));
        QCOMPARE(sum[3].block, 1);
        QCOMPARE(sum[3].rank, 1);
        QCOMPARE(sum[3].steps, 10);
        QCOMPARE(sum[3].alltoallSeconds, 1.02 + 1.02);
        QCOMPARE(sum[3].rowsTo, (std::vector<double>{22.0, 8.5 + 17.5}));
        // What `moe report` and the Markdown report show: step 1 (the connections opening) left out,
        // each block's slowest rank per step, the rows every rank sends to the others.
        const auto dist = summarizeDistributed(*r.value(), snaps.back()->step);
        QVERIFY(dist.skippedFirst);
        QVERIFY(!dist.waitsMeasured);
        QCOMPARE(dist.blocks.size(), size_t(2));
        QCOMPARE(dist.blocks[1].slowestRank, 1);
        QCOMPARE(dist.blocks[1].steps, 9);
        QVERIFY(std::abs(dist.blocks[1].alltoallSeconds - 1.02 / 9) < 1e-12);
        QVERIFY(std::abs(dist.blocks[1].expertSeconds - 5.0 / 9) < 1e-12);
        QVERIFY(std::abs(dist.blocks[1].sentBytes - (17.5 + 11.0) * 128 / 9) < 1e-9);
        std::ostringstream md;
        writeMarkdownReport(*r.value(), md);
        QVERIFY2(md.str().find("## Expert parallel") != std::string::npos, md.str().c_str());
        QVERIFY2(md.str().find("| 1 | 2 | 9 | 113.333 | 1 | 555.556 | 0.4 |") != std::string::npos, md.str().c_str());
    }

    // Two ranks' blocks summed through additiveFigures describe their tokens together, as
    // accumulate does for two batches of one process.
    void additiveFiguresSumParts() {
        const auto a = makeSnapshot(1)->blocks[0];
        auto b = makeSnapshot(2)->blocks[0];
        b.tokens = 3 * a.tokens;
        for (auto& p : b.meanGateProb) p = 1.0 - p;
        b.meanTokenEntropy = 0.5;
        auto fa = additiveFigures(a);
        const auto fb = additiveFigures(b);
        QCOMPARE(fa.size(), fb.size());
        for (size_t i = 0; i < fa.size(); ++i) fa[i] += fb[i];
        BlockSnapshot merged = a;
        setAdditiveFigures(merged, fa);
        BlockSnapshot expected = a;
        accumulate(expected, b);
        QCOMPARE(merged.tokens, expected.tokens);
        QCOMPARE(merged.dropped, expected.dropped);
        QCOMPARE(merged.tokensPerExpert, expected.tokensPerExpert);
        QCOMPARE(merged.classExpert, expected.classExpert);
        QCOMPARE(merged.tokenEntropyHist, expected.tokenEntropyHist);
        QCOMPARE(merged.expertsPerTokenHist, expected.expertsPerTokenHist);
        QVERIFY(std::abs(merged.meanTokenEntropy - expected.meanTokenEntropy) < 1e-12);
        for (size_t e = 0; e < merged.meanGateProb.size(); ++e) QVERIFY(std::abs(merged.meanGateProb[e] - expected.meanGateProb[e]) < 1e-12);
    }

    void notARunStore() {
        QTemporaryDir dir;
        const QString path = dir.path() + "/junk.sqlite";
        {
            std::ofstream(path.toStdString()) << "this is not a database";
        }
        auto r = RunReader::open(path.toStdString());
        QVERIFY(!r.ok());
        QVERIFY(r.message().find("junk.sqlite") != std::string::npos);
        QVERIFY(!isRunStore(path.toStdString()));
        QVERIFY(!isRunStore(dir.path().toStdString()));
        auto missing = RunReader::open((dir.path() + "/none.sqlite").toStdString());
        QVERIFY(!missing.ok());
        QVERIFY(missing.message().find("no run store at") != std::string::npos);
    }
};

QTEST_GUILESS_MAIN(TestRunStore)
#include "tst_run_store.moc"
