// `moe bench dist PROJECT`: data and expert parallel step time on this machine for 1, 2, ... local
// ranks and the share of it spent communicating, measured by real `moe train --nproc N` runs.
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "cli_command.h"
#include "moe/telemetry/run_store.h"
#include "moe/train/distributed.h"

namespace {

using moe::cli::fixed;
using moe::cli::humanCount;

struct Row {
    int ranks = 0;
    bool expertParallel = false;
    int steps = 0;
    double stepSeconds = 0;   // the slowest rank's mean step
    double computeSeconds = 0, reduceSeconds = 0, exchangeSeconds = 0;  // that rank's per step
    double alltoallSeconds = 0;  // expert parallel: that rank's per step in the MoE blocks' all-to-alls
    double communication() const { return reduceSeconds + exchangeSeconds + alltoallSeconds; }
};

// Runs this program's `train` with `args`, its output discarded; returns the exit status.
int runSelf(const std::vector<std::string>& args, const std::string& log) {
    char exe[4096];
    const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return -1;
    exe[n] = '\0';
    const pid_t pid = ::fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        if (!std::freopen(log.c_str(), "w", stdout) || !std::freopen(log.c_str(), "a", stderr)) ::_exit(127);
        for (const char* v : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"}) ::unsetenv(v);
        std::vector<char*> argv{exe};
        for (const auto& s : args) argv.push_back(const_cast<char*>(s.c_str()));
        argv.push_back(nullptr);
        ::execv(exe, argv.data());
        ::_exit(127);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int run(const moe::cli::ParsedArgs& a) {
    namespace fs = std::filesystem;
    const std::string path = a.positional()[0];
    auto loaded = moe::cli::loadProjectFile(path);
    if (!loaded) return 1;
    const int steps = a.intValue("steps", 40, 2, 100000);
    const int most = a.intValue("max-ranks", 2, 1, moe::train::dist::maxLocalRanks());
    std::string tmpl = (fs::temp_directory_path() / "moe-bench-dist-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("cannot make a temporary folder in " + fs::temp_directory_path().string());
    const fs::path dir = tmpl;
    bool hasMoe = false;
    for (const auto& b : loaded.value().model.flattened().blocks) hasMoe = hasMoe || b.kind == moe::spec::BlockKind::Moe;
    // One rank, then for each number of ranks data parallel and (with MoE blocks) expert parallel.
    std::vector<std::pair<int, bool>> runs;
    for (int ranks = 1; ranks <= most; ++ranks) {
        runs.push_back({ranks, false});
        if (ranks > 1 && hasMoe) runs.push_back({ranks, true});
    }
    std::vector<Row> rows;
    std::string failure;
    for (const auto& [ranks, expert] : runs) {
        const std::string name = "ranks-" + std::to_string(ranks) + (expert ? "-ep" : "");
        const std::string store = (dir / (name + ".sqlite")).string();
        const std::string log = (dir / (name + ".log")).string();
        std::vector<std::string> args{"train", path, "--nproc", std::to_string(ranks), "--steps", std::to_string(steps), "--out", store, "--plain", "--no-checkpoint",
                                      "--ep", expert ? std::to_string(ranks) : "1"};
        if (auto mb = a.value("bucket-mb")) args.insert(args.end(), {"--bucket-mb", *mb});
        if (runSelf(args, log) != 0) {
            std::ifstream in(log);
            std::stringstream ss;
            ss << in.rdbuf();
            failure = "moe train --nproc " + std::to_string(ranks) + (expert ? " --ep " + std::to_string(ranks) : "") + " failed:\n" + ss.str();
            break;
        }
        auto reader = moe::telemetry::RunReader::open(store);
        if (!reader) {
            failure = reader.message();
            break;
        }
        // Per rank: the steps after the first snapshot, which holds step 1 alone (start-up,
        // first-touch allocations).
        std::map<int, moe::telemetry::RankTime> sum;
        std::map<int, double> alltoall;
        const auto& snaps = reader.value()->snapshots();
        for (size_t i = 1; i < snaps.size(); ++i) {
            for (const auto& t : snaps[i]->rankTimes) {
                auto& s = sum[t.rank];
                s.steps += t.steps;
                s.computeSeconds += t.computeSeconds;
                s.gradReduceSeconds += t.gradReduceSeconds;
                s.exchangeSeconds += t.exchangeSeconds;
            }
            for (const auto& l : snaps[i]->layerTimes) alltoall[l.rank] += l.alltoallSeconds;
        }
        Row row;
        row.ranks = ranks;
        row.expertParallel = expert;
        for (const auto& [rank, t] : sum) {
            if (t.steps == 0) continue;
            const double a2a = alltoall.count(rank) ? alltoall.at(rank) : 0.0;
            const double step = (t.computeSeconds + t.gradReduceSeconds + t.exchangeSeconds + a2a) / t.steps;
            if (step > row.stepSeconds) {
                row.stepSeconds = step;
                row.steps = t.steps;
                row.computeSeconds = t.computeSeconds / t.steps;
                row.reduceSeconds = t.gradReduceSeconds / t.steps;
                row.exchangeSeconds = t.exchangeSeconds / t.steps;
                row.alltoallSeconds = a2a / t.steps;
            }
        }
        if (row.steps == 0) {
            failure = "the run store " + store + " holds no rank times after its first snapshot; use more --steps";
            break;
        }
        rows.push_back(row);
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (!failure.empty()) {
        std::cerr << "error: " << failure << "\n";
        return 1;
    }
    const auto& t = loaded.value().training;
    const double tokensPerStep = static_cast<double>(t.batch) * loaded.value().model.input.tokensPerSample();
    if (a.flag("json")) {
        nlohmann::ordered_json j;
        j["bench"] = "dist";
        j["project"] = path;
        j["global_batch"] = t.batch;
        j["rows"] = nlohmann::ordered_json::array();
        for (const auto& r : rows)
            j["rows"].push_back({{"ranks", r.ranks}, {"parallel", r.expertParallel ? "expert" : "data"}, {"steps", r.steps}, {"step_seconds", r.stepSeconds},
                                 {"compute_seconds", r.computeSeconds}, {"grad_reduce_seconds", r.reduceSeconds}, {"exchange_seconds", r.exchangeSeconds},
                                 {"alltoall_seconds", r.alltoallSeconds}, {"communication_share", r.communication() / r.stepSeconds},
                                 {"tokens_per_second", tokensPerStep / r.stepSeconds}, {"speedup", rows.front().stepSeconds / r.stepSeconds}});
        moe::cli::printJson(j);
        return 0;
    }
    std::cout << path << ": data and expert parallel training on this machine (" << moe::train::dist::maxLocalRanks() << " logical cores), global batch "
              << t.batch << ", " << steps << " steps per run, the first left out; the slowest rank's mean step\n\n";
    moe::cli::Table tab({"ranks", "parallel", "step ms", "compute ms", "grad reduce ms", "exchange ms", "all-to-all ms", "communication", "tokens/s",
                         "speed-up"});
    for (const auto& r : rows)
        tab.add({std::to_string(r.ranks), r.ranks == 1 ? "-" : r.expertParallel ? "expert" : "data", fixed(1e3 * r.stepSeconds, 2),
                 fixed(1e3 * r.computeSeconds, 2), fixed(1e3 * r.reduceSeconds, 2), fixed(1e3 * r.exchangeSeconds, 2),
                 fixed(1e3 * r.alltoallSeconds, 2), fixed(100 * r.communication() / r.stepSeconds, 1) + "%",
                 humanCount(tokensPerStep / r.stepSeconds), fixed(rows.front().stepSeconds / r.stepSeconds, 2) + "x"});
    std::cout << tab.str()
              << "(grad reduce: waiting for the bucketed gradient all-reduce after the backward pass, the part it did not overlap;\n"
                 "exchange: the routers' gathers over every rank's tokens and the step's loss and telemetry sums;\n"
                 "all-to-all: expert parallel, the MoE blocks' dispatch and combine, forward and backward)\n";
    return 0;
}

MOE_CLI_COMMAND(moe::cli::CommandSpec{
    "bench dist", "data and expert parallel step time for 1, 2, ... local ranks and its share in communication", "PROJECT",
    "Runs 'moe train PROJECT --nproc N --steps S' for N = 1 .. --max-ranks on this machine (c10d over Gloo, loopback), data parallel\n"
    "and, when the project has MoE blocks, expert parallel (--ep N), reads each rank's measured time per step from the run store\n"
    "(compute, waiting for the gradient all-reduce, forward exchanges, the MoE all-to-alls) and prints\n"
    "the slowest rank's mean step, the share of communication, tokens/s and the speed-up over one rank. Each rank uses the\n"
    "machine's cores divided by the local ranks.",
    {{"steps", "N", "optimizer steps per run (default 40)"},
     {"max-ranks", "N", "largest number of local ranks (default 2)"},
     {"bucket-mb", "MB", "gradient all-reduce bucket size passed to moe train"},
     {"json", "", "print the rows as JSON"}},
    1, 1, run});

}  // namespace
