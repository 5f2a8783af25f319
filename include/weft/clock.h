/**
 * @file clock.h
 * @brief The monotonic clock every weft timeout is measured on, and sleeping.
 * @since 0.1
 */
#ifndef WEFT_CLOCK_H
#define WEFT_CLOCK_H

#include "common.h"

WEFT_BEGIN_DECLS

/**
 * Nanoseconds on the monotonic clock (CLOCK_MONOTONIC): never jumps with the
 * wall clock. Only differences between two readings mean anything.
 * Thread-safe, no allocation, safe after fork.
 * @since 0.1
 */
WEFT_API int64_t weft_monotonic_ns(void) WEFT_NOEXCEPT;

/**
 * Sleep for a relative time, resuming after signals until it has passed.
 * @param duration_ns nanoseconds, >= 0.
 * @return #WEFT_OK, or #WEFT_EINVAL for a negative duration.
 * @since 0.1
 */
WEFT_API weft_status weft_sleep_ns(int64_t duration_ns) WEFT_NOEXCEPT;

WEFT_END_DECLS

#endif /* WEFT_CLOCK_H */
