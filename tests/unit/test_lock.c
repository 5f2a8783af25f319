/* Lock: mutual exclusion, timed acquire, release by any thread, bad input;
 * process scope: forked children, names, lifetimes, owner death. */
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "weft_test.h"
#include "weft_fork.h"

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

/* 3 threads x 2000 acquires with short timeouts: every one either gets the
 * lock or times out, and no waiter leaves it wedged: it is free after. */
static void timed_waiters_leave_it_free(weft_lock *lock) {
    struct timed t = {lock, 0, 0, 0};
    pthread_t th[3];
    for (int i = 0; i < 3; i++) assert_int_equal(pthread_create(&th[i], NULL, acquire_with_short_timeouts, &t), 0);
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    assert_int_equal(t.errors, 0);
    assert_int_equal(t.acquired + t.timeouts, 3 * 2000);
    assert_int_equal(weft_lock_locked(lock), 0);
    WT_OK(weft_lock_acquire(lock, 0));
    WT_OK(weft_lock_release(lock));
}

static void test_lock_stays_consistent_when_waiters_time_out(void **state) {
    weft_lock *lock;
    (void)state;
    WT_OK(weft_lock_create(&lock, NULL));
    timed_waiters_leave_it_free(lock);
    weft_lock_destroy(lock);
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

/* ---- process scope ------------------------------------------------------ */

static weft_status make_plock(weft_lock **out, const char *name, uint32_t lifetime, uint32_t flags) {
    weft_lock_options o = WEFT_LOCK_OPTIONS_INIT;
    o.share.scope = WEFT_SCOPE_PROCESS;
    o.share.name = name;
    o.share.lifetime = lifetime;
    o.share.flags = flags;
    return weft_lock_create(out, &o);
}

enum { CHILD_ROUNDS = 3000 };
struct pcount {
    weft_lock *lock;
    volatile long *counter;
    const char *name; /* when set, the child opens the lock by name */
};

static int add_under_lock_child(void *arg) {
    struct pcount *c = arg;
    weft_lock *lock = c->lock;
    if (c->name && weft_lock_open(&lock, c->name) != WEFT_OK) return 10;
    for (int i = 0; i < CHILD_ROUNDS; i++) {
        if (weft_lock_acquire(lock, 10 * WEFT_SEC) != WEFT_OK) return 11;
        long v = *c->counter;
        if (i % 100 == 0) sched_yield(); /* widen the race window */
        *c->counter = v + 1;
        if (weft_lock_release(lock) != WEFT_OK) return 12;
    }
    if (c->name) weft_lock_destroy(lock);
    return 0;
}

static void test_lock_process_scope_counts_exactly_across_forked_children(void **state) {
    struct pcount c;
    pid_t kids[2];
    (void)state;
    WT_SKIP_UNDER_TSAN();
    c.counter = wt_shared_page();
    c.name = NULL;
    assert_non_null((void *)c.counter);
    WT_OK(make_plock(&c.lock, NULL, WEFT_LIFETIME_OWNED, 0));
    for (int i = 0; i < 2; i++) kids[i] = wt_fork(add_under_lock_child, &c);
    assert_int_equal(add_under_lock_child(&c), 0);
    for (int i = 0; i < 2; i++) WT_CHILD_OK(kids[i]);
    assert_int_equal(*c.counter, 3L * CHILD_ROUNDS);
    assert_int_equal(weft_lock_locked(c.lock), 0);
    weft_lock_destroy(c.lock);
    munmap((void *)c.counter, 4096);
}

static int poll_then_wait_child(void *arg) {
    weft_lock *lock = arg;
    if (weft_lock_locked(lock) != 1) return 20;
    if (weft_lock_acquire(lock, 0) != WEFT_ETIMEDOUT) return 21;
    int64_t t0 = weft_monotonic_ns();
    if (weft_lock_acquire(lock, 50 * WEFT_MSEC) != WEFT_ETIMEDOUT) return 22;
    if (weft_monotonic_ns() - t0 < 30 * WEFT_MSEC) return 23;
    if (weft_lock_release(lock) != WEFT_EPERM) return 24; /* the parent's thread holds it */
    return 0;
}

static void test_lock_process_scope_times_out_in_another_process(void **state) {
    weft_lock *lock;
    (void)state;
    WT_SKIP_UNDER_TSAN();
    WT_OK(make_plock(&lock, NULL, WEFT_LIFETIME_OWNED, 0));
    WT_OK(weft_lock_acquire(lock, 0));
    WT_CHILD_OK(wt_fork(poll_then_wait_child, lock));
    WT_OK(weft_lock_release(lock));
    weft_lock_destroy(lock);
}

static void *release_from_other_thread(void *arg) { return (void *)(intptr_t)weft_lock_release(arg); }

static void test_lock_process_scope_is_owned_by_the_acquiring_thread(void **state) {
    weft_lock *lock;
    pthread_t t;
    void *rc;
    (void)state;
    WT_OK(make_plock(&lock, NULL, WEFT_LIFETIME_OWNED, 0));
    WT_EXPECT(WEFT_ESTATE, weft_lock_release(lock)); /* not held */
    WT_EXPECT(WEFT_ESTATE, weft_lock_mark_consistent(lock));
    WT_OK(weft_lock_acquire(lock, WEFT_FOREVER));
    assert_int_equal(weft_lock_locked(lock), 1);
    WT_EXPECT(WEFT_EDEADLK, weft_lock_acquire(lock, 10 * WEFT_MSEC));
    WT_EXPECT(WEFT_ESTATE, weft_lock_mark_consistent(lock)); /* held, but nobody died */
    assert_int_equal(pthread_create(&t, NULL, release_from_other_thread, lock), 0);
    assert_int_equal(pthread_join(t, &rc), 0);
    assert_int_equal((int)(intptr_t)rc, WEFT_EPERM);
    WT_OK(weft_lock_release(lock));
    assert_int_equal(weft_lock_locked(lock), 0);
    weft_lock_destroy(lock);
}

static void test_lock_thread_scope_is_never_owner_dead(void **state) {
    weft_lock *lock;
    (void)state;
    WT_OK(weft_lock_create(&lock, NULL));
    WT_EXPECT(WEFT_ESTATE, weft_lock_mark_consistent(lock));
    WT_OK(weft_lock_acquire(lock, 0));
    WT_EXPECT(WEFT_ESTATE, weft_lock_mark_consistent(lock));
    WT_OK(weft_lock_release(lock));
    weft_lock_destroy(lock);
    WT_EXPECT(WEFT_EMISUSE, weft_lock_mark_consistent(NULL));
}

static int open_and_hold_briefly_child(void *arg) {
    weft_lock *lock;
    if (weft_lock_open(&lock, arg) != WEFT_OK) return 30;
    if (weft_lock_acquire(lock, 0) != WEFT_ETIMEDOUT) return 31; /* the parent holds it */
    weft_lock_destroy(lock);
    return 0;
}

static void test_lock_named_is_opened_by_name_in_both_processes(void **state) {
    char name[64];
    weft_lock *a, *b, *c;
    weft_semaphore *s;
    weft_semaphore_options so = WEFT_SEMAPHORE_OPTIONS_INIT;
    (void)state;
    WT_SKIP_UNDER_TSAN();
    wt_name(name, sizeof name, "lock-named");
    WT_EXPECT(WEFT_ENOENT, weft_lock_open(&b, name));
    assert_null(b);
    WT_OK(make_plock(&a, name, WEFT_LIFETIME_OWNED, 0));
    WT_EXPECT(WEFT_EEXIST, make_plock(&c, name, WEFT_LIFETIME_OWNED, 0));
    assert_null(c);
    WT_OK(weft_lock_open(&b, name));
    WT_OK(make_plock(&c, name, WEFT_LIFETIME_OWNED, WEFT_SHARE_OPEN_EXISTING));
    WT_OK(weft_lock_acquire(a, 0));
    WT_EXPECT(WEFT_EDEADLK, weft_lock_acquire(b, 0)); /* the same lock, held by this thread */
    assert_int_equal(weft_lock_locked(c), 1);
    WT_CHILD_OK(wt_fork(open_and_hold_briefly_child, name));
    WT_OK(weft_lock_release(b)); /* any handle of the holding thread releases it */
    assert_int_equal(weft_lock_locked(a), 0);

    /* Wrong kind: a semaphore's name is not a lock. */
    char sname[64];
    wt_name(sname, sizeof sname, "lock-named-sem");
    so.share.scope = WEFT_SCOPE_PROCESS;
    so.share.name = sname;
    WT_OK(weft_semaphore_create(&s, 1, &so));
    weft_lock_destroy(c);
    WT_EXPECT(WEFT_EINVAL, weft_lock_open(&c, sname));
    assert_non_null(strstr(weft_last_error()->message, "semaphore"));
    WT_EXPECT(WEFT_EINVAL, make_plock(&c, sname, WEFT_LIFETIME_OWNED, WEFT_SHARE_OPEN_EXISTING));
    weft_semaphore_destroy(s);

    weft_lock_destroy(b);
    weft_lock_destroy(a); /* owned: the creator's destroy removes the name */
    WT_EXPECT(WEFT_ENOENT, weft_lock_open(&b, name));
    assert_int_equal(weft_lock_locked(NULL), WEFT_EMISUSE);
    WT_EXPECT(WEFT_EINVAL, weft_lock_open(NULL, name));
    WT_EXPECT(WEFT_EINVAL, weft_lock_open(&b, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_lock_open(&b, "bad/name"));
    assert_int_equal(wt_shm_leftovers(), 0);
}

static void test_lock_named_lifetimes_decide_when_the_name_goes(void **state) {
    char name[64];
    weft_lock *a, *b;
    (void)state;
    wt_name(name, sizeof name, "lock-life");
    /* Reference counted: the last close removes it. */
    WT_OK(make_plock(&a, name, WEFT_LIFETIME_REFCOUNTED, 0));
    WT_OK(weft_lock_open(&b, name));
    weft_lock_destroy(a);
    weft_lock_destroy(b);
    WT_EXPECT(WEFT_ENOENT, weft_lock_open(&b, name));
    /* Persistent: stays until weft_shm_unlink(). */
    WT_OK(make_plock(&a, name, WEFT_LIFETIME_PERSISTENT, 0));
    weft_lock_destroy(a);
    WT_OK(weft_lock_open(&b, name));
    weft_lock_destroy(b);
    WT_OK(weft_shm_unlink(name));
    WT_EXPECT(WEFT_ENOENT, weft_lock_open(&b, name));
    assert_int_equal(wt_shm_leftovers(), 0);
}

static void test_lock_destroying_a_held_handle_releases_it(void **state) {
    char name[64];
    weft_lock *a, *b;
    (void)state;
    wt_name(name, sizeof name, "lock-destroy-held");
    WT_OK(make_plock(&a, name, WEFT_LIFETIME_OWNED, 0));
    WT_OK(weft_lock_open(&b, name));
    WT_OK(weft_lock_acquire(b, 0));
    weft_lock_destroy(b);
    WT_OK(weft_lock_acquire(a, 0));
    WT_OK(weft_lock_release(a));
    weft_lock_destroy(a);
    assert_int_equal(wt_shm_leftovers(), 0);
}

struct race {
    const char *name;
    uint32_t flags;
    volatile long *counter;
};

static int race_to_create_child(void *arg) {
    struct race *r = arg;
    weft_lock *lock;
    weft_status st = make_plock(&lock, r->name, WEFT_LIFETIME_PERSISTENT, r->flags);
    if (st == WEFT_EEXIST) return 1;
    if (st != WEFT_OK) return 40;
    for (int i = 0; i < CHILD_ROUNDS; i++) {
        if (weft_lock_acquire(lock, 10 * WEFT_SEC) != WEFT_OK) return 41;
        long v = *r->counter;
        if (i % 100 == 0) sched_yield();
        *r->counter = v + 1;
        weft_lock_release(lock);
    }
    weft_lock_destroy(lock);
    return 0;
}

static void test_lock_two_processes_racing_to_create_one_name_get_one_lock(void **state) {
    char name[64];
    struct race r;
    pid_t k[2];
    int rc[2];
    (void)state;
    WT_SKIP_UNDER_TSAN();
    wt_name(name, sizeof name, "lock-race");
    r.name = name;
    r.counter = wt_shared_page();
    assert_non_null((void *)r.counter);
    /* Exclusive: one wins, the other gets WEFT_EEXIST. */
    for (int round = 0; round < 5; round++) {
        r.flags = 0;
        *r.counter = 0;
        for (int i = 0; i < 2; i++) k[i] = wt_fork(race_to_create_child, &r);
        for (int i = 0; i < 2; i++) rc[i] = wt_reap(k[i], 10000);
        assert_int_equal(rc[0] + rc[1], 1); /* one 0 (created), one 1 (EEXIST) */
        assert_int_equal(*r.counter, CHILD_ROUNDS);
        WT_OK(weft_shm_unlink(name));
    }
    /* With OPEN_EXISTING both end up on the same lock: the count is exact. */
    for (int round = 0; round < 5; round++) {
        r.flags = WEFT_SHARE_OPEN_EXISTING;
        *r.counter = 0;
        for (int i = 0; i < 2; i++) k[i] = wt_fork(race_to_create_child, &r);
        for (int i = 0; i < 2; i++) WT_CHILD_OK(k[i]);
        assert_int_equal(*r.counter, 2L * CHILD_ROUNDS);
        WT_OK(weft_shm_unlink(name));
    }
    munmap((void *)r.counter, 4096);
    assert_int_equal(wt_shm_leftovers(), 0);
}

static void test_lock_process_scope_rejects_bad_sharing(void **state) {
    weft_lock *lock = (weft_lock *)1;
    weft_lock_options o = WEFT_LOCK_OPTIONS_INIT;
    (void)state;
    o.share.scope = 7;
    WT_EXPECT(WEFT_EINVAL, weft_lock_create(&lock, &o));
    assert_null(lock);
    o.share.scope = WEFT_SCOPE_PROCESS;
    o.share.lifetime = 9;
    WT_EXPECT(WEFT_EINVAL, weft_lock_create(&lock, &o));
    o.share.lifetime = WEFT_LIFETIME_OWNED;
    o.share.flags = 0x10;
    WT_EXPECT(WEFT_EINVAL, weft_lock_create(&lock, &o));
    o.share.flags = 0;
    o.share.mode = 01000;
    WT_EXPECT(WEFT_EINVAL, weft_lock_create(&lock, &o));
    o.share.mode = 0;
    o.share.name = "a/b";
    WT_EXPECT(WEFT_EINVAL, weft_lock_create(&lock, &o));
    o.share.name = "";
    WT_EXPECT(WEFT_EINVAL, weft_lock_create(&lock, &o));
    o.share.scope = WEFT_SCOPE_THREAD;
    o.share.name = "weft-test-thread-scope-with-a-name";
    WT_EXPECT(WEFT_EINVAL, weft_lock_create(&lock, &o));
    /* Version 1 has no `share`: whatever follows is never read. */
    o.version = 1;
    o.share.scope = 7;
    WT_OK(weft_lock_create(&lock, &o));
    WT_OK(weft_lock_acquire(lock, 0));
    WT_OK(weft_lock_release(lock));
    weft_lock_destroy(lock);
    o.version = 3;
    WT_EXPECT(WEFT_EINVAL, weft_lock_create(&lock, &o));
}

/* ---- owner death -------------------------------------------------------- */

struct holder {
    weft_lock *lock;
    int fd; /* write end: "I hold it" */
};

static int hold_forever_child(void *arg) {
    struct holder *h = arg;
    if (weft_lock_acquire(h->lock, 5 * WEFT_SEC) != WEFT_OK) return 50;
    wt_signal_parent(h->fd);
    for (;;) pause(); /* SIGKILLed here */
}

/* Fork a child that takes the lock and holds it; returns once it holds it. */
static pid_t start_holder(weft_lock *lock) {
    int p[2];
    struct holder h;
    if (pipe(p) != 0) return -1;
    h.lock = lock;
    h.fd = p[1];
    pid_t pid = wt_fork(hold_forever_child, &h);
    int ok = wt_wait_child_signal(p[0], 5000);
    close(p[0]);
    close(p[1]);
    if (ok != 0) {
        wt_kill(pid);
        return -1;
    }
    return pid;
}

static void test_lock_holder_killed_gives_the_next_acquirer_owner_dead(void **state) {
    weft_lock *lock;
    volatile long *shared;
    (void)state;
    WT_SKIP_UNDER_TSAN();
    shared = wt_shared_page();
    assert_non_null((void *)shared);
    WT_OK(make_plock(&lock, NULL, WEFT_LIFETIME_OWNED, 0));
    pid_t pid = start_holder(lock);
    assert_true(pid > 0);
    assert_int_equal(weft_lock_locked(lock), 1);
    WT_EXPECT(WEFT_ETIMEDOUT, weft_lock_acquire(lock, 0));
    wt_kill(pid);
    WT_EXPECT(WEFT_EOWNERDEAD, weft_lock_acquire(lock, 5 * WEFT_SEC));
    assert_non_null(strstr(weft_last_error()->message, "died"));
    *shared = 42; /* the repair */
    WT_OK(weft_lock_mark_consistent(lock));
    WT_EXPECT(WEFT_ESTATE, weft_lock_mark_consistent(lock)); /* only once */
    WT_OK(weft_lock_release(lock));
    WT_OK(weft_lock_acquire(lock, 0)); /* works as before */
    WT_OK(weft_lock_release(lock));
    weft_lock_destroy(lock);
    munmap((void *)shared, 4096);
}

static int expect_not_recoverable_child(void *arg) {
    return weft_lock_acquire(arg, WEFT_SEC) == WEFT_ENOTRECOVERABLE ? 0 : 60;
}

static void test_lock_released_without_repair_is_not_recoverable(void **state) {
    weft_lock *lock;
    (void)state;
    WT_SKIP_UNDER_TSAN();
    WT_OK(make_plock(&lock, NULL, WEFT_LIFETIME_OWNED, 0));
    pid_t pid = start_holder(lock);
    assert_true(pid > 0);
    wt_kill(pid);
    WT_EXPECT(WEFT_EOWNERDEAD, weft_lock_acquire(lock, 0)); /* a poll takes it too */
    WT_OK(weft_lock_release(lock));                         /* no mark_consistent */
    WT_EXPECT(WEFT_ENOTRECOVERABLE, weft_lock_acquire(lock, 0));
    WT_EXPECT(WEFT_ENOTRECOVERABLE, weft_lock_acquire(lock, 50 * WEFT_MSEC));
    assert_non_null(strstr(weft_last_error()->message, "not recoverable"));
    WT_CHILD_OK(wt_fork(expect_not_recoverable_child, lock));
    weft_lock_destroy(lock);
}

static int blocked_acquirer_child(void *arg) {
    weft_lock *lock = arg;
    int64_t t0 = weft_monotonic_ns();
    weft_status st = weft_lock_acquire(lock, 5 * WEFT_SEC);
    if (st != WEFT_EOWNERDEAD) return 70;
    if (weft_monotonic_ns() - t0 > 3 * WEFT_SEC) return 71;
    if (weft_lock_mark_consistent(lock) != WEFT_OK) return 72;
    if (weft_lock_release(lock) != WEFT_OK) return 73;
    return 0;
}

static void test_lock_blocked_acquirer_in_another_process_wakes_with_owner_dead(void **state) {
    weft_lock *lock;
    (void)state;
    WT_SKIP_UNDER_TSAN();
    WT_OK(make_plock(&lock, NULL, WEFT_LIFETIME_OWNED, 0));
    pid_t holder = start_holder(lock);
    assert_true(holder > 0);
    pid_t waiter = wt_fork(blocked_acquirer_child, lock);
    wt_sleep_ms(100); /* let it block */
    wt_kill(holder);
    WT_CHILD_OK(waiter);
    WT_OK(weft_lock_acquire(lock, 0)); /* repaired by the waiter */
    WT_OK(weft_lock_release(lock));
    weft_lock_destroy(lock);
}

/* The inline acquire and release link and unlink process locks in the
 * thread's robust list themselves (glibc links the ones it takes on its slow
 * paths): after a mix of both, in every order, the kernel still finds every
 * lock a killed holder held, and only those. */
enum { MIXED_LOCKS = 5 };
struct mixed_holder {
    weft_lock *locks[MIXED_LOCKS];
    int fd;
};

static int hold_a_mix_child(void *arg) {
    struct mixed_holder *h = arg;
    weft_lock **l = h->locks;
    for (int i = 0; i < 3; i++)
        if (weft_lock_acquire(l[i], WEFT_FOREVER) != WEFT_OK) return 80 + i;
    if (weft_lock_release(l[1]) != WEFT_OK) return 83; /* from the middle of the list */
    if (weft_lock_acquire(l[3], 5 * WEFT_SEC) != WEFT_OK) return 84;
    if (weft_lock_acquire(l[4], WEFT_FOREVER) != WEFT_EOWNERDEAD) return 85; /* glibc's path links it */
    if (weft_lock_mark_consistent(l[4]) != WEFT_OK) return 86;
    if (weft_lock_release(l[0]) != WEFT_OK) return 87; /* the oldest: the tail of the list */
    if (weft_lock_release(l[0]) != WEFT_ESTATE) return 88;
    wt_signal_parent(h->fd);
    for (;;) pause(); /* SIGKILLed here, holding l[2], l[3] and l[4] */
}

static void test_lock_holder_killed_with_a_mix_of_locks_leaves_exactly_those_owner_dead(void **state) {
    struct mixed_holder h;
    int p[2];
    (void)state;
    WT_SKIP_UNDER_TSAN();
    for (int i = 0; i < MIXED_LOCKS; i++) WT_OK(make_plock(&h.locks[i], NULL, WEFT_LIFETIME_OWNED, 0));
    WT_OK(weft_lock_acquire(h.locks[0], 0)); /* the parent's thread has used the inline path */
    WT_OK(weft_lock_release(h.locks[0]));
    pid_t first = start_holder(h.locks[4]); /* l[4] starts owner-dead */
    assert_true(first > 0);
    wt_kill(first);
    assert_int_equal(pipe(p), 0);
    h.fd = p[1];
    pid_t pid = wt_fork(hold_a_mix_child, &h);
    int signalled = wt_wait_child_signal(p[0], 5000);
    close(p[0]);
    close(p[1]);
    if (signalled != 0) assert_int_equal(wt_reap(pid, 1000), 0); /* shows the child's code */
    const int held[MIXED_LOCKS] = {0, 0, 1, 1, 1};
    for (int i = 0; i < MIXED_LOCKS; i++) assert_int_equal(weft_lock_locked(h.locks[i]), held[i]);
    wt_kill(pid);
    for (int i = 0; i < MIXED_LOCKS; i++) {
        if (held[i]) {
            WT_EXPECT(WEFT_EOWNERDEAD, weft_lock_acquire(h.locks[i], 5 * WEFT_SEC));
            WT_OK(weft_lock_mark_consistent(h.locks[i]));
        } else {
            WT_OK(weft_lock_acquire(h.locks[i], 0));
        }
    }
    for (int i = MIXED_LOCKS - 1; i >= 0; i--) WT_OK(weft_lock_release(h.locks[i])); /* newest first */
    for (int i = 0; i < MIXED_LOCKS; i++) {
        assert_int_equal(weft_lock_locked(h.locks[i]), 0);
        weft_lock_destroy(h.locks[i]);
    }
}

static void *acquire_and_exit(void *arg) { return (void *)(intptr_t)weft_lock_acquire(arg, 0); }

/* A thread is a holder too: one that ends holding a process lock (its own
 * robust list, found on its first use) leaves it owner-dead. */
static void test_lock_thread_ending_while_holding_a_process_lock_leaves_it_owner_dead(void **state) {
    weft_lock *lock;
    pthread_t t;
    void *rc;
    (void)state;
    WT_SKIP_UNDER_TSAN(); /* TSan reports a thread that ends holding a mutex */
    WT_OK(make_plock(&lock, NULL, WEFT_LIFETIME_OWNED, 0));
    assert_int_equal(pthread_create(&t, NULL, acquire_and_exit, lock), 0);
    assert_int_equal(pthread_join(t, &rc), 0);
    assert_int_equal((int)(intptr_t)rc, WEFT_OK);
    WT_EXPECT(WEFT_EOWNERDEAD, weft_lock_acquire(lock, WEFT_SEC));
    WT_OK(weft_lock_mark_consistent(lock));
    WT_OK(weft_lock_release(lock));
    WT_OK(weft_lock_acquire(lock, WEFT_FOREVER));
    WT_OK(weft_lock_release(lock));
    weft_lock_destroy(lock);
}

/* Contended acquires that time out (glibc's timed wait) and that wait
 * forever (the short spin, then glibc's wait) mix with the inline paths on
 * one lock in three processes, and the count stays exact. */
static int add_with_short_timeouts_child(void *arg) {
    struct pcount *c = arg;
    long done = 0, timeouts = 0;
    while (done < CHILD_ROUNDS) {
        weft_status st = weft_lock_acquire(c->lock, (done % 2) ? WEFT_FOREVER : 20 * WEFT_USEC);
        if (st == WEFT_ETIMEDOUT) {
            if (++timeouts > 100L * CHILD_ROUNDS) return 13;
            continue;
        }
        if (st != WEFT_OK) return 11;
        long v = *c->counter;
        if (done % 64 == 0) sched_yield();
        *c->counter = v + 1;
        if (weft_lock_release(c->lock) != WEFT_OK) return 12;
        done++;
    }
    return 0;
}

static void test_lock_process_scope_timed_and_untimed_waiters_count_exactly(void **state) {
    struct pcount c;
    pid_t kids[2];
    (void)state;
    WT_SKIP_UNDER_TSAN();
    c.counter = wt_shared_page();
    c.name = NULL;
    assert_non_null((void *)c.counter);
    WT_OK(make_plock(&c.lock, NULL, WEFT_LIFETIME_OWNED, 0));
    for (int i = 0; i < 2; i++) kids[i] = wt_fork(add_with_short_timeouts_child, &c);
    assert_int_equal(add_with_short_timeouts_child(&c), 0);
    for (int i = 0; i < 2; i++) WT_CHILD_OK(kids[i]);
    assert_int_equal(*c.counter, 3L * CHILD_ROUNDS);
    assert_int_equal(weft_lock_locked(c.lock), 0);
    weft_lock_destroy(c.lock);
    munmap((void *)c.counter, 4096);
}

/* Threads of one process contend a process-scope lock through the same
 * robust wait as processes do, timed and untimed: exact, and free after. */
static void test_lock_process_scope_threads_count_exactly_with_timed_waiters(void **state) {
    struct counter c = {NULL, 0, 0};
    pthread_t th[WORKERS];
    (void)state;
    WT_OK(make_plock(&c.lock, NULL, WEFT_LIFETIME_OWNED, 0));
    for (int i = 0; i < WORKERS; i++) assert_int_equal(pthread_create(&th[i], NULL, add_many, &c), 0);
    for (int i = 0; i < WORKERS; i++) pthread_join(th[i], NULL);
    assert_int_equal(c.failures, 0);
    assert_int_equal(c.value, (long)WORKERS * ROUNDS);
    timed_waiters_leave_it_free(c.lock);
    weft_lock_destroy(c.lock);
}

/* No sleeper is ever left without a wake-up: several sleepers behind one
 * holder after a waiter timed out, after the holder was killed and after a
 * sleeping waiter was killed must each get the lock at once, in turn. (Any
 * scheme that lets a woken waiter take the lock without the kernel's
 * "waiters" bit, to spare its release a futile wake-up, must pass these.) */
struct sleeper {
    weft_lock *lock;
    volatile long *owner_dead; /* how many sleepers got WEFT_EOWNERDEAD */
    int hold_ms;               /* hold it this long, so the others sleep on */
};

static int sleep_then_take_child(void *arg) {
    struct sleeper *s = arg;
    int64_t t0 = weft_monotonic_ns();
    weft_status st = weft_lock_acquire(s->lock, 5 * WEFT_SEC);
    if (st == WEFT_EOWNERDEAD) {
        __atomic_fetch_add(s->owner_dead, 1, __ATOMIC_SEQ_CST);
        if (weft_lock_mark_consistent(s->lock) != WEFT_OK) return 91;
    } else if (st != WEFT_OK) {
        return 90; /* a lost wake-up ends as WEFT_ETIMEDOUT here */
    }
    if (weft_monotonic_ns() - t0 > 3 * WEFT_SEC) return 92;
    wt_sleep_ms(s->hold_ms);
    if (weft_lock_release(s->lock) != WEFT_OK) return 93;
    return 0;
}

static int time_out_child(void *arg) {
    struct sleeper *s = arg;
    return weft_lock_acquire(s->lock, 100 * WEFT_MSEC) == WEFT_ETIMEDOUT ? 0 : 94;
}

static int sleep_forever_child(void *arg) {
    struct sleeper *s = arg;
    (void)weft_lock_acquire(s->lock, WEFT_FOREVER); /* SIGKILLed in there */
    return 95;
}

/* With the caller holding `s->lock`: fork n sleepers, let them sleep, release,
 * and check that each of them got the lock in time. */
static void release_to_sleepers(struct sleeper *s, int n) {
    pid_t kids[4];
    assert_true(n <= 4);
    for (int i = 0; i < n; i++) kids[i] = wt_fork(sleep_then_take_child, s);
    wt_sleep_ms(150); /* let them block */
    WT_OK(weft_lock_release(s->lock));
    for (int i = 0; i < n; i++) WT_CHILD_OK(kids[i]);
}

/* A process lock and a shared count of EOWNERDEAD answers, for sleepers. */
static void sleepers_begin(struct sleeper *s) {
    s->owner_dead = wt_shared_page();
    s->hold_ms = 30;
    assert_non_null((void *)s->owner_dead);
    WT_OK(make_plock(&s->lock, NULL, WEFT_LIFETIME_OWNED, 0));
}

static void sleepers_end(struct sleeper *s) {
    weft_lock_destroy(s->lock);
    munmap((void *)s->owner_dead, 4096);
}

static void test_lock_process_scope_waiter_timing_out_leaves_the_others_wakeable(void **state) {
    struct sleeper s;
    (void)state;
    WT_SKIP_UNDER_TSAN();
    sleepers_begin(&s);
    for (int round = 0; round < 2; round++) {
        WT_OK(weft_lock_acquire(s.lock, 0));
        /* Two time out while others sleep beside them, then three sleepers. */
        pid_t t1 = wt_fork(time_out_child, &s);
        pid_t t2 = wt_fork(time_out_child, &s);
        pid_t a = wt_fork(sleep_then_take_child, &s);
        WT_CHILD_OK(t1);
        WT_CHILD_OK(t2);
        pid_t kids[2];
        for (int i = 0; i < 2; i++) kids[i] = wt_fork(sleep_then_take_child, &s);
        wt_sleep_ms(150);
        WT_OK(weft_lock_release(s.lock));
        WT_CHILD_OK(a);
        for (int i = 0; i < 2; i++) WT_CHILD_OK(kids[i]);
    }
    /* And a timeout in this process, with a sleeper in another. */
    WT_OK(weft_lock_acquire(s.lock, 0));
    pid_t t = wt_fork(time_out_child, &s);
    WT_CHILD_OK(t);
    release_to_sleepers(&s, 2);
    assert_int_equal(*s.owner_dead, 0);
    assert_int_equal(weft_lock_locked(s.lock), 0);
    sleepers_end(&s);
}

static void test_lock_process_scope_holder_killed_before_sleepers_wakes_each_in_turn(void **state) {
    struct sleeper s;
    pid_t kids[3];
    (void)state;
    WT_SKIP_UNDER_TSAN();
    sleepers_begin(&s);
    pid_t holder = start_holder(s.lock);
    assert_true(holder > 0);
    for (int i = 0; i < 3; i++) kids[i] = wt_fork(sleep_then_take_child, &s);
    wt_sleep_ms(150); /* let them block */
    wt_kill(holder);
    for (int i = 0; i < 3; i++) WT_CHILD_OK(kids[i]);
    assert_int_equal(*s.owner_dead, 1); /* one repaired it; the others took it clean */
    /* Contended as before. */
    WT_OK(weft_lock_acquire(s.lock, 0));
    release_to_sleepers(&s, 3);
    assert_int_equal(*s.owner_dead, 1);
    sleepers_end(&s);
}

static void test_lock_process_scope_waiter_killed_while_asleep_skips_no_wake_up(void **state) {
    struct sleeper s;
    (void)state;
    WT_SKIP_UNDER_TSAN();
    sleepers_begin(&s);
    /* Three processes: this one holds, one waiter is killed asleep, the
     * other must still be woken by the release. */
    WT_OK(weft_lock_acquire(s.lock, 0));
    pid_t doomed = wt_fork(sleep_forever_child, &s);
    pid_t other = wt_fork(sleep_then_take_child, &s);
    wt_sleep_ms(150);
    wt_kill(doomed);
    WT_OK(weft_lock_release(s.lock));
    WT_CHILD_OK(other);
    /* Later waiters are still woken, one after the other, and the
     * uncontended path still works. */
    for (int round = 0; round < 2; round++) {
        WT_OK(weft_lock_acquire(s.lock, 0));
        doomed = wt_fork(sleep_forever_child, &s);
        wt_sleep_ms(100);
        wt_kill(doomed);
        release_to_sleepers(&s, 3);
    }
    WT_OK(weft_lock_acquire(s.lock, 0));
    WT_OK(weft_lock_release(s.lock));
    assert_int_equal(*s.owner_dead, 0); /* a waiter's death is no holder's */
    assert_int_equal(weft_lock_locked(s.lock), 0);
    sleepers_end(&s);
}

static void test_lock_process_scope_leaves_nothing_in_dev_shm(void **state) {
    (void)state;
    assert_int_equal(wt_shm_leftovers(), 0);
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
        cmocka_unit_test(test_lock_process_scope_counts_exactly_across_forked_children),
        cmocka_unit_test(test_lock_process_scope_times_out_in_another_process),
        cmocka_unit_test(test_lock_process_scope_is_owned_by_the_acquiring_thread),
        cmocka_unit_test(test_lock_thread_scope_is_never_owner_dead),
        cmocka_unit_test(test_lock_named_is_opened_by_name_in_both_processes),
        cmocka_unit_test(test_lock_named_lifetimes_decide_when_the_name_goes),
        cmocka_unit_test(test_lock_destroying_a_held_handle_releases_it),
        cmocka_unit_test(test_lock_two_processes_racing_to_create_one_name_get_one_lock),
        cmocka_unit_test(test_lock_process_scope_rejects_bad_sharing),
        cmocka_unit_test(test_lock_holder_killed_gives_the_next_acquirer_owner_dead),
        cmocka_unit_test(test_lock_released_without_repair_is_not_recoverable),
        cmocka_unit_test(test_lock_blocked_acquirer_in_another_process_wakes_with_owner_dead),
        cmocka_unit_test(test_lock_holder_killed_with_a_mix_of_locks_leaves_exactly_those_owner_dead),
        cmocka_unit_test(test_lock_thread_ending_while_holding_a_process_lock_leaves_it_owner_dead),
        cmocka_unit_test(test_lock_process_scope_timed_and_untimed_waiters_count_exactly),
        cmocka_unit_test(test_lock_process_scope_threads_count_exactly_with_timed_waiters),
        cmocka_unit_test(test_lock_process_scope_waiter_timing_out_leaves_the_others_wakeable),
        cmocka_unit_test(test_lock_process_scope_holder_killed_before_sleepers_wakes_each_in_turn),
        cmocka_unit_test(test_lock_process_scope_waiter_killed_while_asleep_skips_no_wake_up),
        cmocka_unit_test(test_lock_process_scope_leaves_nothing_in_dev_shm),
    };
    return cmocka_run_group_tests_name("lock", tests, NULL, NULL);
}
