/* Pipes and socket connections: framing, sizes, timeouts mid-message, dead
 * peers, close while blocked, listeners on unix paths, abstract names and TCP,
 * authentication (and its refusals), hostile lengths, bad input, fork, and
 * interoperation with CPython's multiprocessing.connection. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weft_test.h"

extern char **environ;

/* ------------------------------------------------------------ helpers */

static void write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        assert_true(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

static void be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void unique_name(char *buf, size_t cap, const char *kind) {
    static int counter;
    snprintf(buf, cap, "%s/weft-test-conn-%ld-%d-%s", "/tmp", (long)getpid(), ++counter, kind);
}

static unsigned char pattern_byte(size_t i) { return (unsigned char)((i * 131u + (i >> 12)) & 0xff); }

/* ------------------------------------------------------------ pipes */

static void test_duplex_pipe_carries_messages_both_ways_whole(void **state) {
    weft_conn *a, *b;
    char buf[64];
    size_t len = 0;
    (void)state;
    WT_OK(weft_pipe(&a, &b, 1));
    WT_OK(weft_conn_send(a, "ping", 4, WEFT_FOREVER));
    WT_OK(weft_conn_send(a, "second", 6, WEFT_FOREVER));
    WT_OK(weft_conn_recv(b, buf, sizeof buf, &len, 1 * WEFT_SEC));
    assert_int_equal(len, 4);
    assert_memory_equal(buf, "ping", 4);
    WT_OK(weft_conn_recv(b, buf, sizeof buf, &len, 1 * WEFT_SEC));
    assert_int_equal(len, 6); /* boundaries kept: never merged */
    assert_memory_equal(buf, "second", 6);
    WT_OK(weft_conn_send(b, "pong", 4, 0));
    WT_OK(weft_conn_recv(a, buf, sizeof buf, &len, 1 * WEFT_SEC));
    assert_int_equal(len, 4);
    assert_memory_equal(buf, "pong", 4);
    WT_EXPECT(WEFT_ETIMEDOUT, weft_conn_recv(a, buf, sizeof buf, &len, 0));
    weft_conn_destroy(a);
    weft_conn_destroy(b);
}

static void test_one_way_pipe_refuses_the_wrong_direction(void **state) {
    weft_conn *r, *w;
    char buf[8];
    size_t len = 0;
    (void)state;
    WT_OK(weft_pipe(&r, &w, 0));
    WT_EXPECT(WEFT_ENOTSUP, weft_conn_send(r, "x", 1, 0));
    WT_EXPECT(WEFT_ENOTSUP, weft_conn_recv(w, buf, sizeof buf, &len, 0));
    WT_EXPECT(WEFT_ENOTSUP, weft_conn_poll(w, 0));
    WT_OK(weft_conn_send(w, "ok", 2, 0));
    WT_OK(weft_conn_poll(r, 1 * WEFT_SEC));
    WT_OK(weft_conn_recv(r, buf, sizeof buf, &len, 1 * WEFT_SEC));
    assert_int_equal(len, 2);
    assert_memory_equal(buf, "ok", 2);
    weft_conn_destroy(w);
    WT_EXPECT(WEFT_ECLOSED, weft_conn_recv(r, buf, sizeof buf, &len, 1 * WEFT_SEC));
    weft_conn_destroy(r);
}

static void test_pipe_carries_empty_and_one_byte_messages(void **state) {
    weft_conn *a, *b;
    char buf[4] = {0};
    size_t len = 99;
    void *got = NULL;
    (void)state;
    WT_OK(weft_pipe(&a, &b, 1));
    WT_OK(weft_conn_send(a, NULL, 0, 0));
    WT_OK(weft_conn_send(a, "z", 1, 0));
    WT_OK(weft_conn_send(a, "", 0, 0));
    WT_OK(weft_conn_recv(b, NULL, 0, &len, 1 * WEFT_SEC));
    assert_int_equal(len, 0);
    WT_OK(weft_conn_recv(b, buf, 1, &len, 1 * WEFT_SEC));
    assert_int_equal(len, 1);
    assert_int_equal(buf[0], 'z');
    WT_OK(weft_conn_recv_alloc(b, &got, &len, 1 * WEFT_SEC));
    assert_non_null(got); /* never NULL, even when empty */
    assert_int_equal(len, 0);
    weft_conn_free(got);
    weft_conn_destroy(a);
    weft_conn_destroy(b);
}

struct big_reader {
    weft_conn *c;
    size_t expect[2];
    weft_status st[2];
    size_t got[2];
    int corrupt;
};

static void *read_two_big_messages(void *arg) {
    struct big_reader *r = arg;
    for (int m = 0; m < 2; m++) {
        void *buf = NULL;
        r->st[m] = weft_conn_recv_alloc(r->c, &buf, &r->got[m], 30 * WEFT_SEC);
        if (r->st[m] != WEFT_OK) return NULL;
        const unsigned char *p = buf;
        for (size_t i = 0; i < r->got[m]; i++)
            if (p[i] != pattern_byte(i + (size_t)m)) {
                r->corrupt = 1;
                break;
            }
        weft_conn_free(buf);
    }
    return NULL;
}

static void test_pipe_carries_1_mib_and_64_mib_messages_to_a_reading_thread(void **state) {
    const size_t sizes[2] = {(size_t)1 << 20, (size_t)64 << 20};
    weft_conn *a, *b;
    pthread_t t;
    struct big_reader r;
    (void)state;
    memset(&r, 0, sizeof r);
    WT_OK(weft_pipe(&a, &b, 1));
    r.c = b;
    assert_int_equal(pthread_create(&t, NULL, read_two_big_messages, &r), 0);
    for (int m = 0; m < 2; m++) {
        unsigned char *msg = malloc(sizes[m]);
        assert_non_null(msg);
        for (size_t i = 0; i < sizes[m]; i++) msg[i] = pattern_byte(i + (size_t)m);
        WT_OK(weft_conn_send(a, msg, sizes[m], 30 * WEFT_SEC));
        free(msg);
    }
    pthread_join(t, NULL);
    for (int m = 0; m < 2; m++) {
        WT_OK(r.st[m]);
        assert_int_equal(r.got[m], sizes[m]);
    }
    assert_int_equal(r.corrupt, 0);
    weft_conn_destroy(a);
    weft_conn_destroy(b);
}

static void test_recv_with_a_small_buffer_keeps_the_message(void **state) {
    weft_conn *a, *b;
    char small[4], big[32];
    size_t len = 0;
    (void)state;
    WT_OK(weft_pipe(&a, &b, 1));
    WT_OK(weft_conn_send(a, "a longer message", 16, 0));
    WT_EXPECT(WEFT_EMSGSIZE, weft_conn_recv(b, small, sizeof small, &len, 1 * WEFT_SEC));
    assert_int_equal(len, 16);
    WT_EXPECT(WEFT_EMSGSIZE, weft_conn_recv(b, NULL, 0, &len, 0));
    assert_int_equal(len, 16);
    WT_OK(weft_conn_recv(b, big, sizeof big, &len, 0));
    assert_int_equal(len, 16);
    assert_memory_equal(big, "a longer message", 16);
    weft_conn_destroy(a);
    weft_conn_destroy(b);
}

struct delayed_send {
    weft_conn *c;
    int delay_ms;
    weft_status st;
};

static void *send_later(void *arg) {
    struct delayed_send *d = arg;
    wt_sleep_ms(d->delay_ms);
    d->st = weft_conn_send(d->c, "late", 4, 1 * WEFT_SEC);
    return NULL;
}

static void test_poll_times_out_then_sees_a_message(void **state) {
    weft_conn *a, *b;
    pthread_t t;
    struct delayed_send d;
    char buf[8];
    size_t len = 0;
    (void)state;
    WT_OK(weft_pipe(&a, &b, 1));
    WT_EXPECT(WEFT_ETIMEDOUT, weft_conn_poll(b, 0));
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_conn_poll(b, 50 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 50);
    d.c = a;
    d.delay_ms = 30;
    d.st = -1000;
    t0 = weft_monotonic_ns(); /* before the thread starts its 30 ms */
    assert_int_equal(pthread_create(&t, NULL, send_later, &d), 0);
    WT_OK(weft_conn_poll(b, 5 * WEFT_SEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 30);
    pthread_join(t, NULL);
    WT_OK(d.st);
    WT_OK(weft_conn_poll(b, 0)); /* still there until received */
    WT_OK(weft_conn_recv(b, buf, sizeof buf, &len, 0));
    WT_EXPECT(WEFT_ETIMEDOUT, weft_conn_poll(b, 0));
    weft_conn_destroy(a);
    weft_conn_destroy(b);
}

static void test_recv_timeout_mid_message_loses_nothing(void **state) {
    weft_conn *a, *b;
    unsigned char frame[4 + 10000];
    unsigned char got[10000];
    unsigned char other[20000];
    size_t len = 0;
    (void)state;
    WT_OK(weft_pipe(&a, &b, 1));
    be32(frame, 10000);
    for (size_t i = 0; i < 10000; i++) frame[4 + i] = pattern_byte(i);
    int fd = weft_conn_fd(a);
    assert_true(fd >= 0);
    /* Only two bytes of the header: the receive times out... */
    write_all(fd, frame, 2);
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_conn_recv(b, got, sizeof got, &len, 30 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 30);
    /* ... and again with the header and part of the body. */
    write_all(fd, frame + 2, 2 + 6000);
    WT_EXPECT(WEFT_ETIMEDOUT, weft_conn_recv(b, got, sizeof got, &len, 20 * WEFT_MSEC));
    /* The rest arrives; the next receive (into another buffer) gets it whole. */
    write_all(fd, frame + 4 + 6000, 4000);
    WT_OK(weft_conn_recv(b, other, sizeof other, &len, 1 * WEFT_SEC));
    assert_int_equal(len, 10000);
    assert_memory_equal(other, frame + 4, 10000);
    /* The stream is still in step. */
    WT_OK(weft_conn_send(a, "next", 4, 0));
    WT_OK(weft_conn_recv(b, got, sizeof got, &len, 1 * WEFT_SEC));
    assert_int_equal(len, 4);
    assert_memory_equal(got, "next", 4);
    weft_conn_destroy(a);
    weft_conn_destroy(b);
}

static void test_recv_alloc_timeout_mid_large_message_loses_nothing(void **state) {
    enum { N = 300000 };
    weft_conn *a, *b;
    unsigned char *frame = malloc(4 + N);
    void *got = NULL;
    size_t len = 0;
    (void)state;
    assert_non_null(frame);
    WT_OK(weft_pipe(&a, &b, 1));
    be32(frame, N);
    for (size_t i = 0; i < N; i++) frame[4 + i] = pattern_byte(i);
    int fd = weft_conn_fd(a);
    write_all(fd, frame, 4 + 100000);
    WT_EXPECT(WEFT_ETIMEDOUT, weft_conn_recv_alloc(b, &got, &len, 20 * WEFT_MSEC));
    assert_null(got);
    write_all(fd, frame + 4 + 100000, 150000);
    WT_EXPECT(WEFT_ETIMEDOUT, weft_conn_recv_alloc(b, &got, &len, 20 * WEFT_MSEC));
    write_all(fd, frame + 4 + 250000, N - 250000);
    WT_OK(weft_conn_recv_alloc(b, &got, &len, 1 * WEFT_SEC));
    assert_int_equal(len, N);
    assert_memory_equal(got, frame + 4, N);
    weft_conn_free(got);
    free(frame);
    weft_conn_destroy(a);
    weft_conn_destroy(b);
}

static void test_peer_close_gives_eclosed_after_the_messages_in_flight(void **state) {
    weft_conn *a, *b;
    char buf[8];
    size_t len = 0;
    (void)state;
    WT_OK(weft_pipe(&a, &b, 1));
    WT_OK(weft_conn_send(a, "last", 4, 0));
    WT_OK(weft_conn_close(a));
    WT_OK(weft_conn_close(a)); /* again: fine */
    WT_EXPECT(WEFT_ECLOSED, weft_conn_send(a, "x", 1, 0));
    WT_EXPECT(WEFT_ECLOSED, weft_conn_fd(a));
    WT_OK(weft_conn_recv(b, buf, sizeof buf, &len, 1 * WEFT_SEC)); /* in flight: delivered */
    assert_int_equal(len, 4);
    WT_OK(weft_conn_poll(b, 1 * WEFT_SEC)); /* the end of the stream is "something" */
    WT_EXPECT(WEFT_ECLOSED, weft_conn_recv(b, buf, sizeof buf, &len, 1 * WEFT_SEC));
    WT_EXPECT(WEFT_ECLOSED, weft_conn_recv(b, buf, sizeof buf, &len, WEFT_FOREVER)); /* never a hang */
    /* Sending to a closed peer: a code, no SIGPIPE (the test would die). */
    WT_EXPECT(WEFT_ECLOSED, weft_conn_send(b, "hello?", 6, 1 * WEFT_SEC));
    WT_EXPECT(WEFT_ECLOSED, weft_conn_send(b, "hello?", 6, 1 * WEFT_SEC));
    weft_conn_destroy(a);
    weft_conn_destroy(b);
}

static void test_peer_close_in_the_middle_of_a_message_gives_eclosed(void **state) {
    weft_conn *a, *b;
    unsigned char frame[4 + 3];
    char buf[64];
    size_t len = 0;
    (void)state;
    WT_OK(weft_pipe(&a, &b, 1));
    be32(frame, 50);
    memcpy(frame + 4, "abc", 3);
    write_all(weft_conn_fd(a), frame, sizeof frame);
    weft_conn_destroy(a);
    WT_EXPECT(WEFT_ECLOSED, weft_conn_recv(b, buf, sizeof buf, &len, 1 * WEFT_SEC));
    assert_non_null(strstr(weft_last_error()->message, "middle"));
    weft_conn_destroy(b);
}

struct blocked_recv {
    weft_conn *c;
    int started;
    weft_status st;
    int64_t waited_ns;
};

static void *recv_blocked(void *arg) {
    struct blocked_recv *r = arg;
    char buf[8];
    size_t len;
    int64_t t0 = weft_monotonic_ns();
    __atomic_store_n(&r->started, 1, __ATOMIC_SEQ_CST);
    r->st = weft_conn_recv(r->c, buf, sizeof buf, &len, 10 * WEFT_SEC);
    r->waited_ns = weft_monotonic_ns() - t0;
    return NULL;
}

static void test_close_wakes_a_thread_blocked_in_recv(void **state) {
    weft_conn *a, *b;
    pthread_t t;
    struct blocked_recv r = {NULL, 0, -1000, 0};
    (void)state;
    WT_OK(weft_pipe(&a, &b, 1));
    r.c = b;
    assert_int_equal(pthread_create(&t, NULL, recv_blocked, &r), 0);
    while (!__atomic_load_n(&r.started, __ATOMIC_SEQ_CST)) wt_sleep_ms(1);
    wt_sleep_ms(40);
    WT_OK(weft_conn_close(b));
    pthread_join(t, NULL);
    WT_EXPECT(WEFT_ECLOSED, r.st);
    assert_true(r.waited_ns < 5 * WEFT_SEC);
    WT_EXPECT(WEFT_ECLOSED, weft_conn_poll(b, 0));
    /* The peer sees the end of the stream. */
    char buf[4];
    size_t len;
    WT_EXPECT(WEFT_ECLOSED, weft_conn_recv(a, buf, sizeof buf, &len, 1 * WEFT_SEC));
    weft_conn_destroy(a);
    weft_conn_destroy(b);
}

static void test_peer_close_wakes_a_thread_blocked_in_recv(void **state) {
    weft_conn *a, *b;
    pthread_t t;
    struct blocked_recv r = {NULL, 0, -1000, 0};
    (void)state;
    WT_OK(weft_pipe(&a, &b, 1));
    r.c = b;
    assert_int_equal(pthread_create(&t, NULL, recv_blocked, &r), 0);
    while (!__atomic_load_n(&r.started, __ATOMIC_SEQ_CST)) wt_sleep_ms(1);
    wt_sleep_ms(30);
    weft_conn_destroy(a);
    pthread_join(t, NULL);
    WT_EXPECT(WEFT_ECLOSED, r.st);
    assert_true(r.waited_ns < 5 * WEFT_SEC);
    weft_conn_destroy(b);
}

static void test_send_times_out_cleanly_or_breaks_the_connection_mid_message(void **state) {
    weft_conn *a, *b;
    char small[64] = {0};
    size_t len = 0;
    (void)state;
    WT_OK(weft_pipe(&a, &b, 1));
    /* Fill the socket with small messages until one does not fit at all. */
    int sent = 0;
    weft_status st;
    while ((st = weft_conn_send(a, small, sizeof small, 0)) == WEFT_OK) sent++;
    /* A small frame either fits whole or not at all once the buffer is full. */
    assert_true(st == WEFT_ETIMEDOUT || st == WEFT_EBROKEN);
    if (st == WEFT_ETIMEDOUT) {
        int64_t t0 = weft_monotonic_ns();
        WT_EXPECT(WEFT_ETIMEDOUT, weft_conn_send(a, small, sizeof small, 30 * WEFT_MSEC));
        WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 30);
        /* Nothing was cut: every message sent is received whole. */
        for (int i = 0; i < sent; i++) WT_OK(weft_conn_recv(b, small, sizeof small, &len, 1 * WEFT_SEC));
        WT_EXPECT(WEFT_ETIMEDOUT, weft_conn_recv(b, small, sizeof small, &len, 0));
    }
    weft_conn_destroy(a);
    weft_conn_destroy(b);

    /* A message bigger than the socket buffer that times out part-way breaks
     * the sending side for good. */
    WT_OK(weft_pipe(&a, &b, 1));
    size_t n = (size_t)16 << 20;
    char *big = calloc(1, n);
    assert_non_null(big);
    WT_EXPECT(WEFT_EBROKEN, weft_conn_send(a, big, n, 30 * WEFT_MSEC));
    WT_EXPECT(WEFT_EBROKEN, weft_conn_send(a, "x", 1, 0));
    free(big);
    weft_conn_destroy(a);
    weft_conn_destroy(b);
}

enum { SENDERS = 3, PER_SENDER = 2000 };

struct sender {
    weft_conn *c;
    int id;
    int errors;
};

/* Message k of sender s: k+1 bytes (up to 300), each equal to s. */
static void *send_many(void *arg) {
    struct sender *s = arg;
    unsigned char m[300];
    memset(m, s->id, sizeof m);
    for (int k = 0; k < PER_SENDER; k++)
        if (weft_conn_send(s->c, m, (size_t)(k % 300) + 1, 10 * WEFT_SEC) != WEFT_OK) s->errors++;
    return NULL;
}

static void test_concurrent_senders_never_interleave_their_messages(void **state) {
    weft_conn *a, *b;
    pthread_t t[SENDERS];
    struct sender s[SENDERS];
    int next[SENDERS] = {0};
    unsigned char buf[300];
    size_t len = 0;
    (void)state;
    WT_OK(weft_pipe(&a, &b, 1));
    for (int i = 0; i < SENDERS; i++) {
        s[i].c = a;
        s[i].id = i + 1;
        s[i].errors = 0;
        assert_int_equal(pthread_create(&t[i], NULL, send_many, &s[i]), 0);
    }
    int bad = 0;
    for (int n = 0; n < SENDERS * PER_SENDER; n++) {
        WT_OK(weft_conn_recv(b, buf, sizeof buf, &len, 10 * WEFT_SEC));
        int id = buf[0];
        if (id < 1 || id > SENDERS) { bad++; continue; }
        /* Whole, and in each sender's order. */
        if (len != (size_t)(next[id - 1] % 300) + 1) bad++;
        for (size_t k = 0; k < len; k++)
            if (buf[k] != id) { bad++; break; }
        next[id - 1]++;
    }
    for (int i = 0; i < SENDERS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(s[i].errors, 0);
        assert_int_equal(next[i], PER_SENDER);
    }
    assert_int_equal(bad, 0);
    WT_EXPECT(WEFT_ETIMEDOUT, weft_conn_poll(b, 0));
    weft_conn_destroy(a);
    weft_conn_destroy(b);
}

static void test_hostile_length_prefix_gives_emsgsize_not_an_allocation(void **state) {
    weft_conn *a, *b;
    unsigned char hdr[12];
    void *got = NULL;
    char buf[8];
    size_t len = 0;
    (void)state;
    WT_OK(weft_pipe(&a, &b, 1));
    /* -1 then an 8-byte length of 2^62: weft must not try to allocate it. */
    be32(hdr, 0xffffffffu);
    be32(hdr + 4, 0x40000000u);
    be32(hdr + 8, 0);
    write_all(weft_conn_fd(a), hdr, 12);
    WT_EXPECT(WEFT_EMSGSIZE, weft_conn_recv_alloc(b, &got, &len, 1 * WEFT_SEC));
    assert_null(got);
    assert_int_equal(len, (size_t)1 << 62);
    WT_EXPECT(WEFT_EMSGSIZE, weft_conn_recv(b, buf, sizeof buf, &len, 0));
    weft_conn_destroy(a);
    weft_conn_destroy(b);

    /* A lower limit refuses a 4-byte length above it, and raising it lets the
     * message through. */
    WT_OK(weft_pipe(&a, &b, 1));
    WT_OK(weft_conn_set_max_message(b, 4));
    WT_OK(weft_conn_send(a, "12345", 5, 0));
    WT_EXPECT(WEFT_EMSGSIZE, weft_conn_recv_alloc(b, &got, &len, 1 * WEFT_SEC));
    assert_int_equal(len, 5);
    WT_OK(weft_conn_set_max_message(b, 0));
    WT_OK(weft_conn_recv_alloc(b, &got, &len, 0));
    assert_int_equal(len, 5);
    weft_conn_free(got);
    weft_conn_destroy(a);
    weft_conn_destroy(b);

    /* A negative length other than -1 is not this framing: broken for good. */
    WT_OK(weft_pipe(&a, &b, 1));
    be32(hdr, (uint32_t)-5);
    write_all(weft_conn_fd(a), hdr, 4);
    WT_EXPECT(WEFT_EBROKEN, weft_conn_recv(b, buf, sizeof buf, &len, 1 * WEFT_SEC));
    WT_EXPECT(WEFT_EBROKEN, weft_conn_recv(b, buf, sizeof buf, &len, 0));
    weft_conn_destroy(a);
    weft_conn_destroy(b);
}

static void test_large_header_form_is_understood(void **state) {
    weft_conn *a, *b;
    unsigned char frame[12 + 3];
    char buf[8];
    size_t len = 0;
    (void)state;
    WT_OK(weft_pipe(&a, &b, 1));
    be32(frame, 0xffffffffu); /* Python's form for > 2 GiB, also valid for small sizes */
    be32(frame + 4, 0);
    be32(frame + 8, 3);
    memcpy(frame + 12, "big", 3);
    write_all(weft_conn_fd(a), frame, sizeof frame);
    WT_OK(weft_conn_recv(b, buf, sizeof buf, &len, 1 * WEFT_SEC));
    assert_int_equal(len, 3);
    assert_memory_equal(buf, "big", 3);
    weft_conn_destroy(a);
    weft_conn_destroy(b);
}

/* ------------------------------------------------------------ listeners */

struct client_job {
    char address[160];
    const char *key;
    int64_t timeout_ns;
    int exchange; /* send "hello", expect "HELLO" back */
    weft_status st;
    weft_status st_exchange;
    char message[WEFT_ERROR_MESSAGE_MAX];
};

static void *client_run(void *arg) {
    struct client_job *j = arg;
    weft_client_options o = WEFT_CLIENT_OPTIONS_INIT;
    weft_conn *c = NULL;
    if (j->key) {
        o.authkey = j->key;
        o.authkey_len = strlen(j->key);
    }
    j->st = weft_client_connect(&c, j->address, &o, j->timeout_ns);
    snprintf(j->message, sizeof j->message, "%s", weft_last_error()->message);
    if (j->st != WEFT_OK) return NULL;
    j->st_exchange = WEFT_OK;
    if (j->exchange) {
        char buf[16];
        size_t len = 0;
        j->st_exchange = weft_conn_send(c, "hello", 5, 5 * WEFT_SEC);
        if (j->st_exchange == WEFT_OK) j->st_exchange = weft_conn_recv(c, buf, sizeof buf, &len, 5 * WEFT_SEC);
        if (j->st_exchange == WEFT_OK && (len != 5 || memcmp(buf, "HELLO", 5) != 0)) j->st_exchange = -1000;
    }
    weft_conn_destroy(c);
    return NULL;
}

static void serve_one_exchange(weft_conn *c) {
    char buf[16];
    size_t len = 0;
    WT_OK(weft_conn_recv(c, buf, sizeof buf, &len, 5 * WEFT_SEC));
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "hello", 5);
    WT_OK(weft_conn_send(c, "HELLO", 5, 5 * WEFT_SEC));
}

static void round_trip_on(const char *address, const char *key) {
    weft_listener_options lo = WEFT_LISTENER_OPTIONS_INIT;
    weft_listener *l;
    weft_conn *c;
    pthread_t t;
    struct client_job j;
    memset(&j, 0, sizeof j);
    if (key) {
        lo.authkey = key;
        lo.authkey_len = strlen(key);
    }
    WT_OK(weft_listener_create(&l, address, &lo));
    const char *bound = weft_listener_address(l);
    assert_non_null(bound);
    snprintf(j.address, sizeof j.address, "%s", bound);
    j.key = key;
    j.timeout_ns = 5 * WEFT_SEC;
    j.exchange = 1;
    assert_int_equal(pthread_create(&t, NULL, client_run, &j), 0);
    WT_OK(weft_listener_accept(l, &c, 5 * WEFT_SEC));
    serve_one_exchange(c);
    pthread_join(t, NULL);
    if (j.st != WEFT_OK) print_error("client: %s\n", j.message);
    WT_OK(j.st);
    WT_OK(j.st_exchange);
    weft_conn_destroy(c);
    weft_listener_destroy(l);
}

static void test_listener_on_a_unix_path_serves_a_client_and_removes_the_file(void **state) {
    char path[128], address[160];
    (void)state;
    unique_name(path, sizeof path, "sock");
    snprintf(address, sizeof address, "unix:%s", path);
    round_trip_on(address, NULL);
    assert_int_equal(access(path, F_OK), -1); /* unlinked at close */
}

static void test_listener_on_an_abstract_name_serves_a_client(void **state) {
    char address[160];
    (void)state;
    snprintf(address, sizeof address, "unix:@weft-test-conn-%ld", (long)getpid());
    round_trip_on(address, NULL);
}

static void test_listener_on_tcp_loopback_port_0_serves_a_client(void **state) {
    weft_listener *l;
    (void)state;
    WT_OK(weft_listener_create(&l, "tcp:127.0.0.1:0", NULL));
    const char *bound = weft_listener_address(l);
    assert_non_null(bound);
    assert_int_equal(strncmp(bound, "tcp:127.0.0.1:", 14), 0);
    assert_true(atoi(bound + 14) > 0);
    weft_listener_destroy(l);
    round_trip_on("tcp:127.0.0.1:0", NULL);
    round_trip_on("tcp:localhost:0", "tcp key");
}

static void test_listener_address_in_use_is_eexist(void **state) {
    char path[128], address[160];
    weft_listener *l, *l2;
    (void)state;
    unique_name(path, sizeof path, "busy");
    snprintf(address, sizeof address, "unix:%s", path);
    WT_OK(weft_listener_create(&l, address, NULL));
    WT_EXPECT(WEFT_EEXIST, weft_listener_create(&l2, address, NULL));
    assert_null(l2);
    weft_listener_destroy(l);
    assert_int_equal(access(path, F_OK), -1);
}

static void test_accept_times_out_without_a_client(void **state) {
    weft_listener *l;
    weft_conn *c = (weft_conn *)&c;
    (void)state;
    WT_OK(weft_listener_create(&l, "tcp:127.0.0.1:0", NULL));
    WT_EXPECT(WEFT_ETIMEDOUT, weft_listener_accept(l, &c, 0));
    assert_null(c);
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_listener_accept(l, &c, 50 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 50);
    assert_true(weft_listener_fd(l) >= 0);
    weft_listener_destroy(l);
}

struct blocked_accept {
    weft_listener *l;
    int started;
    weft_status st;
};

static void *accept_blocked(void *arg) {
    struct blocked_accept *b = arg;
    weft_conn *c = NULL;
    __atomic_store_n(&b->started, 1, __ATOMIC_SEQ_CST);
    b->st = weft_listener_accept(b->l, &c, 10 * WEFT_SEC);
    weft_conn_destroy(c);
    return NULL;
}

static void test_listener_close_wakes_a_blocked_accept(void **state) {
    struct blocked_accept b = {NULL, 0, -1000};
    pthread_t t;
    weft_conn *c;
    (void)state;
    WT_OK(weft_listener_create(&b.l, "tcp:127.0.0.1:0", NULL));
    char address[64];
    snprintf(address, sizeof address, "%s", weft_listener_address(b.l));
    assert_int_equal(pthread_create(&t, NULL, accept_blocked, &b), 0);
    while (!__atomic_load_n(&b.started, __ATOMIC_SEQ_CST)) wt_sleep_ms(1);
    wt_sleep_ms(40);
    int64_t t0 = weft_monotonic_ns();
    WT_OK(weft_listener_close(b.l));
    pthread_join(t, NULL);
    assert_true(wt_ms_since(t0) < 5000);
    WT_EXPECT(WEFT_ECLOSED, b.st);
    WT_EXPECT(WEFT_ECLOSED, weft_listener_accept(b.l, &c, 0));
    WT_EXPECT(WEFT_ECLOSED, weft_listener_fd(b.l));
    WT_OK(weft_listener_close(b.l));
    /* Nobody listens any more. */
    WT_EXPECT(WEFT_ENOENT, weft_client_connect(&c, address, NULL, 1 * WEFT_SEC));
    weft_listener_destroy(b.l);
}

static void test_connect_to_nobody_is_enoent(void **state) {
    weft_conn *c = (weft_conn *)&c;
    weft_listener *l;
    char path[128], address[160];
    (void)state;
    unique_name(path, sizeof path, "missing");
    snprintf(address, sizeof address, "unix:%s", path);
    WT_EXPECT(WEFT_ENOENT, weft_client_connect(&c, address, NULL, 1 * WEFT_SEC));
    assert_null(c);
    WT_EXPECT(WEFT_ENOENT, weft_client_connect(&c, "unix:@weft-test-nobody-here", NULL, 1 * WEFT_SEC));
    /* A TCP port that was just free again: connection refused. */
    WT_OK(weft_listener_create(&l, "tcp:127.0.0.1:0", NULL));
    snprintf(address, sizeof address, "%s", weft_listener_address(l));
    weft_listener_destroy(l);
    WT_EXPECT(WEFT_ENOENT, weft_client_connect(&c, address, NULL, 1 * WEFT_SEC));
    assert_int_equal(weft_last_error()->sys_errno, ECONNREFUSED);
}

/* ------------------------------------------------------------ authentication */

static void test_authenticated_client_and_listener_talk(void **state) {
    char address[160];
    (void)state;
    snprintf(address, sizeof address, "unix:@weft-test-auth-%ld", (long)getpid());
    round_trip_on(address, "secret key");
}

static void test_wrong_key_is_refused_on_both_sides_and_the_listener_goes_on(void **state) {
    weft_listener_options lo = WEFT_LISTENER_OPTIONS_INIT;
    weft_listener *l;
    weft_conn *c = (weft_conn *)&c;
    pthread_t t;
    struct client_job j;
    (void)state;
    lo.authkey = "right";
    lo.authkey_len = 5;
    WT_OK(weft_listener_create(&l, "tcp:127.0.0.1:0", &lo));
    memset(&j, 0, sizeof j);
    snprintf(j.address, sizeof j.address, "%s", weft_listener_address(l));
    j.key = "wrong";
    j.timeout_ns = 5 * WEFT_SEC;
    assert_int_equal(pthread_create(&t, NULL, client_run, &j), 0);
    WT_EXPECT(WEFT_EPERM, weft_listener_accept(l, &c, 5 * WEFT_SEC));
    assert_null(c);
    assert_non_null(strstr(weft_last_error()->message, "authentication failed"));
    pthread_join(t, NULL);
    WT_EXPECT(WEFT_EPERM, j.st);
    assert_non_null(strstr(j.message, "authentication failed"));

    /* The listener serves the next client, with the right key. */
    memset(&j, 0, sizeof j);
    snprintf(j.address, sizeof j.address, "%s", weft_listener_address(l));
    j.key = "right";
    j.timeout_ns = 5 * WEFT_SEC;
    j.exchange = 1;
    assert_int_equal(pthread_create(&t, NULL, client_run, &j), 0);
    WT_OK(weft_listener_accept(l, &c, 5 * WEFT_SEC));
    serve_one_exchange(c);
    pthread_join(t, NULL);
    WT_OK(j.st);
    WT_OK(j.st_exchange);
    weft_conn_destroy(c);
    weft_listener_destroy(l);
}

static void test_client_without_key_is_refused_by_a_listener_with_one(void **state) {
    weft_listener_options lo = WEFT_LISTENER_OPTIONS_INIT;
    weft_listener *l;
    weft_conn *srv = (weft_conn *)&srv, *cli;
    char buf[64];
    size_t len;
    (void)state;
    lo.authkey = "k";
    lo.authkey_len = 1;
    WT_OK(weft_listener_create(&l, "tcp:127.0.0.1:0", &lo));
    WT_OK(weft_client_connect(&cli, weft_listener_address(l), NULL, 5 * WEFT_SEC));
    WT_OK(weft_conn_send(cli, "hello", 5, 1 * WEFT_SEC)); /* taken as its (wrong) answer */
    WT_EXPECT(WEFT_EPERM, weft_listener_accept(l, &srv, 5 * WEFT_SEC));
    assert_null(srv);
    /* The keyless client sees the challenge, the failure, then the end. */
    WT_OK(weft_conn_recv(cli, buf, sizeof buf, &len, 1 * WEFT_SEC));
    assert_memory_equal(buf, "#CHALLENGE#", 11);
    WT_OK(weft_conn_recv(cli, buf, sizeof buf, &len, 1 * WEFT_SEC));
    assert_int_equal(len, 9);
    assert_memory_equal(buf, "#FAILURE#", 9);
    WT_EXPECT(WEFT_ECLOSED, weft_conn_recv(cli, buf, sizeof buf, &len, 1 * WEFT_SEC));
    weft_conn_destroy(cli);

    /* A client that hangs up before answering: refused too (WEFT_ECLOSED from
     * accept would mean the listener was closed). */
    WT_OK(weft_client_connect(&cli, weft_listener_address(l), NULL, 5 * WEFT_SEC));
    weft_conn_destroy(cli);
    WT_EXPECT(WEFT_EPERM, weft_listener_accept(l, &srv, 5 * WEFT_SEC));
    assert_non_null(strstr(weft_last_error()->message, "hung up"));

    /* A client that says nothing is dropped after the handshake timeout. */
    weft_listener_destroy(l);
    lo.handshake_timeout_ns = 50 * WEFT_MSEC;
    WT_OK(weft_listener_create(&l, "tcp:127.0.0.1:0", &lo));
    WT_OK(weft_client_connect(&cli, weft_listener_address(l), NULL, 5 * WEFT_SEC));
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_listener_accept(l, &srv, 0)); /* accept's 0 bounds only the wait */
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 50);
    weft_conn_destroy(cli);
    weft_listener_destroy(l);
}

static void test_client_with_key_gets_no_challenge_from_a_listener_without_one(void **state) {
    weft_listener *l;
    weft_conn *srv, *cli = (weft_conn *)&cli;
    weft_client_options co = WEFT_CLIENT_OPTIONS_INIT;
    (void)state;
    co.authkey = "k";
    co.authkey_len = 1;
    WT_OK(weft_listener_create(&l, "tcp:127.0.0.1:0", NULL));
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_client_connect(&cli, weft_listener_address(l), &co, 50 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 50);
    assert_null(cli);
    WT_OK(weft_listener_accept(l, &srv, 1 * WEFT_SEC));
    weft_conn_destroy(srv);
    weft_listener_destroy(l);
}

/* ------------------------------------------------------------ bad input */

static void test_bad_addresses_and_options_are_einval(void **state) {
    static const char *const bad[] = {
        "", "pipe:/x", "unix:", "unix:@", "tcp:", "tcp:127.0.0.1", "tcp:127.0.0.1:", "tcp:127.0.0.1:65536",
        "tcp:127.0.0.1:-1", "tcp:127.0.0.1:8x", "tcp:example.org:80", "tcp:1.2.3:80", "tcp:[zz]:80",
    };
    weft_listener *l = (weft_listener *)&l;
    weft_conn *c = (weft_conn *)&c;
    weft_listener_options lo = WEFT_LISTENER_OPTIONS_INIT;
    weft_client_options co = WEFT_CLIENT_OPTIONS_INIT;
    char longpath[200];
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        WT_EXPECT(WEFT_EINVAL, weft_listener_create(&l, bad[i], NULL));
        assert_null(l);
        WT_EXPECT(WEFT_EINVAL, weft_client_connect(&c, bad[i], NULL, 0));
        assert_null(c);
    }
    memset(longpath, 'a', sizeof longpath);
    memcpy(longpath, "unix:/", 6);
    longpath[sizeof longpath - 1] = '\0';
    WT_EXPECT(WEFT_EINVAL, weft_listener_create(&l, longpath, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_client_connect(&c, "tcp:127.0.0.1:0", NULL, 0)); /* port 0 names nobody */
    WT_EXPECT(WEFT_EINVAL, weft_listener_create(NULL, "tcp:127.0.0.1:0", NULL));
    WT_EXPECT(WEFT_EINVAL, weft_listener_create(&l, NULL, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_client_connect(NULL, "tcp:127.0.0.1:1", NULL, 0));
    WT_EXPECT(WEFT_EINVAL, weft_client_connect(&c, NULL, NULL, 0));
    WT_EXPECT(WEFT_EINVAL, weft_client_connect(&c, "tcp:127.0.0.1:1", NULL, -2));
    lo.version = 99;
    WT_EXPECT(WEFT_EINVAL, weft_listener_create(&l, "tcp:127.0.0.1:0", &lo));
    lo.version = WEFT_LISTENER_OPTIONS_VERSION;
    lo.backlog = -1;
    WT_EXPECT(WEFT_EINVAL, weft_listener_create(&l, "tcp:127.0.0.1:0", &lo));
    lo.backlog = 0;
    lo.authkey_len = 3; /* with a NULL key */
    WT_EXPECT(WEFT_EINVAL, weft_listener_create(&l, "tcp:127.0.0.1:0", &lo));
    lo.authkey_len = 0;
    lo.handshake_timeout_ns = -7;
    WT_EXPECT(WEFT_EINVAL, weft_listener_create(&l, "tcp:127.0.0.1:0", &lo));
    co.version = 0;
    WT_EXPECT(WEFT_EINVAL, weft_client_connect(&c, "tcp:127.0.0.1:1", &co, 0));
    co.version = WEFT_CLIENT_OPTIONS_VERSION;
    co.authkey_len = 1;
    WT_EXPECT(WEFT_EINVAL, weft_client_connect(&c, "tcp:127.0.0.1:1", &co, 0));
    assert_null(c);
}

static void test_null_and_wrong_type_handles_are_emisuse(void **state) {
    weft_conn *a, *b;
    weft_listener *l;
    char buf[4];
    size_t len;
    void *p = NULL;
    (void)state;
    WT_EXPECT(WEFT_EINVAL, weft_pipe(NULL, &b, 1));
    WT_EXPECT(WEFT_EINVAL, weft_pipe(&a, NULL, 1));
    WT_EXPECT(WEFT_EMISUSE, weft_conn_send(NULL, "x", 1, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_conn_recv(NULL, buf, sizeof buf, &len, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_conn_recv_alloc(NULL, &p, &len, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_conn_poll(NULL, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_conn_close(NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_conn_fd(NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_conn_set_max_message(NULL, 1));
    WT_EXPECT(WEFT_EMISUSE, weft_listener_accept(NULL, &a, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_listener_close(NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_listener_fd(NULL));
    assert_null(weft_listener_address(NULL));
    assert_int_equal(weft_last_error()->code, WEFT_EMISUSE);
    weft_conn_destroy(NULL);
    weft_listener_destroy(NULL);
    weft_conn_free(NULL);

    WT_OK(weft_pipe(&a, &b, 1));
    WT_EXPECT(WEFT_EINVAL, weft_conn_send(a, NULL, 1, 0));
    WT_EXPECT(WEFT_EINVAL, weft_conn_send(a, "x", 1, -2));
    WT_EXPECT(WEFT_EINVAL, weft_conn_recv(a, NULL, 4, &len, 0));
    WT_EXPECT(WEFT_EINVAL, weft_conn_recv(a, buf, sizeof buf, NULL, 0));
    WT_EXPECT(WEFT_EINVAL, weft_conn_recv_alloc(a, NULL, &len, 0));
    WT_EXPECT(WEFT_EINVAL, weft_conn_recv_alloc(a, &p, NULL, 0));
    WT_EXPECT(WEFT_EINVAL, weft_conn_poll(a, -5));
    /* The wrong type of handle (a destroyed one has its magic word poisoned
     * the same way; using freed memory is left to ASan to catch). */
    WT_OK(weft_listener_create(&l, "tcp:127.0.0.1:0", NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_conn_send((weft_conn *)(void *)l, "x", 1, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_conn_close((weft_conn *)(void *)l));
    weft_conn *out = (weft_conn *)&out;
    WT_EXPECT(WEFT_EMISUSE, weft_listener_accept((weft_listener *)(void *)a, &out, 0));
    assert_null(out);
    WT_EXPECT(WEFT_EMISUSE, weft_listener_close((weft_listener *)(void *)a));
    weft_listener_destroy((weft_listener *)(void *)a); /* the wrong type: ignored */
    weft_conn_destroy((weft_conn *)(void *)l);         /* likewise */
    WT_OK(weft_conn_send(a, "still", 5, 0));           /* both still alive */
    assert_true(weft_listener_fd(l) >= 0);
    weft_listener_destroy(l);
    weft_conn_destroy(a);
    weft_conn_destroy(b);
}

/* ------------------------------------------------------------ processes */

static int child_echo(weft_conn *c) {
    for (int i = 0; i < 3; i++) {
        void *m = NULL;
        size_t len = 0;
        if (weft_conn_recv_alloc(c, &m, &len, 5 * WEFT_SEC) != WEFT_OK) return 10 + i;
        char *up = m;
        for (size_t k = 0; k < len; k++)
            if (up[k] >= 'a' && up[k] <= 'z') up[k] = (char)(up[k] - 'a' + 'A');
        weft_status st = weft_conn_send(c, m, len, 5 * WEFT_SEC);
        weft_conn_free(m);
        if (st != WEFT_OK) return 20 + i;
    }
    char b[4];
    size_t len;
    /* The parent closes: the end of the stream, not a hang. */
    return weft_conn_recv(c, b, sizeof b, &len, 5 * WEFT_SEC) == WEFT_ECLOSED ? 0 : 30;
}

static void test_a_forked_child_talks_over_an_inherited_pipe(void **state) {
    weft_conn *parent, *child;
    char buf[32];
    size_t len = 0;
    int status = 0;
    static const char *const words[3] = {"alpha", "beta", "gamma"};
    static const char *const upper[3] = {"ALPHA", "BETA", "GAMMA"};
    (void)state;
    WT_SKIP_UNDER_TSAN();
    WT_OK(weft_pipe(&parent, &child, 1));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        weft_conn_destroy(parent);
        int rc = child_echo(child);
        weft_conn_destroy(child);
        _exit(rc);
    }
    weft_conn_destroy(child);
    for (int i = 0; i < 3; i++) {
        WT_OK(weft_conn_send(parent, words[i], strlen(words[i]), 5 * WEFT_SEC));
        WT_OK(weft_conn_recv(parent, buf, sizeof buf, &len, 5 * WEFT_SEC));
        assert_int_equal(len, strlen(upper[i]));
        assert_memory_equal(buf, upper[i], len);
    }
    weft_conn_destroy(parent);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* A dead child process: the parent's receive ends with WEFT_ECLOSED. */
static void test_a_dead_child_gives_eclosed_not_a_hang(void **state) {
    weft_conn *parent, *child;
    char buf[8];
    size_t len;
    int status;
    (void)state;
    WT_SKIP_UNDER_TSAN();
    WT_OK(weft_pipe(&parent, &child, 1));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        raise(SIGKILL);
        _exit(1);
    }
    weft_conn_destroy(child);
    WT_EXPECT(WEFT_ECLOSED, weft_conn_recv(parent, buf, sizeof buf, &len, 5 * WEFT_SEC));
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    weft_conn_destroy(parent);
}

/* The parent closing its copy of an end the child uses (after that end has
 * waited once, so it has its wake-up descriptor) must not wake the child. */
static void test_a_parent_closing_its_copy_does_not_disturb_the_child(void **state) {
    weft_conn *a, *b;
    char buf[8];
    size_t len;
    int status = 0;
    (void)state;
    WT_SKIP_UNDER_TSAN();
    WT_OK(weft_pipe(&a, &b, 1));
    WT_EXPECT(WEFT_ETIMEDOUT, weft_conn_recv(a, buf, sizeof buf, &len, 5 * WEFT_MSEC));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        weft_conn_destroy(b);
        weft_status st = weft_conn_recv(a, buf, sizeof buf, &len, 5 * WEFT_SEC);
        int ok = st == WEFT_OK && len == 2 && memcmp(buf, "hi", 2) == 0;
        weft_conn_destroy(a);
        _exit(ok ? 0 : 1);
    }
    weft_conn_destroy(a); /* the parent's copy only */
    wt_sleep_ms(50);
    WT_OK(weft_conn_send(b, "hi", 2, 1 * WEFT_SEC));
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    weft_conn_destroy(b);
}

/* ------------------------------------------------------------ CPython interop */

/* argv: mode address key. Modes:
 *   client  : Client(address, authkey) sends b"from python" + 300000 bytes,
 *             expects the reverse of the first message back; exit 0.
 *   badkey  : Client with the key given; exit 3 on AuthenticationError.
 *   listen  : Listener(("127.0.0.1", 0), authkey), prints the port, accepts
 *             one, echoes two messages reversed; exit 0; 3 on
 *             AuthenticationError. */
static const char python_peer[] =
    "import sys\n"
    "from multiprocessing.connection import Client, Listener, AuthenticationError\n"
    "mode, address, key = sys.argv[1], sys.argv[2], sys.argv[3].encode()\n"
    "def addr(a):\n"
    "    if a.startswith('unix:@'): return '\\0' + a[6:]\n"
    "    if a.startswith('unix:'): return a[5:]\n"
    "    h, p = a[4:].rsplit(':', 1)\n"
    "    return (h, int(p))\n"
    "try:\n"
    "    if mode in ('client', 'badkey'):\n"
    "        with Client(addr(address), authkey=key) as c:\n"
    "            c.send_bytes(b'from python')\n"
    "            big = bytes(i % 251 for i in range(300000))\n"
    "            c.send_bytes(big)\n"
    "            if c.recv_bytes() != b'nohtyp morf': sys.exit(4)\n"
    "            if c.recv_bytes() != big[::-1]: sys.exit(5)\n"
    "            c.send_bytes(b'')\n"
    "    else:\n"
    "        with Listener(('127.0.0.1', 0), authkey=key) as l:\n"
    "            print(l.address[1], flush=True)\n"
    "            with l.accept() as c:\n"
    "                for _ in range(2):\n"
    "                    c.send_bytes(c.recv_bytes()[::-1])\n"
    "except AuthenticationError:\n"
    "    sys.exit(3)\n"
    "sys.exit(0)\n";

static const char *python_path(void) { return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : NULL; }

/* Start the Python peer; its stdout comes back on *out_fd when asked. */
static pid_t start_python(const char *mode, const char *address, const char *key, int *out_fd) {
    posix_spawn_file_actions_t fa;
    int p[2] = {-1, -1};
    pid_t pid = -1;
    char *argv[] = {(char *)"python3", (char *)"-c", (char *)python_peer, (char *)mode,
                    (char *)address, (char *)key, NULL};
    posix_spawn_file_actions_init(&fa);
    if (out_fd) {
        if (pipe(p) != 0) return -1;
        posix_spawn_file_actions_adddup2(&fa, p[1], 1);
        posix_spawn_file_actions_addclose(&fa, p[0]);
    }
    if (posix_spawn(&pid, python_path(), &fa, NULL, argv, environ) != 0) pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    if (out_fd) {
        close(p[1]);
        *out_fd = p[0];
    }
    return pid;
}

/* Wait up to 20 s for the child; kill it after that. Returns the exit code,
 * or -1 when it did not exit normally. */
static int reap(pid_t pid) {
    int status = 0;
    for (int i = 0; i < 2000; i++) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        wt_sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

static void serve_python_client(weft_listener *l, int *st_out) {
    weft_conn *c;
    void *m1 = NULL, *m2 = NULL, *m3 = NULL;
    size_t n1, n2, n3;
    WT_OK(weft_listener_accept(l, &c, 20 * WEFT_SEC));
    WT_OK(weft_conn_recv_alloc(c, &m1, &n1, 20 * WEFT_SEC));
    WT_OK(weft_conn_recv_alloc(c, &m2, &n2, 20 * WEFT_SEC));
    assert_int_equal(n1, 11);
    assert_memory_equal(m1, "from python", 11);
    assert_int_equal(n2, 300000);
    char *r1 = m1, *r2 = m2;
    for (size_t i = 0; i < n1 / 2; i++) { char t = r1[i]; r1[i] = r1[n1 - 1 - i]; r1[n1 - 1 - i] = t; }
    for (size_t i = 0; i < n2 / 2; i++) { char t = r2[i]; r2[i] = r2[n2 - 1 - i]; r2[n2 - 1 - i] = t; }
    WT_OK(weft_conn_send(c, m1, n1, 20 * WEFT_SEC));
    WT_OK(weft_conn_send(c, m2, n2, 20 * WEFT_SEC));
    WT_OK(weft_conn_recv_alloc(c, &m3, &n3, 20 * WEFT_SEC));
    assert_int_equal(n3, 0);
    weft_conn_free(m1);
    weft_conn_free(m2);
    weft_conn_free(m3);
    WT_EXPECT(WEFT_ECLOSED, weft_conn_recv_alloc(c, &m3, &n3, 20 * WEFT_SEC));
    weft_conn_destroy(c);
    *st_out = WEFT_OK;
}

static void test_python_client_authenticates_to_a_weft_listener(void **state) {
    weft_listener_options lo = WEFT_LISTENER_OPTIONS_INIT;
    weft_listener *l;
    weft_conn *c = (weft_conn *)&c;
    char path[128], address[160];
    int st = -1;
    (void)state;
    WT_SKIP_UNDER_TSAN();
    if (!python_path()) skip();
    lo.authkey = "py-secret";
    lo.authkey_len = 9;
    lo.handshake_timeout_ns = 20 * WEFT_SEC;
    unique_name(path, sizeof path, "py");
    snprintf(address, sizeof address, "unix:%s", path);
    WT_OK(weft_listener_create(&l, address, &lo));
    pid_t pid = start_python("client", address, "py-secret", NULL);
    assert_true(pid > 0);
    serve_python_client(l, &st);
    assert_int_equal(reap(pid), 0);
    WT_OK(st);

    /* A Python client with the wrong key: refused on both sides. */
    pid = start_python("badkey", address, "not-it", NULL);
    assert_true(pid > 0);
    WT_EXPECT(WEFT_EPERM, weft_listener_accept(l, &c, 20 * WEFT_SEC));
    assert_int_equal(reap(pid), 3);
    weft_listener_destroy(l);
}

static void test_weft_client_authenticates_to_a_python_listener(void **state) {
    weft_client_options co = WEFT_CLIENT_OPTIONS_INIT;
    weft_conn *c;
    char line[32] = {0}, address[64];
    size_t len = 0;
    int fd = -1;
    (void)state;
    WT_SKIP_UNDER_TSAN();
    if (!python_path()) skip();
    for (int round = 0; round < 2; round++) {
        int wrong = round == 1;
        pid_t pid = start_python("listen", "-", "py-key", &fd);
        assert_true(pid > 0);
        size_t got = 0;
        while (got < sizeof line - 1) {
            ssize_t n = read(fd, line + got, 1);
            if (n <= 0 || line[got] == '\n') break;
            got++;
        }
        line[got] = '\0';
        close(fd);
        assert_true(atoi(line) > 0);
        snprintf(address, sizeof address, "tcp:127.0.0.1:%d", atoi(line));
        co.authkey = wrong ? "nope" : "py-key";
        co.authkey_len = strlen(co.authkey);
        if (wrong) {
            WT_EXPECT(WEFT_EPERM, weft_client_connect(&c, address, &co, 20 * WEFT_SEC));
            assert_non_null(strstr(weft_last_error()->message, "authentication failed"));
            assert_int_equal(reap(pid), 3);
            continue;
        }
        WT_OK(weft_client_connect(&c, address, &co, 20 * WEFT_SEC));
        char buf[32];
        WT_OK(weft_conn_send(c, "weft", 4, 5 * WEFT_SEC));
        WT_OK(weft_conn_recv(c, buf, sizeof buf, &len, 20 * WEFT_SEC));
        assert_int_equal(len, 4);
        assert_memory_equal(buf, "tfew", 4);
        WT_OK(weft_conn_send(c, "", 0, 5 * WEFT_SEC));
        WT_OK(weft_conn_recv(c, buf, sizeof buf, &len, 20 * WEFT_SEC));
        assert_int_equal(len, 0);
        WT_EXPECT(WEFT_ECLOSED, weft_conn_recv(c, buf, sizeof buf, &len, 20 * WEFT_SEC));
        weft_conn_destroy(c);
        assert_int_equal(reap(pid), 0);
    }
}

/* Every test closes what it opens: main checks the program ends with the
 * descriptors it started with. */
static int open_fds(void) {
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) != -1) n++;
    return n;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duplex_pipe_carries_messages_both_ways_whole),
        cmocka_unit_test(test_one_way_pipe_refuses_the_wrong_direction),
        cmocka_unit_test(test_pipe_carries_empty_and_one_byte_messages),
        cmocka_unit_test(test_pipe_carries_1_mib_and_64_mib_messages_to_a_reading_thread),
        cmocka_unit_test(test_recv_with_a_small_buffer_keeps_the_message),
        cmocka_unit_test(test_poll_times_out_then_sees_a_message),
        cmocka_unit_test(test_recv_timeout_mid_message_loses_nothing),
        cmocka_unit_test(test_recv_alloc_timeout_mid_large_message_loses_nothing),
        cmocka_unit_test(test_peer_close_gives_eclosed_after_the_messages_in_flight),
        cmocka_unit_test(test_peer_close_in_the_middle_of_a_message_gives_eclosed),
        cmocka_unit_test(test_close_wakes_a_thread_blocked_in_recv),
        cmocka_unit_test(test_peer_close_wakes_a_thread_blocked_in_recv),
        cmocka_unit_test(test_send_times_out_cleanly_or_breaks_the_connection_mid_message),
        cmocka_unit_test(test_concurrent_senders_never_interleave_their_messages),
        cmocka_unit_test(test_hostile_length_prefix_gives_emsgsize_not_an_allocation),
        cmocka_unit_test(test_large_header_form_is_understood),
        cmocka_unit_test(test_listener_on_a_unix_path_serves_a_client_and_removes_the_file),
        cmocka_unit_test(test_listener_on_an_abstract_name_serves_a_client),
        cmocka_unit_test(test_listener_on_tcp_loopback_port_0_serves_a_client),
        cmocka_unit_test(test_listener_address_in_use_is_eexist),
        cmocka_unit_test(test_accept_times_out_without_a_client),
        cmocka_unit_test(test_listener_close_wakes_a_blocked_accept),
        cmocka_unit_test(test_connect_to_nobody_is_enoent),
        cmocka_unit_test(test_authenticated_client_and_listener_talk),
        cmocka_unit_test(test_wrong_key_is_refused_on_both_sides_and_the_listener_goes_on),
        cmocka_unit_test(test_client_without_key_is_refused_by_a_listener_with_one),
        cmocka_unit_test(test_client_with_key_gets_no_challenge_from_a_listener_without_one),
        cmocka_unit_test(test_bad_addresses_and_options_are_einval),
        cmocka_unit_test(test_null_and_wrong_type_handles_are_emisuse),
        cmocka_unit_test(test_a_forked_child_talks_over_an_inherited_pipe),
        cmocka_unit_test(test_a_dead_child_gives_eclosed_not_a_hang),
        cmocka_unit_test(test_a_parent_closing_its_copy_does_not_disturb_the_child),
        cmocka_unit_test(test_python_client_authenticates_to_a_weft_listener),
        cmocka_unit_test(test_weft_client_authenticates_to_a_python_listener),
    };
    int fds_at_start = open_fds();
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    int fds_at_end = open_fds();
    if (fds_at_end != fds_at_start) {
        fprintf(stderr, "descriptors leaked: %d open at the start, %d at the end\n", fds_at_start, fds_at_end);
        return failed + 1;
    }
    return failed;
}
