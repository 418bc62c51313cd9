#pragma once
// Semantic validation of a model spec and a project. Paths in the diagnostics use the project
// file's layout ("model.blocks[3].router.k"), so the loader can attach line:column to them and
// the studio can point at the field.

#include "moe/spec/diagnostic.h"
#include "moe/spec/project.h"

namespace moe::spec {

Diagnostics validateModel(const ModelSpec& m, const std::string& prefix = "model");
Diagnostics validateTraining(const TrainingSettings& t, const std::string& prefix = "training");
Diagnostics validateProject(const Project& p);

}  // namespace moe::spec
