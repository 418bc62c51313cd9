#pragma once
// The trainable twin: a project's model is the network at its real size (what the cluster
// simulator and the planner price); what trains on this machine is a smaller copy of it with the
// same block pattern, routers, experts and k, at the width and depth `training.twin` sets.

#include <string>

#include "moe/spec/diagnostic.h"
#include "moe/spec/project.h"

namespace moe::spec {

// The twin of `m` under `t`. Widths (FFN and expert hidden sizes, attention heads, MLA ranks)
// scale with twin d_model / model d_model; every group keeps at most `t.layers` repeats, and its
// first-k-dense repeats shrink in proportion (at least one when the model has any).
ModelSpec twinOf(const ModelSpec& m, const TwinSpec& t);

// The model that trains: the twin when the project sets one, else the model itself.
ModelSpec trainedModel(const Project& p);

// The project as it trains: its model replaced by the twin (and the twin setting dropped), so
// the run store, checkpoints and `moe generate` all see exactly the network that was trained.
Project trainingProject(const Project& p);

// One line for the Run panel and `moe train`: "trainable twin: d_model 64, 4 layers, ...".
std::string describeTwin(const Project& p);

}  // namespace moe::spec
