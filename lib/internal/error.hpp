// Per-thread error detail and the helpers every extern "C" entry uses to
// report a failure. Never installed.
#pragma once

#include <cstdint>

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

[[gnu::cold]] weft_status bad_version(const char *func, std::uint32_t got, std::uint32_t want) noexcept;

// The common options check: NULL (defaults) or a struct of the version this
// library knows; anything else is WEFT_EINVAL naming `func`.
template <class Opts>
inline weft_status check_version(const char *func, const Opts *opts, std::uint32_t want) noexcept {
    if (__builtin_expect(opts == nullptr || opts->version == want, 1)) return WEFT_OK;
    return bad_version(func, opts->version, want);
}

// The same for an options struct that grew: any version from `oldest` to
// `newest` is accepted (read the fields a version has only when
// opts->version says the caller's struct has them).
template <class Opts>
inline weft_status check_version_range(const char *func, const Opts *opts, std::uint32_t oldest,
                                       std::uint32_t newest) noexcept {
    if (__builtin_expect(opts == nullptr || (opts->version >= oldest && opts->version <= newest), 1)) return WEFT_OK;
    return bad_version(func, opts->version, newest);
}

}  // namespace weft::detail
