#include "moe/spec/train_memory.h"

#include <algorithm>
#include <fstream>

#include "moe/spec/derived.h"
#include "moe/spec/twin.h"

namespace moe::spec {

TrainingMemory estimateTrainingMemory(const Project& source) {
    const Project project = trainingProject(source);
    const ModelSpec flat = project.model.flattened();
    const ModelFigures f = computeFigures(project.model);
    const TrainingSettings& t = project.training;
    TrainingMemory m;
    m.params = f.params;
    const double p = static_cast<double>(f.params);
    m.weightBytes = 4 * p;
    m.gradientBytes = 4 * p;
    if (t.optimizer == OptimizerKind::Adam || t.optimizer == OptimizerKind::AdamW) m.optimizerBytes = 8 * p;
    else if (t.momentum > 0) m.optimizerBytes = 4 * p;
    const auto& in = project.model.input;
    const double d = std::max(1, project.model.stem.dModel);
    const double tokens = static_cast<double>(t.batch) * in.tokensPerSample();
    m.tokensPerStep = static_cast<long long>(tokens);
    double perToken = 0;
    for (size_t i = 0; i < f.blocks.size() && i < flat.blocks.size(); ++i) {
        perToken += 2 * f.blocks[i].activeParams / d + 6 * d;
        const BlockSpec& b = flat.blocks[i];
        if (b.kind == BlockKind::Attention) {
            const double ctx = averageContext(in.tokensPerSample(), b.attention.causal, b.attention.window);
            perToken += 2.0 * b.attention.heads * ctx;
        }
    }
    // The head: next-token logits per token for text, one row of class logits per sample otherwise.
    const double logits = (in.isText() ? tokens : static_cast<double>(t.batch)) * in.numClasses();
    m.activationBytes = 4 * (tokens * perToken + 2 * logits);
    return m;
}

std::string trainingMemoryBreakdown(const Project& source, const TrainingMemory& m) {
    const TrainingSettings& t = source.training;
    std::string parts = "weights " + humanBytes(m.weightBytes) + " + gradients " + humanBytes(m.gradientBytes);
    if (m.optimizerBytes > 0)
        parts += std::string(t.optimizer == OptimizerKind::Sgd ? " + momentum " : " + Adam states ") + humanBytes(m.optimizerBytes);
    return parts + " + activations " + humanBytes(m.activationBytes) + " for " + std::to_string(t.batch) + " samples (" +
           std::to_string(m.tokensPerStep) + " tokens) per step; " + humanCount(static_cast<double>(m.params)) + " parameters";
}

double availableMemoryBytes() {
    std::ifstream in("/proc/meminfo");
    std::string key, unit;
    double kb = 0;
    while (in >> key >> kb) {
        std::getline(in, unit);
        if (key == "MemAvailable:") return kb * 1024;
    }
    return 0;
}

std::string trainingMemoryRefusal(const Project& project, const TrainingMemory& m, double limitBytes, const std::string& limitWhat) {
    if (limitBytes <= 0 || m.total() <= limitBytes) return {};
    return "training this model needs about " + humanBytes(m.total()) + " (" + trainingMemoryBreakdown(project, m) + "), more than " + limitWhat +
           " (" + humanBytes(limitBytes) + "). Make the model or training.batch smaller, or train a twin (training.twin)";
}

}  // namespace moe::spec
