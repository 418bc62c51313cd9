// Project files: the reader and validator, then what `moe describe` and `moe train` compute from
// a project that validates (figures, the trainable twin, the memory estimate), its scenario's
// edits, and a save/reopen round trip (a saved project must open again, unchanged).
#include <string>

#include "harness.h"
#include "moe/spec/derived.h"
#include "moe/spec/project_io.h"
#include "moe/spec/train_memory.h"
#include "moe/spec/twin.h"

namespace moe::fuzz {

std::string project(std::string_view input) {
    auto parsed = spec::parseProject(std::string(input), "fuzz.json");
    if (!parsed.ok()) return parsed.message();
    const spec::Project& p = parsed.value();

    const auto figures = spec::computeFigures(p.model);
    const auto memory = spec::estimateTrainingMemory(p);
    const auto trained = spec::trainedModel(p);
    (void)spec::describeTwin(p);
    if (p.scenario)
        for (const auto& step : p.scenario->steps) (void)spec::applyEdits(p, step.edits);

    const std::string saved = spec::serializeProject(p);
    auto reopened = spec::parseProject(saved, "saved.json");
    if (!reopened.ok())
        throw HarnessFailure("a project that validates cannot be opened once saved: " + reopened.errors().front().format());
    if (spec::serializeProject(reopened.value()) != saved)
        throw HarnessFailure("a saved project changes when it is opened and saved again");
    return "ok: " + std::to_string(trained.blocks.size()) + " blocks, " + spec::humanCount(static_cast<double>(figures.params)) +
           " parameters, " + spec::humanCount(memory.total()) + " bytes to train";
}

}  // namespace moe::fuzz
