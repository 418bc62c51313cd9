#pragma once
// Reading and writing project files. Loading never crashes and never silently accepts nonsense:
// every error names the JSON path, line:column and what would be valid; unknown keys are errors
// with a did-you-mean. Saving is atomic.

#include <string>

#include <nlohmann/json.hpp>

#include "moe/spec/diagnostic.h"
#include "moe/spec/project.h"

namespace moe::spec {

// Parses and validates project text; `fileName` is used in messages.
Result<Project> parseProject(const std::string& text, const std::string& fileName = {});
Result<Project> loadProject(const std::string& path);

nlohmann::ordered_json toJson(const Project& p);
std::string serializeProject(const Project& p);  // pretty JSON, ends with a newline
// Returns an empty string on success, or the error.
std::string saveProject(const Project& p, const std::string& path);

// Applies scenario-style edits ({"model.blocks[*].losses.aux": 0.0, ...}) to a project by
// round-tripping through JSON, re-validating the result.
Result<Project> applyEdits(const Project& p, const nlohmann::ordered_json& edits);

}  // namespace moe::spec
