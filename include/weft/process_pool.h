/**
 * @file process_pool.h
 * @brief Supervised process pool: Python's `multiprocessing.Pool` and
 *        `concurrent.futures.ProcessPoolExecutor`, with the guarantee that
 *        a crashed worker costs one task, never the pool, and that nobody
 *        waits forever for a lost result. Linux only (pidfd, Linux >= 5.3).
 *
 * The face is the thread pool's (pool.h): weft_process_pool_submit()
 * returns the same ::weft_future type (so weft_future_wait_many() and
 * weft_as_completed_create() take thread-pool and process-pool futures
 * together), weft_process_pool_execute() is fire-and-forget,
 * weft_process_pool_apply() waits, weft_process_pool_apply_async() calls a
 * callback or an error callback, weft_process_pool_map() and
 * weft_process_pool_map_unordered() run one function over many arguments in
 * chunks; close, join, terminate and shutdown have the thread pool's meaning.
 *
 * **Tasks are bytes in, bytes out.** A task is a ::weft_ptask_fn (a function
 * pointer: valid in the workers because they are forked from the pool's
 * process) and argument bytes, copied at submit. The task writes its result
 * bytes with weft_ptask_result_set() or weft_ptask_result_alloc(); the
 * future's value is then a `const weft_bytes *`, owned by the future and
 * freed with it. Pointers inside the argument are meaningful in the worker
 * only if they point at memory that existed when the worker was forked.
 *
 * A task fails by returning a negative code, or by calling weft_task_fail()
 * (future.h) before it returns: the code and the message reach its future
 * (and its error callback) in the pool's process.
 *
 * **Supervision.** One hidden thread per pool, the supervisor, forks the
 * workers, sends them tasks over one socket pair each, reads their results,
 * and watches each worker's pidfd:
 * - a worker that dies (SIGKILL, a segfault, `_exit`) fails only the task it
 *   ran, with #WEFT_EWORKERDIED and a message that names the worker's pid
 *   and the signal (`"killed by signal 9 (SIGKILL)"`) or the exit code; a
 *   worker killed while it received a large argument or sent a large result
 *   fails that task the same way. The supervisor starts a replacement and
 *   keeps serving;
 * - a task that runs longer than `task_timeout_ns` has its worker killed and
 *   replaced; its future fails with #WEFT_ETIMEDOUT;
 * - weft_future_cancel() on a task that was already sent to a worker returns
 *   #WEFT_EBUSY (the future is RUNNING) and asks the pool to stop it: the
 *   supervisor kills that worker within about 10 ms and replaces it, and the
 *   future ends FAILED with #WEFT_ECANCELLED (weft_future_result() returns
 *   #WEFT_ECANCELLED). A task still queued in the pool is cancelled at once
 *   (CANCELLED) and never runs;
 * - the restart budget: more than `max_restarts` unexpected worker deaths
 *   within `restart_window_ns` (a task that crashes its worker again and
 *   again, an initializer that crashes) end the pool's life: the task whose
 *   crash ran the budget out fails with #WEFT_EWORKERDIED and a message saying
 *   so, the pool becomes BROKEN (Python's `BrokenProcessPool`): its other
 *   queued and running tasks fail with #WEFT_EBROKEN, its workers are killed,
 *   and submitting returns #WEFT_EBROKEN. A broken pool never spins.
 *   Deaths weft caused (timeouts, cancels, terminate) do not count.
 * - the workers die with the pool's process, whatever its end, SIGKILL
 *   included: each worker asks the kernel for SIGKILL when the supervisor
 *   thread that forked it ends (`PR_SET_PDEATHSIG`) and checks its parent
 *   right after, closing the race where the parent died first.
 * - workers end with `_exit()`: they never run the parent's `atexit`
 *   handlers or weft's exit machinery (a task that calls exit() runs them;
 *   do not).
 *
 * What a worker inherits: it is forked by the supervisor thread, so it is a
 * copy of the pool's process at that moment (memory, file descriptors,
 * unflushed stdio buffers: fflush(stdout) before creating a pool, as with
 * any fork), with only that one thread. Its crash signals (SIGSEGV, SIGBUS,
 * SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS) get their default action back,
 * so a crash ends the worker with its signal, which the pool reports; every
 * signal is unblocked and SIGPIPE is ignored. Workers (of every start
 * method) run under the `SCHED_BATCH` policy, at the caller's nice value:
 * waking a worker never preempts the thread that sent it work, so a map's
 * caller hands every chunk out before a worker takes its CPU; a task may set
 * its policy back with sched_setscheduler(). Workers are forked at create
 * and again for each replacement, from whatever the process looks like then:
 * a lock that another thread held at that moment stays locked in the worker
 * (glibc keeps malloc usable; stdio streams and your own locks are not), so
 * tasks and initializers should not take locks that other threads of the
 * pool's process use.
 *
 * A task stays PENDING (and cancellable) in the pool's queue until it is
 * sent to a worker, then it is RUNNING. A task goes to a free worker first;
 * when none is free, small tasks (arguments up to 16 KiB) may be sent ahead
 * to a worker whose previous task took under 200 us, up to two waiting
 * behind the one it runs, so that a worker never waits for the supervisor
 * between tiny tasks (a map's chunks are always sent ahead). Such a task is
 * RUNNING while it waits in the worker: weft_future_cancel() gives
 * #WEFT_EBUSY, and once the task before it ended the pool stops it as a
 * running one, by killing that worker (Python's ProcessPoolExecutor also
 * marks the calls it has queued to its workers as running). A fresh worker, or one whose last task was slow,
 * gets one task at a time. A hard timeout counts from the moment a task
 * starts: when it is sent to an idle worker, or when the task before it in
 * that worker ended. If the worker dies, the tasks waiting behind its
 * running one go back to the front of the queue.
 *
 * The results of one map chunk share one block of memory, freed when the
 * last of them is freed (each with weft_bytes_free(), as any map result).
 * A thread's frees of one chunk's results are counted without an atomic
 * operation and settled at once: when one thread frees them all, the block
 * goes with the last; when several threads share them, it goes at the
 * latest when each of those threads frees a result of another chunk or ends.
 *
 * weft_process_pool_apply() skips the supervisor when a worker is idle and
 * nothing is queued (and the pool has no `task_timeout_ns` and no
 * `max_tasks_per_worker`): the calling thread writes the task to that
 * worker's socket and reads the result itself, so one round trip costs two
 * wake-ups (the worker's and the caller's), as in a bare pipe pool, instead
 * of four. Supervision is the same: a worker that dies meanwhile fails the
 * task with #WEFT_EWORKERDIED (pid, signal) and is replaced; terminate kills
 * it (#WEFT_ECANCELLED).
 *
 * After a fork() of the pool's process, the child must not use the parent's
 * pools (their supervisors exist only in the parent); calls from another
 * process return #WEFT_ESTATE and destroy only forgets the handle.
 *
 * **Start methods.** Fork (the default) is described above. With
 * #WEFT_PROCESS_POOL_START_SPAWN each worker is a fresh copy of the program
 * (process.h's spawn: main() must call weft_main(argc, argv) first), with
 * #WEFT_PROCESS_POOL_START_FORKSERVER it is forked by weft's forkserver
 * (started on first use). Such a worker shares no memory with the pool:
 * - tasks go by name: submit, apply and map still take the function
 *   pointer, which must be registered with WEFT_REGISTER_PTASK() (or
 *   weft_process_pool_register() before the program's main work); an
 *   unregistered pointer gives #WEFT_EINVAL at submit; a name the worker's
 *   copy of the program does not know (registered at run time in the pool's
 *   process only) fails that task's future with #WEFT_ENOENT;
 * - the worker connects to the pool over an abstract Unix socket (named
 *   `weft-pool-<pid>-<n>`; the pool accepts only the process it started,
 *   checked with SO_PEERCRED) and then speaks the fork workers' protocol;
 * - the initializer is one by registered name (`initializer_name`, with
 *   argument bytes); a function pointer `initializer` gives #WEFT_ENOTSUP at
 *   create;
 * - with `spawn_program` and `spawn_argv`, spawn workers run another program
 *   (an interpreter, say) that calls weft_main() with weft's arguments;
 *   forkserver workers are forks of a server of the pool's own running that
 *   program (weft_forkserver_start_program(); stopped with the pool);
 * - supervision is the same (pidfd, #WEFT_EWORKERDIED, replacement, budget,
 *   timeouts, cancel). The workers die with the pool's process: a spawn
 *   worker's parent is the supervisor thread that started it
 *   (`PR_SET_PDEATHSIG`); a forkserver worker's is the forkserver, which
 *   ends when the process that started it ends. Besides, a worker leaves at
 *   its next read when its socket reaches end of file.
 * Starting a worker takes an exec (spawn) or a request to the server
 * (forkserver), so replacements cost more than under fork; task round
 * trips cost the same.
 *
 * @code
 * static weft_status square(const void *arg, size_t len, weft_ptask_result *out) {
 *     int64_t x;
 *     if (len != sizeof x) return weft_task_fail(WEFT_EINVAL, "want one int64");
 *     memcpy(&x, arg, sizeof x);
 *     x *= x;
 *     return weft_ptask_result_set(out, &x, sizeof x);
 * }
 *
 * weft_process_pool *pool;
 * weft_process_pool_create(&pool, NULL);               // one worker per CPU
 * int64_t seven = 7;
 * weft_future *f;
 * weft_process_pool_submit(pool, square, &seven, sizeof seven, &f, WEFT_FOREVER);
 * void *v;
 * if (weft_future_result(f, &v, 5 * WEFT_SEC) == WEFT_OK)
 *     printf("%lld\n", (long long)*(const int64_t *)((const weft_bytes *)v)->data);   // 49
 * weft_future_destroy(f);
 * weft_process_pool_destroy(pool);
 * @endcode
 *
 * @since 0.2
 */
#ifndef WEFT_PROCESS_POOL_H
#define WEFT_PROCESS_POOL_H

#include "common.h"
#include "future.h"
#include "pool.h"

WEFT_BEGIN_DECLS

/** Opaque process pool handle. */
typedef struct weft_process_pool weft_process_pool;

/**
 * Bytes owned by weft: a process-pool task's result (the value of its
 * future) or a map result. `data` is aligned for any type (16 bytes) and
 * `size` may be 0.
 */
typedef struct weft_bytes {
    size_t size; /**< number of bytes at @ref data */
    void *data;  /**< the bytes; never NULL (points at an empty block when size is 0) */
} weft_bytes;

/**
 * Free a ::weft_bytes that the caller owns (a weft_process_pool_map() result).
 * Never call it on a future's value: the future owns that one. NULL is a no-op.
 * @since 0.2
 */
WEFT_API void weft_bytes_free(weft_bytes *b) WEFT_NOEXCEPT;

/** Where a process-pool task writes its result (opaque; valid during the task only). */
typedef struct weft_ptask_result weft_ptask_result;

/**
 * A process-pool task: runs in a worker process with a copy of the argument
 * bytes.
 * @param arg the argument bytes (aligned for any type; NULL when @p len is 0).
 * @param len their number.
 * @param result where to put the result bytes (weft_ptask_result_set(),
 *        weft_ptask_result_alloc()); a task that sets none has an empty result.
 * @return #WEFT_OK, or a negative code: the task fails with it (a positive
 *         value fails it with #WEFT_EFAILED). weft_task_fail() also fails it,
 *         with a message.
 */
typedef weft_status (*weft_ptask_fn)(const void *arg, size_t len, weft_ptask_result *result);

/**
 * Set the task's result to a copy of @p len bytes at @p data (replacing an
 * earlier one). Call only inside a process-pool task, on its @p result.
 * @return #WEFT_OK; #WEFT_EINVAL for NULL @p result, or NULL @p data with
 *         @p len > 0; #WEFT_ENOMEM.
 * @since 0.2
 */
WEFT_API weft_status weft_ptask_result_set(weft_ptask_result *result, const void *data, size_t len) WEFT_NOEXCEPT;

/**
 * Make the task's result @p len bytes that the task fills in place (no
 * second copy for large results), replacing an earlier one.
 * @param data receives the buffer (aligned for any type), valid until the
 *        task returns or the next call on @p result.
 * @return #WEFT_OK; #WEFT_EINVAL for NULL @p result or @p data; #WEFT_ENOMEM.
 * @since 0.2
 */
WEFT_API weft_status weft_ptask_result_alloc(weft_ptask_result *result, size_t len, void **data) WEFT_NOEXCEPT;

/** Start method values of weft_process_pool_options::start_method (the
 *  numbers of process.h's weft_start_method). */
#define WEFT_PROCESS_POOL_START_DEFAULT 0    /**< fork */
#define WEFT_PROCESS_POOL_START_FORK 1       /**< fork(): function pointers stay valid */
#define WEFT_PROCESS_POOL_START_SPAWN 2      /**< a fresh copy of the program; tasks by registered name */
#define WEFT_PROCESS_POOL_START_FORKSERVER 3 /**< forked by the forkserver; tasks by registered name */

/** A fork hook of weft_process_pool_options (fork_prepare, fork_parent,
 *  fork_child); @p data is weft_process_pool_options::fork_hook_data. */
typedef void (*weft_process_pool_fork_hook)(void *data);

/** Options for weft_process_pool_create(); NULL for defaults. */
typedef struct weft_process_pool_options {
    uint32_t version;               /**< #WEFT_PROCESS_POOL_OPTIONS_VERSION */
    int workers;                    /**< worker processes; 0 = weft_cpu_count() */
    weft_pool_init_fn initializer;  /**< runs once in each worker process when it starts; may be NULL */
    void *initializer_data;         /**< passed to @ref initializer (the worker's copy) */
    int64_t max_tasks_per_worker;   /**< replace a worker after it ran this many tasks; 0 = never */
    int64_t task_timeout_ns;        /**< hard limit per task: its worker is killed and replaced, the
                                         future fails with #WEFT_ETIMEDOUT; 0 or #WEFT_FOREVER = none */
    int max_restarts;               /**< restart budget: unexpected worker deaths tolerated within
                                         @ref restart_window_ns; 0 = 8 + 2 x workers; -1 = unlimited */
    int64_t restart_window_ns;      /**< the budget's window; 0 = 10 s */
    int start_method;               /**< WEFT_PROCESS_POOL_START_*; see "Start methods" above */
    size_t max_queued;              /**< bound on tasks waiting to be sent to a worker; 0 = unbounded.
                                         When full, submitting waits up to its timeout. */
    /* ---- version 2 (@since 0.3); a version 1 struct leaves them all NULL/0 ---- */
    /** Fork start method only: called in the thread that forks the workers
     *  (the pool's supervisor thread) right before every fork() of a worker,
     *  the first ones and every replacement.
     *  May be NULL. Use: a language runtime that must be quiesced around fork
     *  (Python: take the GIL, PyOS_BeforeFork()). It must not wait for
     *  anything that waits for this pool (a submit, a future of the pool). */
    weft_process_pool_fork_hook fork_prepare;
    /** Fork start method only: called in the parent right after each fork()
     *  of a worker (also when fork failed), in the same thread as
     *  @ref fork_prepare (Python: PyOS_AfterFork_Parent(), release the GIL). May be NULL. */
    weft_process_pool_fork_hook fork_parent;
    /** Fork start method only: called first thing in each new worker, after
     *  the at-fork handlers (pthread_atfork) and before weft does anything
     *  else there (Python: PyOS_AfterFork_Child()). It runs before the
     *  initializer. May be NULL. */
    weft_process_pool_fork_hook fork_child;
    void *fork_hook_data;           /**< passed to the three fork hooks */
    /** Spawn and forkserver: the program each worker executes (spawn), or
     *  the pool's own forkserver runs (forkserver: the workers are its
     *  forks), instead of re-executing this one (`/proc/self/exe`), e.g.
     *  `/usr/bin/python3`;
     *  copied; NULL = this program. It is started as
     *  `spawn_program spawn_argv[0] spawn_argv[1] ... <weft's arguments>` with
     *  this process's environment, and must call weft_main() with an argv whose
     *  argv[1] is the first of weft's arguments (for Python: `python3 -m module`
     *  and `weft_main(sys.argv)`). A path without '/' is not searched in PATH.
     *  Under fork it is ignored. */
    const char *spawn_program;
    /** Spawn and forkserver: the NULL-terminated arguments put between
     *  @ref spawn_program and weft's own (for Python `{"-m", "module", NULL}`);
     *  copied; NULL = none. Like @ref spawn_program, ignored under fork. */
    const char *const *spawn_argv;
    /** An initializer by registered name (weft_process_pool_register(), the
     *  registry of tasks), for every start method: it runs once in each worker
     *  before its first task, with @ref initializer_arg as its argument; its
     *  result bytes are dropped. The name must be registered in the pool's
     *  process (#WEFT_ENOENT at create otherwise) and, for spawn and
     *  forkserver, in the workers' program too. If it fails (returns an error
     *  or calls weft_task_fail()), the worker exits before taking a task: that
     *  counts as a crash against the restart budget, and the budget's message
     *  carries the initializer's message. Exclusive with @ref initializer
     *  (#WEFT_EINVAL when both are set). NULL = none; copied. */
    const char *initializer_name;
    const void *initializer_arg;    /**< the argument bytes of @ref initializer_name (copied); may be NULL */
    size_t initializer_arg_len;     /**< their number; 0 with a NULL @ref initializer_arg */
} weft_process_pool_options;

#define WEFT_PROCESS_POOL_OPTIONS_VERSION 2
#define WEFT_PROCESS_POOL_OPTIONS_INIT                                                                       \
    { WEFT_PROCESS_POOL_OPTIONS_VERSION, 0, NULL, NULL, 0, 0, 0, 0, WEFT_PROCESS_POOL_START_DEFAULT, 0, NULL, \
      NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0 }

/** Counters of a process pool, a snapshot (weft_process_pool_stats_get()). */
typedef struct weft_process_pool_stats {
    int workers;        /**< worker processes alive (started and not yet reaped) */
    int busy;           /**< workers running a task now */
    int64_t queued;     /**< tasks waiting to be sent to a worker */
    int64_t completed;  /**< tasks that ended in a worker (successfully or failed) */
    int64_t failed;     /**< of those, tasks that failed (returned an error) */
    int64_t cancelled;  /**< tasks cancelled (before they ran, or killed while running) */
    int64_t timed_out;  /**< tasks whose worker was killed at the task timeout */
    int64_t crashed;    /**< unexpected worker deaths (with or without a task) */
    int64_t replaced;   /**< workers started to replace one that ended (any reason) */
    int broken;         /**< 1 once the restart budget ran out */
} weft_process_pool_stats;

/** Called with a task's result in the supervisor thread (apply_async). */
typedef void (*weft_process_pool_callback)(const weft_bytes *result, void *user_data);

/** Called for each argument of weft_process_pool_map_unordered(), in the
 *  caller's thread: @p result is borrowed for the call (NULL unless @p code
 *  is #WEFT_OK), @p message says why it failed ("" when it did not). */
typedef void (*weft_process_pool_result_fn)(size_t index, const weft_bytes *result, weft_status code,
                                            const char *message, void *user_data);

/**
 * Register a task function under @p name for spawn and forkserver pools
 * (which send the name, not the pointer). Register at load time (see
 * WEFT_REGISTER_PTASK()) so that the re-executed program knows the name too.
 * A function may have several names; the first is the one sent.
 * @param name 1 to 255 bytes, copied.
 * @return #WEFT_OK (also when @p name is already registered to @p fn);
 *         #WEFT_EINVAL for NULL or a bad-length @p name or NULL @p fn;
 *         #WEFT_EEXIST when @p name is registered to another function;
 *         #WEFT_ENOMEM.
 * Thread-safe; not async-signal-safe. Fork: a child inherits the
 * registry; it may block here if another thread was registering at the fork.
 * @since 0.2
 */
WEFT_API weft_status weft_process_pool_register(const char *name, weft_ptask_fn fn) WEFT_NOEXCEPT;

#if defined(__GNUC__) || defined(__clang__)
/**
 * Register task function @p fn under its own name when the program loads
 * (a constructor), in the pool's process and in every spawned copy.
 * Use it at file scope after the function's definition.
 * @since 0.2
 */
#  define WEFT_REGISTER_PTASK(fn)                                               \
    static void weft_register_ptask_##fn##_(void) __attribute__((constructor)); \
    static void weft_register_ptask_##fn##_(void) { (void)weft_process_pool_register(#fn, fn); }
#endif

/**
 * Create a pool and start its supervisor, which forks the workers.
 * Returns once every worker was forked (their initializers may still run).
 * @return #WEFT_OK; #WEFT_EINVAL for NULL @p out, a bad version, a negative
 *         worker count, `max_tasks_per_worker` or `restart_window_ns`, a
 *         `task_timeout_ns` below -1, `max_restarts` below -1 or an unknown
 *         start method, both `initializer` and `initializer_name`, an
 *         `initializer_arg_len` > 0 with a NULL `initializer_arg`, or a
 *         `spawn_argv` longer than 64 entries; #WEFT_ENOENT for an
 *         `initializer_name` nobody registered (and, under spawn and forkserver, for a
 *         `spawn_program` that does not exist); #WEFT_EPERM for one that is not
 *         executable; #WEFT_ENOTSUP for an `initializer` function pointer
 *         with spawn or forkserver, or a `spawn_program` server that does not
 *         answer (weft_forkserver_start_program()); #WEFT_ENOMEM;
 *         #WEFT_ESYS when a socket, fork or the thread fails; under spawn or forkserver also the codes of
 *         weft_process_start_named() (e.g. #WEFT_ESYS when main() does not
 *         call weft_main()), #WEFT_EWORKERDIED when a worker died before it
 *         connected and #WEFT_ETIMEDOUT when it did not connect within 30 s.
 * Thread-safe. Do not call it in a forked child of a process with running
 * threads unless you know they hold no locks (as for any fork).
 * @since 0.2
 */
WEFT_API weft_status weft_process_pool_create(weft_process_pool **out,
                                              const weft_process_pool_options *opts) WEFT_NOEXCEPT;

/**
 * Shut the pool down (waiting for queued and running tasks, like
 * weft_process_pool_shutdown(pool, 1, 0)), reap every worker and free the
 * pool. NULL is a no-op. In a process other than the pool's (a forked
 * child), only forgets the handle.
 * @since 0.2
 */
WEFT_API void weft_process_pool_destroy(weft_process_pool *pool) WEFT_NOEXCEPT;

/**
 * Submit a task; its future tells how it ended.
 * @param arg the argument bytes, copied before the call returns; may be NULL
 *        when @p len is 0.
 * @param future receives a new reference to the task's future (release it
 *        with weft_future_destroy()); its value is a `const weft_bytes *`.
 * @param timeout_ns how long to wait for room when `max_queued` is reached.
 * @return #WEFT_OK; #WEFT_ECLOSED after close, shutdown or terminate;
 *         #WEFT_EBROKEN when the restart budget ran out; #WEFT_ETIMEDOUT
 *         when the queue stayed full; #WEFT_EINVAL for NULL @p fn or
 *         @p future, NULL @p arg with @p len > 0, or a timeout below -1;
 *         #WEFT_ENOMEM; #WEFT_ESTATE from another process; #WEFT_EMISUSE.
 * Thread-safe.
 * @since 0.2
 */
WEFT_API weft_status weft_process_pool_submit(weft_process_pool *pool, weft_ptask_fn fn, const void *arg, size_t len,
                                              weft_future **future, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Submit a task without a future, the cheapest path; its result is dropped
 * and a failure only counted in the statistics.
 * @return as weft_process_pool_submit().
 * @since 0.2
 */
WEFT_API weft_status weft_process_pool_execute(weft_process_pool *pool, weft_ptask_fn fn, const void *arg, size_t len,
                                               int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Run a task in the pool and wait for it (Pool.apply).
 * @param result receives a copy of the result that the caller owns (free it
 *        with weft_bytes_free()); NULL unless #WEFT_OK; may itself be NULL.
 * @return #WEFT_OK; the task's own code when it failed, #WEFT_EWORKERDIED,
 *         #WEFT_ETIMEDOUT, #WEFT_ECANCELLED, #WEFT_EBROKEN (message in
 *         weft_last_error()); the codes of weft_process_pool_submit().
 * @since 0.2
 */
WEFT_API weft_status weft_process_pool_apply(weft_process_pool *pool, weft_ptask_fn fn, const void *arg, size_t len,
                                             weft_bytes **result) WEFT_NOEXCEPT;

/**
 * Submit a task whose end calls @p callback (with the result) or
 * @p error_callback (with the code and message of a failed, cancelled,
 * timed-out or crashed task), Pool.apply_async. They run in the thread that
 * finished the future: the supervisor (keep them short: the pool waits), or
 * the thread that cancelled a queued task. Exactly one of them runs, exactly
 * once, when this call succeeds; neither runs when it fails.
 * @param callback may be NULL. @param error_callback may be NULL.
 * @param future receives a new reference to the task's future; may be NULL.
 * @return as weft_process_pool_submit().
 * @since 0.2
 */
WEFT_API weft_status weft_process_pool_apply_async(weft_process_pool *pool, weft_ptask_fn fn, const void *arg,
                                                   size_t len, weft_future **future, int64_t timeout_ns,
                                                   weft_process_pool_callback callback,
                                                   weft_pool_error_callback error_callback,
                                                   void *user_data) WEFT_NOEXCEPT;

/**
 * Run @p fn over @p n arguments, @p chunksize per task, and wait (Pool.map).
 * results[i] receives fn(args[i])'s result, owned by the caller (free each
 * with weft_bytes_free()), or NULL when that call failed.
 *
 * A chunk whose worker died is run again one argument per task, so only the
 * argument that crashed its worker fails (#WEFT_EWORKERDIED) and the others'
 * results are intact; arguments of that chunk that had run already run a
 * second time (map functions should be free of side effects).
 * @param args the arguments (each copied at submit).
 * @param codes receives each call's status (#WEFT_OK or its failure); may
 *        be NULL.
 * @param chunksize arguments per task; 0 picks one: one chunk per worker,
 *        best for many small calls; pass a smaller one when calls take long
 *        or uneven times.
 * @param timeout_ns bounds the whole map: at the deadline, queued chunks are
 *        cancelled and the workers running the others are killed and replaced.
 *        An untimed map (#WEFT_FOREVER) on a pool without a task timeout or
 *        max_tasks_per_worker borrows the idle workers, as
 *        weft_process_pool_apply() does, and moves its chunks to and from
 *        them on the calling thread (what is left over, or finds no idle
 *        worker, is queued as usual); crashes are handled the same way.
 * @return #WEFT_OK when every call succeeded; otherwise the code of the
 *         first failed call in argument order (weft_last_error() names the
 *         call and says why); #WEFT_ETIMEDOUT; #WEFT_EINVAL for NULL @p fn,
 *         or NULL @p args or @p results with @p n > 0; the codes of submit.
 * @since 0.2
 */
WEFT_API weft_status weft_process_pool_map(weft_process_pool *pool, weft_ptask_fn fn, const weft_bytes *args,
                                           size_t n, weft_bytes **results, weft_status *codes, size_t chunksize,
                                           int64_t timeout_ns) WEFT_NOEXCEPT;

/** Asked by a waiting map whether to stop (weft_process_pool_map_stoppable):
 *  nonzero stops it. */
typedef int (*weft_process_pool_stop_fn)(void *data);

/**
 * weft_process_pool_map() that its caller can stop while it waits, for
 * Ctrl-C: @p stop is called (on the calling thread) whenever a wait of the
 * map is interrupted by a signal and at least every 100 ms while it waits.
 * When it returns nonzero the map stops at once: the calls that had not
 * finished end with #WEFT_ECANCELLED (their results NULL), the workers
 * running them are killed and replaced (as weft_future_cancel() does for a
 * running task; not counted as crashes), and the map returns
 * #WEFT_ECANCELLED. The finished calls keep their results. A C program
 * sets a flag in its SIGINT handler and reads it in @p stop; the Python
 * binding runs the interpreter's signal handlers there (KeyboardInterrupt).
 * @param stop may be NULL: then this is weft_process_pool_map().
 * @return as weft_process_pool_map(); #WEFT_ECANCELLED when @p stop stopped it.
 * @since 0.3
 */
WEFT_API weft_status weft_process_pool_map_stoppable(weft_process_pool *pool, weft_ptask_fn fn,
                                                     const weft_bytes *args, size_t n, weft_bytes **results,
                                                     weft_status *codes, size_t chunksize, int64_t timeout_ns,
                                                     weft_process_pool_stop_fn stop, void *stop_data) WEFT_NOEXCEPT;

/**
 * A hint that work follows shortly (a map whose arguments the caller is
 * still preparing, say): up to @p n idle workers are woken now and wait for
 * their next task awake (spinning, yielding the CPU, for at most 200 us)
 * instead of asleep, so that work sent meanwhile starts without a sleeping
 * process's wake-up, which on a VM costs tens of microseconds per worker.
 * Workers that get nothing in time go back to sleep. Python's Pool.map calls
 * it before pickling its chunks (10k tiny calls, 2 workers, after a pause:
 * 4-7% faster). A worker found dead is replaced as usual.
 * @param n how many workers to wake at most: the number of chunks or tasks
 *        to come; 0 wakes none.
 * @return #WEFT_OK, also when no worker is idle or the pool is closed;
 *         #WEFT_EMISUSE for a NULL or destroyed @p pool.
 * Thread-safe.
 * @since 0.3
 */
WEFT_API weft_status weft_process_pool_wake(weft_process_pool *pool, size_t n) WEFT_NOEXCEPT;

/**
 * Run @p fn over @p n arguments and hand each result to @p on_result in the
 * caller's thread as soon as its chunk ends (Pool.imap_unordered). Crashed
 * chunks are retried one argument per task as in weft_process_pool_map().
 * @p on_result runs exactly once per argument when this call returns
 * #WEFT_OK or a task's failure code (with #WEFT_ECANCELLED for calls the
 * deadline cut off).
 * @return as weft_process_pool_map(); #WEFT_EINVAL for NULL @p on_result.
 * @since 0.2
 */
WEFT_API weft_status weft_process_pool_map_unordered(weft_process_pool *pool, weft_ptask_fn fn,
                                                     const weft_bytes *args, size_t n, size_t chunksize,
                                                     int64_t timeout_ns, weft_process_pool_result_fn on_result,
                                                     void *user_data) WEFT_NOEXCEPT;

/**
 * Stop accepting tasks (Executor.shutdown).
 * @param wait non-zero: wait until every queued and running task ended, the
 *        workers exited and were reaped.
 * @param cancel_pending non-zero: cancel tasks not yet sent to a worker
 *        (their futures end CANCELLED, error callbacks see #WEFT_ECANCELLED).
 * @return #WEFT_OK; #WEFT_EDEADLK when waiting from the supervisor (a
 *         callback); #WEFT_ESTATE from another process; #WEFT_EMISUSE.
 * @since 0.2
 */
WEFT_API weft_status weft_process_pool_shutdown(weft_process_pool *pool, int wait, int cancel_pending) WEFT_NOEXCEPT;

/**
 * Stop accepting tasks; queued ones still run (Pool.close).
 * @return #WEFT_OK; #WEFT_ESTATE from another process; #WEFT_EMISUSE.
 * @since 0.2
 */
WEFT_API weft_status weft_process_pool_close(weft_process_pool *pool) WEFT_NOEXCEPT;

/**
 * Wait until the pool finished everything, its workers exited and were
 * reaped, after close, shutdown or terminate (Pool.join).
 * @return #WEFT_OK; #WEFT_ESTATE when the pool is still open;
 *         #WEFT_ETIMEDOUT; #WEFT_EINVAL for a timeout below -1;
 *         #WEFT_EDEADLK from the supervisor (a callback); #WEFT_EMISUSE.
 * @since 0.2
 */
WEFT_API weft_status weft_process_pool_join(weft_process_pool *pool, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Stop accepting tasks, cancel every queued one, and kill the workers
 * (Pool.terminate): running tasks fail with #WEFT_ECANCELLED. Does not wait;
 * weft_process_pool_join() waits until the workers are reaped.
 * @return #WEFT_OK; #WEFT_ESTATE from another process; #WEFT_EMISUSE.
 * @since 0.2
 */
WEFT_API weft_status weft_process_pool_terminate(weft_process_pool *pool) WEFT_NOEXCEPT;

/**
 * Change the number of workers at run time (the thread pool's
 * weft_pool_resize()). Growing forks the new workers (with the pool's start
 * method, initializer and fork hooks) before it returns. Shrinking retires
 * idle workers first, then workers still starting, then busy ones: a busy
 * worker gets no new task and leaves once the tasks it holds (the one it
 * runs and any sent ahead to it) ended, so no task is lost or cut short.
 * The restart budget stays the one computed at create (with `max_restarts`
 * 0: 8 + 2 x the workers asked for then).
 * @param workers the new number, 1 or more.
 * @return #WEFT_OK; #WEFT_EINVAL for fewer than 1; #WEFT_ECLOSED after close,
 *         shutdown or terminate; #WEFT_EBROKEN when the restart budget ran
 *         out; #WEFT_ESYS (or the start codes of weft_process_pool_create())
 *         when a new worker cannot start (the workers that did start stay);
 *         #WEFT_EDEADLK from the pool's supervisor (a callback);
 *         #WEFT_ESTATE from another process; #WEFT_EMISUSE.
 * Thread-safe.
 * @since 0.3
 */
WEFT_API weft_status weft_process_pool_resize(weft_process_pool *pool, int workers) WEFT_NOEXCEPT;

/**
 * Read the pool's counters.
 * @return #WEFT_OK; #WEFT_EINVAL for NULL @p stats; #WEFT_EMISUSE.
 * @since 0.2
 */
WEFT_API weft_status weft_process_pool_stats_get(const weft_process_pool *pool,
                                                 weft_process_pool_stats *stats) WEFT_NOEXCEPT;

/**
 * The pids of the pool's live workers (for monitoring, and for tests that
 * kill one).
 * @param pids receives up to @p capacity pids; may be NULL when @p capacity is 0.
 * @param n receives how many workers are alive (may exceed @p capacity).
 * @return #WEFT_OK; #WEFT_EINVAL for NULL @p n, or NULL @p pids with
 *         @p capacity > 0; #WEFT_EMISUSE.
 * @since 0.2
 */
WEFT_API weft_status weft_process_pool_pids(const weft_process_pool *pool, int64_t *pids, size_t capacity,
                                            size_t *n) WEFT_NOEXCEPT;

WEFT_END_DECLS

#endif /* WEFT_PROCESS_POOL_H */
