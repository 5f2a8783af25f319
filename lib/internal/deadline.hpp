// Relative int64 nanosecond timeouts become one monotonic deadline, computed
// at most once (lazily, so the uncontended path never reads the clock);
// every retry after a spurious wake-up or EINTR reuses it.
#pragma once

#include <cstdint>
#include <ctime>

#include <weft/common.h>

#include "error.hpp"

namespace weft::detail {

inline std::int64_t monotonic_now() noexcept {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// Validate a public timeout: 0, WEFT_FOREVER or positive.
inline bool timeout_ok(std::int64_t timeout_ns) noexcept { return timeout_ns >= WEFT_FOREVER; }

[[gnu::cold]] weft_status bad_timeout(const char *func, std::int64_t timeout_ns) noexcept;

// `WEFT_CHECK_TIMEOUT(func, t)`: return WEFT_EINVAL for t < -1.
#define WEFT_CHECK_TIMEOUT(func, t)                                        \
    do {                                                                   \
        if (__builtin_expect(!::weft::detail::timeout_ok(t), 0))           \
            return ::weft::detail::bad_timeout(func, t);                   \
    } while (0)

class Deadline {
public:
    static constexpr std::int64_t kNever = INT64_MAX;

    explicit Deadline(std::int64_t timeout_ns) noexcept : timeout_(timeout_ns) {}

    static Deadline forever() noexcept { return Deadline(WEFT_FOREVER); }
    static Deadline at(std::int64_t abs_ns) noexcept {
        Deadline d(0);
        d.abs_ = abs_ns;
        d.fixed_ = true;
        return d;
    }

    bool infinite() const noexcept { return !fixed_ && timeout_ == WEFT_FOREVER; }
    bool poll() const noexcept { return !fixed_ && timeout_ == 0; }

    // Absolute monotonic deadline in ns (kNever when infinite). Computed once.
    std::int64_t abs() noexcept {
        if (!fixed_) {
            if (timeout_ == WEFT_FOREVER) {
                abs_ = kNever;
            } else {
                std::int64_t now = monotonic_now();
                abs_ = (timeout_ > kNever - now) ? kNever : now + timeout_;
            }
            fixed_ = true;
        }
        return abs_;
    }

    bool expired() noexcept {
        if (infinite()) return false;
        std::int64_t a = abs();
        return a != kNever && monotonic_now() >= a;
    }

    // Nanoseconds left (0 when passed, kNever when infinite).
    std::int64_t remaining() noexcept {
        if (infinite()) return kNever;
        std::int64_t a = abs();
        if (a == kNever) return kNever;
        std::int64_t left = a - monotonic_now();
        return left > 0 ? left : 0;
    }

private:
    std::int64_t timeout_;
    std::int64_t abs_ = 0;
    bool fixed_ = false;
};

}  // namespace weft::detail
