/* RLock: re-entry, owner and depth, release by a non-owner, timeouts, bad input. */
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "weft_test.h"
#include "weft_fork.h"

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

/* ---- process scope ------------------------------------------------------ */

static weft_status make_prlock(weft_rlock **out, const char *name, uint32_t flags) {
    weft_rlock_options o = WEFT_RLOCK_OPTIONS_INIT;
    o.share.scope = WEFT_SCOPE_PROCESS;
    o.share.name = name;
    o.share.flags = flags;
    return weft_rlock_create(out, &o);
}

static int refused_to_child(void *arg) {
    weft_rlock *r = arg;
    if (weft_rlock_acquire(r, 0) != WEFT_ETIMEDOUT) return 10;
    if (weft_rlock_acquire(r, 30 * WEFT_MSEC) != WEFT_ETIMEDOUT) return 11;
    if (weft_rlock_count(r) != 0) return 12;
    if (weft_rlock_release(r) != WEFT_EPERM) return 13;
    if (weft_rlock_owner(r) == 0) return 14;
    return 0;
}

enum { PR_ROUNDS = 2000 };
struct prcount {
    weft_rlock *r;
    volatile long *counter;
};

static int nested_adds_child(void *arg) {
    struct prcount *c = arg;
    for (int i = 0; i < PR_ROUNDS; i++) {
        if (weft_rlock_acquire(c->r, 10 * WEFT_SEC) != WEFT_OK) return 20;
        if (weft_rlock_acquire(c->r, 0) != WEFT_OK) return 21; /* re-entry never blocks */
        if (weft_rlock_count(c->r) != 2) return 22;
        long v = *c->counter;
        if (i % 100 == 0) sched_yield();
        *c->counter = v + 1;
        if (weft_rlock_release(c->r) != WEFT_OK || weft_rlock_release(c->r) != WEFT_OK) return 23;
    }
    return 0;
}

static void test_rlock_process_scope_is_reentrant_and_shared_with_children(void **state) {
    struct prcount c;
    pid_t k[2];
    (void)state;
    WT_SKIP_UNDER_TSAN();
    c.counter = wt_shared_page();
    assert_non_null((void *)c.counter);
    WT_OK(make_prlock(&c.r, NULL, 0));
    WT_OK(weft_rlock_acquire(c.r, 0));
    WT_OK(weft_rlock_acquire(c.r, 0));
    assert_int_equal(weft_rlock_count(c.r), 2);
    assert_true(weft_rlock_owner(c.r) == weft_thread_get_ident());
    WT_CHILD_OK(wt_fork(refused_to_child, c.r));
    WT_OK(weft_rlock_release(c.r));
    WT_OK(weft_rlock_release(c.r));
    WT_EXPECT(WEFT_EPERM, weft_rlock_release(c.r));
    assert_true(weft_rlock_owner(c.r) == 0);
    for (int i = 0; i < 2; i++) k[i] = wt_fork(nested_adds_child, &c);
    assert_int_equal(nested_adds_child(&c), 0);
    for (int i = 0; i < 2; i++) WT_CHILD_OK(k[i]);
    assert_int_equal(*c.counter, 3L * PR_ROUNDS);
    weft_rlock_destroy(c.r);
    munmap((void *)c.counter, 4096);
}

static int open_rlock_child(void *arg) {
    weft_rlock *r;
    if (weft_rlock_open(&r, arg) != WEFT_OK) return 30;
    if (weft_rlock_acquire(r, 0) != WEFT_ETIMEDOUT) return 31;
    weft_rlock_destroy(r);
    return 0;
}

static void test_rlock_named_opens_by_name_and_refuses_other_kinds(void **state) {
    char name[64], lname[64];
    weft_rlock *a, *b, *c;
    weft_lock *l;
    weft_lock_options lo = WEFT_LOCK_OPTIONS_INIT;
    (void)state;
    WT_SKIP_UNDER_TSAN();
    wt_name(name, sizeof name, "rlock-named");
    WT_EXPECT(WEFT_ENOENT, weft_rlock_open(&b, name));
    WT_OK(make_prlock(&a, name, 0));
    WT_EXPECT(WEFT_EEXIST, make_prlock(&c, name, 0));
    WT_OK(make_prlock(&c, name, WEFT_SHARE_OPEN_EXISTING));
    WT_OK(weft_rlock_open(&b, name));
    WT_OK(weft_rlock_acquire(a, 0));
    WT_OK(weft_rlock_acquire(b, 0)); /* the same lock: re-entry through another handle */
    assert_int_equal(weft_rlock_count(c), 2);
    WT_CHILD_OK(wt_fork(open_rlock_child, name));
    WT_OK(weft_rlock_release(c));
    WT_OK(weft_rlock_release(a));
    assert_int_equal(weft_rlock_count(b), 0);
    wt_name(lname, sizeof lname, "rlock-named-lock");
    lo.share.scope = WEFT_SCOPE_PROCESS;
    lo.share.name = lname;
    WT_OK(weft_lock_create(&l, &lo));
    {
        weft_rlock *x;
        WT_EXPECT(WEFT_EINVAL, weft_rlock_open(&x, lname));
        assert_null(x);
    }
    weft_lock_destroy(l);
    weft_rlock_destroy(c);
    weft_rlock_destroy(b);
    weft_rlock_destroy(a);
    WT_EXPECT(WEFT_ENOENT, weft_rlock_open(&b, name));
    WT_EXPECT(WEFT_EINVAL, weft_rlock_open(NULL, name));
    WT_EXPECT(WEFT_EINVAL, weft_rlock_open(&b, NULL));
    assert_int_equal(wt_shm_leftovers(), 0);
}

struct rholder {
    weft_rlock *r;
    int fd;
};

static int rhold_forever_child(void *arg) {
    struct rholder *h = arg;
    for (int i = 0; i < 3; i++)
        if (weft_rlock_acquire(h->r, 5 * WEFT_SEC) != WEFT_OK) return 40;
    wt_signal_parent(h->fd);
    for (;;) pause();
}

static pid_t start_rholder(weft_rlock *r) {
    int p[2];
    struct rholder h;
    if (pipe(p) != 0) return -1;
    h.r = r;
    h.fd = p[1];
    pid_t pid = wt_fork(rhold_forever_child, &h);
    int ok = wt_wait_child_signal(p[0], 5000);
    close(p[0]);
    close(p[1]);
    if (ok != 0) {
        wt_kill(pid);
        return -1;
    }
    return pid;
}

static void test_rlock_owner_killed_gives_owner_dead_at_depth_one(void **state) {
    weft_rlock *r;
    (void)state;
    WT_SKIP_UNDER_TSAN();
    WT_OK(make_prlock(&r, NULL, 0));
    pid_t pid = start_rholder(r);
    assert_true(pid > 0);
    assert_true(weft_rlock_owner(r) != 0);
    wt_kill(pid);
    WT_EXPECT(WEFT_EOWNERDEAD, weft_rlock_acquire(r, 5 * WEFT_SEC));
    assert_int_equal(weft_rlock_count(r), 1);
    WT_OK(weft_rlock_mark_consistent(r));
    WT_OK(weft_rlock_release(r));
    WT_OK(weft_rlock_acquire(r, 0));
    WT_OK(weft_rlock_release(r));
    /* Again, released without repair: not recoverable. */
    pid = start_rholder(r);
    assert_true(pid > 0);
    wt_kill(pid);
    WT_EXPECT(WEFT_EOWNERDEAD, weft_rlock_acquire(r, 5 * WEFT_SEC));
    WT_OK(weft_rlock_acquire(r, 0));
    WT_OK(weft_rlock_release(r));
    WT_OK(weft_rlock_release(r));
    WT_EXPECT(WEFT_ENOTRECOVERABLE, weft_rlock_acquire(r, 0));
    WT_EXPECT(WEFT_ENOTRECOVERABLE, weft_rlock_acquire(r, 20 * WEFT_MSEC));
    weft_rlock_destroy(r);
}

static void test_rlock_mark_consistent_needs_an_owner_died_process_lock(void **state) {
    weft_rlock *r;
    weft_rlock_options o = WEFT_RLOCK_OPTIONS_INIT;
    (void)state;
    WT_OK(weft_rlock_create(&r, NULL));
    WT_EXPECT(WEFT_ESTATE, weft_rlock_mark_consistent(r));
    weft_rlock_destroy(r);
    WT_OK(make_prlock(&r, NULL, 0));
    WT_EXPECT(WEFT_ESTATE, weft_rlock_mark_consistent(r)); /* not held */
    WT_OK(weft_rlock_acquire(r, 0));
    WT_EXPECT(WEFT_ESTATE, weft_rlock_mark_consistent(r)); /* nobody died */
    weft_rlock_destroy(r); /* held by the caller: released first */
    WT_EXPECT(WEFT_EMISUSE, weft_rlock_mark_consistent(NULL));
    o.share.scope = 5;
    WT_EXPECT(WEFT_EINVAL, weft_rlock_create(&r, &o));
    o.share.scope = WEFT_SCOPE_THREAD;
    o.share.name = "x";
    WT_EXPECT(WEFT_EINVAL, weft_rlock_create(&r, &o));
    o.version = 1; /* no `share`: ignored */
    WT_OK(weft_rlock_create(&r, &o));
    weft_rlock_destroy(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rlock_reentry_counts_depth_and_frees_at_zero),
        cmocka_unit_test(test_rlock_is_refused_to_other_threads_and_their_release_is_eperm),
        cmocka_unit_test(test_rlock_wakes_a_blocked_thread_when_depth_returns_to_zero),
        cmocka_unit_test(test_rlock_stress_nested_increments_are_exact),
        cmocka_unit_test(test_rlock_rejects_bad_input),
        cmocka_unit_test(test_rlock_process_scope_is_reentrant_and_shared_with_children),
        cmocka_unit_test(test_rlock_named_opens_by_name_and_refuses_other_kinds),
        cmocka_unit_test(test_rlock_owner_killed_gives_owner_dead_at_depth_one),
        cmocka_unit_test(test_rlock_mark_consistent_needs_an_owner_died_process_lock),
    };
    return cmocka_run_group_tests_name("rlock", tests, NULL, NULL);
}
