/**
 * @file error.h
 * @brief Status codes, their names and messages, and the per-thread error
 *        detail.
 *
 * The codes are fixed and never renumbered. Expected outcomes that callers
 * handle in normal control flow (#WEFT_ETIMEDOUT, #WEFT_ECLOSED, #WEFT_EBUSY,
 * #WEFT_EOWNERDEAD, ...) sit between -1 and -9; failures from -10 down.
 *
 * @since 0.1
 */
#ifndef WEFT_ERROR_H
#define WEFT_ERROR_H

#include "common.h"

WEFT_BEGIN_DECLS

/**
 * The one table every status is generated from: X(name, value, message).
 * The enum, weft_strerror() and weft_status_name() cannot drift apart.
 */
#define WEFT_STATUS_MAP(X)                                                          \
    X(OK, 0, "success")                                                             \
    X(ETIMEDOUT, -1, "the operation timed out")                                     \
    X(ECLOSED, -2, "the object was closed or shut down")                            \
    X(EBUSY, -3, "the resource is busy")                                            \
    X(EOWNERDEAD, -4, "the previous owner died holding it; repair and mark consistent") \
    X(ECANCELLED, -5, "the operation was cancelled")                                \
    X(EBROKEN, -6, "the barrier is broken")                                         \
    X(EINVAL, -10, "invalid argument")                                              \
    X(ENOMEM, -11, "out of memory")                                                 \
    X(EPERM, -12, "operation not permitted for this caller")                       \
    X(EDEADLK, -13, "the operation would deadlock")                                 \
    X(ENOTSUP, -14, "not supported")                                                \
    X(EMISUSE, -15, "invalid, destroyed or wrong-type handle")                      \
    X(ESYS, -16, "an operating system call failed")                                 \
    X(ENOTRECOVERABLE, -17, "the protected state is not recoverable")               \
    X(EOVERFLOW, -18, "a count would exceed its bound")                             \
    X(ENOENT, -19, "no object of that name")                                        \
    X(EEXIST, -20, "an object of that name exists already")                         \
    X(EMSGSIZE, -21, "the message is too large")                                    \
    X(ESTATE, -22, "the object is not in a state that allows this")                \
    X(EFAILED, -23, "the task failed")                                              \
    X(EWORKERDIED, -24, "the worker process died running the task")                 \
    X(EINTERNAL, -99, "internal error in weft")

/** Status codes; see ::weft_status. */
enum weft_status_code {
#define WEFT_X_(name, value, text) WEFT_##name = value,
    WEFT_STATUS_MAP(WEFT_X_)
#undef WEFT_X_
    WEFT_STATUS_MIN_ = -99
};

/** Longest message weft_last_error() keeps, including the final NUL. */
#define WEFT_ERROR_MESSAGE_MAX 256

/**
 * Detail of the last failure on the calling thread.
 *
 * `message` names the function and the bad value, e.g.
 * `"weft_lock_acquire: timeout_ns is -5; use 0, WEFT_FOREVER or a positive value"`.
 * For humans: control flow uses the returned code only.
 */
typedef struct weft_error {
    weft_status code; /**< the code the failing call returned (#WEFT_OK if none yet) */
    int sys_errno;    /**< errno of the failed system call, or 0 */
    char message[WEFT_ERROR_MESSAGE_MAX]; /**< NUL-terminated detail */
} weft_error;

/**
 * Message for a status code.
 * @param code any value; unknown codes give "unknown weft status".
 * @return a static string, never NULL.
 * @since 0.1
 */
WEFT_API const char *weft_strerror(weft_status code) WEFT_NOEXCEPT;

/**
 * Symbolic name for a status code, e.g. "WEFT_ETIMEDOUT".
 * @param code any value; unknown codes give "WEFT_E?".
 * @return a static string, never NULL.
 * @since 0.1
 */
WEFT_API const char *weft_status_name(weft_status code) WEFT_NOEXCEPT;

/**
 * Detail of the last failing weft call on this thread.
 *
 * Only meaningful right after a call returned a negative code; successful
 * calls do not clear it. Thread-safe: each thread has its own.
 * @return a pointer to thread-local storage valid until the thread's next
 *         failing weft call; never NULL.
 * @since 0.1
 */
WEFT_API const weft_error *weft_last_error(void) WEFT_NOEXCEPT;

/**
 * Reset this thread's error detail to #WEFT_OK with an empty message.
 * @since 0.1
 */
WEFT_API void weft_clear_error(void) WEFT_NOEXCEPT;

WEFT_END_DECLS

#endif /* WEFT_ERROR_H */
