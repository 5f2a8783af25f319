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
//
// Process scope (multiprocessing.Event): the word lives in a shared segment
// and the handle points at it (thread scope: at the word inline in the
// handle); its futex is process-shared. A process that dies asleep in wait
// leaves at most a WAITERS bit, which costs the next set one futex wake.
#include <atomic>
#include <cstdint>
#include <new>

#include <weft/event.h>

#include "internal/boundary.hpp"
#include "internal/deadline.hpp"
#include "internal/futex.hpp"
#include "internal/handle.hpp"
#include "internal/shm.hpp"
#include "internal/spin.hpp"

struct weft_event : weft::detail::Handle<weft::detail::Magic::event> {
    static constexpr std::uint32_t SET = 1, WAITERS = 2, GEN = 4;
    std::atomic<std::uint32_t> *w = &local;  // the word: `local`, or in the shared payload
    bool shared = false;                     // process scope: shared futex
    weft::detail::AdaptiveSpin spin;         // how long wait spins before it sleeps (per handle)
    std::atomic<std::uint32_t> local{0};
    weft::detail::shm::Segment *seg = nullptr;  // process scope: the mapping
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
    std::atomic<std::uint32_t> *w = e->w;
    if (e->spin.spin([w, start] { return fired(w->load(std::memory_order_acquire), start); }))
        return WEFT_OK;
    Deadline d(timeout_ns);
    std::uint32_t s = w->load(std::memory_order_acquire);
    for (;;) {
        if (fired(s, start)) return WEFT_OK;
        if (!(s & weft_event::WAITERS)) {
            if (!w->compare_exchange_weak(s, s | weft_event::WAITERS, std::memory_order_acquire,
                                          std::memory_order_acquire))
                continue;
            s |= weft_event::WAITERS;
        }
        if (d.expired()) return WEFT_ETIMEDOUT;
        (void)futex::wait(w, s, d.abs(), e->shared);
        s = w->load(std::memory_order_acquire);
    }
}

// The payload of a process-scope event (shm::Kind::event).
struct EventPayload {
    std::atomic<std::uint32_t> word;
};
constexpr std::uint32_t kEventLayout = 1;

constexpr shm::Spec event_spec(const char *func) noexcept {
    return shm::Spec{func, shm::Kind::event, kEventLayout, sizeof(EventPayload)};
}

template <class Map>
weft_status attach(weft_event *e, Map &&map) noexcept {
    shm::Segment *seg = new (std::nothrow) shm::Segment;
    if (!seg) return fail(WEFT_ENOMEM, "weft_event: out of memory");
    if (weft_status st = map(*seg)) {
        delete seg;
        return st;
    }
    e->seg = seg;
    e->w = &static_cast<EventPayload *>(seg->data())->word;
    e->shared = true;
    return WEFT_OK;
}

}  // namespace
}  // namespace weft::detail

using namespace weft::detail;

extern "C" {

WEFT_API weft_status weft_event_create(weft_event **out, const weft_event_options *opts) noexcept {
    if (!out) return null_arg("weft_event_create", "out");
    *out = nullptr;
    constexpr const char *func = "weft_event_create";
    if (weft_status s = check_version_range(func, opts, 1, WEFT_EVENT_OPTIONS_VERSION)) return s;
    if (opts && opts->flags != 0)
        return fail(WEFT_EINVAL, "weft_event_create: opts->flags is %#x; no flags are defined", opts->flags);
    weft_sharing sh = WEFT_SHARING_INIT;
    if (opts && opts->version >= 2) sh = opts->share;
    if (weft_status s = shm::check_sharing(func, sh)) return s;
    weft_event *e = new (std::nothrow) weft_event;
    if (!e) return fail(WEFT_ENOMEM, "weft_event_create: out of memory");
    if (sh.scope == WEFT_SCOPE_PROCESS) {
        weft_status st = attach(e, [&](shm::Segment &seg) noexcept {
            return seg.create_with(event_spec(func), sh, [](void *p, std::size_t) noexcept {
                new (p) EventPayload{{0}};
                return WEFT_OK;
            });
        });
        if (st != WEFT_OK) {
            delete e;
            return st;
        }
    }
    *out = e;
    return WEFT_OK;
}

WEFT_API weft_status weft_event_open(weft_event **out, const char *name) noexcept {
    constexpr const char *func = "weft_event_open";
    if (!out) return null_arg(func, "out");
    *out = nullptr;
    if (!name) return null_arg(func, "name");
    weft_event *e = new (std::nothrow) weft_event;
    if (!e) return fail(WEFT_ENOMEM, "weft_event_open: out of memory");
    if (weft_status st = attach(e, [&](shm::Segment &seg) noexcept { return seg.open(event_spec(func), name); })) {
        delete e;
        return st;
    }
    *out = e;
    return WEFT_OK;
}

WEFT_API void weft_event_destroy(weft_event *e) noexcept {
    if (!valid(e)) return;
    e->poison();
    delete e->seg;
    delete e;
}

WEFT_API weft_status weft_event_set(weft_event *e) noexcept {
    WEFT_CHECK_HANDLE("weft_event_set", e);
    // Acquire loads: setting a set event still orders the caller after the
    // set that raised the flag.
    std::atomic<std::uint32_t> *w = e->w;
    std::uint32_t s = w->load(std::memory_order_acquire);
    for (;;) {
        if (s & weft_event::SET) return WEFT_OK;
        std::uint32_t want = ((s & ~weft_event::WAITERS) + weft_event::GEN) | weft_event::SET;
        if (w->compare_exchange_weak(s, want, std::memory_order_acq_rel, std::memory_order_acquire)) break;
    }
    if (s & weft_event::WAITERS) futex::wake_all(w, e->shared);
    return WEFT_OK;
}

WEFT_API weft_status weft_event_clear(weft_event *e) noexcept {
    WEFT_CHECK_HANDLE("weft_event_clear", e);
    e->w->fetch_and(~weft_event::SET, std::memory_order_acq_rel);
    return WEFT_OK;
}

WEFT_API int weft_event_is_set(const weft_event *e) noexcept {
    WEFT_CHECK_HANDLE("weft_event_is_set", e);
    return (e->w->load(std::memory_order_acquire) & weft_event::SET) ? 1 : 0;
}

WEFT_API weft_status weft_event_wait(weft_event *e, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_event_wait", e);
    WEFT_CHECK_TIMEOUT("weft_event_wait", timeout_ns);
    std::uint32_t s = e->w->load(std::memory_order_acquire);
    if (__builtin_expect(s & weft_event::SET, 1)) return WEFT_OK;
    return wait_slow(e, s, timeout_ns);
}

}  // extern "C"
