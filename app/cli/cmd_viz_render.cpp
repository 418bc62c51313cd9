// `moe render`: draws one dashboard view of a run store to a PNG, offscreen (no display needed).
#include <cstdio>
#include <iostream>

#include "cli_command.h"
#include "moe/telemetry/run_store.h"
#include "moe/viz/offscreen.h"
#include "moe/viz/panels.h"
#ifdef MOE_VIZ_HAS_CLUSTER
#include "moe/viz/cluster_sim.h"
#endif

namespace {

namespace viz = moe::viz;
using moe::cli::UsageError;

std::string viewList() {
    std::string s;
    for (viz::View v : viz::kAllViews) s += (s.empty() ? "" : "|") + std::string(viz::toString(v));
    return s;
}

std::pair<int, int> parseSize(const std::string& text) {
    int w = 0, h = 0;
    char x = 0, extra = 0;
    if (std::sscanf(text.c_str(), "%d%c%d%c", &w, &x, &h, &extra) != 3 || (x != 'x' && x != 'X'))
        throw UsageError("--size: '" + text + "' is not WIDTHxHEIGHT (e.g. 1280x800)");
    if (w < 320 || h < 240 || w > 8192 || h > 8192)
        throw UsageError("--size: " + text + " is out of range; width 320..8192 and height 240..8192 pixels");
    return {w, h};
}

int run(const moe::cli::ParsedArgs& a) {
    const std::string path = a.positional()[0];
    const auto viewName = a.value("view");
    if (!viewName) throw UsageError("--view is required: one of " + viewList());
    const auto view = viz::parseView(*viewName);
    if (!view) throw UsageError("--view: unknown view '" + *viewName + "'; choose one of " + viewList());
    const auto out = a.value("out");
    if (!out) throw UsageError("--out FILE.png is required");
    const auto [width, height] = parseSize(a.valueOr("size", "1280x800"));
    viz::PanelState state;
    state.showControls = a.flag("controls");
    if (auto m = a.value("metric")) {
        if (*m == "share") state.metric = viz::HeatMetric::TokenShare;
        else if (*m == "gate") state.metric = viz::HeatMetric::MeanGateProb;
        else if (*m == "drops") state.metric = viz::HeatMetric::DropRate;
        else if (*m == "ratio") state.metric = viz::HeatMetric::LoadRatio;
        else throw UsageError("--metric: unknown metric '" + *m + "'; choose share, gate, drops or ratio");
    }
    if (auto sc = a.value("scale")) {
        if (*sc == "linear") state.scale = viz::Scale::Linear;
        else if (*sc == "log") state.scale = viz::Scale::Log;
        else throw UsageError("--scale: unknown scale '" + *sc + "'; choose linear or log");
    }
    if (!viz::viewAvailable(*view))
        throw UsageError("--view " + *viewName + ": this build has no cluster simulator (core/cluster), so it cannot draw that view");

    auto reader = moe::telemetry::RunReader::open(path);
    if (!reader) {
        std::cerr << "moe render: " << reader.message() << "\n";
        return 1;
    }
    viz::RunView runView = viz::RunView::fromReader(*reader.value());
    if (auto step = a.value("step")) {
        long long s = 0;
        try {
            size_t used = 0;
            s = std::stoll(*step, &used);
            if (used != step->size()) throw std::invalid_argument(*step);
        } catch (...) {
            throw UsageError("--step: '" + *step + "' is not a whole number");
        }
        const int idx = runView.indexAtStep(s);
        if (idx < 0) {
            if (runView.snapshots.empty()) throw UsageError("--step: the run has no snapshots yet");
            throw UsageError("--step " + *step + ": the run's first snapshot is at step " +
                             std::to_string(runView.snapshots.front()->step) + " (last " +
                             std::to_string(runView.snapshots.back()->step) + ")");
        }
        state.snapshotIndex = idx;
    }
    if (auto b = a.value("block")) {
        const int want = a.intValue("block", 0, 0, 1 << 20);
        bool found = false;
        if (!runView.snapshots.empty())
            for (size_t i = 0; i < runView.snapshots.front()->blocks.size(); ++i)
                if (runView.snapshots.front()->blocks[i].block == want) {
                    state.block = static_cast<int>(i);
                    found = true;
                }
        if (!found) throw UsageError("--block " + *b + ": the run has no MoE block with that index");
    }

#ifdef MOE_VIZ_HAS_CLUSTER
    if (*view == viz::View::Cluster) {
        // The simulator prices the project's deployment with the routing of the chosen snapshot.
        auto sim = viz::simulateCluster(runView, state.snapshotIndex);
        if (!sim) {
            std::cerr << "moe render: cannot simulate the cluster for this run: " << sim.message() << "\n";
            return 1;
        }
        runView.cluster = sim->result;
        runView.clusterNote = sim->note;
    }
#endif
    auto renderer = viz::OffscreenRenderer::create(width, height);
    if (!renderer) {
        std::cerr << "moe render: cannot render offscreen: " << renderer.message() << "\n";
        return 3;
    }
    // A few frames so that auto-sized widgets and tables settle before the picture is taken.
    for (int i = 0; i < 3; ++i) renderer.value()->frame([&] { viz::drawSingleView(*view, runView, state); });
    const viz::Image img = renderer.value()->readPixels();
    if (auto e = viz::savePng(img, *out); !e.empty()) {
        std::cerr << "moe render: " << e << "\n";
        return 1;
    }
    const auto* snap = runView.snapshots.empty() ? nullptr
                                                 : runView.snapshots[static_cast<size_t>(state.snapshotIndex < 0
                                                                         ? runView.snapshots.size() - 1
                                                                         : static_cast<size_t>(state.snapshotIndex))].get();
    std::cout << "wrote " << *out << " (" << width << "x" << height << ", " << *viewName;
    if (snap) std::cout << ", step " << snap->step;
    std::cout << ") on " << renderer.value()->deviceName() << "\n";
    return 0;
}

MOE_CLI_COMMAND(moe::cli::CommandSpec{
    "render", "draw a dashboard view of a run store to a PNG (offscreen, no display)", "RUN.sqlite",
    "Draws one view with the same code as the studio's dashboards, on an offscreen Vulkan device\n"
    "(lavapipe when there is no GPU), and writes a PNG. Views: heatmap, load, collapse,\n"
    "specialisation, routing-map, schedule, cluster (the project's deployment priced by the\n"
    "cluster simulator with the snapshot's routing; needs a build with core/cluster).\n"
    "Exit status: 0 written, 1 unreadable run or failed simulation/write, 2 wrong arguments,\n"
    "3 no Vulkan device.",
    {{"view", "VIEW", "heatmap|load|collapse|specialisation|routing-map|schedule|cluster (required)"},
     {"out", "FILE", "the PNG to write (required)"},
     {"step", "N", "the snapshot at step N, or the last one before it (default: the newest)"},
     {"size", "WxH", "image size in pixels (default 1280x800)"},
     {"block", "B", "the MoE block (index in the model) for per-block views"},
     {"metric", "M", "heatmap colour: share, gate, drops or ratio (load ÷ even share, diverging around 1; default share)"},
     {"scale", "S", "heatmap scale: linear or log (default linear)"},
     {"controls", "", "also draw the interactive controls (scrubber, selectors)"}},
    1, 1, run});

}  // namespace
