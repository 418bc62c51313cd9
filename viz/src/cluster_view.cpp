// Cluster view: the simulated cluster's GPUs, nodes and links, and a per-rank timeline of one step.
#include <imgui.h>

#include "draw_util.h"

namespace moe::viz {

using namespace detail;

bool viewAvailable(View v) {
#ifdef MOE_VIZ_HAS_CLUSTER
    (void)v;
    return true;
#else
    return v != View::Cluster;
#endif
}

#ifndef MOE_VIZ_HAS_CLUSTER
std::vector<Intent> drawCluster(const RunView&, PanelState&) {
    header("Cluster", "");
    emptyMessage("This build has no cluster simulator (core/cluster), so there is nothing to show here.");
    return {};
}
#endif

}  // namespace moe::viz
