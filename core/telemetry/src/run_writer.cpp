#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <random>

#include "moe/telemetry/run_store.h"
#include "sqlite_util.h"

namespace moe::telemetry {
namespace {

using detail::exec;
using detail::Statement;

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS steps(step INTEGER PRIMARY KEY, epoch REAL, loss REAL, task_loss REAL,
  accuracy REAL, test_accuracy REAL, learning_rate REAL, tokens_per_second REAL, wall_seconds REAL);
CREATE TABLE IF NOT EXISTS block_stats(step INTEGER, block INTEGER, experts INTEGER, ffn_experts INTEGER,
  tokens INTEGER, dropped INTEGER, mean_token_entropy REAL, router_grad_norm REAL, aux_loss REAL,
  z_loss REAL, classes INTEGER, entropy_hist TEXT, experts_per_token_hist TEXT, similarity TEXT,
  PRIMARY KEY(step, block));
CREATE TABLE IF NOT EXISTS expert_stats(step INTEGER, block INTEGER, expert INTEGER, tokens REAL,
  mean_gate_prob REAL, PRIMARY KEY(step, block, expert));
CREATE TABLE IF NOT EXISTS class_expert(step INTEGER, block INTEGER, class INTEGER, expert INTEGER,
  tokens REAL, PRIMARY KEY(step, block, class, expert));
CREATE TABLE IF NOT EXISTS routing_map(step INTEGER, block INTEGER, resolution INTEGER, cells TEXT,
  PRIMARY KEY(step, block));
CREATE TABLE IF NOT EXISTS alerts(step INTEGER, block INTEGER, kind TEXT, severity TEXT, value REAL,
  title TEXT, explanation TEXT, fix TEXT);
CREATE TABLE IF NOT EXISTS text_metrics(step INTEGER PRIMARY KEY, test_loss REAL, unigram_bits_per_byte REAL);
CREATE TABLE IF NOT EXISTS probe_routing(step INTEGER, block INTEGER, k INTEGER, experts TEXT, gates TEXT,
  PRIMARY KEY(step, block));
CREATE TABLE IF NOT EXISTS block_sample(step INTEGER, block INTEGER, batches INTEGER, PRIMARY KEY(step, block));
CREATE TABLE IF NOT EXISTS rank_times(step INTEGER, rank INTEGER, steps INTEGER, compute_seconds REAL,
  grad_reduce_seconds REAL, exchange_seconds REAL, PRIMARY KEY(step, rank));
CREATE TABLE IF NOT EXISTS layer_times(step INTEGER, rank INTEGER, block INTEGER, steps INTEGER, alltoall_seconds REAL,
  expert_seconds REAL, rows_to TEXT, bytes_per_row INTEGER, wait_seconds REAL, PRIMARY KEY(step, rank, block));
)sql";

std::string jsonArray(const std::vector<double>& v) { return nlohmann::json(v).dump(); }

}  // namespace

std::string utcNowIso() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string newRunId() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
    std::random_device rd;
    char suffix[8];
    std::snprintf(suffix, sizeof suffix, "%04x", rd() & 0xffffu);
    return std::string(buf) + "-" + suffix;
}

moe::spec::Result<std::unique_ptr<RunWriter>> RunWriter::create(const std::string& path, RunInfo info) {
    std::error_code ec;
    std::filesystem::remove(path, ec);
    std::filesystem::remove(path + "-wal", ec);
    std::filesystem::remove(path + "-shm", ec);
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr) != SQLITE_OK) {
        const std::string err = detail::lastError(db);
        sqlite3_close(db);
        return moe::spec::Diagnostics{{"", "cannot create the run store " + path + ": " + err}};
    }
    std::string err;
    // WAL: readers never block the writer; synchronous=NORMAL keeps committed transactions across
    // a process crash (kill -9), which is the failure that matters here.
    if (!exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", err) || !exec(db, kSchema, err)) {
        sqlite3_close(db);
        return moe::spec::Diagnostics{{"", "cannot initialise the run store " + path + ": " + err}};
    }
    sqlite3_busy_timeout(db, 2000);
    std::unique_ptr<RunWriter> w(new RunWriter(path, db));
    // One id per run: the file's name, which is what every listing shows.
    if (info.runId.empty()) info.runId = std::filesystem::path(path).stem().string();
    if (info.runId.empty()) info.runId = newRunId();
    if (info.startedAt.empty()) info.startedAt = utcNowIso();
    if (info.status.empty()) info.status = "running";
    w->setMeta("format", std::to_string(kRunStoreFormat));
    w->setMeta("run_id", info.runId);
    w->setMeta("started_at", info.startedAt);
    w->setMeta("status", info.status);
    w->setMeta("message", info.message);
    w->setMeta("project", info.projectJson);
    if (!info.checkpoint.empty()) w->setMeta("checkpoint", info.checkpoint);
    if (!info.name.empty()) w->setMeta("name", info.name);
    if (!info.notes.empty()) w->setMeta("notes", info.notes);
    if (!w->m_error.empty()) return moe::spec::Diagnostics{{"", w->m_error}};
    w->m_thread = std::thread([p = w.get()] { p->loop(); });
    return w;
}

std::string setRunLabel(const std::string& path, const std::string& name, const std::string& notes) {
    if (!std::filesystem::exists(path)) return "cannot name the run " + path + ": no such file";
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
        const std::string err = detail::lastError(db);
        sqlite3_close(db);
        return "cannot open the run store " + path + ": " + err;
    }
    sqlite3_busy_timeout(db, 2000);
    std::string err;
    for (const auto& [key, value] : {std::pair<const char*, const std::string&>{"name", name}, {"notes", notes}}) {
        Statement st(db, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)");
        st.bind(1, std::string(key)).bind(2, value);
        if (!st.ok() || st.step() != SQLITE_DONE) {
            err = "cannot write the run's " + std::string(key) + " to " + path + ": " + detail::lastError(db);
            break;
        }
    }
    sqlite3_close(db);
    return err;
}

RunWriter::RunWriter(std::string path, sqlite3* db) : m_path(std::move(path)), m_db(db) {}

RunWriter::~RunWriter() {
    {
        std::lock_guard lock(m_mutex);
        m_stop = true;
    }
    m_wake.notify_all();
    if (m_thread.joinable()) m_thread.join();
    sqlite3_close(m_db);
}

bool RunWriter::setMeta(const std::string& key, const std::string& value) {
    Statement st(m_db, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)");
    st.bind(1, key).bind(2, value);
    if (!st.ok() || st.step() != SQLITE_DONE) {
        std::lock_guard lock(m_mutex);
        if (m_error.empty()) m_error = "cannot write run meta data to the run store " + m_path + ": " + detail::lastError(m_db);
        return false;
    }
    return true;
}

void RunWriter::append(SnapshotPtr snapshot) {
    if (!snapshot) return;
    {
        std::lock_guard lock(m_mutex);
        m_queue.push_back(std::move(snapshot));
    }
    m_wake.notify_one();
}

void RunWriter::flush() {
    std::unique_lock lock(m_mutex);
    m_done.wait(lock, [&] { return (m_queue.empty() && !m_busy) || !m_thread.joinable(); });
}

void RunWriter::finish(const std::string& status, const std::string& message) {
    {
        std::lock_guard lock(m_mutex);
        m_stop = true;
    }
    m_wake.notify_all();
    if (m_thread.joinable()) m_thread.join();
    const bool hadError = !error().empty();
    std::string err;
    // After a failed write (often a full disk) the WAL is folded into the database and emptied
    // first: that frees the room the status needs, so the store says "failed" rather than "running".
    if (hadError) exec(m_db, "PRAGMA wal_checkpoint(TRUNCATE);", err);
    if (!setMeta("status", status) || !setMeta("message", message) || !setMeta("finished_at", utcNowIso()))
        if (hadError) spdlog::error("the run store {} could not be marked {}: {}", m_path, status, detail::lastError(m_db));
    exec(m_db, "PRAGMA wal_checkpoint(TRUNCATE);", err);
}

std::string RunWriter::error() const {
    std::lock_guard lock(m_mutex);
    return m_error;
}

void RunWriter::loop() {
    while (true) {
        std::deque<SnapshotPtr> batch;
        {
            std::unique_lock lock(m_mutex);
            m_wake.wait(lock, [&] { return m_stop || !m_queue.empty(); });
            if (m_queue.empty() && m_stop) break;
            batch.swap(m_queue);
            m_busy = true;
        }
        // After a failed write nothing more is written: the store keeps every step committed before
        // it, and the owner stops the run on error().
        for (const auto& s : batch)
            if (error().empty()) writeOne(*s);
        {
            std::lock_guard lock(m_mutex);
            m_busy = false;
        }
        m_done.notify_all();
    }
    m_done.notify_all();
}

void RunWriter::writeOne(const RoutingSnapshot& s) {
    std::string err;
    bool ok = exec(m_db, "BEGIN IMMEDIATE;", err);
    if (ok) {
        Statement st(m_db, "INSERT OR REPLACE INTO steps VALUES(?,?,?,?,?,?,?,?,?)");
        st.bind(1, s.step).bind(2, s.epoch).bind(3, s.loss).bind(4, s.taskLoss).bind(5, s.accuracy)
            .bind(6, s.testAccuracy).bind(7, s.learningRate).bind(8, s.tokensPerSecond).bind(9, s.wallSeconds);
        ok = st.ok() && st.step() == SQLITE_DONE;
    }
    Statement bs(m_db, "INSERT OR REPLACE INTO block_stats VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    Statement es(m_db, "INSERT OR REPLACE INTO expert_stats VALUES(?,?,?,?,?)");
    Statement ce(m_db, "INSERT OR REPLACE INTO class_expert VALUES(?,?,?,?,?)");
    Statement al(m_db, "INSERT INTO alerts VALUES(?,?,?,?,?,?,?,?)");
    Statement sa(m_db, "INSERT OR REPLACE INTO block_sample VALUES(?,?,?)");
    ok = ok && bs.ok() && es.ok() && ce.ok() && al.ok() && sa.ok();
    for (const auto& b : s.blocks) {
        if (!ok) break;
        bs.bind(1, s.step).bind(2, b.block).bind(3, b.experts).bind(4, b.ffnExperts).bind(5, b.tokens).bind(6, b.dropped)
            .bind(7, b.meanTokenEntropy).bind(8, b.routerGradNorm).bind(9, b.auxLoss).bind(10, b.zLoss).bind(11, b.classes)
            .bind(12, jsonArray(b.tokenEntropyHist)).bind(13, jsonArray(b.expertsPerTokenHist)).bind(14, jsonArray(b.similarity));
        ok = bs.step() == SQLITE_DONE;
        bs.reset();
        sa.bind(1, s.step).bind(2, b.block).bind(3, b.batches);
        ok = ok && sa.step() == SQLITE_DONE;
        sa.reset();
        for (int e = 0; ok && e < b.experts; ++e) {
            const auto ue = static_cast<size_t>(e);
            es.bind(1, s.step).bind(2, b.block).bind(3, e)
                .bind(4, ue < b.tokensPerExpert.size() ? b.tokensPerExpert[ue] : 0.0)
                .bind(5, ue < b.meanGateProb.size() ? b.meanGateProb[ue] : 0.0);
            ok = es.step() == SQLITE_DONE;
            es.reset();
        }
        for (int c = 0; ok && c < b.classes; ++c)
            for (int e = 0; ok && e < b.experts; ++e) {
                const size_t i = static_cast<size_t>(c) * static_cast<size_t>(b.experts) + static_cast<size_t>(e);
                if (i >= b.classExpert.size() || b.classExpert[i] == 0) continue;
                ce.bind(1, s.step).bind(2, b.block).bind(3, c).bind(4, e).bind(5, b.classExpert[i]);
                ok = ce.step() == SQLITE_DONE;
                ce.reset();
            }
    }
    if (ok && !s.mapPoints.empty() && !m_pointsWritten) {
        setMeta("map_bounds", nlohmann::json({s.mapXMin, s.mapXMax, s.mapYMin, s.mapYMax}).dump());
        setMeta("map_points", nlohmann::json(s.mapPoints).dump());
        m_pointsWritten = true;
    }
    if (ok && !s.rankTimes.empty()) {
        Statement rt(m_db, "INSERT OR REPLACE INTO rank_times VALUES(?,?,?,?,?,?)");
        ok = rt.ok();
        for (const auto& r : s.rankTimes) {
            if (!ok) break;
            rt.bind(1, s.step).bind(2, r.rank).bind(3, r.steps).bind(4, r.computeSeconds).bind(5, r.gradReduceSeconds).bind(6, r.exchangeSeconds);
            ok = rt.step() == SQLITE_DONE;
            rt.reset();
        }
    }
    if (ok && !s.layerTimes.empty()) {
        Statement lt(m_db, "INSERT OR REPLACE INTO layer_times VALUES(?,?,?,?,?,?,?,?,?)");
        ok = lt.ok();
        for (const auto& t : s.layerTimes) {
            if (!ok) break;
            lt.bind(1, s.step).bind(2, t.rank).bind(3, t.block).bind(4, t.steps).bind(5, t.alltoallSeconds).bind(6, t.expertSeconds)
                .bind(7, jsonArray(t.rowsTo)).bind(8, t.bytesPerRow).bind(9, t.waitSeconds);
            ok = lt.step() == SQLITE_DONE;
            lt.reset();
        }
    }
    if (ok && s.unigramBitsPerByte > 0) {
        Statement tm(m_db, "INSERT OR REPLACE INTO text_metrics VALUES(?,?,?)");
        tm.bind(1, s.step).bind(2, s.testLoss).bind(3, s.unigramBitsPerByte);
        ok = tm.ok() && tm.step() == SQLITE_DONE;
    }
    if (ok && !m_probeWritten && (!s.probeTokens.empty() || !s.classNames.empty())) {
        // The probe and the class names are fixed for a run: stored once.
        setMeta("probe_tokens", nlohmann::json(s.probeTokens).dump());
        setMeta("probe_samples", std::to_string(s.probeSamples));
        setMeta("class_names", nlohmann::json(s.classNames).dump());
        m_probeWritten = true;
    }
    if (ok) {
        Statement pr(m_db, "INSERT OR REPLACE INTO probe_routing VALUES(?,?,?,?,?)");
        for (const auto& b : s.blocks) {
            if (!ok || b.probeK <= 0) continue;
            pr.bind(1, s.step).bind(2, b.block).bind(3, b.probeK).bind(4, nlohmann::json(b.probeExperts).dump())
                .bind(5, nlohmann::json(b.probeGates).dump());
            ok = pr.ok() && pr.step() == SQLITE_DONE;
            pr.reset();
        }
    }
    if (ok) {
        Statement rm(m_db, "INSERT OR REPLACE INTO routing_map VALUES(?,?,?,?)");
        for (const auto& b : s.blocks) {
            if (!ok || b.mapResolution <= 0) continue;
            rm.bind(1, s.step).bind(2, b.block).bind(3, b.mapResolution).bind(4, nlohmann::json(b.routingMap).dump());
            ok = rm.ok() && rm.step() == SQLITE_DONE;
            rm.reset();
        }
    }
    for (const auto& a : s.alerts) {
        if (!ok) break;
        al.bind(1, s.step).bind(2, a.block).bind(3, std::string(toString(a.kind))).bind(4, std::string(toString(a.severity)))
            .bind(5, a.value).bind(6, a.title).bind(7, a.explanation).bind(8, a.fix);
        ok = al.step() == SQLITE_DONE;
        al.reset();
    }
    if (ok) {
        Statement st(m_db, "INSERT OR REPLACE INTO meta(key, value) VALUES('last_step', ?)");
        st.bind(1, std::to_string(s.step));
        ok = st.ok() && st.step() == SQLITE_DONE;
    }
    if (ok) ok = exec(m_db, "COMMIT;", err);
    if (!ok) {
        // The cause is the failed statement's, read before the rollback: SQLite may already have
        // rolled back by itself (disk full, I/O error), and a second ROLLBACK's complaint ("no
        // transaction is active") would hide it.
        std::string cause = err.empty() ? detail::lastError(m_db) : err;
        // SQLite says "disk I/O error"; the system's reason (no space left, file too large) is what
        // the user can act on.
        if (const int sys = sqlite3_system_errno(m_db); sys != 0) cause += " (" + std::string(std::strerror(sys)) + ")";
        if (!sqlite3_get_autocommit(m_db)) exec(m_db, "ROLLBACK;", err);
        std::lock_guard lock(m_mutex);
        if (m_error.empty()) {
            m_error = "cannot write step " + std::to_string(s.step) + " to the run store " + m_path + ": " + cause;
            spdlog::error("{}", m_error);
        }
    }
}

}  // namespace moe::telemetry
