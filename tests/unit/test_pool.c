/* Thread pool: submit/execute/apply/apply_async/map, failures reaching
 * futures and error callbacks, backpressure, shutdown/close/join/terminate
 * with nothing lost, resize, statistics, nesting, bad input. */
#include <string.h>

#include "weft_test.h"

#define ARG(n) ((void *)(intptr_t)(n))
#define NUM(p) ((int)(intptr_t)(p))

static weft_pool *make(int workers, size_t max_queued) {
    weft_pool_options o = WEFT_POOL_OPTIONS_INIT;
    weft_pool *p = NULL;
    o.workers = workers;
    o.max_queued = max_queued;
    WT_OK(weft_pool_create(&p, &o));
    return p;
}

static void *square(void *arg) { return ARG(NUM(arg) * NUM(arg)); }

static void *fail_on_odd(void *arg) {
    if (NUM(arg) % 2) weft_task_fail(WEFT_EFAILED, "odd input");
    return arg;
}

static void *sleep_ms(void *arg) {
    wt_sleep_ms(NUM(arg));
    return arg;
}

static void test_pool_submit_gives_a_future_with_the_result(void **state) {
    weft_pool *p = make(2, 0);
    weft_future *f;
    void *r = NULL;
    (void)state;
    WT_OK(weft_pool_submit(p, square, ARG(7), &f, WEFT_FOREVER));
    WT_OK(weft_future_result(f, &r, 5 * WEFT_SEC));
    assert_int_equal(NUM(r), 49);
    assert_int_equal(weft_future_get_state(f), WEFT_FUTURE_DONE);
    weft_future_destroy(f);
    weft_pool_destroy(p);
}

static int executed;
static void *count_it(void *arg) {
    (void)arg;
    __atomic_add_fetch(&executed, 1, __ATOMIC_RELAXED);
    return NULL;
}

static void test_pool_execute_runs_every_task_before_shutdown_returns(void **state) {
    weft_pool *p = make(3, 0);
    weft_pool_stats st;
    (void)state;
    executed = 0;
    for (int i = 0; i < 20000; i++) WT_OK(weft_pool_execute(p, count_it, NULL, WEFT_FOREVER));
    WT_OK(weft_pool_shutdown(p, 1, 0));
    assert_int_equal(executed, 20000);
    WT_OK(weft_pool_stats_get(p, &st));
    assert_int_equal(st.completed, 20000);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.workers, 0);
    weft_pool_destroy(p);
}

static void test_pool_apply_waits_and_reports_a_failure(void **state) {
    weft_pool *p = make(2, 0);
    void *r = NULL;
    (void)state;
    WT_OK(weft_pool_apply(p, square, ARG(9), &r));
    assert_int_equal(NUM(r), 81);
    WT_EXPECT(WEFT_EFAILED, weft_pool_apply(p, fail_on_odd, ARG(3), &r));
    assert_non_null(strstr(weft_last_error()->message, "odd input"));
    assert_null(r);
    weft_pool_destroy(p);
}

struct seen {
    int results[8];
    int errors;
    int calls;
    weft_status last_code;
    char last_message[64];
};

static void on_result(void *result, void *user_data) {
    struct seen *s = user_data;
    int v = NUM(result);
    __atomic_add_fetch(&s->results[v % 8], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&s->calls, 1, __ATOMIC_RELAXED);
}

static void on_error(weft_status code, const char *message, void *user_data) {
    struct seen *s = user_data;
    s->last_code = code;
    snprintf(s->last_message, sizeof s->last_message, "%s", message);
    __atomic_add_fetch(&s->errors, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&s->calls, 1, __ATOMIC_RELAXED);
}

static void test_pool_of_five_runs_eight_jobs_with_a_callback_each(void **state) {
    weft_pool *p = make(5, 0);
    struct seen s;
    (void)state;
    memset(&s, 0, sizeof s);
    for (int i = 0; i < 8; i++) WT_OK(weft_pool_apply_async(p, sleep_ms, ARG(i), NULL, WEFT_FOREVER, on_result, on_error, &s));
    WT_OK(weft_pool_close(p));
    WT_OK(weft_pool_join(p, 10 * WEFT_SEC));
    assert_int_equal(s.calls, 8);
    assert_int_equal(s.errors, 0);
    for (int i = 0; i < 8; i++) assert_int_equal(s.results[i], 1);
    weft_pool_destroy(p);
}

static void test_pool_failing_task_reaches_its_future_and_error_callback(void **state) {
    weft_pool *p = make(2, 0);
    struct seen s;
    weft_future *f;
    weft_status code;
    const char *msg;
    void *r;
    (void)state;
    memset(&s, 0, sizeof s);
    WT_OK(weft_pool_apply_async(p, fail_on_odd, ARG(5), &f, WEFT_FOREVER, on_result, on_error, &s));
    WT_EXPECT(WEFT_EFAILED, weft_future_result(f, &r, 5 * WEFT_SEC));
    WT_OK(weft_future_error(f, &code, &msg));
    assert_int_equal(code, WEFT_EFAILED);
    assert_string_equal(msg, "odd input");
    WT_OK(weft_pool_shutdown(p, 1, 0)); /* the callback has run by now */
    assert_int_equal(s.errors, 1);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.last_code, WEFT_EFAILED);
    assert_string_equal(s.last_message, "odd input");
    weft_future_destroy(f);
    weft_pool_destroy(p);
}

static void test_pool_map_keeps_argument_order_for_any_chunk_size(void **state) {
    enum { N = 1000 };
    static void *args[N], *results[N];
    static const size_t chunks[] = {0, 1, 7, 1000, 5000};
    weft_pool *p = make(3, 0);
    (void)state;
    for (int i = 0; i < N; i++) args[i] = ARG(i);
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        memset(results, 0, sizeof results);
        WT_OK(weft_pool_map(p, square, args, N, results, chunks[c], 10 * WEFT_SEC));
        for (int i = 0; i < N; i++) assert_int_equal(NUM(results[i]), i * i);
    }
    WT_OK(weft_pool_map(p, square, NULL, 0, NULL, 0, 0)); /* nothing to do */
    weft_pool_destroy(p);
}

static void test_pool_map_reports_the_first_failure_and_keeps_other_results(void **state) {
    enum { N = 10 };
    void *args[N], *results[N];
    weft_pool *p = make(2, 0);
    (void)state;
    for (int i = 0; i < N; i++) args[i] = ARG(i + 2); /* 2,3,4,... odd ones fail */
    WT_EXPECT(WEFT_EFAILED, weft_pool_map(p, fail_on_odd, args, N, results, 3, 10 * WEFT_SEC));
    assert_non_null(strstr(weft_last_error()->message, "call 1"));
    for (int i = 0; i < N; i++) {
        if ((i + 2) % 2)
            assert_null(results[i]);
        else
            assert_int_equal(NUM(results[i]), i + 2);
    }
    weft_pool_destroy(p);
}

struct unordered {
    int calls[100];
    int bad;
};
static void collect(size_t index, void *result, weft_status code, void *user_data) {
    struct unordered *u = user_data;
    if (index >= 100 || code != WEFT_OK || NUM(result) != (int)(index * index)) u->bad++;
    else u->calls[index]++;
}

static void test_pool_map_unordered_reports_each_result_once(void **state) {
    void *args[100];
    struct unordered u;
    weft_pool *p = make(3, 0);
    (void)state;
    memset(&u, 0, sizeof u);
    for (int i = 0; i < 100; i++) args[i] = ARG(i);
    WT_OK(weft_pool_map_unordered(p, square, args, 100, 4, 10 * WEFT_SEC, collect, &u));
    assert_int_equal(u.bad, 0);
    for (int i = 0; i < 100; i++) assert_int_equal(u.calls[i], 1);
    weft_pool_destroy(p);
}

static void test_pool_map_times_out_and_cancels_what_has_not_started(void **state) {
    enum { N = 20 };
    void *args[N], *results[N];
    weft_pool *p = make(1, 0);
    (void)state;
    for (int i = 0; i < N; i++) args[i] = ARG(30);
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_pool_map(p, sleep_ms, args, N, results, 1, 50 * WEFT_MSEC));
    assert_true(wt_ms_since(t0) < 2000); /* not the 600 ms that all would take... nor hung */
    assert_null(results[N - 1]);
    weft_pool_destroy(p);
}

static weft_lock *gate;
static void *wait_at_gate(void *arg) {
    weft_lock_acquire(gate, 10 * WEFT_SEC);
    weft_lock_release(gate);
    return arg;
}

static void test_pool_bounded_queue_makes_submit_wait_then_time_out(void **state) {
    weft_pool *p = make(1, 2);
    weft_future *f[3];
    void *r;
    (void)state;
    WT_OK(weft_lock_create(&gate, NULL));
    WT_OK(weft_lock_acquire(gate, 0));
    WT_OK(weft_pool_submit(p, wait_at_gate, ARG(1), &f[0], WEFT_FOREVER));
    wt_sleep_ms(30); /* the worker takes task 1 and blocks */
    WT_OK(weft_pool_submit(p, wait_at_gate, ARG(2), &f[1], 0));
    WT_OK(weft_pool_submit(p, wait_at_gate, ARG(3), &f[2], 0));
    weft_future *extra = ARG(1);
    WT_EXPECT(WEFT_ETIMEDOUT, weft_pool_execute(p, count_it, NULL, 0));
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_pool_submit(p, count_it, NULL, &extra, 40 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 40);
    assert_null(extra);
    WT_OK(weft_lock_release(gate));
    for (int i = 0; i < 3; i++) {
        WT_OK(weft_future_result(f[i], &r, 5 * WEFT_SEC));
        assert_int_equal(NUM(r), i + 1);
        weft_future_destroy(f[i]);
    }
    weft_pool_destroy(p);
    weft_lock_destroy(gate);
}

static void test_pool_shutdown_cancel_pending_loses_nothing(void **state) {
    enum { N = 50 };
    weft_pool *p = make(1, 0);
    weft_future *f[N];
    struct seen s;
    int done = 0, cancelled = 0;
    weft_pool_stats st;
    (void)state;
    memset(&s, 0, sizeof s);
    WT_OK(weft_lock_create(&gate, NULL));
    WT_OK(weft_lock_acquire(gate, 0));
    for (int i = 0; i < N; i++)
        WT_OK(weft_pool_apply_async(p, wait_at_gate, ARG(i), &f[i], WEFT_FOREVER, NULL, on_error, &s));
    wt_sleep_ms(30);
    WT_OK(weft_pool_shutdown(p, 0, 1));
    WT_EXPECT(WEFT_ECLOSED, weft_pool_execute(p, count_it, NULL, 0));
    WT_OK(weft_lock_release(gate));
    WT_OK(weft_pool_join(p, 5 * WEFT_SEC));
    for (int i = 0; i < N; i++) {
        int st_i = weft_future_get_state(f[i]);
        if (st_i == WEFT_FUTURE_DONE) done++;
        else if (st_i == WEFT_FUTURE_CANCELLED) cancelled++;
        weft_future_destroy(f[i]);
    }
    assert_int_equal(done + cancelled, N);
    assert_true(done >= 1);
    assert_true(cancelled >= N - 2);
    assert_int_equal(s.errors, cancelled); /* each cancelled task's error callback ran once */
    assert_int_equal(s.last_code, WEFT_ECANCELLED);
    WT_OK(weft_pool_stats_get(p, &st));
    assert_int_equal(st.cancelled, cancelled);
    weft_pool_destroy(p);
    weft_lock_destroy(gate);
}

static void test_pool_join_needs_close_first(void **state) {
    weft_pool *p = make(1, 0);
    (void)state;
    WT_EXPECT(WEFT_ESTATE, weft_pool_join(p, 0));
    WT_OK(weft_pool_close(p));
    WT_EXPECT(WEFT_ECLOSED, weft_pool_execute(p, count_it, NULL, 0));
    WT_EXPECT(WEFT_ECLOSED, weft_pool_resize(p, 3));
    WT_OK(weft_pool_join(p, 5 * WEFT_SEC));
    weft_pool_destroy(p);
}

static void *until_cancelled(void *arg) {
    int64_t t0 = weft_monotonic_ns();
    while (!weft_task_cancel_requested()) {
        if (weft_monotonic_ns() - t0 > 5 * WEFT_SEC) return ARG(0);
        wt_sleep_ms(1);
    }
    (void)arg;
    return ARG(1);
}

static void test_pool_terminate_cancels_queued_and_asks_running_to_stop(void **state) {
    weft_pool *p = make(1, 0);
    weft_future *running, *queued;
    void *r = NULL;
    (void)state;
    WT_OK(weft_pool_submit(p, until_cancelled, NULL, &running, WEFT_FOREVER));
    WT_OK(weft_pool_submit(p, square, ARG(2), &queued, WEFT_FOREVER));
    wt_sleep_ms(30);
    WT_OK(weft_pool_terminate(p));
    WT_OK(weft_pool_join(p, 5 * WEFT_SEC));
    WT_OK(weft_future_result(running, &r, 0));
    assert_int_equal(NUM(r), 1); /* it saw the request */
    WT_EXPECT(WEFT_ECANCELLED, weft_future_result(queued, &r, 0));
    weft_future_destroy(running);
    weft_future_destroy(queued);
    weft_pool_destroy(p);
}

static void test_pool_resizes_at_run_time(void **state) {
    weft_pool *p = make(1, 0);
    weft_pool_stats st;
    (void)state;
    WT_OK(weft_pool_stats_get(p, &st));
    assert_int_equal(st.workers, 1);
    WT_OK(weft_pool_resize(p, 4));
    WT_OK(weft_pool_stats_get(p, &st));
    assert_int_equal(st.workers, 4);
    WT_OK(weft_pool_resize(p, 2));
    for (int i = 0; i < 200; i++) { /* extra workers leave when they wake */
        WT_OK(weft_pool_stats_get(p, &st));
        if (st.workers == 2) break;
        wt_sleep_ms(5);
    }
    assert_int_equal(st.workers, 2);
    void *r;
    WT_OK(weft_pool_apply(p, square, ARG(4), &r));
    assert_int_equal(NUM(r), 16);
    WT_EXPECT(WEFT_EINVAL, weft_pool_resize(p, 0));
    weft_pool_destroy(p);
}

static int initialized;
static void init_worker(void *user_data) {
    (void)user_data;
    __atomic_add_fetch(&initialized, 1, __ATOMIC_RELAXED);
}
static void *my_name(void *arg) {
    (void)arg;
    return (void *)weft_thread_name(weft_thread_current());
}

static void test_pool_runs_the_initializer_in_each_named_worker(void **state) {
    weft_pool_options o = WEFT_POOL_OPTIONS_INIT;
    weft_pool *p;
    void *name;
    (void)state;
    initialized = 0;
    o.workers = 3;
    o.name_prefix = "crawler";
    o.initializer = init_worker;
    WT_OK(weft_pool_create(&p, &o));
    WT_OK(weft_pool_apply(p, my_name, NULL, &name));
    assert_true(strncmp(name, "crawler-", 8) == 0);
    weft_pool_destroy(p);
    assert_int_equal(initialized, 3);
}

static weft_pool *outer;

static void *submit_to_own_pool_and_wait(void *arg) {
    weft_future *f;
    void *r = NULL;
    if (weft_pool_submit(outer, square, arg, &f, WEFT_FOREVER) != WEFT_OK) return ARG(-1);
    if (weft_future_result(f, &r, 10 * WEFT_SEC) != WEFT_OK) r = ARG(-2);
    weft_future_destroy(f);
    return r;
}

static void *apply_in_own_pool(void *arg) {
    void *r = NULL;
    return weft_pool_apply(outer, square, arg, &r) == WEFT_OK ? r : ARG(-1);
}

static void *map_in_own_pool(void *arg) {
    void *args[4] = {ARG(1), ARG(2), ARG(3), ARG(4)}, *res[4];
    (void)arg;
    if (weft_pool_map(outer, square, args, 4, res, 1, 10 * WEFT_SEC) != WEFT_OK) return ARG(-1);
    return ARG(NUM(res[0]) + NUM(res[1]) + NUM(res[2]) + NUM(res[3]));
}

static void *pool_inside_a_task(void *arg) {
    weft_pool *inner;
    void *r = NULL;
    weft_pool_options o = WEFT_POOL_OPTIONS_INIT;
    o.workers = 2;
    if (weft_pool_create(&inner, &o) != WEFT_OK) return ARG(-1);
    if (weft_pool_apply(inner, square, arg, &r) != WEFT_OK) r = ARG(-2);
    weft_pool_destroy(inner);
    return r;
}

static void *shutdown_own_pool_and_wait(void *arg) {
    (void)arg;
    return ARG(weft_pool_shutdown(outer, 1, 0));
}

static void test_pool_tasks_that_wait_on_their_own_pool_do_not_deadlock(void **state) {
    void *r;
    (void)state;
    outer = make(1, 0); /* one worker: waiting without helping would hang */
    WT_OK(weft_pool_apply(outer, submit_to_own_pool_and_wait, ARG(6), &r));
    assert_int_equal(NUM(r), 36);
    WT_OK(weft_pool_apply(outer, apply_in_own_pool, ARG(5), &r));
    assert_int_equal(NUM(r), 25);
    WT_OK(weft_pool_apply(outer, map_in_own_pool, NULL, &r));
    assert_int_equal(NUM(r), 1 + 4 + 9 + 16);
    WT_OK(weft_pool_apply(outer, pool_inside_a_task, ARG(8), &r));
    assert_int_equal(NUM(r), 64);
    WT_OK(weft_pool_apply(outer, shutdown_own_pool_and_wait, NULL, &r));
    assert_int_equal(NUM(r), WEFT_EDEADLK);
    weft_pool_destroy(outer);
}

static weft_event *go;
static void *wait_for_go(void *arg) {
    (void)arg;
    return ARG(weft_event_wait(go, 5 * WEFT_SEC) == WEFT_OK ? 1 : 0);
}
static void *set_go(void *arg) {
    (void)arg;
    weft_event_set(go);
    return NULL;
}

/* A task blocked on something a later task does: the later one must reach the
 * other worker even when it was queued while that worker was parked or
 * spinning (no submit may be stranded behind a running task). */
static void test_pool_task_queued_behind_a_blocked_task_still_runs(void **state) {
    enum { ROUNDS = 20, QUICK = 50 };
    weft_pool *p = make(2, 0);
    (void)state;
    for (int r = 0; r < ROUNDS; r++) {
        weft_future *blocked, *setter, *quick[QUICK];
        void *v = NULL;
        WT_OK(weft_event_create(&go, NULL));
        wt_sleep_ms(r % 3); /* let the workers park, or not */
        WT_OK(weft_pool_submit(p, wait_for_go, NULL, &blocked, WEFT_FOREVER));
        for (int i = 0; i < QUICK; i++) WT_OK(weft_pool_submit(p, square, ARG(i), &quick[i], WEFT_FOREVER));
        WT_OK(weft_pool_submit(p, set_go, NULL, &setter, WEFT_FOREVER));
        WT_OK(weft_future_result(blocked, &v, 10 * WEFT_SEC));
        assert_int_equal(NUM(v), 1);
        for (int i = 0; i < QUICK; i++) {
            WT_OK(weft_future_result(quick[i], &v, 10 * WEFT_SEC));
            assert_int_equal(NUM(v), i * i);
            weft_future_destroy(quick[i]);
        }
        WT_OK(weft_future_wait(setter, 10 * WEFT_SEC));
        weft_future_destroy(blocked);
        weft_future_destroy(setter);
        weft_event_destroy(go);
    }
    weft_pool_destroy(p);
}

/* Many submitters and many short tasks through a small pool: every task runs
 * once and the statistics add up. */
struct burst {
    weft_pool *pool;
    int n;
    weft_status st;
};
static int burst_count;
static void *bump_burst(void *arg) {
    (void)arg;
    __atomic_add_fetch(&burst_count, 1, __ATOMIC_RELAXED);
    return NULL;
}
static void *submit_burst(void *arg) {
    struct burst *b = arg;
    for (int i = 0; i < b->n && b->st == WEFT_OK; i++) b->st = weft_pool_execute(b->pool, bump_burst, NULL, WEFT_FOREVER);
    return NULL;
}
static void test_pool_many_submitters_lose_no_task(void **state) {
    enum { SUBMITTERS = 4, N = 20000 };
    weft_pool *p = make(3, 0);
    weft_thread *t[SUBMITTERS];
    struct burst b[SUBMITTERS];
    weft_pool_stats st;
    (void)state;
    burst_count = 0;
    for (int i = 0; i < SUBMITTERS; i++) {
        b[i].pool = p;
        b[i].n = N;
        b[i].st = WEFT_OK;
        WT_OK(weft_thread_spawn(&t[i], submit_burst, &b[i], NULL));
    }
    for (int i = 0; i < SUBMITTERS; i++) {
        WT_OK(weft_thread_join(t[i], NULL, 30 * WEFT_SEC));
        weft_thread_destroy(t[i]);
        assert_int_equal(b[i].st, WEFT_OK);
    }
    WT_OK(weft_pool_shutdown(p, 1, 0));
    assert_int_equal(__atomic_load_n(&burst_count, __ATOMIC_RELAXED), SUBMITTERS * N);
    WT_OK(weft_pool_stats_get(p, &st));
    assert_int_equal(st.completed, SUBMITTERS * N);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.running, 0);
    weft_pool_destroy(p);
}

static void test_pool_rejects_bad_input(void **state) {
    weft_pool_options o = WEFT_POOL_OPTIONS_INIT;
    weft_pool *p = ARG(1);
    weft_future *f;
    void *args[1] = {NULL};
    weft_pool_stats st;
    (void)state;
    WT_EXPECT(WEFT_EINVAL, weft_pool_create(NULL, NULL));
    o.version = 0;
    WT_EXPECT(WEFT_EINVAL, weft_pool_create(&p, &o));
    assert_null(p);
    o.version = WEFT_POOL_OPTIONS_VERSION;
    o.workers = -1;
    WT_EXPECT(WEFT_EINVAL, weft_pool_create(&p, &o));
    WT_EXPECT(WEFT_EMISUSE, weft_pool_submit(NULL, square, NULL, &f, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_pool_execute(NULL, square, NULL, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_pool_shutdown(NULL, 0, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_pool_stats_get(NULL, &st));
    weft_pool_destroy(NULL);

    p = make(1, 0);
    WT_EXPECT(WEFT_EINVAL, weft_pool_submit(p, NULL, NULL, &f, 0));
    WT_EXPECT(WEFT_EINVAL, weft_pool_submit(p, square, NULL, NULL, 0));
    WT_EXPECT(WEFT_EINVAL, weft_pool_submit(p, square, NULL, &f, -2));
    WT_EXPECT(WEFT_EINVAL, weft_pool_execute(p, square, NULL, -2));
    WT_EXPECT(WEFT_EINVAL, weft_pool_map(p, square, NULL, 1, args, 0, 0));
    WT_EXPECT(WEFT_EINVAL, weft_pool_map(p, square, args, 1, NULL, 0, 0));
    WT_EXPECT(WEFT_EINVAL, weft_pool_map_unordered(p, square, args, 1, 0, 0, NULL, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_pool_stats_get(p, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_pool_join(p, -5));
    weft_pool_destroy(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_submit_gives_a_future_with_the_result),
        cmocka_unit_test(test_pool_execute_runs_every_task_before_shutdown_returns),
        cmocka_unit_test(test_pool_apply_waits_and_reports_a_failure),
        cmocka_unit_test(test_pool_of_five_runs_eight_jobs_with_a_callback_each),
        cmocka_unit_test(test_pool_failing_task_reaches_its_future_and_error_callback),
        cmocka_unit_test(test_pool_map_keeps_argument_order_for_any_chunk_size),
        cmocka_unit_test(test_pool_map_reports_the_first_failure_and_keeps_other_results),
        cmocka_unit_test(test_pool_map_unordered_reports_each_result_once),
        cmocka_unit_test(test_pool_map_times_out_and_cancels_what_has_not_started),
        cmocka_unit_test(test_pool_bounded_queue_makes_submit_wait_then_time_out),
        cmocka_unit_test(test_pool_shutdown_cancel_pending_loses_nothing),
        cmocka_unit_test(test_pool_join_needs_close_first),
        cmocka_unit_test(test_pool_terminate_cancels_queued_and_asks_running_to_stop),
        cmocka_unit_test(test_pool_resizes_at_run_time),
        cmocka_unit_test(test_pool_runs_the_initializer_in_each_named_worker),
        cmocka_unit_test(test_pool_tasks_that_wait_on_their_own_pool_do_not_deadlock),
        cmocka_unit_test(test_pool_task_queued_behind_a_blocked_task_still_runs),
        cmocka_unit_test(test_pool_many_submitters_lose_no_task),
        cmocka_unit_test(test_pool_rejects_bad_input),
    };
    return cmocka_run_group_tests_name("pool", tests, NULL, NULL);
}
