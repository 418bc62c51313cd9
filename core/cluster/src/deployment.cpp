// Semantic checks of a project's deployment section against the catalog and the model spec.
#include <algorithm>
#include <numeric>

#include "moe/cluster/simulate.h"
#include "moe/cluster/ep_kernels.h"
#include "moe/spec/derived.h"

namespace moe::cluster {
namespace {

std::string n(long long v) { return std::to_string(v); }

std::string list(const std::vector<int>& v, size_t max = 12) {
    std::string s;
    for (size_t i = 0; i < v.size() && i < max; ++i) s += (i ? ", " : "") + n(v[i]);
    if (v.size() > max) s += ", ... (" + n(static_cast<long long>(v.size())) + " in all)";
    return s;
}

// Largest divisor of `experts` that also divides `gpus`: the default expert-parallel degree.
int defaultEp(int experts, int gpus) { return std::max(1, std::gcd(experts, gpus)); }

}  // namespace

spec::Result<Deployment> resolveDeployment(const spec::Project& project, const Catalog& catalog, const DeploymentOverrides& o) {
    spec::Diagnostics errs;
    Deployment d;
    const bool given = project.deployment.has_value();
    const spec::DeploymentSpec s = given ? *project.deployment : spec::DeploymentSpec{};
    // Layer groups expanded: the simulator prices the layers the model really has.
    const spec::ModelSpec m = project.model.flattened();
    auto err = [&](const std::string& path, const std::string& msg) { errs.push_back({path, msg}); };
    if (!given) d.notes.push_back("the project has no deployment section: using defaults derived from the model spec");

    d.cluster = o.cluster.empty() ? s.cluster : o.cluster;
    const std::string clusterPath = o.cluster.empty() ? "deployment.cluster" : "--cluster";
    auto rc = catalog.resolve(d.cluster, clusterPath);
    if (!rc) return rc.errors();
    if (!given && o.cluster.empty()) d.notes.push_back("cluster " + d.cluster + " (default)");

    d.gpus = o.gpus > 0 ? o.gpus : s.gpus;
    const std::string gpusPath = o.gpus > 0 ? "--gpus" : "deployment.gpus";
    if (std::string e = rc->checkGpuCount(d.gpus); !e.empty()) err(gpusPath, e);

    // Model dimensions: the project's model at its real size. The MoE layers are priced in the
    // shape of the first one; the dense FFN layers are counted.
    int firstMoe = -1;
    for (int i = 0; i < static_cast<int>(m.blocks.size()); ++i) {
        const auto kind = m.blocks[static_cast<size_t>(i)].kind;
        if (kind == spec::BlockKind::Moe && firstMoe < 0) firstMoe = i;
        if (kind == spec::BlockKind::Dense) ++d.denseLayers;
    }
    if (firstMoe < 0) {
        err("model", "the model has no moe block: there is no expert-parallel step to price");
        return errs;
    }
    const spec::BlockSpec& mb = m.blocks[static_cast<size_t>(firstMoe)];
    d.dModel = m.stem.dModel;
    d.ffnHidden = mb.ffn.hidden;
    d.layers = m.moeBlockCount();
    d.experts = m.expertsOf(firstMoe);
    d.k = m.kOf(firstMoe);
    d.sharedExperts = mb.sharedExperts;
    for (int i = firstMoe + 1; i < static_cast<int>(m.blocks.size()); ++i)
        if (m.blocks[static_cast<size_t>(i)].kind == spec::BlockKind::Moe &&
            (m.expertsOf(i) != d.experts || m.kOf(i) != d.k || m.blocks[static_cast<size_t>(i)].ffn.hidden != d.ffnHidden)) {
            d.notes.push_back("the moe layers differ in experts, k or width; every one is priced like the first (" + n(d.experts) + " experts, k " +
                              n(d.k) + ", hidden " + n(d.ffnHidden) + ")");
            break;
        }
    d.tokensPerGpu = s.tokensPerGpu;
    d.dtype = s.dtype;
    d.dispatchDtype = s.dispatchDtype;
    d.capacityFactor = s.capacityFactor;
    d.dedupTokens = s.dedupTokens;

    // Parallel degrees.
    d.tp = s.tp;
    if (given) {
        d.ep = s.ep;
        d.dp = s.dp;
    } else {
        d.ep = defaultEp(d.experts, d.gpus / std::max(1, d.tp));
        d.dp = d.gpus / std::max(1, d.ep * d.tp);
        d.notes.push_back("ep " + n(d.ep) + ", dp " + n(d.dp) + " (experts spread over as many GPUs as divide both)");
    }
    if (given && o.gpus > 0 && o.gpus != s.gpus) {
        // --gpus keeps the expert-parallel layout and changes the replicas.
        if (o.gpus % (d.ep * d.tp) == 0) {
            d.dp = o.gpus / (d.ep * d.tp);
            d.notes.push_back("--gpus " + n(o.gpus) + ": dp set to " + n(d.dp) + " (ep " + n(d.ep) + " x tp " + n(d.tp) + " kept)");
        } else
            err("--gpus", n(o.gpus) + " GPUs do not hold whole copies of the expert-parallel group (ep " + n(d.ep) + " x tp " + n(d.tp) +
                              " = " + n(d.ep * d.tp) + " GPUs); use a multiple of " + n(d.ep * d.tp));
    }
    const int gpn = rc->system->gpusPerNode;
    if (d.tp > gpn || gpn % d.tp != 0)
        err("deployment.parallel.tp", "tensor parallelism stays inside a node: tp must divide " + n(gpn) + " (the GPUs of a " + rc->system->name +
                                          " node), not " + n(d.tp));
    if (static_cast<long long>(d.ep) * d.dp * d.tp != d.gpus)
        err("deployment.parallel", "ep x dp x tp = " + n(d.ep) + " x " + n(d.dp) + " x " + n(d.tp) + " = " +
                                       n(static_cast<long long>(d.ep) * d.dp * d.tp) + " must equal the " + n(d.gpus) + " GPUs");
    if (d.experts % d.ep != 0)
        err("deployment.parallel.ep", n(d.experts) + " experts cannot be split evenly over ep = " + n(d.ep) + " ranks; ep must divide " + n(d.experts));
    if (d.ep > 512) err("deployment.parallel.ep", "ep = " + n(d.ep) + " is above the 512 expert-parallel ranks the flow model takes");
    // Bounds that keep the simulation's memory reasonable (loads, per-rank timelines).
    if (static_cast<long long>(d.layers) * d.experts > (16LL << 20))
        err("model", n(d.layers) + " moe layers x " + n(d.experts) + " experts is too large to simulate (at most 16M expert-layers)");
    if (static_cast<long long>(d.layers) * d.ep * d.tp > (1LL << 18))
        err("model", n(d.layers) + " moe layers x " + n(d.ep * d.tp) + " GPUs per expert-parallel group is too large to simulate (at most 262144)");

    // Placement.
    if (s.placement.roundRobin) {
        d.placement.assign(static_cast<size_t>(d.ep), {});
        for (int e = 0; e < d.experts; ++e) d.placement[static_cast<size_t>(e % d.ep)].push_back(e);
    } else {
        const auto& pl = s.placement.gpuExperts;
        if (static_cast<int>(pl.size()) != d.ep)
            err("deployment.placement", "has " + n(static_cast<long long>(pl.size())) + " lists but there are ep = " + n(d.ep) +
                                            " expert-parallel ranks; give one list of experts per rank");
        std::vector<int> seen(static_cast<size_t>(d.experts), 0);
        for (size_t g = 0; g < pl.size(); ++g)
            for (size_t i = 0; i < pl[g].size(); ++i) {
                const int e = pl[g][i];
                if (e < 0 || e >= d.experts)
                    err("deployment.placement[" + n(static_cast<long long>(g)) + "][" + n(static_cast<long long>(i)) + "]",
                        "expert " + n(e) + " does not exist; experts are 0 to " + n(d.experts - 1));
                else ++seen[static_cast<size_t>(e)];
            }
        std::vector<int> missing, twice;
        for (int e = 0; e < d.experts; ++e) {
            if (seen[static_cast<size_t>(e)] == 0) missing.push_back(e);
            if (seen[static_cast<size_t>(e)] > 1) twice.push_back(e);
        }
        if (!missing.empty()) err("deployment.placement", "every expert must be placed exactly once; not placed: " + list(missing));
        if (!twice.empty()) err("deployment.placement", "every expert must be placed exactly once; placed more than once: " + list(twice));
        for (size_t g = 0; g < pl.size(); ++g)
            if (pl[g].empty()) err("deployment.placement[" + n(static_cast<long long>(g)) + "]", "this rank hosts no expert");
        d.placement = pl;
    }

    // Expert-parallel kernel library.
    const std::string kernel = o.epKernel.empty() ? s.epKernel : o.epKernel;
    if (!kernel.empty()) {
        auto k = findEpKernel(catalog, *rc->gpu, kernel, o.epKernel.empty() ? "deployment.ep_kernel" : "--ep-kernel");
        if (!k) {
            for (const auto& e : k.errors()) errs.push_back(e);
        } else {
            d.epKernel = k.value();
            d.notes.push_back("dispatch and combine as " + d.epKernel->display + " (its fixed cost per call instead of the flow model's per-message latency)");
            if (const double f = overlapSlowdown(*rc->gpu, d.epKernel); f > 1.0)
                d.notes.push_back("it holds " + n(d.epKernel->computeUnits) + " of the " + n(rc->gpu->computeUnits) +
                                  " SMs/CUs of a " + rc->gpu->name + ": compute overlapping it runs on the rest (x" +
                                  std::to_string(std::round(f * 1000) / 1000).substr(0, 5) + ")");
            else if (d.epKernel->computeUnits > 0)
                d.notes.push_back("it holds " + n(d.epKernel->computeUnits) + " SMs/CUs, but the catalog gives no compute_units for a " + rc->gpu->name +
                                  ": compute beside it is not slowed");
        }
    }

    // Routing.
    d.routingText = o.routing.empty() ? s.routing : o.routing;
    d.routingWhere = o.routing.empty() ? "deployment.routing" : "--routing";
    auto r = parseRouting(d.routingText, d.routingWhere);
    if (!r) for (const auto& e : r.errors()) errs.push_back(e);
    else d.routing = r.value();

    if (!errs.empty()) return errs;
    return d;
}

}  // namespace moe::cluster
