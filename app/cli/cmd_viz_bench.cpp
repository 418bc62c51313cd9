// `moe bench viz`: frame time of the 64-block x 256-expert routing heatmap while scrubbing through
// a run, rendered offscreen (lavapipe where there is no GPU). Target: at most 8 ms per frame.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cmath>
#include <iostream>
#include <random>

#include "cli_command.h"
#include "moe/telemetry/run_store.h"
#include "moe/viz/offscreen.h"
#include "moe/viz/panels.h"

namespace {

namespace viz = moe::viz;
namespace tl = moe::telemetry;

// Timing input only: 64 x 256 snapshots whose shares drift and sharpen over the run, so that
// every scrubbed frame draws different colours (no frame is cheaper than a real one).
std::vector<tl::SnapshotPtr> benchRun(int snapshots, int blocks, int experts) {
    std::mt19937 rng(3);
    std::uniform_real_distribution<double> u01(0.5, 1.5);
    std::vector<tl::SnapshotPtr> out;
    for (int t = 0; t < snapshots; ++t) {
        auto s = std::make_shared<tl::RoutingSnapshot>();
        s->step = 10 * (t + 1);
        const double progress = static_cast<double>(t) / std::max(1, snapshots - 1);
        for (int b = 0; b < blocks; ++b) {
            tl::BlockSnapshot bs;
            bs.block = b;
            bs.experts = bs.ffnExperts = experts;
            bs.tokens = 4096;
            const double sharp = (b % 4 == 0 ? 12.0 : 1.0) * progress / experts;
            for (int e = 0; e < experts; ++e) {
                const double w = std::exp(-sharp * e) * u01(rng);
                bs.tokensPerExpert.push_back(std::round(8192.0 * w / experts));
                bs.meanGateProb.push_back(w / experts);
            }
            bs.dropped = static_cast<std::int64_t>(progress * 300 * (b % 3));
            s->blocks.push_back(std::move(bs));
        }
        out.push_back(s);
    }
    return out;
}

std::pair<int, int> parseSize(const std::string& text) {
    int w = 0, h = 0;
    char x = 0, extra = 0;
    if (std::sscanf(text.c_str(), "%d%c%d%c", &w, &x, &h, &extra) != 3 || (x != 'x' && x != 'X') || w < 320 ||
        h < 240 || w > 8192 || h > 8192)
        throw moe::cli::UsageError("--size: '" + text + "' is not WIDTHxHEIGHT within 320x240..8192x8192 (e.g. 1280x800)");
    return {w, h};
}

int run(const moe::cli::ParsedArgs& a) {
    const int frames = a.intValue("frames", 300, 10, 100000);
    const auto [width, height] = parseSize(a.valueOr("size", "1280x800"));
    viz::RunView view;
    std::string source = "synthetic 64 x 256 routing, 100 snapshots (timing input)";
    if (!a.positional().empty()) {
        auto rd = tl::RunReader::open(a.positional()[0]);
        if (!rd) {
            std::cerr << "moe bench viz: " << rd.message() << "\n";
            return 1;
        }
        view = viz::RunView::fromReader(*rd.value());
        if (view.snapshots.empty()) throw moe::cli::UsageError(a.positional()[0] + ": the run has no snapshots to scrub");
        source = a.positional()[0];
    } else {
        view.snapshots = benchRun(100, 64, 256);
    }
    auto renderer = viz::OffscreenRenderer::create(width, height);
    if (!renderer) {
        std::cerr << "moe bench viz: cannot render offscreen: " << renderer.message() << "\n";
        return 3;
    }
    auto& r = *renderer.value();
    viz::PanelState state;
    const int n = static_cast<int>(view.snapshots.size());
    auto frame = [&](int i) {
        // Scrub back and forth through every snapshot, with the mouse over the plot (tooltip on).
        const int period = std::max(1, 2 * n - 2);
        const int k = i % period;
        state.snapshotIndex = n == 1 ? 0 : (k < n ? k : period - k);
        r.frame([&] { viz::drawSingleView(viz::View::Heatmap, view, state); });
    };
    // The renderer's fixed cost: clear and an empty full-window ImGui window, same size.
    std::vector<double> base;
    for (int i = 0; i < 60; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        r.frame([&] { viz::drawSingleView(viz::View::Heatmap, viz::RunView{}, state); });
        if (i >= 10) base.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(base.begin(), base.end());
    const double baseMedian = base[base.size() / 2];
    for (int i = 0; i < 10; ++i) frame(i);  // warm-up: pipelines, font atlas, caches
    std::vector<double> ms;
    ms.reserve(static_cast<size_t>(frames));
    // CPU time of the whole process (this thread and lavapipe's) per frame: the work a frame
    // takes, which, unlike wall time, does not grow when other programs share the cores.
    auto cpuNow = [] {
        timespec ts{};
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
    };
    const double cpu0 = cpuNow();
    for (int i = 0; i < frames; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        frame(i);
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    const double cpuPerFrame = (cpuNow() - cpu0) / frames;
    std::vector<double> sorted = ms;
    std::sort(sorted.begin(), sorted.end());
    double mean = 0;
    for (double x : ms) mean += x;
    mean /= static_cast<double>(ms.size());
    auto pct = [&](double p) { return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * static_cast<double>(sorted.size())))]; };
    const double target = 8.0;
    const int blocks = static_cast<int>(view.snapshots.back()->blocks.size());
    int experts = 0;
    for (const auto& b : view.snapshots.back()->blocks) experts = std::max(experts, b.experts);
    if (a.flag("json")) {
        nlohmann::ordered_json j;
        j["bench"] = "viz";
        j["view"] = "heatmap";
        j["data"] = source;
        j["blocks"] = blocks;
        j["experts"] = experts;
        j["snapshots"] = n;
        j["width"] = width;
        j["height"] = height;
        j["device"] = r.deviceName();
        j["frames"] = frames;
        j["mean_ms"] = mean;
        j["median_ms"] = pct(0.5);
        j["p95_ms"] = pct(0.95);
        j["max_ms"] = sorted.back();
        j["cpu_ms_per_frame"] = cpuPerFrame;
        j["empty_frame_median_ms"] = baseMedian;
        j["target_ms"] = target;
        j["meets_target"] = pct(0.5) <= target;
        moe::cli::printJson(j);
        return 0;
    }
    std::cout << "moe bench viz: routing heatmap " << blocks << " blocks x " << experts << " experts, scrubbing " << n
              << " snapshots, " << width << "x" << height << " offscreen on " << r.deviceName() << "\n"
              << "  data: " << source << "\n";
    moe::cli::Table t({"frames", "mean ms", "median ms", "p95 ms", "max ms", "target ms", "verdict"});
    t.add({std::to_string(frames), moe::cli::fixed(mean, 2), moe::cli::fixed(pct(0.5), 2), moe::cli::fixed(pct(0.95), 2),
           moe::cli::fixed(sorted.back(), 2), moe::cli::fixed(target, 1), pct(0.5) <= target ? "meets target" : "over target"});
    std::cout << t.str() << "  CPU time per frame, all threads (renderer's and lavapipe's): " << moe::cli::fixed(cpuPerFrame, 2)
              << " ms\n  empty frame (clear + one window, same size): median " << moe::cli::fixed(baseMedian, 2) << " ms\n";
    return 0;
}

MOE_CLI_COMMAND(moe::cli::CommandSpec{
    "bench viz", "frame time of the 64 x 256 routing heatmap while scrubbing (offscreen)", "[RUN.sqlite]",
    "Renders the routing heatmap offscreen frame after frame while the time scrubber moves through\n"
    "the run and the mouse hovers the plot, and reports the time per frame (build the ImGui frame,\n"
    "record, submit and wait for the device). Without RUN.sqlite it scrubs a generated 64-block x\n"
    "256-expert run made for timing. Target: median at most 8 ms on lavapipe.",
    {{"frames", "N", "frames to time (default 300)"},
     {"size", "WxH", "frame size in pixels (default 1280x800)"},
     {"json", "", "print JSON"}},
    0, 1, run});

}  // namespace
