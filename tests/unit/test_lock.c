/* Lock: mutual exclusion, timed acquire, release by any thread, bad input. */
#include <pthread.h>
#include <string.h>

#include "weft_test.h"

static void test_lock_starts_unlocked_and_polls(void **state) {
    weft_lock *lock;
    (void)state;
    WT_OK(weft_lock_create(&lock, NULL));
    assert_int_equal(weft_lock_locked(lock), 0);
    WT_OK(weft_lock_acquire(lock, 0));
    assert_int_equal(weft_lock_locked(lock), 1);
    WT_EXPECT(WEFT_ETIMEDOUT, weft_lock_acquire(lock, 0));
    WT_OK(weft_lock_release(lock));
    assert_int_equal(weft_lock_locked(lock), 0);
    weft_lock_destroy(lock);
}

static void test_lock_acquire_times_out_when_held(void **state) {
    weft_lock *lock;
    (void)state;
    WT_OK(weft_lock_create(&lock, NULL));
    WT_OK(weft_lock_acquire(lock, WEFT_FOREVER));
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_lock_acquire(lock, 50 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 50);
    WT_OK(weft_lock_release(lock));
    weft_lock_destroy(lock);
}

static void *release_later(void *arg) {
    wt_sleep_ms(30);
    return (void *)(intptr_t)weft_lock_release(arg);
}

static void test_lock_can_be_released_by_another_thread(void **state) {
    weft_lock *lock;
    pthread_t t;
    void *rc;
    (void)state;
    WT_OK(weft_lock_create(&lock, NULL));
    WT_OK(weft_lock_acquire(lock, 0));
    assert_int_equal(pthread_create(&t, NULL, release_later, lock), 0);
    WT_OK(weft_lock_acquire(lock, 5 * WEFT_SEC)); /* woken by the other thread's release */
    assert_int_equal(pthread_join(t, &rc), 0);
    assert_int_equal((int)(intptr_t)rc, WEFT_OK);
    WT_OK(weft_lock_release(lock));
    weft_lock_destroy(lock);
}

enum { WORKERS = 4, ROUNDS = 50000 };
struct counter {
    weft_lock *lock;
    long value;
    int failures;
};

static void *add_many(void *arg) {
    struct counter *c = arg;
    for (int i = 0; i < ROUNDS; i++) {
        if (weft_lock_acquire(c->lock, 10 * WEFT_SEC) != WEFT_OK) { c->failures++; continue; }
        long v = c->value; /* read, modify, write: racy without the lock */
        c->value = v + 1;
        weft_lock_release(c->lock);
    }
    return NULL;
}

static void test_lock_makes_the_bank_balance_exact(void **state) {
    struct counter c = {NULL, 0, 0};
    pthread_t t[WORKERS];
    (void)state;
    WT_OK(weft_lock_create(&c.lock, NULL));
    for (int i = 0; i < WORKERS; i++) assert_int_equal(pthread_create(&t[i], NULL, add_many, &c), 0);
    for (int i = 0; i < WORKERS; i++) pthread_join(t[i], NULL);
    assert_int_equal(c.failures, 0);
    assert_int_equal(c.value, (long)WORKERS * ROUNDS);
    weft_lock_destroy(c.lock);
}

struct timed {
    weft_lock *lock;
    int timeouts, acquired, errors;
};

static void *acquire_with_short_timeouts(void *arg) {
    struct timed *t = arg;
    for (int i = 0; i < 2000; i++) {
        weft_status s = weft_lock_acquire(t->lock, (i % 3) * 20 * WEFT_USEC);
        if (s == WEFT_OK) {
            __atomic_add_fetch(&t->acquired, 1, __ATOMIC_RELAXED);
            weft_lock_release(t->lock);
        } else if (s == WEFT_ETIMEDOUT) {
            __atomic_add_fetch(&t->timeouts, 1, __ATOMIC_RELAXED);
        } else {
            __atomic_add_fetch(&t->errors, 1, __ATOMIC_RELAXED);
        }
    }
    return NULL;
}

static void test_lock_stays_consistent_when_waiters_time_out(void **state) {
    struct timed t = {NULL, 0, 0, 0};
    pthread_t th[3];
    (void)state;
    WT_OK(weft_lock_create(&t.lock, NULL));
    for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, acquire_with_short_timeouts, &t);
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    assert_int_equal(t.errors, 0);
    assert_int_equal(t.acquired + t.timeouts, 3 * 2000);
    /* No waiter left the lock wedged: it is free now. */
    assert_int_equal(weft_lock_locked(t.lock), 0);
    WT_OK(weft_lock_acquire(t.lock, 0));
    WT_OK(weft_lock_release(t.lock));
    weft_lock_destroy(t.lock);
}

struct share {
    weft_lock *lock;
    volatile int stop;
    long total;
    long mine[2];
};
struct share_arg {
    struct share *s;
    int id;
};

static void *hammer(void *arg) {
    struct share_arg *a = arg;
    while (!__atomic_load_n(&a->s->stop, __ATOMIC_RELAXED)) {
        weft_lock_acquire(a->s->lock, WEFT_FOREVER);
        a->s->total++;
        a->s->mine[a->id]++;
        weft_lock_release(a->s->lock);
    }
    return NULL;
}

static void test_lock_starves_neither_of_two_hammering_threads(void **state) {
    struct share s = {NULL, 0, 0, {0, 0}};
    struct share_arg a[2] = {{&s, 0}, {&s, 1}};
    pthread_t t[2];
    (void)state;
    WT_OK(weft_lock_create(&s.lock, NULL));
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, hammer, &a[i]);
    wt_sleep_ms(300);
    __atomic_store_n(&s.stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    assert_int_equal(s.total, s.mine[0] + s.mine[1]);
    /* Wide bound: each thread gets at least 1% (the bench measures the real share). */
    assert_true(s.mine[0] * 100 >= s.total);
    assert_true(s.mine[1] * 100 >= s.total);
    weft_lock_destroy(s.lock);
}

static void test_lock_rejects_bad_input(void **state) {
    weft_lock *lock;
    weft_lock_options bad = WEFT_LOCK_OPTIONS_INIT;
    (void)state;
    WT_EXPECT(WEFT_EINVAL, weft_lock_create(NULL, NULL));
    bad.version = 99;
    WT_EXPECT(WEFT_EINVAL, weft_lock_create(&lock, &bad));
    assert_null(lock);
    bad.version = WEFT_LOCK_OPTIONS_VERSION;
    bad.flags = 1;
    WT_EXPECT(WEFT_EINVAL, weft_lock_create(&lock, &bad));
    WT_EXPECT(WEFT_EMISUSE, weft_lock_acquire(NULL, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_lock_release(NULL));
    assert_int_equal(weft_lock_locked(NULL), WEFT_EMISUSE);
    weft_lock_destroy(NULL);

    WT_OK(weft_lock_create(&lock, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_lock_acquire(lock, -2));
    WT_EXPECT(WEFT_EINVAL, weft_lock_acquire(lock, INT64_MIN));
    WT_EXPECT(WEFT_ESTATE, weft_lock_release(lock)); /* not held */
    assert_non_null(strstr(weft_last_error()->message, "not held"));
    weft_lock_destroy(lock);
}

static void test_lock_with_a_huge_timeout_does_not_overflow(void **state) {
    weft_lock *lock;
    (void)state;
    WT_OK(weft_lock_create(&lock, NULL));
    WT_OK(weft_lock_acquire(lock, INT64_MAX));
    WT_OK(weft_lock_release(lock));
    weft_lock_destroy(lock);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock_starts_unlocked_and_polls),
        cmocka_unit_test(test_lock_acquire_times_out_when_held),
        cmocka_unit_test(test_lock_can_be_released_by_another_thread),
        cmocka_unit_test(test_lock_makes_the_bank_balance_exact),
        cmocka_unit_test(test_lock_stays_consistent_when_waiters_time_out),
        cmocka_unit_test(test_lock_starves_neither_of_two_hammering_threads),
        cmocka_unit_test(test_lock_rejects_bad_input),
        cmocka_unit_test(test_lock_with_a_huge_timeout_does_not_overflow),
    };
    return cmocka_run_group_tests_name("lock", tests, NULL, NULL);
}
