// Lock: Python's threading.Lock over a one-word futex lock (thread scope),
// and multiprocessing.Lock over a robust process-shared mutex in a shared
// segment (process scope; see internal/lock.hpp).
#include <cerrno>
#include <new>

#include <weft/lock.h>

#include "internal/boundary.hpp"
#include "internal/lock.hpp"

namespace weft::detail {

// The error detail of a process-scope acquire that neither took the mutex
// cleanly nor timed out.
[[gnu::cold, gnu::noinline]] weft_status robust_acquire_failed(const char *func, const void *handle,
                                                               weft_status st) noexcept {
    switch (st) {
    case WEFT_EOWNERDEAD:
        return fail(WEFT_EOWNERDEAD,
                    "%s: acquired %p from a holder that died; repair what it protects, then mark it consistent",
                    func, handle);
    case WEFT_ENOTRECOVERABLE:
        return fail(WEFT_ENOTRECOVERABLE,
                    "%s: %p is not recoverable: a holder died and the next one released it without marking it "
                    "consistent",
                    func, handle);
    case WEFT_EDEADLK:
        return fail(WEFT_EDEADLK, "%s: the calling thread already holds %p", func, handle);
    default:
        return fail(st, "%s: the process-shared mutex of %p failed", func, handle);
    }
}

weft_status robust_acquire(const char *func, const void *handle, RobustMutex &m, Deadline &d) noexcept {
    // One inline compare-and-swap when it is free; otherwise glibc
    // (RobustMutex::lock).
    weft_status st = m.lock(d);
    if (__builtin_expect(st == WEFT_OK || st == WEFT_ETIMEDOUT, 1)) return st;
    return robust_acquire_failed(func, handle, st);
}

// Why the caller may not release it: nobody holds it, or another thread does.
[[gnu::cold, gnu::noinline]] weft_status release_refused(const char *func, const void *handle,
                                                         const RobustMutex &m) noexcept {
    pid_t holder = holder_tid(m);
    if (holder == 0) return fail(WEFT_ESTATE, "%s: %p is not held", func, handle);
    return fail(WEFT_EPERM, "%s: %p is held by thread %d, not by the caller (thread %d)", func, handle,
                static_cast<int>(holder), static_cast<int>(current_tid()));
}

weft_status robust_release(const char *func, const void *handle, RobustMutex &m) noexcept {
    // The inline unlock gives back a mutex the caller holds in the normal
    // state; anything else goes to glibc, which refuses a non-holder with
    // EPERM by itself. Under TSan the holder is checked first: TSan rightly
    // flags an unlock call by a non-holder.
    if (__builtin_expect(m.unlock_inline(), 1)) return WEFT_OK;
#ifdef WEFT_ROBUST_TSAN
    if (__builtin_expect(holder_tid(m) != current_tid(), 0)) return release_refused(func, handle, m);
#endif
    int r = pthread_mutex_unlock(&m.m);
    if (__builtin_expect(r == 0, 1)) return WEFT_OK;
    if (r == EPERM) return release_refused(func, handle, m);
    return fail(WEFT_ESYS, "%s: cannot release %p", func, handle);
}

weft_status robust_mark_consistent(const char *func, const void *handle, RobustMutex &m) noexcept {
    if (!held_by_caller(m))
        return fail(WEFT_ESTATE, "%s: the caller does not hold %p (mark it consistent while holding it)", func,
                    handle);
    if (m.make_consistent() != WEFT_OK)
        return fail(WEFT_ESTATE, "%s: %p is not in the owner-died state", func, handle);
    return WEFT_OK;
}

weft_lock *make_borrowed_lock(RobustMutex *m) noexcept {
    weft_lock *l = new (std::nothrow) weft_lock;
    if (l) l->robust = m;
    return l;
}

namespace {

constexpr shm::Spec lock_spec(const char *func) noexcept {
    return shm::Spec{func, shm::Kind::lock, kLockLayout, sizeof(LockPayload)};
}

// Map (create or open) the segment of a process-scope lock into `l`.
template <class Map>
weft_status attach(weft_lock *l, Map &&map) noexcept {
    shm::Segment *seg = new (std::nothrow) shm::Segment;
    if (!seg) return WEFT_ENOMEM;
    if (weft_status st = map(*seg)) {
        delete seg;
        return st;
    }
    l->seg = seg;
    l->robust = &static_cast<LockPayload *>(seg->data())->m;
    return WEFT_OK;
}

// The process-scope acquire after its inline attempt failed: glibc's wait.
[[gnu::noinline]] weft_status acquire_process_contended(weft_lock *lock, std::int64_t timeout_ns) noexcept {
    Deadline d(timeout_ns);
    weft_status st = lock->robust->lock_contended(d);
    if (__builtin_expect(st == WEFT_OK || st == WEFT_ETIMEDOUT, 1)) return st;
    return robust_acquire_failed("weft_lock_acquire", lock, st);
}

// Process scope, reached by a tail call: its inline robust-list code stays out
// of weft_lock_acquire/release, whose thread-scope path then saves no extra
// registers (inlined there it cost the thread-scope W1 pair 1.5 ns).
[[gnu::noinline]] weft_status acquire_process(weft_lock *lock, std::int64_t timeout_ns) noexcept {
    if (__builtin_expect(lock->robust->try_lock_inline(), 1)) return WEFT_OK;
    return acquire_process_contended(lock, timeout_ns);
}

[[gnu::noinline]] weft_status release_process(weft_lock *lock) noexcept {
    if (__builtin_expect(lock->robust->unlock_inline(), 1)) return WEFT_OK;
    return robust_release("weft_lock_release", lock, *lock->robust);
}

}  // namespace
}  // namespace weft::detail

using namespace weft::detail;

extern "C" {

WEFT_API weft_status weft_lock_create(weft_lock **out, const weft_lock_options *opts) noexcept {
    constexpr const char *func = "weft_lock_create";
    if (!out) return null_arg(func, "out");
    *out = nullptr;
    if (weft_status s = check_version_range(func, opts, 1, WEFT_LOCK_OPTIONS_VERSION)) return s;
    if (opts && opts->flags != 0)
        return fail(WEFT_EINVAL, "weft_lock_create: opts->flags is %#x; no flags are defined", opts->flags);
    weft_sharing sh = WEFT_SHARING_INIT;
    if (opts && opts->version >= 2) sh = opts->share;
    if (weft_status s = shm::check_sharing(func, sh)) return s;
    weft_lock *l = new (std::nothrow) weft_lock;
    if (!l) return fail(WEFT_ENOMEM, "weft_lock_create: out of memory");
    if (sh.scope == WEFT_SCOPE_PROCESS) {
        weft_status st = attach(l, [&](shm::Segment &seg) noexcept {
            return seg.create_with(lock_spec(func), sh, [](void *p, std::size_t) noexcept {
                return init_robust("weft_lock_create", static_cast<LockPayload *>(p)->m);
            });
        });
        if (st != WEFT_OK) {
            delete l;
            return st == WEFT_ENOMEM ? fail(st, "weft_lock_create: out of memory") : st;
        }
    }
    *out = l;
    return WEFT_OK;
}

WEFT_API weft_status weft_lock_open(weft_lock **out, const char *name) noexcept {
    constexpr const char *func = "weft_lock_open";
    if (!out) return null_arg(func, "out");
    *out = nullptr;
    if (!name) return null_arg(func, "name");
    weft_lock *l = new (std::nothrow) weft_lock;
    if (!l) return fail(WEFT_ENOMEM, "weft_lock_open: out of memory");
    weft_status st = attach(l, [&](shm::Segment &seg) noexcept { return seg.open(lock_spec(func), name); });
    if (st != WEFT_OK) {
        delete l;
        return st == WEFT_ENOMEM ? fail(st, "weft_lock_open: out of memory") : st;
    }
    *out = l;
    return WEFT_OK;
}

WEFT_API void weft_lock_destroy(weft_lock *lock) noexcept {
    if (!valid(lock)) return;
    lock->poison();
    // A mutex the caller holds is linked into its thread's robust list: never
    // unmap it while linked.
    if (lock->robust && held_by_caller(*lock->robust)) (void)lock->robust->unlock();
    delete lock->seg;
    delete lock;
}

WEFT_API weft_status weft_lock_acquire(weft_lock *lock, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_lock_acquire", lock);
    WEFT_CHECK_TIMEOUT("weft_lock_acquire", timeout_ns);
    if (__builtin_expect(lock->robust != nullptr, 0)) return acquire_process(lock, timeout_ns);
    return lock->word.lock_within(timeout_ns);
}

WEFT_API weft_status weft_lock_release(weft_lock *lock) noexcept {
    WEFT_CHECK_HANDLE("weft_lock_release", lock);
    if (__builtin_expect(lock->robust != nullptr, 0)) return release_process(lock);
    if (!lock->word.unlock())
        return fail(WEFT_ESTATE, "weft_lock_release: the lock (%p) is not held", static_cast<void *>(lock));
    return WEFT_OK;
}

WEFT_API int weft_lock_locked(const weft_lock *lock) noexcept {
    WEFT_CHECK_HANDLE("weft_lock_locked", lock);
    if (lock->robust) return holder_tid(*lock->robust) != 0 ? 1 : 0;
    return lock->word.locked() ? 1 : 0;
}

WEFT_API weft_status weft_lock_mark_consistent(weft_lock *lock) noexcept {
    WEFT_CHECK_HANDLE("weft_lock_mark_consistent", lock);
    if (!lock->robust)
        return fail(WEFT_ESTATE,
                    "weft_lock_mark_consistent: lock %p has thread scope and is never in the owner-died state",
                    static_cast<void *>(lock));
    return robust_mark_consistent("weft_lock_mark_consistent", lock, *lock->robust);
}

}  // extern "C"
