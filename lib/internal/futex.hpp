// Thin wrappers over the Linux futex: the parking primitive under every
// weft lock, semaphore, event and condition. `shared` selects process-shared
// futexes (for objects in shared memory); thread scope uses the cheaper
// private ones.
#pragma once

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <ctime>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "deadline.hpp"

namespace weft::detail::futex {

inline long sys(void *addr, int op, std::uint32_t val, const struct timespec *ts, std::uint32_t val3) noexcept {
    return syscall(SYS_futex, addr, op, val, ts, nullptr, val3);
}

enum class WaitResult { woken, timed_out, interrupted };

// Sleep while *addr == expected, until woken or the absolute monotonic
// deadline `abs_ns` passes (Deadline::kNever = no deadline). Spurious
// returns are possible: callers re-check their condition in a loop.
inline WaitResult wait(std::atomic<std::uint32_t> *addr, std::uint32_t expected, std::int64_t abs_ns,
                       bool shared = false) noexcept {
    int op = FUTEX_WAIT_BITSET | (shared ? 0 : FUTEX_PRIVATE_FLAG);
    struct timespec ts;
    const struct timespec *tsp = nullptr;
    if (abs_ns != Deadline::kNever) {
        ts.tv_sec = static_cast<time_t>(abs_ns / 1000000000);
        ts.tv_nsec = static_cast<long>(abs_ns % 1000000000);
        tsp = &ts;
    }
    long r = sys(addr, op, expected, tsp, FUTEX_BITSET_MATCH_ANY);
    if (r == 0) return WaitResult::woken;
    if (errno == ETIMEDOUT) return WaitResult::timed_out;
    if (errno == EINTR) return WaitResult::interrupted;
    return WaitResult::woken;  // EAGAIN: value already changed
}

// Wake up to `n` sleepers on addr; returns how many were woken.
inline int wake(std::atomic<std::uint32_t> *addr, int n, bool shared = false) noexcept {
    int op = FUTEX_WAKE | (shared ? 0 : FUTEX_PRIVATE_FLAG);
    long r = sys(addr, op, static_cast<std::uint32_t>(n), nullptr, 0);
    return r < 0 ? 0 : static_cast<int>(r);
}

inline int wake_all(std::atomic<std::uint32_t> *addr, bool shared = false) noexcept {
    return wake(addr, INT_MAX, shared);
}

// A CPU hint for short spin loops.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
}

}  // namespace weft::detail::futex
