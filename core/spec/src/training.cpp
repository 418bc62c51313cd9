#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

#include "moe/spec/project.h"

namespace moe::spec {

std::string checkDeviceName(const std::string& name, int& index) {
    index = -1;
    if (name == "auto" || name == "cpu" || name == "cuda") return {};
    const std::string why = "\"" + name + "\" is not a device; expected \"auto\", \"cpu\", \"cuda\" or \"cuda:N\" (N a GPU number from 0)";
    if (name.rfind("cuda:", 0) != 0 || name.size() == 5 || name.size() > 9) return why;
    int n = 0;
    for (size_t i = 5; i < name.size(); ++i) {
        if (name[i] < '0' || name[i] > '9') return why;
        n = n * 10 + (name[i] - '0');
    }
    index = n;
    return {};
}

double learningRateAt(const TrainingSettings& t, double baseRate, std::int64_t step, std::int64_t totalSteps) {
    double f = 1.0;
    if (t.warmupSteps > 0 && step < t.warmupSteps) f = static_cast<double>(step + 1) / static_cast<double>(t.warmupSteps);
    if (t.lrSchedule == LrSchedule::Cosine && totalSteps > 0) {
        // The cosine runs over the steps after the warm-up and reaches zero after the last one.
        const double span = static_cast<double>(std::max<std::int64_t>(1, totalSteps - t.warmupSteps));
        const double done = std::clamp(static_cast<double>(step - t.warmupSteps), 0.0, span);
        f *= 0.5 * (1.0 + std::cos(std::numbers::pi * done / span));
    }
    return baseRate * f;
}

}  // namespace moe::spec
