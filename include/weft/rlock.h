/**
 * @file rlock.h
 * @brief RLock: a re-entrant lock owned by a thread (Python's
 *        `threading.RLock`).
 *
 * The thread that acquires an RLock owns it and may acquire it again without
 * blocking: each acquire by the owner adds one to the recursion depth, each
 * release takes one away, and the lock is free again when the depth returns
 * to 0. So a function that holds the lock may call another function that
 * takes the same lock (with a plain weft_lock that would deadlock).
 *
 * Unlike weft_lock, only the owner may release it: a release by any other
 * thread is refused with #WEFT_EPERM (Python raises RuntimeError).
 *
 * Re-entry costs one load and one increment; a first, uncontended acquire or
 * a final release is one atomic instruction. No allocation, no system call
 * unless another thread has to wait.
 *
 * Process scope (Python's `multiprocessing.RLock`): set `opts->share.scope`
 * to #WEFT_SCOPE_PROCESS for an RLock in shared memory, anonymous (shared with
 * children started by fork) or named (opened with weft_rlock_open()). It is a
 * robust mutex: when its owner dies, the next acquirer gets #WEFT_EOWNERDEAD
 * and owns it at depth 1; it repairs the protected state and calls
 * weft_rlock_mark_consistent(). Releasing it to depth 0 without that makes it
 * #WEFT_ENOTRECOVERABLE for every later acquirer.
 *
 * @code
 * weft_rlock *r;
 * weft_rlock_create(&r, NULL);
 * weft_rlock_acquire(r, WEFT_FOREVER);   // depth 1
 * weft_rlock_acquire(r, WEFT_FOREVER);   // depth 2, no deadlock
 * weft_rlock_release(r);
 * weft_rlock_release(r);                 // free again
 * weft_rlock_destroy(r);
 * @endcode
 *
 * @since 0.1
 */
#ifndef WEFT_RLOCK_H
#define WEFT_RLOCK_H

#include "common.h"

WEFT_BEGIN_DECLS

/** Opaque re-entrant lock handle. */
typedef struct weft_rlock weft_rlock;

/** Options for weft_rlock_create(); pass NULL for defaults. */
typedef struct weft_rlock_options {
    uint32_t version;   /**< #WEFT_RLOCK_OPTIONS_VERSION (1 is still accepted: no `share`) */
    uint32_t flags;     /**< reserved, 0 */
    weft_sharing share; /**< version 2: thread scope (default) or process scope; @since 0.2 */
} weft_rlock_options;

/** Current version of ::weft_rlock_options (2 added `share`). */
#define WEFT_RLOCK_OPTIONS_VERSION 2
/** Default ::weft_rlock_options: a thread-scope RLock. */
#define WEFT_RLOCK_OPTIONS_INIT { WEFT_RLOCK_OPTIONS_VERSION, 0, WEFT_SHARING_INIT }

/**
 * Create a free re-entrant lock.
 *
 * With `opts->share.scope == WEFT_SCOPE_PROCESS` it lives in shared memory,
 * anonymous or named (see ::weft_sharing).
 * @param out receives the handle; set to NULL on failure.
 * @param opts NULL for defaults.
 * @return #WEFT_OK; #WEFT_EINVAL if @p out is NULL, @p opts has an unknown
 *         version or non-zero flags, `share` is invalid, or the name exists
 *         as another kind of object; #WEFT_EEXIST if the name exists (without
 *         #WEFT_SHARE_OPEN_EXISTING); #WEFT_EPERM; #WEFT_ENOMEM; #WEFT_ESYS.
 * Fork: a child started with fork may use its copy of a process-scope handle.
 * @since 0.1 (process scope since 0.2)
 */
WEFT_API weft_status weft_rlock_create(weft_rlock **out, const weft_rlock_options *opts) WEFT_NOEXCEPT;

/**
 * Open the process-scope RLock called @p name, made by weft_rlock_create()
 * in any process.
 * @param out receives the handle; set to NULL on failure.
 * @param name the name given at creation.
 * @return #WEFT_OK; #WEFT_ENOENT if there is no such name; #WEFT_EINVAL for a
 *         NULL argument, a bad name, or a name that is another kind of weft
 *         object; #WEFT_EPERM; #WEFT_ENOMEM; #WEFT_ESYS.
 * Thread-safe. Close it with weft_rlock_destroy().
 * @since 0.2
 */
WEFT_API weft_status weft_rlock_open(weft_rlock **out, const char *name) WEFT_NOEXCEPT;

/**
 * Destroy a re-entrant lock handle. NULL is a no-op. Destroying a lock
 * another thread is blocked on is undefined; destroying a held lock is
 * allowed.
 *
 * Process scope: closes this process's view; if the calling thread owns the
 * lock it is released fully first; destroying it while another thread of this
 * process owns it is undefined.
 * @since 0.1
 */
WEFT_API void weft_rlock_destroy(weft_rlock *r) WEFT_NOEXCEPT;

/**
 * Acquire the lock, or add one to the depth when the caller already owns it
 * (re-entry never blocks).
 * @param r the lock.
 * @param timeout_ns 0 tries once, #WEFT_FOREVER waits as long as it takes.
 * @return #WEFT_OK when acquired (or re-entered); #WEFT_ETIMEDOUT when
 *         another thread kept it past the timeout (also for a failed poll);
 *         #WEFT_EOVERFLOW if the depth would exceed INT_MAX;
 *         #WEFT_EINVAL for a timeout below -1; #WEFT_EMISUSE for a NULL or
 *         destroyed handle. Process scope also: #WEFT_EOWNERDEAD when
 *         acquired (depth 1) from an owner that died (repair, then
 *         weft_rlock_mark_consistent()); #WEFT_ENOTRECOVERABLE, not acquired,
 *         when a holder released such a lock without marking it consistent.
 * Thread-safe. Signals do not end the wait early.
 * @since 0.1
 */
WEFT_API weft_status weft_rlock_acquire(weft_rlock *r, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Take one level off the depth; at depth 0 the lock becomes free and one
 * waiting thread (if any) may take it.
 * @return #WEFT_OK; #WEFT_EPERM when the calling thread does not own the lock
 *         (another thread owns it, or nobody does); #WEFT_EMISUSE for a NULL
 *         or destroyed handle.
 * @since 0.1
 */
WEFT_API weft_status weft_rlock_release(weft_rlock *r) WEFT_NOEXCEPT;

/**
 * Declare the state a process-scope RLock protects repaired, after
 * weft_rlock_acquire() returned #WEFT_EOWNERDEAD: it works normally again
 * (the caller still owns it).
 * @return #WEFT_OK; #WEFT_ESTATE if the caller does not own it, it is not in
 *         the owner-died state, or it has thread scope (never in that state);
 *         #WEFT_EMISUSE for a NULL or destroyed handle.
 * @since 0.2
 */
WEFT_API weft_status weft_rlock_mark_consistent(weft_rlock *r) WEFT_NOEXCEPT;

/**
 * The owner's weft thread ident (the value weft_thread_get_ident() returns
 * on that thread), or 0 when the lock is free or @p r is NULL or destroyed.
 * A snapshot: it may change at once unless the caller is the owner.
 * Process scope: the ident is the one the owner has in its own process
 * (idents of different processes may be equal); after the owner died it
 * stays until the next acquire.
 * @since 0.1
 */
WEFT_API uint64_t weft_rlock_owner(const weft_rlock *r) WEFT_NOEXCEPT;

/**
 * Recursion depth as seen by the caller.
 * @return the depth (>= 1) when the calling thread owns the lock, 0 when it
 *         does not (free or owned by another thread); #WEFT_EMISUSE for a
 *         NULL or destroyed handle.
 * @since 0.1
 */
WEFT_API int weft_rlock_count(const weft_rlock *r) WEFT_NOEXCEPT;

WEFT_END_DECLS

#endif /* WEFT_RLOCK_H */
