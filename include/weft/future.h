/**
 * @file future.h
 * @brief Futures: the result of work that finishes later, with waiting,
 *        cancellation, done callbacks, wait-for-many and as-completed
 *        (Python's `concurrent.futures.Future`, `wait` and `as_completed`).
 *
 * A future is a one-shot box shared by a producer (usually a thread pool
 * worker; any thread may play that role, like `std::promise`) and its
 * consumers. It goes through these states:
 *
 * @code
 *   PENDING --set_running--> RUNNING --set_result--> DONE
 *      |                        |    --set_error---> FAILED
 *      |                        `-- cancel: only requests it (WEFT_EBUSY)
 *      |--set_result / set_error--> DONE / FAILED   (a promise used directly)
 *      `--cancel--> CANCELLED
 * @endcode
 *
 * DONE, FAILED and CANCELLED are final ("finished"); nothing leaves them.
 * A DONE future owns its value and frees it with the value's free function
 * when the last reference goes. A FAILED future holds the task's negative
 * status code and a message (Python's exception).
 *
 * Futures are reference counted: weft_future_create() gives the caller one
 * reference, weft_future_retain() adds one, weft_future_destroy() drops one,
 * and the future is freed with the last. Every function may be called from
 * any thread by whoever holds a reference.
 *
 * Completing a future nobody waits on costs no system call; waiters sleep on
 * futexes (no polling), callbacks and wake-ups never run under the future's
 * internal lock. A wait made inside a thread-pool task (weft_future_wait,
 * weft_future_result, weft_future_wait_many, weft_as_completed_next) runs
 * queued tasks of that pool meanwhile instead of sleeping, so tasks that wait
 * on tasks of their own pool cannot deadlock it.
 *
 * @code
 * weft_future *f;
 * weft_future_create(&f);                      // producer side
 * // ... a worker: weft_future_set_running(f); weft_future_set_result(f, v, free);
 * void *v;
 * weft_status s = weft_future_result(f, &v, 2 * WEFT_SEC);   // future.result(timeout=2)
 * if (s < 0 && s != WEFT_ETIMEDOUT) printf("failed: %s\n", weft_last_error()->message);
 * weft_future_destroy(f);
 * @endcode
 *
 * @since 0.1
 */
#ifndef WEFT_FUTURE_H
#define WEFT_FUTURE_H

#include "common.h"

WEFT_BEGIN_DECLS

/** Opaque, reference-counted future handle. */
typedef struct weft_future weft_future;

/** States of a future, as weft_future_get_state() reports them. */
typedef enum weft_future_state {
    WEFT_FUTURE_PENDING = 0,  /**< created, not started */
    WEFT_FUTURE_RUNNING = 1,  /**< a worker runs it (weft_future_set_running()) */
    WEFT_FUTURE_DONE = 2,     /**< finished with a value */
    WEFT_FUTURE_FAILED = 3,   /**< finished with an error code and message */
    WEFT_FUTURE_CANCELLED = 4 /**< cancelled before it ran */
} weft_future_state;

/**
 * Called once when a future finishes (see weft_future_add_done_callback()).
 * @param f the finished future, borrowed for the duration of the call.
 * @param user_data what was given with the callback.
 */
typedef void (*weft_future_callback)(weft_future *f, void *user_data);

/* ---- producer side ---------------------------------------------------- */

/**
 * Create a PENDING future. The caller holds one reference.
 *
 * One allocation; no system call.
 * @param out receives the handle.
 * @return #WEFT_OK; #WEFT_EINVAL for NULL @p out; #WEFT_ENOMEM.
 * @since 0.1
 */
WEFT_API weft_status weft_future_create(weft_future **out) WEFT_NOEXCEPT;

/**
 * Drop the caller's reference; the future is freed with the last one.
 *
 * Freeing a DONE future frees its value with the value's free function (when
 * one was given), exactly once. Dropping the last reference of a future that
 * has not finished cancels it first: its done callbacks run (state
 * #WEFT_FUTURE_CANCELLED) in the calling thread and must not retain it.
 * NULL is a no-op. Using a future after dropping your reference is undefined
 * (a stale handle gives #WEFT_EMISUSE where that can be detected).
 * Thread-safe: several owners may drop their references concurrently.
 * @since 0.1
 */
WEFT_API void weft_future_destroy(weft_future *f) WEFT_NOEXCEPT;

/**
 * Take one more reference, to hand the future to another owner (each owner
 * then calls weft_future_destroy() once).
 * @return #WEFT_OK; #WEFT_EMISUSE for a NULL or destroyed handle (also while
 *         the last reference is being dropped); #WEFT_EOVERFLOW past
 *         4294967294 references.
 * Thread-safe.
 * @since 0.1
 */
WEFT_API weft_status weft_future_retain(weft_future *f) WEFT_NOEXCEPT;

/**
 * Mark a PENDING future RUNNING, unless it was cancelled (Python's
 * `set_running_or_notify_cancel`). A worker calls it before running the task
 * and skips the task on #WEFT_ECANCELLED (waiters were already woken and
 * callbacks already ran when it was cancelled). Once RUNNING, a future can no
 * longer be cancelled, only asked to cancel.
 *
 * One atomic instruction; no lock, no system call.
 * @return #WEFT_OK (now RUNNING); #WEFT_ECANCELLED if it was cancelled;
 *         #WEFT_ESTATE if it is RUNNING, DONE or FAILED already;
 *         #WEFT_EMISUSE for a NULL or destroyed handle.
 * Thread-safe; races with weft_future_cancel() have exactly one winner.
 * @since 0.1
 */
WEFT_API weft_status weft_future_set_running(weft_future *f) WEFT_NOEXCEPT;

/**
 * Finish a PENDING or RUNNING future with a value: it becomes DONE, waiters
 * wake, then the done callbacks run in this thread, in the order added.
 *
 * No system call when nobody waits.
 * @param value the result; the future owns it from now on (readers borrow it).
 * @param value_free frees @p value when the last reference goes; may be NULL.
 * @return #WEFT_OK; #WEFT_ESTATE if the future is finished already (then
 *         @p value_free is NOT called: the caller keeps @p value);
 *         #WEFT_EMISUSE for a NULL or destroyed handle.
 * Thread-safe; of two racing finishers exactly one succeeds.
 * @since 0.1
 */
WEFT_API weft_status weft_future_set_result(weft_future *f, void *value, weft_free_fn value_free) WEFT_NOEXCEPT;

/**
 * Finish a PENDING or RUNNING future with an error (Python's
 * `set_exception`): it becomes FAILED, waiters wake, then the done callbacks
 * run in this thread, in the order added.
 * @param code a negative status: a `WEFT_E*` code or the task's own negative
 *        number; weft_future_result() returns it.
 * @param message copied whole; may be NULL or "" (then the message is empty).
 * @return #WEFT_OK; #WEFT_EINVAL if @p code is not negative;
 *         #WEFT_ESTATE if the future is finished already; #WEFT_ENOMEM (the
 *         future is unchanged); #WEFT_EMISUSE for a NULL or destroyed handle.
 * Thread-safe; of two racing finishers exactly one succeeds.
 * @since 0.1
 */
WEFT_API weft_status weft_future_set_error(weft_future *f, weft_status code, const char *message) WEFT_NOEXCEPT;

/* ---- consumer side ---------------------------------------------------- */

/**
 * The future's state (a snapshot: it may change at once unless final).
 * @return a ::weft_future_state value; #WEFT_EMISUSE for a NULL or destroyed
 *         handle.
 * Thread-safe; one atomic load.
 * @since 0.1
 */
WEFT_API int weft_future_get_state(const weft_future *f) WEFT_NOEXCEPT;

/**
 * Whether the future is finished (DONE, FAILED or CANCELLED): Python's
 * `done()`.
 * @return 1 or 0; #WEFT_EMISUSE for a NULL or destroyed handle.
 * Thread-safe; one atomic load.
 * @since 0.1
 */
WEFT_API int weft_future_done(const weft_future *f) WEFT_NOEXCEPT;

/**
 * Wait until the future is finished, whichever way.
 * @param timeout_ns 0 polls, #WEFT_FOREVER waits as long as it takes.
 * @return #WEFT_OK once finished; #WEFT_ETIMEDOUT; #WEFT_EINVAL for a
 *         timeout below -1; #WEFT_EMISUSE for a NULL or destroyed handle.
 * Thread-safe; any number of threads may wait. Hold a reference while waiting.
 * @since 0.1
 */
WEFT_API weft_status weft_future_wait(weft_future *f, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Wait for the future and get its outcome: Python's `result(timeout)`.
 * @param value receives the value of a DONE future, borrowed: the future owns
 *        it and frees it with its last reference. Receives NULL otherwise.
 * @param timeout_ns 0 polls, #WEFT_FOREVER waits as long as it takes.
 * @return #WEFT_OK for DONE; for FAILED, the task's own negative code, with
 *         weft_last_error()'s code set to it and its message set to the
 *         task's message (or, when the task gave none, to one naming the code);
 *         #WEFT_ECANCELLED for CANCELLED; #WEFT_ETIMEDOUT if not finished in
 *         time; #WEFT_EINVAL for NULL @p value or a timeout below -1;
 *         #WEFT_EMISUSE for a NULL or destroyed handle.
 * Thread-safe.
 * @since 0.1
 */
WEFT_API weft_status weft_future_result(weft_future *f, void **value, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * The error of a FAILED future, without waiting (Python's `exception()` on a
 * finished future).
 * @param code receives the task's negative code.
 * @param message receives the task's message ("" when none was given), valid
 *        while the caller holds its reference.
 * @return #WEFT_OK; #WEFT_ESTATE unless the future is FAILED; #WEFT_EINVAL
 *         for NULL @p code or @p message; #WEFT_EMISUSE for a NULL or
 *         destroyed handle.
 * Thread-safe.
 * @since 0.1
 */
WEFT_API weft_status weft_future_error(const weft_future *f, weft_status *code, const char **message) WEFT_NOEXCEPT;

/**
 * Cancel the future: Python's `cancel()`, plus a cancel request for a task
 * that already runs.
 *
 * A PENDING future becomes CANCELLED: waiters wake, then its done callbacks
 * run in this thread. A RUNNING one cannot be stopped from outside: the call
 * sets its cancel request (weft_future_cancel_requested(), and
 * weft_task_cancel_requested() inside the task) and returns #WEFT_EBUSY.
 * @return #WEFT_OK when cancelled now or already; #WEFT_EBUSY when RUNNING
 *         (cancel requested); #WEFT_ESTATE when DONE or FAILED;
 *         #WEFT_EMISUSE for a NULL or destroyed handle.
 * Thread-safe.
 * @since 0.1
 */
WEFT_API weft_status weft_future_cancel(weft_future *f) WEFT_NOEXCEPT;

/**
 * Whether weft_future_cancel() was called on this future (it is CANCELLED,
 * or it was RUNNING and asked to stop).
 * @return 1 or 0; #WEFT_EMISUSE for a NULL or destroyed handle.
 * Thread-safe.
 * @since 0.1
 */
WEFT_API int weft_future_cancel_requested(const weft_future *f) WEFT_NOEXCEPT;

/**
 * Call @p cb(f, user_data) once the future is finished: Python's
 * `add_done_callback`.
 *
 * The callback runs exactly once: in the thread that finishes the future
 * (after waiters were woken, outside any lock; callbacks of one future run in
 * the order they were added), or at once in the calling thread when the
 * future is finished already. A callback may call any weft_future function,
 * including on this future (it is finished, so nothing blocks).
 * The first callback of a future costs no allocation.
 * @return #WEFT_OK; #WEFT_EINVAL for a NULL @p cb; #WEFT_ENOMEM (the
 *         callback will not run); #WEFT_EMISUSE for a NULL or destroyed handle.
 * Thread-safe, also while another thread finishes the future.
 * @since 0.1
 */
WEFT_API weft_status weft_future_add_done_callback(weft_future *f, weft_future_callback cb,
                                                   void *user_data) WEFT_NOEXCEPT;

/* ---- waiting on several ----------------------------------------------- */

/** When weft_future_wait_many() returns: Python's `return_when`. */
typedef enum weft_wait_mode {
    WEFT_WAIT_FIRST_COMPLETED = 0, /**< any one finished (FIRST_COMPLETED) */
    WEFT_WAIT_FIRST_EXCEPTION = 1, /**< any one FAILED, or else all finished (FIRST_EXCEPTION) */
    WEFT_WAIT_ALL_COMPLETED = 2    /**< all finished (ALL_COMPLETED) */
} weft_wait_mode;

/**
 * Wait until the futures satisfy @p mode: Python's
 * `concurrent.futures.wait(fs, timeout, return_when)`.
 *
 * A CANCELLED future counts as completed, not as an exception (as in
 * Python). The thread sleeps until one of the futures finishes (no
 * polling). The same future may appear more than once.
 * @param fs the futures; may be NULL when @p n is 0 (then the call returns
 *        #WEFT_OK at once with *n_done = 0, as Python's wait([]) does).
 * @param n how many.
 * @param mode a ::weft_wait_mode.
 * @param timeout_ns 0 polls, #WEFT_FOREVER waits as long as it takes.
 * @param n_done receives how many of @p fs are finished at return (a
 *        snapshot; duplicates count each time); may be NULL. Set on
 *        #WEFT_OK and #WEFT_ETIMEDOUT.
 * @return #WEFT_OK when the condition holds; #WEFT_ETIMEDOUT otherwise;
 *         #WEFT_EINVAL for NULL @p fs with @p n > 0, an unknown @p mode or a
 *         timeout below -1; #WEFT_ENOMEM (more than 16 futures need one
 *         allocation); #WEFT_EMISUSE if any entry is NULL or destroyed.
 * Thread-safe; the caller must hold references to the futures while waiting.
 * @since 0.1
 */
WEFT_API weft_status weft_future_wait_many(weft_future *const *fs, size_t n, int mode, int64_t timeout_ns,
                                           size_t *n_done) WEFT_NOEXCEPT;

/** Opaque iterator over futures in completion order. */
typedef struct weft_as_completed weft_as_completed;

/**
 * Start iterating over futures as they finish: Python's `as_completed(fs)`.
 *
 * Retains each future (the caller may drop its own references). Futures
 * finished already are yielded first, in the order of @p fs; the others in
 * the order they finish.
 * @param out receives the iterator.
 * @param fs the futures; may be NULL when @p n is 0 (the first next() then
 *        returns #WEFT_ECLOSED). The same future may appear twice and is then
 *        yielded twice.
 * @param n how many.
 * @return #WEFT_OK; #WEFT_EINVAL for NULL @p out, or NULL @p fs with
 *         @p n > 0; #WEFT_ENOMEM; #WEFT_EMISUSE if an entry is NULL or
 *         destroyed (nothing is retained then).
 * @since 0.1
 */
WEFT_API weft_status weft_as_completed_create(weft_as_completed **out, weft_future *const *fs,
                                              size_t n) WEFT_NOEXCEPT;

/**
 * The next finished future, waiting up to @p timeout_ns for one.
 * @param f receives the future, borrowed from the iterator (valid until
 *        weft_as_completed_destroy(); retain it to keep it longer); NULL on
 *        any other outcome than #WEFT_OK.
 * @param timeout_ns 0 polls, #WEFT_FOREVER waits as long as it takes.
 * @return #WEFT_OK; #WEFT_ECLOSED when every future was yielded;
 *         #WEFT_ETIMEDOUT (call again to keep waiting); #WEFT_EINVAL for NULL
 *         @p f or a timeout below -1; #WEFT_EMISUSE for a NULL or destroyed
 *         iterator.
 * Not thread-safe for one iterator: use it from one thread at a time (like a
 * Python generator). The futures it watches may be finished from any thread.
 * @since 0.1
 */
WEFT_API weft_status weft_as_completed_next(weft_as_completed *it, weft_future **f, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Destroy the iterator and drop the references it holds (also for futures
 * not yielded yet). NULL is a no-op.
 * @since 0.1
 */
WEFT_API void weft_as_completed_destroy(weft_as_completed *it) WEFT_NOEXCEPT;

/* ---- inside a running task -------------------------------------------- */

/**
 * Make the task running on this thread end FAILED with @p code and
 * @p message when it returns (the C counterpart of raising an exception in a
 * pool task). The task should return soon after; a later call replaces the
 * earlier code and message; the task's return value is then freed and dropped.
 * @param code a negative status: a `WEFT_E*` code or the task's own number.
 * @param message copied (at most #WEFT_ERROR_MESSAGE_MAX - 1 bytes kept); may
 *        be NULL.
 * @return #WEFT_OK; #WEFT_ESTATE when this thread does not run a pool task;
 *         #WEFT_EINVAL if @p code is not negative.
 * Thread-local: affects only the task of the calling thread.
 * @since 0.1
 */
WEFT_API weft_status weft_task_fail(weft_status code, const char *message) WEFT_NOEXCEPT;

/**
 * Whether the task running on this thread was asked to cancel
 * (weft_future_cancel() on its future while it ran). Tasks that run long
 * should check it now and then and return early.
 * @return 1 if asked, 0 otherwise (also outside a task).
 * @since 0.1
 */
WEFT_API int weft_task_cancel_requested(void) WEFT_NOEXCEPT;

/**
 * The future of the task running on this thread.
 * @return the future, borrowed (valid while the task runs); NULL outside a
 *         task and for tasks submitted without a future.
 * @since 0.1
 */
WEFT_API weft_future *weft_task_current(void) WEFT_NOEXCEPT;

WEFT_END_DECLS

#endif /* WEFT_FUTURE_H */
