// RLock: Python's threading.RLock, a WordLock plus an owner ident and depth.
#include <new>

#include <weft/rlock.h>

#include "internal/boundary.hpp"
#include "internal/rlock.hpp"

using namespace weft::detail;

extern "C" {

WEFT_API weft_status weft_rlock_create(weft_rlock **out, const weft_rlock_options *opts) noexcept {
    if (!out) return null_arg("weft_rlock_create", "out");
    *out = nullptr;
    if (weft_status s = check_version("weft_rlock_create", opts, WEFT_RLOCK_OPTIONS_VERSION)) return s;
    if (opts && opts->flags != 0)
        return fail(WEFT_EINVAL, "weft_rlock_create: opts->flags is %#x; no flags are defined", opts->flags);
    weft_rlock *r = new (std::nothrow) weft_rlock;
    if (!r) return fail(WEFT_ENOMEM, "weft_rlock_create: out of memory");
    *out = r;
    return WEFT_OK;
}

WEFT_API void weft_rlock_destroy(weft_rlock *r) noexcept {
    destroy_handle(r);
}

WEFT_API weft_status weft_rlock_acquire(weft_rlock *r, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_rlock_acquire", r);
    WEFT_CHECK_TIMEOUT("weft_rlock_acquire", timeout_ns);
    std::uint64_t me = current_ident();
    if (r->owner.load(std::memory_order_relaxed) == me) {
        if (r->depth == INT_MAX)
            return fail(WEFT_EOVERFLOW, "weft_rlock_acquire: the depth of rlock %p would exceed INT_MAX",
                        static_cast<void *>(r));
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

WEFT_API uint64_t weft_rlock_owner(const weft_rlock *r) noexcept {
    if (!valid(r)) {
        (void)misuse("weft_rlock_owner", "r", r);
        return 0;
    }
    return r->owner.load(std::memory_order_relaxed);
}

WEFT_API int weft_rlock_count(const weft_rlock *r) noexcept {
    WEFT_CHECK_HANDLE("weft_rlock_count", r);
    return r->owned_by_caller() ? r->depth : 0;
}

}  // extern "C"
