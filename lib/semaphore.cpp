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
//
// Process scope (multiprocessing.Semaphore): the same words (SemState) live
// in a shared segment, the handle points at them and its futexes are
// process-shared; thread scope points at the copy inline in the handle. No
// lock and no pointer in the shared state: a process that dies asleep in
// acquire leaves only a stale sleeper count, which costs later releases a
// futex wake that finds nobody, never a lost wake-up.
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
#include "internal/shm.hpp"
#include "internal/spin.hpp"

namespace weft::detail {

// The semaphore's state; also the payload of a process-scope one
// (shm::Kind::semaphore, layout kSemLayout).
struct SemState {
    std::atomic<std::uint32_t> value{0};     // the futex word
    std::atomic<std::uint32_t> sleepers{0};  // threads past the spin phase
    std::uint32_t max = UINT32_MAX;          // the bound (UINT32_MAX: unbounded)
    std::uint32_t bounded = 0;
};
inline constexpr std::uint32_t kSemLayout = 1;

}  // namespace weft::detail

struct weft_semaphore : weft::detail::Handle<weft::detail::Magic::semaphore> {
    weft::detail::SemState *st = &local;     // `local` or the shared payload
    bool shared = false;                     // process scope: shared futexes
    weft::detail::AdaptiveSpin spin;         // how long acquire spins before it sleeps (per handle)
    weft::detail::SemState local;
    weft::detail::shm::Segment *seg = nullptr;  // process scope: the mapping
};

namespace weft::detail {
namespace {

inline bool try_take(SemState *s, std::memory_order order) noexcept {
    std::uint32_t v = s->value.load(order);
    while (v > 0) {
        if (s->value.compare_exchange_weak(v, v - 1, std::memory_order_seq_cst, order)) return true;
    }
    return false;
}

weft_status acquire_slow(weft_semaphore *h, std::int64_t timeout_ns) noexcept {
    SemState *s = h->st;
    // The fast path's one CAS may lose a race while the value stays > 0; a
    // poll fails only when the value really is 0.
    if (timeout_ns == 0) return try_take(s, std::memory_order_relaxed) ? WEFT_OK : WEFT_ETIMEDOUT;
    if (h->spin.spin([s] {
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
        (void)futex::wait(&s->value, 0, d.abs(), h->shared);
    }
    s->sleepers.fetch_sub(1, std::memory_order_relaxed);
    return result;
}

constexpr shm::Spec sem_spec(const char *func) noexcept {
    return shm::Spec{func, shm::Kind::semaphore, kSemLayout, sizeof(SemState)};
}

template <class Map>
weft_status attach(weft_semaphore *h, Map &&map) noexcept {
    shm::Segment *seg = new (std::nothrow) shm::Segment;
    if (!seg) return fail(WEFT_ENOMEM, "weft_semaphore: out of memory");
    if (weft_status st = map(*seg)) {
        delete seg;
        return st;
    }
    h->seg = seg;
    h->st = static_cast<SemState *>(seg->data());
    h->shared = true;
    return WEFT_OK;
}

}  // namespace
}  // namespace weft::detail

using namespace weft::detail;

extern "C" {

WEFT_API weft_status weft_semaphore_create(weft_semaphore **out, uint32_t value,
                                           const weft_semaphore_options *opts) noexcept {
    if (!out) return null_arg("weft_semaphore_create", "out");
    *out = nullptr;
    constexpr const char *func = "weft_semaphore_create";
    if (weft_status s = check_version_range(func, opts, 1, WEFT_SEMAPHORE_OPTIONS_VERSION)) return s;
    std::uint32_t max = opts ? opts->max_value : 0;
    if (max > 0 && value > max)
        return fail(WEFT_EINVAL, "weft_semaphore_create: value %u exceeds opts->max_value %u", value, max);
    weft_sharing sh = WEFT_SHARING_INIT;
    if (opts && opts->version >= 2) sh = opts->share;
    if (weft_status s = shm::check_sharing(func, sh)) return s;
    weft_semaphore *s = new (std::nothrow) weft_semaphore;
    if (!s) return fail(WEFT_ENOMEM, "weft_semaphore_create: out of memory");
    auto init = [value, max](SemState *st) noexcept {
        st->value.store(value, std::memory_order_relaxed);
        st->bounded = max > 0;
        st->max = max > 0 ? max : UINT32_MAX;
    };
    if (sh.scope == WEFT_SCOPE_PROCESS) {
        weft_status st = attach(s, [&](shm::Segment &seg) noexcept {
            return seg.create_with(sem_spec(func), sh, [&](void *p, std::size_t) noexcept {
                init(new (p) SemState);
                return WEFT_OK;
            });
        });
        if (st != WEFT_OK) {
            delete s;
            return st;
        }
    } else {
        init(s->st);
    }
    *out = s;
    return WEFT_OK;
}

WEFT_API weft_status weft_semaphore_open(weft_semaphore **out, const char *name) noexcept {
    constexpr const char *func = "weft_semaphore_open";
    if (!out) return null_arg(func, "out");
    *out = nullptr;
    if (!name) return null_arg(func, "name");
    weft_semaphore *s = new (std::nothrow) weft_semaphore;
    if (!s) return fail(WEFT_ENOMEM, "weft_semaphore_open: out of memory");
    if (weft_status st = attach(s, [&](shm::Segment &seg) noexcept { return seg.open(sem_spec(func), name); })) {
        delete s;
        return st;
    }
    *out = s;
    return WEFT_OK;
}

WEFT_API void weft_semaphore_destroy(weft_semaphore *s) noexcept {
    if (!valid(s)) return;
    s->poison();
    delete s->seg;
    delete s;
}

WEFT_API weft_status weft_semaphore_acquire(weft_semaphore *s, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_semaphore_acquire", s);
    WEFT_CHECK_TIMEOUT("weft_semaphore_acquire", timeout_ns);
    SemState *st = s->st;
    std::uint32_t v = st->value.load(std::memory_order_relaxed);
    if (__builtin_expect(v > 0, 1) &&
        st->value.compare_exchange_strong(v, v - 1, std::memory_order_seq_cst, std::memory_order_relaxed))
        return WEFT_OK;
    return acquire_slow(s, timeout_ns);
}

WEFT_API weft_status weft_semaphore_release(weft_semaphore *s, uint32_t n) noexcept {
    WEFT_CHECK_HANDLE("weft_semaphore_release", s);
    if (n == 0) return fail(WEFT_EINVAL, "weft_semaphore_release: n is 0; release at least 1");
    SemState *st = s->st;
    std::uint32_t v = st->value.load(std::memory_order_relaxed);
    do {
        if (n > st->max - v) {
            if (st->bounded)
                return fail(WEFT_EOVERFLOW,
                            "weft_semaphore_release: releasing %u would raise the value %u above the bound %u",
                            n, v, st->max);
            return fail(WEFT_EOVERFLOW, "weft_semaphore_release: releasing %u would raise the value %u above %u",
                        n, v, st->max);
        }
    } while (!st->value.compare_exchange_weak(v, v + n, std::memory_order_seq_cst, std::memory_order_relaxed));
    std::uint32_t sleeping = st->sleepers.load(std::memory_order_seq_cst);
    if (__builtin_expect(sleeping > 0, 0))
        futex::wake(&st->value, static_cast<int>(std::min<std::uint32_t>({n, sleeping, INT_MAX})), s->shared);
    return WEFT_OK;
}

WEFT_API int64_t weft_semaphore_value(const weft_semaphore *s) noexcept {
    WEFT_CHECK_HANDLE("weft_semaphore_value", s);
    return static_cast<int64_t>(s->st->value.load(std::memory_order_relaxed));
}

}  // extern "C"
