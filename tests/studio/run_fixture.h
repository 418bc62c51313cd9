#pragma once
// Run stores written for the studio tests: `n` snapshots of `project`, each filled by `fill`.
#include <QFileInfo>
#include <QString>

#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "moe/spec/project_io.h"
#include "moe/telemetry/run_store.h"

namespace moe::studio::testing {

inline QString writeRunStore(const QString& path, const moe::spec::Project& project, int n,
                             const std::function<void(int i, moe::telemetry::RoutingSnapshot&)>& fill) {
    namespace tel = moe::telemetry;
    tel::RunInfo info;
    info.runId = QFileInfo(path).completeBaseName().toStdString();
    info.projectJson = moe::spec::serializeProject(project);
    info.startedAt = tel::utcNowIso();
    info.status = "running";
    auto w = tel::RunWriter::create(path.toStdString(), info);
    if (!w.ok()) qFatal("%s", w.message().c_str());
    for (int i = 1; i <= n; ++i) {
        auto s = std::make_shared<tel::RoutingSnapshot>();
        fill(i, *s);
        w.value()->append(s);
    }
    w.value()->finish("finished");
    return path;
}

// One block's routing: `tokens` per FFN expert, even gate probabilities.
inline moe::telemetry::BlockSnapshot blockLoad(int block, std::vector<double> tokens) {
    moe::telemetry::BlockSnapshot b;
    b.block = block;
    b.experts = b.ffnExperts = static_cast<int>(tokens.size());
    double sum = 0;
    for (double t : tokens) sum += t;
    b.tokens = std::llround(sum);
    b.tokensPerExpert = std::move(tokens);
    b.meanGateProb.assign(b.tokensPerExpert.size(), 1.0 / static_cast<double>(b.tokensPerExpert.size()));
    return b;
}

}  // namespace moe::studio::testing
