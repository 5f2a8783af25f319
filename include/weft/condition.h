/**
 * @file condition.h
 * @brief Condition: wait for a change made by another thread, under a lock
 *        (Python's `threading.Condition`).
 *
 * A condition pairs a lock (a weft_lock or a weft_rlock) with a queue of
 * waiting threads. A thread holding the lock calls weft_condition_wait(),
 * which releases the lock, sleeps until another thread holding the lock calls
 * weft_condition_notify(), then takes the lock back before returning. Use
 * weft_condition_wait_for() to wait until a predicate on the shared state is
 * true: it re-checks the predicate after every wake-up, so spurious or stale
 * wake-ups do no harm.
 *
 * weft_condition_notify(c, n) wakes at most n waiters, in exactly the order
 * they started waiting (first come, first served), as Python does.
 *
 * The lock is given in the options (borrowed: it must outlive the condition)
 * or, when none is given, the condition makes and owns a weft_lock.
 * weft_condition_acquire() and weft_condition_release() act on that lock.
 *
 * Process scope (Python's `multiprocessing.Condition`): set
 * `opts->share.scope` to #WEFT_SCOPE_PROCESS.
 * - An anonymous one (shared with children started by fork) uses the
 *   process-scope weft_lock or weft_rlock given in the options, or its own
 *   lock, which lives in the condition's shared memory.
 * - A named one always uses its own lock, in its shared memory, so that
 *   every process that opens it with weft_condition_open() finds the same
 *   lock: take it with weft_condition_acquire() / weft_condition_release().
 * - Its lock is robust: a wait, wait_for or acquire that takes it back from
 *   a holder that died returns #WEFT_EOWNERDEAD with the lock held (repair
 *   the state, then weft_lock_mark_consistent() or
 *   weft_rlock_mark_consistent() on the lock given, or
 *   weft_condition_mark_consistent() for the condition's own lock).
 * - notify(n) may wake more than n waiters (a spurious wake-up for the
 *   others, as Python's Condition allows; weft_condition_wait_for() re-checks
 *   its predicate), and the wake-up order is the kernel's, not strictly
 *   first come, first served. A waiter that dies while it waits never blocks
 *   notify or the other waiters.
 * - It holds no pthread condition variable, which a waiter dying inside
 *   pthread_cond_wait() could wedge for every other process.
 *
 * @code
 * weft_condition *c;
 * weft_condition_create(&c, NULL);
 * // consumer                                  // producer
 * weft_condition_acquire(c, WEFT_FOREVER);      weft_condition_acquire(c, WEFT_FOREVER);
 * weft_condition_wait_for(c, has_item, &buf,    push(&buf, item);
 *                         WEFT_FOREVER);        weft_condition_notify(c, 1);
 * item = pop(&buf);                             weft_condition_release(c);
 * weft_condition_release(c);
 * @endcode
 *
 * @since 0.1
 */
#ifndef WEFT_CONDITION_H
#define WEFT_CONDITION_H

#include "common.h"
#include "lock.h"
#include "rlock.h"

WEFT_BEGIN_DECLS

/** Opaque condition handle. */
typedef struct weft_condition weft_condition;

/** Options for weft_condition_create(); pass NULL for defaults. */
typedef struct weft_condition_options {
    uint32_t version;  /**< #WEFT_CONDITION_OPTIONS_VERSION (1 is still accepted: no `share`) */
    weft_lock *lock;   /**< a lock to use (borrowed), or NULL */
    weft_rlock *rlock; /**< a re-entrant lock to use (borrowed), or NULL;
                            at most one of lock and rlock may be set. With
                            neither, the condition owns a new weft_lock. */
    weft_sharing share; /**< version 2: thread scope (default) or process scope; @since 0.2 */
} weft_condition_options;

/** Current version of ::weft_condition_options (2 added `share`). */
#define WEFT_CONDITION_OPTIONS_VERSION 2
/** Default ::weft_condition_options: thread scope, the condition owns its own lock. */
#define WEFT_CONDITION_OPTIONS_INIT { WEFT_CONDITION_OPTIONS_VERSION, NULL, NULL, WEFT_SHARING_INIT }

/**
 * Test on the state a condition protects, for weft_condition_wait_for().
 * Runs on the waiting thread with the condition's lock held.
 * @param user_data the pointer given to weft_condition_wait_for().
 * @return non-zero when the awaited state is reached.
 */
typedef int (*weft_predicate_fn)(void *user_data);

/**
 * Create a condition.
 * @param out receives the handle; set to NULL on failure.
 * @param opts NULL for a condition with its own weft_lock.
 * @return #WEFT_OK; #WEFT_EINVAL if @p out is NULL, @p opts has an unknown
 *         version, both `opts->lock` and `opts->rlock` are set, `share` is
 *         invalid, process scope is asked with a thread-scope lock or rlock,
 *         a named condition is given a lock or rlock, or the name exists as
 *         another kind of object; #WEFT_EEXIST if the name exists (without
 *         #WEFT_SHARE_OPEN_EXISTING); #WEFT_EMISUSE if the given lock or
 *         rlock is destroyed or of the wrong type; #WEFT_EPERM;
 *         #WEFT_ENOMEM; #WEFT_ESYS.
 * Fork: a child started with fork may use its copy of a process-scope handle
 * (and of the lock given to it).
 * @since 0.1 (process scope since 0.2)
 */
WEFT_API weft_status weft_condition_create(weft_condition **out, const weft_condition_options *opts) WEFT_NOEXCEPT;

/**
 * Open the process-scope condition called @p name, made by
 * weft_condition_create() in any process, with its own lock.
 * @param out receives the handle; set to NULL on failure.
 * @param name the name given at creation.
 * @return #WEFT_OK; #WEFT_ENOENT if there is no such name; #WEFT_EINVAL for a
 *         NULL argument, a bad name, or a name that is another kind of weft
 *         object; #WEFT_EPERM; #WEFT_ENOMEM; #WEFT_ESYS.
 * Thread-safe. Close it with weft_condition_destroy().
 * @since 0.2
 */
WEFT_API weft_status weft_condition_open(weft_condition **out, const char *name) WEFT_NOEXCEPT;

/**
 * Destroy a condition handle and the lock handle it owns (a borrowed lock is
 * left alone). NULL is a no-op. Destroying a condition another thread waits
 * on is undefined. Process scope: closes this process's view (if the caller
 * holds the condition's own lock, it is released first); the name goes as
 * its lifetime says.
 * @since 0.1
 */
WEFT_API void weft_condition_destroy(weft_condition *c) WEFT_NOEXCEPT;

/**
 * Acquire the condition's lock (re-entrant if it is a weft_rlock).
 * @param c the condition.
 * @param timeout_ns 0 tries once, #WEFT_FOREVER waits as long as it takes.
 * @return #WEFT_OK; #WEFT_ETIMEDOUT; #WEFT_EOVERFLOW (rlock depth);
 *         #WEFT_EINVAL for a timeout below -1; #WEFT_EMISUSE for a NULL or
 *         destroyed handle. Process scope also: #WEFT_EOWNERDEAD (held; the
 *         previous holder died), #WEFT_ENOTRECOVERABLE, #WEFT_EDEADLK (a
 *         Lock the caller holds already), as weft_lock_acquire() says.
 * @since 0.1
 */
WEFT_API weft_status weft_condition_acquire(weft_condition *c, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Release the condition's lock (one level of an rlock).
 * @return #WEFT_OK; #WEFT_EPERM if the lock is not held (an rlock: not by the
 *         caller); #WEFT_EMISUSE for a NULL or destroyed handle.
 * @since 0.1
 */
WEFT_API weft_status weft_condition_release(weft_condition *c) WEFT_NOEXCEPT;

/**
 * Release the lock, wait to be notified, then take the lock back.
 *
 * An rlock is released fully whatever its depth and restored to the same
 * depth afterwards. The lock is always held again when this returns #WEFT_OK
 * or #WEFT_ETIMEDOUT, as in Python; re-taking it after a timeout may take
 * longer than @p timeout_ns.
 * @param c the condition; the caller must hold its lock.
 * @param timeout_ns 0 releases and re-takes the lock without waiting,
 *        #WEFT_FOREVER waits as long as it takes.
 * @return #WEFT_OK when notified; #WEFT_ETIMEDOUT when not notified in time;
 *         #WEFT_EPERM if the caller does not hold the lock (an rlock: is not
 *         its owner; a lock: it is not locked; a process-scope lock: the
 *         calling thread does not hold it); #WEFT_EINVAL for a timeout
 *         below -1; #WEFT_EMISUSE for a NULL or destroyed handle.
 *         Process scope also: #WEFT_EOWNERDEAD when the lock was taken back
 *         from a holder that died (held: repair, then mark it consistent);
 *         #WEFT_ENOTRECOVERABLE when it could not be taken back (not held).
 * Thread scope: spurious wake-ups do not happen, but another thread may have
 * changed the state again before the lock is re-taken: re-check it, or use
 * weft_condition_wait_for(). Process scope: spurious wake-ups may happen.
 * @since 0.1
 */
WEFT_API weft_status weft_condition_wait(weft_condition *c, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Wait until @p pred returns non-zero.
 *
 * @p pred is called first, and again after every wake-up, always with the
 * lock held and on the calling thread. One deadline covers the whole wait.
 * @param c the condition; the caller must hold its lock.
 * @param pred the test; must not be NULL.
 * @param user_data passed to @p pred.
 * @param timeout_ns 0 only checks once, #WEFT_FOREVER waits as long as it
 *        takes.
 * @return #WEFT_OK once @p pred is true; #WEFT_ETIMEDOUT if it is still false
 *         at the deadline (the lock is held again either way); #WEFT_EPERM
 *         if the caller does not hold the lock; #WEFT_EINVAL if @p pred is
 *         NULL or for a timeout below -1; #WEFT_EMISUSE for a NULL or
 *         destroyed handle; process scope: #WEFT_EOWNERDEAD (held, @p pred
 *         not called again) or #WEFT_ENOTRECOVERABLE, as weft_condition_wait().
 * @since 0.1
 */
WEFT_API weft_status weft_condition_wait_for(weft_condition *c, weft_predicate_fn pred, void *user_data, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Wake at most @p n waiting threads, the ones that have waited longest first.
 * Woken threads return from wait only after they re-take the lock, so after
 * the caller releases it. Process scope: wakes n sleeping waiters in the
 * kernel's order, and waiters that were about to sleep wake too.
 * @param c the condition; the caller must hold its lock.
 * @param n how many to wake; 0 wakes none.
 * @return #WEFT_OK (also when fewer than @p n, or none, were waiting);
 *         #WEFT_EPERM if the caller does not hold the lock; #WEFT_EINVAL if
 *         @p n is negative; #WEFT_EMISUSE for a NULL or destroyed handle.
 * @since 0.1
 */
WEFT_API weft_status weft_condition_notify(weft_condition *c, int n) WEFT_NOEXCEPT;

/**
 * Wake every waiting thread.
 * @param c the condition; the caller must hold its lock.
 * @return #WEFT_OK; #WEFT_EPERM if the caller does not hold the lock;
 *         #WEFT_EMISUSE for a NULL or destroyed handle.
 * @since 0.1
 */
WEFT_API weft_status weft_condition_notify_all(weft_condition *c) WEFT_NOEXCEPT;

/**
 * Mark the condition's lock consistent after a call returned
 * #WEFT_EOWNERDEAD and the caller repaired the shared state (the way to do so
 * for a named condition's own lock, which has no weft_lock handle of its
 * own). The same as weft_lock_mark_consistent() or
 * weft_rlock_mark_consistent() on the condition's lock.
 * @return #WEFT_OK; #WEFT_ESTATE if the caller does not hold the lock, it is
 *         not in the owner-died state, or it has thread scope;
 *         #WEFT_EMISUSE for a NULL or destroyed handle.
 * @since 0.2
 */
WEFT_API weft_status weft_condition_mark_consistent(weft_condition *c) WEFT_NOEXCEPT;

WEFT_END_DECLS

#endif /* WEFT_CONDITION_H */
