// `moe import hf` and `moe export hf`: Hugging Face config.json files in and out.
#include <filesystem>
#include <iostream>

#include "cli_command.h"
#include "moe/spec/atomic_file.h"
#include "moe/spec/hf.h"
#include "moe/spec/project_io.h"

namespace {

namespace spec = moe::spec;

// Output files never replace something else the user has, unless --force.
void checkOut(const std::string& out, const moe::cli::ParsedArgs& a, const std::string& input) {
    std::error_code ec;
    if (std::filesystem::equivalent(out, input, ec)) throw moe::cli::UsageError("--out " + out + " is the input file; pick another name");
    if (std::filesystem::exists(out, ec) && !a.flag("force"))
        throw moe::cli::UsageError("--out " + out + " exists; pick another name, or add --force to replace it");
}

int runImport(const moe::cli::ParsedArgs& a) {
    const std::string in = a.positional()[0];
    const auto out = a.value("out");
    if (!out) throw moe::cli::UsageError("--out PROJECT.json is required: where to write the project");
    checkOut(*out, a, in);
    std::string text, err;
    if (!spec::readFile(in, text, err)) {
        std::cerr << in << ": " << err << "\n";
        return 1;
    }
    auto r = spec::importHfConfig(text, in, a.valueOr("name", ""));
    if (!r) {
        std::cerr << r.message() << "\n";
        return 1;
    }
    if (auto e = spec::saveProject(r->project, *out); !e.empty()) {
        std::cerr << *out << ": " << e << "\n";
        return 1;
    }
    const auto f = spec::computeFigures(r->project.model);
    std::cout << "imported " << r->project.model.name << " (" << r->modelType << "): " << moe::cli::humanCount(static_cast<double>(f.params))
              << " parameters, " << moe::cli::humanCount(f.activeParams) << " active per token -> " << *out << "\n";
    for (const auto& n : r->notes) std::cout << "note: " << n << "\n";
    std::cout << "training uses a twin of the model (training.twin); see: moe describe " << *out << "\n";
    return 0;
}

int runExport(const moe::cli::ParsedArgs& a) {
    const std::string in = a.positional()[0];
    auto p = moe::cli::loadProjectFile(in);
    if (!p) return 1;
    auto j = spec::exportHfConfig(*p, a.valueOr("type", ""));
    if (!j) {
        std::cerr << j.message() << "\n";
        return 1;
    }
    const std::string text = j->dump(2) + "\n";
    const auto out = a.value("out");
    if (!out) {
        std::cout << text;
        return 0;
    }
    checkOut(*out, a, in);
    if (auto e = spec::writeFileAtomic(*out, text); !e.empty()) {
        std::cerr << *out << ": " << e << "\n";
        return 1;
    }
    std::cout << "wrote " << *out << " (model_type " << j.value()["model_type"].get<std::string>() << ")\n";
    return 0;
}

std::string families() {
    std::string s;
    for (const auto& t : spec::hfModelTypes()) s += (s.empty() ? "" : ", ") + t;
    return s;
}

MOE_CLI_COMMAND(moe::cli::CommandSpec{
    "import hf", "read a Hugging Face config.json into a project holding the model at its real size", "CONFIG.json",
    "Reads the config.json of a published MoE model (model_type " + families() + ")\n"
    "and writes a project: the model at its real size (what the simulator and planner price), text input, and a\n"
    "trainable twin (training.twin) for training on this machine. What the spec approximates is printed as notes.",
    {{"out", "PROJECT.json", "where to write the project (required)"},
     {"name", "NAME", "the model's name (default: from the file name)"},
     {"force", "", "replace --out if it exists"}},
    1, 1, runImport});

MOE_CLI_COMMAND(moe::cli::CommandSpec{
    "export hf", "write a project's model as a Hugging Face config.json", "PROJECT.json",
    "Writes the model as the config.json of one family (--type; by default the one its features match:\n"
    "MLA -> deepseek_v3, attention sinks or alternating windows -> gpt_oss, shared experts -> qwen2_moe,\n"
    "QK-norm -> qwen3_moe, else mixtral). Prints to stdout without --out.",
    {{"out", "FILE", "write here instead of stdout"}, {"type", "MODEL_TYPE", "the family to write: " + families()}, {"force", "", "replace --out if it exists"}},
    1, 1, runExport});

}  // namespace
