/**
 * @file thread.h
 * @brief Threads and timers (Python's `threading.Thread`, `threading.Timer`,
 *        `current_thread()`, `main_thread()`, `enumerate()`,
 *        `active_count()`, `get_ident()` and `get_native_id()`).
 *
 * A weft_thread is created in state #WEFT_THREAD_NEW, started once with
 * weft_thread_start() (or created and started in one call with
 * weft_thread_spawn()), runs its function in state #WEFT_THREAD_RUNNING and
 * ends in #WEFT_THREAD_FINISHED. The function's return value is the result
 * weft_thread_join() hands back, as often as it is asked.
 *
 * Like Python:
 * - default names are `"Thread-N"`; the process's main thread is
 *   `"MainThread"`; a thread weft did not start gets a record named
 *   `"Dummy-N"` the first time it calls weft_thread_current();
 * - a name you give (weft_thread_options::name or weft_thread_set_name())
 *   is also the thread's operating-system name (first 15 bytes), so `gdb`,
 *   `top -H` and `/proc/<pid>/task/<tid>/comm` show it; a default
 *   `"Thread-N"` is weft's only, and the OS keeps the name the thread
 *   inherited from its creator, as for a plain pthread (this saves a system
 *   call per start);
 * - daemon threads are not waited for at exit: the first time a non-daemon
 *   thread starts, weft registers an `atexit()` handler that joins every
 *   non-daemon weft thread (weft_shutdown() with #WEFT_FOREVER) when `main`
 *   returns or `exit()` is called. `_exit()` and `quick_exit()` skip it.
 *   Daemon threads simply stop existing when the process ends.
 *
 * Handles are reference counted: each handle (from create, spawn or
 * enumerate) holds one reference and the running thread holds one. Releasing
 * a handle with weft_thread_destroy() never stops a thread: a running thread
 * goes on (detached) and its record is freed when it has ended and no handle
 * remains. weft_thread_current() and weft_thread_main() return borrowed
 * pointers that must not be destroyed. weft owns each weft thread's OS
 * thread: do not pthread_join() or pthread_detach() it.
 *
 * @code
 * static void *download(void *arg) { ...; return result; }
 *
 * weft_thread *t;
 * weft_thread_options o = WEFT_THREAD_OPTIONS_INIT;
 * o.name = "downloader";
 * if (weft_thread_spawn(&t, download, url, &o) != WEFT_OK) return 1;
 * void *result;
 * weft_thread_join(t, &result, WEFT_FOREVER);
 * weft_thread_destroy(t);
 * @endcode
 *
 * After fork() the child keeps only the forking thread: every other record
 * reads #WEFT_THREAD_FINISHED there and the forking thread becomes the
 * child's main thread (Python's `_after_fork`). Timers pending at fork never
 * fire in the child.
 *
 * @since 0.1
 */
#ifndef WEFT_THREAD_H
#define WEFT_THREAD_H

#include "common.h"

WEFT_BEGIN_DECLS

/** Opaque, reference-counted thread record. */
typedef struct weft_thread weft_thread;

/**
 * A thread's function. Its return value is the result weft_thread_join()
 * reports. Runs on the new thread.
 */
typedef void *(*weft_thread_fn)(void *user_data);

/** Life cycle of a thread, as weft_thread_get_state() reports it. */
typedef enum weft_thread_state {
    WEFT_THREAD_NEW = 0,      /**< created, not started */
    WEFT_THREAD_RUNNING = 1,  /**< started and not yet finished (alive) */
    WEFT_THREAD_FINISHED = 2  /**< its function returned (or the thread exited) */
} weft_thread_state;

/** Options for weft_thread_create() and weft_thread_spawn(); NULL = defaults. */
typedef struct weft_thread_options {
    uint32_t version;  /**< #WEFT_THREAD_OPTIONS_VERSION */
    const char *name;  /**< copied, and the OS name; NULL gives "Thread-N" (weft only) */
    int daemon;        /**< non-zero: not waited for at exit (Python's daemon=True) */
    size_t stack_size; /**< bytes; 0 = the system default; else at least PTHREAD_STACK_MIN */
} weft_thread_options;

#define WEFT_THREAD_OPTIONS_VERSION 1
#define WEFT_THREAD_OPTIONS_INIT { WEFT_THREAD_OPTIONS_VERSION, NULL, 0, 0 }

/**
 * Create a thread record in state #WEFT_THREAD_NEW; nothing runs until
 * weft_thread_start().
 * @param out receives the handle (one reference); NULL on failure.
 * @param fn the function the thread runs; must not be NULL.
 * @param user_data passed to @p fn; weft never touches it.
 * @param opts NULL for defaults.
 * @return #WEFT_OK; #WEFT_EINVAL if @p out or @p fn is NULL, @p opts has an
 *         unknown version, or a non-zero stack size is below
 *         PTHREAD_STACK_MIN; #WEFT_ENOMEM.
 * Thread-safe.
 * @since 0.1
 */
WEFT_API weft_status weft_thread_create(weft_thread **out, weft_thread_fn fn, void *user_data,
                                        const weft_thread_options *opts) WEFT_NOEXCEPT;

/**
 * Start the thread: it runs `fn(user_data)` on a new OS thread. Returns as
 * soon as the OS thread exists, without waiting for it to run; the thread
 * reads #WEFT_THREAD_RUNNING from then on. The new thread sets its ident,
 * native id and (for a given name) OS name before it calls its function;
 * weft_thread_ident() and weft_thread_native_id() asked before that wait
 * (briefly) for them, so they are never 0 once start has returned, and the
 * OS name is in place when weft_thread_native_id() returns.
 * @return #WEFT_OK; #WEFT_ESTATE if it was started before (also for the main
 *         thread and dummies); #WEFT_ESYS if the OS refused a thread (the
 *         record is then NEW again and may be started later); #WEFT_ENOMEM;
 *         #WEFT_EMISUSE for a bad handle.
 * Thread-safe: of concurrent starts exactly one succeeds.
 * @since 0.1
 */
WEFT_API weft_status weft_thread_start(weft_thread *t) WEFT_NOEXCEPT;

/**
 * weft_thread_create() then weft_thread_start(). On failure nothing runs and
 * `*out` is NULL.
 * @return as weft_thread_create() and weft_thread_start().
 * @since 0.1
 */
WEFT_API weft_status weft_thread_spawn(weft_thread **out, weft_thread_fn fn, void *user_data,
                                       const weft_thread_options *opts) WEFT_NOEXCEPT;

/**
 * Wait for the thread to finish and fetch its function's return value.
 * May be called any number of times, from any threads. A #WEFT_FOREVER join
 * that finds the thread running returns when its OS thread has exited (after
 * its thread-local destructors, as pthread_join() and Python's join() do);
 * other joins return as soon as the function has returned.
 * @param result receives the function's return value (NULL for the main
 *        thread, dummies and threads that called pthread_exit()); may be NULL.
 *        Untouched unless #WEFT_OK is returned.
 * @param timeout_ns 0 polls, #WEFT_FOREVER waits as long as it takes.
 * @return #WEFT_OK once finished; #WEFT_ETIMEDOUT if still running at the
 *         deadline; #WEFT_EDEADLK when @p t is the calling thread;
 *         #WEFT_ESTATE if it was never started (also when a start racing
 *         with this join failed); #WEFT_EINVAL for a timeout
 *         below -1; #WEFT_EMISUSE for a bad handle.
 * Thread-safe.
 * @since 0.1
 */
WEFT_API weft_status weft_thread_join(weft_thread *t, void **result, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Release the caller's handle. NULL or a bad handle is a no-op. A thread
 * never started is freed at once; a running thread keeps running (detached)
 * and its record is freed when it ends and no other handle remains. Never
 * blocks. Do not pass the borrowed pointers of weft_thread_current() or
 * weft_thread_main(), and release each handle once.
 * @since 0.1
 */
WEFT_API void weft_thread_destroy(weft_thread *t) WEFT_NOEXCEPT;

/**
 * Whether the thread is alive: started and not finished (Python's
 * `is_alive()`). A snapshot.
 * @return 1 or 0; #WEFT_EMISUSE for a bad handle.
 * @since 0.1
 */
WEFT_API int weft_thread_is_alive(const weft_thread *t) WEFT_NOEXCEPT;

/**
 * The thread's state (a snapshot).
 * @return a ::weft_thread_state value; #WEFT_EMISUSE for a bad handle.
 * @since 0.1
 */
WEFT_API int weft_thread_get_state(const weft_thread *t) WEFT_NOEXCEPT;

/**
 * The thread's name.
 * @return a NUL-terminated string owned by the record, valid until the
 *         caller's handle is released (renaming does not free earlier names
 *         before that); NULL only for a bad handle.
 * Thread-safe.
 * @since 0.1
 */
WEFT_API const char *weft_thread_name(const weft_thread *t) WEFT_NOEXCEPT;

/**
 * Rename the thread. The name is copied. When the thread is running, its OS
 * name (pthread_setname_np) becomes the first 15 bytes of @p name, cut at a
 * UTF-8 character boundary; a thread not yet started takes its OS name when
 * it starts.
 * @return #WEFT_OK; #WEFT_EINVAL if @p name is NULL; #WEFT_ENOMEM;
 *         #WEFT_EMISUSE for a bad handle. The OS name is best effort: a
 *         failure to set it is not reported.
 * Thread-safe.
 * @since 0.1
 */
WEFT_API weft_status weft_thread_set_name(weft_thread *t, const char *name) WEFT_NOEXCEPT;

/**
 * Whether the thread is a daemon. The main thread is not; dummies are.
 * @return 1 or 0; #WEFT_EMISUSE for a bad handle.
 * @since 0.1
 */
WEFT_API int weft_thread_is_daemon(const weft_thread *t) WEFT_NOEXCEPT;

/**
 * Make the thread a daemon (non-zero) or not (0). Only before it starts.
 * @return #WEFT_OK; #WEFT_ESTATE once started (as Python raises
 *         RuntimeError); #WEFT_EMISUSE for a bad handle.
 * @since 0.1
 */
WEFT_API weft_status weft_thread_set_daemon(weft_thread *t, int daemon) WEFT_NOEXCEPT;

/**
 * The thread's weft ident (Python's `Thread.ident`): equal to what
 * weft_thread_get_ident() returns on that thread; never reused within the
 * process.
 * Right after weft_thread_start() it may wait (briefly) until the new
 * thread has set it.
 * @return the ident; 0 before the thread started, for the main thread's
 *         record until the main thread first calls into weft threads, and
 *         for a bad handle.
 * @since 0.1
 */
WEFT_API uint64_t weft_thread_ident(const weft_thread *t) WEFT_NOEXCEPT;

/**
 * The thread's kernel thread id (Python's `Thread.native_id`; gettid()).
 * Right after weft_thread_start() it may wait (briefly) until the new
 * thread has set it (and its OS name).
 * @return the tid; 0 before the thread started; #WEFT_EMISUSE for a bad
 *         handle. It stays readable after the thread finished (the kernel may
 *         then reuse the number).
 * @since 0.1
 */
WEFT_API int64_t weft_thread_native_id(const weft_thread *t) WEFT_NOEXCEPT;

/**
 * The calling thread's weft ident (Python's `threading.get_ident()`):
 * non-zero, unique within the process, never reused. One TLS read.
 * @since 0.1
 */
WEFT_API uint64_t weft_thread_get_ident(void) WEFT_NOEXCEPT;

/**
 * The calling thread's kernel thread id (Python's
 * `threading.get_native_id()`).
 * @since 0.1
 */
WEFT_API int64_t weft_thread_get_native_id(void) WEFT_NOEXCEPT;

/**
 * The calling thread's record (Python's `threading.current_thread()`).
 * A thread weft did not start gets a daemon record named "Dummy-N" on its
 * first call, which reads FINISHED and leaves weft_thread_enumerate() when
 * that thread exits; the process's main thread gets "MainThread".
 * @return a borrowed pointer, valid while the calling thread runs; do not
 *         destroy it. NULL only when out of memory creating a dummy record,
 *         or when called from a thread-local destructor after the thread's
 *         record was retired.
 * @since 0.1
 */
WEFT_API weft_thread *weft_thread_current(void) WEFT_NOEXCEPT;

/**
 * The main thread's record (Python's `threading.main_thread()`), named
 * "MainThread".
 * @return a borrowed pointer valid for the process lifetime; do not destroy
 *         it. NULL only when out of memory on the first call.
 * @since 0.1
 */
WEFT_API weft_thread *weft_thread_main(void) WEFT_NOEXCEPT;

/**
 * The alive threads (Python's `threading.enumerate()`): started weft threads
 * not yet finished, the main thread and dummies.
 * @param out receives up to @p capacity NEW references, which the caller
 *        releases with weft_thread_destroy(); may be NULL when @p capacity is 0.
 * @param capacity room in @p out.
 * @return the total number of alive threads (may exceed @p capacity).
 * Thread-safe; one registry lock.
 * @since 0.1
 */
WEFT_API size_t weft_thread_enumerate(weft_thread **out, size_t capacity) WEFT_NOEXCEPT;

/**
 * Number of alive threads, as weft_thread_enumerate() counts them (Python's
 * `threading.active_count()`).
 * @since 0.1
 */
WEFT_API size_t weft_thread_active_count(void) WEFT_NOEXCEPT;

/**
 * Join every non-daemon weft thread, including ones started while waiting
 * (Python's `threading._shutdown`). The calling thread is skipped. This is
 * what the exit handler runs with #WEFT_FOREVER.
 * @param timeout_ns one deadline for all of them; 0 polls.
 * @return #WEFT_OK when none is left running; #WEFT_ETIMEDOUT if some still
 *         run at the deadline; #WEFT_EINVAL for a timeout below -1; #WEFT_ENOMEM.
 * @since 0.1
 */
WEFT_API weft_status weft_shutdown(int64_t timeout_ns) WEFT_NOEXCEPT;

/** Opaque timer handle (Python's `threading.Timer`). */
typedef struct weft_timer weft_timer;

/** A timer's action; runs once on the timer's own thread. */
typedef void (*weft_timer_fn)(void *user_data);

/**
 * Run `fn(user_data)` once, on a new non-daemon thread, @p delay_ns after
 * this call, unless cancelled first. As in Python, a pending timer keeps the
 * process from exiting until it fires or is cancelled (destroy cancels it).
 * @param out receives the handle; NULL on failure.
 * @param delay_ns nanoseconds from now; 0 fires at once.
 * @return #WEFT_OK; #WEFT_EINVAL if @p out or @p fn is NULL or @p delay_ns is
 *         negative; #WEFT_ENOMEM; #WEFT_ESYS if no thread could be started.
 *         On failure @p fn never runs.
 * @since 0.1
 */
WEFT_API weft_status weft_timer_start(weft_timer **out, int64_t delay_ns, weft_timer_fn fn,
                                      void *user_data) WEFT_NOEXCEPT;

/**
 * Cancel the timer if its function has not started. Wakes the timer thread
 * at once, which then ends without calling the function.
 * @return #WEFT_OK if the function will never run (also when cancelled
 *         before); #WEFT_EBUSY if it already started or finished;
 *         #WEFT_EMISUSE for a bad handle.
 * Thread-safe; never blocks.
 * @since 0.1
 */
WEFT_API weft_status weft_timer_cancel(weft_timer *t) WEFT_NOEXCEPT;

/**
 * Wait until the timer's function has returned or the timer was cancelled.
 * @param timeout_ns 0 polls, #WEFT_FOREVER waits as long as it takes.
 * @return #WEFT_OK; #WEFT_ETIMEDOUT; #WEFT_EDEADLK when called from the
 *         timer's own function; #WEFT_EINVAL for a timeout below -1;
 *         #WEFT_EMISUSE for a bad handle.
 * @since 0.1
 */
WEFT_API weft_status weft_timer_join(weft_timer *t, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Release the timer handle. NULL or a bad handle is a no-op. A pending
 * timer is cancelled; a running function is not waited for (its thread
 * frees the timer when it ends). May be called from the timer's function.
 * @since 0.1
 */
WEFT_API void weft_timer_destroy(weft_timer *t) WEFT_NOEXCEPT;

WEFT_END_DECLS

#endif /* WEFT_THREAD_H */
