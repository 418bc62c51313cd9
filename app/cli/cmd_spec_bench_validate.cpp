// `moe bench validate`: how long the project reader takes to refuse hostile files (many unknown
// keys, many wrong blocks, deep nesting, a huge string) and to accept a model at the layer limit,
// generated in memory.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>

#include "cli_command.h"
#include "moe/spec/project_io.h"

namespace {

using moe::cli::fixed;

// A small valid project whose model object gets `extra` inserted before its closing brace.
std::string projectWith(const std::string& modelExtra, const std::string& blocks) {
    return "{\n \"format\": \"moe-studio/1\",\n \"model\": {\n  \"name\": \"bench\",\n  \"input\": {\"dataset\": \"blobs\", \"classes\": 4},\n"
           "  \"stem\": {\"d_model\": 16},\n  \"blocks\": [" +
           blocks + "]" + modelExtra + "\n },\n \"training\": {\"batch\": 32, \"learning_rate\": 0.01, \"steps\": 10}\n}\n";
}

const std::string kBlock = "{\"kind\": \"moe\", \"experts\": 4, \"router\": {\"kind\": \"topk\", \"k\": 2}, \"ffn\": {\"hidden\": 16}}";
const std::string kBadBlock = "{\"kind\": \"moe\", \"experts\": 4, \"router\": {\"kind\": \"topk\", \"k\": 9}, \"ffn\": {\"hidden\": 16}}";

int run(const moe::cli::ParsedArgs& a) {
    const int keys = a.intValue("keys", 300000, 1, 3000000);
    struct Case {
        std::string name, text;
    };
    std::vector<Case> cases;
    {
        std::string extra;
        char buf[48];
        for (int i = 0; i < keys; ++i) {
            std::snprintf(buf, sizeof buf, ",\n  \"unkn%06d\": 1", i);
            extra += buf;
        }
        cases.push_back({std::to_string(keys) + " unknown keys under model", projectWith(extra, kBlock)});
    }
    for (int n : {4000, keys / 10}) {
        std::string blocks = kBlock;
        for (int i = 1; i < n; ++i) blocks += ",\n  " + kBadBlock;
        cases.push_back({std::to_string(n) + " blocks, k above the experts", projectWith("", blocks)});
    }
    // A sound model at the layer limit: what validation itself costs per layer (k from a schedule).
    cases.push_back({"4096 moe layers (a group), k from a schedule",
                     projectWith(",\n  \"schedule\": {\"k\": {\"kind\": \"descending\", \"min\": 1, \"max\": 4}}",
                                 "{\"kind\": \"group\", \"repeat\": 4096, \"blocks\": [{\"kind\": \"moe\", \"experts\": 8, \"router\": {\"kind\": \"topk\"}, \"ffn\": {\"hidden\": 16}}]}")});
    cases.push_back({"nesting 100,000 deep", projectWith(",\n  \"deep\": " + std::string(100000, '[') + std::string(100000, ']'), kBlock)});
    cases.push_back({"a 5 MB string", projectWith(",\n  \"name2\": \"" + std::string(5 << 20, 'x') + "\"", kBlock)});
    moe::cli::Table t({"input", "bytes", "seconds", "cpu s", "diagnostics", "last diagnostic"});
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (const auto& c : cases) {
        const auto t0 = std::chrono::steady_clock::now();
        const std::clock_t c0 = std::clock();
        auto r = moe::spec::parseProject(c.text, "bench.json");
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
        const size_t n = r.ok() ? 0 : r.errors().size();
        std::string last = r.ok() ? "accepted" : r.errors().back().message;
        if (last.size() > 70) last = last.substr(0, 67) + "...";
        t.add({c.name, std::to_string(c.text.size()), fixed(secs, 3), fixed(cpu, 3), std::to_string(n), last});
        rows.push_back({{"input", c.name}, {"bytes", c.text.size()}, {"seconds", secs}, {"cpu_seconds", cpu}, {"diagnostics", n}, {"last", last}});
    }
    if (a.flag("json")) {
        moe::cli::printJson({{"bench", "validate"}, {"rows", rows}});
        return 0;
    }
    std::cout << "moe bench validate: time to read and refuse hostile project files (generated in memory;\n"
                 "seconds: wall time of parse + validation, cpu s: its processor time)\n\n"
              << t.str();
    return 0;
}

MOE_CLI_COMMAND(moe::cli::CommandSpec{
    "bench validate", "time the project reader on hostile files (300,000 unknown keys, deep nesting, ...)", "",
    "Generates hostile projects in memory (N unknown keys under model, 4,000 and N/10 wrong blocks, 100,000 levels of\n"
    "nesting, a 5 MB string) and a sound one at the layer limit (4096 layers), reads and validates each, and prints\n"
    "the time and the diagnostics it gave.",
    {{"keys", "N", "unknown keys under model (default 300000, about 5.5 MB)"}, {"json", "", "print the rows as JSON"}},
    0, 0, run});

}  // namespace
