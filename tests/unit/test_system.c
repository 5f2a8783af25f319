/* CPU counts that honour affinity; weft_memory_trim. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weft_test.h"
#include "weft_fork.h"

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

#if defined(__SANITIZE_ADDRESS__)
#define CELLS_CACHED 0 /* under ASan every future is a plain allocation */
#else
#define CELLS_CACHED 1
#endif

enum { kBurst = 100000 };

static void *hold_futures(void *arg) {
    weft_future **fs = arg;
    for (int i = 0; i < kBurst; i++) assert_int_equal(weft_future_create(&fs[i]), WEFT_OK);
    return NULL;
}

/* A burst of futures made and freed: trim gives their blocks back, a second
 * trim has nothing left to give, and futures still work afterwards. Futures
 * made on another thread and freed here cross magazines, as in a pool. */
static void test_memory_trim_gives_back_a_burst(void **state) {
    (void)state;
    weft_future **fs = calloc(kBurst, sizeof *fs);
    assert_non_null(fs);
    (void)weft_memory_trim();
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, hold_futures, fs), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    weft_future *alive = NULL;
    assert_int_equal(weft_future_create(&alive), WEFT_OK);
    for (int i = 0; i < kBurst; i++) weft_future_destroy(fs[i]);
    size_t given = weft_memory_trim();
    if (CELLS_CACHED) {
        /* 100 000 cells of 64 B: 6.4 MB, less the blocks of the cells kept
         * alive or at hand in a magazine. */
        assert_true(given >= (size_t)kBurst * 64 * 9 / 10);
        assert_true(given <= (size_t)kBurst * 64 + (64 << 10) * 2);
    } else {
        assert_int_equal(given, 0);
    }
    assert_int_equal(weft_memory_trim(), 0);
    /* The future alive across the trim is intact; new ones come. */
    int v = 7;
    assert_int_equal(weft_future_set_result(alive, &v, NULL), WEFT_OK);
    void *out = NULL;
    assert_int_equal(weft_future_result(alive, &out, 0), WEFT_OK);
    assert_ptr_equal(out, &v);
    weft_future_destroy(alive);
    for (int i = 0; i < kBurst; i++) assert_int_equal(weft_future_create(&fs[i]), WEFT_OK);
    for (int i = 0; i < kBurst; i++) weft_future_destroy(fs[i]);
    free(fs);
}

/* A child forked while another thread churns futures can make and free
 * futures itself: the cache's locks are never inherited held. */
static atomic_int churning;

static void *churn(void *arg) {
    (void)arg;
    while (atomic_load(&churning)) {
        weft_future *f[200];
        for (int i = 0; i < 200; i++)
            if (weft_future_create(&f[i]) != WEFT_OK) f[i] = NULL;
        for (int i = 0; i < 200; i++) weft_future_destroy(f[i]);
        (void)weft_memory_trim();
    }
    return NULL;
}

static int churn_in_child(void *arg) {
    (void)arg;
    for (int i = 0; i < 5000; i++) {
        weft_future *f = NULL;
        if (weft_future_create(&f) != WEFT_OK) return 2;
        weft_future_destroy(f);
    }
    (void)weft_memory_trim();
    return 0;
}

static void test_fork_while_the_cache_is_busy(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    /* Under ASan there is no cache (futures are plain allocations), and GCC
     * 12's libasan takes no allocator lock around fork() (llvm/llvm-project
     * #75290): a child forked while another thread allocates can hang in
     * malloc, which is not what this test is about. */
    if (!CELLS_CACHED) skip();
    atomic_store(&churning, 1);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, churn, NULL), 0);
    for (int round = 0; round < 20; round++) {
        pid_t pid = wt_fork(churn_in_child, NULL);
        assert_true(pid >= 0);
        WT_CHILD_OK(pid); /* a deadlocked child is killed after 10 s and fails this */
    }
    atomic_store(&churning, 0);
    assert_int_equal(pthread_join(t, NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_count_is_positive_and_at_most_online),
        cmocka_unit_test(test_cpu_count_follows_the_affinity_mask),
        cmocka_unit_test(test_memory_trim_gives_back_a_burst),
        cmocka_unit_test(test_fork_while_the_cache_is_busy),
    };
    return cmocka_run_group_tests_name("system", tests, NULL, NULL);
}
