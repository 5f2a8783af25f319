/* RLock: re-entry, owner and depth, release by a non-owner, timeouts, bad input. */
#include <pthread.h>
#include <string.h>

#include "weft_test.h"

/* The caller's weft ident, read through an rlock it takes (the thread API is
 * another helper's work; weft_rlock_owner reports the same number). */
static uint64_t my_ident(void) {
    weft_rlock *r;
    uint64_t id = 0;
    if (weft_rlock_create(&r, NULL) != WEFT_OK) return 0;
    if (weft_rlock_acquire(r, 0) == WEFT_OK) {
        id = weft_rlock_owner(r);
        weft_rlock_release(r);
    }
    weft_rlock_destroy(r);
    return id;
}

static void test_rlock_reentry_counts_depth_and_frees_at_zero(void **state) {
    weft_rlock *r;
    (void)state;
    WT_OK(weft_rlock_create(&r, NULL));
    assert_int_equal(weft_rlock_owner(r), 0);
    assert_int_equal(weft_rlock_count(r), 0);
    WT_OK(weft_rlock_acquire(r, 0));
    WT_OK(weft_rlock_acquire(r, 0));
    WT_OK(weft_rlock_acquire(r, WEFT_FOREVER));
    assert_int_equal(weft_rlock_count(r), 3);
    uint64_t me = my_ident();
    assert_true(me != 0);
    assert_int_equal(me, weft_thread_get_ident()); /* the same ident the thread API reports */
    assert_int_equal(weft_rlock_owner(r), me);
    WT_OK(weft_rlock_release(r));
    WT_OK(weft_rlock_release(r));
    assert_int_equal(weft_rlock_count(r), 1);
    assert_int_equal(weft_rlock_owner(r), me);
    WT_OK(weft_rlock_release(r));
    assert_int_equal(weft_rlock_count(r), 0);
    assert_int_equal(weft_rlock_owner(r), 0);
    WT_EXPECT(WEFT_EPERM, weft_rlock_release(r)); /* released once too often */
    assert_non_null(strstr(weft_last_error()->message, "not held"));
    weft_rlock_destroy(r);
}

struct probe {
    weft_rlock *r;
    weft_status poll, timed, release;
    int count;
    uint64_t owner_seen, ident;
    double waited_ms;
};

static void *probe_from_other_thread(void *arg) {
    struct probe *p = arg;
    p->ident = my_ident();
    p->count = weft_rlock_count(p->r);
    p->owner_seen = weft_rlock_owner(p->r);
    p->release = weft_rlock_release(p->r);
    p->poll = weft_rlock_acquire(p->r, 0);
    int64_t t0 = weft_monotonic_ns();
    p->timed = weft_rlock_acquire(p->r, 50 * WEFT_MSEC);
    p->waited_ms = wt_ms_since(t0);
    return NULL;
}

static void test_rlock_is_refused_to_other_threads_and_their_release_is_eperm(void **state) {
    struct probe p;
    pthread_t t;
    (void)state;
    memset(&p, 0, sizeof p);
    WT_OK(weft_rlock_create(&p.r, NULL));
    WT_OK(weft_rlock_acquire(p.r, 0));
    WT_OK(weft_rlock_acquire(p.r, 0));
    assert_int_equal(pthread_create(&t, NULL, probe_from_other_thread, &p), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(p.count, 0);              /* not the owner: depth 0 */
    assert_int_equal(p.owner_seen, my_ident()); /* but it sees who owns it */
    assert_true(p.ident != my_ident());
    assert_int_equal(p.release, WEFT_EPERM);
    assert_int_equal(p.poll, WEFT_ETIMEDOUT);
    assert_int_equal(p.timed, WEFT_ETIMEDOUT);
    WT_ASSERT_ABOUT_MS(p.waited_ms, 50);
    assert_int_equal(weft_rlock_count(p.r), 2); /* untouched by the failed release */
    WT_OK(weft_rlock_release(p.r));
    WT_OK(weft_rlock_release(p.r));
    weft_rlock_destroy(p.r);
}

static void *acquire_forever_then_release(void *arg) {
    struct probe *p = arg;
    int64_t t0 = weft_monotonic_ns();
    p->timed = weft_rlock_acquire(p->r, 5 * WEFT_SEC);
    p->waited_ms = wt_ms_since(t0);
    p->count = weft_rlock_count(p->r);
    p->release = weft_rlock_release(p->r);
    return NULL;
}

static void test_rlock_wakes_a_blocked_thread_when_depth_returns_to_zero(void **state) {
    struct probe p;
    pthread_t t;
    (void)state;
    memset(&p, 0, sizeof p);
    WT_OK(weft_rlock_create(&p.r, NULL));
    WT_OK(weft_rlock_acquire(p.r, 0));
    WT_OK(weft_rlock_acquire(p.r, 0));
    assert_int_equal(pthread_create(&t, NULL, acquire_forever_then_release, &p), 0);
    wt_sleep_ms(30);
    WT_OK(weft_rlock_release(p.r)); /* depth 1: still ours */
    wt_sleep_ms(30);
    WT_OK(weft_rlock_release(p.r)); /* now free: the other thread gets it */
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(p.timed, WEFT_OK);
    assert_true(p.waited_ms >= 40);
    assert_int_equal(p.count, 1);
    assert_int_equal(p.release, WEFT_OK);
    assert_int_equal(weft_rlock_owner(p.r), 0);
    weft_rlock_destroy(p.r);
}

enum { WORKERS = 4, ROUNDS = 20000 };
struct counter {
    weft_rlock *r;
    long value;
    int failures;
};

static void add_one_nested(struct counter *c, int depth) {
    if (weft_rlock_acquire(c->r, 10 * WEFT_SEC) != WEFT_OK) {
        c->failures++; /* only under the lock or harmlessly racy: checked == 0 */
        return;
    }
    if (depth > 0)
        add_one_nested(c, depth - 1);
    else
        c->value++;
    if (weft_rlock_release(c->r) != WEFT_OK) c->failures++;
}

static void *add_many(void *arg) {
    struct counter *c = arg;
    for (int i = 0; i < ROUNDS; i++) add_one_nested(c, i % 3);
    return NULL;
}

static void test_rlock_stress_nested_increments_are_exact(void **state) {
    struct counter c = {NULL, 0, 0};
    pthread_t t[WORKERS];
    (void)state;
    WT_OK(weft_rlock_create(&c.r, NULL));
    for (int i = 0; i < WORKERS; i++) assert_int_equal(pthread_create(&t[i], NULL, add_many, &c), 0);
    for (int i = 0; i < WORKERS; i++) pthread_join(t[i], NULL);
    assert_int_equal(c.failures, 0);
    assert_int_equal(c.value, (long)WORKERS * ROUNDS);
    assert_int_equal(weft_rlock_owner(c.r), 0);
    weft_rlock_destroy(c.r);
}

static void test_rlock_rejects_bad_input(void **state) {
    weft_rlock *r = (weft_rlock *)1;
    weft_lock *plain;
    weft_rlock_options bad = WEFT_RLOCK_OPTIONS_INIT;
    (void)state;
    WT_EXPECT(WEFT_EINVAL, weft_rlock_create(NULL, NULL));
    bad.version = 99;
    WT_EXPECT(WEFT_EINVAL, weft_rlock_create(&r, &bad));
    assert_null(r);
    bad.version = WEFT_RLOCK_OPTIONS_VERSION;
    bad.flags = 1;
    WT_EXPECT(WEFT_EINVAL, weft_rlock_create(&r, &bad));
    WT_EXPECT(WEFT_EMISUSE, weft_rlock_acquire(NULL, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_rlock_release(NULL));
    assert_int_equal(weft_rlock_count(NULL), WEFT_EMISUSE);
    assert_int_equal(weft_rlock_owner(NULL), 0);
    weft_rlock_destroy(NULL);

    /* A live handle of another type is refused, not misread. */
    WT_OK(weft_lock_create(&plain, NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_rlock_acquire((weft_rlock *)plain, 0));
    assert_int_equal(weft_rlock_count((weft_rlock *)plain), WEFT_EMISUSE);
    weft_rlock_destroy((weft_rlock *)plain); /* no-op on a wrong type */
    assert_int_equal(weft_lock_locked(plain), 0);
    weft_lock_destroy(plain);

    WT_OK(weft_rlock_create(&r, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_rlock_acquire(r, -2));
    WT_EXPECT(WEFT_EINVAL, weft_rlock_acquire(r, INT64_MIN));
    WT_OK(weft_rlock_acquire(r, INT64_MAX)); /* huge timeout: no overflow */
    WT_EXPECT(WEFT_EINVAL, weft_rlock_acquire(r, -5)); /* even for the owner */
    assert_int_equal(weft_rlock_count(r), 1);
    WT_OK(weft_rlock_release(r));
    weft_rlock_destroy(r); /* destroying a held lock is allowed too: */
    WT_OK(weft_rlock_create(&r, NULL));
    WT_OK(weft_rlock_acquire(r, 0));
    weft_rlock_destroy(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rlock_reentry_counts_depth_and_frees_at_zero),
        cmocka_unit_test(test_rlock_is_refused_to_other_threads_and_their_release_is_eperm),
        cmocka_unit_test(test_rlock_wakes_a_blocked_thread_when_depth_returns_to_zero),
        cmocka_unit_test(test_rlock_stress_nested_increments_are_exact),
        cmocka_unit_test(test_rlock_rejects_bad_input),
    };
    return cmocka_run_group_tests_name("rlock", tests, NULL, NULL);
}
