/* Condition: wait/notify under a lock or an rlock, exact FIFO notify(n),
 * notify_all, wait_for with a predicate, timeouts, EPERM, bad input, and
 * short stress loops for the timeout-versus-notify race. */
#include <pthread.h>
#include <string.h>

#include "weft_test.h"
#include "weft_fork.h"

static int always_false(void *p) {
    (void)p;
    return 0;
}

static int flag_is_set(void *p) { return *(int *)p != 0; }

/* ---- basics ------------------------------------------------------------ */

static void test_condition_wait_times_out_and_still_holds_the_lock(void **state) {
    weft_condition *c;
    (void)state;
    WT_OK(weft_condition_create(&c, NULL));
    WT_OK(weft_condition_acquire(c, WEFT_FOREVER));
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_condition_wait(c, 50 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 50);
    WT_EXPECT(WEFT_ETIMEDOUT, weft_condition_wait(c, 0)); /* poll */
    WT_EXPECT(WEFT_ETIMEDOUT, weft_condition_acquire(c, 0)); /* a plain lock: held, so a poll fails */
    WT_OK(weft_condition_release(c));
    WT_EXPECT(WEFT_EPERM, weft_condition_release(c)); /* now it is not held */
    weft_condition_destroy(c);
}

static void test_condition_refuses_wait_and_notify_without_the_lock(void **state) {
    weft_condition *c;
    (void)state;
    WT_OK(weft_condition_create(&c, NULL));
    WT_EXPECT(WEFT_EPERM, weft_condition_wait(c, 0));
    assert_non_null(strstr(weft_last_error()->message, "not held"));
    WT_EXPECT(WEFT_EPERM, weft_condition_wait(c, WEFT_FOREVER));
    WT_EXPECT(WEFT_EPERM, weft_condition_notify(c, 1));
    WT_EXPECT(WEFT_EPERM, weft_condition_notify_all(c));
    WT_EXPECT(WEFT_EPERM, weft_condition_wait_for(c, always_false, NULL, 0));
    weft_condition_destroy(c);
}

/* ---- waking blocked waiters --------------------------------------------- */

struct shared {
    weft_condition *c;
    int entered;    /* atomic: waiters that hold the lock on their way into wait */
    int order[16];  /* under the lock: ids in the order they woke */
    int woken;      /* under the lock */
    weft_status rc[16];
    int errors;
    int flag;       /* under the lock */
    int64_t timeout;
};

struct waiter_arg {
    struct shared *s;
    int id;
};

static void *waiter(void *arg) {
    struct waiter_arg *a = arg;
    struct shared *s = a->s;
    if (weft_condition_acquire(s->c, 5 * WEFT_SEC) != WEFT_OK) {
        __atomic_add_fetch(&s->errors, 1, __ATOMIC_SEQ_CST);
        return NULL;
    }
    __atomic_add_fetch(&s->entered, 1, __ATOMIC_SEQ_CST);
    weft_status st = weft_condition_wait(s->c, s->timeout);
    s->rc[a->id] = st;
    if (st == WEFT_OK) s->order[s->woken++] = a->id;
    if (weft_condition_release(s->c) != WEFT_OK) __atomic_add_fetch(&s->errors, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Start waiters one at a time, each surely queued before the next starts:
 * a waiter holds the lock from `entered` until wait releases it, and wait
 * queues it before releasing, so once we get the lock it is queued. */
static void start_in_order(struct shared *s, struct waiter_arg *args, pthread_t *t, int n) {
    for (int i = 0; i < n; i++) {
        args[i].s = s;
        args[i].id = i;
        assert_int_equal(pthread_create(&t[i], NULL, waiter, &args[i]), 0);
        while (__atomic_load_n(&s->entered, __ATOMIC_SEQ_CST) < i + 1) wt_sleep_ms(1);
        WT_OK(weft_condition_acquire(s->c, 5 * WEFT_SEC));
        WT_OK(weft_condition_release(s->c));
    }
}

static int woken_now(struct shared *s) {
    int w;
    weft_condition_acquire(s->c, 5 * WEFT_SEC);
    w = s->woken;
    weft_condition_release(s->c);
    return w;
}

static int wait_until_woken(struct shared *s, int want) {
    for (int i = 0; i < 2000 && woken_now(s) < want; i++) wt_sleep_ms(1);
    return woken_now(s);
}

static void test_condition_notify_n_wakes_exactly_n_in_fifo_order(void **state) {
    enum { N = 6 };
    struct shared s;
    struct waiter_arg args[N];
    pthread_t t[N];
    (void)state;
    memset(&s, 0, sizeof s);
    s.timeout = 5 * WEFT_SEC;
    WT_OK(weft_condition_create(&s.c, NULL));
    start_in_order(&s, args, t, N);

    WT_OK(weft_condition_acquire(s.c, WEFT_FOREVER));
    WT_OK(weft_condition_notify(s.c, 2));
    WT_OK(weft_condition_notify(s.c, 0)); /* wakes none */
    WT_OK(weft_condition_release(s.c));
    assert_int_equal(wait_until_woken(&s, 2), 2);
    wt_sleep_ms(30); /* nobody else wakes */
    assert_int_equal(woken_now(&s), 2);

    WT_OK(weft_condition_acquire(s.c, WEFT_FOREVER));
    WT_OK(weft_condition_notify(s.c, 1));
    WT_OK(weft_condition_release(s.c));
    assert_int_equal(wait_until_woken(&s, 3), 3);
    wt_sleep_ms(30);
    assert_int_equal(woken_now(&s), 3);

    WT_OK(weft_condition_acquire(s.c, WEFT_FOREVER));
    WT_OK(weft_condition_notify_all(s.c));
    WT_OK(weft_condition_release(s.c));
    for (int i = 0; i < N; i++) pthread_join(t[i], NULL);
    assert_int_equal(s.errors, 0);
    assert_int_equal(s.woken, N);
    /* notify(2) picked the two oldest waiters (they then race for the lock,
     * so either may run first); notify(1) picked the next oldest. */
    assert_int_equal(s.order[0] + s.order[1], 0 + 1);
    assert_true(s.order[0] == 0 || s.order[0] == 1);
    assert_int_equal(s.order[2], 2);
    for (int i = 0; i < N; i++) assert_int_equal(s.rc[i], WEFT_OK);

    /* More notifications than waiters are harmless. */
    WT_OK(weft_condition_acquire(s.c, WEFT_FOREVER));
    WT_OK(weft_condition_notify(s.c, 100));
    WT_OK(weft_condition_release(s.c));
    weft_condition_destroy(s.c);
}

static void test_condition_notify_one_at_a_time_wakes_in_the_order_they_waited(void **state) {
    enum { N = 5 };
    struct shared s;
    struct waiter_arg args[N];
    pthread_t t[N];
    (void)state;
    memset(&s, 0, sizeof s);
    s.timeout = 5 * WEFT_SEC;
    WT_OK(weft_condition_create(&s.c, NULL));
    start_in_order(&s, args, t, N);
    for (int i = 0; i < N; i++) {
        WT_OK(weft_condition_acquire(s.c, WEFT_FOREVER));
        WT_OK(weft_condition_notify(s.c, 1));
        WT_OK(weft_condition_release(s.c));
        assert_int_equal(wait_until_woken(&s, i + 1), i + 1);
    }
    for (int i = 0; i < N; i++) pthread_join(t[i], NULL);
    assert_int_equal(s.errors, 0);
    for (int i = 0; i < N; i++) assert_int_equal(s.order[i], i);
    weft_condition_destroy(s.c);
}

static void test_condition_notify_all_wakes_every_waiter(void **state) {
    enum { N = 8 };
    struct shared s;
    struct waiter_arg args[N];
    pthread_t t[N];
    (void)state;
    memset(&s, 0, sizeof s);
    s.timeout = 5 * WEFT_SEC;
    WT_OK(weft_condition_create(&s.c, NULL));
    start_in_order(&s, args, t, N);
    WT_OK(weft_condition_acquire(s.c, WEFT_FOREVER));
    WT_OK(weft_condition_notify_all(s.c));
    WT_OK(weft_condition_release(s.c));
    for (int i = 0; i < N; i++) pthread_join(t[i], NULL);
    assert_int_equal(s.errors, 0);
    assert_int_equal(s.woken, N);
    weft_condition_destroy(s.c);
}

static void test_condition_waiters_that_time_out_leave_the_queue(void **state) {
    enum { N = 3 };
    struct shared s;
    struct waiter_arg args[N];
    pthread_t t[N];
    (void)state;
    memset(&s, 0, sizeof s);
    s.timeout = 40 * WEFT_MSEC;
    WT_OK(weft_condition_create(&s.c, NULL));
    start_in_order(&s, args, t, N);
    for (int i = 0; i < N; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < N; i++) assert_int_equal(s.rc[i], WEFT_ETIMEDOUT);
    assert_int_equal(s.woken, 0);
    assert_int_equal(s.errors, 0);

    /* The queue is empty again: a new waiter is the one notify(1) picks. */
    s.timeout = 5 * WEFT_SEC;
    s.entered = 0;
    start_in_order(&s, args, t, 1);
    WT_OK(weft_condition_acquire(s.c, WEFT_FOREVER));
    WT_OK(weft_condition_notify(s.c, 1));
    WT_OK(weft_condition_release(s.c));
    pthread_join(t[0], NULL);
    assert_int_equal(s.rc[0], WEFT_OK);
    assert_int_equal(s.woken, 1);
    weft_condition_destroy(s.c);
}

/* ---- rlock --------------------------------------------------------------- */

struct rl {
    weft_condition *c;
    weft_rlock *r;
    weft_status notify_rc, acquire_rc, wait_rc, release_rc;
    int flag;
};

static void *notify_through_rlock(void *arg) {
    struct rl *x = arg;
    wt_sleep_ms(30);
    /* While the main thread is in wait, its rlock is fully released. */
    x->acquire_rc = weft_condition_acquire(x->c, 5 * WEFT_SEC);
    if (x->acquire_rc != WEFT_OK) return NULL;
    x->flag = 1;
    x->notify_rc = weft_condition_notify(x->c, 1);
    x->release_rc = weft_condition_release(x->c);
    return NULL;
}

static void test_condition_wait_with_rlock_at_depth_three_restores_depth_three(void **state) {
    struct rl x;
    weft_condition_options o = WEFT_CONDITION_OPTIONS_INIT;
    pthread_t t;
    (void)state;
    memset(&x, 0, sizeof x);
    WT_OK(weft_rlock_create(&x.r, NULL));
    o.rlock = x.r;
    WT_OK(weft_condition_create(&x.c, &o));
    WT_OK(weft_condition_acquire(x.c, 0));
    WT_OK(weft_rlock_acquire(x.r, 0));
    WT_OK(weft_condition_acquire(x.c, 0));
    assert_int_equal(weft_rlock_count(x.r), 3);
    assert_int_equal(pthread_create(&t, NULL, notify_through_rlock, &x), 0);
    WT_OK(weft_condition_wait_for(x.c, flag_is_set, &x.flag, 5 * WEFT_SEC));
    pthread_join(t, NULL);
    assert_int_equal(x.acquire_rc, WEFT_OK);
    assert_int_equal(x.notify_rc, WEFT_OK);
    assert_int_equal(x.release_rc, WEFT_OK);
    assert_int_equal(weft_rlock_count(x.r), 3);
    assert_int_equal(weft_rlock_owner(x.r) != 0, 1);
    /* A timed-out wait restores the depth too. */
    WT_EXPECT(WEFT_ETIMEDOUT, weft_condition_wait(x.c, 10 * WEFT_MSEC));
    assert_int_equal(weft_rlock_count(x.r), 3);
    for (int i = 0; i < 3; i++) WT_OK(weft_condition_release(x.c));
    assert_int_equal(weft_rlock_owner(x.r), 0);
    WT_EXPECT(WEFT_EPERM, weft_condition_release(x.c));
    weft_condition_destroy(x.c);
    weft_rlock_destroy(x.r); /* borrowed: still ours to destroy */
}

static void *try_from_non_owner(void *arg) {
    struct rl *x = arg;
    x->wait_rc = weft_condition_wait(x->c, 0);
    x->notify_rc = weft_condition_notify(x->c, 1);
    x->release_rc = weft_condition_release(x->c);
    return NULL;
}

static void test_condition_with_rlock_refuses_a_thread_that_does_not_own_it(void **state) {
    struct rl x;
    weft_condition_options o = WEFT_CONDITION_OPTIONS_INIT;
    pthread_t t;
    (void)state;
    memset(&x, 0, sizeof x);
    WT_OK(weft_rlock_create(&x.r, NULL));
    o.rlock = x.r;
    WT_OK(weft_condition_create(&x.c, &o));
    WT_OK(weft_condition_acquire(x.c, 0)); /* owned by this thread */
    assert_int_equal(pthread_create(&t, NULL, try_from_non_owner, &x), 0);
    pthread_join(t, NULL);
    assert_int_equal(x.wait_rc, WEFT_EPERM);
    assert_int_equal(x.notify_rc, WEFT_EPERM);
    assert_int_equal(x.release_rc, WEFT_EPERM);
    WT_OK(weft_condition_notify(x.c, 1)); /* the owner may */
    WT_OK(weft_condition_release(x.c));
    weft_condition_destroy(x.c);
    weft_rlock_destroy(x.r);
}

static void test_condition_uses_a_borrowed_lock_and_leaves_it_alive(void **state) {
    weft_lock *lock;
    weft_condition *c;
    weft_condition_options o = WEFT_CONDITION_OPTIONS_INIT;
    (void)state;
    WT_OK(weft_lock_create(&lock, NULL));
    o.lock = lock;
    WT_OK(weft_condition_create(&c, &o));
    WT_OK(weft_condition_acquire(c, 0));
    assert_int_equal(weft_lock_locked(lock), 1);
    WT_EXPECT(WEFT_ETIMEDOUT, weft_condition_wait(c, 5 * WEFT_MSEC));
    assert_int_equal(weft_lock_locked(lock), 1);
    WT_OK(weft_lock_release(lock)); /* the same lock */
    WT_EXPECT(WEFT_EPERM, weft_condition_wait(c, 0));
    weft_condition_destroy(c);
    WT_OK(weft_lock_acquire(lock, 0)); /* still alive */
    WT_OK(weft_lock_release(lock));
    weft_lock_destroy(lock);
}

/* ---- wait_for ------------------------------------------------------------ */

static int count_calls(void *p) {
    (*(int *)p)++;
    return 0;
}

static int true_after_calls(void *p) { return ++*(int *)p >= 1; }

static void test_condition_wait_for_true_predicate_returns_at_once(void **state) {
    weft_condition *c;
    int calls = 0;
    (void)state;
    WT_OK(weft_condition_create(&c, NULL));
    WT_OK(weft_condition_acquire(c, 0));
    WT_OK(weft_condition_wait_for(c, true_after_calls, &calls, 0));
    assert_int_equal(calls, 1);
    calls = 0;
    int64_t t0 = weft_monotonic_ns();
    WT_OK(weft_condition_wait_for(c, true_after_calls, &calls, WEFT_FOREVER));
    assert_true(wt_ms_since(t0) < 1000);
    assert_int_equal(calls, 1);
    calls = 0;
    WT_EXPECT(WEFT_ETIMEDOUT, weft_condition_wait_for(c, count_calls, &calls, 0));
    assert_int_equal(calls, 1);
    WT_OK(weft_condition_release(c));
    weft_condition_destroy(c);
}

struct nagger {
    weft_condition *c;
    int stop; /* atomic */
    int notifies, errors;
    int flag;  /* under the lock */
    int set_after;
};

/* Notifies every 5 ms without making the predicate true (unless set_after). */
static void *nag(void *arg) {
    struct nagger *n = arg;
    int rounds = 0;
    while (!__atomic_load_n(&n->stop, __ATOMIC_SEQ_CST)) {
        wt_sleep_ms(5);
        if (weft_condition_acquire(n->c, 5 * WEFT_SEC) != WEFT_OK) {
            n->errors++;
            continue;
        }
        if (n->set_after && ++rounds >= n->set_after) n->flag = 1;
        if (weft_condition_notify_all(n->c) != WEFT_OK) n->errors++;
        n->notifies++;
        if (weft_condition_release(n->c) != WEFT_OK) n->errors++;
    }
    return NULL;
}

static void test_condition_wait_for_false_predicate_times_out_on_one_deadline(void **state) {
    struct nagger n;
    pthread_t t;
    int calls = 0;
    (void)state;
    memset(&n, 0, sizeof n);
    WT_OK(weft_condition_create(&n.c, NULL));
    assert_int_equal(pthread_create(&t, NULL, nag, &n), 0);
    WT_OK(weft_condition_acquire(n.c, WEFT_FOREVER));
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_condition_wait_for(n.c, count_calls, &calls, 100 * WEFT_MSEC));
    double ms = wt_ms_since(t0);
    WT_OK(weft_condition_release(n.c));
    __atomic_store_n(&n.stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(t, NULL);
    WT_ASSERT_ABOUT_MS(ms, 100); /* the notifications did not extend it */
    assert_true(calls >= 2);      /* re-checked after wake-ups */
    assert_int_equal(n.errors, 0);
    weft_condition_destroy(n.c);
}

static void test_condition_wait_for_returns_when_another_thread_makes_it_true(void **state) {
    struct nagger n;
    pthread_t t;
    (void)state;
    memset(&n, 0, sizeof n);
    n.set_after = 4;
    WT_OK(weft_condition_create(&n.c, NULL));
    assert_int_equal(pthread_create(&t, NULL, nag, &n), 0);
    WT_OK(weft_condition_acquire(n.c, WEFT_FOREVER));
    WT_OK(weft_condition_wait_for(n.c, flag_is_set, &n.flag, 5 * WEFT_SEC));
    assert_int_equal(n.flag, 1);
    WT_OK(weft_condition_release(n.c));
    __atomic_store_n(&n.stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(t, NULL);
    assert_int_equal(n.errors, 0);
    assert_true(n.notifies >= 4);
    weft_condition_destroy(n.c);
}

/* ---- stress -------------------------------------------------------------- */

enum { CAP = 4, ITEMS = 20000, CONSUMERS = 2 };
struct buffer {
    weft_condition *c;
    int items[CAP];
    int head, count, done;
    long sum;
    int errors;
};

static int has_room(void *p) { return ((struct buffer *)p)->count < CAP; }
static int has_item_or_done(void *p) {
    struct buffer *b = p;
    return b->count > 0 || b->done;
}

static void *consume(void *arg) {
    struct buffer *b = arg;
    for (;;) {
        if (weft_condition_acquire(b->c, 10 * WEFT_SEC) != WEFT_OK) {
            __atomic_add_fetch(&b->errors, 1, __ATOMIC_SEQ_CST);
            return NULL;
        }
        if (weft_condition_wait_for(b->c, has_item_or_done, b, 10 * WEFT_SEC) != WEFT_OK) __atomic_add_fetch(&b->errors, 1, __ATOMIC_SEQ_CST);
        if (b->count == 0) { /* done and drained */
            weft_condition_release(b->c);
            return NULL;
        }
        b->sum += b->items[b->head];
        b->head = (b->head + 1) % CAP;
        b->count--;
        if (weft_condition_notify_all(b->c) != WEFT_OK) __atomic_add_fetch(&b->errors, 1, __ATOMIC_SEQ_CST);
        if (weft_condition_release(b->c) != WEFT_OK) __atomic_add_fetch(&b->errors, 1, __ATOMIC_SEQ_CST);
    }
}

static void test_condition_stress_bounded_buffer_delivers_every_item(void **state) {
    struct buffer b;
    pthread_t t[CONSUMERS];
    long want = 0;
    (void)state;
    memset(&b, 0, sizeof b);
    WT_OK(weft_condition_create(&b.c, NULL));
    for (int i = 0; i < CONSUMERS; i++) assert_int_equal(pthread_create(&t[i], NULL, consume, &b), 0);
    for (int i = 1; i <= ITEMS; i++) {
        WT_OK(weft_condition_acquire(b.c, 10 * WEFT_SEC));
        WT_OK(weft_condition_wait_for(b.c, has_room, &b, 10 * WEFT_SEC));
        b.items[(b.head + b.count) % CAP] = i;
        b.count++;
        want += i;
        WT_OK(weft_condition_notify(b.c, 1));
        WT_OK(weft_condition_release(b.c));
    }
    WT_OK(weft_condition_acquire(b.c, 10 * WEFT_SEC));
    b.done = 1;
    WT_OK(weft_condition_notify_all(b.c));
    WT_OK(weft_condition_release(b.c));
    for (int i = 0; i < CONSUMERS; i++) pthread_join(t[i], NULL);
    assert_int_equal(b.errors, 0);
    assert_int_equal(b.sum, want);
    weft_condition_destroy(b.c);
}

struct racer {
    weft_condition *c;
    int stop;    /* atomic */
    long ok, timeouts, notifies, errors; /* under the lock */
};

static void *short_waits(void *arg) {
    struct racer *r = arg;
    for (int i = 0; i < 400; i++) {
        if (weft_condition_acquire(r->c, 10 * WEFT_SEC) != WEFT_OK) {
            __atomic_add_fetch(&r->errors, 1, __ATOMIC_SEQ_CST);
            continue;
        }
        weft_status st = weft_condition_wait(r->c, (i % 4) * 50 * WEFT_USEC);
        if (st == WEFT_OK)
            r->ok++;
        else if (st == WEFT_ETIMEDOUT)
            r->timeouts++;
        else
            __atomic_add_fetch(&r->errors, 1, __ATOMIC_SEQ_CST);
        if (weft_condition_release(r->c) != WEFT_OK) __atomic_add_fetch(&r->errors, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

static void *notify_one_repeatedly(void *arg) {
    struct racer *r = arg;
    while (!__atomic_load_n(&r->stop, __ATOMIC_SEQ_CST)) {
        if (weft_condition_acquire(r->c, 10 * WEFT_SEC) != WEFT_OK) continue;
        if (weft_condition_notify(r->c, 1) != WEFT_OK) __atomic_add_fetch(&r->errors, 1, __ATOMIC_SEQ_CST);
        r->notifies++;
        weft_condition_release(r->c);
    }
    return NULL;
}

static void test_condition_stress_timeouts_racing_notify_stay_consistent(void **state) {
    enum { W = 3 };
    struct racer r;
    pthread_t w[W], n;
    (void)state;
    memset(&r, 0, sizeof r);
    WT_OK(weft_condition_create(&r.c, NULL));
    assert_int_equal(pthread_create(&n, NULL, notify_one_repeatedly, &r), 0);
    for (int i = 0; i < W; i++) assert_int_equal(pthread_create(&w[i], NULL, short_waits, &r), 0);
    for (int i = 0; i < W; i++) pthread_join(w[i], NULL);
    __atomic_store_n(&r.stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(n, NULL);
    assert_int_equal(r.errors, 0);
    assert_int_equal(r.ok + r.timeouts, W * 400);
    assert_true(r.ok <= r.notifies); /* each notify(1) woke at most one */
    /* Nothing stayed queued: a fresh notify finds nobody and a poll times out. */
    WT_OK(weft_condition_acquire(r.c, 0));
    WT_OK(weft_condition_notify_all(r.c));
    WT_EXPECT(WEFT_ETIMEDOUT, weft_condition_wait(r.c, 0));
    WT_OK(weft_condition_release(r.c));
    weft_condition_destroy(r.c);
}

/* ---- bad input ----------------------------------------------------------- */

static void test_condition_rejects_bad_input(void **state) {
    weft_condition *c = (weft_condition *)1;
    weft_lock *lock;
    weft_rlock *rlock;
    weft_condition_options o = WEFT_CONDITION_OPTIONS_INIT;
    (void)state;
    WT_EXPECT(WEFT_EINVAL, weft_condition_create(NULL, NULL));
    o.version = 99;
    WT_EXPECT(WEFT_EINVAL, weft_condition_create(&c, &o));
    assert_null(c);
    o.version = WEFT_CONDITION_OPTIONS_VERSION;
    WT_OK(weft_lock_create(&lock, NULL));
    WT_OK(weft_rlock_create(&rlock, NULL));
    o.lock = lock;
    o.rlock = rlock;
    WT_EXPECT(WEFT_EINVAL, weft_condition_create(&c, &o)); /* both */
    assert_non_null(strstr(weft_last_error()->message, "both"));
    o.lock = (weft_lock *)rlock; /* wrong types */
    o.rlock = NULL;
    WT_EXPECT(WEFT_EMISUSE, weft_condition_create(&c, &o));
    o.lock = NULL;
    o.rlock = (weft_rlock *)lock;
    WT_EXPECT(WEFT_EMISUSE, weft_condition_create(&c, &o));

    WT_EXPECT(WEFT_EMISUSE, weft_condition_acquire(NULL, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_condition_release(NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_condition_wait(NULL, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_condition_wait_for(NULL, always_false, NULL, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_condition_notify(NULL, 1));
    WT_EXPECT(WEFT_EMISUSE, weft_condition_notify_all(NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_condition_notify((weft_condition *)lock, 1));
    weft_condition_destroy(NULL);
    weft_condition_destroy((weft_condition *)lock); /* wrong type: no-op */

    WT_OK(weft_condition_create(&c, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_condition_acquire(c, -2));
    WT_OK(weft_condition_acquire(c, INT64_MAX));
    WT_EXPECT(WEFT_EINVAL, weft_condition_wait(c, -2));
    WT_EXPECT(WEFT_EINVAL, weft_condition_wait_for(c, always_false, NULL, INT64_MIN));
    WT_EXPECT(WEFT_EINVAL, weft_condition_wait_for(c, NULL, NULL, 0));
    assert_non_null(strstr(weft_last_error()->message, "pred"));
    WT_EXPECT(WEFT_EINVAL, weft_condition_notify(c, -1));
    WT_OK(weft_condition_release(c));
    weft_condition_destroy(c);
    weft_lock_destroy(lock);
    weft_rlock_destroy(rlock);
}

/* ---- process scope ------------------------------------------------------ */

static weft_status make_pcond(weft_condition **out, const char *name, uint32_t flags, weft_lock *lock,
                              weft_rlock *rlock) {
    weft_condition_options o = WEFT_CONDITION_OPTIONS_INIT;
    o.lock = lock;
    o.rlock = rlock;
    o.share.scope = WEFT_SCOPE_PROCESS;
    o.share.name = name;
    o.share.flags = flags;
    return weft_condition_create(out, &o);
}

struct pshelf {
    weft_condition *c;
    const char *name; /* set: the child opens the condition by name */
    volatile int *items;
};

static int shelf_has_item(void *arg) { return *(volatile int *)arg > 0; }

static int consume_one_child(void *arg) {
    struct pshelf *p = arg;
    weft_condition *c = p->c;
    if (p->name && weft_condition_open(&c, p->name) != WEFT_OK) return 10;
    if (weft_condition_acquire(c, 5 * WEFT_SEC) != WEFT_OK) return 11;
    if (weft_condition_wait_for(c, shelf_has_item, (void *)p->items, 5 * WEFT_SEC) != WEFT_OK) return 12;
    --*p->items;
    if (weft_condition_release(c) != WEFT_OK) return 13;
    if (p->name) weft_condition_destroy(c);
    return 0;
}

static void put_items(struct pshelf *p, int n, int all) {
    WT_OK(weft_condition_acquire(p->c, 5 * WEFT_SEC));
    *p->items += n;
    if (all)
        WT_OK(weft_condition_notify_all(p->c));
    else
        WT_OK(weft_condition_notify(p->c, n));
    WT_OK(weft_condition_release(p->c));
}

static void test_condition_process_scope_wakes_a_consumer_in_a_child(void **state) {
    struct pshelf p;
    pid_t k[2];
    (void)state;
    WT_SKIP_UNDER_TSAN();
    p.items = wt_shared_page();
    p.name = NULL;
    assert_non_null((void *)p.items);
    WT_OK(make_pcond(&p.c, NULL, 0, NULL, NULL)); /* its own lock, in shared memory */
    for (int i = 0; i < 2; i++) k[i] = wt_fork(consume_one_child, &p);
    wt_sleep_ms(50);
    put_items(&p, 1, 0);
    wt_sleep_ms(20);
    put_items(&p, 1, 0);
    for (int i = 0; i < 2; i++) WT_CHILD_OK(k[i]);
    assert_int_equal(*p.items, 0);
    /* A wait that nobody notifies times out with the lock held again. */
    WT_OK(weft_condition_acquire(p.c, 0));
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_condition_wait(p.c, 50 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 50);
    WT_EXPECT(WEFT_ETIMEDOUT, weft_condition_wait(p.c, 0));
    WT_OK(weft_condition_release(p.c));
    weft_condition_destroy(p.c);
    munmap((void *)p.items, 4096);
}

static int rlock_depth_child(void *arg) {
    struct pshelf *p = arg;
    if (weft_condition_acquire(p->c, 5 * WEFT_SEC) != WEFT_OK) return 20;
    if (weft_condition_acquire(p->c, 0) != WEFT_OK) return 21; /* depth 2 */
    if (weft_condition_wait_for(p->c, shelf_has_item, (void *)p->items, 5 * WEFT_SEC) != WEFT_OK) return 22;
    --*p->items;
    if (weft_condition_release(p->c) != WEFT_OK) return 23;
    if (weft_condition_release(p->c) != WEFT_OK) return 24; /* depth restored to 2 by the wait */
    if (weft_condition_release(p->c) != WEFT_EPERM) return 25;
    return 0;
}

static void test_condition_process_scope_uses_a_given_process_lock_or_rlock(void **state) {
    struct pshelf p;
    weft_lock *tl, *pl;
    weft_rlock *pr;
    weft_condition *c;
    weft_lock_options lo = WEFT_LOCK_OPTIONS_INIT;
    weft_rlock_options ro = WEFT_RLOCK_OPTIONS_INIT;
    (void)state;
    WT_SKIP_UNDER_TSAN();
    p.items = wt_shared_page();
    p.name = NULL;
    assert_non_null((void *)p.items);
    /* A thread-scope lock cannot serve a process-scope condition. */
    WT_OK(weft_lock_create(&tl, NULL));
    WT_EXPECT(WEFT_EINVAL, make_pcond(&c, NULL, 0, tl, NULL));
    weft_lock_destroy(tl);
    /* A process-scope rlock: the wait restores the depth. */
    ro.share.scope = WEFT_SCOPE_PROCESS;
    WT_OK(weft_rlock_create(&pr, &ro));
    WT_OK(make_pcond(&p.c, NULL, 0, NULL, pr));
    pid_t pid = wt_fork(rlock_depth_child, &p);
    wt_sleep_ms(50);
    put_items(&p, 1, 1);
    WT_CHILD_OK(pid);
    weft_condition_destroy(p.c);
    weft_rlock_destroy(pr);
    /* A process-scope lock: held means held by the calling thread. */
    lo.share.scope = WEFT_SCOPE_PROCESS;
    WT_OK(weft_lock_create(&pl, &lo));
    WT_OK(make_pcond(&p.c, NULL, 0, pl, NULL));
    WT_EXPECT(WEFT_EPERM, weft_condition_notify(p.c, 1));
    pid = wt_fork(consume_one_child, &p);
    wt_sleep_ms(50);
    put_items(&p, 1, 0);
    WT_CHILD_OK(pid);
    weft_condition_destroy(p.c);
    weft_lock_destroy(pl);
    munmap((void *)p.items, 4096);
}

static void test_condition_named_uses_its_own_lock_for_every_opener(void **state) {
    char name[64], sname[64];
    struct pshelf p;
    weft_condition *b, *c;
    weft_lock *pl;
    weft_lock_options lo = WEFT_LOCK_OPTIONS_INIT;
    weft_semaphore *s;
    weft_semaphore_options so = WEFT_SEMAPHORE_OPTIONS_INIT;
    pid_t k[2];
    (void)state;
    WT_SKIP_UNDER_TSAN();
    wt_name(name, sizeof name, "cond-named");
    p.items = wt_shared_page();
    assert_non_null((void *)p.items);
    WT_EXPECT(WEFT_ENOENT, weft_condition_open(&b, name));
    WT_OK(make_pcond(&p.c, name, 0, NULL, NULL));
    WT_EXPECT(WEFT_EEXIST, make_pcond(&c, name, 0, NULL, NULL));
    WT_OK(make_pcond(&c, name, WEFT_SHARE_OPEN_EXISTING, NULL, NULL));
    WT_OK(weft_condition_open(&b, name));
    WT_OK(weft_condition_acquire(b, 0));
    WT_EXPECT(WEFT_EDEADLK, weft_condition_acquire(c, 0)); /* one lock behind all handles */
    WT_OK(weft_condition_release(c));
    p.name = name;
    for (int i = 0; i < 2; i++) k[i] = wt_fork(consume_one_child, &p);
    wt_sleep_ms(50);
    put_items(&p, 2, 1);
    for (int i = 0; i < 2; i++) WT_CHILD_OK(k[i]);
    /* A named condition takes no lock from outside. */
    lo.share.scope = WEFT_SCOPE_PROCESS;
    WT_OK(weft_lock_create(&pl, &lo));
    {
        weft_condition *x;
        WT_EXPECT(WEFT_EINVAL, make_pcond(&x, "weft-test-never", 0, pl, NULL));
        assert_null(x);
    }
    weft_lock_destroy(pl);
    wt_name(sname, sizeof sname, "cond-named-sem");
    so.share.scope = WEFT_SCOPE_PROCESS;
    so.share.name = sname;
    WT_OK(weft_semaphore_create(&s, 0, &so));
    {
        weft_condition *x;
        WT_EXPECT(WEFT_EINVAL, weft_condition_open(&x, sname));
        assert_null(x);
    }
    weft_semaphore_destroy(s);
    weft_condition_destroy(b);
    weft_condition_destroy(c);
    weft_condition_destroy(p.c);
    WT_EXPECT(WEFT_ENOENT, weft_condition_open(&b, name));
    WT_EXPECT(WEFT_EINVAL, weft_condition_open(NULL, name));
    WT_EXPECT(WEFT_EINVAL, weft_condition_open(&b, NULL));
    munmap((void *)p.items, 4096);
    assert_int_equal(wt_shm_leftovers(), 0);
}

static int wait_long_child(void *arg) {
    weft_condition *c = arg;
    if (weft_condition_acquire(c, 5 * WEFT_SEC) != WEFT_OK) return 30;
    (void)weft_condition_wait(c, 10 * WEFT_SEC);
    return 31; /* killed before this */
}

static int wait_notified_child(void *arg) {
    weft_condition *c = arg;
    if (weft_condition_acquire(c, 5 * WEFT_SEC) != WEFT_OK) return 40;
    weft_status st = weft_condition_wait(c, 5 * WEFT_SEC);
    weft_condition_release(c);
    return st == WEFT_OK ? 0 : 41;
}

static void test_condition_waiter_killed_while_waiting_blocks_nobody(void **state) {
    weft_condition *c;
    (void)state;
    WT_SKIP_UNDER_TSAN();
    WT_OK(make_pcond(&c, NULL, 0, NULL, NULL));
    pid_t dead = wt_fork(wait_long_child, c);
    wt_sleep_ms(80);
    wt_kill(dead);
    pid_t live = wt_fork(wait_notified_child, c);
    wt_sleep_ms(80);
    WT_OK(weft_condition_acquire(c, 5 * WEFT_SEC)); /* the dead waiter did not keep the lock */
    WT_OK(weft_condition_notify(c, 1));             /* reaches the live one */
    WT_OK(weft_condition_release(c));
    WT_CHILD_OK(live);
    weft_condition_destroy(c);
}

static int notify_then_die_child(void *arg) {
    weft_condition *c = arg;
    if (weft_condition_acquire(c, 5 * WEFT_SEC) != WEFT_OK) return 50;
    weft_condition_notify_all(c);
    raise(SIGKILL); /* dies holding the lock */
    return 51;
}

static void test_condition_wait_reports_owner_dead_when_the_lock_holder_died(void **state) {
    weft_condition *c;
    (void)state;
    WT_SKIP_UNDER_TSAN();
    WT_OK(make_pcond(&c, NULL, 0, NULL, NULL));
    WT_EXPECT(WEFT_ESTATE, weft_condition_mark_consistent(c)); /* not held */
    WT_OK(weft_condition_acquire(c, 0));
    pid_t pid = wt_fork(notify_then_die_child, c);
    WT_EXPECT(WEFT_EOWNERDEAD, weft_condition_wait(c, 5 * WEFT_SEC));
    assert_int_equal(wt_reap(pid, 5000), 1000 + SIGKILL);
    WT_OK(weft_condition_mark_consistent(c));
    WT_OK(weft_condition_notify_all(c)); /* held again, normally */
    WT_OK(weft_condition_release(c));
    WT_OK(weft_condition_acquire(c, 0));
    WT_OK(weft_condition_release(c));
    weft_condition_destroy(c);
}

static void test_condition_process_scope_rejects_bad_sharing_and_accepts_v1(void **state) {
    weft_condition *c = (weft_condition *)1;
    weft_condition_options o = WEFT_CONDITION_OPTIONS_INIT;
    (void)state;
    o.share.scope = 3;
    WT_EXPECT(WEFT_EINVAL, weft_condition_create(&c, &o));
    assert_null(c);
    o.share.scope = WEFT_SCOPE_PROCESS;
    o.share.flags = 2;
    WT_EXPECT(WEFT_EINVAL, weft_condition_create(&c, &o));
    o.version = 1;
    WT_OK(weft_condition_create(&c, &o));
    WT_EXPECT(WEFT_ESTATE, weft_condition_mark_consistent(c)); /* thread scope */
    WT_OK(weft_condition_acquire(c, 0));
    WT_EXPECT(WEFT_ETIMEDOUT, weft_condition_wait(c, 0));
    WT_OK(weft_condition_release(c));
    weft_condition_destroy(c);
    WT_EXPECT(WEFT_EMISUSE, weft_condition_mark_consistent(NULL));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_condition_wait_times_out_and_still_holds_the_lock),
        cmocka_unit_test(test_condition_refuses_wait_and_notify_without_the_lock),
        cmocka_unit_test(test_condition_notify_n_wakes_exactly_n_in_fifo_order),
        cmocka_unit_test(test_condition_notify_one_at_a_time_wakes_in_the_order_they_waited),
        cmocka_unit_test(test_condition_notify_all_wakes_every_waiter),
        cmocka_unit_test(test_condition_waiters_that_time_out_leave_the_queue),
        cmocka_unit_test(test_condition_wait_with_rlock_at_depth_three_restores_depth_three),
        cmocka_unit_test(test_condition_with_rlock_refuses_a_thread_that_does_not_own_it),
        cmocka_unit_test(test_condition_uses_a_borrowed_lock_and_leaves_it_alive),
        cmocka_unit_test(test_condition_wait_for_true_predicate_returns_at_once),
        cmocka_unit_test(test_condition_wait_for_false_predicate_times_out_on_one_deadline),
        cmocka_unit_test(test_condition_wait_for_returns_when_another_thread_makes_it_true),
        cmocka_unit_test(test_condition_stress_bounded_buffer_delivers_every_item),
        cmocka_unit_test(test_condition_stress_timeouts_racing_notify_stay_consistent),
        cmocka_unit_test(test_condition_rejects_bad_input),
        cmocka_unit_test(test_condition_process_scope_wakes_a_consumer_in_a_child),
        cmocka_unit_test(test_condition_process_scope_uses_a_given_process_lock_or_rlock),
        cmocka_unit_test(test_condition_named_uses_its_own_lock_for_every_opener),
        cmocka_unit_test(test_condition_waiter_killed_while_waiting_blocks_nobody),
        cmocka_unit_test(test_condition_wait_reports_owner_dead_when_the_lock_holder_died),
        cmocka_unit_test(test_condition_process_scope_rejects_bad_sharing_and_accepts_v1),
    };
    return cmocka_run_group_tests_name("condition", tests, NULL, NULL);
}
