#pragma once
// The run store: one SQLite file per training run, written by a background thread in WAL mode,
// one transaction per snapshot. A `kill -9` at any moment leaves a readable file holding every
// snapshot committed before it, and readers (dashboards, `moe report`, the simulator) may open
// the file while training writes to it.
//
// Schema (format 1; every table keyed by step, blocks by their index in the flattened model's
// layers). Tables are only ever added, never changed, so older readers skip what they do not know
// and this reader takes a missing table as empty:
//   meta(key TEXT PRIMARY KEY, value TEXT)        format, run_id, started_at, finished_at,
//                                                 status, message, project (the project JSON),
//                                                 checkpoint (path of the run's checkpoint, if any),
//                                                 name and notes (the user's, see setRunLabel)
//   steps(step PK, epoch, loss, task_loss, accuracy, test_accuracy, learning_rate,
//         tokens_per_second, wall_seconds)
//   block_stats(step, block, experts, ffn_experts, tokens, dropped, mean_token_entropy,
//         router_grad_norm, aux_loss, z_loss, classes, entropy_hist, experts_per_token_hist,
//         similarity)                            histograms/matrices as JSON arrays
//   expert_stats(step, block, expert, tokens, mean_gate_prob)
//   class_expert(step, block, class, expert, tokens)   non-zero cells only
//   routing_map(step, block, resolution, cells)   2-D datasets: expert per grid cell (JSON)
//   alerts(step, block, kind, severity, value, title, explanation, fix)
//   meta also holds map_bounds [xmin,xmax,ymin,ymax] and map_points [x,y,label,...] for 2-D sets
//   text_metrics(step PK, test_loss, unigram_bits_per_byte)   language models: held-out loss (nats
//                                                 per byte, -1 when not measured) and the reference
//   probe_routing(step, block, k, experts, gates)  sequence models: per probe token the k experts
//                                                 (-1: unused slot) and gates, JSON [tokens x k]
//   block_sample(step, block, batches)            how many batches a snapshot's routing counts sum
//   rank_times(step, rank, steps, compute_seconds, grad_reduce_seconds, exchange_seconds)
//                                                 data parallel runs: each rank's time since the
//                                                 last snapshot (see RankTime)
//   layer_times(step, rank, block, steps, alltoall_seconds, expert_seconds, rows_to, bytes_per_row, wait_seconds)
//                                                 expert parallel runs: per rank and MoE block since
//                                                 the last snapshot, rows_to JSON [ranks] (see LayerTime)
//   meta holds the probe once: probe_tokens (JSON), probe_samples, class_names (JSON, when the
//   class rows are not dataset labels, e.g. token classes of text)

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "moe/spec/diagnostic.h"
#include "moe/telemetry/snapshot.h"

struct sqlite3;

namespace moe::telemetry {

inline constexpr int kRunStoreFormat = 1;

struct RunInfo {
    std::string runId;          // unique per run; empty at create(): the file's name without .sqlite
    std::string projectJson;    // the project as trained (moe-studio/1 JSON)
    std::string startedAt;      // ISO 8601 UTC
    std::string finishedAt;     // empty while running
    std::string status;         // running, finished, stopped, failed
    std::string message;        // why it stopped, for failed runs
    std::string checkpoint;     // checkpoint the run writes (empty: none); as given to the trainer
    std::string name;           // the user's name for the run (empty: none yet)
    std::string notes;          // the user's notes on the run
};

// Names and annotates a run after the fact (meta keys name and notes); also while it trains.
// Returns an error message naming the file, empty on success.
std::string setRunLabel(const std::string& path, const std::string& name, const std::string& notes);

// Writes snapshots on its own thread; append() never blocks on disk.
class RunWriter {
public:
    // Creates (or truncates) the file and writes the run's meta data.
    static moe::spec::Result<std::unique_ptr<RunWriter>> create(const std::string& path, RunInfo info);
    ~RunWriter();  // flushes and closes (status stays as last set)
    RunWriter(const RunWriter&) = delete;
    RunWriter& operator=(const RunWriter&) = delete;

    void append(SnapshotPtr snapshot);
    // Waits until everything appended so far is committed.
    void flush();
    // Flushes, records the final status and message, and stops the writer thread.
    void finish(const std::string& status, const std::string& message = {});
    // First write error (naming the file and the cause), empty when all went well. After one,
    // nothing more is written; the owner should stop and finish("failed", ...).
    std::string error() const;
    const std::string& path() const { return m_path; }

private:
    RunWriter(std::string path, sqlite3* db);
    void loop();
    void writeOne(const RoutingSnapshot& s);
    bool setMeta(const std::string& key, const std::string& value);

    std::string m_path;
    sqlite3* m_db = nullptr;
    mutable std::mutex m_mutex;
    std::condition_variable m_wake, m_done;
    std::deque<SnapshotPtr> m_queue;
    bool m_stop = false;
    bool m_busy = false;
    std::string m_error;
    bool m_pointsWritten = false;
    bool m_probeWritten = false;
    std::thread m_thread;
};

// Reads a run store, also while it is being written (refresh() picks up new steps).
class RunReader {
public:
    static moe::spec::Result<std::shared_ptr<RunReader>> open(const std::string& path);
    // Only the run's meta data (id, name, notes, status, project): cheap, for run listings.
    static moe::spec::Result<RunInfo> readInfo(const std::string& path);
    ~RunReader();
    RunReader(const RunReader&) = delete;
    RunReader& operator=(const RunReader&) = delete;

    const RunInfo& info() const { return m_info; }
    const std::string& path() const { return m_path; }
    // All snapshots read so far, in step order.
    const std::vector<SnapshotPtr>& snapshots() const { return m_snapshots; }
    SnapshotPtr latest() const { return m_snapshots.empty() ? nullptr : m_snapshots.back(); }
    // The snapshot at `step`, or the last one before it; nullptr when none.
    SnapshotPtr at(std::int64_t step) const;
    // Reads steps committed since the last read and the current meta; returns how many are new.
    int refresh();

    // Rows found damaged (a count the file cannot hold, an index out of range), each naming its
    // table and row; those rows are skipped and the rest of the store is read. The first few only.
    const std::vector<std::string>& damage() const { return m_damage; }

    // CSV export of one table: "steps", "block_stats", "expert_stats", "class_expert", "alerts".
    // Returns false (and fills `error`) for an unknown table.
    bool writeCsv(const std::string& table, std::ostream& out, std::string& error) const;
    static const std::vector<std::string>& csvTables();

private:
    RunReader(std::string path, sqlite3* db) : m_path(std::move(path)), m_db(db) {}
    static moe::spec::Result<std::shared_ptr<RunReader>> openMetaOnly(const std::string& path);
    bool readMeta(std::string& error);
    void noteDamage(const std::string& what);
    // No count in a store is believed beyond this (nor beyond the file's size in bytes).
    static constexpr std::int64_t kMaxStoredCount = 1 << 20;
    static constexpr size_t kMaxDamageNotes = 20;

    std::string m_path;
    sqlite3* m_db = nullptr;
    RunInfo m_info;
    std::vector<double> m_mapBounds;
    std::vector<float> m_mapPoints;
    std::vector<int> m_probeTokens;
    int m_probeSamples = 1;
    std::vector<std::string> m_classNames;
    std::vector<SnapshotPtr> m_snapshots;
    std::vector<std::string> m_damage;
};

// True when `path` is a run store of this program (a SQLite file whose meta table has a format
// entry): what `moe train --out` may replace without --force.
bool isRunStore(const std::string& path);

// A fresh run id: UTC time plus random suffix, e.g. "20261122-061503-a1b2".
std::string newRunId();
std::string utcNowIso();

}  // namespace moe::telemetry
