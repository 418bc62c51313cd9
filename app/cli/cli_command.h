#pragma once
// The `moe` command's plumbing: a registry of subcommands (each in its own cmd_*.cpp), an
// argument parser that knows each subcommand's options, and table output with --json.

#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/spec/derived.h"
#include "moe/spec/project.h"

namespace moe::cli {

// Thrown for wrong arguments; main prints it with a hint to --help and exits 2.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct OptionSpec {
    std::string name;       // without the leading "--"
    std::string valueName;  // empty for a flag
    std::string help;
};

class ParsedArgs;

struct CommandSpec {
    std::string name;          // "validate", or "bench layer" for a bench
    std::string summary;       // one line for `moe --help`
    std::string positional;    // e.g. "FILE..." (usage line)
    std::string description;   // paragraph(s) for `moe NAME --help`
    std::vector<OptionSpec> options;
    int minPositional = 0;
    int maxPositional = 0;     // -1: any number
    std::function<int(const ParsedArgs&)> run;
};

bool registerCommand(CommandSpec spec);
const std::map<std::string, CommandSpec>& commands();
// The command the arguments name and how many of them name it: "bench layer ..." takes two words
// when such a command is registered, else one. Empty arguments name nothing ("", 0).
std::pair<std::string, size_t> commandName(const std::vector<std::string>& args);
std::string usageText(const CommandSpec& c);

class ParsedArgs {
public:
    ParsedArgs(const CommandSpec& spec, const std::vector<std::string>& args);  // throws UsageError

    const std::vector<std::string>& positional() const { return m_positional; }
    bool flag(const std::string& name) const { return m_values.count(name) > 0; }
    std::optional<std::string> value(const std::string& name) const;
    std::string valueOr(const std::string& name, const std::string& def) const;
    // Numeric options: a clear UsageError naming the option and the valid range.
    int intValue(const std::string& name, int def, int lo, int hi) const;
    double doubleValue(const std::string& name, double def, double lo, double hi) const;
    const CommandSpec& spec() const { return m_spec; }

private:
    const CommandSpec& m_spec;
    std::vector<std::string> m_positional;
    std::map<std::string, std::string> m_values;
};

// A plain text table; numbers right-aligned.
class Table {
public:
    explicit Table(std::vector<std::string> header) : m_header(std::move(header)) {}
    void add(std::vector<std::string> row) { m_rows.push_back(std::move(row)); }
    void separator() { m_rows.push_back({}); }
    std::string str() const;

private:
    std::vector<std::string> m_header;
    std::vector<std::vector<std::string>> m_rows;
};

// "a, b, c"
std::string joinList(const std::vector<std::string>& items);
using moe::spec::humanCount;
std::string fixed(double v, int decimals);
// Bytes with binary units: 1536 -> "1.50 KiB" (the spec module's, shared with the studio).
using moe::spec::humanBytes;
void printJson(const nlohmann::ordered_json& j);
// Errors of a costing or simulating command: those naming an option ("--gpus") are usage
// errors (thrown, exit 2); the rest are the project's, printed, and the exit status is 1.
int reportErrors(const moe::spec::Diagnostics& errs);
// Loads a project for a command: errors go to stderr (and nothing is returned); what loading
// changed in an older file is printed to stderr as notes.
std::optional<moe::spec::Project> loadProjectFile(const std::string& path);

}  // namespace moe::cli

#define MOE_CLI_CONCAT2(a, b) a##b
#define MOE_CLI_CONCAT(a, b) MOE_CLI_CONCAT2(a, b)
// Registers a subcommand at start-up: MOE_CLI_COMMAND(CommandSpec{...});
#define MOE_CLI_COMMAND(...) \
    static const bool MOE_CLI_CONCAT(moe_cli_registered_, __LINE__) = ::moe::cli::registerCommand(__VA_ARGS__)
