#include "moe/cluster/plan.h"

#include <algorithm>
#include <cmath>

#include "moe/cluster/ep_kernels.h"

namespace moe::cluster {
namespace {

std::string n(long long v) { return std::to_string(v); }

std::string ms(double us) {
    char buf[32];
    std::snprintf(buf, sizeof buf, us < 10000 ? "%.2f ms" : "%.0f ms", us / 1000.0);
    return buf;
}

struct Setup {
    ResolvedCluster rc;
    ModelShape shape;
    spec::DeploymentSpec d;
    int gpus = 0;
    std::vector<std::vector<double>> loads;
    const EpKernelSpec* epKernel = nullptr;  // deployment.ep_kernel
    std::vector<std::string> notes;
};

spec::Result<Setup> setup(const spec::Project& project, const Catalog& catalog, const PlanOptions& o) {
    Setup st;
    st.d = project.deployment ? *project.deployment : spec::DeploymentSpec{};
    if (!project.deployment) st.notes.push_back("the project has no deployment section: its defaults are used");
    const std::string clusterName = o.cluster.empty() ? st.d.cluster : o.cluster;
    auto rc = catalog.resolve(clusterName, o.cluster.empty() ? "deployment.cluster" : "--cluster");
    if (!rc) return rc.errors();
    st.rc = rc.value();
    st.gpus = o.gpus > 0 ? o.gpus : st.d.gpus;
    if (std::string e = st.rc.checkGpuCount(st.gpus); !e.empty()) return spec::Diagnostics{{o.gpus > 0 ? "--gpus" : "deployment.gpus", e}};
    if (!st.d.epKernel.empty()) {
        auto k = findEpKernel(catalog, *st.rc.gpu, st.d.epKernel, "deployment.ep_kernel");
        if (!k) return k.errors();
        st.epKernel = k.value();
    }
    st.shape = shapeOf(project.model, st.d.seqLen);
    if (st.shape.units() < 1) return spec::Diagnostics{{"model.blocks", "the model has no layers to place"}};
    const std::string routing = o.routing.empty() ? st.d.routing : o.routing;
    std::string note;
    auto loads = modelLoads(st.shape, routing, o.routing.empty() ? "deployment.routing" : "--routing", st.d.routingMap, "deployment.routing_map", &note);
    if (!loads) return loads.errors();
    st.loads = std::move(loads.value());
    if (!note.empty()) st.notes.push_back(note);
    return st;
}

std::vector<int> divisors(int x, int cap) {
    std::vector<int> d;
    for (int i = 1; i <= std::min(x, cap); ++i)
        if (x % i == 0) d.push_back(i);
    return d;
}

// Why row `a` beats row `b`: the parts where it saves the most time (and the largest it loses).
std::string compare(const StepBreakdown& a, const StepBreakdown& b) {
    std::vector<std::pair<double, std::string>> diff;
    const auto pa = a.parts(), pb = b.parts();
    for (size_t i = 0; i < pa.size(); ++i) diff.push_back({pb[i].second - pa[i].second, pa[i].first});
    std::sort(diff.begin(), diff.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
    std::string s;
    int said = 0;
    for (const auto& [d, name] : diff)
        if (d > 0.005 * b.stepUs && said < 2) s += (said++ ? ", " : "") + ms(d) + " less " + name;
    if (!diff.empty() && diff.back().first < -0.005 * b.stepUs) s += (s.empty() ? "" : ", despite ") + ms(-diff.back().first) + " more " + diff.back().second;
    return s.empty() ? "about the same parts" : s;
}

}  // namespace

spec::Result<PlanResult> planLayouts(const spec::Project& project, const Catalog& catalog, const PlanOptions& o) {
    auto st = setup(project, catalog, o);
    if (!st) return st.errors();
    const Setup& S = st.value();
    const ModelShape& shape = S.shape;
    PlanResult res;
    res.cluster = S.rc.cluster->name;
    res.gpus = S.gpus;
    res.seqLen = shape.seqLen;
    res.notes = S.notes;
    res.globalBatch = o.globalBatch > 0 ? o.globalBatch : S.d.globalBatch > 0 ? S.d.globalBatch : 4 * S.gpus;
    if (o.globalBatch <= 0 && S.d.globalBatch <= 0)
        res.notes.push_back("global batch " + n(res.globalBatch) + " sequences (4 per GPU; set deployment.global_batch or --global-batch)");
    if (S.d.epOverlap) res.notes.push_back("every layout hides the expert all-to-all behind compute as far as it can (deployment.parallel.ep_overlap)");
    StepModel model(shape, catalog, S.rc, S.loads, S.d.capacityFactor, S.d.dedupTokens, S.epKernel);
    const int gpn = S.rc.system->gpusPerNode, G = S.gpus, units = shape.units(), seq = shape.seqLen;

    std::vector<int> tps;
    for (int t : divisors(gpn, gpn))
        if (shape.headsGcd == 0 || (shape.headsGcd % t == 0 && shape.kvHeadsGcd % t == 0)) tps.push_back(t);
    std::vector<int> cps;
    for (int c = 1; c <= 16; c *= 2)
        if (c == 1 || seq % (2 * c) == 0) cps.push_back(c);
    std::vector<int> eps = shape.moeLayers > 0 ? divisors(shape.expertsGcd, 512) : std::vector<int>{1};
    std::vector<int> etps;
    for (int t : divisors(gpn, gpn))
        if (shape.moeLayers == 0 ? t == 1 : shape.expertHidden % t == 0) etps.push_back(t);
    // Pipeline splits: even over pp x vpp, or uneven first / last stages (vpp 1) when pp does not divide.
    struct Split {
        int pp, vpp, first, last;
        std::vector<std::vector<int>> stages;
    };
    std::vector<Split> splits;
    for (int p = 1; p <= std::min(units, G); ++p) {
        if (G % p != 0) continue;
        if (units % p == 0) {
            for (int v : divisors(units / p, 8))
                if (p > 1 || v == 1) splits.push_back({p, v, 0, 0, splitStages(units, p, v, 0, 0)});
        } else if (p >= 2) {
            const int mid = (units + p - 1) / p;
            const int rest = units - (p - 2) * mid;
            if (rest >= 2 && rest <= 2 * mid) {
                const int first = (rest + 1) / 2, last = rest - first;  // the last stage also holds the head
                auto stages = splitStages(units, p, 1, first, last);
                if (!stages.empty()) splits.push_back({p, 1, first, last, std::move(stages)});
            }
        }
    }
    const Recompute recomputes[] = {Recompute::Selective, Recompute::Full, Recompute::None};
    std::vector<PlanRow> rows;
    std::string firstError;
    for (const Split& sp : splits)
        for (int tp : tps)
            for (int cp : cps) {
                const long long dense = 1LL * tp * cp * sp.pp;
                if (G % dense != 0) continue;
                if (tp > 1 && (seq / cp) % tp != 0) continue;
                const int dp = static_cast<int>(G / dense);
                for (int ep : eps)
                    for (int etp : etps) {
                        const long long moe = 1LL * etp * ep * sp.pp;
                        if (G % moe != 0 || ep * etp > 512) continue;
                        for (int mb : o.microBatches) {
                            if (res.globalBatch % (mb * dp) != 0) continue;
                            const int micro = res.globalBatch / (mb * dp);
                            if (sp.vpp > 1 && micro % sp.pp != 0) continue;
                            for (Recompute rcm : recomputes)
                                for (int zero = 0; zero <= 3; ++zero) {
                                    if (zero > 0 && dp * cp == 1 && static_cast<int>(G / moe) == 1) continue;  // nothing to shard over
                                    Layout l;
                                    l.gpus = G;
                                    l.tp = tp, l.cp = cp, l.pp = sp.pp, l.vpp = sp.vpp, l.dp = dp;
                                    l.ep = ep, l.etp = etp, l.edp = static_cast<int>(G / moe);
                                    l.sequenceParallel = true;
                                    l.epOverlap = S.d.epOverlap;
                                    l.microBatch = mb, l.globalBatch = res.globalBatch, l.microBatches = micro;
                                    l.seqLen = seq;
                                    l.recompute = rcm;
                                    l.zero = zero;
                                    l.dtype = S.d.dtype, l.gradDtype = S.d.gradDtype, l.dispatchDtype = S.d.dispatchDtype;
                                    l.firstStageLayers = sp.first, l.lastStageLayers = sp.last;
                                    l.stageUnits = sp.stages;
                                    ++res.enumerated;
                                    MemoryBreakdown mem = estimateMemory(shape, l, *S.rc.gpu);
                                    if (!mem.fits) continue;
                                    ++res.fitting;
                                    auto step = model.price(l);
                                    if (!step) {
                                        if (firstError.empty()) firstError = step.errors()[0].message;
                                        continue;
                                    }
                                    rows.push_back({std::move(l), std::move(mem), std::move(step.value()), {}});
                                }
                        }
                    }
            }
    std::sort(rows.begin(), rows.end(), [](const PlanRow& a, const PlanRow& b) { return a.step.stepUs < b.step.stepUs; });
    if (static_cast<int>(rows.size()) > o.top) rows.resize(static_cast<size_t>(std::max(0, o.top)));
    for (size_t i = 0; i < rows.size(); ++i) {
        std::string r = "exposed: " + rows[i].step.mostExposed();
        if (i + 1 < rows.size()) r += "; beats #" + n(static_cast<long long>(i + 2)) + " by " + compare(rows[i].step, rows[i + 1].step);
        rows[i].reason = r;
    }
    res.rows = std::move(rows);
    if (res.enumerated == 0)
        res.notes.push_back("no layout divides: " + n(G) + " GPUs, " + n(units) + " transformer layers, heads " + n(shape.headsGcd) + ", experts " +
                            n(shape.expertsGcd) + ", global batch " + n(res.globalBatch));
    else if (res.fitting == 0) res.notes.push_back("none of the " + n(res.enumerated) + " layouts fits in the " + n(static_cast<long long>(S.rc.gpu->hbmGiB)) +
                                                   " GiB of a " + S.rc.gpu->name + "; use more GPUs or a larger GPU");
    if (!firstError.empty()) res.notes.push_back("some layouts could not be priced: " + firstError);
    return res;
}

spec::Result<LayoutCost> costProjectLayout(const spec::Project& project, const Catalog& catalog, const PlanOptions& o) {
    auto st = setup(project, catalog, o);
    if (!st) return st.errors();
    const Setup& S = st.value();
    spec::DeploymentSpec d = S.d;
    if (o.globalBatch > 0) d.globalBatch = o.globalBatch;
    auto l = layoutFromDeployment(d, S.shape, S.rc, o.gpus);
    if (!l) return l.errors();
    LayoutCost c;
    c.layout = l.value();
    c.memory = estimateMemory(S.shape, c.layout, *S.rc.gpu, o.inference);
    StepModel model(S.shape, catalog, S.rc, S.loads, S.d.capacityFactor, S.d.dedupTokens, S.epKernel);
    auto step = model.price(c.layout);
    if (!step) return step.errors();
    c.step = std::move(step.value());
    c.notes = S.notes;
    return c;
}

spec::Result<ProjectLayout> projectLayout(const spec::Project& project, const Catalog& catalog, const PlanOptions& o) {
    auto st = setup(project, catalog, o);
    if (!st) return st.errors();
    spec::DeploymentSpec d = st->d;
    if (o.globalBatch > 0) d.globalBatch = o.globalBatch;
    auto l = layoutFromDeployment(d, st->shape, st->rc, o.gpus);
    if (!l) return l.errors();
    return ProjectLayout{std::move(st->shape), std::move(l.value())};
}

}  // namespace moe::cluster
