#pragma once
// A project's model plus a training layout written for other trainers: Megatron-LM / Megatron-Core
// command-line flags (pretrain_gpt.py) and a DeepSpeed config JSON. The flag and key names are the
// ones those projects define (lists with their sources in core/cluster/export_names/). What a
// target cannot express (a model feature, a layout part that lives in code) is said in `notes`;
// a model it cannot represent at all is an error naming the field.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/cluster/layout.h"
#include "moe/spec/project.h"

namespace moe::cluster {

struct MegatronExport {
    std::vector<std::string> args;   // "--num-layers", "61", "--swiglu", ...: flags, each followed by its value when it takes one
    std::vector<std::string> notes;
    std::string commandLine() const; // args joined with " \\\n  " after "pretrain_gpt.py"
};

struct DeepSpeedExport {
    nlohmann::ordered_json config;
    std::vector<std::string> notes;  // what goes into the model code instead (MoE layer, pipeline, TP)
};

spec::Result<MegatronExport> exportMegatron(const ModelShape& s, const spec::TrainingSettings& t, const Layout& l);
spec::Result<DeepSpeedExport> exportDeepSpeed(const ModelShape& s, const spec::TrainingSettings& t, const Layout& l);

// Every dotted key path of a JSON object ("zero_optimization.stage"), objects included.
std::vector<std::string> keyPaths(const nlohmann::ordered_json& j);

}  // namespace moe::cluster
