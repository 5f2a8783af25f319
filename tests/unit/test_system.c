/* CPU counts that honour affinity. */
#include <sched.h>

#include "weft_test.h"

static void test_cpu_count_is_positive_and_at_most_online(void **state) {
    (void)state;
    assert_true(weft_cpu_count() >= 1);
    assert_true(weft_cpu_count_online() >= 1);
    assert_true(weft_cpu_count() <= weft_cpu_count_online());
}

static void test_cpu_count_follows_the_affinity_mask(void **state) {
    cpu_set_t old, one;
    (void)state;
    assert_int_equal(sched_getaffinity(0, sizeof old, &old), 0);
    CPU_ZERO(&one);
    for (int i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, &old)) { CPU_SET(i, &one); break; }
    assert_int_equal(sched_setaffinity(0, sizeof one, &one), 0);
    int n = weft_cpu_count();
    assert_int_equal(sched_setaffinity(0, sizeof old, &old), 0);
    assert_int_equal(n, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_count_is_positive_and_at_most_online),
        cmocka_unit_test(test_cpu_count_follows_the_affinity_mask),
    };
    return cmocka_run_group_tests_name("system", tests, NULL, NULL);
}
