// Waits in tests that start real programs are scaled by MOE_TEST_TIME_SCALE: the sanitizer builds
// set it (their programs run several times slower), the normal build leaves it unset (factor 1).
#pragma once

#include <QtGlobal>

// Not under moe::: several tests name their helper that runs the program `moe`.
namespace test_time {

inline int timeScale() {
    bool ok = false;
    const int f = qEnvironmentVariableIntValue("MOE_TEST_TIME_SCALE", &ok);
    return ok && f > 1 ? f : 1;
}

// `ms` milliseconds, scaled.
inline int scaled(int ms) { return ms * timeScale(); }

}  // namespace test_time
