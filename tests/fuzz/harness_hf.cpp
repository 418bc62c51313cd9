// Hugging Face config.json files: the importer (which itself checks that the project it makes
// validates and reads back), then the export back to a config.json a user may ask for next.
#include <string>

#include "harness.h"
#include "moe/spec/hf.h"

namespace moe::fuzz {

std::string hf(std::string_view input) {
    auto imported = spec::importHfConfig(std::string(input), "config.json");
    if (!imported.ok()) return imported.message();
    auto exported = spec::exportHfConfig(imported.value().project, imported.value().modelType);
    return "ok: " + imported.value().modelType + (exported.ok() ? ", exported back" : ", export: " + exported.message());
}

}  // namespace moe::fuzz
