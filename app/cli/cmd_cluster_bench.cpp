// `moe bench sim`: how long the simulator takes for a 64-layer step from 8 to 16,384 GPUs.
#include <chrono>
#include <ctime>
#include <iostream>

#include "cli_command.h"
#include "moe/cluster/simulate.h"

namespace {

namespace cl = moe::cluster;
using moe::cli::fixed;

int run(const moe::cli::ParsedArgs& a) {
    auto cat = cl::Catalog::loadDefault();
    if (!cat) {
        std::cerr << cat.message() << "\n";
        return 1;
    }
    const int maxGpus = a.intValue("max-gpus", 16384, 8, 16384);
    const int layers = a.intValue("layers", 64, 1, 1024);
    const std::string clusterName = a.valueOr("cluster", "hgx-h100");
    auto rc = cat->resolve(clusterName, "--cluster");
    if (!rc) throw moe::cli::UsageError(rc.errors()[0].message);
    std::vector<std::string> routings = {"uniform", "zipf:1.2"};
    if (auto r = a.value("routing")) routings = {*r};

    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    moe::cli::Table t({"GPUs", "ep x dp", "routing", "layers", "sim ms", "cpu ms", "rate updates", "predicted step ms", "straggler"});
    for (int gpus = 8; gpus <= maxGpus; gpus *= 2) {
        if (!rc->checkGpuCount(gpus).empty()) continue;
        for (const auto& routing : routings) {
            // An LLM-scale layer: 256 routed experts of 2048, 1 shared, top-8, d_model 7168, EP up to 64.
            cl::Deployment d;
            d.cluster = clusterName;
            d.gpus = gpus;
            d.dModel = 7168;
            d.ffnHidden = 2048;
            d.layers = layers;
            d.experts = 256;
            d.k = 8;
            d.sharedExperts = 1;
            d.tokensPerGpu = 4096;
            d.dtype = "bf16";
            d.dispatchDtype = "fp8";
            d.ep = std::min(gpus, 64);
            d.tp = 1;
            d.dp = gpus / d.ep;
            d.routingText = routing;
            auto rr = cl::parseRouting(routing, "--routing");
            if (!rr || rr->kind == cl::RoutingKind::Recorded)
                throw moe::cli::UsageError("--routing: the bench takes uniform or zipf:S");
            d.routing = rr.value();
            d.placement.assign(static_cast<size_t>(d.ep), {});
            for (int e = 0; e < d.experts; ++e) d.placement[static_cast<size_t>(e % d.ep)].push_back(e);
            const auto t0 = std::chrono::steady_clock::now();
            const std::clock_t c0 = std::clock();
            auto loads = cl::deploymentLoads(d, nullptr);
            auto r = cl::simulateStep(d, cat.value(), loads.value());
            const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            const double cpu = double(std::clock() - c0) / CLOCKS_PER_SEC;
            if (!r) {
                std::cerr << r.message() << "\n";
                return 1;
            }
            rows.push_back({{"gpus", gpus}, {"ep", d.ep}, {"dp", d.dp}, {"routing", routing}, {"layers", layers}, {"sim_seconds", secs}, {"cpu_seconds", cpu},
                            {"rate_updates", r->flowRateUpdates}, {"predicted_step_us", r->stepUs}, {"straggler_rank", r->stragglerRank}});
            t.add({std::to_string(gpus), std::to_string(d.ep) + " x " + std::to_string(d.dp), routing, std::to_string(layers), fixed(secs * 1e3, 1), fixed(cpu * 1e3, 1),
                   std::to_string(r->flowRateUpdates), fixed(r->stepUs / 1e3, 2), r->stragglerRank >= 0 ? std::to_string(r->stragglerRank) : "none"});
        }
    }
    if (a.flag("json")) {
        moe::cli::printJson({{"bench", "sim"}, {"cluster", clusterName}, {"rows", rows}});
        return 0;
    }
    std::cout << "moe bench sim: one training step of a " << layers << "-layer MoE (256 experts, top-8, d_model 7168) on " << clusterName
              << "\n(sim: wall time of one simulation on this machine, cpu: its processor time; the predicted step\n time is the model's answer)\n\n"
              << t.str();
    return 0;
}

MOE_CLI_COMMAND(moe::cli::CommandSpec{
    "bench sim", "time the cluster simulator from 8 to 16,384 GPUs", "",
    "Simulates one training step of an LLM-scale MoE (64 layers, 256 experts, top-8, 1 shared expert,\n"
    "d_model 7168, 4096 tokens per GPU, fp8 dispatch, ep = min(GPUs, 64)) for 8, 16, ... GPUs and prints\n"
    "the wall time each simulation took, with uniform and zipf:1.2 routing.",
    {{"max-gpus", "N", "largest GPU count (default 16384)"},
     {"layers", "L", "MoE layers (default 64)"},
     {"cluster", "NAME", "cluster (default hgx-h100)"},
     {"routing", "R", "only this routing (uniform or zipf:S)"},
     {"json", "", "print the rows as JSON"}},
    0, 0, run});

}  // namespace
