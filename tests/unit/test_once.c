/* Once: exactly once under contention, waiting for the running initializer,
 * recursion is EDEADLK, done flag, bad input. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "weft_test.h"

struct table {
    weft_once once;
    int runs;      /* atomic: how many times the initializer ran */
    int sleep_ms;
    int *entries;  /* plain memory the initializer fills */
};

enum { ENTRIES = 64 };

static void build_table(void *user_data) {
    struct table *t = user_data;
    __atomic_add_fetch(&t->runs, 1, __ATOMIC_SEQ_CST);
    if (t->sleep_ms) wt_sleep_ms(t->sleep_ms);
    int *e = malloc(ENTRIES * sizeof *e);
    if (!e) return;
    for (int i = 0; i < ENTRIES; i++) e[i] = i * i;
    t->entries = e; /* plain write: weft_once_call publishes it */
}

enum { RACERS = 6, TABLES = 200 };
struct race {
    struct table tables[TABLES];
    pthread_barrier_t start;
    int errors; /* calls that failed, or returned before the table was complete */
};

static void *race_to_init(void *arg) {
    struct race *r = arg;
    for (int i = 0; i < TABLES; i++) {
        pthread_barrier_wait(&r->start);
        struct table *t = &r->tables[i];
        if (weft_once_call(&t->once, build_table, t) != WEFT_OK || t->entries == NULL ||
            t->entries[ENTRIES - 1] != (ENTRIES - 1) * (ENTRIES - 1) || weft_once_done(&t->once) != 1)
            __atomic_add_fetch(&r->errors, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

static void test_once_runs_the_initializer_exactly_once_under_contention(void **state) {
    static struct race r;
    pthread_t t[RACERS];
    (void)state;
    memset(&r, 0, sizeof r);
    for (int i = 0; i < TABLES; i++) {
        weft_once init = WEFT_ONCE_INIT;
        r.tables[i].once = init;
        r.tables[i].sleep_ms = i % 20 == 0 ? 5 : 0; /* some with a slow initializer */
    }
    pthread_barrier_init(&r.start, NULL, RACERS);
    for (int i = 0; i < RACERS; i++) assert_int_equal(pthread_create(&t[i], NULL, race_to_init, &r), 0);
    for (int i = 0; i < RACERS; i++) pthread_join(t[i], NULL);
    pthread_barrier_destroy(&r.start);
    assert_int_equal(r.errors, 0);
    for (int i = 0; i < TABLES; i++) {
        assert_int_equal(r.tables[i].runs, 1);
        free(r.tables[i].entries);
    }
}

struct late {
    struct table *table;
    weft_status status;
    int saw_entries;
    double waited_ms;
};

static void *call_late(void *arg) {
    struct late *l = arg;
    int64_t t0 = weft_monotonic_ns();
    l->status = weft_once_call(&l->table->once, build_table, l->table);
    l->waited_ms = wt_ms_since(t0);
    l->saw_entries = l->table->entries != NULL;
    return NULL;
}

static void test_once_callers_arriving_while_it_runs_wait_until_it_finished(void **state) {
    struct table t = {WEFT_ONCE_INIT, 0, 150, NULL};
    struct late l[2] = {{&t, 12345, 0, 0}, {&t, 12345, 0, 0}};
    pthread_t th[2];
    (void)state;
    assert_int_equal(pthread_create(&th[0], NULL, call_late, &l[0]), 0);
    /* Wait until the first caller runs the initializer, then race it. */
    for (int i = 0; i < 5000 && __atomic_load_n(&t.runs, __ATOMIC_SEQ_CST) == 0; i++) wt_sleep_ms(1);
    assert_int_equal(weft_once_done(&t.once), 0); /* running is not done */
    assert_int_equal(pthread_create(&th[1], NULL, call_late, &l[1]), 0);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        WT_OK(l[i].status);
        assert_int_equal(l[i].saw_entries, 1);
    }
    assert_true(l[1].waited_ms >= 10); /* it blocked for the rest of the 150 ms */
    assert_true(l[1].waited_ms < 5000);
    assert_int_equal(t.runs, 1);
    assert_int_equal(weft_once_done(&t.once), 1);
    free(t.entries);
}

static int other_runs;
static void count_other(void *user_data) {
    (void)user_data;
    other_runs++;
}

static void test_once_later_calls_return_at_once_without_running_their_function(void **state) {
    static weft_once once = WEFT_ONCE_INIT; /* static initialisation */
    struct table t = {WEFT_ONCE_INIT, 0, 0, NULL};
    (void)state;
    assert_int_equal(weft_once_done(&once), 0);
    WT_OK(weft_once_call(&once, build_table, &t));
    assert_int_equal(weft_once_done(&once), 1);
    other_runs = 0;
    for (int i = 0; i < 1000; i++) WT_OK(weft_once_call(&once, count_other, NULL));
    assert_int_equal(other_runs, 0);
    assert_int_equal(t.runs, 1);
    free(t.entries);

    /* Zeroed storage is the same as WEFT_ONCE_INIT. */
    weft_once zeroed;
    memset(&zeroed, 0, sizeof zeroed);
    WT_OK(weft_once_call(&zeroed, count_other, NULL));
    WT_OK(weft_once_call(&zeroed, count_other, NULL));
    assert_int_equal(other_runs, 1);
}

struct recursive {
    weft_once outer, inner;
    weft_status same_once, other_once;
    int done_inside;
    int inner_runs;
};

static void inner_init(void *user_data) {
    struct recursive *r = user_data;
    r->inner_runs++;
}

static void outer_init(void *user_data) {
    struct recursive *r = user_data;
    r->done_inside = weft_once_done(&r->outer);
    r->same_once = weft_once_call(&r->outer, outer_init, r); /* would wait for itself */
    r->other_once = weft_once_call(&r->inner, inner_init, r); /* a different once is fine */
}

static void test_once_called_from_its_own_initializer_is_edeadlk(void **state) {
    struct recursive r;
    (void)state;
    memset(&r, 0, sizeof r);
    WT_OK(weft_once_call(&r.outer, outer_init, &r));
    WT_EXPECT(WEFT_EDEADLK, r.same_once);
    WT_OK(r.other_once);
    assert_int_equal(r.done_inside, 0);
    assert_int_equal(r.inner_runs, 1);
    assert_int_equal(weft_once_done(&r.outer), 1);
    assert_int_equal(weft_once_done(&r.inner), 1);
    WT_OK(weft_once_call(&r.outer, outer_init, &r)); /* done: not run again */
}

static void test_once_rejects_bad_input(void **state) {
    weft_once once = WEFT_ONCE_INIT;
    weft_once garbage;
    (void)state;
    WT_EXPECT(WEFT_EINVAL, weft_once_call(NULL, count_other, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_once_call(&once, NULL, NULL));
    assert_non_null(strstr(weft_last_error()->message, "fn"));
    assert_int_equal(weft_once_done(&once), 0); /* the bad call changed nothing */
    assert_int_equal(weft_once_done(NULL), WEFT_EINVAL);
    memset(&garbage, 0xA5, sizeof garbage); /* never initialised */
    other_runs = 0;
    WT_EXPECT(WEFT_EINVAL, weft_once_call(&garbage, count_other, NULL));
    assert_non_null(strstr(weft_last_error()->message, "WEFT_ONCE_INIT"));
    assert_int_equal(weft_once_done(&garbage), WEFT_EINVAL);
    assert_int_equal(other_runs, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_once_runs_the_initializer_exactly_once_under_contention),
        cmocka_unit_test(test_once_callers_arriving_while_it_runs_wait_until_it_finished),
        cmocka_unit_test(test_once_later_calls_return_at_once_without_running_their_function),
        cmocka_unit_test(test_once_called_from_its_own_initializer_is_edeadlk),
        cmocka_unit_test(test_once_rejects_bad_input),
    };
    return cmocka_run_group_tests_name("once", tests, NULL, NULL);
}
