#include <iostream>

#include "cli_command.h"
#include "moe/spec/project_io.h"

namespace {

int run(const moe::cli::ParsedArgs& a) {
    int bad = 0;
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& file : a.positional()) {
        auto r = moe::spec::loadProject(file);
        if (a.flag("json")) {
            nlohmann::ordered_json e;
            e["file"] = file;
            e["valid"] = r.ok();
            e["errors"] = nlohmann::ordered_json::array();
            for (const auto& d : r.errors())
                e["errors"].push_back({{"path", d.path}, {"line", d.line}, {"column", d.column}, {"message", d.message}});
            e["notes"] = nlohmann::ordered_json::array();
            if (r.ok())
                for (const auto& d : r->migrations)
                    e["notes"].push_back({{"path", d.path}, {"line", d.line}, {"column", d.column}, {"message", d.message}});
            out.push_back(e);
        } else if (r.ok()) {
            std::cout << file << ": ok\n";
            for (const auto& d : r->migrations) std::cout << "note: " << d.format() << "\n";
        } else {
            for (const auto& d : r.errors()) std::cout << d.format() << "\n";
        }
        bad += r.ok() ? 0 : 1;
    }
    if (a.flag("json")) moe::cli::printJson(out);
    else if (a.positional().size() > 1)
        std::cout << (a.positional().size() - static_cast<size_t>(bad)) << " valid, " << bad << " invalid\n";
    return bad == 0 ? 0 : 1;
}

MOE_CLI_COMMAND(moe::cli::CommandSpec{
    "validate", "check project files; exit 0 when all are valid, 1 otherwise", "FILE...",
    "Every error names the file, line:column, the JSON path and what would be valid.",
    {{"json", "", "print the results as JSON"}}, 1, -1, run});

}  // namespace
