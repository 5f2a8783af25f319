/**
 * @file event.h
 * @brief Event: a flag that threads wait for (Python's `threading.Event`).
 *
 * An event starts clear. weft_event_set() sets the flag and wakes every
 * thread waiting for it; while it stays set, weft_event_wait() returns at
 * once. weft_event_clear() resets it so later waits block again. A typical
 * use is a starting gun: workers wait on the event, the main thread sets it
 * once everything is ready, and all of them start together.
 *
 * As in Python, a waiter woken by a set returns #WEFT_OK even if the event
 * was cleared again before it ran.
 *
 * weft_event_is_set() and a wait on a set event cost one load; set and clear
 * make a system call only when some thread is asleep in wait. A waiter spins
 * briefly before it sleeps.
 *
 * Process scope (Python's `multiprocessing.Event`): set `opts->share.scope`
 * to #WEFT_SCOPE_PROCESS and the event lives in shared memory, anonymous
 * (shared with children started by fork) or named (opened with
 * weft_event_open()). Same functions, codes and costs; a process that dies
 * while it waits harms nobody.
 *
 * @code
 * weft_event *go;
 * weft_event_create(&go, NULL);
 * // in each worker:  weft_event_wait(go, WEFT_FOREVER);
 * weft_event_set(go);              // all workers start
 * weft_event_destroy(go);          // after joining them
 * @endcode
 *
 * @since 0.1
 */
#ifndef WEFT_EVENT_H
#define WEFT_EVENT_H

#include "common.h"

WEFT_BEGIN_DECLS

/** Opaque event handle. */
typedef struct weft_event weft_event;

/** Options for weft_event_create(); pass NULL for defaults. */
typedef struct weft_event_options {
    uint32_t version;   /**< #WEFT_EVENT_OPTIONS_VERSION (1 is still accepted: no `share`) */
    uint32_t flags;     /**< reserved, 0 */
    weft_sharing share; /**< version 2: thread scope (default) or process scope; @since 0.2 */
} weft_event_options;

/** Current version of ::weft_event_options (2 added `share`). */
#define WEFT_EVENT_OPTIONS_VERSION 2
/** Default ::weft_event_options: a thread-scope event. */
#define WEFT_EVENT_OPTIONS_INIT { WEFT_EVENT_OPTIONS_VERSION, 0, WEFT_SHARING_INIT }

/**
 * Create an event whose flag is clear.
 *
 * With `opts->share.scope == WEFT_SCOPE_PROCESS` it lives in shared memory,
 * anonymous or named (see ::weft_sharing).
 * @param out receives the handle; set to NULL on failure.
 * @param opts NULL for defaults.
 * @return #WEFT_OK; #WEFT_EINVAL if @p out is NULL, @p opts has an unknown
 *         version or non-zero flags, `share` is invalid, or the name exists
 *         as another kind of object; #WEFT_EEXIST if the name exists (without
 *         #WEFT_SHARE_OPEN_EXISTING); #WEFT_EPERM; #WEFT_ENOMEM; #WEFT_ESYS.
 * Fork: a child started with fork may use its copy of a process-scope handle.
 * @since 0.1 (process scope since 0.2)
 */
WEFT_API weft_status weft_event_create(weft_event **out, const weft_event_options *opts) WEFT_NOEXCEPT;

/**
 * Open the process-scope event called @p name, made by weft_event_create()
 * in any process.
 * @param out receives the handle; set to NULL on failure.
 * @param name the name given at creation.
 * @return #WEFT_OK; #WEFT_ENOENT if there is no such name; #WEFT_EINVAL for a
 *         NULL argument, a bad name, or a name that is another kind of weft
 *         object; #WEFT_EPERM; #WEFT_ENOMEM; #WEFT_ESYS.
 * Thread-safe. Close it with weft_event_destroy().
 * @since 0.2
 */
WEFT_API weft_status weft_event_open(weft_event **out, const char *name) WEFT_NOEXCEPT;

/**
 * Destroy an event handle. NULL is a no-op. Destroying an event another
 * thread is blocked on is undefined. Process scope: closes this process's
 * view; the name goes as its lifetime says.
 * @since 0.1
 */
WEFT_API void weft_event_destroy(weft_event *e) WEFT_NOEXCEPT;

/**
 * Set the flag and wake every waiting thread. Setting a set event does
 * nothing. Thread-safe.
 * @return #WEFT_OK; #WEFT_EMISUSE for a NULL or destroyed handle.
 * @since 0.1
 */
WEFT_API weft_status weft_event_set(weft_event *e) WEFT_NOEXCEPT;

/**
 * Clear the flag, so later waits block until the next set. Thread-safe.
 * @return #WEFT_OK; #WEFT_EMISUSE for a NULL or destroyed handle.
 * @since 0.1
 */
WEFT_API weft_status weft_event_clear(weft_event *e) WEFT_NOEXCEPT;

/**
 * Whether the flag is set right now (a snapshot).
 * @return 1 if set, 0 if clear, #WEFT_EMISUSE for a NULL or destroyed handle.
 * @since 0.1
 */
WEFT_API int weft_event_is_set(const weft_event *e) WEFT_NOEXCEPT;

/**
 * Wait until the flag is set.
 * @param e the event.
 * @param timeout_ns 0 only checks, #WEFT_FOREVER waits as long as it takes.
 * @return #WEFT_OK when the flag is set, or was set while this call waited
 *         (even if cleared again since); #WEFT_ETIMEDOUT when it stayed clear
 *         until the timeout (also for a poll of a clear event);
 *         #WEFT_EINVAL for a timeout below -1; #WEFT_EMISUSE for a NULL or
 *         destroyed handle.
 * Thread-safe. Signals do not end the wait early.
 * @since 0.1
 */
WEFT_API weft_status weft_event_wait(weft_event *e, int64_t timeout_ns) WEFT_NOEXCEPT;

WEFT_END_DECLS

#endif /* WEFT_EVENT_H */
