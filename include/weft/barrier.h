/**
 * @file barrier.h
 * @brief Barrier: a fixed number of threads wait for each other, then all go
 *        on together (Python's `threading.Barrier`).
 *
 * A barrier is created for `parties` threads. Each thread calls
 * weft_barrier_wait(); the first `parties - 1` callers block, and the last one
 * to arrive releases them all. The barrier is then empty again and can be
 * used for the next round ("generation") at once: it is reusable, as in
 * Python.
 *
 * Python terms:
 * | Python                       | weft                                      |
 * |------------------------------|-------------------------------------------|
 * | `Barrier(n, action, timeout)`| weft_barrier_create() (timeout per wait)  |
 * | `i = b.wait(timeout)`        | weft_barrier_wait(b, &i, timeout_ns)      |
 * | `BrokenBarrierError`         | #WEFT_EBROKEN                             |
 * | `b.abort()`, `b.reset()`     | weft_barrier_abort(), weft_barrier_reset()|
 * | `parties`, `n_waiting`, `broken` | weft_barrier_parties() ... |
 *
 * A barrier "breaks" when a waiter times out, when the action fails, or on
 * weft_barrier_abort(). Every thread waiting then returns #WEFT_EBROKEN, and
 * so does every later caller until weft_barrier_reset().
 *
 * @code
 * weft_barrier *start;
 * weft_barrier_create(&start, 3, NULL);
 * // in each of 3 runners:
 * unsigned place;
 * if (weft_barrier_wait(start, &place, 5 * WEFT_SEC) == WEFT_OK) run();
 * @endcode
 *
 * Process scope (Python's `multiprocessing.Barrier`): set `opts->share.scope`
 * to #WEFT_SCOPE_PROCESS and the barrier lives in shared memory, anonymous
 * (shared with children started by fork) or named (opened with
 * weft_barrier_open()); the parties are then threads of any of the processes.
 * Differences: a named barrier has no action (an anonymous one runs the
 * action of the arriving process's handle, the creator's or a fork child's
 * copy); waiters' timeouts still apply while the action runs (as in Python);
 * a party that dies before it arrives makes the others time out (as in
 * Python), and a process killed at the wrong instant inside a barrier call
 * breaks the barrier (everyone gets #WEFT_EBROKEN) instead of hanging it.
 * weft_barrier_abort() and weft_barrier_reset() reach waiters in every
 * process.
 *
 * All functions are thread-safe.
 *
 * @since 0.1
 */
#ifndef WEFT_BARRIER_H
#define WEFT_BARRIER_H

#include "common.h"

WEFT_BEGIN_DECLS

/** Opaque barrier handle. */
typedef struct weft_barrier weft_barrier;

/**
 * The action a barrier runs once per generation, in the last thread to
 * arrive, before the other threads are released (Python's `action`).
 * @param user_data the options' `user_data`.
 * @return 0 to release the waiters; non-zero breaks the barrier: the other
 *         waiters get #WEFT_EBROKEN and the thread that ran the action gets
 *         #WEFT_EFAILED. A C++ exception leaving the action counts as
 *         failure.
 */
typedef int (*weft_barrier_action_fn)(void *user_data);

/** Options for weft_barrier_create(); pass NULL for defaults (no action). */
typedef struct weft_barrier_options {
    uint32_t version;              /**< #WEFT_BARRIER_OPTIONS_VERSION (1 is still accepted: no `share`) */
    weft_barrier_action_fn action; /**< NULL for none */
    void *user_data;               /**< passed to the action; weft never frees it */
    weft_sharing share;            /**< version 2: thread scope (default) or process scope; @since 0.2 */
} weft_barrier_options;

/** Current version of ::weft_barrier_options (2 added `share`). */
#define WEFT_BARRIER_OPTIONS_VERSION 2
/** Default ::weft_barrier_options: thread scope, no action. */
#define WEFT_BARRIER_OPTIONS_INIT { WEFT_BARRIER_OPTIONS_VERSION, NULL, NULL, WEFT_SHARING_INIT }

/**
 * Create a barrier for @p parties threads.
 * @param out receives the handle.
 * @param parties how many threads must call weft_barrier_wait() before they
 *        are all released; 1 .. INT_MAX (1 makes every wait return at once).
 * @param opts NULL for defaults; the action and its user_data otherwise.
 *        The barrier keeps a copy of the options, not the pointer.
 *        With `share.scope == WEFT_SCOPE_PROCESS` the barrier lives in
 *        shared memory, anonymous or named (see ::weft_sharing); with
 *        #WEFT_SHARE_OPEN_EXISTING and an existing name, that barrier is
 *        opened and @p parties is ignored.
 * @return #WEFT_OK; #WEFT_EINVAL if @p out is NULL, @p parties is 0 or above
 *         INT_MAX, @p opts has an unknown version, `share` is invalid, a named
 *         barrier is given an action, or the name exists as another kind of
 *         object; #WEFT_EEXIST if the name exists (without
 *         #WEFT_SHARE_OPEN_EXISTING); #WEFT_EPERM; #WEFT_ENOMEM; #WEFT_ESYS.
 * Fork: a child started with fork may use its copy of a process-scope handle.
 * @since 0.1 (process scope since 0.2)
 */
WEFT_API weft_status weft_barrier_create(weft_barrier **out, unsigned parties,
                                         const weft_barrier_options *opts) WEFT_NOEXCEPT;

/**
 * Open the process-scope barrier called @p name, made by
 * weft_barrier_create() in any process.
 * @param out receives the handle; set to NULL on failure.
 * @param name the name given at creation.
 * @return #WEFT_OK; #WEFT_ENOENT if there is no such name; #WEFT_EINVAL for a
 *         NULL argument, a bad name, or a name that is another kind of weft
 *         object; #WEFT_EPERM; #WEFT_ENOMEM; #WEFT_ESYS.
 * Thread-safe. Close it with weft_barrier_destroy().
 * @since 0.2
 */
WEFT_API weft_status weft_barrier_open(weft_barrier **out, const char *name) WEFT_NOEXCEPT;

/**
 * Destroy a barrier handle. NULL is a no-op. Destroying a barrier that
 * threads of this process are blocked on is undefined: abort it and let them
 * return first. Process scope: closes this process's view; the name goes as
 * its lifetime says.
 * @since 0.1
 */
WEFT_API void weft_barrier_destroy(weft_barrier *b) WEFT_NOEXCEPT;

/**
 * Wait until @p b's parties have all arrived (Python's `Barrier.wait`).
 *
 * The last thread to arrive runs the action (if any), then releases the
 * others; all of them return #WEFT_OK and the barrier starts a new generation.
 *
 * If @p timeout_ns passes before everyone arrived, this caller returns
 * #WEFT_ETIMEDOUT and breaks the barrier, so the other waiters return
 * #WEFT_EBROKEN (as in Python). A poll (@p timeout_ns 0) by any caller but the
 * last therefore breaks the barrier. Once all parties have arrived and the
 * action runs, the waiters' timeouts no longer apply: they wait for the action
 * to finish.
 *
 * @param b the barrier.
 * @param index if not NULL, receives the caller's arrival place in its
 *        generation, 0 .. parties-1, distinct for each thread of one
 *        generation (Python's return value); the thread that runs the action
 *        gets parties-1. Written only on #WEFT_OK.
 * @param timeout_ns 0 polls, #WEFT_FOREVER waits as long as it takes.
 * @return #WEFT_OK when released; #WEFT_ETIMEDOUT when this caller's time ran
 *         out (it broke the barrier); #WEFT_EBROKEN when the barrier is or
 *         became broken (another waiter timed out, the action failed,
 *         weft_barrier_abort()) or was reset while this caller waited;
 *         #WEFT_EFAILED for the caller that ran an action which returned
 *         non-zero (the barrier is now broken); #WEFT_EINVAL for a timeout
 *         below -1; #WEFT_EMISUSE for a NULL or destroyed handle.
 *
 * The action runs in the calling thread with no weft lock held, so it may
 * call weft_barrier_n_waiting() or weft_barrier_abort() on @p b. Thread-safe.
 * @since 0.1
 */
WEFT_API weft_status weft_barrier_wait(weft_barrier *b, unsigned *index, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Break the barrier (Python's `Barrier.abort`): every waiting thread returns
 * #WEFT_EBROKEN, and so does every later weft_barrier_wait() until
 * weft_barrier_reset(). Use it to free the waiters when one party cannot come.
 * If an action is running, the thread running it also returns #WEFT_EBROKEN.
 * @return #WEFT_OK (also when already broken); #WEFT_EMISUSE for a NULL or
 *         destroyed handle; process scope: #WEFT_ENOTRECOVERABLE if the
 *         barrier's internal lock is unusable (never expected).
 * @since 0.1
 */
WEFT_API weft_status weft_barrier_abort(weft_barrier *b) WEFT_NOEXCEPT;

/**
 * Return the barrier to its empty, unbroken state (Python's `Barrier.reset`).
 * Threads waiting on it right now return #WEFT_EBROKEN.
 * @return #WEFT_OK; #WEFT_EMISUSE for a NULL or destroyed handle.
 * @since 0.1
 */
WEFT_API weft_status weft_barrier_reset(weft_barrier *b) WEFT_NOEXCEPT;

/**
 * The number of parties the barrier was created for.
 * @return the count (>= 1), or #WEFT_EMISUSE for a NULL or destroyed handle.
 * @since 0.1
 */
WEFT_API int weft_barrier_parties(const weft_barrier *b) WEFT_NOEXCEPT;

/**
 * How many threads are blocked in weft_barrier_wait() in the current
 * generation right now (a snapshot; Python's `n_waiting`). The thread running
 * the action is not counted.
 * @return the count, or #WEFT_EMISUSE for a NULL or destroyed handle.
 * @since 0.1
 */
WEFT_API int weft_barrier_n_waiting(const weft_barrier *b) WEFT_NOEXCEPT;

/**
 * Whether the barrier is broken (Python's `broken`).
 * @return 1 if broken, 0 if not, #WEFT_EMISUSE for a NULL or destroyed handle.
 * @since 0.1
 */
WEFT_API int weft_barrier_broken(const weft_barrier *b) WEFT_NOEXCEPT;

WEFT_END_DECLS

#endif /* WEFT_BARRIER_H */
