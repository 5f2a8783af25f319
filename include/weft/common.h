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

WEFT_END_DECLS

#endif /* WEFT_COMMON_H */
