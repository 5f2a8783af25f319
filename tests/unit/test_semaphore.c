/* Semaphore and BoundedSemaphore: counting, polls, timeouts, wake-ups,
 * release(n), the bound, value snapshots, bad input, a short stress. */
#include <pthread.h>
#include <string.h>

#include "weft_test.h"
#include "weft_fork.h"

static void test_semaphore_counts_down_and_polls_at_zero(void **state) {
    weft_semaphore *s;
    (void)state;
    WT_OK(weft_semaphore_create(&s, 2, NULL));
    assert_int_equal(weft_semaphore_value(s), 2);
    WT_OK(weft_semaphore_acquire(s, 0));
    WT_OK(weft_semaphore_acquire(s, WEFT_FOREVER));
    assert_int_equal(weft_semaphore_value(s), 0);
    WT_EXPECT(WEFT_ETIMEDOUT, weft_semaphore_acquire(s, 0));
    WT_OK(weft_semaphore_release(s, 3)); /* unbounded: may exceed the start */
    assert_int_equal(weft_semaphore_value(s), 3);
    weft_semaphore_destroy(s);
}

static void test_semaphore_acquire_times_out_at_zero(void **state) {
    weft_semaphore *s;
    (void)state;
    WT_OK(weft_semaphore_create(&s, 0, NULL));
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_semaphore_acquire(s, 50 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 50);
    assert_int_equal(weft_semaphore_value(s), 0);
    weft_semaphore_destroy(s);
}

struct waiters {
    weft_semaphore *s;
    int ok, timeouts, errors;
    int started;
};

static void *acquire_once(void *arg) {
    struct waiters *w = arg;
    __atomic_add_fetch(&w->started, 1, __ATOMIC_SEQ_CST);
    weft_status st = weft_semaphore_acquire(w->s, 300 * WEFT_MSEC);
    if (st == WEFT_OK)
        __atomic_add_fetch(&w->ok, 1, __ATOMIC_SEQ_CST);
    else if (st == WEFT_ETIMEDOUT)
        __atomic_add_fetch(&w->timeouts, 1, __ATOMIC_SEQ_CST);
    else
        __atomic_add_fetch(&w->errors, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void test_semaphore_release_n_wakes_exactly_n_blocked_threads(void **state) {
    enum { N = 5 };
    struct waiters w = {NULL, 0, 0, 0, 0};
    pthread_t t[N];
    (void)state;
    WT_OK(weft_semaphore_create(&w.s, 0, NULL));
    for (int i = 0; i < N; i++) assert_int_equal(pthread_create(&t[i], NULL, acquire_once, &w), 0);
    while (__atomic_load_n(&w.started, __ATOMIC_SEQ_CST) < N) wt_sleep_ms(1);
    wt_sleep_ms(30); /* let them block */
    WT_OK(weft_semaphore_release(w.s, 3));
    for (int i = 0; i < N; i++) pthread_join(t[i], NULL);
    assert_int_equal(w.errors, 0);
    assert_int_equal(w.ok, 3);
    assert_int_equal(w.timeouts, 2);
    assert_int_equal(weft_semaphore_value(w.s), 0);
    weft_semaphore_destroy(w.s);
}

static void *release_later(void *arg) {
    wt_sleep_ms(30);
    return (void *)(intptr_t)weft_semaphore_release(arg, 1);
}

static void test_semaphore_forever_wait_is_woken_by_another_thread(void **state) {
    weft_semaphore *s;
    pthread_t t;
    void *rc;
    (void)state;
    WT_OK(weft_semaphore_create(&s, 0, NULL));
    assert_int_equal(pthread_create(&t, NULL, release_later, s), 0);
    int64_t t0 = weft_monotonic_ns();
    WT_OK(weft_semaphore_acquire(s, WEFT_FOREVER));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 30);
    pthread_join(t, &rc);
    assert_int_equal((int)(intptr_t)rc, WEFT_OK);
    weft_semaphore_destroy(s);
}

static void test_bounded_semaphore_refuses_release_above_its_bound(void **state) {
    weft_semaphore *s;
    weft_semaphore_options o = WEFT_SEMAPHORE_OPTIONS_INIT;
    (void)state;
    o.max_value = 3;
    WT_OK(weft_semaphore_create(&s, 3, &o));
    WT_EXPECT(WEFT_EOVERFLOW, weft_semaphore_release(s, 1));
    assert_non_null(strstr(weft_last_error()->message, "bound"));
    WT_OK(weft_semaphore_acquire(s, 0));
    WT_OK(weft_semaphore_acquire(s, 0));
    WT_EXPECT(WEFT_EOVERFLOW, weft_semaphore_release(s, 3)); /* 1 + 3 > 3: nothing released */
    assert_int_equal(weft_semaphore_value(s), 1);
    WT_OK(weft_semaphore_release(s, 2));
    assert_int_equal(weft_semaphore_value(s), 3);
    weft_semaphore_destroy(s);

    /* A bounded semaphore may start below its bound. */
    o.max_value = 2;
    WT_OK(weft_semaphore_create(&s, 0, &o));
    WT_OK(weft_semaphore_release(s, 2));
    WT_EXPECT(WEFT_EOVERFLOW, weft_semaphore_release(s, 1));
    weft_semaphore_destroy(s);
}

static void test_unbounded_semaphore_refuses_to_wrap_its_value(void **state) {
    weft_semaphore *s;
    (void)state;
    WT_OK(weft_semaphore_create(&s, UINT32_MAX - 1, NULL));
    WT_OK(weft_semaphore_release(s, 1));
    assert_int_equal(weft_semaphore_value(s), (int64_t)UINT32_MAX);
    WT_EXPECT(WEFT_EOVERFLOW, weft_semaphore_release(s, 1));
    assert_int_equal(weft_semaphore_value(s), (int64_t)UINT32_MAX);
    weft_semaphore_destroy(s);
}

enum { WORKERS = 4, ROUNDS = 20000, SLOTS = 2 };
struct room {
    weft_semaphore *s;
    int inside, peak, errors;
};

static void *enter_many_times(void *arg) {
    struct room *r = arg;
    for (int i = 0; i < ROUNDS; i++) {
        weft_status st = weft_semaphore_acquire(r->s, (i & 1) ? 10 * WEFT_SEC : WEFT_FOREVER);
        if (st != WEFT_OK) {
            __atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED);
            continue;
        }
        int now = __atomic_add_fetch(&r->inside, 1, __ATOMIC_SEQ_CST);
        int peak = __atomic_load_n(&r->peak, __ATOMIC_RELAXED);
        while (now > peak && !__atomic_compare_exchange_n(&r->peak, &peak, now, 1, __ATOMIC_RELAXED,
                                                          __ATOMIC_RELAXED)) {
        }
        __atomic_sub_fetch(&r->inside, 1, __ATOMIC_SEQ_CST);
        if (weft_semaphore_release(r->s, 1) != WEFT_OK) __atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_semaphore_stress_never_lets_more_than_its_value_in(void **state) {
    struct room r = {NULL, 0, 0, 0};
    weft_semaphore_options o = WEFT_SEMAPHORE_OPTIONS_INIT;
    pthread_t t[WORKERS];
    (void)state;
    o.max_value = SLOTS;
    WT_OK(weft_semaphore_create(&r.s, SLOTS, &o));
    for (int i = 0; i < WORKERS; i++) assert_int_equal(pthread_create(&t[i], NULL, enter_many_times, &r), 0);
    for (int i = 0; i < WORKERS; i++) pthread_join(t[i], NULL);
    assert_int_equal(r.errors, 0); /* includes: no release ever overflowed the bound */
    assert_true(r.peak >= 1);
    assert_true(r.peak <= SLOTS);
    assert_int_equal(weft_semaphore_value(r.s), SLOTS);
    weft_semaphore_destroy(r.s);
}

struct pingpong {
    weft_semaphore *ping, *pong;
    int errors;
};

static void *ponger(void *arg) {
    struct pingpong *p = arg;
    for (int i = 0; i < 20000; i++) {
        if (weft_semaphore_acquire(p->ping, 10 * WEFT_SEC) != WEFT_OK) p->errors++;
        if (weft_semaphore_release(p->pong, 1) != WEFT_OK) p->errors++;
    }
    return NULL;
}

static void test_semaphore_ping_pong_loses_no_wakeup(void **state) {
    struct pingpong p = {NULL, NULL, 0};
    pthread_t t;
    int errors = 0;
    (void)state;
    WT_OK(weft_semaphore_create(&p.ping, 0, NULL));
    WT_OK(weft_semaphore_create(&p.pong, 0, NULL));
    assert_int_equal(pthread_create(&t, NULL, ponger, &p), 0);
    for (int i = 0; i < 20000; i++) {
        if (weft_semaphore_release(p.ping, 1) != WEFT_OK) errors++;
        if (weft_semaphore_acquire(p.pong, 10 * WEFT_SEC) != WEFT_OK) errors++;
    }
    pthread_join(t, NULL);
    assert_int_equal(errors, 0);
    assert_int_equal(p.errors, 0);
    weft_semaphore_destroy(p.ping);
    weft_semaphore_destroy(p.pong);
}

/* A ping-pong whose partner sometimes naps: the waiters' adaptive spin
 * swings between long spins that catch the hand-off, short spins that end
 * in sched_yield, and futex sleeps; no release may be lost across those
 * changes of mode. */
enum { NAPPY_ROUNDS = 3000 };

static void *napping_ponger(void *arg) {
    struct pingpong *p = arg;
    for (int i = 0; i < NAPPY_ROUNDS; i++) {
        if (weft_semaphore_acquire(p->ping, 10 * WEFT_SEC) != WEFT_OK) p->errors++;
        if (i % 200 < 20) wt_sleep_ms(1); /* a burst of slow rounds: spins fail, waiters sleep */
        if (weft_semaphore_release(p->pong, 1) != WEFT_OK) p->errors++;
    }
    return NULL;
}

static void test_semaphore_ping_pong_with_naps_loses_no_wakeup(void **state) {
    struct pingpong p = {NULL, NULL, 0};
    pthread_t t;
    int errors = 0;
    (void)state;
    WT_OK(weft_semaphore_create(&p.ping, 0, NULL));
    WT_OK(weft_semaphore_create(&p.pong, 0, NULL));
    assert_int_equal(pthread_create(&t, NULL, napping_ponger, &p), 0);
    for (int i = 0; i < NAPPY_ROUNDS; i++) {
        if (i % 300 < 10) wt_sleep_ms(1); /* the other side naps too, at other times */
        if (weft_semaphore_release(p.ping, 1) != WEFT_OK) errors++;
        if (weft_semaphore_acquire(p.pong, 10 * WEFT_SEC) != WEFT_OK) errors++;
    }
    pthread_join(t, NULL);
    assert_int_equal(errors, 0);
    assert_int_equal(p.errors, 0);
    assert_int_equal(weft_semaphore_value(p.ping), 0);
    assert_int_equal(weft_semaphore_value(p.pong), 0);
    weft_semaphore_destroy(p.ping);
    weft_semaphore_destroy(p.pong);
}

/* After spinning has paid off (a fast ping-pong taught the semaphore to spin
 * long), a short timed acquire still times out on time and a poll still
 * fails at once. */
static void test_semaphore_timeout_holds_after_spinning_paid_off(void **state) {
    struct pingpong p = {NULL, NULL, 0};
    pthread_t t;
    (void)state;
    WT_OK(weft_semaphore_create(&p.ping, 0, NULL));
    WT_OK(weft_semaphore_create(&p.pong, 0, NULL));
    assert_int_equal(pthread_create(&t, NULL, ponger, &p), 0);
    for (int i = 0; i < 20000; i++) {
        WT_OK(weft_semaphore_release(p.ping, 1));
        WT_OK(weft_semaphore_acquire(p.pong, 10 * WEFT_SEC));
    }
    pthread_join(t, NULL);
    assert_int_equal(p.errors, 0);
    WT_EXPECT(WEFT_ETIMEDOUT, weft_semaphore_acquire(p.pong, 0));
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_semaphore_acquire(p.pong, 20 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 20);
    assert_int_equal(weft_semaphore_value(p.pong), 0);
    weft_semaphore_destroy(p.ping);
    weft_semaphore_destroy(p.pong);
}

/* Many threads spin and sleep on one semaphore (sharing its spin state)
 * while releases trickle in one at a time: every release is taken exactly
 * once and nobody is left asleep. */
enum { CROWD = 6, TAKES = 400 };

struct crowd {
    weft_semaphore *s;
    int taken, errors;
};

static void *take_many(void *arg) {
    struct crowd *c = arg;
    for (int i = 0; i < TAKES; i++) {
        if (weft_semaphore_acquire(c->s, 10 * WEFT_SEC) == WEFT_OK)
            __atomic_add_fetch(&c->taken, 1, __ATOMIC_SEQ_CST);
        else
            __atomic_add_fetch(&c->errors, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

static void test_semaphore_trickled_releases_reach_every_waiter_exactly_once(void **state) {
    struct crowd c = {NULL, 0, 0};
    pthread_t t[CROWD];
    int errors = 0;
    (void)state;
    WT_OK(weft_semaphore_create(&c.s, 0, NULL));
    for (int i = 0; i < CROWD; i++) assert_int_equal(pthread_create(&t[i], NULL, take_many, &c), 0);
    for (int i = 0; i < CROWD * TAKES; i++) {
        if (weft_semaphore_release(c.s, 1) != WEFT_OK) errors++;
        if (i % 500 == 0) wt_sleep_ms(1); /* let everyone fall asleep now and then */
    }
    for (int i = 0; i < CROWD; i++) pthread_join(t[i], NULL);
    assert_int_equal(errors, 0);
    assert_int_equal(c.errors, 0);
    assert_int_equal(c.taken, CROWD * TAKES);
    assert_int_equal(weft_semaphore_value(c.s), 0);
    weft_semaphore_destroy(c.s);
}

static void test_semaphore_rejects_bad_input(void **state) {
    weft_semaphore *s = (weft_semaphore *)1;
    weft_lock *plain;
    weft_semaphore_options o = WEFT_SEMAPHORE_OPTIONS_INIT;
    (void)state;
    WT_EXPECT(WEFT_EINVAL, weft_semaphore_create(NULL, 1, NULL));
    o.version = 7;
    WT_EXPECT(WEFT_EINVAL, weft_semaphore_create(&s, 1, &o));
    assert_null(s);
    o.version = WEFT_SEMAPHORE_OPTIONS_VERSION;
    o.max_value = 2;
    WT_EXPECT(WEFT_EINVAL, weft_semaphore_create(&s, 3, &o)); /* value above the bound */
    assert_non_null(strstr(weft_last_error()->message, "max_value"));
    WT_EXPECT(WEFT_EMISUSE, weft_semaphore_acquire(NULL, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_semaphore_release(NULL, 1));
    assert_int_equal(weft_semaphore_value(NULL), WEFT_EMISUSE);
    weft_semaphore_destroy(NULL);

    WT_OK(weft_lock_create(&plain, NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_semaphore_release((weft_semaphore *)plain, 1));
    assert_int_equal(weft_semaphore_value((weft_semaphore *)plain), WEFT_EMISUSE);
    weft_lock_destroy(plain);

    WT_OK(weft_semaphore_create(&s, 1, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_semaphore_acquire(s, -2));
    WT_EXPECT(WEFT_EINVAL, weft_semaphore_acquire(s, INT64_MIN));
    assert_int_equal(weft_semaphore_value(s), 1); /* a refused acquire takes nothing */
    WT_EXPECT(WEFT_EINVAL, weft_semaphore_release(s, 0));
    assert_int_equal(weft_semaphore_value(s), 1);
    WT_OK(weft_semaphore_acquire(s, INT64_MAX));
    weft_semaphore_destroy(s);
}

/* ---- process scope ------------------------------------------------------ */

static weft_status make_psem(weft_semaphore **out, uint32_t value, uint32_t max, const char *name, uint32_t flags) {
    weft_semaphore_options o = WEFT_SEMAPHORE_OPTIONS_INIT;
    o.max_value = max;
    o.share.scope = WEFT_SCOPE_PROCESS;
    o.share.name = name;
    o.share.flags = flags;
    return weft_semaphore_create(out, value, &o);
}

static int release_later_child(void *arg) {
    wt_sleep_ms(50);
    return weft_semaphore_release(arg, 1) == WEFT_OK ? 0 : 10;
}

static void test_semaphore_process_scope_release_in_a_child_wakes_the_parent(void **state) {
    weft_semaphore *s;
    (void)state;
    WT_SKIP_UNDER_TSAN();
    WT_OK(make_psem(&s, 0, 0, NULL, 0));
    pid_t pid = wt_fork(release_later_child, s);
    int64_t t0 = weft_monotonic_ns();
    WT_OK(weft_semaphore_acquire(s, 5 * WEFT_SEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 50);
    WT_CHILD_OK(pid);
    assert_int_equal(weft_semaphore_value(s), 0);
    weft_semaphore_destroy(s);
}

static int take_with_timeouts_child(void *arg) {
    weft_semaphore *s = arg;
    int64_t t0 = weft_monotonic_ns();
    if (weft_semaphore_acquire(s, 40 * WEFT_MSEC) != WEFT_ETIMEDOUT) return 20;
    if (weft_monotonic_ns() - t0 < 24 * WEFT_MSEC) return 21;
    if (weft_semaphore_acquire(s, 5 * WEFT_SEC) != WEFT_OK) return 22; /* the parent releases */
    return 0;
}

static void test_semaphore_process_scope_times_out_then_takes_across_processes(void **state) {
    weft_semaphore *s;
    (void)state;
    WT_SKIP_UNDER_TSAN();
    WT_OK(make_psem(&s, 0, 0, NULL, 0));
    pid_t pid = wt_fork(take_with_timeouts_child, s);
    wt_sleep_ms(150);
    WT_OK(weft_semaphore_release(s, 1));
    WT_CHILD_OK(pid);
    assert_int_equal(weft_semaphore_value(s), 0);
    weft_semaphore_destroy(s);
}

static int bounded_child(void *arg) {
    weft_semaphore *s;
    if (weft_semaphore_open(&s, arg) != WEFT_OK) return 30;
    /* The bound travels with the named semaphore. */
    if (weft_semaphore_release(s, 1) != WEFT_EOVERFLOW) return 31;
    if (weft_semaphore_acquire(s, 0) != WEFT_OK) return 32;
    if (weft_semaphore_release(s, 1) != WEFT_OK) return 33;
    weft_semaphore_destroy(s);
    return 0;
}

static void test_semaphore_named_bounded_is_opened_by_name(void **state) {
    char name[64], ename[64];
    weft_semaphore *a, *b, *c;
    weft_event *e;
    weft_event_options eo = WEFT_EVENT_OPTIONS_INIT;
    (void)state;
    WT_SKIP_UNDER_TSAN();
    wt_name(name, sizeof name, "sem-named");
    WT_EXPECT(WEFT_ENOENT, weft_semaphore_open(&b, name));
    assert_null(b);
    WT_OK(make_psem(&a, 2, 2, name, 0));
    WT_EXPECT(WEFT_EEXIST, make_psem(&c, 2, 2, name, 0));
    WT_OK(make_psem(&c, 0, 0, name, WEFT_SHARE_OPEN_EXISTING)); /* opens: value and bound ignored */
    assert_int_equal(weft_semaphore_value(c), 2);
    WT_OK(weft_semaphore_open(&b, name));
    WT_OK(weft_semaphore_acquire(b, 0));
    assert_int_equal(weft_semaphore_value(a), 1);
    WT_OK(weft_semaphore_release(c, 1));
    WT_EXPECT(WEFT_EOVERFLOW, weft_semaphore_release(a, 1));
    WT_CHILD_OK(wt_fork(bounded_child, name));
    assert_int_equal(weft_semaphore_value(a), 2);
    wt_name(ename, sizeof ename, "sem-named-event");
    eo.share.scope = WEFT_SCOPE_PROCESS;
    eo.share.name = ename;
    WT_OK(weft_event_create(&e, &eo));
    {
        weft_semaphore *x;
        WT_EXPECT(WEFT_EINVAL, weft_semaphore_open(&x, ename));
        assert_null(x);
    }
    assert_non_null(strstr(weft_last_error()->message, "event"));
    weft_event_destroy(e);
    weft_semaphore_destroy(c);
    weft_semaphore_destroy(b);
    weft_semaphore_destroy(a);
    WT_EXPECT(WEFT_ENOENT, weft_semaphore_open(&b, name));
    WT_EXPECT(WEFT_EINVAL, weft_semaphore_open(NULL, name));
    WT_EXPECT(WEFT_EINVAL, weft_semaphore_open(&b, NULL));
    assert_int_equal(wt_shm_leftovers(), 0);
}

struct sem_race {
    const char *name;
    uint32_t flags;
};

static int sem_race_child(void *arg) {
    struct sem_race *r = arg;
    weft_semaphore *s;
    weft_semaphore_options o = WEFT_SEMAPHORE_OPTIONS_INIT;
    o.share.scope = WEFT_SCOPE_PROCESS;
    o.share.name = r->name;
    o.share.flags = r->flags;
    o.share.lifetime = WEFT_LIFETIME_PERSISTENT; /* the loser cannot slip in after the winner closed */
    weft_status st = weft_semaphore_create(&s, 1, &o);
    if (st == WEFT_EEXIST) return 1;
    if (st != WEFT_OK) return 40;
    if (weft_semaphore_acquire(s, 5 * WEFT_SEC) != WEFT_OK) return 41;
    if (weft_semaphore_release(s, 1) != WEFT_OK) return 42;
    weft_semaphore_destroy(s);
    return 0;
}

static void test_semaphore_two_processes_racing_to_create_one_name(void **state) {
    char name[64];
    struct sem_race r;
    pid_t k[2];
    (void)state;
    WT_SKIP_UNDER_TSAN();
    wt_name(name, sizeof name, "sem-race");
    r.name = name;
    for (int round = 0; round < 6; round++) {
        r.flags = round % 2 ? WEFT_SHARE_OPEN_EXISTING : 0;
        for (int i = 0; i < 2; i++) k[i] = wt_fork(sem_race_child, &r);
        int a = wt_reap(k[0], 10000), b = wt_reap(k[1], 10000);
        /* Exclusive: one creates, one gets WEFT_EEXIST; OPEN_EXISTING: both succeed. */
        assert_int_equal(a + b, r.flags ? 0 : 1);
        assert_true(a == 0 || a == 1);
        WT_OK(weft_shm_unlink(name));
    }
    assert_int_equal(wt_shm_leftovers(), 0);
}

static int sleep_in_acquire_child(void *arg) {
    (void)weft_semaphore_acquire(arg, 10 * WEFT_SEC);
    return 50; /* killed before this */
}

static void test_semaphore_waiter_killed_while_asleep_breaks_nobody(void **state) {
    weft_semaphore *s;
    (void)state;
    WT_SKIP_UNDER_TSAN();
    WT_OK(make_psem(&s, 0, 0, NULL, 0));
    pid_t pid = wt_fork(sleep_in_acquire_child, s);
    wt_sleep_ms(100);
    wt_kill(pid);
    /* The dead sleeper left a stale count: releases still work, nothing lost. */
    WT_OK(weft_semaphore_release(s, 2));
    WT_OK(weft_semaphore_acquire(s, 0));
    pid = wt_fork(release_later_child, s);
    WT_OK(weft_semaphore_acquire(s, 0));
    WT_OK(weft_semaphore_acquire(s, 5 * WEFT_SEC));
    WT_CHILD_OK(pid);
    WT_EXPECT(WEFT_ETIMEDOUT, weft_semaphore_acquire(s, 0));
    weft_semaphore_destroy(s);
}

static void test_semaphore_process_scope_rejects_bad_sharing_and_accepts_v1(void **state) {
    weft_semaphore *s = (weft_semaphore *)1;
    weft_semaphore_options o = WEFT_SEMAPHORE_OPTIONS_INIT;
    (void)state;
    o.share.scope = 2;
    WT_EXPECT(WEFT_EINVAL, weft_semaphore_create(&s, 0, &o));
    assert_null(s);
    o.share.scope = WEFT_SCOPE_PROCESS;
    o.share.flags = 8;
    WT_EXPECT(WEFT_EINVAL, weft_semaphore_create(&s, 0, &o));
    o.share.flags = 0;
    o.share.name = "..";
    WT_EXPECT(WEFT_EINVAL, weft_semaphore_create(&s, 0, &o));
    o.version = 1;
    o.max_value = 3;
    WT_OK(weft_semaphore_create(&s, 3, &o)); /* v1: bounded, thread scope, share unread */
    WT_EXPECT(WEFT_EOVERFLOW, weft_semaphore_release(s, 1));
    weft_semaphore_destroy(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_semaphore_counts_down_and_polls_at_zero),
        cmocka_unit_test(test_semaphore_acquire_times_out_at_zero),
        cmocka_unit_test(test_semaphore_release_n_wakes_exactly_n_blocked_threads),
        cmocka_unit_test(test_semaphore_forever_wait_is_woken_by_another_thread),
        cmocka_unit_test(test_bounded_semaphore_refuses_release_above_its_bound),
        cmocka_unit_test(test_unbounded_semaphore_refuses_to_wrap_its_value),
        cmocka_unit_test(test_semaphore_stress_never_lets_more_than_its_value_in),
        cmocka_unit_test(test_semaphore_ping_pong_loses_no_wakeup),
        cmocka_unit_test(test_semaphore_ping_pong_with_naps_loses_no_wakeup),
        cmocka_unit_test(test_semaphore_timeout_holds_after_spinning_paid_off),
        cmocka_unit_test(test_semaphore_trickled_releases_reach_every_waiter_exactly_once),
        cmocka_unit_test(test_semaphore_rejects_bad_input),
        cmocka_unit_test(test_semaphore_process_scope_release_in_a_child_wakes_the_parent),
        cmocka_unit_test(test_semaphore_process_scope_times_out_then_takes_across_processes),
        cmocka_unit_test(test_semaphore_named_bounded_is_opened_by_name),
        cmocka_unit_test(test_semaphore_two_processes_racing_to_create_one_name),
        cmocka_unit_test(test_semaphore_waiter_killed_while_asleep_breaks_nobody),
        cmocka_unit_test(test_semaphore_process_scope_rejects_bad_sharing_and_accepts_v1),
    };
    return cmocka_run_group_tests_name("semaphore", tests, NULL, NULL);
}
