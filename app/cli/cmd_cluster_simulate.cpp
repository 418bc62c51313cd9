// `moe simulate PROJECT`: what one MoE step of the project's deployment costs on a cluster.
#include <iostream>

#include "cli_command.h"
#include "cluster_option.h"
#include "moe/cluster/simulate.h"
#include "moe/spec/project_io.h"

namespace {

namespace cl = moe::cluster;
namespace spec = moe::spec;
using moe::cli::fixed;
using moe::cli::humanBytes;
using moe::cli::UsageError;

std::string ms(double us) { return fixed(us / 1000.0, us < 10000 ? 3 : 1); }

nlohmann::ordered_json toJson(const cl::StepResult& r, bool timeline) {
    const auto& d = r.deployment;
    nlohmann::ordered_json j;
    j["cluster"] = d.cluster;
    j["gpus"] = d.gpus;
    j["model"] = {{"d_model", d.dModel}, {"ffn_hidden", d.ffnHidden}, {"layers", d.layers}, {"dense_layers", d.denseLayers},
                  {"experts", d.experts}, {"k", d.k}, {"shared_experts", d.sharedExperts}};
    j["tokens_per_gpu"] = d.tokensPerGpu;
    j["dtype"] = d.dtype;
    j["dispatch_dtype"] = d.dispatchDtype;
    j["parallel"] = {{"ep", d.ep}, {"dp", d.dp}, {"tp", d.tp}};
    j["capacity_factor"] = d.capacityFactor;
    j["dedup_tokens"] = d.dedupTokens;
    j["routing"] = d.routingText;
    j["training"] = r.training;
    j["micro_batches"] = r.microBatches;
    j["step_us"] = r.stepUs;
    j["forward_us"] = r.forwardUs;
    j["backward_us"] = r.backwardUs;
    j["grad_sync_us"] = r.gradSyncUs;
    j["compute_us_mean"] = r.computeUs;
    j["exposed_comm_us"] = r.exposedCommUs;
    j["ep_kernel"] = d.epKernel ? nlohmann::ordered_json(d.epKernel->name) : nlohmann::ordered_json(nullptr);
    j["kernel_compute_units"] = r.kernelComputeUnits;
    j["overlap_compute_slowdown"] = r.overlapSlowdown;
    j["overlap_slowdown_us"] = r.overlapSlowdownUs;
    if (r.stragglerRank >= 0)
        j["straggler"] = {{"rank", r.stragglerRank}, {"last_in_passes", r.stragglerLayers},
                          {"experts", r.ranks[static_cast<size_t>(r.stragglerRank)].experts}};
    else j["straggler"] = nullptr;
    j["expert_weights_gib_per_gpu"] = r.expertWeightGiBPerGpu;
    j["simulated_gpus"] = r.simulatedGpus;
    j["replicas"] = r.replicas;
    j["notes"] = r.notes;
    auto& layers = j["layers"] = nlohmann::ordered_json::array();
    for (const auto& l : r.layers)
        layers.push_back({{"layer", l.layer}, {"forward_us", l.forwardUs}, {"backward_us", l.backwardUs}, {"router_us", l.routerUs},
                          {"dispatch_us", l.dispatchUs}, {"shared_us", l.sharedUs}, {"experts_us", l.expertUs},
                          {"experts_mean_us", l.expertMeanUs}, {"combine_us", l.combineUs}, {"overlap_slowdown_us", l.overlapSlowdownUs}, {"straggler_rank", l.stragglerRank},
                          {"imbalance", l.imbalance}, {"dispatch_bytes", l.dispatchBytes}, {"kept", l.keptAssignments},
                          {"dropped", l.droppedAssignments}, {"send_bytes_to", l.sendBytesTo},
                          {"combine_bytes_from", l.combineBytesFrom}, {"received_assignments", l.receivedAssignments}});
    auto& links = j["links"] = nlohmann::ordered_json::array();
    for (const auto& l : r.links)
        links.push_back({{"link", l.link}, {"name", l.name}, {"bytes", l.bytes}, {"busy_us", l.busyUs}, {"utilisation", l.utilisation}});
    const auto& t = r.topology;
    j["topology"] = {{"name", t.topology}, {"nodes", t.nodes}, {"gpus_per_node", t.gpusPerNode}, {"rails", t.rails}, {"pods", t.pods},
                     {"devices", t.devices.size()}, {"links", t.links.size()}};
    if (timeline) {
        auto& ranks = j["ranks"] = nlohmann::ordered_json::array();
        for (const auto& rk : r.ranks) {
            nlohmann::ordered_json e{{"rank", rk.rank}, {"ep_rank", rk.epRank}, {"node", rk.node}, {"experts", rk.experts},
                                     {"compute_us", rk.computeUs}, {"wait_us", rk.waitUs}};
            auto& ev = e["events"] = nlohmann::ordered_json::array();
            for (const auto& x : rk.events)
                ev.push_back({{"layer", x.layer}, {"pass", cl::toString(x.pass)}, {"kind", cl::toString(x.kind)}, {"start_us", x.startUs},
                              {"end_us", x.endUs}});
            ranks.push_back(e);
        }
    }
    return j;
}

int run(const moe::cli::ParsedArgs& a) {
    auto loaded = moe::cli::loadProjectAndCatalog(a, a.positional()[0]);
    if (!loaded) return 1;
    const spec::Project& project = loaded->project;
    const cl::Catalog& catalog = loaded->catalog;
    cl::DeploymentOverrides o;
    o.cluster = a.valueOr("cluster", "");
    o.gpus = a.intValue("gpus", 0, 1, 1 << 20);
    o.routing = a.valueOr("routing", "");
    o.epKernel = a.valueOr("ep-kernel", "");
    auto d = cl::resolveDeployment(project, catalog, o);
    if (!d) return moe::cli::reportErrors(d.errors());
    if (d->routing.kind == cl::RoutingKind::Recorded && o.routing.empty() && !d->routing.path.empty() && d->routing.path[0] != '/') {
        // A run store named in the project is relative to the project file.
        const std::string proj = a.positional()[0];
        const auto slash = proj.find_last_of('/');
        if (slash != std::string::npos) d->routing.path = proj.substr(0, slash + 1) + d->routing.path;
    }
    auto loads = cl::deploymentLoads(d.value(), nullptr);
    if (!loads) return moe::cli::reportErrors(loads.errors());
    cl::SimOptions opt;
    opt.training = !a.flag("forward");
    opt.microBatches = a.intValue("micro-batches", 1, 1, 2);
    opt.maxSeconds = a.doubleValue("max-seconds", 120, 0, 1e7);
    auto r = cl::simulateStep(d.value(), catalog, loads.value(), opt);
    if (!r) return moe::cli::reportErrors(r.errors());
    const cl::StepResult& s = r.value();
    if (a.flag("json")) {
        moe::cli::printJson(toJson(s, a.flag("timeline")));
        return 0;
    }
    const auto& dep = s.deployment;
    std::cout << "cluster " << dep.cluster << ": " << dep.gpus << " GPUs (" << s.topology.nodes << " node(s) of " << s.topology.gpusPerNode
              << "), ep " << dep.ep << " x dp " << dep.dp << " x tp " << dep.tp << "\n"
              << "model: " << dep.layers << " MoE layers" << (dep.denseLayers > 0 ? " (+" + std::to_string(dep.denseLayers) + " dense, not priced)" : "")
              << ", d_model " << dep.dModel << ", ffn " << dep.ffnHidden << ", " << dep.experts
              << " experts, k " << dep.k << ", " << dep.sharedExperts << " shared; " << dep.tokensPerGpu << " tokens/GPU, " << dep.dtype
              << " (dispatch " << dep.dispatchDtype << "), capacity " << (dep.capacityFactor > 0 ? fixed(dep.capacityFactor, 2) : "dropless")
              << (dep.dedupTokens ? ", dedup" : "") << "; routing " << dep.routingText << "\n";
    for (const auto& n : s.notes) std::cout << "note: " << n << "\n";
    const bool all = a.flag("all-layers") || s.layers.size() <= 16;
    moe::cli::Table t({"layer", "fwd ms", "bwd ms", "dispatch", "experts max", "experts mean", "combine", "imbalance", "straggler", "dropped"});
    for (const auto& l : s.layers) {
        if (!all && l.layer >= 8 && l.layer < static_cast<int>(s.layers.size()) - 4) {
            if (l.layer == 8) t.add({"...", "", "", "", "", "", "", "", "", ""});
            continue;
        }
        t.add({std::to_string(l.layer), ms(l.forwardUs), s.training ? ms(l.backwardUs) : "-", ms(l.dispatchUs), ms(l.expertUs),
               ms(l.expertMeanUs), ms(l.combineUs), fixed(l.imbalance, 2), l.stragglerRank >= 0 ? "rank " + std::to_string(l.stragglerRank) : "none",
               l.keptAssignments + l.droppedAssignments > 0 ? fixed(100.0 * l.droppedAssignments / (l.keptAssignments + l.droppedAssignments), 1) + "%"
                                                            : "0%"});
    }
    std::cout << "\n" << t.str() << "(times in ms; dispatch/combine: slowest rank; forward breakdown)\n\n";
    std::string straggler = "none: every rank finishes its experts within 0.5% of the others in every layer";
    if (s.stragglerRank >= 0) {
        const auto& st = s.ranks[static_cast<size_t>(s.stragglerRank)];
        std::string ex;
        for (size_t i = 0; i < st.experts.size() && i < 8; ++i) ex += (i ? "," : "") + std::to_string(st.experts[i]);
        if (st.experts.size() > 8) ex += ",...";
        straggler = "rank " + std::to_string(s.stragglerRank) + " (node " + std::to_string(st.node) + ", experts " + ex +
                    "), last to finish its experts in " + std::to_string(s.stragglerLayers) + " of " +
                    std::to_string(s.layers.size() * (s.training ? 2 : 1)) + " layer passes";
    }
    std::cout << "step " << ms(s.stepUs) << " ms" << (s.training ? " (forward " + ms(s.forwardUs) + ", backward " + ms(s.backwardUs) +
                                                                    ", gradient sync " + ms(s.gradSyncUs) + ")"
                                                                  : " (forward only)")
              << "\ncompute " << ms(s.computeUs) << " ms per GPU (mean), exposed communication and waiting " << ms(s.exposedCommUs) << " ms\n"
              << (s.overlapSlowdown > 1.0 ? "compute beside the " + s.deployment.epKernel->name + " kernel (" + std::to_string(s.kernelComputeUnits) +
                                                   " SMs/CUs held) runs x" + fixed(s.overlapSlowdown, 3) + " slower: +" + ms(s.overlapSlowdownUs) +
                                                   " ms of compute on the most affected rank\n"
                                             : std::string())
              << "straggler: " << straggler << "\n"
              << "expert weights " << fixed(s.expertWeightGiBPerGpu, 1) << " GiB per GPU of " << fixed(s.hbmGiB, 0) << " GiB HBM\n\n";
    moe::cli::Table h({"hot link", "bytes (each)", "busy ms", "utilisation"});
    for (const auto& g : cl::groupHotLinks(s, 10)) h.add({g.name, humanBytes(g.bytes), ms(g.busyUs), fixed(100 * g.utilisation, 1) + "%"});
    std::cout << h.str();
    return 0;
}

MOE_CLI_COMMAND(moe::cli::CommandSpec{
    "simulate", "predict an MoE step on a cluster: per-layer breakdown, straggler, hot links", "PROJECT",
    "Prices the project's deployment section (or defaults derived from the model spec) on a cluster of the\n"
    "hardware catalog: dispatch and combine as max-min fair flows on the topology, expert GEMMs by roofline,\n"
    "shared experts overlapping the dispatch, a training step (forward, backward, gradient all-reduce)\n"
    "unless --forward. Routing: uniform, zipf:S (hot experts differ per layer) or a run store.",
    {{"cluster", "NAME", "override deployment.cluster (see 'moe clusters')"},
     {"gpus", "N", "override deployment.gpus (dp changes, ep x tp is kept)"},
     {"routing", "R", "uniform | zipf:1.2 | RUN.sqlite"},
     {"ep-kernel", "NAME", "dispatch/combine library from the catalog (moe ep --help lists them; default: the flow model)"},
     {"forward", "", "forward pass only (inference)"},
     {"micro-batches", "N", "1 (default) or 2: overlap one half's communication with the other's experts"},
     {"max-seconds", "S", "refuse, with its estimate, a simulation projected to take longer (default 120; 0: no limit)"},
     {"all-layers", "", "print every layer (default: first 8 and last 4 of long models)"},
     {"timeline", "", "with --json: include every rank's event timeline"},
     {"json", "", "print the result as JSON"},
     moe::cli::kCatalogOverlayOption},
    1, 1, run});

}  // namespace
