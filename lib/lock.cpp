// Lock: Python's threading.Lock over a one-word futex lock.
#include <new>

#include <weft/lock.h>

#include "internal/boundary.hpp"
#include "internal/handle.hpp"
#include "internal/word_lock.hpp"

struct weft_lock : weft::detail::Handle<weft::detail::Magic::lock> {
    weft::detail::WordLock word;
};

using namespace weft::detail;

extern "C" {

WEFT_API weft_status weft_lock_create(weft_lock **out, const weft_lock_options *opts) noexcept {
    if (!out) return null_arg("weft_lock_create", "out");
    *out = nullptr;
    if (weft_status s = check_version("weft_lock_create", opts, WEFT_LOCK_OPTIONS_VERSION)) return s;
    if (opts && opts->flags != 0)
        return fail(WEFT_EINVAL, "weft_lock_create: opts->flags is %#x; no flags are defined", opts->flags);
    weft_lock *l = new (std::nothrow) weft_lock;
    if (!l) return fail(WEFT_ENOMEM, "weft_lock_create: out of memory");
    *out = l;
    return WEFT_OK;
}

WEFT_API void weft_lock_destroy(weft_lock *lock) noexcept {
    destroy_handle(lock);
}

WEFT_API weft_status weft_lock_acquire(weft_lock *lock, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_lock_acquire", lock);
    WEFT_CHECK_TIMEOUT("weft_lock_acquire", timeout_ns);
    return lock->word.lock_within(timeout_ns);
}

WEFT_API weft_status weft_lock_release(weft_lock *lock) noexcept {
    WEFT_CHECK_HANDLE("weft_lock_release", lock);
    if (!lock->word.unlock())
        return fail(WEFT_ESTATE, "weft_lock_release: the lock (%p) is not held", static_cast<void *>(lock));
    return WEFT_OK;
}

WEFT_API int weft_lock_locked(const weft_lock *lock) noexcept {
    WEFT_CHECK_HANDLE("weft_lock_locked", lock);
    return lock->word.locked() ? 1 : 0;
}

}  // extern "C"
