#include "moe/spec/schedule.h"

#include <cassert>
#include <cmath>
#include <numbers>

#include "moe/spec/model_spec.h"

namespace moe::spec {
namespace {

// round(num / den) for non-negative num and positive den, halves rounding up; integer-only so
// symmetric schedules stay exactly symmetric.
int roundDiv(long long num, long long den) { return static_cast<int>((2 * num + den) / (2 * den)); }

}  // namespace

const std::vector<ScheduleKind>& formulaScheduleKinds() {
    static const std::vector<ScheduleKind> kinds = {
        ScheduleKind::Uniform,  ScheduleKind::Descending, ScheduleKind::Ascending,
        ScheduleKind::Pyramid,  ScheduleKind::Hourglass,  ScheduleKind::Wave};
    return kinds;
}

std::vector<int> scheduleCounts(ScheduleKind kind, int layers, int min, int max, int period) {
    assert(layers >= 1 && min >= 1 && min <= max && period >= 2);
    std::vector<int> out(static_cast<size_t>(layers));
    const long long span = max - min;
    const long long last = layers - 1;  // t_i = i / (L - 1)
    for (int i = 0; i < layers; ++i) {
        // distance to the nearer end, scaled so the middle is 1: u_i = 2 min(i, L-1-i) / (L-1)
        const long long near = std::min<long long>(i, last - i);
        int v = max;
        switch (kind) {
            case ScheduleKind::Uniform: v = max; break;
            // mirror image of ascending, so descending == reversed ascending exactly
            case ScheduleKind::Descending: v = last == 0 ? max : min + roundDiv(span * (last - i), last); break;
            case ScheduleKind::Ascending: v = last == 0 ? min : min + roundDiv(span * i, last); break;
            case ScheduleKind::Pyramid: v = last == 0 ? max : min + std::min<int>(span, roundDiv(span * 2 * near, last)); break;
            case ScheduleKind::Hourglass: v = last == 0 ? min : max - std::min<int>(span, roundDiv(span * 2 * near, last)); break;
            case ScheduleKind::Wave: {
                const double phase = 2.0 * std::numbers::pi * static_cast<double>(i % period) / period;
                v = min + static_cast<int>(std::floor(static_cast<double>(span) * (1.0 + std::cos(phase)) / 2.0 + 0.5));
                break;
            }
            case ScheduleKind::Explicit: assert(false && "explicit schedules have no formula"); break;
        }
        out[static_cast<size_t>(i)] = v;
    }
    return out;
}

std::vector<int> Schedule::counts(int layers) const {
    if (kind == ScheduleKind::Explicit) {
        std::vector<int> out(static_cast<size_t>(std::max(layers, 0)), values.empty() ? 1 : values.back());
        for (size_t i = 0; i < out.size() && i < values.size(); ++i) out[i] = values[i];
        return out;
    }
    return scheduleCounts(kind, layers, min, max, period);
}

std::string checkSchedule(const Schedule& s, int layers) {
    if (s.kind == ScheduleKind::Explicit) {
        if (static_cast<int>(s.values.size()) != layers)
            return "the explicit list has " + std::to_string(s.values.size()) + " values but there are " +
                   std::to_string(layers) + " MoE blocks; give one value per MoE block";
        for (size_t i = 0; i < s.values.size(); ++i)
            if (s.values[i] < 1) return "values[" + std::to_string(i) + "] is " + std::to_string(s.values[i]) + "; counts must be at least 1";
        return {};
    }
    if (s.min < 1) return "min is " + std::to_string(s.min) + "; it must be at least 1";
    if (s.max < s.min) return "max (" + std::to_string(s.max) + ") is below min (" + std::to_string(s.min) + ")";
    if (s.kind == ScheduleKind::Wave && s.period < 2) return "period is " + std::to_string(s.period) + "; a wave needs at least 2";
    return {};
}

}  // namespace moe::spec
