#pragma once
// What ties a checkpoint to its model: the model section of the project, as JSON, stored under one
// key. The trainer writes and checks it; `moe generate` checks it before loading the weights.

#include <string>

#include "moe/spec/project_io.h"

namespace moe::train::detail {

inline constexpr const char* kCheckpointSpecKey = "trainer_model_spec";

inline std::string checkpointModelJson(const moe::spec::Project& p) { return moe::spec::toJson(p)["model"].dump(); }

}  // namespace moe::train::detail
