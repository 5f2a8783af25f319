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
    uint32_t version;  /**< #WEFT_CONDITION_OPTIONS_VERSION */
    weft_lock *lock;   /**< a lock to use (borrowed), or NULL */
    weft_rlock *rlock; /**< a re-entrant lock to use (borrowed), or NULL;
                            at most one of lock and rlock may be set. With
                            neither, the condition owns a new weft_lock. */
} weft_condition_options;

/** Current version of ::weft_condition_options. */
#define WEFT_CONDITION_OPTIONS_VERSION 1
/** Default ::weft_condition_options: the condition owns its own lock. */
#define WEFT_CONDITION_OPTIONS_INIT { WEFT_CONDITION_OPTIONS_VERSION, NULL, NULL }

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
 *         version, or both `opts->lock` and `opts->rlock` are set;
 *         #WEFT_EMISUSE if the given lock or rlock is destroyed or of the
 *         wrong type; #WEFT_ENOMEM.
 * @since 0.1
 */
WEFT_API weft_status weft_condition_create(weft_condition **out, const weft_condition_options *opts) WEFT_NOEXCEPT;

/**
 * Destroy a condition and the lock it owns (a borrowed lock is left alone).
 * NULL is a no-op. Destroying a condition another thread waits on is
 * undefined.
 * @since 0.1
 */
WEFT_API void weft_condition_destroy(weft_condition *c) WEFT_NOEXCEPT;

/**
 * Acquire the condition's lock (re-entrant if it is a weft_rlock).
 * @param c the condition.
 * @param timeout_ns 0 tries once, #WEFT_FOREVER waits as long as it takes.
 * @return #WEFT_OK; #WEFT_ETIMEDOUT; #WEFT_EOVERFLOW (rlock depth);
 *         #WEFT_EINVAL for a timeout below -1; #WEFT_EMISUSE for a NULL or
 *         destroyed handle.
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
 *         its owner; a lock: it is not locked); #WEFT_EINVAL for a timeout
 *         below -1; #WEFT_EMISUSE for a NULL or destroyed handle.
 * Spurious wake-ups do not happen, but another thread may have changed the
 * state again before the lock is re-taken: re-check it, or use
 * weft_condition_wait_for().
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
 *         destroyed handle.
 * @since 0.1
 */
WEFT_API weft_status weft_condition_wait_for(weft_condition *c, weft_predicate_fn pred, void *user_data, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Wake at most @p n waiting threads, the ones that have waited longest first.
 * Woken threads return from wait only after they re-take the lock, so after
 * the caller releases it.
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

WEFT_END_DECLS

#endif /* WEFT_CONDITION_H */
