// Per-thread error detail and the helpers every extern "C" entry uses to
// report a failure. Never installed.
#pragma once

#include <weft/error.h>

namespace weft::detail {

// Record a failure on this thread's weft_error and return `code`, so a
// failing path reads `return fail(WEFT_EINVAL, "weft_x: ...", ...);`.
// The message is printf-formatted and truncated to WEFT_ERROR_MESSAGE_MAX.
[[gnu::cold, gnu::format(printf, 2, 3)]] weft_status fail(weft_status code, const char *fmt, ...) noexcept;

// Same, with the errno of a failed system call (kept in weft_error::sys_errno
// and appended to the message).
[[gnu::cold, gnu::format(printf, 3, 4)]] weft_status fail_sys(weft_status code, int err, const char *fmt, ...) noexcept;

// The common misuse report: a NULL, destroyed or wrong-type handle.
[[gnu::cold]] weft_status misuse(const char *func, const char *what, const void *handle) noexcept;

// The common NULL-argument report.
[[gnu::cold]] weft_status null_arg(const char *func, const char *param) noexcept;

}  // namespace weft::detail
