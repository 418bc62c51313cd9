// `moe generate RUN.sqlite --prompt TEXT`: samples text from a trained byte-level language model.
#include <filesystem>
#include <iostream>

#include "cli_command.h"
#include "moe/spec/project_io.h"
#include "moe/telemetry/run_store.h"
#include "moe/train/datasets.h"
#include "moe/train/generate.h"

namespace {

namespace fs = std::filesystem;

// The run store records the checkpoint as the trainer was given it; a run folder that moved still
// finds it by name beside the store.
std::string findCheckpoint(const std::string& recorded, const std::string& runPath) {
    std::error_code ec;
    if (recorded.empty()) return {};
    if (fs::is_regular_file(recorded, ec)) return recorded;
    const auto beside = fs::path(runPath).parent_path() / fs::path(recorded).filename();
    if (fs::is_regular_file(beside, ec)) return beside.string();
    return recorded;
}

int run(const moe::cli::ParsedArgs& a) {
    const std::string runPath = a.positional()[0];
    moe::train::GenerateOptions o;
    o.prompt = a.valueOr("prompt", "");
    o.tokens = a.intValue("tokens", o.tokens, 1, 1000000);
    o.temperature = a.doubleValue("temperature", o.temperature, 0.0, 100.0);
    o.seed = static_cast<std::uint64_t>(a.intValue("seed", 1, 0, 2147483647));
    o.threads = a.intValue("threads", 0, 0, 1024);
    auto opened = moe::telemetry::RunReader::open(runPath);
    if (!opened) {
        std::cerr << opened.message() << "\n";
        return 1;
    }
    const auto& info = opened.value()->info();
    auto project = moe::spec::parseProject(info.projectJson, runPath + " (project)");
    if (!project) {
        std::cerr << runPath << ": the project stored in the run cannot be read:\n" << project.message() << "\n";
        return 1;
    }
    if (!project->model.input.isText()) {
        std::cerr << runPath << " trained a " << moe::spec::toString(project->model.input.dataset)
                  << " model, not a language model; 'moe generate' needs a run of a text project\n";
        return 1;
    }
    std::string checkpoint = a.valueOr("checkpoint", "");
    if (checkpoint.empty()) checkpoint = findCheckpoint(info.checkpoint, runPath);
    if (checkpoint.empty()) {
        std::cerr << runPath << " has no checkpoint recorded; train with 'moe train --checkpoint FILE' (text projects write one\n"
                  << "beside the run store by default) or name one with --checkpoint\n";
        return 1;
    }
    auto text = moe::train::generateText(project.value(), checkpoint, o);
    if (!text) {
        std::cerr << text.message() << "\n";
        return 1;
    }
    std::cout << moe::train::printableUtf8(o.prompt + text.value()) << "\n";
    return 0;
}

MOE_CLI_COMMAND(moe::cli::CommandSpec{
    "generate", "sample text from a trained byte-level language model", "RUN.sqlite",
    "Loads the project a run trained (from its run store) and the run's checkpoint, then samples bytes one at a\n"
    "time after the prompt. Temperature 0 always takes the most likely byte; otherwise the seed makes the\n"
    "sample repeatable. Invalid UTF-8 and control characters in the output are shown as U+FFFD.",
    {{"prompt", "TEXT", "text to continue (default: start after a newline)"},
     {"tokens", "N", "bytes to generate (default 200)"},
     {"temperature", "T", "sampling temperature, 0 = greedy (default 0.8)"},
     {"seed", "S", "random seed (default 1)"},
     {"checkpoint", "FILE", "checkpoint to load instead of the one the run recorded"},
     {"threads", "N", "CPU threads (default: all)"}},
    1, 1, run});

}  // namespace
