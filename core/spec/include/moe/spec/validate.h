#pragma once
// Semantic validation of a model spec and a project. Paths in the diagnostics use the project
// file's layout ("model.blocks[3].router.k"), so the loader can attach line:column to them and
// the studio can point at the field.

#include "moe/spec/diagnostic.h"
#include "moe/spec/project.h"

namespace moe::spec {

Diagnostics validateModel(const ModelSpec& m, const std::string& prefix = "model");
Diagnostics validateTraining(const TrainingSettings& t, const std::string& prefix = "training");
// Everything, the limits included.
Diagnostics validateProject(const Project& p);
// Only the values a project file cannot hold (out of their range in moe/spec/limits.h, unknown
// names, too many layers): what the reader refuses field by field. The studio refuses an edit
// that makes one; the other problems validateProject finds lie across fields (k above the
// experts) and are applied and listed, to be fixed in any order.
Diagnostics validateLimits(const Project& p);

}  // namespace moe::spec
