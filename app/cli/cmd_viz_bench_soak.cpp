// `moe bench soak`: the studio's work for a long time, to find leaks and stalls. A trainer runs a
// project again and again (each run a fresh Trainer and run store, as pressing Train again does);
// the main thread plays the studio's UI thread: every frame it takes the trainer's new snapshots
// and renders a dashboard offscreen (heatmap, load, collapse and cluster views in turn), and every
// few seconds it starts a cluster simulation of the newest routing on a worker thread and picks up
// the result. Reported: the process's memory at the end of each run against the end of the first
// (growth within a run is the run's own data), and how long the frame loop was ever held up.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <mutex>
#include <thread>

#include "cli_command.h"
#include "moe/viz/cluster_sim.h"
#include "moe/viz/offscreen.h"
#include "moe/viz/panels.h"

#ifdef MOE_CLI_HAS_TRAIN
#include "moe/train/trainer.h"

namespace {

namespace viz = moe::viz;
namespace tl = moe::telemetry;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double residentBytes() {
    std::ifstream in("/proc/self/statm");
    double pages = 0, resident = 0;
    in >> pages >> resident;
    return resident * static_cast<double>(sysconf(_SC_PAGESIZE));
}

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// The machine's 1-minute load average: how many threads wanted the cores. A frame held up while
// it is far above the core count was most likely waiting for a core, not for its own work.
double loadAverage() {
    std::ifstream in("/proc/loadavg");
    double one = 0;
    in >> one;
    return one;
}

int run(const moe::cli::ParsedArgs& a) {
    const double minutes = a.doubleValue("minutes", 10, 0.05, 24 * 60);
    const std::string path = a.positional()[0];
    auto loaded = moe::cli::loadProjectFile(path);
    if (!loaded) return 1;
    moe::spec::Project project = *loaded;
    if (a.value("steps")) {
        project.training.steps = a.intValue("steps", 0, 1, 100000000);
        project.training.epochs.reset();
    }
    auto renderer = viz::OffscreenRenderer::create(1280, 800);
    if (!renderer) {
        std::cerr << "moe bench soak: cannot render offscreen: " << renderer.message() << "\n";
        return 3;
    }
    auto& r = *renderer.value();
    const fs::path dir = fs::temp_directory_path() / ("moe-soak-" + std::to_string(getpid()));
    fs::create_directories(dir);

    const auto t0 = Clock::now();
    const auto end = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(minutes * 60));
    const viz::View views[] = {viz::View::Heatmap, viz::View::Load, viz::View::Collapse, viz::View::Cluster};
    std::vector<double> frameMs, runEndRss;
    std::int64_t steps = 0, snapshotsSeen = 0;
    int runs = 0, simulations = 0, simFailures = 0, longFrames = 0;
    double worstFrame = 0, worstAt = 0, worstLoad = 0, peakRss = residentBytes();
    double loadSum = 0, loadMax = 0;
    int loadSamples = 0;
    auto lastLoad = Clock::now() - std::chrono::seconds(2);
    std::string firstFailure;
    viz::PanelState state;
    const double rss0 = residentBytes();
    auto lastSim = Clock::now();

    while (Clock::now() < end) {
        std::mutex mutex;
        std::vector<tl::SnapshotPtr> inbox;
        const std::string store = (dir / ("run" + std::to_string(runs) + ".sqlite")).string();
        moe::train::TrainerOptions opt;
        opt.runStorePath = store;
        opt.background = true;  // as the studio trains: the frame loop keeps the priority
        opt.projectDir = fs::path(path).parent_path().string();
        auto created = moe::train::Trainer::create(project, opt);
        if (!created) {
            std::cerr << "moe bench soak: " << created.message() << "\n";
            fs::remove_all(dir);
            return 1;
        }
        auto trainer = std::move(created.value());
        trainer->setSnapshotCallback([&](tl::SnapshotPtr s) {
            std::lock_guard<std::mutex> lock(mutex);
            inbox.push_back(std::move(s));
        });
        viz::RunView view;
        view.project = project;
        view.live = true;
        std::future<moe::spec::Result<viz::ClusterSimulation>> sim;
        trainer->start();
        for (int frame = 0;; ++frame) {
            const auto f0 = Clock::now();
            {
                std::lock_guard<std::mutex> lock(mutex);
                for (auto& s : inbox) view.snapshots.push_back(std::move(s));
                snapshotsSeen += static_cast<std::int64_t>(inbox.size());
                inbox.clear();
            }
            if (sim.valid() && sim.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
                auto res = sim.get();
                ++simulations;
                if (res) view.cluster = res->result;
                else if (++simFailures == 1) firstFailure = res.message();
            }
            if (!sim.valid() && !view.snapshots.empty() && f0 - lastSim > std::chrono::seconds(5)) {
                lastSim = f0;
                sim = std::async(std::launch::async, [v = view] { return viz::simulateCluster(v); });
            }
            state.snapshotIndex = static_cast<int>(view.snapshots.size()) - 1;
            r.frame([&] { viz::drawSingleView(views[(frame / 30) % 4], view, state); });
            const double took = ms(Clock::now() - f0);
            frameMs.push_back(took);
            if (took > 100) ++longFrames;
            if (Clock::now() - lastLoad > std::chrono::seconds(1)) {
                lastLoad = Clock::now();
                const double l = loadAverage();
                loadSum += l;
                loadMax = std::max(loadMax, l);
                ++loadSamples;
            }
            if (took > worstFrame) {
                worstFrame = took;
                worstAt = ms(f0 - t0) / 1000;
                worstLoad = loadAverage();
            }
            const auto p = trainer->progress();
            const bool over = p.state == moe::train::TrainerState::Finished || p.state == moe::train::TrainerState::Failed ||
                              p.state == moe::train::TrainerState::Stopped;
            if (p.state == moe::train::TrainerState::Failed) {
                std::cerr << "moe bench soak: training failed: " << p.message << "\n";
                fs::remove_all(dir);
                return 1;
            }
            if (over || Clock::now() >= end) {
                steps += p.step;
                break;
            }
            // About 60 frames a second, as a dashboard redraws while a run is live.
            const auto next = f0 + std::chrono::milliseconds(16);
            if (Clock::now() < next) std::this_thread::sleep_until(next);
        }
        trainer->stop();
        if (sim.valid()) {
            auto res = sim.get();
            ++simulations;
            if (!res && ++simFailures == 1) firstFailure = res.message();
        }
        trainer.reset();
        view = {};
        fs::remove(store);
        fs::remove(store + "-wal");
        fs::remove(store + "-shm");
        ++runs;
        const double rss = residentBytes();
        peakRss = std::max(peakRss, rss);
        runEndRss.push_back(rss);
    }
    fs::remove_all(dir);

    std::vector<double> sorted = frameMs;
    std::sort(sorted.begin(), sorted.end());
    auto pct = [&](double q) { return sorted.empty() ? 0.0 : sorted[std::min(sorted.size() - 1, static_cast<size_t>(q * static_cast<double>(sorted.size())))]; };
    // Growth: the median resident size at the end of the runs of the first quarter against those of
    // the last quarter. Single runs wander (the allocator keeps freed memory in per-thread pools),
    // a leak does not stop growing.
    auto quarterMedian = [&](bool last) {
        if (runEndRss.empty()) return rss0;
        const size_t n = std::max<size_t>(1, runEndRss.size() / 4);
        std::vector<double> q(last ? runEndRss.end() - static_cast<std::ptrdiff_t>(n) : runEndRss.begin(),
                              last ? runEndRss.end() : runEndRss.begin() + static_cast<std::ptrdiff_t>(n));
        std::sort(q.begin(), q.end());
        return q[q.size() / 2];
    };
    const double first = quarterMedian(false), last = quarterMedian(true);
    const double growth = first > 0 ? (last - first) / first : 0;
    const double elapsed = ms(Clock::now() - t0) / 1000;
    if (a.flag("json")) {
        nlohmann::ordered_json j;
        j["bench"] = "soak";
        j["project"] = path;
        j["seconds"] = elapsed;
        j["runs"] = runs;
        j["steps"] = steps;
        j["snapshots"] = snapshotsSeen;
        j["frames"] = frameMs.size();
        j["simulations"] = simulations;
        j["simulation_failures"] = simFailures;
        j["rss_start_bytes"] = rss0;
        j["rss_first_quarter_median_bytes"] = first;
        j["rss_last_quarter_median_bytes"] = last;
        j["rss_peak_bytes"] = peakRss;
        j["rss_growth"] = growth;
        j["rss_after_each_run_bytes"] = runEndRss;
        j["frame_median_ms"] = pct(0.5);
        j["frame_p99_ms"] = pct(0.99);
        j["frame_max_ms"] = worstFrame;
        j["frame_max_at_s"] = worstAt;
        j["frames_over_100ms"] = longFrames;
        j["cores"] = std::thread::hardware_concurrency();
        j["load_average_mean"] = loadSamples ? loadSum / loadSamples : 0;
        j["load_average_max"] = loadMax;
        j["load_average_at_longest_frame"] = worstLoad;
        moe::cli::printJson(j);
        return 0;
    }
    std::cout << "moe bench soak: " << path << " for " << moe::cli::fixed(elapsed / 60, 1) << " min on " << r.deviceName() << "\n"
              << "  " << runs << " runs, " << steps << " steps, " << snapshotsSeen << " snapshots, " << frameMs.size() << " frames, "
              << simulations << " cluster simulations" << (simFailures ? " (" + std::to_string(simFailures) + " failed: " + firstFailure + ")" : "")
              << "\n";
    moe::cli::Table t({"memory", "resident"});
    t.add({"at start", moe::cli::humanBytes(rss0)});
    t.add({"at the end of a run, first quarter (median)", moe::cli::humanBytes(first)});
    t.add({"at the end of a run, last quarter (median)", moe::cli::humanBytes(last)});
    t.add({"at the end of a run, highest", moe::cli::humanBytes(peakRss)});
    std::cout << t.str() << "  growth from the first quarter of the runs to the last: " << moe::cli::fixed(100 * growth, 2)
              << "% over " << runs << " runs (target under 5%)\n";
    moe::cli::Table f({"frames", "median ms", "p99 ms", "max ms", "max at", "over 100 ms"});
    f.add({std::to_string(frameMs.size()), moe::cli::fixed(pct(0.5), 2), moe::cli::fixed(pct(0.99), 2), moe::cli::fixed(worstFrame, 1),
           moe::cli::fixed(worstAt, 0) + " s", std::to_string(longFrames)});
    std::cout << f.str() << "  a frame: take the new snapshots, pick up a finished simulation, render one dashboard (target: none over 100 ms)\n"
              << "  load average (1 min) on " << std::thread::hardware_concurrency() << " cores: mean " << moe::cli::fixed(loadSamples ? loadSum / loadSamples : 0, 1)
              << ", max " << moe::cli::fixed(loadMax, 1) << ", " << moe::cli::fixed(worstLoad, 1) << " at the longest frame\n";
    return 0;
}

MOE_CLI_COMMAND(moe::cli::CommandSpec{
    "bench soak", "train, render dashboards and simulate in a loop; memory growth and the longest frame", "PROJECT",
    "Does the studio's work for a long time: trains PROJECT (e.g. projects/classroom_spirals.json)\n"
    "again and again, each run a fresh trainer and run store; meanwhile a frame loop at about 60\n"
    "frames a second takes the new snapshots and renders a dashboard offscreen (heatmap, load,\n"
    "collapse, cluster in turn), and every 5 s simulates the newest routing on the cluster on a worker\n"
    "thread. Reports the resident memory at the end of each run (growth: the median of the last\n"
    "quarter of the runs against the first quarter; target under 5%) and the frame times (the\n"
    "longest is the worst stall of the UI-thread work; target: none over 100 ms). Temporary run\n"
    "stores are removed.",
    {{"minutes", "N", "how long to run (default 10)"},
     {"steps", "N", "steps per run (default: the project's)"},
     {"json", "", "print JSON"}},
    1, 1, run});

}  // namespace
#endif
