/* Queues: FIFO, LIFO, priority, bounds, timeouts, task_done/join, shutdown
 * while threads are blocked, item ownership, many producers and consumers;
 * and the process-scope queue of byte messages: between forked processes,
 * anonymous and named, bounds by count and bytes, wrap-around, shutdown and
 * join across processes, creation races, and peers SIGKILLed in the middle
 * of a put or a get. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weft_test.h"

#define ITEM(n) ((void *)(intptr_t)(n))
#define NUM(p) ((int)(intptr_t)(p))
/* Tests that run on both queue engines get their capacity as cmocka state:
 * 0 (unbounded, the locked ring) or 128 (bounded, the lock-free ring). The
 * lock-free ring is also run with its smallest capacity (2), one that is not
 * a power of two (3, 12: slots found by %), and the bench's 1024. */
#define CAP(state) (*(size_t *)*(state))
static size_t unbounded = 0, bounded = 128, tiny = 2, odd = 3, twelve = 12, bench_cap = 1024;

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
    weft_queue *q = make(WEFT_QUEUE_FIFO, CAP(state), NULL);
    void *x = ITEM(7);
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
    weft_queue *q = make(WEFT_QUEUE_FIFO, CAP(state), NULL);
    struct mpmc p[PRODUCERS], c[CONSUMERS];
    pthread_t pt[PRODUCERS], ct[CONSUMERS];
    long sum = 0;
    int count = 0;
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

/* A queue used by one producer and one consumer alone (the lock-free ring's
 * plain path) gets a second producer while the first is busy putting, and
 * its consumer hands over to two others: nothing is lost or reordered. */
static void test_queue_second_producer_and_consumers_join_a_queue_used_alone(void **state) {
    weft_queue *q = make(WEFT_QUEUE_FIFO, CAP(state), NULL);
    struct mpmc p[2], c[2];
    pthread_t pt[2], ct[2];
    long sum = 0;
    int count = 0, bad = 0;
    void *x;
    memset(p, 0, sizeof p);
    memset(c, 0, sizeof c);
    p[0].q = q;
    pthread_create(&pt[0], NULL, produce, &p[0]);
    for (int i = 1; i <= 1000; i++) { /* this thread consumes alone first */
        if (weft_queue_get(q, &x, 10 * WEFT_SEC) != WEFT_OK || (intptr_t)x != i) bad++;
    }
    p[1].q = q;
    p[1].id = 1;
    pthread_create(&pt[1], NULL, produce, &p[1]); /* joins a busy producer */
    for (int i = 0; i < 2; i++) {
        c[i].q = q;
        c[i].last_seen[0] = 1000;
        pthread_create(&ct[i], NULL, consume, &c[i]); /* take over from an idle consumer */
    }
    for (int i = 0; i < 2; i++) pthread_join(pt[i], NULL);
    WT_OK(weft_queue_shutdown(q, 0));
    for (int i = 0; i < 2; i++) pthread_join(ct[i], NULL);
    assert_int_equal(bad, 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(p[i].errors, 0);
        assert_int_equal(c[i].errors, 0);
        sum += c[i].sum;
        count += c[i].count;
    }
    assert_int_equal(count + 1000, 2 * PER_PRODUCER);
    assert_int_equal(sum + 1000L * 1001 / 2, 2L * PER_PRODUCER * (PER_PRODUCER + 1) / 2);
    weft_queue_destroy(q);
}

/* One producer, one consumer, many laps of the ring: every item arrives once,
 * in order, whether the two run side by side or take turns on one CPU. */
enum { STREAM_ITEMS = 100000 };
struct stream {
    weft_queue *q;
    int errors;
};

static void *stream_produce(void *arg) {
    struct stream *s = arg;
    for (int i = 1; i <= STREAM_ITEMS; i++)
        if (weft_queue_put(s->q, ITEM(i), 10 * WEFT_SEC) != WEFT_OK) s->errors++;
    return NULL;
}

static void test_queue_one_producer_one_consumer_keep_order_over_many_laps(void **state) {
    weft_queue *q = make(WEFT_QUEUE_FIFO, CAP(state), NULL);
    struct stream s = {q, 0};
    pthread_t t;
    int bad = 0, last = 0;
    void *x;
    pthread_create(&t, NULL, stream_produce, &s);
    for (int i = 0; i < STREAM_ITEMS; i++) {
        if (weft_queue_get(q, &x, 10 * WEFT_SEC) != WEFT_OK) {
            bad++;
            break;
        }
        if (NUM(x) != last + 1) bad++;
        last = NUM(x);
    }
    pthread_join(t, NULL);
    assert_int_equal(s.errors, 0);
    assert_int_equal(bad, 0);
    assert_int_equal(last, STREAM_ITEMS);
    assert_int_equal(weft_queue_size(q), 0);
    WT_EXPECT(WEFT_ETIMEDOUT, weft_queue_join(q, 0)); /* no task_done yet: all still pending */
    weft_queue_destroy(q);
}

/* A consumer (then a producer) that really sleeps between items, because its
 * partner pauses longer than any spin, is woken for every item: no lost
 * wake-ups once the waiting side has learned to spin only briefly. */
enum { TRICKLE = 60 };
struct trickle {
    weft_queue *q;
    int slow; /* pause 2 ms before every third item */
    int errors;
};

static void *trickle_produce(void *arg) {
    struct trickle *t = arg;
    for (int i = 1; i <= TRICKLE; i++) {
        if (t->slow && i % 3 == 0) wt_sleep_ms(2);
        if (weft_queue_put(t->q, ITEM(i), 5 * WEFT_SEC) != WEFT_OK) t->errors++;
    }
    return NULL;
}

static void *trickle_consume(void *arg) {
    struct trickle *t = arg;
    void *x;
    for (int i = 1; i <= TRICKLE; i++) {
        if (t->slow && i % 3 == 0) wt_sleep_ms(2);
        if (weft_queue_get(t->q, &x, 5 * WEFT_SEC) != WEFT_OK || NUM(x) != i) t->errors++;
    }
    return NULL;
}

static void test_queue_sleeping_consumer_and_producer_are_woken_for_every_item(void **state) {
    for (int slow_producer = 1; slow_producer >= 0; slow_producer--) {
        weft_queue *q = make(WEFT_QUEUE_FIFO, CAP(state), NULL);
        struct trickle p = {q, slow_producer, 0}, c = {q, !slow_producer, 0};
        pthread_t pt, ct;
        pthread_create(&ct, NULL, trickle_consume, &c);
        pthread_create(&pt, NULL, trickle_produce, &p);
        pthread_join(pt, NULL);
        pthread_join(ct, NULL);
        assert_int_equal(p.errors, 0);
        assert_int_equal(c.errors, 0);
        assert_int_equal(weft_queue_size(q), 0);
        weft_queue_destroy(q);
    }
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


/* ---- process scope: byte messages between processes ---------------------- */

/* A unique name per test and pid ("weft-test-<pid>-q-<tag>"). */
static const char *qname(const char *tag) {
    static char buf[96];
    snprintf(buf, sizeof buf, "weft-test-%d-q-%s", (int)getpid(), tag);
    return buf;
}

/* Teardown of every process-scope test: no /dev/shm entry of ours is left. */
static int no_names_left(void **state) {
    char prefix[48];
    int left = 0;
    DIR *d = opendir("/dev/shm");
    (void)state;
    snprintf(prefix, sizeof prefix, "weft-test-%d-q-", (int)getpid());
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
                print_error("left behind: /dev/shm/%s\n", e->d_name);
                left++;
            }
        closedir(d);
    }
    return left ? -1 : 0;
}

static weft_queue *make_shared(const char *name, size_t capacity, size_t max_bytes, size_t max_message) {
    weft_queue_options o = WEFT_QUEUE_OPTIONS_INIT;
    weft_queue *q = NULL;
    o.capacity = capacity;
    o.share.scope = WEFT_SCOPE_PROCESS;
    o.share.name = name;
    o.max_bytes = max_bytes;
    o.max_message = max_message;
    WT_OK(weft_queue_create(&q, &o));
    return q;
}

/* Reap a child within `ms`; a child still running then is killed. Returns
 * its exit code, 128 + signal when killed by one, or -1 when it had to be
 * killed here. */
static int reap(pid_t pid, int ms) {
    int status = 0;
    for (int waited = 0;; waited++) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) break;
        if (r < 0 && errno != EINTR) return -2;
        if (waited >= ms) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            return -1;
        }
        wt_sleep_ms(1);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The bytes of message `seq` of length `len`: checkable anywhere. */
static unsigned char pattern(uint32_t seq, size_t i) { return (unsigned char)(seq * 131u + i * 7u + (i >> 8)); }
static void fill(unsigned char *buf, uint32_t seq, size_t len) {
    for (size_t i = 0; i < len; i++) buf[i] = pattern(seq, i);
}
static int intact(const unsigned char *buf, uint32_t seq, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (buf[i] != pattern(seq, i)) return 0;
    return 1;
}

/* A message that says who sent it: 8 bytes of header, then the pattern. */
struct hdr {
    uint32_t producer;
    uint32_t seq;
};
static size_t make_msg(unsigned char *buf, uint32_t producer, uint32_t seq, size_t body) {
    struct hdr h = {producer, seq};
    memcpy(buf, &h, sizeof h);
    fill(buf + sizeof h, seq ^ (producer << 20), body);
    return sizeof h + body;
}
static int read_msg(const unsigned char *buf, size_t len, struct hdr *h) {
    if (len < sizeof *h) return 0;
    memcpy(h, buf, sizeof *h);
    return intact(buf + sizeof *h, h->seq ^ (h->producer << 20), len - sizeof *h);
}

static void test_queue_bytes_make_a_round_trip_with_a_forked_child(void **state) {
    WT_SKIP_UNDER_TSAN();
    weft_queue *to_child = make_shared(NULL, 4, 0, 0), *to_parent = make_shared(NULL, 0, 4096, 0);
    unsigned char buf[1000];
    size_t len = 0;
    (void)state;
    pid_t pid = fork();
    if (pid == 0) {
        /* Echo each message back with its bytes reversed, until shutdown. */
        unsigned char in[1000], out[1000];
        size_t n;
        weft_status s;
        while ((s = weft_queue_get_bytes(to_child, in, sizeof in, &n, 5 * WEFT_SEC)) == WEFT_OK) {
            for (size_t i = 0; i < n; i++) out[i] = in[n - 1 - i];
            if (weft_queue_put_bytes(to_parent, out, n, 5 * WEFT_SEC) != WEFT_OK) _exit(2);
        }
        _exit(s == WEFT_ECLOSED ? 0 : 1);
    }
    assert_true(pid > 0);
    for (uint32_t k = 0; k < 200; k++) {
        size_t n = (k * 37) % sizeof buf;
        unsigned char back[1000];
        fill(buf, k, n);
        WT_OK(weft_queue_put_bytes(to_child, buf, n, 5 * WEFT_SEC));
        WT_OK(weft_queue_get_bytes(to_parent, back, sizeof back, &len, 5 * WEFT_SEC));
        assert_int_equal(len, n);
        for (size_t i = 0; i < n; i++) assert_int_equal(back[i], buf[n - 1 - i]);
    }
    WT_OK(weft_queue_shutdown(to_child, 0));
    assert_int_equal(reap(pid, 10000), 0);
    weft_queue_destroy(to_child);
    weft_queue_destroy(to_parent);
}

static void test_queue_named_queue_is_opened_by_another_process(void **state) {
    WT_SKIP_UNDER_TSAN();
    const char *name = qname("named");
    weft_queue *q = make_shared(name, 5, 0, 0);
    char buf[64];
    size_t len;
    (void)state;
    pid_t pid = fork();
    if (pid == 0) {
        weft_queue *mine;
        char msg[32];
        if (weft_queue_open(&mine, name) != WEFT_OK) _exit(1);
        if (weft_queue_max_message(mine) != (int64_t)(WEFT_QUEUE_DEFAULT_MAX_BYTES - WEFT_QUEUE_MESSAGE_OVERHEAD))
            _exit(2);
        for (int i = 1; i <= 20; i++) {
            int n = snprintf(msg, sizeof msg, "file-%d", i);
            if (weft_queue_put_bytes(mine, msg, (size_t)n, 5 * WEFT_SEC) != WEFT_OK) _exit(3);
        }
        weft_queue_destroy(mine); /* a non-creator's close keeps the name (owned lifetime) */
        _exit(0);
    }
    assert_true(pid > 0);
    for (int i = 1; i <= 20; i++) {
        char want[32];
        snprintf(want, sizeof want, "file-%d", i);
        WT_OK(weft_queue_get_bytes(q, buf, sizeof buf, &len, 5 * WEFT_SEC));
        assert_int_equal(len, strlen(want));
        assert_memory_equal(buf, want, len);
    }
    assert_int_equal(reap(pid, 10000), 0);
    weft_queue_destroy(q); /* the creator's destroy removes the name */
    weft_queue *again;
    WT_EXPECT(WEFT_ENOENT, weft_queue_open(&again, name));
    assert_null(again);
}

enum { PPROCS = 2, CPROCS = 2, PER_PPROC = 3000 };

static void test_queue_two_producer_and_two_consumer_processes_deliver_each_message_once_in_order(void **state) {
    WT_SKIP_UNDER_TSAN();
    weft_queue *q = make_shared(NULL, 16, 8192, 0);
    weft_queue *results = make_shared(NULL, 0, 64 * 1024, 0);
    unsigned char seen[PPROCS][PER_PPROC];
    pid_t pids[PPROCS + CPROCS];
    (void)state;
    memset(seen, 0, sizeof seen);
    for (int c = 0; c < CPROCS; c++) {
        pid_t pid = fork();
        if (pid == 0) {
            /* Take until shut down; check order per producer and integrity;
             * send what was seen to the parent. */
            static unsigned char mine[PPROCS][PER_PPROC];
            unsigned char buf[600];
            uint32_t last[PPROCS] = {0};
            size_t n;
            struct hdr h = {0, 0};
            weft_status s;
            memset(mine, 0, sizeof mine);
            while ((s = weft_queue_get_bytes(q, buf, sizeof buf, &n, 10 * WEFT_SEC)) == WEFT_OK) {
                if (!read_msg(buf, n, &h) || h.producer >= PPROCS || h.seq < 1 || h.seq > PER_PPROC) _exit(2);
                if (h.seq <= last[h.producer]) _exit(3); /* order per producer */
                last[h.producer] = h.seq;
                mine[h.producer][h.seq - 1]++;
            }
            if (s != WEFT_ECLOSED) _exit(1);
            if (weft_queue_put_bytes(results, mine, sizeof mine, 10 * WEFT_SEC) != WEFT_OK) _exit(4);
            _exit(0);
        }
        assert_true(pid > 0);
        pids[PPROCS + c] = pid;
    }
    for (int p = 0; p < PPROCS; p++) {
        pid_t pid = fork();
        if (pid == 0) {
            unsigned char buf[600];
            for (uint32_t i = 1; i <= PER_PPROC; i++) {
                size_t n = make_msg(buf, (uint32_t)p, i, (i * 13u + (uint32_t)p) % 500);
                if (weft_queue_put_bytes(q, buf, n, 10 * WEFT_SEC) != WEFT_OK) _exit(1);
            }
            _exit(0);
        }
        assert_true(pid > 0);
        pids[p] = pid;
    }
    for (int p = 0; p < PPROCS; p++) assert_int_equal(reap(pids[p], 30000), 0);
    WT_OK(weft_queue_shutdown(q, 0)); /* consumers drain, then see ECLOSED */
    for (int c = 0; c < CPROCS; c++) {
        static unsigned char got[PPROCS][PER_PPROC];
        size_t n;
        WT_OK(weft_queue_get_bytes(results, got, sizeof got, &n, 30 * WEFT_SEC));
        assert_int_equal(n, sizeof got);
        for (int p = 0; p < PPROCS; p++)
            for (int i = 0; i < PER_PPROC; i++) seen[p][i] = (unsigned char)(seen[p][i] + got[p][i]);
    }
    for (int c = 0; c < CPROCS; c++) assert_int_equal(reap(pids[PPROCS + c], 30000), 0);
    for (int p = 0; p < PPROCS; p++)
        for (int i = 0; i < PER_PPROC; i++) assert_int_equal(seen[p][i], 1); /* exactly once */
    assert_int_equal(weft_queue_size(q), 0);
    weft_queue_destroy(q);
    weft_queue_destroy(results);
}

static void test_queue_bytes_time_out_when_empty_and_when_full(void **state) {
    weft_queue *q = make_shared(NULL, 2, 0, 0);
    char buf[8];
    size_t len = 99;
    (void)state;
    WT_EXPECT(WEFT_ETIMEDOUT, weft_queue_get_bytes(q, buf, sizeof buf, &len, 0));
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_queue_get_bytes(q, buf, sizeof buf, &len, 50 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 50);
    WT_OK(weft_queue_put_bytes(q, "a", 1, 0));
    WT_OK(weft_queue_put_bytes(q, "b", 1, 0));
    WT_EXPECT(WEFT_ETIMEDOUT, weft_queue_put_bytes(q, "c", 1, 0));
    t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_queue_put_bytes(q, "c", 1, 40 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 40);
    assert_int_equal(weft_queue_size(q), 2);
    weft_queue_destroy(q);
}

static void test_queue_bytes_are_bounded_by_count_and_by_bytes(void **state) {
    weft_queue *q = make_shared(NULL, 3, 0, 0);
    unsigned char big[48] = {0};
    char buf[64];
    size_t len;
    (void)state;
    for (int i = 0; i < 3; i++) WT_OK(weft_queue_put_bytes(q, "x", 1, 0));
    assert_int_equal(weft_queue_full(q), 1);
    WT_EXPECT(WEFT_ETIMEDOUT, weft_queue_put_bytes(q, "", 0, 0)); /* count bound, even for 0 bytes */
    WT_OK(weft_queue_get_bytes(q, buf, sizeof buf, &len, 0));
    assert_int_equal(weft_queue_full(q), 0);
    WT_OK(weft_queue_put_bytes(q, "y", 1, 0));
    weft_queue_destroy(q);

    /* 100 bytes of ring: two messages of 40 take 2 * (40 + 8) = 96. */
    q = make_shared(NULL, 0, 100, 0);
    WT_OK(weft_queue_put_bytes(q, big, 40, 0));
    assert_int_equal(weft_queue_full(q), 0);
    WT_OK(weft_queue_put_bytes(q, big, 40, 0));
    assert_int_equal(weft_queue_full(q), 1); /* 4 bytes left: not even an empty message fits */
    WT_EXPECT(WEFT_ETIMEDOUT, weft_queue_put_bytes(q, big, 0, 0));
    assert_int_equal(weft_queue_size(q), 2);
    WT_OK(weft_queue_get_bytes(q, buf, sizeof buf, &len, 0));
    assert_int_equal(len, 40);
    WT_EXPECT(WEFT_ETIMEDOUT, weft_queue_put_bytes(q, big, 45, 0)); /* 53 > 52 free */
    WT_OK(weft_queue_put_bytes(q, big, 44, 0));                      /* exactly fills the ring */
    assert_int_equal(weft_queue_full(q), 1);
    weft_queue_destroy(q);
}

static void test_queue_empty_messages_are_messages(void **state) {
    weft_queue *q = make_shared(NULL, 0, 0, 0);
    void *data = NULL;
    size_t len = 99;
    (void)state;
    WT_OK(weft_queue_put_bytes(q, NULL, 0, 0));
    WT_OK(weft_queue_put_bytes(q, "", 0, 0));
    assert_int_equal(weft_queue_size(q), 2);
    assert_int_equal(weft_queue_empty(q), 0);
    WT_OK(weft_queue_get_bytes(q, NULL, 0, &len, 0));
    assert_int_equal(len, 0);
    WT_OK(weft_queue_get_bytes_alloc(q, &data, &len, 0));
    assert_int_equal(len, 0);
    assert_non_null(data);
    assert_int_equal(((char *)data)[0], 0);
    weft_queue_bytes_free(data);
    assert_int_equal(weft_queue_empty(q), 1);
    weft_queue_destroy(q);
}

static void test_queue_oversized_messages_are_refused_at_once(void **state) {
    weft_queue *q = make_shared(NULL, 0, 64, 0);
    unsigned char big[100] = {0};
    (void)state;
    assert_int_equal(weft_queue_max_message(q), 64 - WEFT_QUEUE_MESSAGE_OVERHEAD);
    WT_EXPECT(WEFT_EMSGSIZE, weft_queue_put_bytes(q, big, 57, WEFT_FOREVER));
    WT_EXPECT(WEFT_EMSGSIZE, weft_queue_put_bytes(q, big, 100, WEFT_FOREVER));
    WT_OK(weft_queue_put_bytes(q, big, 56, 0));
    weft_queue_destroy(q);
    q = make_shared(NULL, 0, 1000, 10);
    assert_int_equal(weft_queue_max_message(q), 10);
    WT_EXPECT(WEFT_EMSGSIZE, weft_queue_put_bytes(q, big, 11, WEFT_FOREVER));
    WT_OK(weft_queue_put_bytes(q, big, 10, 0));
    assert_int_equal(weft_queue_size(q), 1);
    weft_queue_destroy(q);
}

static void test_queue_too_small_buffer_keeps_the_message(void **state) {
    weft_queue *q = make_shared(NULL, 0, 0, 0);
    char buf[32];
    size_t len = 0;
    void *data;
    (void)state;
    WT_OK(weft_queue_put_bytes(q, "twenty bytes exactly", 20, 0));
    WT_OK(weft_queue_put_bytes(q, "next", 4, 0));
    WT_EXPECT(WEFT_EMSGSIZE, weft_queue_get_bytes(q, buf, 10, &len, 0));
    assert_int_equal(len, 20);
    len = 0;
    WT_EXPECT(WEFT_EMSGSIZE, weft_queue_get_bytes(q, NULL, 0, &len, 0)); /* a peek at the size */
    assert_int_equal(len, 20);
    assert_int_equal(weft_queue_size(q), 2);
    WT_OK(weft_queue_get_bytes(q, buf, 20, &len, 0));
    assert_int_equal(len, 20);
    assert_memory_equal(buf, "twenty bytes exactly", 20);
    WT_OK(weft_queue_get_bytes_alloc(q, &data, &len, 0));
    assert_int_equal(len, 4);
    assert_string_equal((char *)data, "next");
    weft_queue_bytes_free(data);
    weft_queue_bytes_free(NULL);
    weft_queue_destroy(q);
}

/* A model FIFO of (seq, len) beside the real queue; random puts and gets of
 * sizes 0 .. 3 * ring over an odd-sized ring, so frames and headers wrap at
 * every offset. */
static void test_queue_bytes_wrap_around_the_ring_intact(void **state) {
    enum { RING = 97, OPS = 30000 };
    weft_queue *q = make_shared(NULL, 0, RING, 0);
    struct {
        uint32_t seq;
        size_t len;
    } model[RING];
    unsigned char in[3 * RING + 1], out[3 * RING + 1];
    int head = 0, n = 0;
    size_t used = 0, len;
    uint32_t next = 1, rnd = 12345;
    (void)state;
    for (int op = 0; op < OPS; op++) {
        rnd = rnd * 1103515245u + 12345u;
        if ((rnd >> 16) % 2 == 0) {
            size_t sz = (rnd >> 4) % (3 * RING + 1);
            fill(in, next, sz);
            weft_status s = weft_queue_put_bytes(q, in, sz, 0);
            if (sz > RING - WEFT_QUEUE_MESSAGE_OVERHEAD) {
                WT_EXPECT(WEFT_EMSGSIZE, s);
            } else if (used + sz + WEFT_QUEUE_MESSAGE_OVERHEAD > RING) {
                WT_EXPECT(WEFT_ETIMEDOUT, s);
            } else {
                WT_OK(s);
                model[(head + n) % RING].seq = next++;
                model[(head + n) % RING].len = sz;
                n++;
                used += sz + WEFT_QUEUE_MESSAGE_OVERHEAD;
            }
        } else {
            weft_status s = weft_queue_get_bytes(q, out, sizeof out, &len, 0);
            if (n == 0) {
                WT_EXPECT(WEFT_ETIMEDOUT, s);
            } else {
                WT_OK(s);
                assert_int_equal(len, model[head].len);
                assert_true(intact(out, model[head].seq, len));
                used -= len + WEFT_QUEUE_MESSAGE_OVERHEAD;
                head = (head + 1) % RING;
                n--;
            }
        }
        assert_int_equal(weft_queue_size(q), n);
    }
    assert_true(next > 1000); /* the loop really moved messages */
    weft_queue_destroy(q);
}

static void test_queue_shutdown_after_drain_wakes_a_getter_in_another_process(void **state) {
    WT_SKIP_UNDER_TSAN();
    weft_queue *q = make_shared(NULL, 1, 0, 0);
    (void)state;
    pid_t getter = fork();
    if (getter == 0) {
        char buf[16];
        size_t n;
        /* Blocked until the last message, then drained: ECLOSED at once. */
        if (weft_queue_get_bytes(q, buf, sizeof buf, &n, 10 * WEFT_SEC) != WEFT_OK || n != 4 || memcmp(buf, "last", 4))
            _exit(1);
        if (weft_queue_get_bytes(q, buf, sizeof buf, &n, 10 * WEFT_SEC) != WEFT_ECLOSED) _exit(2);
        _exit(0);
    }
    assert_true(getter > 0);
    wt_sleep_ms(50);
    WT_OK(weft_queue_put_bytes(q, "last", 4, 0));
    WT_OK(weft_queue_shutdown(q, 0));
    assert_int_equal(weft_queue_is_shutdown(q), 1);
    WT_EXPECT(WEFT_ECLOSED, weft_queue_put_bytes(q, "more", 4, 0));
    assert_int_equal(reap(getter, 10000), 0);
    weft_queue_destroy(q);

    /* A getter blocked on an empty queue is woken by a plain shutdown. */
    q = make_shared(NULL, 0, 0, 0);
    getter = fork();
    if (getter == 0) {
        size_t n;
        _exit(weft_queue_get_bytes(q, NULL, 0, &n, 10 * WEFT_SEC) == WEFT_ECLOSED ? 0 : 1);
    }
    assert_true(getter > 0);
    wt_sleep_ms(50);
    int64_t t0 = weft_monotonic_ns();
    WT_OK(weft_queue_shutdown(q, 0));
    assert_int_equal(reap(getter, 10000), 0);
    assert_true(wt_ms_since(t0) < 5000);
    weft_queue_destroy(q);
}

static void test_queue_immediate_shutdown_wakes_putters_getters_and_joiners_in_other_processes(void **state) {
    WT_SKIP_UNDER_TSAN();
    weft_queue *q = make_shared(NULL, 3, 0, 0);
    weft_queue *empty = make_shared(NULL, 0, 0, 0);
    size_t n;
    (void)state;
    for (int i = 0; i < 3; i++) WT_OK(weft_queue_put_bytes(q, "abc", 3, 0));
    pid_t putter = fork();
    if (putter == 0) _exit(weft_queue_put_bytes(q, "d", 1, 10 * WEFT_SEC) == WEFT_ECLOSED ? 0 : 1);
    pid_t joiner = fork();
    if (joiner == 0) _exit(weft_queue_join(q, 10 * WEFT_SEC) == WEFT_OK ? 0 : 1);
    pid_t getter = fork();
    if (getter == 0) _exit(weft_queue_get_bytes(empty, NULL, 0, &n, 10 * WEFT_SEC) == WEFT_ECLOSED ? 0 : 1);
    assert_true(putter > 0 && joiner > 0 && getter > 0);
    wt_sleep_ms(60);
    WT_OK(weft_queue_shutdown(q, 1));
    WT_OK(weft_queue_shutdown(empty, 1));
    assert_int_equal(reap(putter, 10000), 0);
    assert_int_equal(reap(joiner, 10000), 0);
    assert_int_equal(reap(getter, 10000), 0);
    WT_EXPECT(WEFT_ECLOSED, weft_queue_get_bytes(q, NULL, 0, &n, 0)); /* dropped: at once */
    assert_int_equal(weft_queue_size(q), 0);
    WT_OK(weft_queue_join(q, 0));
    weft_queue_destroy(q);
    weft_queue_destroy(empty);
}

static void test_queue_join_waits_for_task_done_in_another_process(void **state) {
    WT_SKIP_UNDER_TSAN();
    weft_queue *q = make_shared(NULL, 0, 0, 0);
    (void)state;
    WT_OK(weft_queue_join(q, 0));
    for (int i = 0; i < 3; i++) WT_OK(weft_queue_put_bytes(q, "job", 3, 0));
    pid_t worker = fork();
    if (worker == 0) {
        char buf[8];
        size_t n;
        for (int i = 0; i < 3; i++) {
            if (weft_queue_get_bytes(q, buf, sizeof buf, &n, 5 * WEFT_SEC) != WEFT_OK) _exit(1);
            wt_sleep_ms(30);
            if (weft_queue_task_done(q) != WEFT_OK) _exit(2);
        }
        _exit(0);
    }
    assert_true(worker > 0);
    WT_EXPECT(WEFT_ETIMEDOUT, weft_queue_join(q, 20 * WEFT_MSEC));
    int64_t t0 = weft_monotonic_ns();
    WT_OK(weft_queue_join(q, 10 * WEFT_SEC));
    assert_true(wt_ms_since(t0) >= 30);
    assert_int_equal(reap(worker, 10000), 0);
    WT_EXPECT(WEFT_ESTATE, weft_queue_task_done(q)); /* one too many */
    weft_queue_destroy(q);
}

static void test_queue_open_refuses_a_missing_name_and_another_kind(void **state) {
    weft_queue *q = ITEM(1);
    weft_shm *seg;
    (void)state;
    WT_EXPECT(WEFT_ENOENT, weft_queue_open(&q, qname("missing")));
    assert_null(q);
    WT_OK(weft_shm_create(&seg, qname("raw"), 4096, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_queue_open(&q, qname("raw")));
    assert_null(q);
    weft_shm_close(seg);
    WT_EXPECT(WEFT_EINVAL, weft_queue_open(NULL, qname("raw")));
    WT_EXPECT(WEFT_EINVAL, weft_queue_open(&q, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_queue_open(&q, "a/b"));
    /* An existing queue name: EEXIST without OPEN_EXISTING. */
    weft_queue *first = make_shared(qname("dup"), 0, 0, 0);
    weft_queue_options o = WEFT_QUEUE_OPTIONS_INIT;
    o.share.scope = WEFT_SCOPE_PROCESS;
    o.share.name = qname("dup");
    WT_EXPECT(WEFT_EEXIST, weft_queue_create(&q, &o));
    weft_queue_destroy(first);
}

enum { RACERS = 4 };

static void test_queue_processes_racing_to_create_a_name_share_one_queue(void **state) {
    WT_SKIP_UNDER_TSAN();
    const char *name = qname("race");
    int gate[2];
    pid_t pids[RACERS];
    int created = 0;
    (void)state;
    for (int round = 0; round < 2; round++) {
        int open_existing = round == 0;
        assert_int_equal(pipe(gate), 0);
        for (int i = 0; i < RACERS; i++) {
            pid_t pid = fork();
            if (pid == 0) {
                weft_queue_options o = WEFT_QUEUE_OPTIONS_INIT;
                weft_queue *q;
                char c;
                close(gate[1]);
                if (read(gate[0], &c, 1) != 0) _exit(9); /* all start when the gate closes */
                o.share.scope = WEFT_SCOPE_PROCESS;
                o.share.name = name;
                o.share.lifetime = WEFT_LIFETIME_PERSISTENT;
                o.share.flags = open_existing ? WEFT_SHARE_OPEN_EXISTING : 0;
                o.max_bytes = 1024u * (unsigned)(i + 1); /* the losers take the winner's size */
                weft_status s = weft_queue_create(&q, &o);
                if (s == WEFT_EEXIST && !open_existing) _exit(2);
                if (s != WEFT_OK) _exit(3);
                if (weft_queue_put_bytes(q, &i, sizeof i, WEFT_SEC) != WEFT_OK) _exit(4);
                /* exit without destroy: the persistent name stays */
                _exit(0);
            }
            assert_true(pid > 0);
            pids[i] = pid;
        }
        close(gate[0]);
        close(gate[1]);
        int ok = 0, lost = 0;
        for (int i = 0; i < RACERS; i++) {
            int code = reap(pids[i], 10000);
            if (code == 0) ok++;
            else if (code == 2) lost++;
            else fail_msg("racer %d exited with %d", i, code);
        }
        weft_queue *q;
        WT_OK(weft_queue_open(&q, name));
        if (open_existing) {
            assert_int_equal(ok, RACERS); /* one created, the others opened the same queue */
            assert_int_equal(weft_queue_size(q), RACERS);
        } else {
            assert_int_equal(ok, 1); /* one winner, the others got EEXIST */
            assert_int_equal(lost, RACERS - 1);
            assert_int_equal(weft_queue_size(q), 1);
        }
        created += ok;
        weft_queue_destroy(q);
        WT_OK(weft_shm_unlink(name));
    }
    assert_int_equal(created, RACERS + 1);
}

/* Shared counters of the kill tests, in an anonymous MAP_SHARED page. */
struct kill_board {
    volatile uint32_t last_put;  /* producer: last seq whose put returned */
    volatile uint32_t last_got;  /* consumer: last seq whose get returned */
    volatile uint32_t bad;       /* a consumer saw a damaged or out-of-order message */
    volatile uint32_t progress;  /* operations done, to kill at a busy moment */
};

static struct kill_board *board_new(void) {
    void *p = mmap(NULL, sizeof(struct kill_board), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    memset(p, 0, sizeof(struct kill_board));
    return p;
}

enum { KILL_ROUNDS = 60, KILL_RING = 256 * 1024, KILL_MAX_BODY = 60000 };

static size_t kill_body(uint32_t seq) { return (seq * 7919u) % KILL_MAX_BODY; }

static void test_queue_producer_killed_in_the_middle_of_a_put_never_wedges_the_queue(void **state) {
    WT_SKIP_UNDER_TSAN();
    weft_queue *q = make_shared(NULL, 0, KILL_RING, 0);
    struct kill_board *b = board_new();
    unsigned char *buf = malloc(KILL_MAX_BODY + 64);
    uint32_t rnd = 777, expect = 1, received = 0;
    (void)state;
    assert_non_null(buf);
    for (int round = 0; round < KILL_ROUNDS; round++) {
        b->progress = 0;
        pid_t pid = fork();
        if (pid == 0) {
            /* Put forever: it dies in the middle of one. */
            for (uint32_t seq = expect;; seq++) {
                size_t n = make_msg(buf, 0, seq, kill_body(seq));
                if (weft_queue_put_bytes(q, buf, n, 10 * WEFT_SEC) != WEFT_OK) _exit(1);
                b->last_put = seq;
                b->progress++;
            }
        }
        assert_true(pid > 0);
        /* Take messages for a random 0..2 ms, so the child is busy putting,
         * then kill it. */
        size_t n;
        struct hdr h = {0, 0};
        weft_status s;
        for (int i = 0; i < 2000 && b->progress == 0; i++) weft_sleep_ns(100 * WEFT_USEC);
        rnd = rnd * 1103515245u + 12345u;
        int64_t until = weft_monotonic_ns() + (int64_t)((rnd >> 8) % 2000) * WEFT_USEC;
        do {
            if (weft_queue_get_bytes(q, buf, KILL_MAX_BODY + 64, &n, 0) != WEFT_OK) continue;
            assert_true(read_msg(buf, n, &h));
            assert_int_equal(h.seq, expect);
            assert_int_equal(n, sizeof h + kill_body(h.seq));
            expect++;
            received++;
        } while (weft_monotonic_ns() < until);
        kill(pid, SIGKILL);
        assert_int_equal(reap(pid, 10000), 128 + SIGKILL);
        /* Every message whose put returned is there, whole, in order; the
         * one being put at the kill is there whole or not at all. */
        uint32_t committed = b->last_put;
        while ((s = weft_queue_get_bytes(q, buf, KILL_MAX_BODY + 64, &n, 0)) == WEFT_OK) {
            assert_true(read_msg(buf, n, &h));
            assert_int_equal(h.seq, expect);
            assert_int_equal(n, sizeof h + kill_body(h.seq));
            expect++;
            received++;
        }
        WT_EXPECT(WEFT_ETIMEDOUT, s);
        assert_true(expect == committed + 1 || expect == committed + 2);
        /* and the queue still works at once */
        WT_OK(weft_queue_put_bytes(q, "ok", 2, 0));
        WT_OK(weft_queue_get_bytes(q, buf, 2, &n, 0));
    }
    assert_true(received > 0);
    free(buf);
    munmap(b, sizeof *b);
    weft_queue_destroy(q);
}

static void test_queue_consumer_killed_in_the_middle_of_a_get_never_wedges_the_queue(void **state) {
    WT_SKIP_UNDER_TSAN();
    weft_queue *q = make_shared(NULL, 0, KILL_RING, 0);
    struct kill_board *b = board_new();
    unsigned char *buf = malloc(KILL_MAX_BODY + 64);
    uint32_t rnd = 4242, next_put = 1, taken_by_children = 0;
    (void)state;
    assert_non_null(buf);
    for (int round = 0; round < KILL_ROUNDS; round++) {
        /* Fill the ring, then let a child take and check messages. */
        size_t n;
        for (;;) {
            n = make_msg(buf, 0, next_put, kill_body(next_put));
            if (weft_queue_put_bytes(q, buf, n, 0) != WEFT_OK) break;
            next_put++;
        }
        uint32_t first = next_put - (uint32_t)weft_queue_size(q);
        b->progress = 0;
        b->last_got = first - 1;
        pid_t pid = fork();
        if (pid == 0) {
            struct hdr h = {0, 0};
            size_t len;
            for (uint32_t want = first;; want++) {
                weft_status s = weft_queue_get_bytes(q, buf, KILL_MAX_BODY + 64, &len, 10 * WEFT_SEC);
                if (s != WEFT_OK) _exit(1);
                if (!read_msg(buf, len, &h) || h.seq != want || len != sizeof h + kill_body(want)) b->bad++;
                b->last_got = want;
                b->progress++;
            }
        }
        assert_true(pid > 0);
        /* Keep the child busy for a random 0..2 ms, then kill it. */
        for (int i = 0; i < 2000 && b->progress == 0; i++) weft_sleep_ns(100 * WEFT_USEC);
        rnd = rnd * 1103515245u + 12345u;
        int64_t until = weft_monotonic_ns() + (int64_t)((rnd >> 8) % 2000) * WEFT_USEC;
        do {
            n = make_msg(buf, 0, next_put, kill_body(next_put));
            if (weft_queue_put_bytes(q, buf, n, 0) == WEFT_OK) next_put++;
        } while (weft_monotonic_ns() < until);
        kill(pid, SIGKILL);
        assert_int_equal(reap(pid, 10000), 128 + SIGKILL);
        assert_int_equal(b->bad, 0);
        taken_by_children += b->last_got + 1 - first;
        /* What the child took is gone; the message it was taking at the
         * kill is gone whole or still here whole; the rest is intact. */
        struct hdr h = {0, 0};
        weft_status s = weft_queue_get_bytes(q, buf, KILL_MAX_BODY + 64, &n, 0);
        if (s == WEFT_OK) {
            assert_true(read_msg(buf, n, &h));
            assert_true(h.seq == b->last_got + 1 || h.seq == b->last_got + 2);
            uint32_t want = h.seq + 1;
            while ((s = weft_queue_get_bytes(q, buf, KILL_MAX_BODY + 64, &n, 0)) == WEFT_OK) {
                assert_true(read_msg(buf, n, &h));
                assert_int_equal(h.seq, want);
                want++;
            }
            assert_int_equal(want, next_put);
        } else {
            assert_true(b->last_got + 1 == next_put || b->last_got + 2 == next_put); /* it took them all */
        }
        WT_EXPECT(WEFT_ETIMEDOUT, s);
        assert_int_equal(weft_queue_size(q), 0);
    }
    assert_true(taken_by_children > 0);
    free(buf);
    munmap(b, sizeof *b);
    weft_queue_destroy(q);
}

/* The same queue between threads of one process (and so under TSan too):
 * a small ring makes every thread block and be woken many times. */
enum { TPROD = 2, TCONS = 2, PER_TPROD = 5000 };
struct tpeer {
    weft_queue *q;
    uint32_t id;
    int errors;
    uint32_t count;
    uint32_t last[TPROD];
    unsigned char seen[TPROD][PER_TPROD];
};

static void *tproduce(void *arg) {
    struct tpeer *p = arg;
    unsigned char buf[300];
    for (uint32_t i = 1; i <= PER_TPROD; i++) {
        size_t n = make_msg(buf, p->id, i, (i * 11u) % 200);
        if (weft_queue_put_bytes(p->q, buf, n, 10 * WEFT_SEC) != WEFT_OK) p->errors++;
    }
    return NULL;
}

static void *tconsume(void *arg) {
    struct tpeer *c = arg;
    unsigned char buf[300];
    size_t n;
    struct hdr h = {0, 0};
    weft_status s;
    while ((s = weft_queue_get_bytes(c->q, buf, sizeof buf, &n, 10 * WEFT_SEC)) == WEFT_OK) {
        if (!read_msg(buf, n, &h) || h.producer >= TPROD || h.seq < 1 || h.seq > PER_TPROD ||
            h.seq <= c->last[h.producer]) {
            c->errors++;
            continue;
        }
        c->last[h.producer] = h.seq;
        c->seen[h.producer][h.seq - 1]++;
        c->count++;
        if (weft_queue_task_done(c->q) != WEFT_OK) c->errors++;
    }
    if (s != WEFT_ECLOSED) c->errors++;
    return NULL;
}

static void test_queue_process_scope_queue_also_serves_threads(void **state) {
    weft_queue *q = make_shared(NULL, 8, 512, 0);
    static struct tpeer p[TPROD], c[TCONS];
    pthread_t pt[TPROD], ct[TCONS];
    uint32_t total = 0;
    (void)state;
    memset(p, 0, sizeof p);
    memset(c, 0, sizeof c);
    for (int i = 0; i < TCONS; i++) {
        c[i].q = q;
        pthread_create(&ct[i], NULL, tconsume, &c[i]);
    }
    for (int i = 0; i < TPROD; i++) {
        p[i].q = q;
        p[i].id = (uint32_t)i;
        pthread_create(&pt[i], NULL, tproduce, &p[i]);
    }
    for (int i = 0; i < TPROD; i++) pthread_join(pt[i], NULL);
    WT_OK(weft_queue_join(q, 30 * WEFT_SEC)); /* every message got and marked done */
    WT_OK(weft_queue_shutdown(q, 0));
    for (int i = 0; i < TCONS; i++) pthread_join(ct[i], NULL);
    for (int i = 0; i < TPROD; i++) assert_int_equal(p[i].errors, 0);
    for (int i = 0; i < TCONS; i++) {
        assert_int_equal(c[i].errors, 0);
        total += c[i].count;
    }
    assert_int_equal(total, TPROD * PER_TPROD);
    for (int k = 0; k < TPROD; k++)
        for (int i = 0; i < PER_TPROD; i++) assert_int_equal(c[0].seen[k][i] + c[1].seen[k][i], 1);
    weft_queue_destroy(q);
}

static void test_queue_bytes_reject_bad_input(void **state) {
    weft_queue_options o = WEFT_QUEUE_OPTIONS_INIT;
    weft_queue *q = ITEM(1), *tq;
    void *x = NULL;
    size_t len;
    char buf[4];
    (void)state;
    /* options */
    o.share.scope = WEFT_SCOPE_PROCESS;
    o.kind = WEFT_QUEUE_LIFO;
    WT_EXPECT(WEFT_ENOTSUP, weft_queue_create(&q, &o));
    assert_null(q);
    o.kind = WEFT_QUEUE_PRIORITY;
    WT_EXPECT(WEFT_ENOTSUP, weft_queue_create(&q, &o));
    o.kind = WEFT_QUEUE_FIFO;
    o.item_free = free;
    WT_EXPECT(WEFT_EINVAL, weft_queue_create(&q, &o));
    o.item_free = NULL;
    o.max_bytes = WEFT_QUEUE_MESSAGE_OVERHEAD; /* no room for any message */
    WT_EXPECT(WEFT_EINVAL, weft_queue_create(&q, &o));
    o.max_bytes = 100;
    o.max_message = 93;
    WT_EXPECT(WEFT_EINVAL, weft_queue_create(&q, &o));
    o.max_message = 0;
    o.share.scope = 7;
    WT_EXPECT(WEFT_EINVAL, weft_queue_create(&q, &o));
    o.share.scope = WEFT_SCOPE_THREAD; /* bytes bounds need process scope */
    WT_EXPECT(WEFT_EINVAL, weft_queue_create(&q, &o));
    o.max_bytes = 0;
    o.share.name = "thread-scope-has-no-name";
    WT_EXPECT(WEFT_EINVAL, weft_queue_create(&q, &o));
    o.share.name = NULL;
    o.share.scope = WEFT_SCOPE_PROCESS;
    o.capacity = 0; /* zero capacity: no count bound, the bytes bound the queue */
    WT_OK(weft_queue_create(&q, &o));
    WT_OK(weft_queue_create(&tq, NULL));

    /* calls */
    WT_EXPECT(WEFT_EMISUSE, weft_queue_put_bytes(NULL, "a", 1, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_queue_get_bytes(NULL, buf, sizeof buf, &len, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_queue_get_bytes_alloc(NULL, &x, &len, 0));
    assert_int_equal(weft_queue_max_message(NULL), WEFT_EMISUSE);
    WT_EXPECT(WEFT_EINVAL, weft_queue_put_bytes(q, NULL, 1, 0));
    WT_EXPECT(WEFT_EINVAL, weft_queue_put_bytes(q, "a", 1, -2));
    WT_EXPECT(WEFT_EINVAL, weft_queue_get_bytes(q, buf, sizeof buf, NULL, 0));
    WT_EXPECT(WEFT_EINVAL, weft_queue_get_bytes(q, NULL, 4, &len, 0));
    WT_EXPECT(WEFT_EINVAL, weft_queue_get_bytes(q, buf, sizeof buf, &len, -5));
    WT_EXPECT(WEFT_EINVAL, weft_queue_get_bytes_alloc(q, NULL, &len, 0));
    WT_EXPECT(WEFT_EINVAL, weft_queue_get_bytes_alloc(q, &x, NULL, 0));
    WT_EXPECT(WEFT_EINVAL, weft_queue_get_bytes_alloc(q, &x, &len, -5));
    WT_EXPECT(WEFT_EINVAL, weft_queue_join(q, -5));
    /* pointers do not cross processes; bytes need process scope */
    WT_EXPECT(WEFT_ENOTSUP, weft_queue_put(q, ITEM(1), 0));
    WT_EXPECT(WEFT_ENOTSUP, weft_queue_get(q, &x, 0));
    WT_EXPECT(WEFT_ENOTSUP, weft_queue_put_priority(q, ITEM(1), 1, 0));
    WT_EXPECT(WEFT_ENOTSUP, weft_queue_put_bytes(tq, "a", 1, 0));
    WT_EXPECT(WEFT_ENOTSUP, weft_queue_get_bytes(tq, buf, sizeof buf, &len, 0));
    WT_EXPECT(WEFT_ENOTSUP, weft_queue_get_bytes_alloc(tq, &x, &len, 0));
    assert_int_equal(weft_queue_max_message(tq), WEFT_ENOTSUP);
    WT_EXPECT(WEFT_ESTATE, weft_queue_task_done(q));
    assert_int_equal(weft_queue_is_shutdown(q), 0);
    weft_queue_destroy(q);
    weft_queue_destroy(tq);
}

/* The layout of version 1 of weft_queue_options, as an old caller has it. */
struct queue_options_v1 {
    uint32_t version;
    int kind;
    size_t capacity;
    weft_free_fn item_free;
};

static void test_queue_accepts_version_1_options(void **state) {
    struct queue_options_v1 *o1 = malloc(sizeof *o1); /* on the heap: ASan sees a read past it */
    weft_queue *q;
    void *x;
    (void)state;
    assert_non_null(o1);
    o1->version = 1;
    o1->kind = WEFT_QUEUE_LIFO;
    o1->capacity = 2;
    o1->item_free = NULL;
    WT_OK(weft_queue_create(&q, (const weft_queue_options *)(void *)o1));
    WT_OK(weft_queue_put(q, ITEM(1), 0));
    WT_OK(weft_queue_put(q, ITEM(2), 0));
    WT_EXPECT(WEFT_ETIMEDOUT, weft_queue_put(q, ITEM(3), 0));
    WT_OK(weft_queue_get(q, &x, 0));
    assert_int_equal(NUM(x), 2);
    weft_queue_destroy(q);
    free(o1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(test_queue_fifo_gives_items_in_put_order, &unbounded),
        cmocka_unit_test_prestate(test_queue_fifo_gives_items_in_put_order, &bounded),
        cmocka_unit_test(test_queue_lifo_is_a_stack),
        cmocka_unit_test(test_queue_priority_gives_lowest_first_and_fifo_among_equals),
        cmocka_unit_test_prestate(test_queue_get_times_out_when_empty, &unbounded),
        cmocka_unit_test_prestate(test_queue_get_times_out_when_empty, &bounded),
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
        cmocka_unit_test_prestate(test_queue_many_producers_and_consumers_lose_nothing_and_keep_order, &tiny),
        cmocka_unit_test_prestate(test_queue_many_producers_and_consumers_lose_nothing_and_keep_order, &twelve),
        cmocka_unit_test_prestate(test_queue_many_producers_and_consumers_lose_nothing_and_keep_order, &bounded),
        cmocka_unit_test_prestate(test_queue_many_producers_and_consumers_lose_nothing_and_keep_order, &unbounded),
        cmocka_unit_test_prestate(test_queue_second_producer_and_consumers_join_a_queue_used_alone, &tiny),
        cmocka_unit_test_prestate(test_queue_second_producer_and_consumers_join_a_queue_used_alone, &twelve),
        cmocka_unit_test_prestate(test_queue_second_producer_and_consumers_join_a_queue_used_alone, &bench_cap),
        cmocka_unit_test_prestate(test_queue_second_producer_and_consumers_join_a_queue_used_alone, &unbounded),
        cmocka_unit_test_prestate(test_queue_one_producer_one_consumer_keep_order_over_many_laps, &tiny),
        cmocka_unit_test_prestate(test_queue_one_producer_one_consumer_keep_order_over_many_laps, &odd),
        cmocka_unit_test_prestate(test_queue_one_producer_one_consumer_keep_order_over_many_laps, &bench_cap),
        cmocka_unit_test_prestate(test_queue_one_producer_one_consumer_keep_order_over_many_laps, &unbounded),
        cmocka_unit_test_prestate(test_queue_sleeping_consumer_and_producer_are_woken_for_every_item, &tiny),
        cmocka_unit_test_prestate(test_queue_sleeping_consumer_and_producer_are_woken_for_every_item, &bench_cap),
        cmocka_unit_test_prestate(test_queue_sleeping_consumer_and_producer_are_woken_for_every_item, &unbounded),
        cmocka_unit_test(test_queue_rejects_bad_input),
        /* process scope */
        cmocka_unit_test_teardown(test_queue_bytes_make_a_round_trip_with_a_forked_child, no_names_left),
        cmocka_unit_test_teardown(test_queue_named_queue_is_opened_by_another_process, no_names_left),
        cmocka_unit_test_teardown(test_queue_two_producer_and_two_consumer_processes_deliver_each_message_once_in_order,
                                  no_names_left),
        cmocka_unit_test_teardown(test_queue_bytes_time_out_when_empty_and_when_full, no_names_left),
        cmocka_unit_test_teardown(test_queue_bytes_are_bounded_by_count_and_by_bytes, no_names_left),
        cmocka_unit_test_teardown(test_queue_empty_messages_are_messages, no_names_left),
        cmocka_unit_test_teardown(test_queue_oversized_messages_are_refused_at_once, no_names_left),
        cmocka_unit_test_teardown(test_queue_too_small_buffer_keeps_the_message, no_names_left),
        cmocka_unit_test_teardown(test_queue_bytes_wrap_around_the_ring_intact, no_names_left),
        cmocka_unit_test_teardown(test_queue_shutdown_after_drain_wakes_a_getter_in_another_process, no_names_left),
        cmocka_unit_test_teardown(test_queue_immediate_shutdown_wakes_putters_getters_and_joiners_in_other_processes,
                                  no_names_left),
        cmocka_unit_test_teardown(test_queue_join_waits_for_task_done_in_another_process, no_names_left),
        cmocka_unit_test_teardown(test_queue_open_refuses_a_missing_name_and_another_kind, no_names_left),
        cmocka_unit_test_teardown(test_queue_processes_racing_to_create_a_name_share_one_queue, no_names_left),
        cmocka_unit_test_teardown(test_queue_producer_killed_in_the_middle_of_a_put_never_wedges_the_queue,
                                  no_names_left),
        cmocka_unit_test_teardown(test_queue_consumer_killed_in_the_middle_of_a_get_never_wedges_the_queue,
                                  no_names_left),
        cmocka_unit_test_teardown(test_queue_process_scope_queue_also_serves_threads, no_names_left),
        cmocka_unit_test_teardown(test_queue_bytes_reject_bad_input, no_names_left),
        cmocka_unit_test(test_queue_accepts_version_1_options),
    };
    return cmocka_run_group_tests_name("queue", tests, NULL, NULL);
}
