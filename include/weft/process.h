/**
 * @file process.h
 * @brief Processes (Python's `multiprocessing.Process`, `current_process()`,
 *        `parent_process()`, `active_children()` and the start methods
 *        `fork`, `spawn` and `forkserver`), and programs started with
 *        `posix_spawn`. Linux only.
 *
 * A weft_process is created with weft_process_create(), started once with
 * weft_process_start() (a function in a child), weft_process_start_named()
 * (a registered function found by name) or weft_process_start_program() (a
 * program), or created and started in one call with weft_process_spawn().
 * weft_process_join() waits for it with a timeout; weft_process_exitcode()
 * reads its exit code: the function's return value (0..255) or, when a
 * signal ended it, the negative signal number, as in Python.
 *
 * @code
 * static int work(void *arg, size_t len) { printf("child %lld\n", (long long)weft_process_current_pid()); return 7; }
 *
 * weft_process *p;
 * if (weft_process_spawn(&p, work, NULL, 0, NULL) != WEFT_OK) return 1;
 * weft_process_join(p, WEFT_FOREVER);
 * int code;
 * weft_process_exitcode(p, &code);   // 7
 * weft_process_destroy(p);
 * @endcode
 *
 * Start methods (weft_process_options::start_method):
 * - #WEFT_START_FORK: fork(). The child is a copy of the caller: @p fn and
 *   @p arg are the caller's pointers, valid in the child's copy of memory.
 *   Only the calling thread exists in the child (see "After fork" below).
 *   This is the default (#WEFT_START_DEFAULT): in C a function pointer and a
 *   pointer argument are what a caller naturally passes, and only fork keeps
 *   both meaningful. (Python 3.14 defaults to forkserver on Linux because it
 *   pickles its callables; pick #WEFT_START_FORKSERVER explicitly in a
 *   program that runs threads.)
 * - #WEFT_START_SPAWN: the program re-executes itself (`/proc/self/exe`),
 *   calls weft_main() first thing in `main`, finds the function by its
 *   registered name (weft_register(), #WEFT_REGISTER_FUNCTION) and runs it
 *   with a copy of the @p len bytes at @p arg. A clean, single-threaded
 *   child that inherits nothing but the environment, the working directory
 *   and stdin/stdout/stderr.
 * - #WEFT_START_FORKSERVER: a small server process, itself started by spawn
 *   before it has any thread (weft_forkserver_start(), or on first use),
 *   forks each child. Functions are found by registered name and get a copy
 *   of the argument bytes, as under spawn. The children inherit the server's
 *   stdin/stdout/stderr (the caller's when the server started) and no other
 *   file descriptor of weft's. The server forks each child ahead of its
 *   request and offers it to the caller (one child waits, idle, for the next
 *   start; weft_process_active_children() does not count it), so a start
 *   sends the task to a child that exists already: no fork and no wait for an
 *   answer. The child reports its exit code over a per-child socket just
 *   before it exits; for a child that ends another way (a signal, `exit()`,
 *   `_exit()`) the server sends its wait status there, once reaped (it reaps
 *   at the next start, when the caller asks, or when no start came for a
 *   moment), so join, exitcode and is_alive work although the caller is not
 *   the OS parent. The server ends when the process that
 *   started it ends (it watches its control socket and a pidfd of its
 *   parent); an idle child leaves with it. weft_forkserver_start_program() starts
 *   more servers, each running a program of your choice (an interpreter with
 *   its modules loaded); weft_process_options::forkserver picks one.
 *
 * Under spawn and forkserver the program must call weft_main() at the top
 * of `main`, before anything with a visible effect: otherwise the re-executed
 * program runs its own `main` a second time (Python's `__main__` guard).
 * weft notices a child that did not answer within 10 s, kills it, and fails
 * the start with #WEFT_ENOTSUP.
 *
 * Daemon processes (weft_process_options::daemon, Python's `daemon=True`)
 * die with their parent whatever the parent's end, SIGKILL included: the
 * child asks the kernel for SIGKILL when its parent dies
 * (`PR_SET_PDEATHSIG`), then checks that the parent is still the one that
 * started it (closing the race where the parent died first). Destroying the
 * handle of a running daemon child kills it. Limit: the kernel sends that
 * signal when the *thread* that started the child ends, not only the whole
 * process: a daemon child started from a thread that exits before the child
 * does is killed then (start returns only once the child has armed the
 * signal, so this holds whatever the timing). Start daemon children from the main thread or from a
 * thread that outlives them (forkserver children are forked by the server's
 * single thread, so for them only the server's end counts, and the server
 * ends with the process that started it; such a child arms the signal when it
 * takes its task, and dies at once if the server is gone by then). A daemon program
 * (weft_process_start_program()) is started with fork and execve instead of
 * posix_spawn so that it gets the same guarantee.
 *
 * Non-daemon children go on after their parent ends (the seeds' push
 * service); unlike Python, weft does not join them at exit: join explicitly
 * when you want to wait. Destroying the handle of a running non-daemon child
 * leaves it running; weft reaps it later (without blocking, in later
 * create, start and active_children calls, as Python's `_cleanup()`), so no
 * zombie is left behind.
 *
 * After fork (weft's or the caller's own fork()): the child keeps only the
 * forking thread, which becomes its main thread; weft's thread registry, its
 * thread-local storage registry and its process registry are repaired there
 * by at-fork handlers (registered the first time weft starts a thread, uses
 * thread-local storage or creates a process; never at load time).
 * weft_thread_current(), weft_thread_enumerate(), creating threads, pools
 * and processes, and thread-local storage work in the child. The process
 * handles the parent holds are the parent's: in the child they refuse every
 * operation with #WEFT_ESTATE except name, pid and destroy (which frees the
 * copy without signalling anything). What is NOT made safe: any lock, queue,
 * condition, pool or other object that another thread of the parent was
 * using at the moment of fork stays as that thread left it (a held lock
 * stays held, a pool's worker threads do not exist in the child). Forking
 * while other threads run is the caller's explicit choice; use spawn or
 * forkserver where threads exist.
 *
 * Handles are not reference counted: one handle per process, owned by the
 * caller, released with weft_process_destroy(). Every function is
 * thread-safe on distinct handles and on one handle, except that destroy
 * must not race with other calls on the same handle.
 *
 * @since 0.2
 */
#ifndef WEFT_PROCESS_H
#define WEFT_PROCESS_H

#include "common.h"

WEFT_BEGIN_DECLS

/** Opaque process handle. */
typedef struct weft_process weft_process;

/** Opaque handle of a forkserver started from a chosen program
 *  (weft_forkserver_start_program()). @since 0.3 */
typedef struct weft_forkserver weft_forkserver;

/**
 * A child's function. Its return value (taken modulo 256) is the child's
 * exit code. Under fork, @p arg is the caller's pointer, valid in the
 * child's copy of memory; under spawn and forkserver it points to a private
 * copy of the @p len bytes given at start (NULL when @p len is 0), 16-byte
 * aligned.
 */
typedef int (*weft_process_fn)(void *arg, size_t len);

/** How a child is started (weft_process_options::start_method). */
typedef enum weft_start_method {
    WEFT_START_DEFAULT = 0,   /**< #WEFT_START_FORK */
    WEFT_START_FORK = 1,      /**< fork(): any function, pointers stay valid */
    WEFT_START_SPAWN = 2,     /**< re-execute the program; registered functions, argument bytes copied */
    WEFT_START_FORKSERVER = 3 /**< a clean server process forks the child; registered functions, bytes copied */
} weft_start_method;

/** Exit code of a spawn or forkserver child (or a fork child started by
 *  name) whose function name is not registered in the child. */
#define WEFT_PROCESS_EXIT_NO_FUNCTION 120
/** Exit code of a spawn child that could not read its task (a broken
 *  `--weft-spawn=` argument or task). */
#define WEFT_PROCESS_EXIT_BAD_TASK 121

/** Options for weft_process_create() and weft_process_spawn(); NULL = defaults. */
typedef struct weft_process_options {
    uint32_t version;  /**< #WEFT_PROCESS_OPTIONS_VERSION */
    const char *name;  /**< copied; NULL gives "Process-N" ("Process-1:2" in a child, as Python) */
    int daemon;        /**< non-zero: dies with its parent (Python's daemon=True) */
    int start_method;  /**< a ::weft_start_method; ignored by weft_process_start_program() */
    /** Version 2: the server that forks the child under #WEFT_START_FORKSERVER
     *  (from weft_forkserver_start_program()); NULL = the process-wide one
     *  (weft_forkserver_start()). Not owned: it must stay alive until the
     *  child is started; with another start method it is #WEFT_EINVAL.
     *  @since 0.3 */
    weft_forkserver *forkserver;
} weft_process_options;

/** Current version of ::weft_process_options (1 = without `forkserver`, still accepted). */
#define WEFT_PROCESS_OPTIONS_VERSION 2
#define WEFT_PROCESS_OPTIONS_INIT { WEFT_PROCESS_OPTIONS_VERSION, NULL, 0, WEFT_START_DEFAULT, NULL }

/** weft_exec_options: the child keeps the caller's descriptor. */
#define WEFT_FD_INHERIT (-1)
/** weft_exec_options: the child gets `/dev/null`. */
#define WEFT_FD_NULL (-2)

/** Options for weft_process_start_program(); NULL = defaults. */
typedef struct weft_exec_options {
    uint32_t version; /**< #WEFT_EXEC_OPTIONS_VERSION */
    const char *cwd;  /**< working directory of the child; NULL = the caller's */
    int stdin_fd;     /**< a descriptor the child gets as stdin, #WEFT_FD_INHERIT or #WEFT_FD_NULL */
    int stdout_fd;    /**< the same for stdout */
    int stderr_fd;    /**< the same for stderr */
    int search_path;  /**< non-zero: a @p path without '/' is looked up in PATH (execvp) */
} weft_exec_options;

#define WEFT_EXEC_OPTIONS_VERSION 1
#define WEFT_EXEC_OPTIONS_INIT { WEFT_EXEC_OPTIONS_VERSION, NULL, WEFT_FD_INHERIT, WEFT_FD_INHERIT, WEFT_FD_INHERIT, 0 }

/**
 * Create a process handle; nothing runs until a start call. Also reaps
 * finished children whose handles were destroyed.
 * @param out receives the handle; NULL on failure.
 * @param opts NULL for defaults.
 * @return #WEFT_OK; #WEFT_EINVAL if @p out is NULL, @p opts has an unknown
 *         version or an unknown start method; #WEFT_ENOMEM.
 * Thread-safe. Safe after fork.
 * @since 0.2
 */
WEFT_API weft_status weft_process_create(weft_process **out, const weft_process_options *opts) WEFT_NOEXCEPT;

/**
 * Start `fn(arg, len)` in a child by the handle's start method. Returns once
 * the child exists (its pid is known); does not wait for @p fn to run. The
 * child ends with `_exit(fn(arg, len) & 255)` after flushing stdout and
 * stderr; its atexit handlers do not run (as Python's fork children). The
 * caller's stdout and stderr are flushed before a fork.
 * @param fn under spawn and forkserver it must be registered (weft_register()).
 * @param arg under fork passed as is; under spawn and forkserver @p len bytes
 *        from it are copied to the child. May be NULL when @p len is 0.
 * @param len bytes at @p arg (ignored by fork except that it is passed on).
 * @return #WEFT_OK; #WEFT_ESTATE if the handle was started before, or
 *         belongs to another process (after fork); #WEFT_EINVAL if @p fn is
 *         NULL, @p arg is NULL with @p len > 0, or under spawn/forkserver
 *         @p fn is not registered; #WEFT_ENOTSUP if a spawned program never
 *         called weft_main(); #WEFT_ESYS if the OS refused (fork, pipes,
 *         the forkserver); #WEFT_ENOMEM; #WEFT_EMISUSE for a bad handle.
 * Thread-safe: of concurrent starts exactly one succeeds.
 * @since 0.2
 */
WEFT_API weft_status weft_process_start(weft_process *p, weft_process_fn fn, const void *arg,
                                        size_t len) WEFT_NOEXCEPT;

/**
 * Start the function registered as @p name, as weft_process_start() does.
 * The child looks the name up: when it is unknown there, the child exits with
 * #WEFT_PROCESS_EXIT_NO_FUNCTION (the start itself succeeds, as in Python,
 * where the child fails to unpickle).
 * @return as weft_process_start(); #WEFT_EINVAL if @p name is NULL, empty or
 *         longer than 255 bytes.
 * @since 0.2
 */
WEFT_API weft_status weft_process_start_named(weft_process *p, const char *name, const void *arg,
                                              size_t len) WEFT_NOEXCEPT;

/**
 * Start a program with posix_spawn (a daemon handle: fork, PR_SET_PDEATHSIG
 * and execve). The handle's start method is ignored.
 * @param path the program; with `opts->search_path` a name without '/' is
 *        looked up in PATH.
 * @param argv NULL-terminated arguments, argv[0] included; NULL gives
 *        `{path, NULL}`.
 * @param envp NULL-terminated environment; NULL inherits the caller's.
 * @param opts working directory and stdin/stdout/stderr; NULL = inherit all.
 * @return #WEFT_OK; #WEFT_ENOENT if the program (or the working directory)
 *         does not exist, with the path in the message; #WEFT_EPERM if it is
 *         not executable; #WEFT_EINVAL if @p path is NULL, @p opts has an
 *         unknown version or a descriptor below -2; #WEFT_ESTATE as
 *         weft_process_start(); #WEFT_ESYS for other OS refusals;
 *         #WEFT_EMISUSE for a bad handle.
 * Thread-safe. The redirected descriptors are duplicated in the child only;
 * the caller keeps (and closes) its own.
 * @since 0.2
 */
WEFT_API weft_status weft_process_start_program(weft_process *p, const char *path, char *const argv[],
                                                char *const envp[], const weft_exec_options *opts) WEFT_NOEXCEPT;

/**
 * weft_process_create() then weft_process_start(). On failure nothing runs
 * and `*out` is NULL.
 * @return as weft_process_create() and weft_process_start().
 * @since 0.2
 */
WEFT_API weft_status weft_process_spawn(weft_process **out, weft_process_fn fn, const void *arg, size_t len,
                                        const weft_process_options *opts) WEFT_NOEXCEPT;

/**
 * Release the handle. NULL or a bad handle is a no-op. A running daemon
 * child is killed (SIGKILL) and reaped; a running non-daemon child goes on
 * and is reaped later without blocking. In a forked child, destroying a
 * handle of the parent frees it and signals nothing. Must not race with other
 * calls on the same handle.
 * @since 0.2
 */
WEFT_API void weft_process_destroy(weft_process *p) WEFT_NOEXCEPT;

/**
 * Wait until the child has ended, and reap it. Uses a pidfd (Linux >= 5.3)
 * and poll; on older kernels it polls waitpid with a growing nap (up to 5 ms).
 * @param timeout_ns 0 polls, #WEFT_FOREVER waits as long as it takes.
 * @return #WEFT_OK once ended (as often as asked); #WEFT_ETIMEDOUT if still
 *         running at the deadline; #WEFT_ESTATE if never started or the handle
 *         belongs to another process; #WEFT_ESYS if the child was reaped
 *         behind weft's back (a waitpid(-1) elsewhere); #WEFT_EINVAL for a
 *         timeout below -1; #WEFT_EMISUSE for a bad handle.
 * Thread-safe: any number of threads may join one process.
 * @since 0.2
 */
WEFT_API weft_status weft_process_join(weft_process *p, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * The exit code (Python's `exitcode`), polled without blocking.
 * @param code receives the function's return value or the program's exit
 *        status (0..255), or `-signal` when a signal ended it; untouched
 *        unless #WEFT_OK is returned. A forkserver child whose server died
 *        before reporting reads -SIGKILL.
 * @return #WEFT_OK when ended; #WEFT_EBUSY while running (Python's None);
 *         #WEFT_ESTATE if never started or another process's handle;
 *         #WEFT_EINVAL if @p code is NULL; #WEFT_EMISUSE for a bad handle.
 * @since 0.2
 */
WEFT_API weft_status weft_process_exitcode(weft_process *p, int *code) WEFT_NOEXCEPT;

/**
 * Whether the child is started and has not ended (Python's `is_alive()`);
 * polls (and reaps) without blocking.
 * @return 1 or 0 (0 before start); #WEFT_EMISUSE for a bad handle.
 * @since 0.2
 */
WEFT_API int weft_process_is_alive(weft_process *p) WEFT_NOEXCEPT;

/**
 * The child's pid (Python's `pid`).
 * @return the pid; 0 before start; #WEFT_EMISUSE for a bad handle.
 * @since 0.2
 */
WEFT_API int64_t weft_process_pid(const weft_process *p) WEFT_NOEXCEPT;

/**
 * The process's name.
 * @return a string owned by the handle, valid until it is destroyed (renaming
 *         keeps earlier names until then); NULL only for a bad handle.
 * @since 0.2
 */
WEFT_API const char *weft_process_name(const weft_process *p) WEFT_NOEXCEPT;

/**
 * Rename the process handle (the child's own weft_process_current_name() is
 * fixed when it starts).
 * @return #WEFT_OK; #WEFT_EINVAL if @p name is NULL; #WEFT_ENOMEM;
 *         #WEFT_EMISUSE for a bad handle.
 * @since 0.2
 */
WEFT_API weft_status weft_process_set_name(weft_process *p, const char *name) WEFT_NOEXCEPT;

/**
 * Whether the process is a daemon.
 * @return 1 or 0; #WEFT_EMISUSE for a bad handle.
 * @since 0.2
 */
WEFT_API int weft_process_is_daemon(const weft_process *p) WEFT_NOEXCEPT;

/**
 * Make the process a daemon (non-zero) or not. Only before it starts.
 * @return #WEFT_OK; #WEFT_ESTATE once started; #WEFT_EMISUSE for a bad handle.
 * @since 0.2
 */
WEFT_API weft_status weft_process_set_daemon(weft_process *p, int daemon) WEFT_NOEXCEPT;

/**
 * Send SIGTERM (Python's `terminate()`). Ended children are not signalled.
 * @return #WEFT_OK (also when the child has ended already); #WEFT_ESTATE if
 *         never started or another process's handle; #WEFT_EMISUSE.
 * @since 0.2
 */
WEFT_API weft_status weft_process_terminate(weft_process *p) WEFT_NOEXCEPT;

/**
 * Send SIGKILL (Python's `kill()`). As weft_process_terminate().
 * @since 0.2
 */
WEFT_API weft_status weft_process_kill(weft_process *p) WEFT_NOEXCEPT;

/**
 * Send @p sig to the child and all its descendants. Stops the whole tree
 * first (SIGSTOP, from the top down, waiting until each is stopped, so
 * nothing forks while it is walked), then signals every member and
 * continues them (SIGCONT). Descendants are found through
 * `/proc/<pid>/task/<tid>/children` where the kernel has it, else by scanning
 * the parent pids in `/proc/<pid>/stat`. Descendants that left the tree
 * (orphans re-parented elsewhere) are not reached.
 * @param sig a signal number (1..64).
 * @return #WEFT_OK (also when the child has ended); #WEFT_EINVAL for a bad
 *         signal; #WEFT_ESTATE if never started or another process's handle;
 *         #WEFT_ESYS if /proc cannot be read; #WEFT_EMISUSE.
 * @since 0.2
 */
WEFT_API weft_status weft_process_kill_tree(weft_process *p, int sig) WEFT_NOEXCEPT;

/**
 * The pids of this process's children started by weft that are still alive
 * (Python's `active_children()`), handles destroyed or not; reaps finished
 * ones first.
 * @param pids receives up to @p capacity pids; may be NULL when @p capacity is 0.
 * @return the total number alive (may exceed @p capacity).
 * @since 0.2
 */
WEFT_API size_t weft_process_active_children(int64_t *pids, size_t capacity) WEFT_NOEXCEPT;

/**
 * The calling process's name (Python's `current_process().name`):
 * "MainProcess", or the name the handle had when this child was started.
 * @return a string valid for the process lifetime.
 * @since 0.2
 */
WEFT_API const char *weft_process_current_name(void) WEFT_NOEXCEPT;

/** The calling process's pid (getpid()). @since 0.2 */
WEFT_API int64_t weft_process_current_pid(void) WEFT_NOEXCEPT;

/**
 * The pid of the process that started this one (Python's
 * `parent_process().pid`): for a forkserver child the process that asked,
 * not the server; for a process weft did not start, getppid().
 * @since 0.2
 */
WEFT_API int64_t weft_process_parent_pid(void) WEFT_NOEXCEPT;

/**
 * Register @p fn under @p name for spawn and forkserver (the child finds it
 * by name). Register at load time (#WEFT_REGISTER_FUNCTION) so that the
 * spawned child, which runs weft_main() first thing, knows it.
 * @return #WEFT_OK (also when the same pair is registered again);
 *         #WEFT_EEXIST if @p name is registered to another function;
 *         #WEFT_EINVAL if @p name is NULL, empty or longer than 255 bytes,
 *         or @p fn is NULL; #WEFT_ENOMEM.
 * Thread-safe; may be called before main.
 * @since 0.2
 */
WEFT_API weft_status weft_register(const char *name, weft_process_fn fn) WEFT_NOEXCEPT;

#if defined(__GNUC__) || defined(__clang__)
/**
 * Register @p fn under its own name at load time (a constructor), at file
 * scope: `WEFT_REGISTER_FUNCTION(work)`. A failure is reported when the
 * function is started.
 * @since 0.2
 */
#  define WEFT_REGISTER_FUNCTION(fn)                                  \
    static void weft_register_##fn##_(void) __attribute__((constructor)); \
    static void weft_register_##fn##_(void) { (void)weft_register(#fn, fn); }
#endif

/**
 * The C twin of `if __name__ == '__main__'`: call it first thing in `main`.
 * In a process started by weft's spawn (argv[1] is `--weft-spawn=<fd>`) it
 * reads the task from that inherited descriptor, runs the registered
 * function and `_exit`s with its return value; in a forkserver it runs the
 * server and `_exit`s when its parent is gone (a server running this program
 * is started with `LD_BIND_NOW=1` added to its environment, unless it is set
 * already, and weft_main() takes it out again; if the loader cannot bind
 * every symbol then, the server is started again without it). Otherwise it
 * returns 0 at once.
 * @return 0 (it returns only in an ordinary run).
 * @since 0.2
 */
WEFT_API int weft_main(int argc, char **argv) WEFT_NOEXCEPT;

/**
 * Start the forkserver now (it starts on first use otherwise), best before
 * the program starts threads. Does nothing when it runs already.
 * @return #WEFT_OK; #WEFT_ENOTSUP if the program does not call weft_main();
 *         #WEFT_ESYS if it cannot be started.
 * Thread-safe.
 * @since 0.2
 */
WEFT_API weft_status weft_forkserver_start(void) WEFT_NOEXCEPT;

/**
 * The forkserver's pid, or 0 when this process has none running.
 * @since 0.2
 */
WEFT_API int64_t weft_forkserver_pid(void) WEFT_NOEXCEPT;

/**
 * Start a forkserver of its own that runs @p program instead of re-executing
 * this one: an interpreter with its modules loaded, say, so that its children
 * are forks of it (Python's forkserver with `set_forkserver_preload()`). Start
 * children through it with weft_process_options::forkserver and
 * #WEFT_START_FORKSERVER; they find their function by registered name *in
 * the server's program*, and get a copy of the argument bytes, as with the
 * process-wide server, which this one does not replace.
 *
 * The server runs `program argv[0] argv[1] ... --weft-forkserver=<fds>` with
 * this process's environment, working directory, stdin, stdout and stderr,
 * and must call weft_main() with an argv whose argv[1] is weft's argument
 * (`python3 -m module` then `weft_main(sys.argv)`; a C program called with
 * leading arguments of its own passes `argv + k`). weft_main() runs the server
 * there and never returns. It ends when @p out is destroyed or this process
 * ends (whatever the end, SIGKILL included); if it dies, the next start
 * through it starts it again (same program and arguments).
 *
 * @code
 * static const char *const args[] = {"-m", "weft._ppool", NULL};
 * weft_forkserver *fs;
 * if (weft_forkserver_start_program("/usr/bin/python3", args, &fs) != WEFT_OK) return 1;
 * weft_process_options o = WEFT_PROCESS_OPTIONS_INIT;
 * o.start_method = WEFT_START_FORKSERVER;
 * o.forkserver = fs;
 * weft_process *p;
 * weft_process_create(&p, &o);
 * weft_process_start_named(p, "work", "bytes", 5);   // forked by the Python server
 * weft_process_join(p, WEFT_FOREVER);
 * weft_process_destroy(p);
 * weft_forkserver_destroy(fs);
 * @endcode
 *
 * @param program path of the program (not searched in PATH); NULL = this
 *        program (`/proc/self/exe`), which gives a private server.
 * @param argv NULL-terminated arguments put between @p program and weft's
 *        own, NOT including argv[0] (it is @p program); copied; NULL = none.
 * @param out receives the handle; NULL on failure.
 * @return #WEFT_OK once the server answered; #WEFT_EINVAL if @p out is NULL,
 *         @p program is empty or @p argv has more than 64 entries;
 *         #WEFT_ENOENT if @p program does not exist; #WEFT_EPERM if it is not
 *         executable; #WEFT_ENOTSUP if it did not answer within 10 s (it does
 *         not call weft_main() with weft's argument; it is killed);
 *         #WEFT_ESYS for other OS refusals; #WEFT_ENOMEM.
 * Thread-safe. In a child forked from this process the handle starts a new
 * server of the child's own at its first use there.
 * @since 0.3
 */
WEFT_API weft_status weft_forkserver_start_program(const char *program, const char *const *argv,
                                                   weft_forkserver **out) WEFT_NOEXCEPT;

/**
 * The pid of @p server's process, or 0 when it is not running (it died and
 * was not started again yet, or the handle belongs to the parent of a fork).
 * @return the pid; 0; #WEFT_EMISUSE for a bad handle.
 * @since 0.3
 */
WEFT_API int64_t weft_forkserver_program_pid(weft_forkserver *server) WEFT_NOEXCEPT;

/**
 * Stop @p server and release the handle: its control socket closes, the
 * server leaves and is reaped (killed after 2 s if it does not). Its daemon
 * children die with it (join reads -SIGKILL); the others go on, and their
 * handles still join them and read the code their function returned (one
 * that a signal ends after the server is gone reads -SIGKILL, as a daemon
 * child's). NULL or a bad handle is a
 * no-op. Must not race with starts through @p server. In a forked child it
 * frees the handle and leaves the parent's server alone.
 * @since 0.3
 */
WEFT_API void weft_forkserver_destroy(weft_forkserver *server) WEFT_NOEXCEPT;

WEFT_END_DECLS

#endif /* WEFT_PROCESS_H */
