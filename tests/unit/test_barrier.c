/* Barrier: release together, distinct indices, action once per generation,
 * timeouts that break it, abort, reset, reuse, bad input. */
#include <pthread.h>
#include <string.h>

#include "weft_test.h"
#include "weft_fork.h"

/* One waiter on a thread: records what weft_barrier_wait returned. */
struct waiter {
    pthread_t thread;
    weft_barrier *barrier;
    int64_t timeout_ns;
    weft_status status;
    unsigned index;
};

static void *wait_once(void *arg) {
    struct waiter *w = arg;
    w->index = 999;
    weft_status st = weft_barrier_wait(w->barrier, &w->index, w->timeout_ns);
    __atomic_store_n(&w->status, st, __ATOMIC_SEQ_CST);
    return NULL;
}

static void start_waiter(struct waiter *w, weft_barrier *b, int64_t timeout_ns) {
    w->barrier = b;
    w->timeout_ns = timeout_ns;
    w->status = 12345;
    assert_int_equal(pthread_create(&w->thread, NULL, wait_once, w), 0);
}

/* Wait (finitely) until `n` threads block on the barrier. */
static void await_waiting(weft_barrier *b, int n) {
    for (int i = 0; i < 5000 && weft_barrier_n_waiting(b) != n; i++) wt_sleep_ms(1);
    assert_int_equal(weft_barrier_n_waiting(b), n);
}

static void test_barrier_releases_all_parties_with_distinct_indices(void **state) {
    enum { N = 4 };
    weft_barrier *b;
    struct waiter w[N];
    int seen[N] = {0};
    (void)state;
    WT_OK(weft_barrier_create(&b, N, NULL));
    assert_int_equal(weft_barrier_parties(b), N);
    for (int i = 0; i < N; i++) start_waiter(&w[i], b, 5 * WEFT_SEC);
    for (int i = 0; i < N; i++) pthread_join(w[i].thread, NULL);
    for (int i = 0; i < N; i++) {
        WT_OK(w[i].status);
        assert_true(w[i].index < N);
        seen[w[i].index]++;
    }
    for (int i = 0; i < N; i++) assert_int_equal(seen[i], 1);
    assert_int_equal(weft_barrier_n_waiting(b), 0);
    assert_int_equal(weft_barrier_broken(b), 0);
    weft_barrier_destroy(b);
}

static void test_barrier_blocks_until_the_last_party_arrives(void **state) {
    weft_barrier *b;
    struct waiter w;
    unsigned index = 999;
    (void)state;
    WT_OK(weft_barrier_create(&b, 2, NULL));
    start_waiter(&w, b, 5 * WEFT_SEC);
    await_waiting(b, 1);
    wt_sleep_ms(30);
    assert_int_equal(__atomic_load_n(&w.status, __ATOMIC_SEQ_CST), 12345); /* still blocked */
    WT_OK(weft_barrier_wait(b, &index, 5 * WEFT_SEC));
    pthread_join(w.thread, NULL);
    WT_OK(w.status);
    assert_int_equal(index, 1); /* the last to arrive gets parties - 1 */
    assert_int_equal(w.index, 0);
    weft_barrier_destroy(b);
}

struct counting_action {
    int runs;
    int running;      /* actions running right now */
    int max_running;  /* most at once */
    int waiting_seen; /* weft_barrier_n_waiting seen from inside the action */
    int broken_seen;
    int sleep_ms;
    int fail;
    weft_barrier *barrier;
};

static int count_action(void *user_data) {
    struct counting_action *a = user_data;
    int now = __atomic_add_fetch(&a->running, 1, __ATOMIC_SEQ_CST);
    if (now > __atomic_load_n(&a->max_running, __ATOMIC_SEQ_CST))
        __atomic_store_n(&a->max_running, now, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&a->runs, 1, __ATOMIC_SEQ_CST);
    if (a->barrier) {
        __atomic_store_n(&a->waiting_seen, weft_barrier_n_waiting(a->barrier), __ATOMIC_SEQ_CST);
        __atomic_store_n(&a->broken_seen, weft_barrier_broken(a->barrier), __ATOMIC_SEQ_CST);
    }
    if (a->sleep_ms) wt_sleep_ms(a->sleep_ms);
    __atomic_sub_fetch(&a->running, 1, __ATOMIC_SEQ_CST);
    return a->fail;
}

enum { ROUND_THREADS = 3, ROUNDS = 500 };
struct rounds {
    weft_barrier *barrier;
    unsigned index[ROUNDS][ROUND_THREADS];
    int errors;
    int action_runs_seen[ROUNDS][ROUND_THREADS];
    struct counting_action *action;
};
struct round_arg {
    struct rounds *r;
    int id;
};

static void *run_rounds(void *arg) {
    struct round_arg *a = arg;
    for (int i = 0; i < ROUNDS; i++) {
        if (weft_barrier_wait(a->r->barrier, &a->r->index[i][a->id], 10 * WEFT_SEC) != WEFT_OK) {
            __atomic_add_fetch(&a->r->errors, 1, __ATOMIC_RELAXED);
            break;
        }
        a->r->action_runs_seen[i][a->id] = __atomic_load_n(&a->r->action->runs, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

static void test_barrier_is_reusable_and_runs_the_action_once_per_generation(void **state) {
    static struct rounds r;
    struct counting_action act;
    weft_barrier_options opts = WEFT_BARRIER_OPTIONS_INIT;
    struct round_arg args[ROUND_THREADS];
    pthread_t t[ROUND_THREADS];
    (void)state;
    memset(&r, 0, sizeof r);
    memset(&act, 0, sizeof act);
    opts.action = count_action;
    opts.user_data = &act;
    r.action = &act;
    WT_OK(weft_barrier_create(&r.barrier, ROUND_THREADS, &opts));
    for (int i = 0; i < ROUND_THREADS; i++) {
        args[i].r = &r;
        args[i].id = i;
        assert_int_equal(pthread_create(&t[i], NULL, run_rounds, &args[i]), 0);
    }
    for (int i = 0; i < ROUND_THREADS; i++) pthread_join(t[i], NULL);
    assert_int_equal(r.errors, 0);
    assert_int_equal(act.runs, ROUNDS);
    assert_int_equal(act.max_running, 1);
    for (int i = 0; i < ROUNDS; i++) {
        int seen[ROUND_THREADS] = {0};
        for (int j = 0; j < ROUND_THREADS; j++) {
            assert_true(r.index[i][j] < ROUND_THREADS);
            seen[r.index[i][j]]++;
            /* Released only after this generation's action ran. */
            assert_true(r.action_runs_seen[i][j] >= i + 1);
        }
        for (int j = 0; j < ROUND_THREADS; j++) assert_int_equal(seen[j], 1);
    }
    weft_barrier_destroy(r.barrier);
}

static void test_barrier_action_runs_unlocked_and_can_query_the_barrier(void **state) {
    weft_barrier *b;
    struct counting_action act;
    weft_barrier_options opts = WEFT_BARRIER_OPTIONS_INIT;
    struct waiter w[2];
    (void)state;
    memset(&act, 0, sizeof act);
    opts.action = count_action;
    opts.user_data = &act;
    WT_OK(weft_barrier_create(&b, 3, &opts));
    act.barrier = b;
    for (int i = 0; i < 2; i++) start_waiter(&w[i], b, 5 * WEFT_SEC);
    await_waiting(b, 2);
    unsigned index = 999;
    WT_OK(weft_barrier_wait(b, &index, 5 * WEFT_SEC));
    for (int i = 0; i < 2; i++) pthread_join(w[i].thread, NULL);
    for (int i = 0; i < 2; i++) WT_OK(w[i].status);
    assert_int_equal(index, 2);
    assert_int_equal(act.runs, 1);
    assert_int_equal(act.waiting_seen, 2);
    assert_int_equal(act.broken_seen, 0);
    weft_barrier_destroy(b);
}

static void test_barrier_failing_action_breaks_it(void **state) {
    weft_barrier *b;
    struct counting_action act;
    weft_barrier_options opts = WEFT_BARRIER_OPTIONS_INIT;
    struct waiter w;
    (void)state;
    memset(&act, 0, sizeof act);
    act.fail = 7;
    opts.action = count_action;
    opts.user_data = &act;
    WT_OK(weft_barrier_create(&b, 2, &opts));
    start_waiter(&w, b, 5 * WEFT_SEC);
    await_waiting(b, 1);
    WT_EXPECT(WEFT_EFAILED, weft_barrier_wait(b, NULL, 5 * WEFT_SEC));
    assert_non_null(strstr(weft_last_error()->message, "returned 7"));
    pthread_join(w.thread, NULL);
    WT_EXPECT(WEFT_EBROKEN, w.status);
    assert_int_equal(w.index, 999); /* not written on failure */
    assert_int_equal(weft_barrier_broken(b), 1);
    WT_EXPECT(WEFT_EBROKEN, weft_barrier_wait(b, NULL, 5 * WEFT_SEC));
    assert_int_equal(act.runs, 1);
    weft_barrier_destroy(b);
}

static void test_barrier_wait_times_out_and_breaks_it(void **state) {
    weft_barrier *b;
    (void)state;
    WT_OK(weft_barrier_create(&b, 2, NULL));
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_barrier_wait(b, NULL, 50 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 50);
    assert_int_equal(weft_barrier_broken(b), 1);
    assert_int_equal(weft_barrier_n_waiting(b), 0);
    /* Every later caller gets EBROKEN at once, until reset. */
    t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_EBROKEN, weft_barrier_wait(b, NULL, 5 * WEFT_SEC));
    assert_true(wt_ms_since(t0) < 1000);
    WT_OK(weft_barrier_reset(b));
    assert_int_equal(weft_barrier_broken(b), 0);
    weft_barrier_destroy(b);
}

static void test_barrier_poll_breaks_it_unless_last(void **state) {
    weft_barrier *b;
    unsigned index = 999;
    (void)state;
    WT_OK(weft_barrier_create(&b, 2, NULL));
    WT_EXPECT(WEFT_ETIMEDOUT, weft_barrier_wait(b, NULL, 0));
    assert_int_equal(weft_barrier_broken(b), 1);
    WT_OK(weft_barrier_reset(b));
    weft_barrier_destroy(b);

    /* With one party every caller is the last: a poll succeeds. */
    WT_OK(weft_barrier_create(&b, 1, NULL));
    for (int i = 0; i < 3; i++) {
        WT_OK(weft_barrier_wait(b, &index, 0));
        assert_int_equal(index, 0);
    }
    weft_barrier_destroy(b);
}

static void test_barrier_timeout_wakes_the_other_waiters_with_broken(void **state) {
    weft_barrier *b;
    struct waiter w[2];
    (void)state;
    WT_OK(weft_barrier_create(&b, 4, NULL));
    for (int i = 0; i < 2; i++) start_waiter(&w[i], b, 5 * WEFT_SEC);
    await_waiting(b, 2);
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_barrier_wait(b, NULL, 40 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 40);
    for (int i = 0; i < 2; i++) pthread_join(w[i].thread, NULL);
    for (int i = 0; i < 2; i++) WT_EXPECT(WEFT_EBROKEN, w[i].status);
    assert_int_equal(weft_barrier_broken(b), 1);
    weft_barrier_destroy(b);
}

static void test_barrier_abort_wakes_waiters_and_reset_makes_it_usable(void **state) {
    weft_barrier *b;
    struct waiter w[3];
    (void)state;
    WT_OK(weft_barrier_create(&b, 3, NULL));
    for (int i = 0; i < 2; i++) start_waiter(&w[i], b, 5 * WEFT_SEC);
    await_waiting(b, 2);
    WT_OK(weft_barrier_abort(b));
    for (int i = 0; i < 2; i++) pthread_join(w[i].thread, NULL);
    for (int i = 0; i < 2; i++) WT_EXPECT(WEFT_EBROKEN, w[i].status);
    assert_int_equal(weft_barrier_broken(b), 1);
    WT_OK(weft_barrier_abort(b)); /* again: still fine */
    WT_EXPECT(WEFT_EBROKEN, weft_barrier_wait(b, NULL, WEFT_FOREVER));

    WT_OK(weft_barrier_reset(b));
    assert_int_equal(weft_barrier_broken(b), 0);
    for (int i = 0; i < 3; i++) start_waiter(&w[i], b, 5 * WEFT_SEC);
    for (int i = 0; i < 3; i++) pthread_join(w[i].thread, NULL);
    for (int i = 0; i < 3; i++) WT_OK(w[i].status);
    weft_barrier_destroy(b);
}

static void test_barrier_reset_wakes_current_waiters_with_broken(void **state) {
    weft_barrier *b;
    struct waiter w[2];
    (void)state;
    WT_OK(weft_barrier_create(&b, 2, NULL));
    start_waiter(&w[0], b, 5 * WEFT_SEC);
    await_waiting(b, 1);
    WT_OK(weft_barrier_reset(b));
    pthread_join(w[0].thread, NULL);
    WT_EXPECT(WEFT_EBROKEN, w[0].status);
    assert_int_equal(weft_barrier_broken(b), 0);
    assert_int_equal(weft_barrier_n_waiting(b), 0);
    /* The next generation starts empty: two fresh parties pass. */
    for (int i = 0; i < 2; i++) start_waiter(&w[i], b, 5 * WEFT_SEC);
    for (int i = 0; i < 2; i++) pthread_join(w[i].thread, NULL);
    for (int i = 0; i < 2; i++) WT_OK(w[i].status);
    assert_int_equal(w[0].index + w[1].index, 1);
    weft_barrier_destroy(b);
}

static void test_barrier_waiter_timeouts_do_not_apply_while_the_action_runs(void **state) {
    weft_barrier *b;
    struct counting_action act;
    weft_barrier_options opts = WEFT_BARRIER_OPTIONS_INIT;
    struct waiter w;
    (void)state;
    memset(&act, 0, sizeof act);
    act.sleep_ms = 250;
    opts.action = count_action;
    opts.user_data = &act;
    WT_OK(weft_barrier_create(&b, 2, &opts));
    start_waiter(&w, b, 100 * WEFT_MSEC);
    await_waiting(b, 1);
    /* All parties are here; the waiter's 100 ms pass while the action sleeps. */
    WT_OK(weft_barrier_wait(b, NULL, 5 * WEFT_SEC));
    pthread_join(w.thread, NULL);
    WT_OK(w.status);
    assert_int_equal(weft_barrier_broken(b), 0);
    weft_barrier_destroy(b);
}

static void test_barrier_newcomers_wait_for_the_running_action(void **state) {
    weft_barrier *b;
    struct counting_action act;
    weft_barrier_options opts = WEFT_BARRIER_OPTIONS_INIT;
    struct waiter w[3];
    (void)state;
    memset(&act, 0, sizeof act);
    act.sleep_ms = 40;
    opts.action = count_action;
    opts.user_data = &act;
    /* One party: every caller runs its own generation's action. */
    WT_OK(weft_barrier_create(&b, 1, &opts));
    for (int i = 0; i < 3; i++) start_waiter(&w[i], b, 5 * WEFT_SEC);
    for (int i = 0; i < 3; i++) pthread_join(w[i].thread, NULL);
    for (int i = 0; i < 3; i++) {
        WT_OK(w[i].status);
        assert_int_equal(w[i].index, 0);
    }
    assert_int_equal(act.runs, 3);
    assert_int_equal(act.max_running, 1); /* generations never overlap */
    weft_barrier_destroy(b);
}

static void test_barrier_abort_during_the_action_breaks_that_generation(void **state) {
    weft_barrier *b;
    struct counting_action act;
    weft_barrier_options opts = WEFT_BARRIER_OPTIONS_INIT;
    struct waiter w[2];
    (void)state;
    memset(&act, 0, sizeof act);
    act.sleep_ms = 150;
    opts.action = count_action;
    opts.user_data = &act;
    WT_OK(weft_barrier_create(&b, 2, &opts));
    start_waiter(&w[0], b, 5 * WEFT_SEC);
    await_waiting(b, 1);
    start_waiter(&w[1], b, 5 * WEFT_SEC); /* the last: runs the action */
    for (int i = 0; i < 5000 && __atomic_load_n(&act.running, __ATOMIC_SEQ_CST) == 0; i++) wt_sleep_ms(1);
    WT_OK(weft_barrier_abort(b));
    for (int i = 0; i < 2; i++) pthread_join(w[i].thread, NULL);
    WT_EXPECT(WEFT_EBROKEN, w[0].status);
    WT_EXPECT(WEFT_EBROKEN, w[1].status);
    assert_int_equal(weft_barrier_broken(b), 1);
    weft_barrier_destroy(b);
}

static void test_barrier_rejects_bad_input(void **state) {
    weft_barrier *b;
    weft_lock *lock;
    weft_barrier_options bad = WEFT_BARRIER_OPTIONS_INIT;
    (void)state;
    WT_EXPECT(WEFT_EINVAL, weft_barrier_create(NULL, 2, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_barrier_create(&b, 0, NULL));
    assert_null(b);
    assert_non_null(strstr(weft_last_error()->message, "parties"));
    WT_EXPECT(WEFT_EINVAL, weft_barrier_create(&b, 0x80000000u, NULL));
    bad.version = 99;
    WT_EXPECT(WEFT_EINVAL, weft_barrier_create(&b, 2, &bad));
    assert_null(b);

    WT_EXPECT(WEFT_EMISUSE, weft_barrier_wait(NULL, NULL, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_barrier_abort(NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_barrier_reset(NULL));
    assert_int_equal(weft_barrier_parties(NULL), WEFT_EMISUSE);
    assert_int_equal(weft_barrier_n_waiting(NULL), WEFT_EMISUSE);
    assert_int_equal(weft_barrier_broken(NULL), WEFT_EMISUSE);
    weft_barrier_destroy(NULL);

    /* A live handle of another type is refused, not used. */
    WT_OK(weft_lock_create(&lock, NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_barrier_wait((weft_barrier *)lock, NULL, 0));
    assert_int_equal(weft_barrier_parties((weft_barrier *)lock), WEFT_EMISUSE);
    weft_barrier_destroy((weft_barrier *)lock); /* ignored */
    assert_int_equal(weft_lock_locked(lock), 0);
    weft_lock_destroy(lock);

    WT_OK(weft_barrier_create(&b, 2, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_barrier_wait(b, NULL, -2));
    WT_EXPECT(WEFT_EINVAL, weft_barrier_wait(b, NULL, INT64_MIN));
    /* A bad timeout neither joins nor breaks the barrier. */
    assert_int_equal(weft_barrier_n_waiting(b), 0);
    assert_int_equal(weft_barrier_broken(b), 0);
    weft_barrier_destroy(b);
}

/* ---- process scope ------------------------------------------------------ */

static weft_status make_pbarrier(weft_barrier **out, unsigned parties, const char *name, uint32_t flags) {
    weft_barrier_options o = WEFT_BARRIER_OPTIONS_INIT;
    o.share.scope = WEFT_SCOPE_PROCESS;
    o.share.name = name;
    o.share.flags = flags;
    return weft_barrier_create(out, parties, &o);
}

struct pbar {
    weft_barrier *b;
    const char *name;         /* set: the child opens it by name */
    volatile unsigned *seen;  /* shared page: bit per index per round */
};

enum { PB_ROUNDS = 3 };

static int barrier_rounds_child(void *arg) {
    struct pbar *p = arg;
    weft_barrier *b = p->b;
    if (p->name && weft_barrier_open(&b, p->name) != WEFT_OK) return 10;
    for (int r = 0; r < PB_ROUNDS; r++) {
        unsigned idx = 99;
        if (weft_barrier_wait(b, &idx, 5 * WEFT_SEC) != WEFT_OK) return 11;
        if (idx > 2) return 12;
        __atomic_or_fetch(&p->seen[r], 1u << idx, __ATOMIC_RELAXED);
    }
    if (p->name) weft_barrier_destroy(b);
    return 0;
}

static void test_barrier_process_scope_releases_the_parent_and_two_children_together(void **state) {
    struct pbar p;
    pid_t k[2];
    (void)state;
    WT_SKIP_UNDER_TSAN();
    p.seen = wt_shared_page();
    assert_non_null((void *)p.seen);
    p.name = NULL;
    WT_OK(make_pbarrier(&p.b, 3, NULL, 0));
    assert_int_equal(weft_barrier_parties(p.b), 3);
    for (int i = 0; i < 2; i++) k[i] = wt_fork(barrier_rounds_child, &p);
    assert_int_equal(barrier_rounds_child(&p), 0);
    for (int i = 0; i < 2; i++) WT_CHILD_OK(k[i]);
    for (int r = 0; r < PB_ROUNDS; r++) assert_int_equal(p.seen[r], 7u); /* indices 0, 1, 2 each round */
    assert_int_equal(weft_barrier_broken(p.b), 0);
    weft_barrier_destroy(p.b);
    munmap((void *)p.seen, 4096);
}

static void test_barrier_named_is_opened_by_name_in_children(void **state) {
    char name[64], ename[64];
    struct pbar p;
    weft_barrier *b, *c;
    weft_event *e;
    weft_event_options eo = WEFT_EVENT_OPTIONS_INIT;
    pid_t k[2];
    (void)state;
    WT_SKIP_UNDER_TSAN();
    wt_name(name, sizeof name, "barrier-named");
    p.seen = wt_shared_page();
    assert_non_null((void *)p.seen);
    WT_EXPECT(WEFT_ENOENT, weft_barrier_open(&b, name));
    WT_OK(make_pbarrier(&p.b, 3, name, 0));
    WT_EXPECT(WEFT_EEXIST, make_pbarrier(&c, 3, name, 0));
    WT_OK(make_pbarrier(&c, 5, name, WEFT_SHARE_OPEN_EXISTING));
    assert_int_equal(weft_barrier_parties(c), 3); /* the existing one's */
    p.name = name;
    for (int i = 0; i < 2; i++) k[i] = wt_fork(barrier_rounds_child, &p);
    p.name = NULL;
    assert_int_equal(barrier_rounds_child(&p), 0);
    for (int i = 0; i < 2; i++) WT_CHILD_OK(k[i]);
    for (int r = 0; r < PB_ROUNDS; r++) assert_int_equal(p.seen[r], 7u);
    wt_name(ename, sizeof ename, "barrier-named-event");
    eo.share.scope = WEFT_SCOPE_PROCESS;
    eo.share.name = ename;
    WT_OK(weft_event_create(&e, &eo));
    WT_EXPECT(WEFT_EINVAL, weft_barrier_open(&b, ename));
    weft_event_destroy(e);
    weft_barrier_destroy(c);
    weft_barrier_destroy(p.b);
    WT_EXPECT(WEFT_ENOENT, weft_barrier_open(&b, name));
    WT_EXPECT(WEFT_EINVAL, weft_barrier_open(NULL, name));
    WT_EXPECT(WEFT_EINVAL, weft_barrier_open(&b, NULL));
    munmap((void *)p.seen, 4096);
    assert_int_equal(wt_shm_leftovers(), 0);
}

static int expect_broken_child(void *arg) {
    return weft_barrier_wait(arg, NULL, 5 * WEFT_SEC) == WEFT_EBROKEN ? 0 : 20;
}

static int expect_released_child(void *arg) {
    return weft_barrier_wait(arg, NULL, 5 * WEFT_SEC) == WEFT_OK ? 0 : 21;
}

static void test_barrier_abort_wakes_waiters_in_other_processes_and_reset_reuses_it(void **state) {
    weft_barrier *b;
    pid_t k[2];
    (void)state;
    WT_SKIP_UNDER_TSAN();
    WT_OK(make_pbarrier(&b, 3, NULL, 0));
    for (int i = 0; i < 2; i++) k[i] = wt_fork(expect_broken_child, b);
    for (int i = 0; i < 500 && weft_barrier_n_waiting(b) < 2; i++) wt_sleep_ms(2);
    assert_int_equal(weft_barrier_n_waiting(b), 2);
    WT_OK(weft_barrier_abort(b));
    for (int i = 0; i < 2; i++) WT_CHILD_OK(k[i]);
    assert_int_equal(weft_barrier_broken(b), 1);
    WT_EXPECT(WEFT_EBROKEN, weft_barrier_wait(b, NULL, 0));
    WT_OK(weft_barrier_reset(b));
    assert_int_equal(weft_barrier_broken(b), 0);
    for (int i = 0; i < 2; i++) k[i] = wt_fork(expect_released_child, b);
    WT_OK(weft_barrier_wait(b, NULL, 5 * WEFT_SEC));
    for (int i = 0; i < 2; i++) WT_CHILD_OK(k[i]);
    weft_barrier_destroy(b);
}

static int die_before_arriving_child(void *arg) {
    (void)arg;
    for (;;) pause();
    return 0;
}

static void test_barrier_party_that_dies_before_arriving_makes_the_others_time_out(void **state) {
    weft_barrier *b;
    (void)state;
    WT_SKIP_UNDER_TSAN();
    WT_OK(make_pbarrier(&b, 3, NULL, 0));
    pid_t dead = wt_fork(die_before_arriving_child, NULL);
    pid_t waiter = wt_fork(expect_broken_child, b);
    wt_kill(dead);
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_barrier_wait(b, NULL, 100 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 100);
    WT_CHILD_OK(waiter); /* broken by our timeout */
    assert_int_equal(weft_barrier_broken(b), 1);
    weft_barrier_destroy(b);
}

static int count_shared_action(void *user_data) {
    __atomic_add_fetch((volatile unsigned *)user_data, 1, __ATOMIC_RELAXED);
    return 0;
}

static int two_rounds_child(void *arg) {
    for (int r = 0; r < 2; r++)
        if (weft_barrier_wait(arg, NULL, 5 * WEFT_SEC) != WEFT_OK) return 30;
    return 0;
}

static void test_barrier_process_scope_runs_the_action_once_per_generation(void **state) {
    weft_barrier *b;
    weft_barrier_options o = WEFT_BARRIER_OPTIONS_INIT;
    volatile unsigned *runs = wt_shared_page();
    pid_t k[2];
    char name[64];
    (void)state;
    WT_SKIP_UNDER_TSAN();
    assert_non_null((void *)runs);
    o.action = count_shared_action;
    o.user_data = (void *)runs;
    o.share.scope = WEFT_SCOPE_PROCESS;
    WT_OK(weft_barrier_create(&b, 3, &o));
    for (int i = 0; i < 2; i++) k[i] = wt_fork(two_rounds_child, b);
    assert_int_equal(two_rounds_child(b), 0);
    for (int i = 0; i < 2; i++) WT_CHILD_OK(k[i]);
    assert_int_equal(*runs, 2u);
    weft_barrier_destroy(b);
    /* A named barrier cannot carry a function pointer to its openers. */
    o.share.name = wt_name(name, sizeof name, "barrier-action");
    WT_EXPECT(WEFT_EINVAL, weft_barrier_create(&b, 3, &o));
    assert_null(b);
    munmap((void *)runs, 4096);
    assert_int_equal(wt_shm_leftovers(), 0);
}

static void test_barrier_process_scope_rejects_bad_sharing_and_accepts_v1(void **state) {
    weft_barrier *b = (weft_barrier *)1;
    weft_barrier_options o = WEFT_BARRIER_OPTIONS_INIT;
    (void)state;
    o.share.scope = 9;
    WT_EXPECT(WEFT_EINVAL, weft_barrier_create(&b, 2, &o));
    assert_null(b);
    o.share.scope = WEFT_SCOPE_PROCESS;
    o.share.name = "x/y";
    WT_EXPECT(WEFT_EINVAL, weft_barrier_create(&b, 2, &o));
    o.version = 1;
    WT_OK(weft_barrier_create(&b, 1, &o));
    WT_OK(weft_barrier_wait(b, NULL, 0));
    weft_barrier_destroy(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_barrier_releases_all_parties_with_distinct_indices),
        cmocka_unit_test(test_barrier_blocks_until_the_last_party_arrives),
        cmocka_unit_test(test_barrier_is_reusable_and_runs_the_action_once_per_generation),
        cmocka_unit_test(test_barrier_action_runs_unlocked_and_can_query_the_barrier),
        cmocka_unit_test(test_barrier_failing_action_breaks_it),
        cmocka_unit_test(test_barrier_wait_times_out_and_breaks_it),
        cmocka_unit_test(test_barrier_poll_breaks_it_unless_last),
        cmocka_unit_test(test_barrier_timeout_wakes_the_other_waiters_with_broken),
        cmocka_unit_test(test_barrier_abort_wakes_waiters_and_reset_makes_it_usable),
        cmocka_unit_test(test_barrier_reset_wakes_current_waiters_with_broken),
        cmocka_unit_test(test_barrier_waiter_timeouts_do_not_apply_while_the_action_runs),
        cmocka_unit_test(test_barrier_newcomers_wait_for_the_running_action),
        cmocka_unit_test(test_barrier_abort_during_the_action_breaks_that_generation),
        cmocka_unit_test(test_barrier_rejects_bad_input),
        cmocka_unit_test(test_barrier_process_scope_releases_the_parent_and_two_children_together),
        cmocka_unit_test(test_barrier_named_is_opened_by_name_in_children),
        cmocka_unit_test(test_barrier_abort_wakes_waiters_in_other_processes_and_reset_reuses_it),
        cmocka_unit_test(test_barrier_party_that_dies_before_arriving_makes_the_others_time_out),
        cmocka_unit_test(test_barrier_process_scope_runs_the_action_once_per_generation),
        cmocka_unit_test(test_barrier_process_scope_rejects_bad_sharing_and_accepts_v1),
    };
    return cmocka_run_group_tests_name("barrier", tests, NULL, NULL);
}
