// The `moe` command line: one argument per line of the input. The command is looked up as main()
// does, its arguments parsed against its registered options (without running it), every value
// read as a whole number and as a number the way commands ask for them, and the option values
// that commands hand to the shared parsers (--sizes, --max-memory, --routing, --op, --algo) given
// to those parsers.
#include <cfloat>
#include <climits>
#include <string>
#include <vector>

#include "cli_command.h"
#include "harness.h"
#include "moe/cluster/collective.h"
#include "moe/cluster/routing.h"

namespace moe::fuzz {

std::string cli(std::string_view input) {
    std::vector<std::string> args;
    for (std::size_t from = 0; from <= input.size();) {
        std::size_t to = input.find('\n', from);
        if (to == std::string_view::npos) to = input.size();
        args.emplace_back(input.substr(from, to - from));
        from = to + 1;
    }
    const auto [name, consumed] = cli::commandName(args);
    const auto it = cli::commands().find(name);
    if (it == cli::commands().end()) return "unknown command '" + name + "'";
    const cli::CommandSpec& spec = it->second;
    try {
        cli::ParsedArgs parsed(spec, std::vector<std::string>(args.begin() + static_cast<long>(consumed), args.end()));
        (void)cli::usageText(spec);
        for (const auto& o : spec.options) {
            const auto v = parsed.value(o.name);
            if (o.valueName.empty() || !v) continue;
            try {
                (void)parsed.intValue(o.name, 0, INT_MIN, INT_MAX);
            } catch (const cli::UsageError&) {
            }
            try {
                (void)parsed.doubleValue(o.name, 0, -DBL_MAX, DBL_MAX);
            } catch (const cli::UsageError&) {
            }
            if (o.name == "sizes") (void)cluster::parseSizes(*v, "--sizes");
            if (o.name == "max-memory") (void)cluster::parseBytes(*v, "--max-memory");
            if (o.name == "routing") (void)cluster::parseRouting(*v, "--routing");
            cluster::CollectiveOp op{};
            cluster::Algorithm algo{};
            if (o.name == "op") (void)cluster::parseOp(*v, op);
            if (o.name == "algo") (void)cluster::parseAlgorithm(*v, algo);
        }
        return "ok: " + name + " with " + std::to_string(parsed.positional().size()) + " arguments";
    } catch (const cli::UsageError& e) {
        return "moe " + name + ": " + e.what();
    }
}

}  // namespace moe::fuzz
