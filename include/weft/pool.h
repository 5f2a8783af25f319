/**
 * @file pool.h
 * @brief Thread pool: Python's `concurrent.futures.ThreadPoolExecutor` and
 *        `multiprocessing.pool.ThreadPool` in one object.
 *
 * A pool owns a number of worker threads (named "<prefix>-N", daemon threads:
 * process exit does not wait for them; destroy the pool to finish its work).
 * Tasks are a ::weft_task_fn and its argument:
 *
 * - weft_pool_submit() returns a ::weft_future (see future.h) with the
 *   task's result, its error, or its cancellation;
 * - weft_pool_execute() is fire-and-forget, the cheapest path;
 * - weft_pool_apply() runs a task and waits for it (Pool.apply);
 * - weft_pool_apply_async() calls a callback or an error callback when the task
 *   ends (Pool.apply_async);
 * - weft_pool_map() and weft_pool_map_unordered() run one function over an
 *   array, in chunks (Pool.map, Pool.imap_unordered).
 *
 * A task fails by calling weft_task_fail() (future.h) before it returns; its
 * code and message reach its future and its error callback. A running task
 * can see a cancellation request with weft_task_cancel_requested().
 *
 * Nothing is lost at shutdown: every submitted task either runs, or its
 * future ends cancelled (and its error callback runs with #WEFT_ECANCELLED).
 *
 * Nesting: a task may create its own pool, or submit to the pool it runs in.
 * A task that waits for a future (weft_future_wait/result) while running in
 * a pool worker runs other queued tasks of its pool while it waits, so a pool
 * whose tasks wait on each other does not deadlock.
 *
 * @since 0.1
 */
#ifndef WEFT_POOL_H
#define WEFT_POOL_H

#include "common.h"
#include "future.h"

WEFT_BEGIN_DECLS

/** Opaque thread pool handle. */
typedef struct weft_pool weft_pool;

/** A task: runs in a worker with its argument; its return value is the result. */
typedef void *(*weft_task_fn)(void *arg);

/** Runs once in each worker thread when it starts (Python's initializer). */
typedef void (*weft_pool_init_fn)(void *user_data);

/** Options for weft_pool_create(); NULL for defaults. */
typedef struct weft_pool_options {
    uint32_t version;              /**< #WEFT_POOL_OPTIONS_VERSION */
    int workers;                   /**< worker threads; 0 = weft_cpu_count() */
    const char *name_prefix;       /**< thread names "<prefix>-N"; NULL = "weft-pool" */
    weft_pool_init_fn initializer; /**< may be NULL */
    void *initializer_data;        /**< passed to @ref initializer */
    size_t max_queued;             /**< bound on tasks waiting to run; 0 = unbounded.
                                        When full, submitting waits up to its timeout. */
} weft_pool_options;

#define WEFT_POOL_OPTIONS_VERSION 1
#define WEFT_POOL_OPTIONS_INIT { WEFT_POOL_OPTIONS_VERSION, 0, NULL, NULL, NULL, 0 }

/** Counters of a pool, a snapshot (weft_pool_stats()). */
typedef struct weft_pool_stats {
    int workers;        /**< worker threads alive */
    int running;        /**< tasks running now */
    int64_t queued;     /**< tasks waiting to run */
    int64_t completed;  /**< tasks that returned (successfully or failed) */
    int64_t failed;     /**< of those, tasks that failed */
    int64_t cancelled;  /**< tasks cancelled before they ran */
} weft_pool_stats;

/** Called with a task's result in the worker that ran it (apply_async). */
typedef void (*weft_pool_callback)(void *result, void *user_data);
/** Called with a failed or cancelled task's code and message (apply_async). */
typedef void (*weft_pool_error_callback)(weft_status code, const char *message, void *user_data);
/** Called in the caller's thread for each result of weft_pool_map_unordered(). */
typedef void (*weft_pool_result_fn)(size_t index, void *result, weft_status code, void *user_data);

/**
 * Create a pool and start its workers.
 * @return #WEFT_OK; #WEFT_EINVAL for NULL @p out, a bad version or a negative
 *         worker count; #WEFT_ENOMEM; #WEFT_ESYS when a thread cannot start.
 * @since 0.1
 */
WEFT_API weft_status weft_pool_create(weft_pool **out, const weft_pool_options *opts) WEFT_NOEXCEPT;

/**
 * Shut the pool down (waiting for queued and running tasks, like
 * weft_pool_shutdown(pool, 1, 0)) and free it. NULL is a no-op. Must not be
 * called from one of the pool's own tasks.
 * @since 0.1
 */
WEFT_API void weft_pool_destroy(weft_pool *pool) WEFT_NOEXCEPT;

/**
 * Submit a task; its future tells how it ended.
 * @param future receives a new reference to the task's future; release it
 *        with weft_future_destroy(). Its value is the task's return value.
 * @param timeout_ns how long to wait for room when `max_queued` is reached.
 * @return #WEFT_OK; #WEFT_ECLOSED after close or shutdown; #WEFT_ETIMEDOUT
 *         when the queue stayed full; #WEFT_EINVAL for NULL @p fn or
 *         @p future or a timeout below -1; #WEFT_ENOMEM; #WEFT_EMISUSE.
 * Thread-safe; may be called from the pool's own tasks.
 * @since 0.1
 */
WEFT_API weft_status weft_pool_submit(weft_pool *pool, weft_task_fn fn, void *arg, weft_future **future,
                                      int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Submit a task without a future: the cheapest path. A failure it reports
 * with weft_task_fail() is counted in the statistics and otherwise dropped.
 * @return as weft_pool_submit().
 * @since 0.1
 */
WEFT_API weft_status weft_pool_execute(weft_pool *pool, weft_task_fn fn, void *arg, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Run a task in the pool and wait for it (Pool.apply). Called from one of
 * the pool's own tasks, it runs other queued work while it waits.
 * @param result receives the task's return value; may be NULL.
 * @return #WEFT_OK; the task's own code when it failed (message in
 *         weft_last_error()); #WEFT_ECANCELLED when the pool was terminated
 *         first; the codes of weft_pool_submit().
 * @since 0.1
 */
WEFT_API weft_status weft_pool_apply(weft_pool *pool, weft_task_fn fn, void *arg, void **result) WEFT_NOEXCEPT;

/**
 * Submit a task whose end calls @p callback (with the result) or
 * @p error_callback (with the code and message of a failed or cancelled task)
 * in the thread that ended it (Pool.apply_async). Exactly one of them runs,
 * exactly once, when this call succeeds; neither runs when it fails.
 * @param callback may be NULL. @param error_callback may be NULL.
 * @param future receives a new reference to the task's future; may be NULL.
 * @return as weft_pool_submit().
 * @since 0.1
 */
WEFT_API weft_status weft_pool_apply_async(weft_pool *pool, weft_task_fn fn, void *arg, weft_future **future,
                                           int64_t timeout_ns, weft_pool_callback callback,
                                           weft_pool_error_callback error_callback, void *user_data) WEFT_NOEXCEPT;

/**
 * Run @p fn over @p n arguments, @p chunksize at a time per task, and wait
 * (Pool.map / Executor.map). results[i] receives fn(args[i]).
 * @param chunksize arguments per task; 0 picks one (about 4 chunks per worker).
 * @param timeout_ns bounds the whole map; tasks not yet started at the
 *        deadline are cancelled.
 * @return #WEFT_OK when every call succeeded; otherwise the code of the
 *         first failed call in argument order (message in weft_last_error()),
 *         and results[i] of failed or skipped calls is NULL; #WEFT_ETIMEDOUT;
 *         #WEFT_EINVAL for NULL arrays with @p n > 0.
 * @since 0.1
 */
WEFT_API weft_status weft_pool_map(weft_pool *pool, weft_task_fn fn, void *const *args, size_t n, void **results,
                                   size_t chunksize, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Run @p fn over @p n arguments and hand each result to @p on_result in the
 * caller's thread as soon as its chunk finishes (Pool.imap_unordered).
 * @p on_result runs exactly once per argument (with #WEFT_ECANCELLED for
 * calls the deadline cut off) when this call starts the work.
 * @return #WEFT_OK when every call succeeded; otherwise the first failure
 *         code seen; #WEFT_ETIMEDOUT; #WEFT_EINVAL.
 * @since 0.1
 */
WEFT_API weft_status weft_pool_map_unordered(weft_pool *pool, weft_task_fn fn, void *const *args, size_t n,
                                             size_t chunksize, int64_t timeout_ns, weft_pool_result_fn on_result,
                                             void *user_data) WEFT_NOEXCEPT;

/**
 * Stop accepting tasks (Executor.shutdown).
 * @param wait non-zero: wait until every queued and running task ended and
 *        the workers exited.
 * @param cancel_pending non-zero: cancel tasks that have not started (their
 *        futures end cancelled, their error callbacks see #WEFT_ECANCELLED).
 * @return #WEFT_OK; #WEFT_EDEADLK when waiting from one of the pool's own tasks;
 *         #WEFT_EMISUSE.
 * @since 0.1
 */
WEFT_API weft_status weft_pool_shutdown(weft_pool *pool, int wait, int cancel_pending) WEFT_NOEXCEPT;

/**
 * Stop accepting tasks; queued ones still run (Pool.close).
 * @return #WEFT_OK; #WEFT_EMISUSE.
 * @since 0.1
 */
WEFT_API weft_status weft_pool_close(weft_pool *pool) WEFT_NOEXCEPT;

/**
 * Wait for the workers to finish everything and exit, after close or
 * terminate (Pool.join).
 * @return #WEFT_OK; #WEFT_ESTATE when the pool is still open;
 *         #WEFT_ETIMEDOUT; #WEFT_EDEADLK from one of the pool's own tasks.
 * @since 0.1
 */
WEFT_API weft_status weft_pool_join(weft_pool *pool, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Stop accepting tasks, cancel every queued one and ask running ones to stop
 * (weft_task_cancel_requested() turns true); does not wait (Pool.terminate;
 * threads cannot be killed, so running tasks end when they return).
 * @return #WEFT_OK; #WEFT_EMISUSE.
 * @since 0.1
 */
WEFT_API weft_status weft_pool_terminate(weft_pool *pool) WEFT_NOEXCEPT;

/**
 * Change the number of workers at run time. Extra workers exit after their
 * current task.
 * @return #WEFT_OK; #WEFT_EINVAL for fewer than 1; #WEFT_ECLOSED after
 *         close; #WEFT_ESYS when a thread cannot start.
 * @since 0.1
 */
WEFT_API weft_status weft_pool_resize(weft_pool *pool, int workers) WEFT_NOEXCEPT;

/**
 * Read the pool's counters.
 * @return #WEFT_OK; #WEFT_EINVAL for NULL @p stats; #WEFT_EMISUSE.
 * @since 0.1
 */
WEFT_API weft_status weft_pool_stats_get(const weft_pool *pool, weft_pool_stats *stats) WEFT_NOEXCEPT;

WEFT_END_DECLS

#endif /* WEFT_POOL_H */
