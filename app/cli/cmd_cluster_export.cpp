// `moe export megatron|deepspeed PROJECT`: the project's model and training layout for other trainers.
#include <iostream>

#include "cli_command.h"
#include "cluster_option.h"
#include "moe/cluster/export.h"
#include "moe/cluster/plan.h"
#include "moe/spec/project_io.h"

namespace {

namespace cl = moe::cluster;
namespace spec = moe::spec;
using moe::cli::UsageError;

// Loads the project and its checked layout; 0 and fills `out` on success, else the exit status.
int prepare(const moe::cli::ParsedArgs& a, spec::Project& project, cl::ProjectLayout& out) {
    auto loaded = moe::cli::loadProjectAndCatalog(a, a.positional()[0]);
    if (!loaded) return 1;
    project = loaded->project;
    const cl::Catalog& catalog = loaded->catalog;
    cl::PlanOptions o;
    o.cluster = a.valueOr("cluster", "");
    o.gpus = a.intValue("gpus", 0, 1, 1 << 20);
    o.globalBatch = a.intValue("global-batch", 0, 1, 1 << 30);
    o.routing = "uniform";  // routing does not enter an export
    auto l = cl::projectLayout(project, catalog, o);
    if (!l) return moe::cli::reportErrors(l.errors());
    out = std::move(l.value());
    return 0;
}

int runMegatron(const moe::cli::ParsedArgs& a) {
    spec::Project p;
    cl::ProjectLayout pl;
    if (int rc = prepare(a, p, pl)) return rc;
    auto e = cl::exportMegatron(pl.shape, p.training, pl.layout);
    if (!e) return moe::cli::reportErrors(e.errors());
    if (a.flag("json")) {
        moe::cli::printJson(nlohmann::ordered_json{{"args", e->args}, {"notes", e->notes}});
        return 0;
    }
    std::cout << e->commandLine();
    for (const auto& n : e->notes) std::cerr << "note: " << n << "\n";
    return 0;
}

int runDeepSpeed(const moe::cli::ParsedArgs& a) {
    spec::Project p;
    cl::ProjectLayout pl;
    if (int rc = prepare(a, p, pl)) return rc;
    auto e = cl::exportDeepSpeed(pl.shape, p.training, pl.layout);
    if (!e) return moe::cli::reportErrors(e.errors());
    moe::cli::printJson(e->config);
    for (const auto& n : e->notes) std::cerr << "note: " << n << "\n";
    return 0;
}

const std::vector<moe::cli::OptionSpec> kOptions = {{"cluster", "NAME", "override deployment.cluster"},
                                                    {"gpus", "N", "override deployment.gpus"},
                                                    {"global-batch", "N", "override deployment.global_batch"},
                                                    moe::cli::kCatalogOverlayOption};

std::vector<moe::cli::OptionSpec> withJson() {
    auto v = kOptions;
    v.push_back({"json", "", "print the flags as a JSON list"});
    return v;
}

MOE_CLI_COMMAND(moe::cli::CommandSpec{
    "export megatron", "Megatron-Core command-line flags for the project's model and training layout", "PROJECT",
    "Prints a pretrain_gpt.py command line (Megatron-LM v0.15 flag names) with the model (layers, widths,\n"
    "attention, experts, router) and the deployment's layout (TP, PP, VPP, CP, EP, ETP, batch sizes,\n"
    "recomputation, distributed optimizer). The layout is checked first; notes go to stderr.",
    withJson(), 1, 1, runMegatron});

MOE_CLI_COMMAND(moe::cli::CommandSpec{
    "export deepspeed", "a DeepSpeed config JSON for the project's training layout", "PROJECT",
    "Prints a ds_config.json (batch sizes, precision, ZeRO stage, optimizer, scheduler, activation\n"
    "checkpointing). What DeepSpeed sets in the model code (MoE layers with ep_size, pipeline stages,\n"
    "tensor parallelism) is printed as notes on stderr.",
    kOptions, 1, 1, runDeepSpeed});

}  // namespace
