// The monotonic clock and sleeping.
#include <cerrno>
#include <ctime>

#include <weft/clock.h>

#include "internal/deadline.hpp"

extern "C" {

WEFT_API int64_t weft_monotonic_ns(void) noexcept { return weft::detail::monotonic_now(); }

WEFT_API weft_status weft_sleep_ns(int64_t duration_ns) noexcept {
    if (duration_ns < 0)
        return weft::detail::fail(WEFT_EINVAL, "weft_sleep_ns: duration_ns is %lld; must be >= 0",
                                  static_cast<long long>(duration_ns));
    // Sleep to an absolute monotonic deadline so signals never stretch it.
    std::int64_t abs = weft::detail::monotonic_now() + duration_ns;
    struct timespec ts = {static_cast<time_t>(abs / 1000000000), static_cast<long>(abs % 1000000000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
    return WEFT_OK;
}

}  // extern "C"
