/* Event: set/clear/is_set, polls, timeouts, waking every waiter, set-then-
 * clear races, bad input. */
#include <pthread.h>
#include <string.h>

#include "weft_test.h"
#include "weft_fork.h"

static void test_event_starts_clear_and_set_clear_toggle_it(void **state) {
    weft_event *e;
    (void)state;
    WT_OK(weft_event_create(&e, NULL));
    assert_int_equal(weft_event_is_set(e), 0);
    WT_EXPECT(WEFT_ETIMEDOUT, weft_event_wait(e, 0));
    WT_OK(weft_event_set(e));
    assert_int_equal(weft_event_is_set(e), 1);
    WT_OK(weft_event_set(e)); /* setting a set event is harmless */
    WT_OK(weft_event_wait(e, 0));
    WT_OK(weft_event_wait(e, WEFT_FOREVER));
    WT_OK(weft_event_clear(e));
    assert_int_equal(weft_event_is_set(e), 0);
    WT_OK(weft_event_clear(e));
    WT_EXPECT(WEFT_ETIMEDOUT, weft_event_wait(e, 0));
    weft_event_destroy(e);
}

static void test_event_wait_times_out_when_never_set(void **state) {
    weft_event *e;
    (void)state;
    WT_OK(weft_event_create(&e, NULL));
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_event_wait(e, 50 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 50);
    weft_event_destroy(e);
}

enum { WAITERS = 8 };
struct crowd {
    weft_event *e;
    int ready, ok, timeouts, errors;
    int64_t timeout;
};

static void *wait_for_event(void *arg) {
    struct crowd *c = arg;
    __atomic_add_fetch(&c->ready, 1, __ATOMIC_SEQ_CST);
    weft_status st = weft_event_wait(c->e, c->timeout);
    if (st == WEFT_OK)
        __atomic_add_fetch(&c->ok, 1, __ATOMIC_SEQ_CST);
    else if (st == WEFT_ETIMEDOUT)
        __atomic_add_fetch(&c->timeouts, 1, __ATOMIC_SEQ_CST);
    else
        __atomic_add_fetch(&c->errors, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void start_crowd(struct crowd *c, pthread_t *t) {
    for (int i = 0; i < WAITERS; i++) assert_int_equal(pthread_create(&t[i], NULL, wait_for_event, c), 0);
    while (__atomic_load_n(&c->ready, __ATOMIC_SEQ_CST) < WAITERS) wt_sleep_ms(1);
    wt_sleep_ms(50); /* let them fall asleep */
}

static void test_event_set_wakes_every_waiter(void **state) {
    struct crowd c = {NULL, 0, 0, 0, 0, 5 * WEFT_SEC};
    pthread_t t[WAITERS];
    (void)state;
    WT_OK(weft_event_create(&c.e, NULL));
    start_crowd(&c, t);
    assert_int_equal(__atomic_load_n(&c.ok, __ATOMIC_SEQ_CST), 0);
    int64_t t0 = weft_monotonic_ns();
    WT_OK(weft_event_set(c.e));
    for (int i = 0; i < WAITERS; i++) pthread_join(t[i], NULL);
    assert_true(wt_ms_since(t0) < 2000);
    assert_int_equal(c.ok, WAITERS);
    assert_int_equal(c.timeouts + c.errors, 0);
    weft_event_destroy(c.e);
}

static void test_event_set_then_clear_at_once_still_wakes_every_waiter(void **state) {
    struct crowd c = {NULL, 0, 0, 0, 0, 2 * WEFT_SEC};
    pthread_t t[WAITERS];
    (void)state;
    WT_OK(weft_event_create(&c.e, NULL));
    start_crowd(&c, t);
    WT_OK(weft_event_set(c.e));
    WT_OK(weft_event_clear(c.e)); /* before the waiters run: they still saw the set (Python too) */
    for (int i = 0; i < WAITERS; i++) pthread_join(t[i], NULL);
    assert_int_equal(c.ok, WAITERS);
    assert_int_equal(c.timeouts + c.errors, 0);
    assert_int_equal(weft_event_is_set(c.e), 0);
    weft_event_destroy(c.e);
}

static void *set_later(void *arg) {
    wt_sleep_ms(30);
    return (void *)(intptr_t)weft_event_set(arg);
}

static void test_event_forever_wait_is_woken_by_another_thread(void **state) {
    weft_event *e;
    pthread_t t;
    void *rc;
    (void)state;
    WT_OK(weft_event_create(&e, NULL));
    assert_int_equal(pthread_create(&t, NULL, set_later, e), 0);
    int64_t t0 = weft_monotonic_ns();
    WT_OK(weft_event_wait(e, WEFT_FOREVER));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 30);
    pthread_join(t, &rc);
    assert_int_equal((int)(intptr_t)rc, WEFT_OK);
    weft_event_destroy(e);
}

static void test_event_clear_makes_later_waits_block_again(void **state) {
    struct crowd c = {NULL, 0, 0, 0, 0, 40 * WEFT_MSEC};
    pthread_t t[WAITERS];
    (void)state;
    WT_OK(weft_event_create(&c.e, NULL));
    WT_OK(weft_event_set(c.e));
    WT_OK(weft_event_clear(c.e));
    for (int i = 0; i < WAITERS; i++) assert_int_equal(pthread_create(&t[i], NULL, wait_for_event, &c), 0);
    for (int i = 0; i < WAITERS; i++) pthread_join(t[i], NULL);
    assert_int_equal(c.ok, 0);
    assert_int_equal(c.timeouts, WAITERS);
    /* Timed-out waiters leave no trace that breaks the next round. */
    WT_OK(weft_event_set(c.e));
    WT_OK(weft_event_wait(c.e, 0));
    weft_event_destroy(c.e);
}

struct toggler {
    weft_event *go, *back;
    int errors;
};

static void *bounce(void *arg) {
    struct toggler *t = arg;
    for (int i = 0; i < 10000; i++) {
        if (weft_event_wait(t->go, 10 * WEFT_SEC) != WEFT_OK) t->errors++;
        if (weft_event_clear(t->go) != WEFT_OK) t->errors++;
        if (weft_event_set(t->back) != WEFT_OK) t->errors++;
    }
    return NULL;
}

static void test_event_stress_set_clear_ping_pong_loses_no_wakeup(void **state) {
    struct toggler tg = {NULL, NULL, 0};
    pthread_t t;
    int errors = 0;
    (void)state;
    WT_OK(weft_event_create(&tg.go, NULL));
    WT_OK(weft_event_create(&tg.back, NULL));
    assert_int_equal(pthread_create(&t, NULL, bounce, &tg), 0);
    for (int i = 0; i < 10000; i++) {
        if (weft_event_set(tg.go) != WEFT_OK) errors++;
        if (weft_event_wait(tg.back, 10 * WEFT_SEC) != WEFT_OK) errors++;
        if (weft_event_clear(tg.back) != WEFT_OK) errors++;
    }
    pthread_join(t, NULL);
    assert_int_equal(errors, 0);
    assert_int_equal(tg.errors, 0);
    weft_event_destroy(tg.go);
    weft_event_destroy(tg.back);
}

/* The same ping-pong with naps on both sides: the waiters' adaptive spin
 * swings between long spins, short spins ending in sched_yield, and futex
 * sleeps; no set may be lost across those changes of mode. */
enum { NAPPY_ROUNDS = 3000 };

static void *napping_bounce(void *arg) {
    struct toggler *t = arg;
    for (int i = 0; i < NAPPY_ROUNDS; i++) {
        if (weft_event_wait(t->go, 10 * WEFT_SEC) != WEFT_OK) t->errors++;
        if (weft_event_clear(t->go) != WEFT_OK) t->errors++;
        if (i % 200 < 20) wt_sleep_ms(1); /* a burst of slow rounds: spins fail, waiters sleep */
        if (weft_event_set(t->back) != WEFT_OK) t->errors++;
    }
    return NULL;
}

static void test_event_ping_pong_with_naps_loses_no_wakeup(void **state) {
    struct toggler tg = {NULL, NULL, 0};
    pthread_t t;
    int errors = 0;
    (void)state;
    WT_OK(weft_event_create(&tg.go, NULL));
    WT_OK(weft_event_create(&tg.back, NULL));
    assert_int_equal(pthread_create(&t, NULL, napping_bounce, &tg), 0);
    for (int i = 0; i < NAPPY_ROUNDS; i++) {
        if (i % 300 < 10) wt_sleep_ms(1); /* the other side naps too, at other times */
        if (weft_event_set(tg.go) != WEFT_OK) errors++;
        if (weft_event_wait(tg.back, 10 * WEFT_SEC) != WEFT_OK) errors++;
        if (weft_event_clear(tg.back) != WEFT_OK) errors++;
    }
    pthread_join(t, NULL);
    assert_int_equal(errors, 0);
    assert_int_equal(tg.errors, 0);
    assert_int_equal(weft_event_is_set(tg.go), 0);
    assert_int_equal(weft_event_is_set(tg.back), 0);
    weft_event_destroy(tg.go);
    weft_event_destroy(tg.back);
}

/* After spinning has paid off (a fast ping-pong taught the event to spin
 * long), a short timed wait on a clear event still times out on time and a
 * poll still fails at once. */
static void test_event_timeout_holds_after_spinning_paid_off(void **state) {
    struct toggler tg = {NULL, NULL, 0};
    pthread_t t;
    (void)state;
    WT_OK(weft_event_create(&tg.go, NULL));
    WT_OK(weft_event_create(&tg.back, NULL));
    assert_int_equal(pthread_create(&t, NULL, bounce, &tg), 0);
    for (int i = 0; i < 10000; i++) {
        WT_OK(weft_event_set(tg.go));
        WT_OK(weft_event_wait(tg.back, 10 * WEFT_SEC));
        WT_OK(weft_event_clear(tg.back));
    }
    pthread_join(t, NULL);
    assert_int_equal(tg.errors, 0);
    WT_EXPECT(WEFT_ETIMEDOUT, weft_event_wait(tg.back, 0));
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_event_wait(tg.back, 20 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 20);
    assert_int_equal(weft_event_is_set(tg.back), 0);
    weft_event_destroy(tg.go);
    weft_event_destroy(tg.back);
}

static void test_event_rejects_bad_input(void **state) {
    weft_event *e = (weft_event *)1;
    weft_lock *plain;
    weft_event_options o = WEFT_EVENT_OPTIONS_INIT;
    (void)state;
    WT_EXPECT(WEFT_EINVAL, weft_event_create(NULL, NULL));
    o.version = 0;
    WT_EXPECT(WEFT_EINVAL, weft_event_create(&e, &o));
    assert_null(e);
    o.version = WEFT_EVENT_OPTIONS_VERSION;
    o.flags = 4;
    WT_EXPECT(WEFT_EINVAL, weft_event_create(&e, &o));
    WT_EXPECT(WEFT_EMISUSE, weft_event_set(NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_event_clear(NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_event_wait(NULL, 0));
    assert_int_equal(weft_event_is_set(NULL), WEFT_EMISUSE);
    weft_event_destroy(NULL);

    WT_OK(weft_lock_create(&plain, NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_event_set((weft_event *)plain));
    assert_int_equal(weft_event_is_set((weft_event *)plain), WEFT_EMISUSE);
    weft_lock_destroy(plain);

    WT_OK(weft_event_create(&e, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_event_wait(e, -2));
    WT_OK(weft_event_set(e));
    WT_EXPECT(WEFT_EINVAL, weft_event_wait(e, INT64_MIN)); /* checked even when set */
    assert_non_null(strstr(weft_last_error()->message, "weft_event_wait"));
    WT_OK(weft_event_wait(e, INT64_MAX));
    weft_event_destroy(e);
}

/* ---- process scope ------------------------------------------------------ */

static weft_status make_pevent(weft_event **out, const char *name, uint32_t flags) {
    weft_event_options o = WEFT_EVENT_OPTIONS_INIT;
    o.share.scope = WEFT_SCOPE_PROCESS;
    o.share.name = name;
    o.share.flags = flags;
    return weft_event_create(out, &o);
}

static int set_later_child(void *arg) {
    wt_sleep_ms(50);
    return weft_event_set(arg) == WEFT_OK ? 0 : 10;
}

static void test_event_process_scope_set_in_a_child_wakes_the_parent(void **state) {
    weft_event *e;
    (void)state;
    WT_SKIP_UNDER_TSAN();
    WT_OK(make_pevent(&e, NULL, 0));
    WT_EXPECT(WEFT_ETIMEDOUT, weft_event_wait(e, 0));
    pid_t pid = wt_fork(set_later_child, e);
    int64_t t0 = weft_monotonic_ns();
    WT_OK(weft_event_wait(e, 5 * WEFT_SEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 50);
    WT_CHILD_OK(pid);
    assert_int_equal(weft_event_is_set(e), 1);
    WT_OK(weft_event_clear(e));
    assert_int_equal(weft_event_is_set(e), 0);
    weft_event_destroy(e);
}

static int wait_for_start_child(void *arg) {
    weft_event *e = arg;
    int64_t t0 = weft_monotonic_ns();
    if (weft_event_wait(e, 30 * WEFT_MSEC) != WEFT_ETIMEDOUT) return 20;
    if (weft_monotonic_ns() - t0 < 18 * WEFT_MSEC) return 21;
    return weft_event_wait(e, 5 * WEFT_SEC) == WEFT_OK ? 0 : 22;
}

static void test_event_process_scope_set_in_the_parent_wakes_every_child(void **state) {
    weft_event *e;
    pid_t k[3];
    (void)state;
    WT_SKIP_UNDER_TSAN();
    WT_OK(make_pevent(&e, NULL, 0));
    for (int i = 0; i < 3; i++) k[i] = wt_fork(wait_for_start_child, e);
    wt_sleep_ms(120);
    WT_OK(weft_event_set(e));
    for (int i = 0; i < 3; i++) WT_CHILD_OK(k[i]);
    weft_event_destroy(e);
}

static int sleep_in_wait_child(void *arg) {
    (void)weft_event_wait(arg, 10 * WEFT_SEC);
    return 30;
}

static void test_event_waiter_killed_while_asleep_breaks_nobody(void **state) {
    weft_event *e;
    (void)state;
    WT_SKIP_UNDER_TSAN();
    WT_OK(make_pevent(&e, NULL, 0));
    pid_t pid = wt_fork(sleep_in_wait_child, e);
    wt_sleep_ms(100);
    wt_kill(pid);
    pid = wt_fork(wait_for_start_child, e);
    wt_sleep_ms(100);
    WT_OK(weft_event_set(e));
    WT_CHILD_OK(pid);
    weft_event_destroy(e);
}

static int open_and_set_child(void *arg) {
    weft_event *e;
    if (weft_event_open(&e, arg) != WEFT_OK) return 40;
    if (weft_event_set(e) != WEFT_OK) return 41;
    weft_event_destroy(e);
    return 0;
}

static void test_event_named_is_opened_by_name(void **state) {
    char name[64], bname[64];
    weft_event *a, *b, *c;
    weft_barrier *bar;
    weft_barrier_options bo = WEFT_BARRIER_OPTIONS_INIT;
    (void)state;
    WT_SKIP_UNDER_TSAN();
    wt_name(name, sizeof name, "event-named");
    WT_EXPECT(WEFT_ENOENT, weft_event_open(&b, name));
    WT_OK(make_pevent(&a, name, 0));
    WT_EXPECT(WEFT_EEXIST, make_pevent(&c, name, 0));
    WT_OK(make_pevent(&c, name, WEFT_SHARE_OPEN_EXISTING));
    WT_OK(weft_event_open(&b, name));
    pid_t pid = wt_fork(open_and_set_child, name);
    WT_OK(weft_event_wait(b, 5 * WEFT_SEC));
    WT_CHILD_OK(pid);
    assert_int_equal(weft_event_is_set(a), 1);
    assert_int_equal(weft_event_is_set(c), 1);
    wt_name(bname, sizeof bname, "event-named-barrier");
    bo.share.scope = WEFT_SCOPE_PROCESS;
    bo.share.name = bname;
    WT_OK(weft_barrier_create(&bar, 2, &bo));
    {
        weft_event *x;
        WT_EXPECT(WEFT_EINVAL, weft_event_open(&x, bname));
        assert_null(x);
    }
    weft_barrier_destroy(bar);
    weft_event_destroy(c);
    weft_event_destroy(b);
    weft_event_destroy(a);
    WT_EXPECT(WEFT_ENOENT, weft_event_open(&b, name));
    WT_EXPECT(WEFT_EINVAL, weft_event_open(NULL, name));
    WT_EXPECT(WEFT_EINVAL, weft_event_open(&b, NULL));
    assert_int_equal(wt_shm_leftovers(), 0);
}

static void test_event_process_scope_rejects_bad_sharing_and_accepts_v1(void **state) {
    weft_event *e = (weft_event *)1;
    weft_event_options o = WEFT_EVENT_OPTIONS_INIT;
    (void)state;
    o.share.scope = WEFT_SCOPE_PROCESS;
    o.share.lifetime = 3;
    WT_EXPECT(WEFT_EINVAL, weft_event_create(&e, &o));
    assert_null(e);
    o.share.lifetime = 0;
    o.share.mode = 0x10000;
    WT_EXPECT(WEFT_EINVAL, weft_event_create(&e, &o));
    o.version = 1;
    WT_OK(weft_event_create(&e, &o));
    WT_OK(weft_event_set(e));
    WT_OK(weft_event_wait(e, 0));
    weft_event_destroy(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_starts_clear_and_set_clear_toggle_it),
        cmocka_unit_test(test_event_wait_times_out_when_never_set),
        cmocka_unit_test(test_event_set_wakes_every_waiter),
        cmocka_unit_test(test_event_set_then_clear_at_once_still_wakes_every_waiter),
        cmocka_unit_test(test_event_forever_wait_is_woken_by_another_thread),
        cmocka_unit_test(test_event_clear_makes_later_waits_block_again),
        cmocka_unit_test(test_event_stress_set_clear_ping_pong_loses_no_wakeup),
        cmocka_unit_test(test_event_ping_pong_with_naps_loses_no_wakeup),
        cmocka_unit_test(test_event_timeout_holds_after_spinning_paid_off),
        cmocka_unit_test(test_event_rejects_bad_input),
        cmocka_unit_test(test_event_process_scope_set_in_a_child_wakes_the_parent),
        cmocka_unit_test(test_event_process_scope_set_in_the_parent_wakes_every_child),
        cmocka_unit_test(test_event_waiter_killed_while_asleep_breaks_nobody),
        cmocka_unit_test(test_event_named_is_opened_by_name),
        cmocka_unit_test(test_event_process_scope_rejects_bad_sharing_and_accepts_v1),
    };
    return cmocka_run_group_tests_name("event", tests, NULL, NULL);
}
