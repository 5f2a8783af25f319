/* RWLock: shared readers, exclusive writers, writer preference, timeouts,
 * waking blocked threads, release errors, bad input. */
#include <pthread.h>
#include <string.h>

#include "weft_test.h"

enum { READ = 0, WRITE = 1 };

/* One acquire on a thread: records status and time; holds for hold_ms. */
struct acquirer {
    pthread_t thread;
    weft_rwlock *lock;
    int mode;
    int64_t timeout_ns;
    int hold_ms;
    weft_status status;   /* of the acquire */
    weft_status released; /* of the release */
    double waited_ms;
    int64_t acquired_at;  /* monotonic ns, right after the acquire */
    int64_t releasing_at; /* monotonic ns, right before the release */
};

static void *acquire_once(void *arg) {
    struct acquirer *a = arg;
    int64_t t0 = weft_monotonic_ns();
    weft_status s = a->mode == READ ? weft_rwlock_read_acquire(a->lock, a->timeout_ns)
                                    : weft_rwlock_write_acquire(a->lock, a->timeout_ns);
    a->acquired_at = weft_monotonic_ns();
    a->waited_ms = wt_ms_since(t0);
    __atomic_store_n(&a->status, s, __ATOMIC_SEQ_CST);
    if (s == WEFT_OK) {
        if (a->hold_ms) wt_sleep_ms(a->hold_ms);
        a->releasing_at = weft_monotonic_ns();
        a->released = a->mode == READ ? weft_rwlock_read_release(a->lock) : weft_rwlock_write_release(a->lock);
    }
    return NULL;
}

static void start_acquirer(struct acquirer *a, weft_rwlock *l, int mode, int64_t timeout_ns, int hold_ms) {
    memset(a, 0, sizeof *a);
    a->lock = l;
    a->mode = mode;
    a->timeout_ns = timeout_ns;
    a->hold_ms = hold_ms;
    a->status = 12345;
    assert_int_equal(pthread_create(&a->thread, NULL, acquire_once, a), 0);
}

/* Wait (finitely) until a writer is waiting: new readers are refused. */
static void await_waiting_writer(weft_rwlock *l) {
    int refused = 0;
    for (int i = 0; i < 5000 && !refused; i++) {
        weft_status s = weft_rwlock_read_acquire(l, 0);
        if (s == WEFT_OK) {
            weft_rwlock_read_release(l);
            wt_sleep_ms(1);
        } else {
            refused = 1;
        }
    }
    assert_true(refused);
}

static void test_rwlock_polls_readers_and_writers(void **state) {
    weft_rwlock *l;
    (void)state;
    WT_OK(weft_rwlock_create(&l, NULL));
    WT_OK(weft_rwlock_read_acquire(l, 0));
    WT_OK(weft_rwlock_read_acquire(l, 0)); /* two readers at once */
    WT_EXPECT(WEFT_ETIMEDOUT, weft_rwlock_write_acquire(l, 0));
    WT_OK(weft_rwlock_read_release(l));
    WT_EXPECT(WEFT_ETIMEDOUT, weft_rwlock_write_acquire(l, 0));
    WT_OK(weft_rwlock_read_release(l));
    WT_OK(weft_rwlock_write_acquire(l, 0));
    WT_EXPECT(WEFT_ETIMEDOUT, weft_rwlock_read_acquire(l, 0));
    WT_EXPECT(WEFT_ETIMEDOUT, weft_rwlock_write_acquire(l, 0));
    WT_OK(weft_rwlock_write_release(l));
    WT_OK(weft_rwlock_read_acquire(l, WEFT_FOREVER));
    WT_OK(weft_rwlock_read_release(l));
    weft_rwlock_destroy(l);
}

struct together {
    weft_rwlock *lock;
    int inside;
    int max_inside;
    int errors;
};

static void *read_together(void *arg) {
    struct together *t = arg;
    if (weft_rwlock_read_acquire(t->lock, 5 * WEFT_SEC) != WEFT_OK) {
        __atomic_add_fetch(&t->errors, 1, __ATOMIC_SEQ_CST);
        return NULL;
    }
    int now = __atomic_add_fetch(&t->inside, 1, __ATOMIC_SEQ_CST);
    /* Stay until all four are inside at once (or give up after 5 s). */
    for (int i = 0; i < 5000 && __atomic_load_n(&t->inside, __ATOMIC_SEQ_CST) < 4; i++) wt_sleep_ms(1);
    now = __atomic_load_n(&t->inside, __ATOMIC_SEQ_CST);
    if (now > __atomic_load_n(&t->max_inside, __ATOMIC_SEQ_CST)) __atomic_store_n(&t->max_inside, now, __ATOMIC_SEQ_CST);
    if (weft_rwlock_read_release(t->lock) != WEFT_OK) __atomic_add_fetch(&t->errors, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void test_rwlock_many_readers_hold_it_together(void **state) {
    struct together t = {NULL, 0, 0, 0};
    pthread_t th[4];
    (void)state;
    WT_OK(weft_rwlock_create(&t.lock, NULL));
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&th[i], NULL, read_together, &t), 0);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    assert_int_equal(t.errors, 0);
    assert_int_equal(t.max_inside, 4);
    WT_OK(weft_rwlock_write_acquire(t.lock, 0)); /* all released */
    WT_OK(weft_rwlock_write_release(t.lock));
    weft_rwlock_destroy(t.lock);
}

enum { PAIR_WRITES = 20000 };
struct pair {
    weft_rwlock *lock;
    long a, b;       /* writers keep a == b; plain fields, guarded by the lock */
    int stop;
    int torn;        /* readers that saw a != b */
    int errors;
    long reads;
};

static void *write_pairs(void *arg) {
    struct pair *p = arg;
    for (int i = 0; i < PAIR_WRITES; i++) {
        if (weft_rwlock_write_acquire(p->lock, 10 * WEFT_SEC) != WEFT_OK) {
            __atomic_add_fetch(&p->errors, 1, __ATOMIC_SEQ_CST);
            continue;
        }
        p->a++;
        p->b++;
        weft_rwlock_write_release(p->lock);
        /* Writers are preferred: two busy writers would keep readers out. */
        if (i % 500 == 0) weft_sleep_ns(200 * WEFT_USEC);
    }
    return NULL;
}

static void *read_pairs(void *arg) {
    struct pair *p = arg;
    while (!__atomic_load_n(&p->stop, __ATOMIC_SEQ_CST)) {
        if (weft_rwlock_read_acquire(p->lock, 10 * WEFT_SEC) != WEFT_OK) {
            __atomic_add_fetch(&p->errors, 1, __ATOMIC_SEQ_CST);
            continue;
        }
        if (p->a != p->b) __atomic_add_fetch(&p->torn, 1, __ATOMIC_SEQ_CST);
        weft_rwlock_read_release(p->lock);
        __atomic_add_fetch(&p->reads, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_rwlock_writer_is_exclusive(void **state) {
    struct pair p;
    pthread_t w[2], r[2];
    (void)state;
    memset(&p, 0, sizeof p);
    WT_OK(weft_rwlock_create(&p.lock, NULL));
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&r[i], NULL, read_pairs, &p), 0);
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&w[i], NULL, write_pairs, &p), 0);
    for (int i = 0; i < 2; i++) pthread_join(w[i], NULL);
    for (int i = 0; i < 5000 && __atomic_load_n(&p.reads, __ATOMIC_RELAXED) == 0; i++) wt_sleep_ms(1);
    __atomic_store_n(&p.stop, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < 2; i++) pthread_join(r[i], NULL);
    assert_int_equal(p.errors, 0);
    assert_int_equal(p.torn, 0);
    assert_int_equal(p.a, 2L * PAIR_WRITES);
    assert_int_equal(p.b, 2L * PAIR_WRITES);
    assert_true(p.reads > 0);
    weft_rwlock_destroy(p.lock);
}

static void test_rwlock_acquires_time_out(void **state) {
    weft_rwlock *l;
    (void)state;
    WT_OK(weft_rwlock_create(&l, NULL));
    WT_OK(weft_rwlock_read_acquire(l, 0));
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_rwlock_write_acquire(l, 50 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 50);
    /* The timed-out writer left nothing behind: readers still get in. */
    WT_OK(weft_rwlock_read_acquire(l, 0));
    WT_OK(weft_rwlock_read_release(l));
    WT_OK(weft_rwlock_read_release(l));

    WT_OK(weft_rwlock_write_acquire(l, 0));
    t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_rwlock_read_acquire(l, 50 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 50);
    t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_rwlock_write_acquire(l, 30 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 30);
    WT_OK(weft_rwlock_write_release(l));
    weft_rwlock_destroy(l);
}

static void test_rwlock_write_release_wakes_blocked_readers(void **state) {
    weft_rwlock *l;
    struct acquirer r[3];
    (void)state;
    WT_OK(weft_rwlock_create(&l, NULL));
    WT_OK(weft_rwlock_write_acquire(l, 0));
    for (int i = 0; i < 3; i++) start_acquirer(&r[i], l, READ, 5 * WEFT_SEC, 0);
    wt_sleep_ms(40);
    for (int i = 0; i < 3; i++) assert_int_equal(__atomic_load_n(&r[i].status, __ATOMIC_SEQ_CST), 12345);
    int64_t releasing_at = weft_monotonic_ns();
    WT_OK(weft_rwlock_write_release(l));
    for (int i = 0; i < 3; i++) pthread_join(r[i].thread, NULL);
    for (int i = 0; i < 3; i++) {
        WT_OK(r[i].status);
        WT_OK(r[i].released);
        assert_true(r[i].acquired_at >= releasing_at); /* only after the writer left */
        assert_true(r[i].waited_ms < 4000);
    }
    weft_rwlock_destroy(l);
}

static void test_rwlock_last_read_release_wakes_a_blocked_writer(void **state) {
    weft_rwlock *l;
    struct acquirer w;
    (void)state;
    WT_OK(weft_rwlock_create(&l, NULL));
    WT_OK(weft_rwlock_read_acquire(l, 0));
    WT_OK(weft_rwlock_read_acquire(l, 0));
    start_acquirer(&w, l, WRITE, 5 * WEFT_SEC, 0);
    await_waiting_writer(l);
    WT_OK(weft_rwlock_read_release(l));
    wt_sleep_ms(20);
    assert_int_equal(__atomic_load_n(&w.status, __ATOMIC_SEQ_CST), 12345); /* one reader left */
    WT_OK(weft_rwlock_read_release(l));
    pthread_join(w.thread, NULL);
    WT_OK(w.status);
    WT_OK(w.released);
    weft_rwlock_destroy(l);
}

static void test_rwlock_waiting_writer_goes_before_new_readers(void **state) {
    weft_rwlock *l;
    struct acquirer w, r;
    (void)state;
    WT_OK(weft_rwlock_create(&l, NULL));
    WT_OK(weft_rwlock_read_acquire(l, 0));
    start_acquirer(&w, l, WRITE, 5 * WEFT_SEC, 50);
    await_waiting_writer(l);
    /* A new reader waits behind the writer although only readers hold the lock. */
    WT_EXPECT(WEFT_ETIMEDOUT, weft_rwlock_read_acquire(l, 20 * WEFT_MSEC));
    start_acquirer(&r, l, READ, 5 * WEFT_SEC, 0);
    wt_sleep_ms(20);
    assert_int_equal(__atomic_load_n(&r.status, __ATOMIC_SEQ_CST), 12345);
    WT_OK(weft_rwlock_read_release(l)); /* writer goes, holds 50 ms, then the reader */
    pthread_join(w.thread, NULL);
    pthread_join(r.thread, NULL);
    WT_OK(w.status);
    WT_OK(w.released);
    WT_OK(r.status);
    assert_true(r.acquired_at >= w.releasing_at); /* it waited for the writer's turn */
    weft_rwlock_destroy(l);
}

static void test_rwlock_timed_out_writer_lets_held_back_readers_in(void **state) {
    weft_rwlock *l;
    struct acquirer w, r;
    (void)state;
    WT_OK(weft_rwlock_create(&l, NULL));
    WT_OK(weft_rwlock_read_acquire(l, 0));
    start_acquirer(&w, l, WRITE, 150 * WEFT_MSEC, 0);
    await_waiting_writer(l);
    start_acquirer(&r, l, READ, 5 * WEFT_SEC, 0); /* held back by the writer */
    pthread_join(w.thread, NULL);
    WT_EXPECT(WEFT_ETIMEDOUT, w.status);
    pthread_join(r.thread, NULL);
    WT_OK(r.status); /* got in once the writer gave up, long before its 5 s */
    assert_true(r.waited_ms < 2500);
    WT_OK(r.released);
    WT_OK(weft_rwlock_read_release(l));
    WT_OK(weft_rwlock_write_acquire(l, 0));
    WT_OK(weft_rwlock_write_release(l));
    weft_rwlock_destroy(l);
}

struct stream {
    weft_rwlock *lock;
    int stop;
    int errors;
    long reads;
};

static void *read_stream(void *arg) {
    struct stream *s = arg;
    while (!__atomic_load_n(&s->stop, __ATOMIC_SEQ_CST)) {
        if (weft_rwlock_read_acquire(s->lock, 10 * WEFT_SEC) != WEFT_OK) {
            __atomic_add_fetch(&s->errors, 1, __ATOMIC_SEQ_CST);
            continue;
        }
        weft_sleep_ns(200 * WEFT_USEC); /* readers overlap: the lock is never free */
        weft_rwlock_read_release(s->lock);
        __atomic_add_fetch(&s->reads, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_rwlock_stream_of_readers_does_not_starve_a_writer(void **state) {
    struct stream s = {NULL, 0, 0, 0};
    pthread_t r[3];
    int wrote = 0;
    (void)state;
    WT_OK(weft_rwlock_create(&s.lock, NULL));
    for (int i = 0; i < 3; i++) assert_int_equal(pthread_create(&r[i], NULL, read_stream, &s), 0);
    wt_sleep_ms(20);
    for (int i = 0; i < 20; i++) {
        if (weft_rwlock_write_acquire(s.lock, 2 * WEFT_SEC) == WEFT_OK) {
            wrote++;
            weft_rwlock_write_release(s.lock);
        }
        wt_sleep_ms(1);
    }
    __atomic_store_n(&s.stop, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < 3; i++) pthread_join(r[i], NULL);
    assert_int_equal(wrote, 20);
    assert_int_equal(s.errors, 0);
    assert_true(s.reads > 0);
    weft_rwlock_destroy(s.lock);
}

struct mixed {
    weft_rwlock *lock;
    int errors;
    long ok, timeouts;
    unsigned seed;
};

static void *mixed_short_timeouts(void *arg) {
    struct mixed *m = arg;
    unsigned seed = __atomic_add_fetch(&m->seed, 7919, __ATOMIC_SEQ_CST);
    for (int i = 0; i < 3000; i++) {
        seed = seed * 1103515245u + 12345u;
        int write = (seed >> 16) % 4 == 0;
        int64_t timeout = (int64_t)((seed >> 8) % 3) * 30 * WEFT_USEC;
        weft_status s = write ? weft_rwlock_write_acquire(m->lock, timeout)
                              : weft_rwlock_read_acquire(m->lock, timeout);
        if (s == WEFT_OK) {
            __atomic_add_fetch(&m->ok, 1, __ATOMIC_RELAXED);
            s = write ? weft_rwlock_write_release(m->lock) : weft_rwlock_read_release(m->lock);
            if (s != WEFT_OK) __atomic_add_fetch(&m->errors, 1, __ATOMIC_RELAXED);
        } else if (s == WEFT_ETIMEDOUT) {
            __atomic_add_fetch(&m->timeouts, 1, __ATOMIC_RELAXED);
        } else {
            __atomic_add_fetch(&m->errors, 1, __ATOMIC_RELAXED);
        }
    }
    return NULL;
}

static void test_rwlock_stays_consistent_when_waiters_time_out(void **state) {
    struct mixed m = {NULL, 0, 0, 0, 1};
    pthread_t t[4];
    (void)state;
    WT_OK(weft_rwlock_create(&m.lock, NULL));
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&t[i], NULL, mixed_short_timeouts, &m), 0);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    assert_int_equal(m.errors, 0);
    assert_int_equal(m.ok + m.timeouts, 4 * 3000);
    /* Nothing is left held or flagged: both kinds get in at once. */
    WT_OK(weft_rwlock_read_acquire(m.lock, 0));
    WT_OK(weft_rwlock_read_release(m.lock));
    WT_OK(weft_rwlock_write_acquire(m.lock, 0));
    WT_OK(weft_rwlock_write_release(m.lock));
    weft_rwlock_destroy(m.lock);
}

static void test_rwlock_release_without_a_hold_is_estate(void **state) {
    weft_rwlock *l;
    (void)state;
    WT_OK(weft_rwlock_create(&l, NULL));
    WT_EXPECT(WEFT_ESTATE, weft_rwlock_read_release(l));
    assert_non_null(strstr(weft_last_error()->message, "no reader"));
    WT_EXPECT(WEFT_ESTATE, weft_rwlock_write_release(l));
    assert_non_null(strstr(weft_last_error()->message, "not write-locked"));
    WT_OK(weft_rwlock_read_acquire(l, 0));
    WT_EXPECT(WEFT_ESTATE, weft_rwlock_write_release(l));
    WT_OK(weft_rwlock_read_release(l));
    WT_EXPECT(WEFT_ESTATE, weft_rwlock_read_release(l)); /* one acquire, one release */
    WT_OK(weft_rwlock_write_acquire(l, 0));
    WT_EXPECT(WEFT_ESTATE, weft_rwlock_read_release(l));
    WT_OK(weft_rwlock_write_release(l));
    WT_EXPECT(WEFT_ESTATE, weft_rwlock_write_release(l));
    weft_rwlock_destroy(l);
}

static void test_rwlock_rejects_bad_input(void **state) {
    weft_rwlock *l;
    weft_lock *lock;
    weft_rwlock_options bad = WEFT_RWLOCK_OPTIONS_INIT;
    (void)state;
    WT_EXPECT(WEFT_EINVAL, weft_rwlock_create(NULL, NULL));
    bad.version = 99;
    WT_EXPECT(WEFT_EINVAL, weft_rwlock_create(&l, &bad));
    assert_null(l);
    bad.version = WEFT_RWLOCK_OPTIONS_VERSION;
    bad.flags = 1;
    WT_EXPECT(WEFT_EINVAL, weft_rwlock_create(&l, &bad));

    WT_EXPECT(WEFT_EMISUSE, weft_rwlock_read_acquire(NULL, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_rwlock_read_release(NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_rwlock_write_acquire(NULL, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_rwlock_write_release(NULL));
    weft_rwlock_destroy(NULL);

    WT_OK(weft_lock_create(&lock, NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_rwlock_write_acquire((weft_rwlock *)lock, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_rwlock_read_acquire((weft_rwlock *)lock, 0));
    weft_rwlock_destroy((weft_rwlock *)lock); /* ignored */
    WT_OK(weft_lock_acquire(lock, 0));
    WT_OK(weft_lock_release(lock));
    weft_lock_destroy(lock);

    WT_OK(weft_rwlock_create(&l, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_rwlock_read_acquire(l, -2));
    WT_EXPECT(WEFT_EINVAL, weft_rwlock_write_acquire(l, INT64_MIN));
    WT_OK(weft_rwlock_write_acquire(l, INT64_MAX)); /* huge timeout: no overflow */
    WT_OK(weft_rwlock_write_release(l));
    weft_rwlock_destroy(l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rwlock_polls_readers_and_writers),
        cmocka_unit_test(test_rwlock_many_readers_hold_it_together),
        cmocka_unit_test(test_rwlock_writer_is_exclusive),
        cmocka_unit_test(test_rwlock_acquires_time_out),
        cmocka_unit_test(test_rwlock_write_release_wakes_blocked_readers),
        cmocka_unit_test(test_rwlock_last_read_release_wakes_a_blocked_writer),
        cmocka_unit_test(test_rwlock_waiting_writer_goes_before_new_readers),
        cmocka_unit_test(test_rwlock_timed_out_writer_lets_held_back_readers_in),
        cmocka_unit_test(test_rwlock_stream_of_readers_does_not_starve_a_writer),
        cmocka_unit_test(test_rwlock_stays_consistent_when_waiters_time_out),
        cmocka_unit_test(test_rwlock_release_without_a_hold_is_estate),
        cmocka_unit_test(test_rwlock_rejects_bad_input),
    };
    return cmocka_run_group_tests_name("rwlock", tests, NULL, NULL);
}
