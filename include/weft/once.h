/**
 * @file once.h
 * @brief Once: run an initializer exactly once, however many threads ask
 *        (POSIX `pthread_once`, GLib `g_once`, C++ `std::call_once`).
 *
 * Python needs no such thing at module level (imports run once under the
 * import lock); in C, lazily building a shared table from several threads is
 * the classic race. weft_once_call() runs the function the first time it is
 * called on a given ::weft_once; callers that arrive while it runs wait until
 * it has finished, so everybody returns with the initialisation complete.
 *
 * A ::weft_once is the one weft object that lives in the caller's storage
 * rather than behind a handle, so it can be initialised statically without a
 * create call (there is no destroy either):
 *
 * @code
 * static weft_once table_once = WEFT_ONCE_INIT;
 * static void build_table(void *unused) { ... }
 *
 * weft_once_call(&table_once, build_table, NULL);   // from any thread
 * @endcode
 *
 * The memory the function wrote is visible to every thread that returns from
 * weft_once_call() on the same ::weft_once. Thread scope: do not place a
 * ::weft_once in memory shared between processes.
 *
 * @since 0.1
 */
#ifndef WEFT_ONCE_H
#define WEFT_ONCE_H

#include "common.h"

WEFT_BEGIN_DECLS

/**
 * Once-only state in caller storage. Initialise it with #WEFT_ONCE_INIT (or
 * zero it: static storage is zeroed already). Do not read or write the field;
 * do not copy or move a ::weft_once once in use.
 */
typedef struct weft_once {
    uint32_t state_; /**< private */
} weft_once;

/** Static initialiser of a ::weft_once that has not run. */
#define WEFT_ONCE_INIT { 0 }

/** The initializer weft_once_call() runs; @p user_data is passed through. */
typedef void (*weft_once_fn)(void *user_data);

/**
 * Run @p fn exactly once across all threads for @p once.
 *
 * The first caller runs @p fn(@p user_data) in its own thread. Callers that
 * arrive while it runs block (without a timeout) until it returns; callers
 * after that return at once (one atomic load, no lock). Only the first
 * caller's @p fn and @p user_data are used. If @p fn leaves by a C++
 * exception, nothing is marked done: the exception is caught, the call
 * returns #WEFT_EINTERNAL, and the next caller runs its function.
 *
 * @param once caller storage initialised with #WEFT_ONCE_INIT.
 * @param fn the initializer; must not be NULL.
 * @param user_data passed to @p fn; weft never frees it.
 * @return #WEFT_OK when the initializer has completed (by this call or an
 *         earlier or concurrent one); #WEFT_EDEADLK when called from inside
 *         @p fn on the same @p once (it would wait for itself);
 *         #WEFT_EINVAL when @p once or @p fn is NULL or @p once holds a value
 *         #WEFT_ONCE_INIT never produces (uninitialised memory);
 *         #WEFT_EINTERNAL as above.
 * Thread-safe. Not async-signal-safe.
 * @since 0.1
 */
WEFT_API weft_status weft_once_call(weft_once *once, weft_once_fn fn, void *user_data) WEFT_NOEXCEPT;

/**
 * Whether the initializer of @p once has completed.
 * @return 1 when done, 0 when not yet run or still running, #WEFT_EINVAL
 *         when @p once is NULL or not initialised.
 * @since 0.1
 */
WEFT_API int weft_once_done(const weft_once *once) WEFT_NOEXCEPT;

WEFT_END_DECLS

#endif /* WEFT_ONCE_H */
