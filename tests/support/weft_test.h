/*
 * Small helpers shared by the cmocka tests. Include after <cmocka.h>'s
 * prerequisites; this header pulls them in itself.
 *
 * Rules (STYLE.md): assert only on the test thread; every wait has a finite
 * timeout; timing checks are wide (0.6x .. 10x).
 */
#ifndef WEFT_TEST_H
#define WEFT_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <weft/weft.h>

/* Assert a weft call returned `want`; on mismatch print the error detail. */
#define WT_EXPECT(want, expr)                                                            \
    do {                                                                                 \
        weft_status wt_got_ = (expr);                                                    \
        if (wt_got_ != (want))                                                           \
            print_error("%s returned %s (%d), expected %s: %s\n", #expr,                 \
                        weft_status_name(wt_got_), wt_got_, weft_status_name(want),      \
                        weft_last_error()->message);                                     \
        assert_int_equal(wt_got_, (want));                                               \
    } while (0)

#define WT_OK(expr) WT_EXPECT(WEFT_OK, expr)

/* Milliseconds elapsed since `start_ns` (a weft_monotonic_ns() reading). */
static inline double wt_ms_since(int64_t start_ns) {
    return (double)(weft_monotonic_ns() - start_ns) / 1e6;
}

/* Assert an elapsed time is near `want_ms`: wide bounds for loaded CI machines. */
#define WT_ASSERT_ABOUT_MS(elapsed_ms, want_ms)                          \
    do {                                                                 \
        double wt_e_ = (elapsed_ms);                                     \
        if (wt_e_ < 0.6 * (want_ms) || wt_e_ > 10.0 * (want_ms) + 50.0) \
            print_error("elapsed %.1f ms, wanted about %.1f ms\n", wt_e_, (double)(want_ms)); \
        assert_true(wt_e_ >= 0.6 * (want_ms));                           \
        assert_true(wt_e_ <= 10.0 * (want_ms) + 50.0);                   \
    } while (0)

static inline void wt_sleep_ms(int ms) { weft_sleep_ns((int64_t)ms * WEFT_MSEC); }

/* State letter of a process from /proc/PID/stat ('R', 'S', 'T' stopped,
 * 'Z' zombie, ...), 0 when it is gone, '?' when the line does not parse. */
static inline char wt_proc_state(int64_t pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%lld/stat", (long long)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' ? rp[2] : '?';
}

/* Tests that fork run outside TSan (it does not support fork with threads
 * well) and inside ASan: put WT_SKIP_UNDER_TSAN(); first in such a case. */
#if defined(__SANITIZE_THREAD__)
#  define WT_UNDER_TSAN 1
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define WT_UNDER_TSAN 1
#  endif
#endif
#ifdef WT_UNDER_TSAN
#  define WT_SKIP_UNDER_TSAN() skip()
#else
#  define WT_SKIP_UNDER_TSAN() ((void)0)
#endif

#endif /* WEFT_TEST_H */
