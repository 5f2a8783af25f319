/**
 * @file semaphore.h
 * @brief Semaphore and BoundedSemaphore: a counter that lets at most N
 *        threads through at once (Python's `threading.Semaphore` and
 *        `threading.BoundedSemaphore`).
 *
 * A semaphore holds a value. weft_semaphore_acquire() takes one from it,
 * waiting while it is 0; weft_semaphore_release() gives some back and wakes
 * that many waiters. Any thread may release; nobody owns a semaphore.
 *
 * Created with `max_value > 0` it is a BoundedSemaphore: a release that
 * would push the value above `max_value` is refused with #WEFT_EOVERFLOW and
 * changes nothing (Python raises ValueError), which catches "released more
 * often than acquired" bugs.
 *
 * Uncontended acquire and release are one atomic instruction each; a release
 * makes a system call only when some thread is asleep in acquire. A waiter
 * spins briefly before it sleeps, so a quick hand-over between two running
 * threads costs no system call.
 *
 * Process scope (Python's `multiprocessing.Semaphore` and
 * `BoundedSemaphore`): set `opts->share.scope` to #WEFT_SCOPE_PROCESS and the
 * semaphore lives in shared memory, anonymous (shared with children started
 * by fork) or named (opened with weft_semaphore_open()). Same functions, same
 * codes, same costs (its futexes are process-shared). A process that dies
 * while it waits in acquire harms nobody; a process that dies after an
 * acquire without its release keeps that unit, as with Python's.
 *
 * @code
 * weft_semaphore *room;
 * weft_semaphore_create(&room, 4, NULL);   // at most 4 inside at once
 * weft_semaphore_acquire(room, WEFT_FOREVER);
 * // ... in the room ...
 * weft_semaphore_release(room, 1);
 * weft_semaphore_destroy(room);
 * @endcode
 *
 * @since 0.1
 */
#ifndef WEFT_SEMAPHORE_H
#define WEFT_SEMAPHORE_H

#include "common.h"

WEFT_BEGIN_DECLS

/** Opaque semaphore handle (plain or bounded). */
typedef struct weft_semaphore weft_semaphore;

/** Options for weft_semaphore_create(); pass NULL for defaults. */
typedef struct weft_semaphore_options {
    uint32_t version;   /**< #WEFT_SEMAPHORE_OPTIONS_VERSION (1 is still accepted: no `share`) */
    uint32_t max_value; /**< 0: unbounded (Semaphore); > 0: BoundedSemaphore
                             whose value may never exceed it */
    weft_sharing share; /**< version 2: thread scope (default) or process scope; @since 0.2 */
} weft_semaphore_options;

/** Current version of ::weft_semaphore_options (2 added `share`). */
#define WEFT_SEMAPHORE_OPTIONS_VERSION 2
/** Default ::weft_semaphore_options: an unbounded thread-scope semaphore. */
#define WEFT_SEMAPHORE_OPTIONS_INIT { WEFT_SEMAPHORE_OPTIONS_VERSION, 0, WEFT_SHARING_INIT }

/**
 * Create a semaphore with an initial value.
 *
 * For a BoundedSemaphore as in Python (`BoundedSemaphore(n)`), set both
 * @p value and `opts->max_value` to n.
 * @param out receives the handle; set to NULL on failure.
 * @param value the initial value (how many acquires succeed at once).
 * With `opts->share.scope == WEFT_SCOPE_PROCESS` it lives in shared memory,
 * anonymous or named (see ::weft_sharing); the bound travels with it, so an
 * opener gets a BoundedSemaphore too.
 * @param opts NULL for an unbounded semaphore.
 * @return #WEFT_OK; #WEFT_EINVAL if @p out is NULL, @p opts has an unknown
 *         version, `opts->max_value > 0` and @p value exceeds it, `share` is
 *         invalid, or the name exists as another kind of object;
 *         #WEFT_EEXIST if the name exists (without #WEFT_SHARE_OPEN_EXISTING;
 *         with it the existing semaphore is opened and @p value is ignored);
 *         #WEFT_EPERM; #WEFT_ENOMEM; #WEFT_ESYS.
 * Fork: a child started with fork may use its copy of a process-scope handle.
 * @since 0.1 (process scope since 0.2)
 */
WEFT_API weft_status weft_semaphore_create(weft_semaphore **out, uint32_t value, const weft_semaphore_options *opts) WEFT_NOEXCEPT;

/**
 * Open the process-scope semaphore called @p name, made by
 * weft_semaphore_create() in any process.
 * @param out receives the handle; set to NULL on failure.
 * @param name the name given at creation.
 * @return #WEFT_OK; #WEFT_ENOENT if there is no such name; #WEFT_EINVAL for a
 *         NULL argument, a bad name, or a name that is another kind of weft
 *         object; #WEFT_EPERM; #WEFT_ENOMEM; #WEFT_ESYS.
 * Thread-safe. Close it with weft_semaphore_destroy().
 * @since 0.2
 */
WEFT_API weft_status weft_semaphore_open(weft_semaphore **out, const char *name) WEFT_NOEXCEPT;

/**
 * Destroy a semaphore handle. NULL is a no-op. Destroying a semaphore another
 * thread is blocked on is undefined. Process scope: closes this process's
 * view; the name goes as its lifetime says.
 * @since 0.1
 */
WEFT_API void weft_semaphore_destroy(weft_semaphore *s) WEFT_NOEXCEPT;

/**
 * Take one from the value, waiting up to @p timeout_ns while it is 0.
 * @param s the semaphore.
 * @param timeout_ns 0 tries once, #WEFT_FOREVER waits as long as it takes.
 * @return #WEFT_OK when taken; #WEFT_ETIMEDOUT when the value stayed 0 until
 *         the timeout (also for a failed poll); #WEFT_EINVAL for a timeout
 *         below -1; #WEFT_EMISUSE for a NULL or destroyed handle.
 * Thread-safe. Waiters are not served in strict arrival order.
 * @since 0.1
 */
WEFT_API weft_status weft_semaphore_acquire(weft_semaphore *s, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Add @p n to the value and wake up to @p n waiting threads. Any thread may
 * release.
 * @param s the semaphore.
 * @param n how many to give back, at least 1.
 * @return #WEFT_OK; #WEFT_EINVAL if @p n is 0; #WEFT_EOVERFLOW, with nothing
 *         released, if the value would exceed the bound of a bounded
 *         semaphore (or UINT32_MAX for an unbounded one); #WEFT_EMISUSE for
 *         a NULL or destroyed handle.
 * @since 0.1
 */
WEFT_API weft_status weft_semaphore_release(weft_semaphore *s, uint32_t n) WEFT_NOEXCEPT;

/**
 * The current value (a snapshot: it may change at once).
 * @return the value (>= 0), or #WEFT_EMISUSE for a NULL or destroyed handle.
 * @since 0.1
 */
WEFT_API int64_t weft_semaphore_value(const weft_semaphore *s) WEFT_NOEXCEPT;

WEFT_END_DECLS

#endif /* WEFT_SEMAPHORE_H */
