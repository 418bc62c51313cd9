// Hugging Face config.json files: the importer, then what a user does next with the project it
// makes (save it and open it again, export it back to a config.json).
#include <string>

#include "harness.h"
#include "moe/spec/hf.h"
#include "moe/spec/project_io.h"

namespace moe::fuzz {

std::string hf(std::string_view input) {
    auto imported = spec::importHfConfig(std::string(input), "config.json");
    if (!imported.ok()) return imported.message();
    const spec::Project& p = imported.value().project;

    const std::string saved = spec::serializeProject(p);
    auto reopened = spec::parseProject(saved, "imported.json");
    if (!reopened.ok())
        throw HarnessFailure("an imported config gives a project that does not open: " + reopened.errors().front().format());
    auto exported = spec::exportHfConfig(p, imported.value().modelType);
    return "ok: " + imported.value().modelType + (exported.ok() ? ", exported back" : ", export: " + exported.errors().front().message);
}

}  // namespace moe::fuzz
