#pragma once
// Capacity schedules: pure functions (L, min, max[, period]) -> per-layer counts, used to spread
// experts (and, separately, k) across the depth of a network. Formulas are in the README.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "moe/spec/names.h"

namespace moe::spec {

enum class ScheduleKind { Uniform, Descending, Ascending, Pyramid, Hourglass, Wave, Explicit };

std::string_view toString(ScheduleKind v);

struct Schedule {
    ScheduleKind kind = ScheduleKind::Uniform;
    int min = 1;
    int max = 1;
    int period = 4;             // wave only: layers per full cycle (>= 2)
    std::vector<int> values;    // explicit only: one count per layer

    // Per-layer counts for L layers. Explicit lists must have exactly L values (see validate).
    std::vector<int> counts(int layers) const;
};

// The six formula kinds (not Explicit), in display order.
const std::vector<ScheduleKind>& formulaScheduleKinds();

// The pure functions themselves. Preconditions (checked by validation, asserted here):
// layers >= 1, 1 <= min <= max, period >= 2.
std::vector<int> scheduleCounts(ScheduleKind kind, int layers, int min, int max, int period = 4);

// Checks a schedule for L layers; returns an empty string when valid, or what is wrong.
std::string checkSchedule(const Schedule& s, int layers);

}  // namespace moe::spec
