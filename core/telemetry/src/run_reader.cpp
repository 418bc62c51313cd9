#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>

#include "moe/telemetry/run_store.h"
#include "sqlite_util.h"

namespace moe::telemetry {
namespace {

using detail::Statement;

std::vector<double> parseArray(const std::string& text) {
    if (text.empty()) return {};
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_array()) return {};
    std::vector<double> out;
    out.reserve(j.size());
    for (const auto& v : j) out.push_back(v.is_number() ? v.get<double>() : 0.0);
    return out;
}

// Whole numbers stored as a JSON array (expert indices, token ids), each from lo to hi. Returns the
// first value that is not one, as text, or empty when all are.
std::string toWholeNumbers(const std::vector<double>& values, double lo, double hi, std::vector<int>& out) {
    out.reserve(out.size() + values.size());
    for (double v : values) {
        if (!(v >= lo && v <= hi) || v != std::floor(v)) return nlohmann::json(v).dump();
        out.push_back(static_cast<int>(v));
    }
    return {};
}

// Expert indices: -1 (an unused slot) to experts - 1.
std::string toExpertIndices(const std::vector<double>& values, int experts, std::vector<int>& out) {
    return toWholeNumbers(values, -1, std::max(experts, 1) - 1, out);
}

// Single-precision values (gates, map coordinates): finite and within float's range.
std::string toFloats(const std::vector<double>& values, std::vector<float>& out) {
    out.reserve(out.size() + values.size());
    for (double v : values) {
        if (!(std::fabs(v) <= std::numeric_limits<float>::max())) return nlohmann::json(v).dump();
        out.push_back(static_cast<float>(v));
    }
    return {};
}

std::optional<AlertKind> alertKindFrom(const std::string& s) {
    for (int i = 0; i <= static_cast<int>(AlertKind::Divergence); ++i)
        if (toString(static_cast<AlertKind>(i)) == s) return static_cast<AlertKind>(i);
    return std::nullopt;
}

Severity severityFrom(const std::string& s) {
    if (s == "critical") return Severity::Critical;
    if (s == "info") return Severity::Info;
    return Severity::Warning;
}

std::string csvField(const std::string& v) {
    if (v.find_first_of(",\"\n") == std::string::npos) return v;
    std::string out = "\"";
    for (char c : v) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

}  // namespace

moe::spec::Result<std::shared_ptr<RunReader>> RunReader::open(const std::string& path) {
    auto r = openMetaOnly(path);
    if (r.ok()) r.value()->refresh();
    return r;
}

moe::spec::Result<RunInfo> RunReader::readInfo(const std::string& path) {
    auto r = openMetaOnly(path);
    if (!r.ok()) return r.errors();
    return r.value()->info();
}

moe::spec::Result<std::shared_ptr<RunReader>> RunReader::openMetaOnly(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
        return moe::spec::Diagnostics{{"", "no run store at " + path + " (expected a .sqlite file written by 'moe train' or the studio)"}};
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX, nullptr) != SQLITE_OK) {
        const std::string err = detail::lastError(db);
        sqlite3_close(db);
        return moe::spec::Diagnostics{{"", "cannot open the run store " + path + ": " + err}};
    }
    sqlite3_busy_timeout(db, 2000);
    std::shared_ptr<RunReader> r(new RunReader(path, db));
    std::string err;
    if (!r->readMeta(err)) return moe::spec::Diagnostics{{"", path + " is not a MoE Studio run store: " + err}};
    return r;
}

bool isRunStore(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) return false;
    // The SQLite header first, so that no other kind of file is handed to SQLite at all.
    char magic[16] = {};
    if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
        const size_t n = std::fread(magic, 1, sizeof magic, f);
        std::fclose(f);
        if (n != sizeof magic || std::memcmp(magic, "SQLite format 3", sizeof magic) != 0) return false;
    } else {
        return false;
    }
    sqlite3* db = nullptr;
    bool found = false;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
        Statement st(db, "SELECT value FROM meta WHERE key = 'format'");
        found = st.ok() && st.step() == SQLITE_ROW;
    }
    sqlite3_close(db);
    return found;
}

RunReader::~RunReader() { sqlite3_close(m_db); }

bool RunReader::readMeta(std::string& error) {
    Statement st(m_db, "SELECT key, value FROM meta");
    if (!st.ok()) {
        error = detail::lastError(m_db);
        return false;
    }
    std::map<std::string, std::string> meta;
    while (st.step() == SQLITE_ROW) meta[st.getText(0)] = st.getText(1);
    if (!meta.count("format")) {
        error = "it has no format entry";
        return false;
    }
    if (meta["format"] != std::to_string(kRunStoreFormat)) {
        error = "format " + meta["format"] + " is not supported (this version reads format " + std::to_string(kRunStoreFormat) + ")";
        return false;
    }
    m_info.runId = meta["run_id"];
    m_info.projectJson = meta["project"];
    m_info.startedAt = meta["started_at"];
    m_info.finishedAt = meta["finished_at"];
    m_info.status = meta["status"];
    m_info.message = meta["message"];
    m_info.checkpoint = meta["checkpoint"];
    m_info.name = meta["name"];
    m_info.notes = meta["notes"];
    if (m_probeTokens.empty() && meta.count("probe_tokens")) {
        std::vector<int> tokens;
        if (const std::string bad = toWholeNumbers(parseArray(meta["probe_tokens"]), 0, std::numeric_limits<int>::max(), tokens); !bad.empty())
            noteDamage("meta probe_tokens: " + bad + " is not a token");
        else
            m_probeTokens = std::move(tokens);
        const long long samples = std::strtoll(meta["probe_samples"].c_str(), nullptr, 10);
        m_probeSamples = static_cast<int>(std::clamp<long long>(samples, 1, kMaxStoredCount));
    }
    if (m_classNames.empty() && meta.count("class_names")) {
        auto j = nlohmann::json::parse(meta["class_names"], nullptr, false);
        if (j.is_array())
            for (const auto& v : j) m_classNames.push_back(v.is_string() ? v.get<std::string>() : std::string());
    }
    if (m_mapPoints.empty() && meta.count("map_points")) {
        std::vector<float> points;
        if (const std::string bad = toFloats(parseArray(meta["map_points"]), points); !bad.empty())
            noteDamage("meta map_points: " + bad + " is not a coordinate");
        else
            m_mapPoints = std::move(points);
        m_mapBounds = parseArray(meta["map_bounds"]);
    }
    return true;
}

int RunReader::refresh() {
    std::string err;
    // One read transaction so the meta, the steps and their blocks are a consistent view.
    detail::exec(m_db, "BEGIN;", err);
    readMeta(err);
    const std::int64_t after = m_snapshots.empty() ? -1 : m_snapshots.back()->step;
    std::map<std::int64_t, std::shared_ptr<RoutingSnapshot>> fresh;
    {
        Statement st(m_db, "SELECT step, epoch, loss, task_loss, accuracy, test_accuracy, learning_rate, tokens_per_second, wall_seconds FROM steps WHERE step > ? ORDER BY step");
        st.bind(1, after);
        while (st.ok() && st.step() == SQLITE_ROW) {
            auto s = std::make_shared<RoutingSnapshot>();
            s->step = st.getInt(0);
            s->epoch = st.getDouble(1);
            s->loss = st.getDouble(2);
            s->taskLoss = st.getDouble(3);
            s->accuracy = st.getDouble(4);
            s->testAccuracy = st.getDouble(5);
            s->learningRate = st.getDouble(6);
            s->tokensPerSecond = st.getDouble(7);
            s->wallSeconds = st.getDouble(8);
            fresh[s->step] = s;
        }
    }
    if (!fresh.empty()) {
        // Counts read from the file size what is allocated for them, so a damaged file (one flipped
        // integer) must not be believed: nothing in a store holds more items than it has bytes.
        std::error_code ec;
        std::int64_t fileBytes = 0;
        for (const char* suffix : {"", "-wal"}) {
            const auto n = std::filesystem::file_size(m_path + suffix, ec);
            if (!ec) fileBytes += static_cast<std::int64_t>(n);
        }
        const std::int64_t maxCount = std::min<std::int64_t>(std::max<std::int64_t>(fileBytes, 1), kMaxStoredCount);
        const std::int64_t maxCells = std::clamp<std::int64_t>(fileBytes, kMaxStoredCount, 16 * kMaxStoredCount);
        std::map<std::pair<std::int64_t, int>, BlockSnapshot*> blocks;
        Statement bs(m_db, "SELECT step, block, experts, ffn_experts, tokens, dropped, mean_token_entropy, router_grad_norm, aux_loss, z_loss, classes, entropy_hist, experts_per_token_hist, similarity FROM block_stats WHERE step > ? ORDER BY step, block");
        bs.bind(1, after);
        while (bs.ok() && bs.step() == SQLITE_ROW) {
            auto it = fresh.find(bs.getInt(0));
            if (it == fresh.end()) continue;
            const std::int64_t block = bs.getInt(1), experts = bs.getInt(2), ffnExperts = bs.getInt(3), classes = bs.getInt(10);
            const auto bad = [&](const char* what, std::int64_t v) {
                return what + std::string(" = ") + std::to_string(v) + " (a count from 0 to " + std::to_string(maxCount) + " fits this file)";
            };
            std::string damage;
            if (block < 0 || block > maxCount) damage = bad("block", block);
            else if (experts < 0 || experts > maxCount) damage = bad("experts", experts);
            else if (ffnExperts < 0 || ffnExperts > maxCount) damage = bad("ffn_experts", ffnExperts);
            else if (classes < 0 || classes > maxCount) damage = bad("classes", classes);
            else if (classes * experts > maxCells)
                damage = "classes x experts = " + std::to_string(classes * experts) + " cells (at most " + std::to_string(maxCells) + " fit this file)";
            if (!damage.empty()) {
                noteDamage("block_stats row (step " + std::to_string(bs.getInt(0)) + ", block " + std::to_string(block) + "): " + damage);
                continue;
            }
            BlockSnapshot b;
            b.block = static_cast<int>(block);
            b.experts = static_cast<int>(experts);
            b.ffnExperts = static_cast<int>(ffnExperts);
            b.tokens = bs.getInt(4);
            b.dropped = bs.getInt(5);
            b.meanTokenEntropy = bs.getDouble(6);
            b.routerGradNorm = bs.getDouble(7);
            b.auxLoss = bs.getDouble(8);
            b.zLoss = bs.getDouble(9);
            b.classes = static_cast<int>(classes);
            b.tokenEntropyHist = parseArray(bs.getText(11));
            b.expertsPerTokenHist = parseArray(bs.getText(12));
            b.similarity = parseArray(bs.getText(13));
            b.tokensPerExpert.assign(static_cast<size_t>(experts), 0.0);
            b.meanGateProb.assign(static_cast<size_t>(experts), 0.0);
            b.classExpert.assign(static_cast<size_t>(classes * experts), 0.0);
            it->second->blocks.push_back(std::move(b));
        }
        for (auto& [step, s] : fresh)
            for (auto& b : s->blocks) blocks[{step, b.block}] = &b;
        Statement es(m_db, "SELECT step, block, expert, tokens, mean_gate_prob FROM expert_stats WHERE step > ?");
        es.bind(1, after);
        while (es.ok() && es.step() == SQLITE_ROW) {
            auto it = blocks.find({es.getInt(0), static_cast<int>(es.getInt(1))});
            const auto e = static_cast<size_t>(es.getInt(2));
            if (it == blocks.end() || e >= it->second->tokensPerExpert.size()) continue;
            it->second->tokensPerExpert[e] = es.getDouble(3);
            it->second->meanGateProb[e] = es.getDouble(4);
        }
        Statement ce(m_db, "SELECT step, block, class, expert, tokens FROM class_expert WHERE step > ?");
        ce.bind(1, after);
        while (ce.ok() && ce.step() == SQLITE_ROW) {
            auto it = blocks.find({ce.getInt(0), static_cast<int>(ce.getInt(1))});
            if (it == blocks.end()) continue;
            const std::int64_t c = ce.getInt(2), e = ce.getInt(3);
            if (c < 0 || c >= it->second->classes || e < 0 || e >= it->second->experts) {
                noteDamage("class_expert row (step " + std::to_string(ce.getInt(0)) + ", block " + std::to_string(ce.getInt(1)) + ", class " +
                           std::to_string(c) + ", expert " + std::to_string(e) + "): outside the block's " + std::to_string(it->second->classes) +
                           " classes x " + std::to_string(it->second->experts) + " experts");
                continue;
            }
            it->second->classExpert[static_cast<size_t>(c * it->second->experts + e)] = ce.getDouble(4);
        }
        Statement rm(m_db, "SELECT step, block, resolution, cells FROM routing_map WHERE step > ?");
        rm.bind(1, after);
        while (rm.ok() && rm.step() == SQLITE_ROW) {
            auto it = blocks.find({rm.getInt(0), static_cast<int>(rm.getInt(1))});
            if (it == blocks.end()) continue;
            const std::int64_t res = rm.getInt(2);
            if (res < 0 || res > maxCells || res * res > maxCells) {
                noteDamage("routing_map row (step " + std::to_string(rm.getInt(0)) + ", block " + std::to_string(rm.getInt(1)) +
                           "): resolution = " + std::to_string(res) + " is not a plausible grid for this file");
                continue;
            }
            std::vector<int> cells;
            if (const std::string bad = toExpertIndices(parseArray(rm.getText(3)), it->second->experts, cells); !bad.empty()) {
                noteDamage("routing_map row (step " + std::to_string(rm.getInt(0)) + ", block " + std::to_string(rm.getInt(1)) +
                           "): cell " + bad + " is not one of the block's " + std::to_string(it->second->experts) + " experts");
                continue;
            }
            it->second->mapResolution = static_cast<int>(res);
            it->second->routingMap = std::move(cells);
        }
        // Tables added after the first stores: a store without them has no rows to read (a
        // store without block_sample measured one batch per snapshot).
        Statement sa(m_db, "SELECT step, block, batches FROM block_sample WHERE step > ?");
        sa.bind(1, after);
        while (sa.ok() && sa.step() == SQLITE_ROW) {
            auto it = blocks.find({sa.getInt(0), static_cast<int>(sa.getInt(1))});
            if (it != blocks.end()) it->second->batches = std::max(1, static_cast<int>(sa.getInt(2)));
        }
        Statement rt(m_db, "SELECT step, rank, steps, compute_seconds, grad_reduce_seconds, exchange_seconds FROM rank_times WHERE step > ? ORDER BY step, rank");
        rt.bind(1, after);
        while (rt.ok() && rt.step() == SQLITE_ROW) {
            auto it = fresh.find(rt.getInt(0));
            if (it == fresh.end()) continue;
            const std::int64_t rank = rt.getInt(1), steps = rt.getInt(2);
            auto& times = it->second->rankTimes;
            std::string damage;
            if (rank < 0 || rank > maxCount) damage = "rank = " + std::to_string(rank) + " (a rank from 0 to " + std::to_string(maxCount) + " fits this file)";
            else if (steps < 0 || steps > maxCount) damage = "steps = " + std::to_string(steps) + " (a count from 0 to " + std::to_string(maxCount) + " fits this file)";
            else if (static_cast<std::int64_t>(times.size()) >= maxCount) damage = "more ranks than fit this file";
            if (!damage.empty()) {
                noteDamage("rank_times row (step " + std::to_string(rt.getInt(0)) + "): " + damage);
                continue;
            }
            RankTime r;
            r.rank = static_cast<int>(rank);
            r.steps = static_cast<int>(steps);
            r.computeSeconds = rt.getDouble(3);
            r.gradReduceSeconds = rt.getDouble(4);
            r.exchangeSeconds = rt.getDouble(5);
            times.push_back(r);
        }
        // Stores written before wait_seconds existed read as "not measured".
        const std::string layerSql = std::string("SELECT step, rank, block, steps, alltoall_seconds, expert_seconds, rows_to, bytes_per_row, ") +
                                     (detail::hasColumn(m_db, "layer_times", "wait_seconds") ? "wait_seconds" : "0") +
                                     " FROM layer_times WHERE step > ? ORDER BY step, block, rank";
        Statement lt(m_db, layerSql.c_str());
        lt.bind(1, after);
        while (lt.ok() && lt.step() == SQLITE_ROW) {
            auto it = fresh.find(lt.getInt(0));
            if (it == fresh.end()) continue;
            const std::int64_t rank = lt.getInt(1), block = lt.getInt(2), steps = lt.getInt(3), bytesPerRow = lt.getInt(7);
            auto& times = it->second->layerTimes;
            const auto count = [&](const char* what, std::int64_t v) {
                return what + std::string(" = ") + std::to_string(v) + " (a count from 0 to " + std::to_string(maxCount) + " fits this file)";
            };
            std::string damage;
            if (rank < 0 || rank > maxCount) damage = count("rank", rank);
            else if (block < 0 || block > maxCount) damage = count("block", block);
            else if (steps < 0 || steps > maxCount) damage = count("steps", steps);
            else if (bytesPerRow < 0 || bytesPerRow > std::numeric_limits<int>::max())
                damage = "bytes_per_row = " + std::to_string(bytesPerRow) + " (a size from 0 to " + std::to_string(std::numeric_limits<int>::max()) + ")";
            else if (static_cast<std::int64_t>(times.size()) >= maxCount) damage = "more records than fit this file";
            else if (const double w = lt.getDouble(8); !(w >= 0 && std::isfinite(w)))
                damage = "wait_seconds = " + nlohmann::json(w).dump() + " (seconds >= 0)";
            std::vector<double> rows;
            if (damage.empty()) {
                rows = parseArray(lt.getText(6));
                if (static_cast<std::int64_t>(rows.size()) > maxCount) damage = "rows_to lists " + std::to_string(rows.size()) + " ranks (at most " + std::to_string(maxCount) + " fit this file)";
                for (double v : rows)
                    if (damage.empty() && !(v >= 0 && std::isfinite(v))) damage = "rows_to holds " + nlohmann::json(v).dump() + " (rows are counts >= 0)";
            }
            if (!damage.empty()) {
                noteDamage("layer_times row (step " + std::to_string(lt.getInt(0)) + "): " + damage);
                continue;
            }
            LayerTime t;
            t.rank = static_cast<int>(rank);
            t.block = static_cast<int>(block);
            t.steps = static_cast<int>(steps);
            t.alltoallSeconds = lt.getDouble(4);
            t.expertSeconds = lt.getDouble(5);
            t.rowsTo = std::move(rows);
            t.bytesPerRow = static_cast<int>(bytesPerRow);
            t.waitSeconds = lt.getDouble(8);
            times.push_back(std::move(t));
        }
        Statement tm(m_db, "SELECT step, test_loss, unigram_bits_per_byte FROM text_metrics WHERE step > ?");
        tm.bind(1, after);
        while (tm.ok() && tm.step() == SQLITE_ROW) {
            auto it = fresh.find(tm.getInt(0));
            if (it == fresh.end()) continue;
            it->second->testLoss = tm.getDouble(1);
            it->second->unigramBitsPerByte = tm.getDouble(2);
        }
        Statement pr(m_db, "SELECT step, block, k, experts, gates FROM probe_routing WHERE step > ?");
        pr.bind(1, after);
        while (pr.ok() && pr.step() == SQLITE_ROW) {
            auto it = blocks.find({pr.getInt(0), static_cast<int>(pr.getInt(1))});
            if (it == blocks.end()) continue;
            const std::int64_t k = pr.getInt(2);
            if (k < 0 || k > std::max(it->second->experts, 1)) {
                noteDamage("probe_routing row (step " + std::to_string(pr.getInt(0)) + ", block " + std::to_string(pr.getInt(1)) +
                           "): k = " + std::to_string(k) + " is more than the block's " + std::to_string(it->second->experts) + " experts");
                continue;
            }
            std::vector<int> experts;
            if (const std::string bad = toExpertIndices(parseArray(pr.getText(3)), it->second->experts, experts); !bad.empty()) {
                noteDamage("probe_routing row (step " + std::to_string(pr.getInt(0)) + ", block " + std::to_string(pr.getInt(1)) +
                           "): expert " + bad + " is not one of the block's " + std::to_string(it->second->experts) + " experts");
                continue;
            }
            std::vector<float> gates;
            if (const std::string bad = toFloats(parseArray(pr.getText(4)), gates); !bad.empty()) {
                noteDamage("probe_routing row (step " + std::to_string(pr.getInt(0)) + ", block " + std::to_string(pr.getInt(1)) +
                           "): gate " + bad + " is not a probability");
                continue;
            }
            it->second->probeK = static_cast<int>(k);
            it->second->probeExperts = std::move(experts);
            it->second->probeGates = std::move(gates);
        }
        for (auto& [step, s] : fresh) {
            s->probeTokens = m_probeTokens;
            s->probeSamples = m_probeSamples;
            s->classNames = m_classNames;
        }
        for (auto& [step, s] : fresh) {
            if (m_mapBounds.size() != 4) break;
            s->mapXMin = m_mapBounds[0];
            s->mapXMax = m_mapBounds[1];
            s->mapYMin = m_mapBounds[2];
            s->mapYMax = m_mapBounds[3];
            s->mapPoints = m_mapPoints;
        }
        Statement al(m_db, "SELECT step, block, kind, severity, value, title, explanation, fix FROM alerts WHERE step > ? ORDER BY rowid");
        al.bind(1, after);
        while (al.ok() && al.step() == SQLITE_ROW) {
            auto it = fresh.find(al.getInt(0));
            auto kind = alertKindFrom(al.getText(2));
            if (it == fresh.end() || !kind) continue;
            Alert a;
            a.step = al.getInt(0);
            a.block = static_cast<int>(al.getInt(1));
            a.kind = *kind;
            a.severity = severityFrom(al.getText(3));
            a.value = al.getDouble(4);
            a.title = al.getText(5);
            a.explanation = al.getText(6);
            a.fix = al.getText(7);
            it->second->alerts.push_back(std::move(a));
        }
    }
    detail::exec(m_db, "COMMIT;", err);
    for (auto& [step, s] : fresh) m_snapshots.push_back(std::move(s));
    return static_cast<int>(fresh.size());
}

void RunReader::noteDamage(const std::string& what) {
    // Reported once per row and capped: a store damaged everywhere must not flood the terminal.
    if (m_damage.size() >= kMaxDamageNotes) return;
    m_damage.push_back(what);
    spdlog::warn("run store {} is damaged: {}; the row is skipped", m_path, what);
}

SnapshotPtr RunReader::at(std::int64_t step) const {
    auto it = std::upper_bound(m_snapshots.begin(), m_snapshots.end(), step,
                               [](std::int64_t s, const SnapshotPtr& p) { return s < p->step; });
    if (it == m_snapshots.begin()) return nullptr;
    return *std::prev(it);
}

const std::vector<std::string>& RunReader::csvTables() {
    static const std::vector<std::string> t = {"steps", "block_stats", "expert_stats", "class_expert", "alerts", "text_metrics", "probe_routing", "rank_times", "layer_times"};
    return t;
}

bool RunReader::writeCsv(const std::string& table, std::ostream& out, std::string& error) const {
    const auto& tables = csvTables();
    if (std::find(tables.begin(), tables.end(), table) == tables.end()) {
        error = "unknown table '" + table + "'; choose one of steps, block_stats, expert_stats, class_expert, alerts, text_metrics, probe_routing, rank_times, layer_times";
        return false;
    }
    const std::string sql = "SELECT * FROM " + table + (table == "alerts" ? " ORDER BY rowid" : table == "layer_times" ? " ORDER BY 1, 3, 2" : " ORDER BY 1, 2");
    Statement st(m_db, sql.c_str());
    if (!st.ok()) {
        error = "table " + table + " cannot be read (a run store from before it existed has none): " + detail::lastError(m_db);
        return false;
    }
    for (int c = 0; c < st.columns(); ++c) out << (c ? "," : "") << st.columnName(c);
    out << "\n";
    while (st.step() == SQLITE_ROW) {
        for (int c = 0; c < st.columns(); ++c) {
            if (c) out << ",";
            if (!st.isNull(c)) out << csvField(st.getText(c));
        }
        out << "\n";
    }
    return true;
}

}  // namespace moe::telemetry
