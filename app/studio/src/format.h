#pragma once
// Number formatting shared by the views.
#include <QString>

#include <string_view>

#include "moe/spec/model_spec.h"

namespace moe::studio {

// A UTF-8 name from core (enum names, labels) as a QString.
inline QString qs(std::string_view s) { return QString::fromUtf8(s.data(), static_cast<int>(s.size())); }

// 1234567 -> "1.23M", 950 -> "950", 0.25 -> "0.25".
QString humanCount(double v);
// Memory in binary units, as `moe describe` prints it: 1536 -> "1.50 KiB", 8e9 -> "7.45 GiB".
QString humanBytes(double bytes);
// A router kind in the words the studio and dashboards use ("top-k", "expert choice", ...); the
// project file keeps its own names ("topk", "expert_choice").
QString routerKindName(moe::spec::RouterKind k);
// Seconds -> "42 s", "3 min 05 s", "1 h 02 min".
QString humanDuration(double seconds);

}  // namespace moe::studio
