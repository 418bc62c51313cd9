#include "moe/spec/validate.h"

#include <string>

namespace moe::spec {
namespace {

std::string n(int v) { return std::to_string(v); }

}  // namespace

Diagnostics validateModel(const ModelSpec& m, const std::string& prefix) {
    Diagnostics out;
    auto err = [&](const std::string& path, const std::string& msg) {
        out.push_back({path.empty() ? prefix : prefix + "." + path, msg});
    };
    if (m.input.tokens == TokenMode::Patches && (m.input.patch < 1 || 28 % m.input.patch != 0))
        err("input.patch", "a patch of " + n(m.input.patch) + " pixels does not tile a 28x28 image; use 1, 2, 4, 7, 14 or 28");
    if (m.blocks.empty()) err("blocks", "a model needs at least one block");

    const int moeCount = m.moeBlockCount();
    if (m.expertSchedule) {
        if (auto e = checkSchedule(*m.expertSchedule, moeCount); !e.empty()) err("schedule.experts", e);
    }
    if (m.kSchedule) {
        if (auto e = checkSchedule(*m.kSchedule, moeCount); !e.empty()) err("schedule.k", e);
    }
    if ((m.expertSchedule || m.kSchedule) && moeCount == 0)
        err("schedule", "there are no moe blocks for the schedule to spread experts over");

    for (int i = 0; i < static_cast<int>(m.blocks.size()); ++i) {
        const BlockSpec& b = m.blocks[static_cast<size_t>(i)];
        const std::string bp = "blocks[" + n(i) + "]";
        if (b.kind != BlockKind::Moe) continue;
        if (!b.experts && !m.expertSchedule) {
            err(bp, "this moe block has no expert count: set \"experts\" here or a model \"schedule\" with \"experts\"");
            continue;
        }
        const int experts = m.expertsOf(i);
        const int routed = m.routedExpertsOf(i);
        const std::string ofBlock = " expert" + std::string(routed == 1 ? "" : "s") + " of this block";
        const RouterSpec& r = b.router;
        if (r.kind != RouterKind::ExpertChoice && r.kind != RouterKind::Dynamic) {
            const int k = m.kOf(i);
            const std::string where = r.k ? bp + ".router.k" : "schedule.k";
            if (k > routed)
                err(where, n(k) + " exceeds the " + n(routed) + ofBlock + " (k must be 1 to " + n(routed) + ")");
        }
        if (r.kind == RouterKind::Dynamic) {
            if (r.minExperts > r.maxExperts)
                err(bp + ".router.min_experts", n(r.minExperts) + " is above max_experts (" + n(r.maxExperts) + ")");
            if (r.maxExperts > routed)
                err(bp + ".router.max_experts", n(r.maxExperts) + " exceeds the " + n(routed) + ofBlock);
        }
        if (r.kind == RouterKind::ExpertChoice && b.zeroExperts.total() > 0)
            err(bp + ".zero_experts", "expert_choice routing picks tokens per expert; zero-computation experts need a token-choice router (topk, dynamic, unified, hash, sinkhorn or sigmoid_bias)");
        if (r.kind == RouterKind::SigmoidBias && b.losses.aux > 0)
            err(bp + ".losses.aux", "sigmoid_bias balances with its bias instead of an aux loss; set aux to 0 (or pick another router)");
        (void)experts;
    }
    return out;
}

Diagnostics validateTraining(const TrainingSettings& t, const std::string& prefix) {
    Diagnostics out;
    if (t.epochs && t.steps) out.push_back({prefix, "give either \"epochs\" or \"steps\", not both"});
    if (!t.epochs && !t.steps) out.push_back({prefix, "give how long to train: \"epochs\" or \"steps\""});
    return out;
}

Diagnostics validateProject(const Project& p) {
    Diagnostics out = validateModel(p.model);
    Diagnostics t = validateTraining(p.training);
    out.insert(out.end(), t.begin(), t.end());
    if (p.model.input.dataset != DatasetKind::FashionMnist && p.training.batch > p.training.trainSamples)
        out.push_back({"training.batch", "a batch of " + n(p.training.batch) + " is larger than the " +
                                             n(p.training.trainSamples) + " training samples"});
    if (p.deployment) {
        const DeploymentSpec& d = *p.deployment;
        if (d.denseLayers > 0 && d.layers > 0 && d.denseLayers >= d.layers)
            out.push_back({"deployment.model.dense_layers", n(d.denseLayers) + " dense layers leave no moe layers out of " + n(d.layers)});
        if (d.k > 0 && d.experts > 0 && d.k > d.experts)
            out.push_back({"deployment.model.k", n(d.k) + " exceeds the " + n(d.experts) + " experts of the deployment"});
    }
    return out;
}

}  // namespace moe::spec
