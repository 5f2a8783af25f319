/* Future: states and every transition, results and errors, timeouts,
 * cancellation, done callbacks, wait_many, as_completed, references, races
 * and bad input. (TaskScope is C++ and is covered by the pool's tests; here
 * the weft_task_* functions are checked outside a task.) */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "weft_test.h"

/* ---- helpers ------------------------------------------------------------ */

static int freed; /* values freed by count_free, read with atomics */

static void count_free(void *p) {
    (void)p;
    __atomic_add_fetch(&freed, 1, __ATOMIC_SEQ_CST);
}

static int freed_now(void) { return __atomic_load_n(&freed, __ATOMIC_SEQ_CST); }

static int setup(void **state) {
    (void)state;
    __atomic_store_n(&freed, 0, __ATOMIC_SEQ_CST);
    return 0;
}

enum finish_how { FINISH_RESULT, FINISH_ERROR, FINISH_CANCEL, FINISH_RUN_THEN_RESULT };

/* Finishes a future from another thread after a delay. */
struct finisher {
    pthread_t thread;
    weft_future *f;
    int delay_ms;
    enum finish_how how;
    void *value;
    weft_status rc;
};

static void *finish_later(void *arg) {
    struct finisher *w = arg;
    if (w->delay_ms > 0) wt_sleep_ms(w->delay_ms);
    switch (w->how) {
    case FINISH_RESULT: w->rc = weft_future_set_result(w->f, w->value, NULL); break;
    case FINISH_ERROR: w->rc = weft_future_set_error(w->f, WEFT_EFAILED, "boom"); break;
    case FINISH_CANCEL: w->rc = weft_future_cancel(w->f); break;
    case FINISH_RUN_THEN_RESULT:
        w->rc = weft_future_set_running(w->f);
        if (w->rc == WEFT_OK) w->rc = weft_future_set_result(w->f, w->value, NULL);
        break;
    }
    return NULL;
}

static void start_finisher(struct finisher *w, weft_future *f, int delay_ms, enum finish_how how, void *value) {
    w->f = f;
    w->delay_ms = delay_ms;
    w->how = how;
    w->value = value;
    w->rc = 1;
    assert_int_equal(pthread_create(&w->thread, NULL, finish_later, w), 0);
}

static void join_finisher(struct finisher *w) {
    assert_int_equal(pthread_join(w->thread, NULL), 0);
    assert_int_equal(w->rc, WEFT_OK);
}

/* Threads released together to race one operation each: each arrives and
 * spins (yielding: the machine may have fewer cores than racers) until all
 * `parties` have arrived. The test thread only joins. */
struct race {
    int ready;
    int parties;
};

static void race_arrive(struct race *r) {
    __atomic_add_fetch(&r->ready, 1, __ATOMIC_SEQ_CST);
    for (int spins = 0; __atomic_load_n(&r->ready, __ATOMIC_SEQ_CST) < r->parties; spins++)
        if (spins > 50) sched_yield();
}

/* ---- states and transitions --------------------------------------------- */

static void test_future_starts_pending_and_unfinished(void **state) {
    weft_future *f;
    void *v = &v;
    weft_status code;
    const char *msg;
    (void)state;
    WT_OK(weft_future_create(&f));
    assert_int_equal(weft_future_get_state(f), WEFT_FUTURE_PENDING);
    assert_int_equal(weft_future_done(f), 0);
    assert_int_equal(weft_future_cancel_requested(f), 0);
    WT_EXPECT(WEFT_ETIMEDOUT, weft_future_wait(f, 0));
    WT_EXPECT(WEFT_ETIMEDOUT, weft_future_result(f, &v, 0));
    assert_null(v);
    WT_EXPECT(WEFT_ESTATE, weft_future_error(f, &code, &msg));
    weft_future_destroy(f);
}

static void test_future_set_running_moves_pending_to_running_once(void **state) {
    weft_future *f;
    (void)state;
    WT_OK(weft_future_create(&f));
    WT_OK(weft_future_set_running(f));
    assert_int_equal(weft_future_get_state(f), WEFT_FUTURE_RUNNING);
    assert_int_equal(weft_future_done(f), 0);
    WT_EXPECT(WEFT_ESTATE, weft_future_set_running(f));
    assert_int_equal(weft_future_get_state(f), WEFT_FUTURE_RUNNING);
    weft_future_destroy(f);
}

static void test_future_set_result_finishes_a_running_or_pending_future(void **state) {
    weft_future *running, *pending;
    int a = 1, b = 2;
    void *v = NULL;
    (void)state;
    WT_OK(weft_future_create(&running));
    WT_OK(weft_future_create(&pending));
    WT_OK(weft_future_set_running(running));
    WT_OK(weft_future_set_result(running, &a, NULL));
    WT_OK(weft_future_set_result(pending, &b, NULL));
    assert_int_equal(weft_future_get_state(running), WEFT_FUTURE_DONE);
    assert_int_equal(weft_future_get_state(pending), WEFT_FUTURE_DONE);
    assert_int_equal(weft_future_done(running), 1);
    WT_OK(weft_future_result(running, &v, 0));
    assert_ptr_equal(v, &a);
    WT_OK(weft_future_result(pending, &v, WEFT_FOREVER)); /* finished: returns at once */
    assert_ptr_equal(v, &b);
    WT_OK(weft_future_wait(pending, WEFT_FOREVER));
    weft_future_destroy(running);
    weft_future_destroy(pending);
}

static void test_future_set_error_finishes_a_running_or_pending_future(void **state) {
    weft_future *running, *pending;
    (void)state;
    WT_OK(weft_future_create(&running));
    WT_OK(weft_future_create(&pending));
    WT_OK(weft_future_set_running(running));
    WT_OK(weft_future_set_error(running, WEFT_EFAILED, "r"));
    WT_OK(weft_future_set_error(pending, -1234, NULL));
    assert_int_equal(weft_future_get_state(running), WEFT_FUTURE_FAILED);
    assert_int_equal(weft_future_get_state(pending), WEFT_FUTURE_FAILED);
    assert_int_equal(weft_future_done(pending), 1);
    weft_future_destroy(running);
    weft_future_destroy(pending);
}

static void test_future_second_set_result_is_refused_and_the_caller_keeps_its_value(void **state) {
    weft_future *f;
    int a = 1, b = 2;
    void *v;
    (void)state;
    WT_OK(weft_future_create(&f));
    WT_OK(weft_future_set_result(f, &a, count_free));
    WT_EXPECT(WEFT_ESTATE, weft_future_set_result(f, &b, count_free));
    WT_EXPECT(WEFT_ESTATE, weft_future_set_error(f, WEFT_EFAILED, "late"));
    assert_int_equal(freed_now(), 0); /* neither value freed yet */
    WT_OK(weft_future_result(f, &v, 0));
    assert_ptr_equal(v, &a);
    weft_future_destroy(f);
    assert_int_equal(freed_now(), 1); /* only the first, at the last destroy */
}

static void check_final_is_final(weft_future *f, int st) {
    assert_int_equal(weft_future_get_state(f), st);
    WT_EXPECT(st == WEFT_FUTURE_CANCELLED ? WEFT_ECANCELLED : WEFT_ESTATE, weft_future_set_running(f));
    WT_EXPECT(WEFT_ESTATE, weft_future_set_result(f, NULL, count_free));
    WT_EXPECT(WEFT_ESTATE, weft_future_set_error(f, WEFT_EFAILED, "x"));
    WT_EXPECT(st == WEFT_FUTURE_CANCELLED ? WEFT_OK : WEFT_ESTATE, weft_future_cancel(f));
    assert_int_equal(weft_future_get_state(f), st);
    assert_int_equal(weft_future_done(f), 1);
}

static void test_future_never_leaves_a_final_state(void **state) {
    weft_future *done, *failed, *cancelled;
    int a = 7;
    (void)state;
    WT_OK(weft_future_create(&done));
    WT_OK(weft_future_create(&failed));
    WT_OK(weft_future_create(&cancelled));
    WT_OK(weft_future_set_result(done, &a, NULL));
    WT_OK(weft_future_set_error(failed, WEFT_EFAILED, "f"));
    WT_OK(weft_future_cancel(cancelled));
    check_final_is_final(done, WEFT_FUTURE_DONE);
    check_final_is_final(failed, WEFT_FUTURE_FAILED);
    check_final_is_final(cancelled, WEFT_FUTURE_CANCELLED);
    assert_int_equal(freed_now(), 0); /* refused values stay the caller's */
    weft_future_destroy(done);
    weft_future_destroy(failed);
    weft_future_destroy(cancelled);
    assert_int_equal(freed_now(), 0);
}

static void test_future_set_error_requires_a_negative_code(void **state) {
    weft_future *f;
    (void)state;
    WT_OK(weft_future_create(&f));
    WT_EXPECT(WEFT_EINVAL, weft_future_set_error(f, 0, "zero"));
    WT_EXPECT(WEFT_EINVAL, weft_future_set_error(f, 5, "positive"));
    assert_int_equal(weft_future_get_state(f), WEFT_FUTURE_PENDING);
    weft_future_destroy(f);
}

/* ---- results and errors -------------------------------------------------- */

static void test_future_result_of_a_failed_future_gives_its_code_and_message(void **state) {
    weft_future *f;
    char msg[32];
    void *v = &v;
    weft_status code = 0;
    const char *m = NULL;
    (void)state;
    strcpy(msg, "disk full");
    WT_OK(weft_future_create(&f));
    WT_OK(weft_future_set_running(f));
    WT_OK(weft_future_set_error(f, -1000, msg));
    strcpy(msg, "overwritten"); /* the future kept its own copy */
    weft_clear_error();
    assert_int_equal(weft_future_result(f, &v, 0), -1000);
    assert_null(v);
    assert_int_equal(weft_last_error()->code, -1000);
    assert_string_equal(weft_last_error()->message, "disk full");
    WT_OK(weft_future_error(f, &code, &m));
    assert_int_equal(code, -1000);
    assert_string_equal(m, "disk full");
    WT_EXPECT(WEFT_OK, weft_future_wait(f, 0));
    weft_future_destroy(f);
}

static void test_future_failed_without_message_has_an_empty_one(void **state) {
    weft_future *f;
    void *v;
    weft_status code = 0;
    const char *m = NULL;
    (void)state;
    WT_OK(weft_future_create(&f));
    WT_OK(weft_future_set_error(f, WEFT_EFAILED, NULL));
    WT_OK(weft_future_error(f, &code, &m));
    assert_int_equal(code, WEFT_EFAILED);
    assert_string_equal(m, "");
    WT_EXPECT(WEFT_EFAILED, weft_future_result(f, &v, 0));
    assert_true(strlen(weft_last_error()->message) > 0); /* a generic one naming the code */
    assert_non_null(strstr(weft_last_error()->message, "WEFT_EFAILED"));
    weft_future_destroy(f);
}

static void test_future_result_waits_for_another_thread(void **state) {
    weft_future *f;
    struct finisher w;
    int a = 42;
    void *v = NULL;
    (void)state;
    WT_OK(weft_future_create(&f));
    int64_t t0 = weft_monotonic_ns();
    start_finisher(&w, f, 40, FINISH_RUN_THEN_RESULT, &a);
    WT_OK(weft_future_result(f, &v, 5 * WEFT_SEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 40);
    assert_ptr_equal(v, &a);
    join_finisher(&w);
    weft_future_destroy(f);
}

static void test_future_result_times_out_when_never_finished(void **state) {
    weft_future *f;
    void *v = &v;
    (void)state;
    WT_OK(weft_future_create(&f));
    WT_OK(weft_future_set_running(f));
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_future_result(f, &v, 50 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 50);
    assert_null(v);
    t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_future_wait(f, 30 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 30);
    weft_future_destroy(f);
}

enum { WAITERS = 4 };
struct waiter_arg {
    weft_future *f;
    weft_status rc;
    void *value;
};

static void *wait_result(void *arg) {
    struct waiter_arg *a = arg;
    a->rc = weft_future_result(a->f, &a->value, 5 * WEFT_SEC);
    return NULL;
}

static void test_future_set_result_wakes_every_waiter(void **state) {
    weft_future *f;
    pthread_t t[WAITERS];
    struct waiter_arg a[WAITERS];
    int x = 3;
    (void)state;
    WT_OK(weft_future_create(&f));
    for (int i = 0; i < WAITERS; i++) {
        a[i].f = f;
        a[i].rc = 1;
        a[i].value = NULL;
        assert_int_equal(pthread_create(&t[i], NULL, wait_result, &a[i]), 0);
    }
    wt_sleep_ms(30); /* let them sleep */
    WT_OK(weft_future_set_result(f, &x, NULL));
    for (int i = 0; i < WAITERS; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < WAITERS; i++) {
        assert_int_equal(a[i].rc, WEFT_OK);
        assert_ptr_equal(a[i].value, &x);
    }
    weft_future_destroy(f);
}

static void test_future_set_error_wakes_a_waiter_with_the_code(void **state) {
    weft_future *f;
    pthread_t t;
    struct waiter_arg a = {NULL, 1, NULL};
    (void)state;
    WT_OK(weft_future_create(&f));
    a.f = f;
    assert_int_equal(pthread_create(&t, NULL, wait_result, &a), 0);
    wt_sleep_ms(20);
    WT_OK(weft_future_set_error(f, -77, "bad input"));
    pthread_join(t, NULL);
    assert_int_equal(a.rc, -77);
    weft_future_destroy(f);
}

/* ---- cancellation -------------------------------------------------------- */

static void test_future_cancel_of_a_pending_future_cancels_it(void **state) {
    weft_future *f;
    int a = 1;
    void *v = &v;
    (void)state;
    WT_OK(weft_future_create(&f));
    WT_OK(weft_future_cancel(f));
    assert_int_equal(weft_future_get_state(f), WEFT_FUTURE_CANCELLED);
    assert_int_equal(weft_future_cancel_requested(f), 1);
    assert_int_equal(weft_future_done(f), 1);
    WT_EXPECT(WEFT_ECANCELLED, weft_future_result(f, &v, 0));
    assert_null(v);
    WT_OK(weft_future_wait(f, 0));
    WT_EXPECT(WEFT_ECANCELLED, weft_future_set_running(f)); /* the worker skips the task */
    WT_EXPECT(WEFT_ESTATE, weft_future_set_result(f, &a, count_free));
    WT_OK(weft_future_cancel(f)); /* again: fine */
    weft_future_destroy(f);
    assert_int_equal(freed_now(), 0);
}

/* The request stays visible after the task ends, failed or done, and the
 * error it ends with is kept whole. */
static void test_future_cancel_request_outlives_the_end_of_the_task(void **state) {
    weft_future *f;
    weft_status code = WEFT_OK;
    const char *msg = NULL;
    void *v = &code;
    (void)state;
    WT_OK(weft_future_create(&f));
    WT_OK(weft_future_set_running(f));
    WT_EXPECT(WEFT_EBUSY, weft_future_cancel(f));
    WT_OK(weft_future_set_error(f, WEFT_EFAILED, "stopped on request"));
    assert_int_equal(weft_future_get_state(f), WEFT_FUTURE_FAILED);
    assert_int_equal(weft_future_cancel_requested(f), 1);
    WT_OK(weft_future_error(f, &code, &msg));
    assert_int_equal(code, WEFT_EFAILED);
    assert_string_equal(msg, "stopped on request");
    WT_EXPECT(WEFT_EFAILED, weft_future_result(f, &v, 0));
    assert_null(v);
    WT_EXPECT(WEFT_ESTATE, weft_future_set_result(f, NULL, NULL));
    weft_future_destroy(f);
}

static void test_future_cancel_of_a_running_future_only_requests_it(void **state) {
    weft_future *f;
    int a = 1;
    void *v = NULL;
    (void)state;
    WT_OK(weft_future_create(&f));
    WT_OK(weft_future_set_running(f));
    assert_int_equal(weft_future_cancel_requested(f), 0);
    WT_EXPECT(WEFT_EBUSY, weft_future_cancel(f));
    assert_int_equal(weft_future_cancel_requested(f), 1);
    assert_int_equal(weft_future_get_state(f), WEFT_FUTURE_RUNNING);
    WT_OK(weft_future_set_result(f, &a, NULL)); /* the task finishes anyway */
    WT_OK(weft_future_result(f, &v, 0));
    assert_ptr_equal(v, &a);
    WT_EXPECT(WEFT_ESTATE, weft_future_cancel(f));
    weft_future_destroy(f);
}

static void test_future_cancel_of_a_finished_future_is_refused(void **state) {
    weft_future *done, *failed;
    (void)state;
    WT_OK(weft_future_create(&done));
    WT_OK(weft_future_create(&failed));
    WT_OK(weft_future_set_result(done, NULL, NULL));
    WT_OK(weft_future_set_error(failed, WEFT_EFAILED, NULL));
    WT_EXPECT(WEFT_ESTATE, weft_future_cancel(done));
    WT_EXPECT(WEFT_ESTATE, weft_future_cancel(failed));
    assert_int_equal(weft_future_cancel_requested(done), 0);
    assert_int_equal(weft_future_cancel_requested(failed), 0);
    assert_int_equal(weft_future_get_state(done), WEFT_FUTURE_DONE);
    weft_future_destroy(done);
    weft_future_destroy(failed);
}

static void test_future_cancel_wakes_a_waiter(void **state) {
    weft_future *f;
    pthread_t t;
    struct waiter_arg a = {NULL, 1, NULL};
    (void)state;
    WT_OK(weft_future_create(&f));
    a.f = f;
    assert_int_equal(pthread_create(&t, NULL, wait_result, &a), 0);
    wt_sleep_ms(20);
    WT_OK(weft_future_cancel(f));
    pthread_join(t, NULL);
    assert_int_equal(a.rc, WEFT_ECANCELLED);
    weft_future_destroy(f);
}

/* ---- races: exactly one winner ----------------------------------------- */

enum { RACE_ROUNDS = 2000 };

struct race_arg {
    struct race *r;
    weft_future *f;
    int op; /* 0 set_running, 1 cancel, 2 set_result, 3 set_error */
    int value;
    weft_status rc;
};

static void *race_op(void *arg) {
    struct race_arg *a = arg;
    race_arrive(a->r);
    switch (a->op) {
    case 0: a->rc = weft_future_set_running(a->f); break;
    case 1: a->rc = weft_future_cancel(a->f); break;
    case 2: a->rc = weft_future_set_result(a->f, &a->value, count_free); break;
    default: a->rc = weft_future_set_error(a->f, WEFT_EFAILED, "lost"); break;
    }
    return NULL;
}

/* Race ops x and y on fresh futures; counts[i][j] tallies (x's rc, y's rc). */
static void run_race(int x, int y, weft_status *rx, weft_status *ry, int *final_state) {
    struct race_arg a, b;
    pthread_t ta, tb;
    weft_future *f;
    WT_OK(weft_future_create(&f));
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.f = b.f = f;
    a.op = x;
    b.op = y;
    struct race r = {0, 2};
    a.r = b.r = &r;
    assert_int_equal(pthread_create(&ta, NULL, race_op, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, race_op, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    *rx = a.rc;
    *ry = b.rc;
    *final_state = weft_future_get_state(f);
    weft_future_destroy(f);
}

static void test_future_cancel_and_set_running_race_has_one_winner(void **state) {
    int cancelled = 0, ran = 0;
    (void)state;
    for (int i = 0; i < RACE_ROUNDS / 4; i++) {
        weft_status rr, rc;
        int st;
        run_race(0, 1, &rr, &rc, &st);
        if (rr == WEFT_OK) {
            assert_int_equal(rc, WEFT_EBUSY);
            assert_int_equal(st, WEFT_FUTURE_RUNNING);
            ran++;
        } else {
            assert_int_equal(rr, WEFT_ECANCELLED);
            assert_int_equal(rc, WEFT_OK);
            assert_int_equal(st, WEFT_FUTURE_CANCELLED);
            cancelled++;
        }
    }
    assert_int_equal(cancelled + ran, RACE_ROUNDS / 4);
}

static void test_future_two_set_results_race_has_one_winner(void **state) {
    (void)state;
    for (int i = 0; i < RACE_ROUNDS / 4; i++) {
        weft_status r1, r2;
        int st;
        __atomic_store_n(&freed, 0, __ATOMIC_SEQ_CST);
        run_race(2, 2, &r1, &r2, &st);
        assert_int_equal(st, WEFT_FUTURE_DONE);
        assert_true((r1 == WEFT_OK && r2 == WEFT_ESTATE) || (r1 == WEFT_ESTATE && r2 == WEFT_OK));
        assert_int_equal(freed_now(), 1); /* only the winner's value, once */
    }
}

static void test_future_cancel_and_set_result_race_has_one_winner(void **state) {
    (void)state;
    for (int i = 0; i < RACE_ROUNDS / 4; i++) {
        weft_status rc, rr;
        int st;
        __atomic_store_n(&freed, 0, __ATOMIC_SEQ_CST);
        run_race(1, 2, &rc, &rr, &st);
        if (rc == WEFT_OK) {
            assert_int_equal(rr, WEFT_ESTATE);
            assert_int_equal(st, WEFT_FUTURE_CANCELLED);
            assert_int_equal(freed_now(), 0);
        } else {
            assert_int_equal(rc, WEFT_ESTATE);
            assert_int_equal(rr, WEFT_OK);
            assert_int_equal(st, WEFT_FUTURE_DONE);
            assert_int_equal(freed_now(), 1);
        }
    }
}

static void test_future_set_result_and_set_error_race_has_one_winner(void **state) {
    (void)state;
    for (int i = 0; i < RACE_ROUNDS / 4; i++) {
        weft_status rr, re;
        int st;
        run_race(2, 3, &rr, &re, &st);
        if (rr == WEFT_OK) {
            assert_int_equal(re, WEFT_ESTATE);
            assert_int_equal(st, WEFT_FUTURE_DONE);
        } else {
            assert_int_equal(re, WEFT_OK);
            assert_int_equal(rr, WEFT_ESTATE);
            assert_int_equal(st, WEFT_FUTURE_FAILED);
        }
    }
}

/* ---- done callbacks ---------------------------------------------------- */

struct cb_log {
    int calls;
    int order[8];
    int n;
    pthread_t thread;
    int state_seen;
    void *value_seen;
};

static struct cb_log *g_log;

static void record_cb(weft_future *f, void *ud) {
    void *v = NULL;
    g_log->calls++;
    if (g_log->n < 8) g_log->order[g_log->n++] = (int)(intptr_t)ud;
    g_log->thread = pthread_self();
    g_log->state_seen = weft_future_get_state(f);
    if (weft_future_result(f, &v, 0) == WEFT_OK) g_log->value_seen = v;
}

static void test_future_callback_added_before_runs_once_in_the_finishing_thread(void **state) {
    weft_future *f;
    struct cb_log log;
    struct finisher w;
    int a = 5;
    (void)state;
    memset(&log, 0, sizeof log);
    g_log = &log;
    WT_OK(weft_future_create(&f));
    WT_OK(weft_future_add_done_callback(f, record_cb, (void *)(intptr_t)1));
    assert_int_equal(log.calls, 0);
    start_finisher(&w, f, 0, FINISH_RUN_THEN_RESULT, &a);
    join_finisher(&w);
    assert_int_equal(log.calls, 1);
    assert_true(pthread_equal(log.thread, w.thread));
    assert_int_equal(log.state_seen, WEFT_FUTURE_DONE);
    assert_ptr_equal(log.value_seen, &a);
    weft_future_destroy(f);
    assert_int_equal(log.calls, 1);
}

static void test_future_callback_added_after_finish_runs_at_once_in_the_caller(void **state) {
    weft_future *f;
    struct cb_log log;
    (void)state;
    memset(&log, 0, sizeof log);
    g_log = &log;
    WT_OK(weft_future_create(&f));
    WT_OK(weft_future_set_error(f, WEFT_EFAILED, "x"));
    WT_OK(weft_future_add_done_callback(f, record_cb, (void *)(intptr_t)9));
    assert_int_equal(log.calls, 1);
    assert_true(pthread_equal(log.thread, pthread_self()));
    assert_int_equal(log.state_seen, WEFT_FUTURE_FAILED);
    weft_future_destroy(f);
    assert_int_equal(log.calls, 1);
}

static void test_future_callbacks_run_in_the_order_added(void **state) {
    weft_future *f;
    struct cb_log log;
    (void)state;
    memset(&log, 0, sizeof log);
    g_log = &log;
    WT_OK(weft_future_create(&f));
    for (int i = 0; i < 5; i++) WT_OK(weft_future_add_done_callback(f, record_cb, (void *)(intptr_t)i));
    WT_OK(weft_future_set_result(f, NULL, NULL));
    WT_OK(weft_future_add_done_callback(f, record_cb, (void *)(intptr_t)5));
    assert_int_equal(log.calls, 6);
    for (int i = 0; i < 6; i++) assert_int_equal(log.order[i], i);
    weft_future_destroy(f);
}

static void test_future_callbacks_run_when_cancelled_in_the_cancelling_thread(void **state) {
    weft_future *f;
    struct cb_log log;
    (void)state;
    memset(&log, 0, sizeof log);
    g_log = &log;
    WT_OK(weft_future_create(&f));
    WT_OK(weft_future_add_done_callback(f, record_cb, NULL));
    WT_OK(weft_future_add_done_callback(f, record_cb, NULL));
    WT_OK(weft_future_cancel(f));
    assert_int_equal(log.calls, 2);
    assert_true(pthread_equal(log.thread, pthread_self()));
    assert_int_equal(log.state_seen, WEFT_FUTURE_CANCELLED);
    WT_OK(weft_future_cancel(f)); /* no second run */
    weft_future_destroy(f);
    assert_int_equal(log.calls, 2);
}

static void test_future_callbacks_of_an_unfinished_future_run_at_its_last_destroy(void **state) {
    weft_future *f;
    struct cb_log log;
    (void)state;
    memset(&log, 0, sizeof log);
    g_log = &log;
    WT_OK(weft_future_create(&f));
    WT_OK(weft_future_retain(f));
    WT_OK(weft_future_add_done_callback(f, record_cb, NULL));
    WT_OK(weft_future_add_done_callback(f, record_cb, NULL)); /* second one is allocated */
    weft_future_destroy(f);
    assert_int_equal(log.calls, 0); /* one reference left */
    weft_future_destroy(f);
    assert_int_equal(log.calls, 2);
    assert_int_equal(log.state_seen, WEFT_FUTURE_CANCELLED);
}

static void count_cb(weft_future *f, void *ud) {
    (void)f;
    __atomic_add_fetch((int *)ud, 1, __ATOMIC_SEQ_CST);
}

static void reentrant_cb(weft_future *f, void *ud) {
    /* A callback may use the future: it is finished, nothing blocks. */
    void *v;
    if (weft_future_result(f, &v, WEFT_FOREVER) == WEFT_OK &&
        weft_future_add_done_callback(f, count_cb, ud) == WEFT_OK)
        __atomic_add_fetch((int *)ud, 10, __ATOMIC_SEQ_CST);
}

static void test_future_callback_may_use_its_future(void **state) {
    weft_future *f;
    int n = 0;
    (void)state;
    WT_OK(weft_future_create(&f));
    WT_OK(weft_future_add_done_callback(f, reentrant_cb, &n));
    WT_OK(weft_future_set_result(f, NULL, NULL));
    assert_int_equal(n, 11);
    weft_future_destroy(f);
}

enum { CB_ROUNDS = 300, CB_ADDERS = 2, CB_PER_ADDER = 20 };

struct adder_arg {
    struct race *r;
    weft_future *f;
    int *count;
    int failures;
};

static void *add_callbacks(void *arg) {
    struct adder_arg *a = arg;
    race_arrive(a->r);
    for (int i = 0; i < CB_PER_ADDER; i++)
        if (weft_future_add_done_callback(a->f, count_cb, a->count) != WEFT_OK) a->failures++;
    return NULL;
}

static void *finish_racing(void *arg) {
    struct adder_arg *a = arg;
    race_arrive(a->r);
    if (weft_future_set_result(a->f, NULL, NULL) != WEFT_OK) a->failures++;
    return NULL;
}

static void test_future_callbacks_added_while_finishing_run_exactly_once(void **state) {
    int wrong = 0, failures = 0;
    (void)state;
    for (int round = 0; round < CB_ROUNDS; round++) {
        weft_future *f;
        int count = 0;
        struct race r = {0, CB_ADDERS + 1};
        struct adder_arg a[CB_ADDERS + 1];
        pthread_t t[CB_ADDERS + 1];
        WT_OK(weft_future_create(&f));
        for (int i = 0; i <= CB_ADDERS; i++) {
            a[i].r = &r;
            a[i].f = f;
            a[i].count = &count;
            a[i].failures = 0;
            assert_int_equal(pthread_create(&t[i], NULL, i == CB_ADDERS ? finish_racing : add_callbacks, &a[i]), 0);
        }
        for (int i = 0; i <= CB_ADDERS; i++) {
            pthread_join(t[i], NULL);
            failures += a[i].failures;
        }
        if (__atomic_load_n(&count, __ATOMIC_SEQ_CST) != CB_ADDERS * CB_PER_ADDER) wrong++;
        weft_future_destroy(f);
        if (__atomic_load_n(&count, __ATOMIC_SEQ_CST) != CB_ADDERS * CB_PER_ADDER) wrong++;
    }
    assert_int_equal(failures, 0);
    assert_int_equal(wrong, 0);
}

/* ---- wait_many ---------------------------------------------------------- */

static void make_futures(weft_future **fs, size_t n) {
    for (size_t i = 0; i < n; i++) WT_OK(weft_future_create(&fs[i]));
}

static void destroy_futures(weft_future **fs, size_t n) {
    for (size_t i = 0; i < n; i++) weft_future_destroy(fs[i]);
}

static void test_future_wait_many_first_completed_returns_when_one_finishes(void **state) {
    weft_future *fs[3];
    struct finisher w;
    size_t n_done = 99;
    (void)state;
    make_futures(fs, 3);
    WT_EXPECT(WEFT_ETIMEDOUT, weft_future_wait_many(fs, 3, WEFT_WAIT_FIRST_COMPLETED, 0, &n_done));
    assert_int_equal(n_done, 0);
    int64_t t0 = weft_monotonic_ns();
    start_finisher(&w, fs[1], 40, FINISH_RESULT, NULL);
    WT_OK(weft_future_wait_many(fs, 3, WEFT_WAIT_FIRST_COMPLETED, 5 * WEFT_SEC, &n_done));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 40);
    assert_int_equal(n_done, 1);
    join_finisher(&w);
    WT_OK(weft_future_wait_many(fs, 3, WEFT_WAIT_FIRST_COMPLETED, 0, NULL)); /* one is done: at once */
    destroy_futures(fs, 3);
}

static void test_future_wait_many_all_completed_waits_for_every_one(void **state) {
    weft_future *fs[3];
    struct finisher w[3];
    size_t n_done = 0;
    (void)state;
    make_futures(fs, 3);
    int64_t t0 = weft_monotonic_ns();
    for (int i = 0; i < 3; i++) start_finisher(&w[i], fs[i], 10 * (i + 1), i == 1 ? FINISH_ERROR : FINISH_RESULT, NULL);
    WT_OK(weft_future_wait_many(fs, 3, WEFT_WAIT_ALL_COMPLETED, 5 * WEFT_SEC, &n_done));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 30);
    assert_int_equal(n_done, 3);
    for (int i = 0; i < 3; i++) join_finisher(&w[i]);
    destroy_futures(fs, 3);
}

static void test_future_wait_many_all_completed_times_out_when_one_never_finishes(void **state) {
    weft_future *fs[3];
    size_t n_done = 0;
    (void)state;
    make_futures(fs, 3);
    WT_OK(weft_future_set_result(fs[0], NULL, NULL));
    WT_OK(weft_future_cancel(fs[2]));
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_future_wait_many(fs, 3, WEFT_WAIT_ALL_COMPLETED, 50 * WEFT_MSEC, &n_done));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 50);
    assert_int_equal(n_done, 2);
    /* the waiter nodes are gone: finishing now touches nothing of the wait */
    WT_OK(weft_future_set_result(fs[1], NULL, NULL));
    WT_OK(weft_future_wait_many(fs, 3, WEFT_WAIT_ALL_COMPLETED, 0, &n_done));
    assert_int_equal(n_done, 3);
    destroy_futures(fs, 3);
}

static void test_future_wait_many_first_exception_returns_at_the_first_failure(void **state) {
    weft_future *fs[3];
    struct finisher w;
    size_t n_done = 0;
    (void)state;
    make_futures(fs, 3);
    WT_OK(weft_future_set_result(fs[0], NULL, NULL));
    int64_t t0 = weft_monotonic_ns();
    start_finisher(&w, fs[2], 40, FINISH_ERROR, NULL);
    WT_OK(weft_future_wait_many(fs, 3, WEFT_WAIT_FIRST_EXCEPTION, 5 * WEFT_SEC, &n_done));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 40);
    assert_int_equal(n_done, 2);
    join_finisher(&w);
    /* a failure that happened before the call returns at once */
    WT_OK(weft_future_wait_many(fs, 3, WEFT_WAIT_FIRST_EXCEPTION, 0, &n_done));
    destroy_futures(fs, 3);
}

static void test_future_wait_many_first_exception_does_not_count_a_cancel_as_an_exception(void **state) {
    weft_future *fs[2];
    struct finisher w;
    size_t n_done = 0;
    (void)state;
    make_futures(fs, 2);
    WT_OK(weft_future_cancel(fs[0]));
    WT_EXPECT(WEFT_ETIMEDOUT, weft_future_wait_many(fs, 2, WEFT_WAIT_FIRST_EXCEPTION, 30 * WEFT_MSEC, &n_done));
    assert_int_equal(n_done, 1);
    /* FIRST_COMPLETED does count it */
    WT_OK(weft_future_wait_many(fs, 2, WEFT_WAIT_FIRST_COMPLETED, 0, &n_done));
    /* with no failure at all, FIRST_EXCEPTION returns once all are done */
    int64_t t0 = weft_monotonic_ns();
    start_finisher(&w, fs[1], 30, FINISH_RESULT, NULL);
    WT_OK(weft_future_wait_many(fs, 2, WEFT_WAIT_FIRST_EXCEPTION, 5 * WEFT_SEC, &n_done));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 30);
    assert_int_equal(n_done, 2);
    join_finisher(&w);
    destroy_futures(fs, 2);
}

enum { MANY = 40 };

static void test_future_wait_many_handles_more_futures_than_fit_on_the_stack(void **state) {
    weft_future *fs[MANY];
    struct finisher w[4];
    size_t n_done = 0;
    (void)state;
    make_futures(fs, MANY - 1);
    /* the same future twice is allowed */
    fs[MANY - 1] = fs[0];
    WT_OK(weft_future_retain(fs[0]));
    for (int i = 0; i < MANY - 1; i++)
        if (i % 10 != 0) WT_OK(weft_future_set_result(fs[i], NULL, NULL));
    for (int i = 0; i < 4; i++) start_finisher(&w[i], fs[i * 10], 10 + 5 * i, FINISH_RESULT, NULL);
    WT_OK(weft_future_wait_many(fs, MANY, WEFT_WAIT_ALL_COMPLETED, 5 * WEFT_SEC, &n_done));
    assert_int_equal(n_done, MANY);
    for (int i = 0; i < 4; i++) join_finisher(&w[i]);
    destroy_futures(fs, MANY);
}

static void test_future_wait_many_with_no_futures_returns_at_once(void **state) {
    size_t n_done = 7;
    (void)state;
    WT_OK(weft_future_wait_many(NULL, 0, WEFT_WAIT_ALL_COMPLETED, WEFT_FOREVER, &n_done));
    assert_int_equal(n_done, 0);
    WT_OK(weft_future_wait_many(NULL, 0, WEFT_WAIT_FIRST_COMPLETED, 0, NULL));
}

enum { WM_ROUNDS = 200, WM_N = 4 };

static void test_future_wait_many_survives_finishers_racing_timeouts(void **state) {
    int bad = 0;
    (void)state;
    for (int round = 0; round < WM_ROUNDS; round++) {
        weft_future *fs[WM_N];
        struct finisher w[WM_N];
        make_futures(fs, WM_N);
        for (int i = 0; i < WM_N; i++) start_finisher(&w[i], fs[i], i % 2, FINISH_RESULT, NULL);
        /* a short wait that often times out while the finishers notify it */
        weft_status s = weft_future_wait_many(fs, WM_N, WEFT_WAIT_ALL_COMPLETED, (round % 3) * 100 * WEFT_USEC, NULL);
        if (s != WEFT_OK && s != WEFT_ETIMEDOUT) bad++;
        s = weft_future_wait_many(fs, WM_N, round % 2 ? WEFT_WAIT_FIRST_COMPLETED : WEFT_WAIT_ALL_COMPLETED,
                                  5 * WEFT_SEC, NULL);
        if (s != WEFT_OK) bad++;
        for (int i = 0; i < WM_N; i++) join_finisher(&w[i]);
        WT_OK(weft_future_wait_many(fs, WM_N, WEFT_WAIT_ALL_COMPLETED, 5 * WEFT_SEC, NULL));
        destroy_futures(fs, WM_N);
    }
    assert_int_equal(bad, 0);
}

static void test_future_wait_many_rejects_bad_input(void **state) {
    weft_future *fs[2];
    weft_lock *lock;
    size_t n_done;
    (void)state;
    make_futures(fs, 2);
    WT_OK(weft_lock_create(&lock, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_future_wait_many(fs, 2, 3, 0, &n_done));
    WT_EXPECT(WEFT_EINVAL, weft_future_wait_many(fs, 2, -1, 0, &n_done));
    WT_EXPECT(WEFT_EINVAL, weft_future_wait_many(fs, 2, WEFT_WAIT_ALL_COMPLETED, -2, &n_done));
    WT_EXPECT(WEFT_EINVAL, weft_future_wait_many(NULL, 2, WEFT_WAIT_ALL_COMPLETED, 0, &n_done));
    weft_future *with_null[2] = {fs[0], NULL};
    WT_EXPECT(WEFT_EMISUSE, weft_future_wait_many(with_null, 2, WEFT_WAIT_ALL_COMPLETED, 0, &n_done));
    weft_future *wrong[2] = {fs[0], (weft_future *)lock};
    WT_EXPECT(WEFT_EMISUSE, weft_future_wait_many(wrong, 2, WEFT_WAIT_ALL_COMPLETED, 0, &n_done));
    weft_lock_destroy(lock);
    destroy_futures(fs, 2);
}

/* ---- as_completed ------------------------------------------------------- */

static void test_future_as_completed_yields_finished_first_then_in_completion_order(void **state) {
    weft_future *fs[4];
    weft_as_completed *it;
    weft_future *got;
    struct finisher w[2];
    (void)state;
    make_futures(fs, 4);
    WT_OK(weft_future_set_result(fs[2], NULL, NULL));
    WT_OK(weft_future_set_error(fs[0], WEFT_EFAILED, NULL));
    WT_OK(weft_as_completed_create(&it, fs, 4));
    start_finisher(&w[0], fs[3], 20, FINISH_RESULT, NULL);
    start_finisher(&w[1], fs[1], 80, FINISH_CANCEL, NULL);
    WT_OK(weft_as_completed_next(it, &got, 5 * WEFT_SEC));
    assert_ptr_equal(got, fs[0]);
    WT_OK(weft_as_completed_next(it, &got, 5 * WEFT_SEC));
    assert_ptr_equal(got, fs[2]);
    WT_OK(weft_as_completed_next(it, &got, 5 * WEFT_SEC));
    assert_ptr_equal(got, fs[3]);
    WT_OK(weft_as_completed_next(it, &got, 5 * WEFT_SEC));
    assert_ptr_equal(got, fs[1]);
    WT_EXPECT(WEFT_ECLOSED, weft_as_completed_next(it, &got, 5 * WEFT_SEC));
    assert_null(got);
    WT_EXPECT(WEFT_ECLOSED, weft_as_completed_next(it, &got, 0));
    for (int i = 0; i < 2; i++) join_finisher(&w[i]);
    weft_as_completed_destroy(it);
    destroy_futures(fs, 4);
}

static void test_future_as_completed_next_times_out(void **state) {
    weft_future *f;
    weft_as_completed *it;
    weft_future *got = NULL;
    (void)state;
    WT_OK(weft_future_create(&f));
    WT_OK(weft_as_completed_create(&it, &f, 1));
    WT_EXPECT(WEFT_ETIMEDOUT, weft_as_completed_next(it, &got, 0));
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_as_completed_next(it, &got, 40 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 40);
    assert_null(got);
    WT_OK(weft_future_set_result(f, NULL, NULL));
    WT_OK(weft_as_completed_next(it, &got, 0));
    assert_ptr_equal(got, f);
    WT_EXPECT(WEFT_ECLOSED, weft_as_completed_next(it, &got, 0));
    weft_as_completed_destroy(it);
    weft_future_destroy(f);
}

static void test_future_as_completed_holds_its_own_references(void **state) {
    weft_future *fs[2];
    weft_as_completed *it;
    weft_future *got;
    int a = 1, b = 2;
    void *v;
    (void)state;
    make_futures(fs, 2);
    WT_OK(weft_as_completed_create(&it, fs, 2));
    WT_OK(weft_future_set_result(fs[1], &b, count_free));
    WT_OK(weft_future_set_result(fs[0], &a, count_free));
    destroy_futures(fs, 2); /* the iterator keeps them alive */
    assert_int_equal(freed_now(), 0);
    WT_OK(weft_as_completed_next(it, &got, 0));
    WT_OK(weft_future_result(got, &v, 0));
    assert_ptr_equal(v, &b);
    WT_OK(weft_as_completed_next(it, &got, 0));
    WT_OK(weft_future_result(got, &v, 0));
    assert_ptr_equal(v, &a);
    weft_as_completed_destroy(it);
    assert_int_equal(freed_now(), 2);
}

static void test_future_as_completed_can_be_destroyed_before_the_futures_finish(void **state) {
    weft_future *fs[3];
    weft_as_completed *it;
    weft_future *got;
    (void)state;
    make_futures(fs, 3);
    WT_OK(weft_future_set_result(fs[1], NULL, NULL));
    WT_OK(weft_as_completed_create(&it, fs, 3));
    WT_OK(weft_as_completed_next(it, &got, 0));
    weft_as_completed_destroy(it);
    WT_OK(weft_future_set_result(fs[0], NULL, NULL)); /* no node of the iterator is left */
    WT_OK(weft_future_cancel(fs[2]));
    destroy_futures(fs, 3);
}

enum { AC_N = 64, AC_THREADS = 4 };

struct ac_worker {
    weft_future **fs;
    int first;
    pthread_t t;
};

static void *finish_every_fourth(void *arg) {
    struct ac_worker *w = arg;
    for (int i = w->first; i < AC_N; i += AC_THREADS) weft_future_set_result(w->fs[i], (void *)(intptr_t)(i + 1), NULL);
    return NULL;
}

static void test_future_as_completed_yields_each_future_once_under_concurrent_finishing(void **state) {
    weft_future *fs[AC_N];
    weft_as_completed *it;
    struct ac_worker w[AC_THREADS];
    int seen[AC_N];
    int yielded = 0;
    weft_future *got;
    weft_status s;
    (void)state;
    memset(seen, 0, sizeof seen);
    for (int round = 0; round < 20; round++) {
        make_futures(fs, AC_N);
        WT_OK(weft_as_completed_create(&it, fs, AC_N));
        for (int i = 0; i < AC_THREADS; i++) {
            w[i].fs = fs;
            w[i].first = i;
            assert_int_equal(pthread_create(&w[i].t, NULL, finish_every_fourth, &w[i]), 0);
        }
        while ((s = weft_as_completed_next(it, &got, 5 * WEFT_SEC)) == WEFT_OK) {
            void *v = NULL;
            WT_OK(weft_future_result(got, &v, 0));
            seen[(intptr_t)v - 1]++;
            yielded++;
        }
        WT_EXPECT(WEFT_ECLOSED, s);
        for (int i = 0; i < AC_THREADS; i++) pthread_join(w[i].t, NULL);
        weft_as_completed_destroy(it);
        destroy_futures(fs, AC_N);
    }
    assert_int_equal(yielded, 20 * AC_N);
    for (int i = 0; i < AC_N; i++) assert_int_equal(seen[i], 20);
}

static void test_future_as_completed_rejects_bad_input(void **state) {
    weft_future *fs[2];
    weft_as_completed *it = (weft_as_completed *)&it;
    weft_future *got;
    weft_lock *lock;
    (void)state;
    make_futures(fs, 2);
    WT_OK(weft_lock_create(&lock, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_as_completed_create(NULL, fs, 2));
    WT_EXPECT(WEFT_EINVAL, weft_as_completed_create(&it, NULL, 2));
    assert_null(it);
    weft_future *with_null[2] = {fs[0], NULL};
    WT_EXPECT(WEFT_EMISUSE, weft_as_completed_create(&it, with_null, 2));
    weft_future *wrong[2] = {fs[0], (weft_future *)lock};
    WT_EXPECT(WEFT_EMISUSE, weft_as_completed_create(&it, wrong, 2));
    WT_EXPECT(WEFT_EMISUSE, weft_as_completed_next(NULL, &got, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_as_completed_next((weft_as_completed *)fs[0], &got, 0));
    /* an empty iterator is closed at once */
    WT_OK(weft_as_completed_create(&it, NULL, 0));
    WT_EXPECT(WEFT_EINVAL, weft_as_completed_next(it, NULL, 0));
    WT_EXPECT(WEFT_EINVAL, weft_as_completed_next(it, &got, -2));
    WT_EXPECT(WEFT_ECLOSED, weft_as_completed_next(it, &got, WEFT_FOREVER));
    weft_as_completed_destroy(it);
    weft_as_completed_destroy(NULL);
    weft_lock_destroy(lock);
    /* nothing was retained by the failed creates: one destroy frees them */
    WT_OK(weft_future_set_result(fs[0], fs, count_free));
    destroy_futures(fs, 2);
    assert_int_equal(freed_now(), 1);
}

/* ---- references --------------------------------------------------------- */

enum { REF_THREADS = 4, REF_EACH = 2000 };

struct ref_arg {
    weft_future *f;
    int failures;
};

static void *retain_and_release(void *arg) {
    struct ref_arg *a = arg;
    for (int i = 0; i < REF_EACH; i++) {
        if (weft_future_retain(a->f) != WEFT_OK) a->failures++;
        weft_future_destroy(a->f);
    }
    weft_future_destroy(a->f); /* the reference it was handed */
    return NULL;
}

static void test_future_references_from_several_threads_free_the_value_once(void **state) {
    weft_future *f;
    pthread_t t[REF_THREADS];
    struct ref_arg a[REF_THREADS];
    int x = 1;
    (void)state;
    WT_OK(weft_future_create(&f));
    WT_OK(weft_future_set_result(f, &x, count_free));
    for (int i = 0; i < REF_THREADS; i++) {
        WT_OK(weft_future_retain(f));
        a[i].f = f;
        a[i].failures = 0;
    }
    for (int i = 0; i < REF_THREADS; i++) assert_int_equal(pthread_create(&t[i], NULL, retain_and_release, &a[i]), 0);
    for (int i = 0; i < REF_THREADS; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < REF_THREADS; i++) assert_int_equal(a[i].failures, 0);
    assert_int_equal(freed_now(), 0);
    assert_int_equal(weft_future_get_state(f), WEFT_FUTURE_DONE); /* still ours */
    weft_future_destroy(f);
    assert_int_equal(freed_now(), 1);
}

struct handoff {
    weft_future *f;
    weft_status rc;
    int value;
};

static void *wait_then_drop(void *arg) {
    struct handoff *h = arg;
    void *v = NULL;
    h->rc = weft_future_result(h->f, &v, 5 * WEFT_SEC);
    if (h->rc == WEFT_OK) h->value = *(int *)v;
    weft_future_destroy(h->f);
    return NULL;
}

static void *produce_then_drop(void *arg) {
    struct handoff *h = arg;
    int *v = malloc(sizeof *v);
    wt_sleep_ms(30);
    if (!v) {
        h->rc = WEFT_ENOMEM;
    } else {
        *v = 99;
        h->rc = weft_future_set_result(h->f, v, free);
        if (h->rc != WEFT_OK) free(v);
    }
    weft_future_destroy(h->f);
    return NULL;
}

static void test_future_survives_its_creator_dropping_it_while_others_wait(void **state) {
    weft_future *f;
    pthread_t tw, tp;
    struct handoff waiter = {NULL, 1, 0}, producer = {NULL, 1, 0};
    (void)state;
    WT_OK(weft_future_create(&f));
    WT_OK(weft_future_retain(f));
    WT_OK(weft_future_retain(f));
    waiter.f = producer.f = f;
    assert_int_equal(pthread_create(&tw, NULL, wait_then_drop, &waiter), 0);
    assert_int_equal(pthread_create(&tp, NULL, produce_then_drop, &producer), 0);
    weft_future_destroy(f); /* the creator's reference goes first */
    pthread_join(tw, NULL);
    pthread_join(tp, NULL);
    assert_int_equal(waiter.rc, WEFT_OK);
    assert_int_equal(waiter.value, 99);
    assert_int_equal(producer.rc, WEFT_OK);
    /* ASan's leak check proves the value was freed by the last destroy */
}

static void test_future_failed_future_frees_its_message(void **state) {
    weft_future *f;
    char big[600];
    weft_status code;
    const char *m;
    (void)state;
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    WT_OK(weft_future_create(&f));
    WT_OK(weft_future_set_error(f, WEFT_EFAILED, big));
    WT_OK(weft_future_error(f, &code, &m));
    assert_string_equal(m, big); /* kept whole; only weft_last_error truncates */
    weft_future_destroy(f);
}

/* ---- task functions outside a task -------------------------------------- */

static void test_future_task_functions_outside_a_task(void **state) {
    (void)state;
    WT_EXPECT(WEFT_ESTATE, weft_task_fail(WEFT_EFAILED, "no task"));
    assert_int_equal(weft_task_cancel_requested(), 0);
    assert_null(weft_task_current());
}

/* ---- bad input ---------------------------------------------------------- */

static void test_future_rejects_bad_input(void **state) {
    weft_future *f;
    weft_lock *lock;
    weft_future *wrong;
    void *v;
    weft_status code;
    const char *m;
    (void)state;
    WT_EXPECT(WEFT_EINVAL, weft_future_create(NULL));
    weft_future_destroy(NULL);
    WT_EXPECT(WEFT_EMISUSE, weft_future_retain(NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_future_set_running(NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_future_set_result(NULL, NULL, NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_future_set_error(NULL, WEFT_EFAILED, NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_future_get_state(NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_future_done(NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_future_wait(NULL, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_future_result(NULL, &v, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_future_error(NULL, &code, &m));
    WT_EXPECT(WEFT_EMISUSE, weft_future_cancel(NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_future_cancel_requested(NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_future_add_done_callback(NULL, record_cb, NULL));

    WT_OK(weft_lock_create(&lock, NULL));
    wrong = (weft_future *)lock;
    WT_EXPECT(WEFT_EMISUSE, weft_future_set_result(wrong, NULL, NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_future_get_state(wrong));
    WT_EXPECT(WEFT_EMISUSE, weft_future_wait(wrong, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_future_retain(wrong));
    weft_future_destroy(wrong); /* a wrong-type destroy is ignored */
    assert_int_equal(weft_lock_locked(lock), 0);
    weft_lock_destroy(lock);

    WT_OK(weft_future_create(&f));
    WT_EXPECT(WEFT_EINVAL, weft_future_wait(f, -2));
    WT_EXPECT(WEFT_EINVAL, weft_future_result(f, &v, -5));
    WT_EXPECT(WEFT_EINVAL, weft_future_result(f, NULL, 0));
    WT_EXPECT(WEFT_EINVAL, weft_future_add_done_callback(f, NULL, NULL));
    WT_OK(weft_future_set_error(f, WEFT_EFAILED, "x"));
    WT_EXPECT(WEFT_EINVAL, weft_future_error(f, NULL, &m));
    WT_EXPECT(WEFT_EINVAL, weft_future_error(f, &code, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_task_fail(0, "zero"));
    weft_future_destroy(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_future_starts_pending_and_unfinished, setup),
        cmocka_unit_test_setup(test_future_set_running_moves_pending_to_running_once, setup),
        cmocka_unit_test_setup(test_future_set_result_finishes_a_running_or_pending_future, setup),
        cmocka_unit_test_setup(test_future_set_error_finishes_a_running_or_pending_future, setup),
        cmocka_unit_test_setup(test_future_second_set_result_is_refused_and_the_caller_keeps_its_value, setup),
        cmocka_unit_test_setup(test_future_never_leaves_a_final_state, setup),
        cmocka_unit_test_setup(test_future_set_error_requires_a_negative_code, setup),
        cmocka_unit_test_setup(test_future_result_of_a_failed_future_gives_its_code_and_message, setup),
        cmocka_unit_test_setup(test_future_failed_without_message_has_an_empty_one, setup),
        cmocka_unit_test_setup(test_future_result_waits_for_another_thread, setup),
        cmocka_unit_test_setup(test_future_result_times_out_when_never_finished, setup),
        cmocka_unit_test_setup(test_future_set_result_wakes_every_waiter, setup),
        cmocka_unit_test_setup(test_future_set_error_wakes_a_waiter_with_the_code, setup),
        cmocka_unit_test_setup(test_future_cancel_of_a_pending_future_cancels_it, setup),
        cmocka_unit_test_setup(test_future_cancel_of_a_running_future_only_requests_it, setup),
        cmocka_unit_test_setup(test_future_cancel_request_outlives_the_end_of_the_task, setup),
        cmocka_unit_test_setup(test_future_cancel_of_a_finished_future_is_refused, setup),
        cmocka_unit_test_setup(test_future_cancel_wakes_a_waiter, setup),
        cmocka_unit_test_setup(test_future_cancel_and_set_running_race_has_one_winner, setup),
        cmocka_unit_test_setup(test_future_two_set_results_race_has_one_winner, setup),
        cmocka_unit_test_setup(test_future_cancel_and_set_result_race_has_one_winner, setup),
        cmocka_unit_test_setup(test_future_set_result_and_set_error_race_has_one_winner, setup),
        cmocka_unit_test_setup(test_future_callback_added_before_runs_once_in_the_finishing_thread, setup),
        cmocka_unit_test_setup(test_future_callback_added_after_finish_runs_at_once_in_the_caller, setup),
        cmocka_unit_test_setup(test_future_callbacks_run_in_the_order_added, setup),
        cmocka_unit_test_setup(test_future_callbacks_run_when_cancelled_in_the_cancelling_thread, setup),
        cmocka_unit_test_setup(test_future_callbacks_of_an_unfinished_future_run_at_its_last_destroy, setup),
        cmocka_unit_test_setup(test_future_callback_may_use_its_future, setup),
        cmocka_unit_test_setup(test_future_callbacks_added_while_finishing_run_exactly_once, setup),
        cmocka_unit_test_setup(test_future_wait_many_first_completed_returns_when_one_finishes, setup),
        cmocka_unit_test_setup(test_future_wait_many_all_completed_waits_for_every_one, setup),
        cmocka_unit_test_setup(test_future_wait_many_all_completed_times_out_when_one_never_finishes, setup),
        cmocka_unit_test_setup(test_future_wait_many_first_exception_returns_at_the_first_failure, setup),
        cmocka_unit_test_setup(test_future_wait_many_first_exception_does_not_count_a_cancel_as_an_exception, setup),
        cmocka_unit_test_setup(test_future_wait_many_handles_more_futures_than_fit_on_the_stack, setup),
        cmocka_unit_test_setup(test_future_wait_many_with_no_futures_returns_at_once, setup),
        cmocka_unit_test_setup(test_future_wait_many_survives_finishers_racing_timeouts, setup),
        cmocka_unit_test_setup(test_future_wait_many_rejects_bad_input, setup),
        cmocka_unit_test_setup(test_future_as_completed_yields_finished_first_then_in_completion_order, setup),
        cmocka_unit_test_setup(test_future_as_completed_next_times_out, setup),
        cmocka_unit_test_setup(test_future_as_completed_holds_its_own_references, setup),
        cmocka_unit_test_setup(test_future_as_completed_can_be_destroyed_before_the_futures_finish, setup),
        cmocka_unit_test_setup(test_future_as_completed_yields_each_future_once_under_concurrent_finishing, setup),
        cmocka_unit_test_setup(test_future_as_completed_rejects_bad_input, setup),
        cmocka_unit_test_setup(test_future_references_from_several_threads_free_the_value_once, setup),
        cmocka_unit_test_setup(test_future_survives_its_creator_dropping_it_while_others_wait, setup),
        cmocka_unit_test_setup(test_future_failed_future_frees_its_message, setup),
        cmocka_unit_test_setup(test_future_task_functions_outside_a_task, setup),
        cmocka_unit_test_setup(test_future_rejects_bad_input, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
