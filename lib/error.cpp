// Status codes, their names and messages, and the per-thread error detail.
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "internal/deadline.hpp"
#include "internal/error.hpp"

namespace weft::detail {
namespace {

weft_error &slot() noexcept {
    // Trivially constructible, so no TLS constructor or destructor runs.
    static thread_local weft_error e;
    return e;
}

void vset(weft_status code, int err, const char *fmt, va_list ap) noexcept {
    weft_error &e = slot();
    e.code = code;
    e.sys_errno = err;
    int n = std::vsnprintf(e.message, sizeof e.message, fmt, ap);
    if (err != 0 && n >= 0 && static_cast<size_t>(n) < sizeof e.message) {
        char buf[128];
        const char *s = strerror_r(err, buf, sizeof buf);  // GNU variant
        std::snprintf(e.message + n, sizeof e.message - static_cast<size_t>(n), " (%s)", s);
    }
}

}  // namespace

weft_status fail(weft_status code, const char *fmt, ...) noexcept {
    va_list ap;
    va_start(ap, fmt);
    vset(code, 0, fmt, ap);
    va_end(ap);
    return code;
}

weft_status fail_sys(weft_status code, int err, const char *fmt, ...) noexcept {
    va_list ap;
    va_start(ap, fmt);
    vset(code, err, fmt, ap);
    va_end(ap);
    return code;
}

weft_status misuse(const char *func, const char *what, const void *handle) noexcept {
    if (handle == nullptr) return fail(WEFT_EMISUSE, "%s: %s is NULL", func, what);
    return fail(WEFT_EMISUSE, "%s: %s (%p) is destroyed or not of the expected type", func, what, handle);
}

weft_status null_arg(const char *func, const char *param) noexcept {
    return fail(WEFT_EINVAL, "%s: %s is NULL", func, param);
}

weft_status bad_version(const char *func, std::uint32_t got, std::uint32_t want) noexcept {
    return fail(WEFT_EINVAL, "%s: opts->version is %u; expected %u (use the _OPTIONS_INIT macro)", func, got, want);
}

weft_status bad_timeout(const char *func, std::int64_t timeout_ns) noexcept {
    return fail(WEFT_EINVAL, "%s: timeout_ns is %lld; use 0 (poll), WEFT_FOREVER (-1) or a positive value",
                func, static_cast<long long>(timeout_ns));
}

}  // namespace weft::detail

extern "C" {

WEFT_API const char *weft_strerror(weft_status code) noexcept {
    switch (code) {
#define WEFT_X_(name, value, text) \
    case WEFT_##name:              \
        return text;
        WEFT_STATUS_MAP(WEFT_X_)
#undef WEFT_X_
    default:
        return "unknown weft status";
    }
}

WEFT_API const char *weft_status_name(weft_status code) noexcept {
    switch (code) {
#define WEFT_X_(name, value, text) \
    case WEFT_##name:              \
        return "WEFT_" #name;
        WEFT_STATUS_MAP(WEFT_X_)
#undef WEFT_X_
    default:
        return "WEFT_E?";
    }
}

WEFT_API const weft_error *weft_last_error(void) noexcept { return &weft::detail::slot(); }

WEFT_API void weft_clear_error(void) noexcept {
    weft_error &e = weft::detail::slot();
    e.code = WEFT_OK;
    e.sys_errno = 0;
    e.message[0] = '\0';
}

}  // extern "C"
