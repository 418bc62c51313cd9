#include "moe/telemetry/snapshot.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

namespace moe::telemetry {

std::vector<double> BlockSnapshot::loadShare() const {
    std::vector<double> s(tokensPerExpert.size(), 0.0);
    const double total = std::accumulate(tokensPerExpert.begin(), tokensPerExpert.end(), 0.0);
    if (total <= 0) return s;
    for (size_t i = 0; i < s.size(); ++i) s[i] = tokensPerExpert[i] / total;
    return s;
}

double BlockSnapshot::assignments() const {
    return std::accumulate(tokensPerExpert.begin(), tokensPerExpert.end(), 0.0) + static_cast<double>(dropped);
}

namespace {
void addInto(std::vector<double>& a, const std::vector<double>& b) {
    if (a.size() != b.size()) {
        a = b;  // a shape change (cannot happen within one block) restarts the sum
        return;
    }
    for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
}
}  // namespace

std::vector<double> additiveFigures(const BlockSnapshot& b) {
    const double t = static_cast<double>(b.tokens);
    std::vector<double> out{t, static_cast<double>(b.dropped), b.meanTokenEntropy * t};
    out.insert(out.end(), b.tokensPerExpert.begin(), b.tokensPerExpert.end());
    for (double p : b.meanGateProb) out.push_back(p * t);
    for (const auto* v : {&b.tokenEntropyHist, &b.expertsPerTokenHist, &b.classExpert}) out.insert(out.end(), v->begin(), v->end());
    return out;
}

void setAdditiveFigures(BlockSnapshot& b, const std::vector<double>& sum) {
    size_t i = 0;
    const auto next = [&] { return i < sum.size() ? sum[i++] : 0.0; };
    const double t = next();
    b.tokens = static_cast<std::int64_t>(std::llround(t));
    b.dropped = static_cast<std::int64_t>(std::llround(next()));
    const auto mean = [&](double weighted) { return t > 0 ? weighted / t : 0.0; };
    b.meanTokenEntropy = mean(next());
    for (auto& v : b.tokensPerExpert) v = next();
    for (auto& v : b.meanGateProb) v = mean(next());
    for (auto* v : {&b.tokenEntropyHist, &b.expertsPerTokenHist, &b.classExpert})
        for (auto& x : *v) x = next();
}

void accumulate(BlockSnapshot& sum, const BlockSnapshot& next) {
    if (sum.experts == 0 || sum.block != next.block || sum.experts != next.experts) {
        sum = next;
        return;
    }
    const double t0 = static_cast<double>(sum.tokens), t1 = static_cast<double>(next.tokens);
    const double w = t0 + t1 > 0 ? t1 / (t0 + t1) : 0.0;
    if (sum.meanGateProb.size() == next.meanGateProb.size())
        for (size_t i = 0; i < sum.meanGateProb.size(); ++i) sum.meanGateProb[i] += w * (next.meanGateProb[i] - sum.meanGateProb[i]);
    else sum.meanGateProb = next.meanGateProb;
    sum.meanTokenEntropy += w * (next.meanTokenEntropy - sum.meanTokenEntropy);
    addInto(sum.tokensPerExpert, next.tokensPerExpert);
    addInto(sum.tokenEntropyHist, next.tokenEntropyHist);
    addInto(sum.expertsPerTokenHist, next.expertsPerTokenHist);
    if (sum.classes == next.classes) addInto(sum.classExpert, next.classExpert);
    else {
        sum.classes = next.classes;
        sum.classExpert = next.classExpert;
    }
    sum.tokens += next.tokens;
    sum.dropped += next.dropped;
    sum.batches += next.batches;
    sum.ffnExperts = next.ffnExperts;
    sum.similarity = next.similarity;
    sum.routerGradNorm = next.routerGradNorm;
    sum.auxLoss = next.auxLoss;
    sum.zLoss = next.zLoss;
    sum.mapResolution = next.mapResolution;
    sum.routingMap = next.routingMap;
    sum.probeK = next.probeK;
    sum.probeExperts = next.probeExperts;
    sum.probeGates = next.probeGates;
}

double evenRouterCv(double assignments, int experts) {
    if (assignments <= 0 || experts <= 1) return 0.0;
    return std::sqrt((experts - 1.0) / assignments);
}

}  // namespace moe::telemetry

namespace moe::telemetry {

std::string_view toString(AlertKind k) {
    switch (k) {
        case AlertKind::DeadExperts: return "dead_experts";
        case AlertKind::LoadImbalance: return "load_imbalance";
        case AlertKind::LowLoadEntropy: return "low_load_entropy";
        case AlertKind::HighDropRate: return "high_drop_rate";
        case AlertKind::RepresentationCollapse: return "representation_collapse";
        case AlertKind::RouterStarvation: return "router_starvation";
        case AlertKind::Divergence: return "divergence";
    }
    return "?";
}

std::string_view toString(Severity s) {
    switch (s) {
        case Severity::Info: return "info";
        case Severity::Warning: return "warning";
        case Severity::Critical: return "critical";
    }
    return "?";
}

std::vector<LayerTime> sumLayerTimes(const std::vector<LayerTime>& times) {
    std::map<std::pair<int, int>, LayerTime> sums;
    for (const auto& t : times) {
        auto [it, fresh] = sums.try_emplace({t.block, t.rank}, t);
        if (fresh) continue;
        LayerTime& s = it->second;
        s.steps += t.steps;
        s.alltoallSeconds += t.alltoallSeconds;
        s.expertSeconds += t.expertSeconds;
        s.waitSeconds += t.waitSeconds;
        if (s.rowsTo.size() < t.rowsTo.size()) s.rowsTo.resize(t.rowsTo.size(), 0.0);
        for (size_t i = 0; i < t.rowsTo.size(); ++i) s.rowsTo[i] += t.rowsTo[i];
        s.bytesPerRow = std::max(s.bytesPerRow, t.bytesPerRow);
    }
    std::vector<LayerTime> out;
    out.reserve(sums.size());
    for (auto& [key, t] : sums) out.push_back(std::move(t));
    return out;
}

}  // namespace moe::telemetry
