/**
 * @file common.h
 * @brief Shared conventions of the weft C API: export macro, status type,
 *        timeouts and callback shapes.
 *
 * Every public header includes this one; you never need to include it
 * yourself.
 *
 * Conventions, once for the whole API:
 * - Fallible functions return ::weft_status: #WEFT_OK (0) or a negative
 *   `WEFT_E*` code from error.h. A human-readable detail naming the function
 *   and the bad value is in weft_last_error() on the same thread.
 * - Blocking calls take `int64_t timeout_ns` as their last non-callback
 *   argument: a relative time in nanoseconds. `0` polls without blocking,
 *   #WEFT_FOREVER waits forever, any other negative value is #WEFT_EINVAL.
 *   The timeout becomes a monotonic deadline once, at entry; spurious
 *   wake-ups and signals never extend it. The wall clock is never used.
 * - Handles are opaque and library-allocated. `*_destroy()` returns void and
 *   accepts NULL. A destroyed or wrong-type handle gives #WEFT_EMISUSE where
 *   that can be detected (a per-type magic word checked at every entry).
 * - A callback's `user_data` comes last. A callback runs exactly once when the
 *   call that took it succeeded, and never when that call failed.
 *
 * @since 0.1
 */
#ifndef WEFT_COMMON_H
#define WEFT_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#  if defined(WEFT_BUILDING_LIBRARY)
#    define WEFT_API __declspec(dllexport)
#  elif defined(WEFT_STATIC)
#    define WEFT_API
#  else
#    define WEFT_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__)
#  define WEFT_API __attribute__((visibility("default")))
#else
#  define WEFT_API
#endif

#ifdef __cplusplus
#  define WEFT_BEGIN_DECLS extern "C" {
#  define WEFT_END_DECLS }
#  define WEFT_NOEXCEPT noexcept
#else
#  define WEFT_BEGIN_DECLS
#  define WEFT_END_DECLS
#  define WEFT_NOEXCEPT
#endif

WEFT_BEGIN_DECLS

/** Result of every fallible call: #WEFT_OK (0) or a negative `WEFT_E*` code. */
typedef int weft_status;

/** Timeout value meaning "wait as long as it takes". */
#define WEFT_FOREVER (INT64_C(-1))

/** Handy conversions to the nanoseconds every timeout is given in. */
#define WEFT_USEC (INT64_C(1000))
#define WEFT_MSEC (INT64_C(1000000))
#define WEFT_SEC (INT64_C(1000000000))

/**
 * Frees a value whose ownership was handed to weft (an item, a user_data).
 * Runs exactly once for each value handed over.
 */
typedef void (*weft_free_fn)(void *user_data);

/**
 * Where a synchronization object or queue lives (::weft_sharing `scope`).
 * @since 0.2
 */
#define WEFT_SCOPE_THREAD 0u  /**< threads of this process only (default, fastest) */
#define WEFT_SCOPE_PROCESS 1u /**< in shared memory: anonymous (inherited by children
                                   started with fork) or named (any process opens it) */

/**
 * How long a named process-scope object (or shared memory segment) keeps its
 * name. Memory stays mapped for every process that has it open whatever the
 * lifetime; the lifetime only says when the name goes away.
 * @since 0.2
 */
#define WEFT_LIFETIME_OWNED 0u      /**< the creator's destroy/close removes the name */
#define WEFT_LIFETIME_REFCOUNTED 1u /**< the last close in any process removes it (a process
                                         that dies without closing keeps its count) */
#define WEFT_LIFETIME_PERSISTENT 2u /**< the name stays until weft_shm_unlink() */

/** ::weft_sharing flag: when the name exists, open it instead of failing with
 *  #WEFT_EEXIST (the losers of a creation race then open the winner's object). */
#define WEFT_SHARE_OPEN_EXISTING 1u

/**
 * Process-scope placement of an object, a field of its options struct.
 *
 * A named object is a file in `/dev/shm/<name>` that is published only once
 * it is fully set up: an opener never sees a half-made object, and a creator
 * killed during set-up leaves nothing behind under the name.
 * @since 0.2
 */
typedef struct weft_sharing {
    uint32_t scope;    /**< #WEFT_SCOPE_THREAD (default) or #WEFT_SCOPE_PROCESS */
    uint32_t lifetime; /**< WEFT_LIFETIME_*; named objects only */
    const char *name;  /**< NULL: anonymous; else 1..200 bytes, no '/' (one leading '/' is
                            ignored, as shm_open does); copied */
    uint32_t flags;    /**< #WEFT_SHARE_OPEN_EXISTING */
    uint32_t mode;     /**< permission bits of a named object; 0 means 0600 */
} weft_sharing;

/** Default ::weft_sharing: thread scope. */
#define WEFT_SHARING_INIT { WEFT_SCOPE_THREAD, WEFT_LIFETIME_OWNED, NULL, 0, 0 }

WEFT_END_DECLS

#endif /* WEFT_COMMON_H */
