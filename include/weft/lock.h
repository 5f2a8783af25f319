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
 * Process scope (Python's `multiprocessing.Lock`): set `opts->share.scope`
 * to #WEFT_SCOPE_PROCESS and the lock lives in shared memory, anonymous
 * (shared with children started by fork) or named (any process opens it with
 * weft_lock_open()). A process-scope lock is a robust mutex and differs from
 * a thread-scope one in three ways:
 * - it is owned by the thread that acquired it: only that thread may release
 *   it (#WEFT_EPERM otherwise), and re-acquiring it from that thread fails at
 *   once with #WEFT_EDEADLK instead of blocking;
 * - when its holder dies (the process is killed, or the thread exits while
 *   holding it), the next acquirer gets #WEFT_EOWNERDEAD and owns the lock:
 *   it repairs the state the lock protects, then calls
 *   weft_lock_mark_consistent(). Releasing it without doing so makes the lock
 *   #WEFT_ENOTRECOVERABLE for every later acquirer, for good;
 * - acquire and release cost a robust pthread mutex's lock and unlock (glibc
 *   also links the mutex into the thread's robust list).
 *
 * @code
 * // The seeds' ticket office: five processes, one db.json, one named lock.
 * weft_lock_options o = WEFT_LOCK_OPTIONS_INIT;
 * o.share.scope = WEFT_SCOPE_PROCESS;
 * o.share.name = "tickets";
 * o.share.flags = WEFT_SHARE_OPEN_EXISTING;
 * weft_lock *lock;
 * if (weft_lock_create(&lock, &o) != WEFT_OK) return 1;
 * weft_status st = weft_lock_acquire(lock, 5 * WEFT_SEC);
 * if (st == WEFT_EOWNERDEAD) {               // a buyer died holding it
 *     repair_db();
 *     weft_lock_mark_consistent(lock);
 * } else if (st != WEFT_OK) return 1;
 * sell_one_ticket();
 * weft_lock_release(lock);
 * @endcode
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
    uint32_t version;   /**< #WEFT_LOCK_OPTIONS_VERSION (1 is still accepted: no `share`) */
    uint32_t flags;     /**< reserved, 0 */
    weft_sharing share; /**< version 2: thread scope (default) or process scope; @since 0.2 */
} weft_lock_options;

/** Current version of ::weft_lock_options (2 added `share`). */
#define WEFT_LOCK_OPTIONS_VERSION 2
/** Default ::weft_lock_options: a thread-scope lock. */
#define WEFT_LOCK_OPTIONS_INIT { WEFT_LOCK_OPTIONS_VERSION, 0, WEFT_SHARING_INIT }

/**
 * Create an unlocked lock.
 *
 * With `opts->share.scope == WEFT_SCOPE_PROCESS` the lock lives in shared
 * memory: anonymous (`share.name` NULL; children started by fork share it
 * through their copy of the handle) or named (published under `share.name`
 * once complete; see ::weft_sharing for lifetimes and
 * #WEFT_SHARE_OPEN_EXISTING, which opens the name when it already exists).
 * @param out receives the handle; set to NULL on failure.
 * @param opts NULL for defaults.
 * @return #WEFT_OK; #WEFT_EINVAL if @p out is NULL, @p opts has an unknown
 *         version or non-zero flags, `share` is invalid (scope, lifetime,
 *         flags, mode, name; a name with thread scope), or the name exists
 *         as another kind of object; #WEFT_EEXIST if the name exists (without
 *         #WEFT_SHARE_OPEN_EXISTING); #WEFT_EPERM if it may not be opened;
 *         #WEFT_ENOMEM; #WEFT_ESYS for another system failure.
 * Fork: a child started with fork may use its copy of a process-scope handle.
 * @since 0.1 (process scope since 0.2)
 */
WEFT_API weft_status weft_lock_create(weft_lock **out, const weft_lock_options *opts) WEFT_NOEXCEPT;

/**
 * Open the process-scope lock called @p name, made by weft_lock_create() in
 * any process.
 * @param out receives the handle; set to NULL on failure.
 * @param name the name given at creation (one leading '/' is ignored).
 * @return #WEFT_OK; #WEFT_ENOENT if there is no such name; #WEFT_EINVAL for a
 *         NULL argument, a bad name, or a name that is another kind of weft
 *         object (a semaphore, a queue...) or not a weft object;
 *         #WEFT_EPERM; #WEFT_ENOMEM; #WEFT_ESYS.
 * Thread-safe. The handle is closed with weft_lock_destroy(), which removes
 * the name only as its lifetime says.
 * @since 0.2
 */
WEFT_API weft_status weft_lock_open(weft_lock **out, const char *name) WEFT_NOEXCEPT;

/**
 * Destroy a lock handle. NULL is a no-op. Destroying a lock another thread is
 * blocked on is undefined; destroying a held lock is allowed.
 *
 * Process scope: this closes this process's view (the lock lives on for the
 * other processes; its name goes as its lifetime says). If the calling
 * thread holds it, it is released first; destroying it while another thread
 * of this process holds it is undefined.
 * @since 0.1
 */
WEFT_API void weft_lock_destroy(weft_lock *lock) WEFT_NOEXCEPT;

/**
 * Acquire the lock, waiting up to @p timeout_ns.
 * @param timeout_ns 0 tries once, #WEFT_FOREVER waits as long as it takes.
 * @return #WEFT_OK when acquired; #WEFT_ETIMEDOUT when not acquired in time
 *         (also for a failed poll); #WEFT_EINVAL for a timeout below -1;
 *         #WEFT_EMISUSE for a NULL or destroyed handle.
 *         Process scope also: #WEFT_EOWNERDEAD when acquired from a holder
 *         that died (the caller holds it; repair, then
 *         weft_lock_mark_consistent()); #WEFT_ENOTRECOVERABLE, not acquired,
 *         when an earlier such holder released it without marking it
 *         consistent (the lock is unusable for good); #WEFT_EDEADLK when the
 *         calling thread holds it already.
 * Thread-safe. Not a cancellation point; signals do not end the wait early.
 * @since 0.1
 */
WEFT_API weft_status weft_lock_acquire(weft_lock *lock, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Release the lock. Any thread may release a thread-scope lock; a
 * process-scope lock only by the thread that holds it.
 * @return #WEFT_OK; #WEFT_ESTATE if the lock is not held; #WEFT_EPERM
 *         (process scope) if another thread holds it;
 *         #WEFT_EMISUSE for a NULL or destroyed handle.
 * Process scope: releasing a lock taken with #WEFT_EOWNERDEAD that was not
 * marked consistent returns #WEFT_OK and leaves it #WEFT_ENOTRECOVERABLE.
 * @since 0.1
 */
WEFT_API weft_status weft_lock_release(weft_lock *lock) WEFT_NOEXCEPT;

/**
 * Whether the lock is held right now (a snapshot: it may change at once).
 * @return 1 if held, 0 if not, #WEFT_EMISUSE for a NULL or destroyed handle.
 * @since 0.1
 */
WEFT_API int weft_lock_locked(const weft_lock *lock) WEFT_NOEXCEPT;

/**
 * Declare the state a process-scope lock protects repaired, after
 * weft_lock_acquire() returned #WEFT_EOWNERDEAD: the lock works normally
 * again (the caller still holds it and releases it as usual).
 * @return #WEFT_OK; #WEFT_ESTATE if the caller does not hold the lock, the
 *         lock is not in the owner-died state, or it is a thread-scope lock
 *         (which is never in that state); #WEFT_EMISUSE for a NULL or
 *         destroyed handle.
 * @since 0.2
 */
WEFT_API weft_status weft_lock_mark_consistent(weft_lock *lock) WEFT_NOEXCEPT;

WEFT_END_DECLS

#endif /* WEFT_LOCK_H */
