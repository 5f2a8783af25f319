// Event: Python's threading.Event over one futex word.
//
// Word layout: bit 0 SET (the flag), bit 1 WAITERS (a thread may be asleep on
// the futex; set must wake), bits 2..31 a generation that every set bumps.
// A waiter returns when it sees SET, or a generation other than the one it
// started with: then the event was set while it waited (Python returns True
// in that case even if the event was cleared again before the waiter ran).
//
// is_set and a wait on a set event are one load; set on a set event is one
// load; set and clear are one atomic instruction otherwise, and set makes a
// system call only when WAITERS is on. A wait on a clear event spins
// adaptively (internal/spin.hpp) before it sets WAITERS and sleeps.
#include <atomic>
#include <cstdint>
#include <new>

#include <weft/event.h>

#include "internal/boundary.hpp"
#include "internal/deadline.hpp"
#include "internal/futex.hpp"
#include "internal/handle.hpp"
#include "internal/spin.hpp"

struct weft_event : weft::detail::Handle<weft::detail::Magic::event> {
    static constexpr std::uint32_t SET = 1, WAITERS = 2, GEN = 4;
    std::atomic<std::uint32_t> word{0};
    weft::detail::AdaptiveSpin spin;  // how long wait spins before it sleeps
};

namespace weft::detail {
namespace {

inline bool fired(std::uint32_t s, std::uint32_t start) noexcept {
    return (s & weft_event::SET) || (s >> 2) != (start >> 2);
}

weft_status wait_slow(weft_event *e, std::uint32_t start, std::int64_t timeout_ns) noexcept {
    if (timeout_ns == 0) return WEFT_ETIMEDOUT;
    // Catches a set from a running thread without a system call on either
    // side (internal/spin.hpp).
    if (e->spin.spin([e, start] { return fired(e->word.load(std::memory_order_acquire), start); }))
        return WEFT_OK;
    Deadline d(timeout_ns);
    std::uint32_t s = e->word.load(std::memory_order_acquire);
    for (;;) {
        if (fired(s, start)) return WEFT_OK;
        if (!(s & weft_event::WAITERS)) {
            if (!e->word.compare_exchange_weak(s, s | weft_event::WAITERS, std::memory_order_acquire,
                                               std::memory_order_acquire))
                continue;
            s |= weft_event::WAITERS;
        }
        if (d.expired()) return WEFT_ETIMEDOUT;
        (void)futex::wait(&e->word, s, d.abs());
        s = e->word.load(std::memory_order_acquire);
    }
}

}  // namespace
}  // namespace weft::detail

using namespace weft::detail;

extern "C" {

WEFT_API weft_status weft_event_create(weft_event **out, const weft_event_options *opts) noexcept {
    if (!out) return null_arg("weft_event_create", "out");
    *out = nullptr;
    if (weft_status s = check_version("weft_event_create", opts, WEFT_EVENT_OPTIONS_VERSION)) return s;
    if (opts && opts->flags != 0)
        return fail(WEFT_EINVAL, "weft_event_create: opts->flags is %#x; no flags are defined", opts->flags);
    weft_event *e = new (std::nothrow) weft_event;
    if (!e) return fail(WEFT_ENOMEM, "weft_event_create: out of memory");
    *out = e;
    return WEFT_OK;
}

WEFT_API void weft_event_destroy(weft_event *e) noexcept {
    destroy_handle(e);
}

WEFT_API weft_status weft_event_set(weft_event *e) noexcept {
    WEFT_CHECK_HANDLE("weft_event_set", e);
    // Acquire loads: setting a set event still orders the caller after the
    // set that raised the flag.
    std::uint32_t s = e->word.load(std::memory_order_acquire);
    for (;;) {
        if (s & weft_event::SET) return WEFT_OK;
        std::uint32_t want = ((s & ~weft_event::WAITERS) + weft_event::GEN) | weft_event::SET;
        if (e->word.compare_exchange_weak(s, want, std::memory_order_acq_rel, std::memory_order_acquire)) break;
    }
    if (s & weft_event::WAITERS) futex::wake_all(&e->word);
    return WEFT_OK;
}

WEFT_API weft_status weft_event_clear(weft_event *e) noexcept {
    WEFT_CHECK_HANDLE("weft_event_clear", e);
    e->word.fetch_and(~weft_event::SET, std::memory_order_acq_rel);
    return WEFT_OK;
}

WEFT_API int weft_event_is_set(const weft_event *e) noexcept {
    WEFT_CHECK_HANDLE("weft_event_is_set", e);
    return (e->word.load(std::memory_order_acquire) & weft_event::SET) ? 1 : 0;
}

WEFT_API weft_status weft_event_wait(weft_event *e, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_event_wait", e);
    WEFT_CHECK_TIMEOUT("weft_event_wait", timeout_ns);
    std::uint32_t s = e->word.load(std::memory_order_acquire);
    if (__builtin_expect(s & weft_event::SET, 1)) return WEFT_OK;
    return wait_slow(e, s, timeout_ns);
}

}  // extern "C"
