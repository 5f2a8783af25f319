/* Queues: FIFO, LIFO, priority, bounds, timeouts, task_done/join, shutdown
 * while threads are blocked, item ownership, many producers and consumers. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "weft_test.h"

#define ITEM(n) ((void *)(intptr_t)(n))
#define NUM(p) ((int)(intptr_t)(p))
/* Tests that run on both queue engines get their capacity as cmocka state:
 * 0 (unbounded, the locked ring) or 128 (bounded, the lock-free ring). */
#define CAP(state) (*(size_t *)*(state))
static size_t unbounded = 0, bounded = 128;

static weft_queue *make(int kind, size_t capacity, weft_free_fn item_free) {
    weft_queue_options o = WEFT_QUEUE_OPTIONS_INIT;
    weft_queue *q = NULL;
    o.kind = kind;
    o.capacity = capacity;
    o.item_free = item_free;
    WT_OK(weft_queue_create(&q, &o));
    return q;
}

static void test_queue_fifo_gives_items_in_put_order(void **state) {
    weft_queue *q = make(WEFT_QUEUE_FIFO, CAP(state), NULL);
    void *x;
    for (int i = 1; i <= 100; i++) WT_OK(weft_queue_put(q, ITEM(i), 0));
    assert_int_equal(weft_queue_size(q), 100);
    for (int i = 1; i <= 100; i++) {
        WT_OK(weft_queue_get(q, &x, 0));
        assert_int_equal(NUM(x), i);
    }
    assert_int_equal(weft_queue_empty(q), 1);
    weft_queue_destroy(q);
}

static void test_queue_lifo_is_a_stack(void **state) {
    weft_queue *q = make(WEFT_QUEUE_LIFO, 0, NULL);
    void *x;
    (void)state;
    for (int i = 1; i <= 40; i++) WT_OK(weft_queue_put(q, ITEM(i), 0));
    for (int i = 40; i >= 1; i--) {
        WT_OK(weft_queue_get(q, &x, 0));
        assert_int_equal(NUM(x), i);
    }
    weft_queue_destroy(q);
}

static void test_queue_priority_gives_lowest_first_and_fifo_among_equals(void **state) {
    weft_queue *q = make(WEFT_QUEUE_PRIORITY, 0, NULL);
    static const int prio[] = {5, 1, 3, 1, 5, 0, 3};
    static const int want[] = {6, 2, 4, 3, 7, 1, 5}; /* items are 1-based positions */
    void *x;
    (void)state;
    for (int i = 0; i < 7; i++) WT_OK(weft_queue_put_priority(q, ITEM(i + 1), prio[i], 0));
    WT_OK(weft_queue_put(q, ITEM(99), 0)); /* plain put: priority 0, after item 6 */
    WT_OK(weft_queue_get(q, &x, 0));
    assert_int_equal(NUM(x), 6);
    WT_OK(weft_queue_get(q, &x, 0));
    assert_int_equal(NUM(x), 99);
    for (int i = 1; i < 7; i++) {
        WT_OK(weft_queue_get(q, &x, 0));
        assert_int_equal(NUM(x), want[i]);
    }
    weft_queue_destroy(q);
}

static void test_queue_get_times_out_when_empty(void **state) {
    weft_queue *q = make(WEFT_QUEUE_FIFO, 0, NULL);
    void *x = ITEM(7);
    (void)state;
    WT_EXPECT(WEFT_ETIMEDOUT, weft_queue_get(q, &x, 0));
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_queue_get(q, &x, 50 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 50);
    assert_int_equal(NUM(x), 7); /* untouched on failure */
    weft_queue_destroy(q);
}

static void test_queue_put_times_out_when_full(void **state) {
    weft_queue *q = make(WEFT_QUEUE_FIFO, 2, NULL);
    (void)state;
    WT_OK(weft_queue_put(q, ITEM(1), 0));
    assert_int_equal(weft_queue_full(q), 0);
    WT_OK(weft_queue_put(q, ITEM(2), 0));
    assert_int_equal(weft_queue_full(q), 1);
    WT_EXPECT(WEFT_ETIMEDOUT, weft_queue_put(q, ITEM(3), 0));
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_queue_put(q, ITEM(3), 40 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 40);
    assert_int_equal(weft_queue_size(q), 2);
    weft_queue_destroy(q);
}

struct later {
    weft_queue *q;
    int ms;
    int what; /* 0: put ITEM(42), 1: get, 2: shutdown, 3: shutdown immediate, 4: task_done */
    weft_status status;
    void *got;
};

static void *do_later(void *arg) {
    struct later *l = arg;
    wt_sleep_ms(l->ms);
    switch (l->what) {
    case 0: l->status = weft_queue_put(l->q, ITEM(42), WEFT_SEC); break;
    case 1: l->status = weft_queue_get(l->q, &l->got, WEFT_SEC); break;
    case 2: l->status = weft_queue_shutdown(l->q, 0); break;
    case 3: l->status = weft_queue_shutdown(l->q, 1); break;
    default: l->status = weft_queue_task_done(l->q); break;
    }
    return NULL;
}

static void test_queue_blocked_get_is_woken_by_a_put(void **state) {
    weft_queue *q = make(WEFT_QUEUE_FIFO, CAP(state), NULL);
    struct later l = {q, 30, 0, -100, NULL};
    pthread_t t;
    void *x = NULL;
    pthread_create(&t, NULL, do_later, &l);
    WT_OK(weft_queue_get(q, &x, 5 * WEFT_SEC));
    pthread_join(t, NULL);
    WT_OK(l.status);
    assert_int_equal(NUM(x), 42);
    weft_queue_destroy(q);
}

static void test_queue_blocked_put_is_woken_by_a_get(void **state) {
    weft_queue *q = make(WEFT_QUEUE_FIFO, 1, NULL);
    struct later l = {q, 30, 1, -100, NULL};
    pthread_t t;
    void *x = NULL;
    (void)state;
    WT_OK(weft_queue_put(q, ITEM(1), 0));
    pthread_create(&t, NULL, do_later, &l);
    WT_OK(weft_queue_put(q, ITEM(2), 5 * WEFT_SEC));
    pthread_join(t, NULL);
    WT_OK(l.status);
    assert_int_equal(NUM(l.got), 1);
    WT_OK(weft_queue_get(q, &x, 0));
    assert_int_equal(NUM(x), 2);
    weft_queue_destroy(q);
}

static void test_queue_join_waits_for_every_task_done(void **state) {
    weft_queue *q = make(WEFT_QUEUE_FIFO, CAP(state), NULL);
    struct later l = {q, 30, 4, -100, NULL};
    pthread_t t;
    void *x;
    WT_OK(weft_queue_join(q, 0)); /* nothing put yet */
    WT_OK(weft_queue_put(q, ITEM(1), 0));
    WT_OK(weft_queue_put(q, ITEM(2), 0));
    WT_OK(weft_queue_get(q, &x, 0));
    WT_OK(weft_queue_get(q, &x, 0));
    WT_OK(weft_queue_task_done(q));
    WT_EXPECT(WEFT_ETIMEDOUT, weft_queue_join(q, 20 * WEFT_MSEC)); /* one left */
    pthread_create(&t, NULL, do_later, &l);
    WT_OK(weft_queue_join(q, 5 * WEFT_SEC));
    pthread_join(t, NULL);
    WT_OK(l.status);
    WT_EXPECT(WEFT_ESTATE, weft_queue_task_done(q)); /* one too many */
    weft_queue_destroy(q);
}

static void test_queue_shutdown_lets_gets_drain_then_fails_them(void **state) {
    weft_queue *q = make(WEFT_QUEUE_FIFO, CAP(state), NULL);
    void *x;
    WT_OK(weft_queue_put(q, ITEM(1), 0));
    WT_OK(weft_queue_put(q, ITEM(2), 0));
    assert_int_equal(weft_queue_is_shutdown(q), 0);
    WT_OK(weft_queue_shutdown(q, 0));
    assert_int_equal(weft_queue_is_shutdown(q), 1);
    WT_EXPECT(WEFT_ECLOSED, weft_queue_put(q, ITEM(3), WEFT_FOREVER));
    WT_OK(weft_queue_get(q, &x, 0));
    assert_int_equal(NUM(x), 1);
    WT_OK(weft_queue_get(q, &x, WEFT_FOREVER));
    assert_int_equal(NUM(x), 2);
    WT_EXPECT(WEFT_ECLOSED, weft_queue_get(q, &x, WEFT_FOREVER));
    WT_OK(weft_queue_shutdown(q, 0)); /* again is fine */
    weft_queue_destroy(q);
}

enum { BLOCKED = 3 };
struct blocked {
    weft_queue *q;
    int get; /* 1: get, 0: put */
    weft_status status;
};

static void *block_forever(void *arg) {
    struct blocked *b = arg;
    void *x;
    b->status = b->get ? weft_queue_get(b->q, &x, WEFT_FOREVER) : weft_queue_put(b->q, ITEM(5), WEFT_FOREVER);
    return NULL;
}

static void test_queue_shutdown_wakes_every_blocked_getter(void **state) {
    weft_queue *q = make(WEFT_QUEUE_FIFO, CAP(state), NULL);
    struct blocked b[BLOCKED];
    pthread_t t[BLOCKED];
    for (int i = 0; i < BLOCKED; i++) {
        b[i] = (struct blocked){q, 1, -100};
        pthread_create(&t[i], NULL, block_forever, &b[i]);
    }
    wt_sleep_ms(50);
    WT_OK(weft_queue_shutdown(q, 0));
    for (int i = 0; i < BLOCKED; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < BLOCKED; i++) WT_EXPECT(WEFT_ECLOSED, b[i].status);
    weft_queue_destroy(q);
}

static void test_queue_shutdown_wakes_every_blocked_putter(void **state) {
    weft_queue *q = make(WEFT_QUEUE_FIFO, 1, NULL);
    struct blocked b[BLOCKED];
    pthread_t t[BLOCKED];
    (void)state;
    WT_OK(weft_queue_put(q, ITEM(1), 0));
    for (int i = 0; i < BLOCKED; i++) {
        b[i] = (struct blocked){q, 0, -100};
        pthread_create(&t[i], NULL, block_forever, &b[i]);
    }
    wt_sleep_ms(50);
    WT_OK(weft_queue_shutdown(q, 0));
    for (int i = 0; i < BLOCKED; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < BLOCKED; i++) WT_EXPECT(WEFT_ECLOSED, b[i].status);
    weft_queue_destroy(q);
}

static int freed;
static void count_free(void *item) {
    (void)item;
    __atomic_add_fetch(&freed, 1, __ATOMIC_RELAXED);
}

static void test_queue_immediate_shutdown_frees_items_and_releases_join(void **state) {
    weft_queue *q = make(WEFT_QUEUE_FIFO, CAP(state), count_free);
    struct later l = {q, 30, 3, -100, NULL};
    pthread_t t;
    void *x;
    freed = 0;
    for (int i = 0; i < 5; i++) WT_OK(weft_queue_put(q, ITEM(i), 0));
    pthread_create(&t, NULL, do_later, &l);
    WT_OK(weft_queue_join(q, 5 * WEFT_SEC)); /* released by the immediate shutdown */
    pthread_join(t, NULL);
    WT_OK(l.status);
    assert_int_equal(freed, 5);
    WT_EXPECT(WEFT_ECLOSED, weft_queue_get(q, &x, 0));
    assert_int_equal(weft_queue_size(q), 0);
    weft_queue_destroy(q);
    assert_int_equal(freed, 5);
}

static void test_queue_destroy_frees_items_still_queued(void **state) {
    weft_queue *q;
    void *x;
    (void)state;
    freed = 0;
    q = make(WEFT_QUEUE_PRIORITY, 0, free);
    for (int i = 0; i < 10; i++) WT_OK(weft_queue_put_priority(q, malloc(16), i, 0));
    WT_OK(weft_queue_get(q, &x, 0));
    free(x);
    weft_queue_destroy(q); /* ASan reports a leak if the other 9 are not freed */
    q = make(WEFT_QUEUE_LIFO, 0, count_free);
    for (int i = 0; i < 3; i++) WT_OK(weft_queue_put(q, ITEM(i), 0));
    weft_queue_destroy(q);
    assert_int_equal(freed, 3);
}

enum { PRODUCERS = 3, CONSUMERS = 3, PER_PRODUCER = 20000 };
struct mpmc {
    weft_queue *q;
    int id;
    int errors;
    long sum;
    int count;
    int last_seen[PRODUCERS];
};

static void *produce(void *arg) {
    struct mpmc *m = arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        /* item = producer id in the high bits, sequence in the low bits */
        if (weft_queue_put(m->q, ITEM(((intptr_t)m->id << 24) | (i + 1)), 10 * WEFT_SEC) != WEFT_OK) m->errors++;
    }
    return NULL;
}

static void *consume(void *arg) {
    struct mpmc *m = arg;
    void *x;
    weft_status s;
    while ((s = weft_queue_get(m->q, &x, 10 * WEFT_SEC)) == WEFT_OK) {
        int p = (int)((intptr_t)x >> 24), seq = (int)((intptr_t)x & 0xFFFFFF);
        if (p < 0 || p >= PRODUCERS || seq <= m->last_seen[p]) m->errors++; /* per-producer order */
        else m->last_seen[p] = seq;
        m->sum += seq;
        m->count++;
    }
    if (s != WEFT_ECLOSED) m->errors++;
    return NULL;
}

static void test_queue_many_producers_and_consumers_lose_nothing_and_keep_order(void **state) {
    weft_queue *q = make(WEFT_QUEUE_FIFO, 8, NULL);
    struct mpmc p[PRODUCERS], c[CONSUMERS];
    pthread_t pt[PRODUCERS], ct[CONSUMERS];
    long sum = 0;
    int count = 0;
    (void)state;
    memset(p, 0, sizeof p);
    memset(c, 0, sizeof c);
    for (int i = 0; i < CONSUMERS; i++) {
        c[i].q = q;
        pthread_create(&ct[i], NULL, consume, &c[i]);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        p[i].q = q;
        p[i].id = i;
        pthread_create(&pt[i], NULL, produce, &p[i]);
    }
    for (int i = 0; i < PRODUCERS; i++) pthread_join(pt[i], NULL);
    WT_OK(weft_queue_shutdown(q, 0)); /* consumers drain, then see ECLOSED */
    for (int i = 0; i < CONSUMERS; i++) pthread_join(ct[i], NULL);
    for (int i = 0; i < PRODUCERS; i++) assert_int_equal(p[i].errors, 0);
    for (int i = 0; i < CONSUMERS; i++) {
        assert_int_equal(c[i].errors, 0);
        sum += c[i].sum;
        count += c[i].count;
    }
    assert_int_equal(count, PRODUCERS * PER_PRODUCER);
    assert_int_equal(sum, (long)PRODUCERS * PER_PRODUCER * (PER_PRODUCER + 1) / 2);
    weft_queue_destroy(q);
}

static void test_queue_rejects_bad_input(void **state) {
    weft_queue_options o = WEFT_QUEUE_OPTIONS_INIT;
    weft_queue *q = ITEM(1);
    void *x;
    (void)state;
    WT_EXPECT(WEFT_EINVAL, weft_queue_create(NULL, NULL));
    o.version = 7;
    WT_EXPECT(WEFT_EINVAL, weft_queue_create(&q, &o));
    assert_null(q);
    o.version = WEFT_QUEUE_OPTIONS_VERSION;
    o.kind = 9;
    WT_EXPECT(WEFT_EINVAL, weft_queue_create(&q, &o));
    WT_EXPECT(WEFT_EMISUSE, weft_queue_put(NULL, ITEM(1), 0));
    WT_EXPECT(WEFT_EMISUSE, weft_queue_get(NULL, &x, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_queue_task_done(NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_queue_join(NULL, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_queue_shutdown(NULL, 0));
    assert_int_equal(weft_queue_size(NULL), WEFT_EMISUSE);
    assert_int_equal(weft_queue_empty(NULL), WEFT_EMISUSE);
    assert_int_equal(weft_queue_full(NULL), WEFT_EMISUSE);
    assert_int_equal(weft_queue_is_shutdown(NULL), WEFT_EMISUSE);
    weft_queue_destroy(NULL);

    WT_OK(weft_queue_create(&q, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_queue_get(q, NULL, 0));
    WT_EXPECT(WEFT_EINVAL, weft_queue_get(q, &x, -3));
    WT_EXPECT(WEFT_EINVAL, weft_queue_put(q, ITEM(1), -3));
    WT_EXPECT(WEFT_EINVAL, weft_queue_join(q, -3));
    WT_EXPECT(WEFT_EINVAL, weft_queue_put_priority(q, ITEM(1), 1, 0)); /* not a priority queue */
    assert_int_equal(weft_queue_full(q), 0); /* unbounded is never full */
    assert_int_equal(weft_queue_size(q), 0);
    weft_queue_destroy(q);
    /* A lock is not a queue. */
    weft_lock *lock;
    WT_OK(weft_lock_create(&lock, NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_queue_put((weft_queue *)(void *)lock, ITEM(1), 0));
    weft_lock_destroy(lock);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(test_queue_fifo_gives_items_in_put_order, &unbounded),
        cmocka_unit_test_prestate(test_queue_fifo_gives_items_in_put_order, &bounded),
        cmocka_unit_test(test_queue_lifo_is_a_stack),
        cmocka_unit_test(test_queue_priority_gives_lowest_first_and_fifo_among_equals),
        cmocka_unit_test(test_queue_get_times_out_when_empty),
        cmocka_unit_test(test_queue_put_times_out_when_full),
        cmocka_unit_test_prestate(test_queue_blocked_get_is_woken_by_a_put, &unbounded),
        cmocka_unit_test_prestate(test_queue_blocked_get_is_woken_by_a_put, &bounded),
        cmocka_unit_test(test_queue_blocked_put_is_woken_by_a_get),
        cmocka_unit_test_prestate(test_queue_join_waits_for_every_task_done, &unbounded),
        cmocka_unit_test_prestate(test_queue_join_waits_for_every_task_done, &bounded),
        cmocka_unit_test_prestate(test_queue_shutdown_lets_gets_drain_then_fails_them, &unbounded),
        cmocka_unit_test_prestate(test_queue_shutdown_lets_gets_drain_then_fails_them, &bounded),
        cmocka_unit_test_prestate(test_queue_shutdown_wakes_every_blocked_getter, &unbounded),
        cmocka_unit_test_prestate(test_queue_shutdown_wakes_every_blocked_getter, &bounded),
        cmocka_unit_test(test_queue_shutdown_wakes_every_blocked_putter),
        cmocka_unit_test_prestate(test_queue_immediate_shutdown_frees_items_and_releases_join, &unbounded),
        cmocka_unit_test_prestate(test_queue_immediate_shutdown_frees_items_and_releases_join, &bounded),
        cmocka_unit_test(test_queue_destroy_frees_items_still_queued),
        cmocka_unit_test(test_queue_many_producers_and_consumers_lose_nothing_and_keep_order),
        cmocka_unit_test(test_queue_rejects_bad_input),
    };
    return cmocka_run_group_tests_name("queue", tests, NULL, NULL);
}
