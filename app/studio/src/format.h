#pragma once
// Number formatting shared by the views.
#include <QString>

namespace moe::studio {

// 1234567 -> "1.23M", 950 -> "950", 0.25 -> "0.25".
QString humanCount(double v);
// Seconds -> "42 s", "3 min 05 s", "1 h 02 min".
QString humanDuration(double seconds);

}  // namespace moe::studio
