#pragma once
// Both programs train with LibTorch, whose OpenMP worker threads by default spin (busy-wait)
// between parallel regions. Where cores are few, or shared with a UI thread, the spinning takes
// the time the working threads need: on a 2-core machine `moe bench layer` ran about twice as
// fast, and a Fashion-MNIST epoch 2.4 times as fast, with passive waiting. libgomp reads
// OMP_WAIT_POLICY only when it is loaded, before main(), so the program sets the variable and
// restarts itself once. A policy the user set is kept.

#include <cstdlib>

#ifdef __linux__
#include <unistd.h>
#endif

namespace moe::app {

inline void preferPassiveOpenMpWaiting(char** argv) {
#ifdef __linux__
    if (std::getenv("OMP_WAIT_POLICY")) return;
    if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
    execv("/proc/self/exe", argv);  // returns only when it fails; then go on as started
#else
    (void)argv;
#endif
}

}  // namespace moe::app
