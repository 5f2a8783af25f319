/**
 * @file lock.h
 * @brief Lock: a mutual-exclusion lock with timed acquire (Python's
 *        `threading.Lock`).
 *
 * Like Python's Lock and unlike a pthread mutex, a weft_lock is not owned by
 * a thread: any thread may release it (handing a lock from one thread to
 * another is legal). Re-acquiring it from the thread that holds it blocks
 * (use weft_rlock for re-entry).
 *
 * Uncontended acquire and release are one atomic instruction each: no
 * allocation, no system call. Contended waiters spin briefly, then sleep on a
 * futex.
 *
 * @code
 * weft_lock *lock;
 * if (weft_lock_create(&lock, NULL) != WEFT_OK) return 1;
 * weft_lock_acquire(lock, WEFT_FOREVER);
 * balance += amount;              // the seeds' bank balance, now safe
 * weft_lock_release(lock);
 * weft_lock_destroy(lock);
 * @endcode
 *
 * @since 0.1
 */
#ifndef WEFT_LOCK_H
#define WEFT_LOCK_H

#include "common.h"

WEFT_BEGIN_DECLS

/** Opaque lock handle. */
typedef struct weft_lock weft_lock;

/** Options for weft_lock_create(); pass NULL for defaults. */
typedef struct weft_lock_options {
    uint32_t version; /**< #WEFT_LOCK_OPTIONS_VERSION */
    uint32_t flags;   /**< reserved, 0 */
} weft_lock_options;

#define WEFT_LOCK_OPTIONS_VERSION 1
#define WEFT_LOCK_OPTIONS_INIT { WEFT_LOCK_OPTIONS_VERSION, 0 }

/**
 * Create an unlocked lock.
 * @param out receives the handle.
 * @param opts NULL for defaults.
 * @return #WEFT_OK; #WEFT_EINVAL if @p out is NULL or @p opts has an unknown
 *         version or non-zero flags; #WEFT_ENOMEM.
 * @since 0.1
 */
WEFT_API weft_status weft_lock_create(weft_lock **out, const weft_lock_options *opts) WEFT_NOEXCEPT;

/**
 * Destroy a lock. NULL is a no-op. Destroying a lock another thread is
 * blocked on is undefined; destroying a held lock is allowed.
 * @since 0.1
 */
WEFT_API void weft_lock_destroy(weft_lock *lock) WEFT_NOEXCEPT;

/**
 * Acquire the lock, waiting up to @p timeout_ns.
 * @param timeout_ns 0 tries once, #WEFT_FOREVER waits as long as it takes.
 * @return #WEFT_OK when acquired; #WEFT_ETIMEDOUT when not acquired in time
 *         (also for a failed poll); #WEFT_EINVAL for a timeout below -1;
 *         #WEFT_EMISUSE for a NULL or destroyed handle.
 * Thread-safe. Not a cancellation point; signals do not end the wait early.
 * @since 0.1
 */
WEFT_API weft_status weft_lock_acquire(weft_lock *lock, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Release the lock. Any thread may release it.
 * @return #WEFT_OK; #WEFT_ESTATE if the lock is not held;
 *         #WEFT_EMISUSE for a NULL or destroyed handle.
 * @since 0.1
 */
WEFT_API weft_status weft_lock_release(weft_lock *lock) WEFT_NOEXCEPT;

/**
 * Whether the lock is held right now (a snapshot: it may change at once).
 * @return 1 if held, 0 if not, #WEFT_EMISUSE for a NULL or destroyed handle.
 * @since 0.1
 */
WEFT_API int weft_lock_locked(const weft_lock *lock) WEFT_NOEXCEPT;

WEFT_END_DECLS

#endif /* WEFT_LOCK_H */
