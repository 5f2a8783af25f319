// RLock: Python's threading.RLock, a WordLock plus an owner ident and depth
// (thread scope), and multiprocessing.RLock, a robust mutex plus the same two
// in a shared segment (process scope; see internal/rlock.hpp).
#include <new>

#include <weft/rlock.h>

#include "internal/boundary.hpp"
#include "internal/rlock.hpp"

using namespace weft::detail;

namespace {

constexpr shm::Spec rlock_spec(const char *func) noexcept {
    return shm::Spec{func, shm::Kind::rlock, kRLockLayout, sizeof(RLockPayload)};
}

template <class Map>
weft_status attach(weft_rlock *r, Map &&map) noexcept {
    shm::Segment *seg = new (std::nothrow) shm::Segment;
    if (!seg) return WEFT_ENOMEM;
    if (weft_status st = map(*seg)) {
        delete seg;
        return st;
    }
    r->seg = seg;
    r->proc = static_cast<RLockPayload *>(seg->data());
    return WEFT_OK;
}

weft_status overflow(const weft_rlock *r) noexcept {
    return fail(WEFT_EOVERFLOW, "weft_rlock_acquire: the depth of rlock %p would exceed INT_MAX",
                static_cast<const void *>(r));
}

[[gnu::noinline]] weft_status acquire_process(weft_rlock *r, std::int64_t timeout_ns) noexcept {
    RLockPayload *p = r->proc;
    if (held_by_caller(p->m)) {
        if (p->depth == INT_MAX) return overflow(r);
        ++p->depth;
        return WEFT_OK;
    }
    Deadline d(timeout_ns);
    weft_status st = robust_acquire("weft_rlock_acquire", r, p->m, d);
    if (st != WEFT_OK && st != WEFT_EOWNERDEAD) return st;
    // A dead owner's depth and ident are stale: start over at depth 1.
    p->owner.store(current_ident(), std::memory_order_relaxed);
    p->depth = 1;
    return st;
}

[[gnu::noinline]] weft_status release_process(weft_rlock *r) noexcept {
    RLockPayload *p = r->proc;
    if (!held_by_caller(p->m)) {
        pid_t holder = holder_tid(p->m);
        if (holder == 0) return fail(WEFT_EPERM, "weft_rlock_release: rlock %p is not held", static_cast<void *>(r));
        return fail(WEFT_EPERM, "weft_rlock_release: rlock %p is owned by thread %d (tid), not by the caller (%d)",
                    static_cast<void *>(r), static_cast<int>(holder), static_cast<int>(current_tid()));
    }
    if (--p->depth == 0) {
        p->owner.store(0, std::memory_order_relaxed);
        (void)p->m.unlock();
    }
    return WEFT_OK;
}

}  // namespace

extern "C" {

WEFT_API weft_status weft_rlock_create(weft_rlock **out, const weft_rlock_options *opts) noexcept {
    constexpr const char *func = "weft_rlock_create";
    if (!out) return null_arg(func, "out");
    *out = nullptr;
    if (weft_status s = check_version_range(func, opts, 1, WEFT_RLOCK_OPTIONS_VERSION)) return s;
    if (opts && opts->flags != 0)
        return fail(WEFT_EINVAL, "weft_rlock_create: opts->flags is %#x; no flags are defined", opts->flags);
    weft_sharing sh = WEFT_SHARING_INIT;
    if (opts && opts->version >= 2) sh = opts->share;
    if (weft_status s = shm::check_sharing(func, sh)) return s;
    weft_rlock *r = new (std::nothrow) weft_rlock;
    if (!r) return fail(WEFT_ENOMEM, "weft_rlock_create: out of memory");
    if (sh.scope == WEFT_SCOPE_PROCESS) {
        weft_status st = attach(r, [&](shm::Segment &seg) noexcept {
            return seg.create_with(rlock_spec(func), sh, [](void *p, std::size_t) noexcept {
                return init_robust("weft_rlock_create", static_cast<RLockPayload *>(p)->m);
            });
        });
        if (st != WEFT_OK) {
            delete r;
            return st == WEFT_ENOMEM ? fail(st, "weft_rlock_create: out of memory") : st;
        }
    }
    *out = r;
    return WEFT_OK;
}

WEFT_API weft_status weft_rlock_open(weft_rlock **out, const char *name) noexcept {
    constexpr const char *func = "weft_rlock_open";
    if (!out) return null_arg(func, "out");
    *out = nullptr;
    if (!name) return null_arg(func, "name");
    weft_rlock *r = new (std::nothrow) weft_rlock;
    if (!r) return fail(WEFT_ENOMEM, "weft_rlock_open: out of memory");
    weft_status st = attach(r, [&](shm::Segment &seg) noexcept { return seg.open(rlock_spec(func), name); });
    if (st != WEFT_OK) {
        delete r;
        return st == WEFT_ENOMEM ? fail(st, "weft_rlock_open: out of memory") : st;
    }
    *out = r;
    return WEFT_OK;
}

WEFT_API void weft_rlock_destroy(weft_rlock *r) noexcept {
    if (!valid(r)) return;
    r->poison();
    // Never unmap a mutex linked into the caller's robust list.
    if (r->proc && held_by_caller(r->proc->m)) (void)r->release_save();
    delete r->seg;
    delete r;
}

WEFT_API weft_status weft_rlock_acquire(weft_rlock *r, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_rlock_acquire", r);
    WEFT_CHECK_TIMEOUT("weft_rlock_acquire", timeout_ns);
    if (__builtin_expect(r->proc != nullptr, 0)) return acquire_process(r, timeout_ns);
    std::uint64_t me = current_ident();
    if (r->owner.load(std::memory_order_relaxed) == me) {
        if (r->depth == INT_MAX) return overflow(r);
        ++r->depth;
        return WEFT_OK;
    }
    Deadline d(timeout_ns);
    weft_status st = r->word.lock(d);
    if (st != WEFT_OK) return st;
    r->owner.store(me, std::memory_order_relaxed);
    r->depth = 1;
    return WEFT_OK;
}

WEFT_API weft_status weft_rlock_release(weft_rlock *r) noexcept {
    WEFT_CHECK_HANDLE("weft_rlock_release", r);
    if (__builtin_expect(r->proc != nullptr, 0)) return release_process(r);
    std::uint64_t me = current_ident();
    std::uint64_t owner = r->owner.load(std::memory_order_relaxed);
    if (owner != me) {
        if (owner == 0)
            return fail(WEFT_EPERM, "weft_rlock_release: rlock %p is not held", static_cast<void *>(r));
        return fail(WEFT_EPERM,
                    "weft_rlock_release: rlock %p is owned by thread %llu, not by the caller (thread %llu)",
                    static_cast<void *>(r), static_cast<unsigned long long>(owner),
                    static_cast<unsigned long long>(me));
    }
    if (--r->depth == 0) {
        r->owner.store(0, std::memory_order_relaxed);
        r->word.unlock();
    }
    return WEFT_OK;
}

WEFT_API weft_status weft_rlock_mark_consistent(weft_rlock *r) noexcept {
    WEFT_CHECK_HANDLE("weft_rlock_mark_consistent", r);
    if (!r->proc)
        return fail(WEFT_ESTATE,
                    "weft_rlock_mark_consistent: rlock %p has thread scope and is never in the owner-died state",
                    static_cast<void *>(r));
    return robust_mark_consistent("weft_rlock_mark_consistent", r, r->proc->m);
}

WEFT_API uint64_t weft_rlock_owner(const weft_rlock *r) noexcept {
    if (!valid(r)) {
        (void)misuse("weft_rlock_owner", "r", r);
        return 0;
    }
    if (r->proc) return holder_tid(r->proc->m) != 0 ? r->proc->owner.load(std::memory_order_relaxed) : 0;
    return r->owner.load(std::memory_order_relaxed);
}

WEFT_API int weft_rlock_count(const weft_rlock *r) noexcept {
    WEFT_CHECK_HANDLE("weft_rlock_count", r);
    if (r->proc) return r->owned_by_caller() ? r->proc->depth : 0;
    return r->owned_by_caller() ? r->depth : 0;
}

}  // extern "C"
