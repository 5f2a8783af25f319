/**
 * @file rwlock.h
 * @brief RWLock: a reader/writer lock, many readers or one writer at a time.
 *
 * Python's `threading` has no reader/writer lock; this is the one of GLib
 * (`GRWLock`), Boost (`shared_mutex`) and POSIX (`pthread_rwlock_t`), with
 * weft's timeouts. Any number of threads may hold it for reading at once,
 * which suits data that is read often and changed rarely (a configuration, a
 * cache); a writer holds it alone.
 *
 * It prefers writers: once a writer waits, new readers wait too, so a steady
 * stream of readers cannot starve writers. A writer that gives up (its timeout
 * passes) lets the readers it held back in at once.
 *
 * Uncontended read acquire and read release are one atomic instruction each,
 * as are uncontended write acquire and release: no allocation, no system
 * call. Contended callers sleep on a futex.
 *
 * Like weft_lock, the lock is not owned by a thread: the holder is not
 * recorded, so any thread may release it. It is not re-entrant: a thread
 * that holds it for reading and asks again while a writer waits blocks (the
 * writer waits for it, it waits for the writer), and a writer asking again
 * blocks on itself. Use timeouts to turn such mistakes into #WEFT_ETIMEDOUT.
 *
 * @code
 * weft_rwlock_read_acquire(cfg_lock, WEFT_FOREVER);
 * use(config);                       // many readers at once
 * weft_rwlock_read_release(cfg_lock);
 *
 * weft_rwlock_write_acquire(cfg_lock, WEFT_FOREVER);
 * config = reload();                 // alone
 * weft_rwlock_write_release(cfg_lock);
 * @endcode
 *
 * Thread scope only in this version. All functions are thread-safe.
 *
 * @since 0.1
 */
#ifndef WEFT_RWLOCK_H
#define WEFT_RWLOCK_H

#include "common.h"

WEFT_BEGIN_DECLS

/** Opaque reader/writer lock handle. */
typedef struct weft_rwlock weft_rwlock;

/** Options for weft_rwlock_create(); pass NULL for defaults. */
typedef struct weft_rwlock_options {
    uint32_t version; /**< #WEFT_RWLOCK_OPTIONS_VERSION */
    uint32_t flags;   /**< reserved, 0 */
} weft_rwlock_options;

#define WEFT_RWLOCK_OPTIONS_VERSION 1
#define WEFT_RWLOCK_OPTIONS_INIT { WEFT_RWLOCK_OPTIONS_VERSION, 0 }

/** The most readers that can hold one weft_rwlock at once. */
#define WEFT_RWLOCK_MAX_READERS ((1u << 29) - 1u)

/**
 * Create an unlocked reader/writer lock.
 * @param out receives the handle.
 * @param opts NULL for defaults.
 * @return #WEFT_OK; #WEFT_EINVAL if @p out is NULL or @p opts has an unknown
 *         version or non-zero flags; #WEFT_ENOMEM.
 * @since 0.1
 */
WEFT_API weft_status weft_rwlock_create(weft_rwlock **out, const weft_rwlock_options *opts) WEFT_NOEXCEPT;

/**
 * Destroy a reader/writer lock. NULL is a no-op. Destroying a lock another
 * thread is blocked on is undefined; destroying a held lock is allowed.
 * @since 0.1
 */
WEFT_API void weft_rwlock_destroy(weft_rwlock *l) WEFT_NOEXCEPT;

/**
 * Acquire the lock for reading (shared), waiting up to @p timeout_ns.
 * Succeeds at once when no writer holds it and none waits.
 * @param timeout_ns 0 tries once, #WEFT_FOREVER waits as long as it takes.
 * @return #WEFT_OK when acquired; #WEFT_ETIMEDOUT when not acquired in time
 *         (also for a failed poll); #WEFT_EOVERFLOW when
 *         #WEFT_RWLOCK_MAX_READERS already hold it; #WEFT_EINVAL for a
 *         timeout below -1; #WEFT_EMISUSE for a NULL or destroyed handle.
 * @since 0.1
 */
WEFT_API weft_status weft_rwlock_read_acquire(weft_rwlock *l, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Release one read hold. When the last reader leaves, a waiting writer wakes.
 * @return #WEFT_OK; #WEFT_ESTATE if no reader holds the lock;
 *         #WEFT_EMISUSE for a NULL or destroyed handle.
 * @since 0.1
 */
WEFT_API weft_status weft_rwlock_read_release(weft_rwlock *l) WEFT_NOEXCEPT;

/**
 * Acquire the lock for writing (exclusive), waiting up to @p timeout_ns.
 * While this caller waits, new readers wait too (writer preference); if it
 * times out, the readers it held back proceed at once.
 * @param timeout_ns 0 tries once, #WEFT_FOREVER waits as long as it takes.
 * @return #WEFT_OK when acquired; #WEFT_ETIMEDOUT when not acquired in time
 *         (also for a failed poll); #WEFT_EINVAL for a timeout below -1;
 *         #WEFT_EMISUSE for a NULL or destroyed handle.
 * @since 0.1
 */
WEFT_API weft_status weft_rwlock_write_acquire(weft_rwlock *l, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Release the write hold. Waiting writers go first; when none waits, all
 * waiting readers wake.
 * @return #WEFT_OK; #WEFT_ESTATE if the lock is not write-locked;
 *         #WEFT_EMISUSE for a NULL or destroyed handle.
 * @since 0.1
 */
WEFT_API weft_status weft_rwlock_write_release(weft_rwlock *l) WEFT_NOEXCEPT;

WEFT_END_DECLS

#endif /* WEFT_RWLOCK_H */
