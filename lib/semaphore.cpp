// Semaphore and BoundedSemaphore: Python's threading.Semaphore over one
// futex word holding the value, plus a count of threads that may be asleep.
//
// acquire: take one with a compare-and-swap while the value is > 0; else
// spin (adaptively, see internal/spin.hpp), then register as a sleeper and
// futex-wait while the value is 0. release: add n with a compare-and-swap
// (checking the bound), then wake at most n sleepers, and only when the
// sleeper count is non-zero. The sleeper increment and the value re-check
// (waiter) and the value update and the sleeper read (releaser) are
// sequentially consistent, so one of the two always sees the other: no lost
// wake-up, and no system call when nobody sleeps.
#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <new>

#include <weft/semaphore.h>

#include "internal/boundary.hpp"
#include "internal/deadline.hpp"
#include "internal/futex.hpp"
#include "internal/handle.hpp"
#include "internal/spin.hpp"

struct weft_semaphore : weft::detail::Handle<weft::detail::Magic::semaphore> {
    std::atomic<std::uint32_t> value{0};     // the futex word
    std::atomic<std::uint32_t> sleepers{0};  // threads past the spin phase
    std::uint32_t max = UINT32_MAX;          // the bound (UINT32_MAX: unbounded)
    bool bounded = false;
    weft::detail::AdaptiveSpin spin;         // how long acquire spins before it sleeps
};

namespace weft::detail {
namespace {

inline bool try_take(weft_semaphore *s, std::memory_order order) noexcept {
    std::uint32_t v = s->value.load(order);
    while (v > 0) {
        if (s->value.compare_exchange_weak(v, v - 1, std::memory_order_seq_cst, order)) return true;
    }
    return false;
}

weft_status acquire_slow(weft_semaphore *s, std::int64_t timeout_ns) noexcept {
    // The fast path's one CAS may lose a race while the value stays > 0; a
    // poll fails only when the value really is 0.
    if (timeout_ns == 0) return try_take(s, std::memory_order_relaxed) ? WEFT_OK : WEFT_ETIMEDOUT;
    if (s->spin.spin([s] {
            return s->value.load(std::memory_order_relaxed) > 0 && try_take(s, std::memory_order_relaxed);
        }))
        return WEFT_OK;
    Deadline d(timeout_ns);
    s->sleepers.fetch_add(1, std::memory_order_seq_cst);
    weft_status result;
    for (;;) {
        if (try_take(s, std::memory_order_seq_cst)) {
            result = WEFT_OK;
            break;
        }
        if (d.expired()) {
            result = WEFT_ETIMEDOUT;
            break;
        }
        (void)futex::wait(&s->value, 0, d.abs());
    }
    s->sleepers.fetch_sub(1, std::memory_order_relaxed);
    return result;
}

}  // namespace
}  // namespace weft::detail

using namespace weft::detail;

extern "C" {

WEFT_API weft_status weft_semaphore_create(weft_semaphore **out, uint32_t value,
                                           const weft_semaphore_options *opts) noexcept {
    if (!out) return null_arg("weft_semaphore_create", "out");
    *out = nullptr;
    if (weft_status s = check_version("weft_semaphore_create", opts, WEFT_SEMAPHORE_OPTIONS_VERSION)) return s;
    std::uint32_t max = opts ? opts->max_value : 0;
    if (max > 0 && value > max)
        return fail(WEFT_EINVAL, "weft_semaphore_create: value %u exceeds opts->max_value %u", value, max);
    weft_semaphore *s = new (std::nothrow) weft_semaphore;
    if (!s) return fail(WEFT_ENOMEM, "weft_semaphore_create: out of memory");
    s->value.store(value, std::memory_order_relaxed);
    s->bounded = max > 0;
    s->max = max > 0 ? max : UINT32_MAX;
    *out = s;
    return WEFT_OK;
}

WEFT_API void weft_semaphore_destroy(weft_semaphore *s) noexcept {
    destroy_handle(s);
}

WEFT_API weft_status weft_semaphore_acquire(weft_semaphore *s, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_semaphore_acquire", s);
    WEFT_CHECK_TIMEOUT("weft_semaphore_acquire", timeout_ns);
    std::uint32_t v = s->value.load(std::memory_order_relaxed);
    if (__builtin_expect(v > 0, 1) &&
        s->value.compare_exchange_strong(v, v - 1, std::memory_order_seq_cst, std::memory_order_relaxed))
        return WEFT_OK;
    return acquire_slow(s, timeout_ns);
}

WEFT_API weft_status weft_semaphore_release(weft_semaphore *s, uint32_t n) noexcept {
    WEFT_CHECK_HANDLE("weft_semaphore_release", s);
    if (n == 0) return fail(WEFT_EINVAL, "weft_semaphore_release: n is 0; release at least 1");
    std::uint32_t v = s->value.load(std::memory_order_relaxed);
    do {
        if (n > s->max - v) {
            if (s->bounded)
                return fail(WEFT_EOVERFLOW,
                            "weft_semaphore_release: releasing %u would raise the value %u above the bound %u",
                            n, v, s->max);
            return fail(WEFT_EOVERFLOW, "weft_semaphore_release: releasing %u would raise the value %u above %u",
                        n, v, s->max);
        }
    } while (!s->value.compare_exchange_weak(v, v + n, std::memory_order_seq_cst, std::memory_order_relaxed));
    std::uint32_t sleeping = s->sleepers.load(std::memory_order_seq_cst);
    if (__builtin_expect(sleeping > 0, 0))
        futex::wake(&s->value, static_cast<int>(std::min<std::uint32_t>({n, sleeping, INT_MAX})));
    return WEFT_OK;
}

WEFT_API int64_t weft_semaphore_value(const weft_semaphore *s) noexcept {
    WEFT_CHECK_HANDLE("weft_semaphore_value", s);
    return static_cast<int64_t>(s->value.load(std::memory_order_relaxed));
}

}  // extern "C"
