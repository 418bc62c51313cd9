#pragma once
// Hand-overs between threads through locks ThreadSanitizer cannot see.
//
// Debian's Qt is not instrumented, so when work is posted to Qt's thread pool or a result is
// posted back through Qt's event queue, the locks that order the two threads are invisible to
// ThreadSanitizer and everything handed over looks like a race. handOver() just before posting
// and takeOver() first thing in what was posted tell it what those locks already ensure: the
// poster's writes come before the receiver's reads. Both do nothing outside ThreadSanitizer
// builds. Never a substitute for a lock of our own: only for hand-overs Qt already orders.

#if defined(__SANITIZE_THREAD__)
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

namespace moe::spec {

namespace detail {
inline char g_handOverToken;  // one synchronisation point for every hand-over
}  // namespace detail

inline void handOver() {
#if defined(__SANITIZE_THREAD__)
    __tsan_release(&detail::g_handOverToken);
#endif
}

inline void takeOver() {
#if defined(__SANITIZE_THREAD__)
    __tsan_acquire(&detail::g_handOverToken);
#endif
}

}  // namespace moe::spec
