#pragma once
// The dashboards' panels. Each panel is a function of data: it reads a const RunView (the
// snapshots of a run, live or replayed, plus the project) and a PanelState (what the user chose:
// step, block, metric, zoom), draws into the current Dear ImGui window, and returns Intents for
// the host (studio) to act on. Panels never change what they show; the same code draws on screen
// (QVulkanWindow) and offscreen (PNG).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "moe/spec/project.h"
#include "moe/telemetry/snapshot.h"

namespace moe::telemetry {
class RunReader;
}
namespace moe::cluster {
struct StepResult;
}

namespace moe::viz {

// [SECTION] data ------------------------------------------------------------------------------

// What every panel reads: the snapshots of one run in step order, and its project.
struct RunView {
    std::vector<telemetry::SnapshotPtr> snapshots;  // step order; may be empty
    std::optional<spec::Project> project;           // parsed from the run's project JSON
    std::string projectError;                       // why there is no project, when there is none
    std::string runId;
    std::string status;                             // running, finished, stopped, failed
    bool live = false;                              // the run is still being written
    // The cluster view's data: the simulator's step for the project's deployment, computed by
    // the host off the UI thread (simulateCluster in cluster_sim.h); empty until then.
    std::shared_ptr<const cluster::StepResult> cluster;
    std::string clusterNote;                        // how it was simulated, or why it was not
    std::string label;                              // how the host names the run (its name, else its id)
    // A run to show beside this one (debugging collapse: before and after a fix). The views
    // draw the two side by side, the compared run on the left; null: this run alone.
    std::shared_ptr<const RunView> compared;

    // Fills a view from a run store reader (parsing its project JSON).
    static RunView fromReader(const telemetry::RunReader& reader);
    // Index of the snapshot at `step` or the last one before it; -1 when there is none.
    int indexAtStep(std::int64_t step) const;
};

// [SECTION] state and intents -----------------------------------------------------------------

enum class View { Heatmap, Load, Collapse, Specialisation, RoutingMap, Tokens, Schedule, Cluster };
inline constexpr View kAllViews[] = {View::Heatmap, View::Load,   View::Collapse, View::Specialisation,
                                     View::RoutingMap, View::Tokens, View::Schedule, View::Cluster};
std::string_view toString(View v);       // "heatmap", "load", ..., "routing-map", ...
std::string_view displayName(View v);    // "Routing heatmap", ...
std::string_view tabName(View v);        // "Heatmap", ...: one word, for tabs in a narrow dock
std::optional<View> parseView(std::string_view name);
// False when this build has no data model for the view (the cluster view without core/cluster).
bool viewAvailable(View v);

// LoadRatio: share x experts (1 = an even share) on a fixed diverging log scale 1/8 .. 8, so a
// balanced block reads the same whatever its expert count.
enum class HeatMetric { TokenShare, MeanGateProb, DropRate, LoadRatio };
enum class Scale { Linear, Log };

// What the user chose. Defaults give a sensible first picture; every field survives across frames.
struct PanelState {
    int snapshotIndex = -1;        // -1: follow the newest snapshot (live)
    int block = 0;                 // position in RoutingSnapshot::blocks of the selected MoE block
    HeatMetric metric = HeatMetric::TokenShare;
    Scale scale = Scale::Linear;
    // Heatmap zoom: the visible expert columns [expertBegin, expertEnd) and block rows; an empty
    // range (end <= begin) means "all".
    int expertBegin = 0, expertEnd = 0;
    int rowBegin = 0, rowEnd = 0;
    bool showControls = true;      // scrubber and selectors (off for a clean offscreen picture)
    int shownTab = -1;             // drawTabbed: the view drawn last frame (to tell host from user changes)
    // Filled by the panels for the host and the tests: what the mouse is over.
    struct Hover {
        bool valid = false;
        int block = -1, expert = -1, row = -1;
        double value = 0;
    } hover;
    // Set by a panel when it has something animated or changed state (ask for another frame).
    bool wantsRedraw = false;
    // The compared run's own choices (its scrubber), when a RunView has one; index 0 only.
    std::vector<PanelState> comparedState;

    // Preprocessed figures the panels keep between frames (recomputed when the run grows).
    struct Cache {
        const void* run = nullptr;  // identity of the first snapshot
        std::size_t count = 0;      // snapshots seen
        int metric = -1;
        double maxValue = 0;        // heatmap: largest value of the metric over the whole run
    } cache;
};

// Sent to the host; the panels never reach into the trainer or the studio.
struct Intent {
    enum class Kind { SelectBlock, SelectStep, FollowLive, SelectExpert } kind = Kind::SelectBlock;
    std::int64_t value = 0;  // block index in ModelSpec::blocks, step, 0/1, or expert
};

// [SECTION] panels ----------------------------------------------------------------------------
// Each draws into the current ImGui window's remaining content region.

std::vector<Intent> drawHeatmap(const RunView& run, PanelState& state);
std::vector<Intent> drawLoad(const RunView& run, PanelState& state);
std::vector<Intent> drawCollapse(const RunView& run, PanelState& state);
std::vector<Intent> drawSpecialisation(const RunView& run, PanelState& state);
std::vector<Intent> drawRoutingMap(const RunView& run, PanelState& state);
// Sequence models: the run's probe (text characters, or image patches) coloured by each token's
// first-choice expert, one strip per MoE layer; hover names the k experts and their gates.
std::vector<Intent> drawTokens(const RunView& run, PanelState& state);
std::vector<Intent> drawSchedule(const RunView& run, PanelState& state);
std::vector<Intent> drawCluster(const RunView& run, PanelState& state);

// One view of `run`; with a compared run, the two side by side (compared on the left), each
// under a banner naming it.
std::vector<Intent> drawView(View v, const RunView& run, PanelState& state);

// The snapshot at which each collapse detector first tripped in `run`, in step order (one
// entry per kind and block).
struct FirstTrip {
    telemetry::AlertKind kind;
    int block = -1;
    int index = 0;            // in run.snapshots
    std::int64_t step = 0;
};
std::vector<FirstTrip> firstTrips(const RunView& run);

// A whole-window dashboard: one view filling the display (offscreen), or all views under tabs
// (on screen; `current` is the open tab and is updated when the user picks another).
std::vector<Intent> drawSingleView(View v, const RunView& run, PanelState& state);
std::vector<Intent> drawTabbed(View& current, const RunView& run, PanelState& state);

}  // namespace moe::viz
