/* Status codes, names, messages and the per-thread error detail. */
#include <pthread.h>
#include <string.h>

#include "weft_test.h"

static void test_every_code_has_a_distinct_name_and_message(void **state) {
    static const weft_status codes[] = {
#define WEFT_X_(name, value, text) WEFT_##name,
        WEFT_STATUS_MAP(WEFT_X_)
#undef WEFT_X_
    };
    size_t n = sizeof codes / sizeof codes[0];
    (void)state;
    for (size_t i = 0; i < n; i++) {
        assert_non_null(weft_strerror(codes[i]));
        assert_string_not_equal(weft_strerror(codes[i]), "unknown weft status");
        assert_true(strncmp(weft_status_name(codes[i]), "WEFT_", 5) == 0);
        for (size_t j = i + 1; j < n; j++) {
            assert_int_not_equal(codes[i], codes[j]);
            assert_string_not_equal(weft_status_name(codes[i]), weft_status_name(codes[j]));
        }
    }
    assert_int_equal(WEFT_OK, 0);
    assert_string_equal(weft_status_name(WEFT_ETIMEDOUT), "WEFT_ETIMEDOUT");
}

static void test_unknown_codes_still_give_strings(void **state) {
    (void)state;
    assert_string_equal(weft_strerror(12345), "unknown weft status");
    assert_string_equal(weft_status_name(-77), "WEFT_E?");
}

static void test_last_error_names_the_function_and_the_bad_value(void **state) {
    weft_lock *lock;
    (void)state;
    WT_OK(weft_lock_create(&lock, NULL));
    weft_clear_error();
    assert_int_equal(weft_last_error()->code, WEFT_OK);
    WT_EXPECT(WEFT_EINVAL, weft_lock_acquire(lock, -5));
    assert_int_equal(weft_last_error()->code, WEFT_EINVAL);
    assert_non_null(strstr(weft_last_error()->message, "weft_lock_acquire"));
    assert_non_null(strstr(weft_last_error()->message, "-5"));
    weft_lock_destroy(lock);
}

static void *fail_on_other_thread(void *arg) {
    (void)arg;
    weft_lock_acquire(NULL, 0);
    return (void *)(intptr_t)weft_last_error()->code;
}

static void test_last_error_is_per_thread(void **state) {
    pthread_t t;
    void *other;
    (void)state;
    weft_clear_error();
    assert_int_equal(pthread_create(&t, NULL, fail_on_other_thread, NULL), 0);
    assert_int_equal(pthread_join(t, &other), 0);
    assert_int_equal((int)(intptr_t)other, WEFT_EMISUSE);
    assert_int_equal(weft_last_error()->code, WEFT_OK); /* ours untouched */
}

static void test_version_matches_header(void **state) {
    char want[32];
    (void)state;
    assert_int_equal(weft_version(), WEFT_VERSION_NUMBER);
    snprintf(want, sizeof want, "%d.%d.%d", WEFT_VERSION_MAJOR, WEFT_VERSION_MINOR, WEFT_VERSION_PATCH);
    assert_string_equal(weft_version_string(), want);
}

static void test_monotonic_clock_advances_and_sleep_waits(void **state) {
    int64_t a, b;
    (void)state;
    a = weft_monotonic_ns();
    WT_OK(weft_sleep_ns(20 * WEFT_MSEC));
    b = weft_monotonic_ns();
    WT_ASSERT_ABOUT_MS((double)(b - a) / 1e6, 20);
    WT_OK(weft_sleep_ns(0));
    WT_EXPECT(WEFT_EINVAL, weft_sleep_ns(-1));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_has_a_distinct_name_and_message),
        cmocka_unit_test(test_unknown_codes_still_give_strings),
        cmocka_unit_test(test_last_error_names_the_function_and_the_bad_value),
        cmocka_unit_test(test_last_error_is_per_thread),
        cmocka_unit_test(test_version_matches_header),
        cmocka_unit_test(test_monotonic_clock_advances_and_sleep_waits),
    };
    return cmocka_run_group_tests_name("error", tests, NULL, NULL);
}
