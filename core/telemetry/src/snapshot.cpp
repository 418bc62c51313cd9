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
