#include "moe/telemetry/snapshot.h"

#include <numeric>

namespace moe::telemetry {

std::vector<double> BlockSnapshot::loadShare() const {
    std::vector<double> s(tokensPerExpert.size(), 0.0);
    const double total = std::accumulate(tokensPerExpert.begin(), tokensPerExpert.end(), 0.0);
    if (total <= 0) return s;
    for (size_t i = 0; i < s.size(); ++i) s[i] = tokensPerExpert[i] / total;
    return s;
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

}  // namespace moe::telemetry
