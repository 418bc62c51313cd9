#include <algorithm>
#include <cmath>
#include <numbers>

#include "moe/spec/project.h"

namespace moe::spec {

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
