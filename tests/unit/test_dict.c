/* The shared dict: behaviour, full capacity, churn without leaking heap
 * space, atomic updates from several processes and threads, iteration while
 * another process modifies it, processes SIGKILLed in the middle of sets and
 * deletes, transactions whose holder died, named open, bad input. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weft_test.h"

/* ---- helpers ------------------------------------------------------------ */

static const char *tname(char *buf, size_t n, const char *tag) {
    snprintf(buf, n, "weft-test-%d-%s", (int)getpid(), tag);
    return buf;
}
#define NAME(var, tag) \
    char var##_buf[96]; \
    const char *var = tname(var##_buf, sizeof var##_buf, tag)

static int count_entries(const char *prefix) {
    DIR *d = opendir("/dev/shm");
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) n++;
    closedir(d);
    return n;
}

static int check_no_leftovers(void **state) {
    char a[64], b[64];
    (void)state;
    snprintf(a, sizeof a, "weft-test-%d-", (int)getpid());
    snprintf(b, sizeof b, ".weft.tmp.%d.", (int)getpid());
    int n = count_entries(a) + count_entries(b);
    if (n != 0) print_error("%d /dev/shm entries left behind\n", n);
    assert_int_equal(n, 0);
    return 0;
}

static int reap(pid_t pid, int ms) {
    int64_t end = weft_monotonic_ns() + (int64_t)ms * WEFT_MSEC;
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (r < 0 && errno != EINTR) return -2;
        if (weft_monotonic_ns() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        wt_sleep_ms(1);
    }
}

static weft_dict *make(uint32_t entries, uint64_t capacity) {
    weft_dict *d = NULL;
    weft_dict_options o = WEFT_DICT_OPTIONS_INIT;
    o.max_entries = entries;
    o.capacity = capacity;
    if (weft_dict_create(&d, &o) != WEFT_OK) return NULL;
    return d;
}

/* A value that tells whether it belongs to its key: `len` bytes derived from
 * the key and the length. */
static void fill_value(char *buf, const char *key, size_t len) {
    unsigned h = 2166136261u;
    for (const char *k = key; *k; k++) h = (h ^ (unsigned char)*k) * 16777619u;
    h ^= (unsigned)len;
    for (size_t i = 0; i < len; i++) buf[i] = (char)(h + i * 31);
}

static int value_matches(const char *key, const char *v, size_t len) {
    char expect[4096];
    if (len > sizeof expect) return 0;
    fill_value(expect, key, len);
    return memcmp(expect, v, len) == 0;
}

#define T WEFT_SEC /* the timeout of calls that should never wait long */

/* ---- behaviour ---------------------------------------------------------- */

static void test_dict_set_get_contains_delete_behave_like_a_dict(void **state) {
    weft_dict *d;
    char buf[64];
    size_t n = 0;
    (void)state;
    WT_OK(weft_dict_create(&d, NULL));
    assert_int_equal(weft_dict_size(d, T), 0);
    assert_int_equal(weft_dict_contains(d, "apple", T), 0);
    WT_OK(weft_dict_set(d, "apple", "red", 3, T));
    WT_OK(weft_dict_set(d, "banana", "yellow", 6, T));
    assert_int_equal(weft_dict_contains(d, "apple", T), 1);
    assert_int_equal(weft_dict_size(d, T), 2);
    WT_OK(weft_dict_get(d, "apple", buf, sizeof buf, &n, T));
    assert_int_equal(n, 3);
    assert_memory_equal(buf, "red", 3);
    WT_OK(weft_dict_set(d, "apple", "green", 5, T)); /* replace */
    assert_int_equal(weft_dict_size(d, T), 2);
    WT_OK(weft_dict_get(d, "apple", buf, sizeof buf, &n, T));
    assert_int_equal(n, 5);
    assert_memory_equal(buf, "green", 5);
    WT_OK(weft_dict_delete(d, "apple", T));
    assert_int_equal(weft_dict_contains(d, "apple", T), 0);
    WT_EXPECT(WEFT_ENOENT, weft_dict_get(d, "apple", buf, sizeof buf, &n, T));
    WT_EXPECT(WEFT_ENOENT, weft_dict_delete(d, "apple", T));
    assert_int_equal(weft_dict_size(d, T), 1);
    /* empty key, empty value, bytes with zeros */
    WT_OK(weft_dict_set(d, "", "empty key", 9, T));
    WT_OK(weft_dict_set(d, "nothing", NULL, 0, T));
    WT_OK(weft_dict_set(d, "bin", "a\0b\0", 4, T));
    WT_OK(weft_dict_get(d, "", buf, sizeof buf, &n, T));
    assert_int_equal(n, 9);
    WT_OK(weft_dict_get(d, "nothing", NULL, 0, &n, T));
    assert_int_equal(n, 0);
    WT_OK(weft_dict_get(d, "bin", buf, sizeof buf, NULL, T));
    assert_memory_equal(buf, "a\0b\0", 4);
    assert_int_equal(weft_dict_size(d, T), 4);
    assert_null(weft_dict_name(d));
    assert_int_equal(weft_dict_max_entries(d), 1024);
    assert_int_equal(weft_dict_capacity(d), 256 * 1024);
    weft_dict_destroy(d);
    /* Thread scope is taken as anonymous process scope. */
    weft_dict_options o = WEFT_DICT_OPTIONS_INIT;
    o.share.scope = WEFT_SCOPE_THREAD;
    WT_OK(weft_dict_create(&d, &o));
    WT_OK(weft_dict_set(d, "k", "v", 1, T));
    assert_int_equal(weft_dict_size(d, T), 1);
    weft_dict_destroy(d);
}

static void test_dict_get_into_a_small_buffer_is_emsgsize_with_the_size_needed(void **state) {
    weft_dict *d;
    char buf[4] = "xyz";
    size_t n = 0;
    void *v = (void *)1;
    (void)state;
    WT_OK(weft_dict_create(&d, NULL));
    WT_OK(weft_dict_set(d, "k", "0123456789", 10, T));
    WT_EXPECT(WEFT_EMSGSIZE, weft_dict_get(d, "k", buf, sizeof buf, &n, T));
    assert_int_equal(n, 10);
    assert_string_equal(buf, "xyz"); /* nothing copied */
    WT_EXPECT(WEFT_EMSGSIZE, weft_dict_get(d, "k", NULL, 0, NULL, T));
    WT_OK(weft_dict_get_alloc(d, "k", &v, &n, T));
    assert_int_equal(n, 10);
    assert_string_equal(v, "0123456789"); /* a 0 byte follows */
    weft_dict_free(v);
    v = (void *)1;
    WT_EXPECT(WEFT_ENOENT, weft_dict_get_alloc(d, "nope", &v, &n, T));
    assert_null(v);
    weft_dict_free(NULL);
    weft_dict_destroy(d);
}

static void test_dict_full_dict_refuses_with_eoverflow_and_stays_unchanged(void **state) {
    weft_dict *d;
    char key[32], big[8192];
    (void)state;
    assert_non_null(d = make(4, 4096));
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "k%d", i);
        WT_OK(weft_dict_set(d, key, "v", 1, T));
    }
    WT_EXPECT(WEFT_EOVERFLOW, weft_dict_set(d, "k4", "v", 1, T)); /* max_entries */
    WT_OK(weft_dict_set(d, "k3", "replaced", 8, T));              /* replacing is fine */
    assert_int_equal(weft_dict_size(d, T), 4);
    WT_OK(weft_dict_delete(d, "k3", T));
    memset(big, 'b', sizeof big);
    WT_EXPECT(WEFT_EMSGSIZE, weft_dict_set(d, "huge", big, sizeof big, T)); /* never fits */
    WT_OK(weft_dict_set(d, "large", big, 3000, T));
    WT_EXPECT(WEFT_EOVERFLOW, weft_dict_set(d, "k3", big, 3000, T)); /* no room left */
    assert_int_equal(weft_dict_contains(d, "k3", T), 0);
    assert_int_equal(weft_dict_size(d, T), 4);
    weft_dict_destroy(d);
}

/* Fill with entries of value size `vlen` until the dict refuses; the count. */
static int fill(weft_dict *d, const char *prefix, size_t vlen) {
    char key[64], val[4096];
    int n = 0;
    for (;; n++) {
        snprintf(key, sizeof key, "%s%d", prefix, n);
        fill_value(val, key, vlen);
        weft_status st = weft_dict_set(d, key, val, vlen, T);
        if (st == WEFT_EOVERFLOW) return n;
        if (st != WEFT_OK) return -1;
    }
}

static int delete_all(weft_dict *d, const char *prefix, int n) {
    char key[64];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "%s%d", prefix, i);
        if (weft_dict_delete(d, key, T) != WEFT_OK) return -1;
    }
    return 0;
}

static void test_dict_delete_and_refill_churn_leaks_no_heap_space(void **state) {
    enum { CAP = 64 * 1024 };
    weft_dict *d;
    char *big = malloc(CAP);
    (void)state;
    assert_non_null(big);
    assert_non_null(d = make(100000, CAP));
    int small = fill(d, "s", 40);
    assert_true(small > 100);
    assert_int_equal(delete_all(d, "s", small), 0);
    assert_int_equal(fill(d, "s", 40), small); /* the same room again */
    assert_int_equal(delete_all(d, "s", small), 0);
    int large = fill(d, "L", 3000); /* small holes merged into large blocks */
    assert_true(large >= CAP / 3100 - 1);
    assert_int_equal(delete_all(d, "L", large), 0);
    /* Random sizes, random deletes, many rounds. */
    srand(7);
    char key[32], val[4096];
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "r%d", rand() % 200);
        if (rand() % 3 == 0) {
            weft_status st = weft_dict_delete(d, key, T);
            assert_true(st == WEFT_OK || st == WEFT_ENOENT);
        } else {
            size_t len = (size_t)(rand() % 600);
            fill_value(val, key, len);
            weft_status st = weft_dict_set(d, key, val, len, T);
            assert_true(st == WEFT_OK || st == WEFT_EOVERFLOW);
        }
    }
    WT_OK(weft_dict_clear(d, T));
    assert_int_equal(weft_dict_size(d, T), 0);
    /* One entry of exactly the whole capacity fits: not a byte was lost. */
    size_t whole = CAP - 32 - 2; /* block header, key "w" and its 0 byte */
    memset(big, 'w', whole);
    WT_OK(weft_dict_set(d, "w", big, whole, T));
    WT_EXPECT(WEFT_EOVERFLOW, weft_dict_set(d, "x", big, whole, T)); /* full */
    WT_EXPECT(WEFT_EMSGSIZE, weft_dict_set(d, "xx", big, whole, T)); /* 8 bytes too large, ever */
    WT_OK(weft_dict_delete(d, "w", T));
    /* and after churn without clear too */
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "r%d", i);
        (void)weft_dict_delete(d, key, T);
    }
    assert_int_equal(fill(d, "s", 40), small);
    assert_int_equal(delete_all(d, "s", small), 0);
    WT_OK(weft_dict_set(d, "w", big, whole, T));
    free(big);
    weft_dict_destroy(d);
}

static void test_dict_clear_removes_everything(void **state) {
    weft_dict *d;
    char key[16];
    (void)state;
    WT_OK(weft_dict_create(&d, NULL));
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "k%d", i);
        WT_OK(weft_dict_set(d, key, key, strlen(key), T));
    }
    WT_OK(weft_dict_clear(d, T));
    assert_int_equal(weft_dict_size(d, T), 0);
    assert_int_equal(weft_dict_contains(d, "k5", T), 0);
    weft_dict_cursor c = WEFT_DICT_CURSOR_INIT;
    WT_EXPECT(WEFT_ENOENT, weft_dict_next(d, &c, NULL, NULL, NULL, T));
    WT_OK(weft_dict_set(d, "k5", "again", 5, T));
    assert_int_equal(weft_dict_size(d, T), 1);
    weft_dict_destroy(d);
}

/* ---- update and transactions ------------------------------------------- */

static int add_one(const void *old, size_t old_len, const void **nv, size_t *nlen, void *user_data) {
    uint64_t *scratch = user_data;
    uint64_t v = 0;
    if (old) {
        if (old_len != sizeof v) return -1;
        memcpy(&v, old, sizeof v);
    }
    *scratch = v + 1;
    *nv = scratch;
    *nlen = sizeof *scratch;
    return WEFT_DICT_UPDATE_SET;
}

static int answer(const void *old, size_t old_len, const void **nv, size_t *nlen, void *user_data) {
    (void)old;
    (void)old_len;
    (void)nv;
    (void)nlen;
    return *(int *)user_data;
}

static int null_value(const void *old, size_t old_len, const void **nv, size_t *nlen, void *user_data) {
    (void)old;
    (void)old_len;
    (void)user_data;
    *nv = NULL;
    *nlen = 3;
    return WEFT_DICT_UPDATE_SET;
}

struct reentry {
    weft_dict *d;
    weft_status inner;
};

static int set_other_key(const void *old, size_t old_len, const void **nv, size_t *nlen, void *user_data) {
    struct reentry *r = user_data;
    (void)old_len;
    r->inner = weft_dict_set(r->d, "side", "effect", 6, 0); /* the lock is recursive */
    *nv = old;
    *nlen = 0;
    return WEFT_DICT_UPDATE_SET;
}

static uint64_t counter(weft_dict *d, const char *key) {
    uint64_t v = 0;
    size_t n = 0;
    if (weft_dict_get(d, key, &v, sizeof v, &n, T) != WEFT_OK || n != sizeof v) return UINT64_MAX;
    return v;
}

static void test_dict_update_runs_the_callback_on_the_old_value(void **state) {
    weft_dict *d;
    uint64_t scratch;
    int what;
    struct reentry r;
    (void)state;
    WT_OK(weft_dict_create(&d, NULL));
    WT_OK(weft_dict_update(d, "n", add_one, &scratch, T)); /* absent: old is NULL */
    WT_OK(weft_dict_update(d, "n", add_one, &scratch, T));
    assert_int_equal(counter(d, "n"), 2);
    what = WEFT_DICT_UPDATE_KEEP;
    WT_OK(weft_dict_update(d, "n", answer, &what, T));
    assert_int_equal(counter(d, "n"), 2);
    what = 42;
    WT_EXPECT(WEFT_EFAILED, weft_dict_update(d, "n", answer, &what, T));
    assert_int_equal(counter(d, "n"), 2);
    WT_OK(weft_dict_set(d, "text", "abc", 3, T));
    WT_EXPECT(WEFT_EFAILED, weft_dict_update(d, "text", add_one, &scratch, T)); /* callback refuses */
    WT_EXPECT(WEFT_EINVAL, weft_dict_update(d, "n", null_value, NULL, T));
    assert_int_equal(counter(d, "n"), 2);
    what = WEFT_DICT_UPDATE_DELETE;
    WT_OK(weft_dict_update(d, "n", answer, &what, T));
    assert_int_equal(weft_dict_contains(d, "n", T), 0);
    WT_OK(weft_dict_update(d, "n", answer, &what, T)); /* deleting an absent key is fine */
    r.d = d;
    r.inner = -1;
    WT_OK(weft_dict_update(d, "x", set_other_key, &r, T));
    WT_OK(r.inner);
    assert_int_equal(weft_dict_contains(d, "side", T), 1);
    assert_int_equal(weft_dict_contains(d, "x", T), 1);
    weft_dict_destroy(d);
}

struct bumper {
    weft_dict *d;
    int n;
    int failures;
};

static void *bump_counters(void *arg) {
    struct bumper *b = arg;
    uint64_t scratch;
    for (int i = 0; i < b->n; i++) {
        if (weft_dict_update(b->d, i % 2 ? "odd" : "even", add_one, &scratch, 10 * T) != WEFT_OK) b->failures++;
    }
    return NULL;
}

static void test_dict_updates_from_four_threads_are_exact(void **state) {
    enum { THREADS = 4, N = 1000 };
    weft_dict *d;
    pthread_t t[THREADS];
    struct bumper b[THREADS];
    (void)state;
    WT_OK(weft_dict_create(&d, NULL));
    for (int i = 0; i < THREADS; i++) {
        b[i] = (struct bumper){d, N, 0};
        assert_int_equal(pthread_create(&t[i], NULL, bump_counters, &b[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(b[i].failures, 0);
    }
    assert_int_equal(counter(d, "odd"), THREADS * N / 2);
    assert_int_equal(counter(d, "even"), THREADS * N / 2);
    weft_dict_destroy(d);
}

struct blocked {
    weft_dict *d;
    weft_status get, unlock;
    double waited_ms;
};

static void *get_while_locked(void *arg) {
    struct blocked *b = arg;
    char buf[8];
    int64_t t0 = weft_monotonic_ns();
    b->get = weft_dict_get(b->d, "a", buf, sizeof buf, NULL, 50 * WEFT_MSEC);
    b->waited_ms = wt_ms_since(t0);
    b->unlock = weft_dict_unlock(b->d);
    return NULL;
}

static void test_dict_lock_makes_a_transaction_of_several_calls(void **state) {
    weft_dict *d;
    pthread_t t;
    struct blocked b;
    char buf[8];
    (void)state;
    WT_OK(weft_dict_create(&d, NULL));
    WT_OK(weft_dict_lock(d, T));
    WT_OK(weft_dict_set(d, "a", "1", 1, 0)); /* inside the transaction */
    WT_OK(weft_dict_set(d, "b", "2", 1, 0));
    b.d = d;
    assert_int_equal(pthread_create(&t, NULL, get_while_locked, &b), 0);
    pthread_join(t, NULL);
    assert_int_equal(b.get, WEFT_ETIMEDOUT);
    WT_ASSERT_ABOUT_MS(b.waited_ms, 50);
    assert_int_equal(b.unlock, WEFT_EPERM);
    WT_OK(weft_dict_get(d, "a", buf, sizeof buf, NULL, 0)); /* the holder reads on */
    WT_EXPECT(WEFT_EINVAL, weft_dict_mark_consistent(d));
    WT_OK(weft_dict_unlock(d));
    WT_EXPECT(WEFT_EPERM, weft_dict_unlock(d));
    assert_int_equal(weft_dict_size(d, T), 2);
    weft_dict_destroy(d);
}

/* ---- iteration ---------------------------------------------------------- */

/* Iterate the whole dict; count how often each "stable<i>" key is seen.
 * Returns the number of entries or -1. */
static int iterate(weft_dict *d, int *seen, int nstable, int *bad_values) {
    weft_dict_cursor c = WEFT_DICT_CURSOR_INIT;
    char *key;
    void *val;
    size_t len;
    int n = 0;
    weft_status st;
    while ((st = weft_dict_next(d, &c, &key, &val, &len, T)) == WEFT_OK) {
        int i;
        if (sscanf(key, "stable%d", &i) == 1 && i >= 0 && i < nstable) seen[i]++;
        if (strcmp(key, "counter") != 0 && !value_matches(key, val, len)) ++*bad_values;
        weft_dict_free(key);
        weft_dict_free(val);
        n++;
    }
    return st == WEFT_ENOENT ? n : -1;
}

static void test_dict_iteration_returns_every_entry_once(void **state) {
    enum { N = 300 };
    weft_dict *d;
    char key[32], val[128];
    int seen[N] = {0}, bad = 0;
    (void)state;
    WT_OK(weft_dict_create(&d, NULL));
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "stable%d", i);
        fill_value(val, key, (size_t)(i % 100));
        WT_OK(weft_dict_set(d, key, val, (size_t)(i % 100), T));
    }
    assert_int_equal(iterate(d, seen, N, &bad), N);
    assert_int_equal(bad, 0);
    for (int i = 0; i < N; i++) assert_int_equal(seen[i], 1);
    /* Deleting while iterating: the rest is still seen once. */
    weft_dict_cursor c = WEFT_DICT_CURSOR_INIT;
    char *k;
    int n = 0;
    while (weft_dict_next(d, &c, &k, NULL, NULL, T) == WEFT_OK) {
        WT_OK(weft_dict_delete(d, k, T));
        weft_dict_free(k);
        n++;
    }
    assert_int_equal(n, N);
    assert_int_equal(weft_dict_size(d, T), 0);
    WT_EXPECT(WEFT_EINVAL, weft_dict_next(d, NULL, NULL, NULL, NULL, T));
    weft_dict_destroy(d);
}

static void test_dict_iteration_while_another_process_modifies_sees_stable_keys_once(void **state) {
    WT_SKIP_UNDER_TSAN();
    enum { STABLE = 200 };
    weft_dict *d;
    char key[32], val[512];
    (void)state;
    assert_non_null(d = make(2000, 512 * 1024));
    for (int i = 0; i < STABLE; i++) {
        snprintf(key, sizeof key, "stable%d", i);
        fill_value(val, key, (size_t)(i * 7 % 300));
        WT_OK(weft_dict_set(d, key, val, (size_t)(i * 7 % 300), T));
    }
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        unsigned r = 1;
        while (weft_dict_contains(d, "stop", 5 * T) == 0) {
            r = r * 1103515245u + 12345u;
            snprintf(key, sizeof key, "churn%u", (r >> 8) % 500);
            size_t len = (r >> 4) % 500;
            fill_value(val, key, len);
            if ((r >> 20) % 3 == 0)
                (void)weft_dict_delete(d, key, 5 * T);
            else if (weft_dict_set(d, key, val, len, 5 * T) == WEFT_ETIMEDOUT)
                _exit(1);
        }
        _exit(0);
    }
    for (int round = 0; round < 30; round++) {
        int seen[STABLE] = {0}, bad = 0;
        int n = iterate(d, seen, STABLE, &bad);
        assert_true(n >= STABLE);
        assert_int_equal(bad, 0);
        for (int i = 0; i < STABLE; i++) {
            if (seen[i] != 1) print_error("round %d: stable%d seen %d times\n", round, i, seen[i]);
            assert_int_equal(seen[i], 1);
        }
    }
    WT_OK(weft_dict_set(d, "stop", NULL, 0, T));
    assert_int_equal(reap(pid, 10000), 0);
    weft_dict_destroy(d);
}

/* ---- processes ---------------------------------------------------------- */

static void test_dict_four_processes_updating_shared_counters_get_exact_totals(void **state) {
    WT_SKIP_UNDER_TSAN();
    enum { PROCS = 4, N = 1000 };
    weft_dict *d;
    pid_t pids[PROCS];
    (void)state;
    WT_OK(weft_dict_create(&d, NULL));
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            uint64_t scratch;
            char key[32], val[64];
            for (int i = 0; i < N; i++) {
                if (weft_dict_update(d, "total", add_one, &scratch, 10 * T) != WEFT_OK) _exit(1);
                snprintf(key, sizeof key, "p%d-%d", p, i % 50);
                fill_value(val, key, (size_t)(i % 64));
                if (weft_dict_set(d, key, val, (size_t)(i % 64), 10 * T) != WEFT_OK) _exit(2);
                snprintf(key, sizeof key, "bucket%d", i % 7);
                if (weft_dict_update(d, key, add_one, &scratch, 10 * T) != WEFT_OK) _exit(3);
            }
            _exit(0);
        }
    }
    for (int p = 0; p < PROCS; p++) assert_int_equal(reap(pids[p], 60000), 0);
    assert_int_equal(counter(d, "total"), PROCS * N);
    uint64_t sum = 0;
    char key[32];
    for (int b = 0; b < 7; b++) {
        snprintf(key, sizeof key, "bucket%d", b);
        sum += counter(d, key);
    }
    assert_int_equal(sum, PROCS * N);
    assert_int_equal(weft_dict_size(d, T), 1 + 7 + PROCS * 50);
    weft_dict_destroy(d);
}

/* Check the dict after a crash: iteration and size agree, every value
 * belongs to its key, the stable keys are intact, and it still works. */
static void check_consistent(weft_dict *d, int nstable) {
    int seen[64] = {0}, bad = 0;
    int n = iterate(d, seen, nstable, &bad);
    assert_int_equal(bad, 0);
    assert_int_equal(n, weft_dict_size(d, T));
    for (int i = 0; i < nstable; i++) assert_int_equal(seen[i], 1);
    char key[32], val[256];
    for (int i = 0; i < nstable; i++) {
        size_t len = 0;
        snprintf(key, sizeof key, "stable%d", i);
        WT_OK(weft_dict_get(d, key, val, sizeof val, &len, T));
        assert_int_equal(len, 100);
        assert_true(value_matches(key, val, len));
    }
}

static void test_dict_process_killed_in_a_set_delete_loop_leaves_it_consistent(void **state) {
    WT_SKIP_UNDER_TSAN();
    enum { STABLE = 20, ROUNDS = 50, CAP = 32 * 1024 };
    weft_dict *d;
    char key[32], val[256];
    (void)state;
    assert_non_null(d = make(400, CAP));
    for (int i = 0; i < STABLE; i++) {
        snprintf(key, sizeof key, "stable%d", i);
        fill_value(val, key, 100);
        WT_OK(weft_dict_set(d, key, val, 100, T));
    }
    srand(11);
    for (int round = 0; round < ROUNDS; round++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            unsigned r = (unsigned)round * 7919u + 1;
            uint64_t scratch;
            for (;;) {
                r = r * 1103515245u + 12345u;
                snprintf(key, sizeof key, "churn%u", (r >> 8) % 64);
                size_t len = (r >> 4) % 200;
                fill_value(val, key, len);
                switch ((r >> 20) % 5) {
                case 0: (void)weft_dict_delete(d, key, WEFT_FOREVER); break;
                case 1: (void)weft_dict_update(d, "counter", add_one, &scratch, WEFT_FOREVER); break;
                case 2:
                    if ((r >> 24) % 16 == 0) (void)weft_dict_clear(d, WEFT_FOREVER);
                    break;
                default: (void)weft_dict_set(d, key, val, len, WEFT_FOREVER); break;
                }
                if ((r >> 20) % 5 == 2) { /* put the stable keys back after a clear */
                    for (int i = 0; i < STABLE; i++) {
                        snprintf(key, sizeof key, "stable%d", i);
                        fill_value(val, key, 100);
                        (void)weft_dict_set(d, key, val, 100, WEFT_FOREVER);
                    }
                }
            }
        }
        wt_sleep_ms(1 + rand() % 15);
        kill(pid, SIGKILL);
        assert_int_equal(reap(pid, 5000), 128 + SIGKILL);
        /* A clear may have been cut short before the stable keys came back. */
        for (int i = 0; i < STABLE; i++) {
            snprintf(key, sizeof key, "stable%d", i);
            fill_value(val, key, 100);
            WT_OK(weft_dict_set(d, key, val, 100, T));
        }
        check_consistent(d, STABLE);
    }
    /* No heap space was lost to the crashes: empty, it takes a whole-capacity entry. */
    WT_OK(weft_dict_clear(d, T));
    char *big = malloc(CAP);
    assert_non_null(big);
    memset(big, 'z', CAP);
    WT_OK(weft_dict_set(d, "w", big, CAP - 32 - 2, T));
    free(big);
    weft_dict_destroy(d);
}

static int hang_in_update(const void *old, size_t old_len, const void **nv, size_t *nlen, void *user_data) {
    int fd = *(int *)user_data;
    (void)old;
    (void)old_len;
    (void)nv;
    (void)nlen;
    if (write(fd, "u", 1) != 1) return -1;
    for (;;) pause(); /* killed here, holding the dict's lock */
}

static void test_dict_process_killed_inside_an_update_is_repaired_silently(void **state) {
    WT_SKIP_UNDER_TSAN();
    weft_dict *d;
    int fds[2];
    char c;
    uint64_t scratch;
    (void)state;
    WT_OK(weft_dict_create(&d, NULL));
    WT_OK(weft_dict_update(d, "n", add_one, &scratch, T));
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        (void)weft_dict_update(d, "n", hang_in_update, &fds[1], WEFT_FOREVER);
        _exit(1);
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], &c, 1), 1);
    close(fds[0]);
    WT_EXPECT(WEFT_ETIMEDOUT, weft_dict_set(d, "x", "y", 1, 20 * WEFT_MSEC)); /* held by the child */
    kill(pid, SIGKILL);
    assert_int_equal(reap(pid, 5000), 128 + SIGKILL);
    WT_OK(weft_dict_update(d, "n", add_one, &scratch, T)); /* no EOWNERDEAD here */
    assert_int_equal(counter(d, "n"), 2);
    assert_int_equal(weft_dict_size(d, T), 1);
    WT_OK(weft_dict_lock(d, 0)); /* and the lock is consistent again */
    WT_OK(weft_dict_unlock(d));
    weft_dict_destroy(d);
}

static void test_dict_lock_reports_a_transaction_holder_that_died(void **state) {
    WT_SKIP_UNDER_TSAN();
    weft_dict *d;
    char buf[8];
    (void)state;
    WT_OK(weft_dict_create(&d, NULL));
    for (int plain_first = 0; plain_first < 2; plain_first++) {
        WT_OK(weft_dict_clear(d, T));
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            if (weft_dict_lock(d, T) != WEFT_OK) _exit(1);
            if (weft_dict_set(d, "from", "a", 1, 0) != WEFT_OK) _exit(2);
            _exit(0); /* dies before setting "to" and unlocking */
        }
        assert_int_equal(reap(pid, 5000), 0);
        if (plain_first) {
            /* A plain call repairs and hides the death. */
            WT_OK(weft_dict_get(d, "from", buf, sizeof buf, NULL, T));
            WT_OK(weft_dict_lock(d, T));
        } else {
            WT_EXPECT(WEFT_EOWNERDEAD, weft_dict_lock(d, T));
            assert_int_equal(weft_dict_contains(d, "from", 0), 1); /* usable while held */
            assert_int_equal(weft_dict_contains(d, "to", 0), 0);
            WT_OK(weft_dict_set(d, "to", "a", 1, 0)); /* finish the transfer */
            WT_OK(weft_dict_mark_consistent(d));
        }
        WT_OK(weft_dict_unlock(d));
        assert_true(weft_dict_size(d, T) >= 1);
    }
    /* Unlocking without mark_consistent leaves it unrecoverable. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) _exit(weft_dict_lock(d, T) == WEFT_OK ? 0 : 1);
    assert_int_equal(reap(pid, 5000), 0);
    WT_EXPECT(WEFT_EOWNERDEAD, weft_dict_lock(d, T));
    WT_OK(weft_dict_unlock(d));
    WT_EXPECT(WEFT_ENOTRECOVERABLE, weft_dict_set(d, "x", "y", 1, T));
    WT_EXPECT(WEFT_ENOTRECOVERABLE, weft_dict_size(d, T));
    weft_dict_destroy(d);
}

static void test_dict_named_is_opened_by_another_process(void **state) {
    WT_SKIP_UNDER_TSAN();
    NAME(name, "dict");
    weft_dict *d, *e;
    weft_dict_options o = WEFT_DICT_OPTIONS_INIT;
    char buf[32];
    size_t n;
    (void)state;
    o.share.name = name;
    o.max_entries = 10;
    o.capacity = 8192;
    WT_OK(weft_dict_create(&d, &o));
    assert_string_equal(weft_dict_name(d), name);
    WT_OK(weft_dict_set(d, "parent", "p", 1, T));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        weft_dict *c;
        char b[8];
        if (weft_dict_open(&c, name) != WEFT_OK) _exit(1);
        if (weft_dict_get(c, "parent", b, sizeof b, NULL, T) != WEFT_OK) _exit(2);
        if (weft_dict_set(c, "child", "hello", 5, T) != WEFT_OK) _exit(3);
        if (weft_dict_max_entries(c) != 10 || weft_dict_capacity(c) != 8192) _exit(4);
        weft_dict_destroy(c);
        _exit(0);
    }
    assert_int_equal(reap(pid, 5000), 0);
    WT_OK(weft_dict_get(d, "child", buf, sizeof buf, &n, T));
    assert_memory_equal(buf, "hello", 5);
    /* OPEN_EXISTING takes the existing geometry. */
    o.share.flags = WEFT_SHARE_OPEN_EXISTING;
    o.max_entries = 500;
    WT_OK(weft_dict_create(&e, &o));
    assert_int_equal(weft_dict_max_entries(e), 10);
    assert_int_equal(weft_dict_size(e, T), 2);
    weft_dict_destroy(e);
    weft_dict_destroy(d);
    e = (weft_dict *)1;
    WT_EXPECT(WEFT_ENOENT, weft_dict_open(&e, name));
    assert_null(e);
}

static void test_dict_bad_input_is_refused_with_the_exact_code(void **state) {
    NAME(name, "dict-raw");
    weft_dict *d = (weft_dict *)1;
    weft_dict_options o = WEFT_DICT_OPTIONS_INIT;
    weft_shm *s;
    char buf[8];
    void *v;
    uint64_t scratch;
    weft_dict_cursor c = WEFT_DICT_CURSOR_INIT;
    (void)state;
    WT_EXPECT(WEFT_EINVAL, weft_dict_create(NULL, NULL));
    o.version = 9;
    WT_EXPECT(WEFT_EINVAL, weft_dict_create(&d, &o));
    assert_null(d);
    o.version = WEFT_DICT_OPTIONS_VERSION;
    o.max_entries = (1u << 28) + 1;
    WT_EXPECT(WEFT_EINVAL, weft_dict_create(&d, &o));
    o.max_entries = 0;
    o.capacity = 100;
    WT_EXPECT(WEFT_EINVAL, weft_dict_create(&d, &o));
    o.capacity = (uint64_t)1 << 40;
    WT_EXPECT(WEFT_EINVAL, weft_dict_create(&d, &o));
    o.capacity = 0;
    o.share.name = "a/b";
    WT_EXPECT(WEFT_EINVAL, weft_dict_create(&d, &o));
    WT_EXPECT(WEFT_EINVAL, weft_dict_open(&d, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_dict_open(NULL, "x"));
    WT_OK(weft_shm_create(&s, name, 4096, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_dict_open(&d, name)); /* a raw segment */
    assert_null(d);

    WT_OK(weft_dict_create(&d, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_dict_set(d, NULL, "v", 1, T));
    WT_EXPECT(WEFT_EINVAL, weft_dict_set(d, "k", NULL, 1, T));
    WT_EXPECT(WEFT_EINVAL, weft_dict_set(d, "k", "v", 1, -2));
    WT_EXPECT(WEFT_EINVAL, weft_dict_get(d, NULL, buf, 8, NULL, T));
    WT_EXPECT(WEFT_EINVAL, weft_dict_get(d, "k", NULL, 8, NULL, T));
    WT_EXPECT(WEFT_EINVAL, weft_dict_get_alloc(d, "k", NULL, NULL, T));
    WT_EXPECT(WEFT_EINVAL, weft_dict_delete(d, NULL, T));
    WT_EXPECT(WEFT_EINVAL, weft_dict_contains(d, NULL, T));
    WT_EXPECT(WEFT_EINVAL, weft_dict_size(d, -5));
    WT_EXPECT(WEFT_EINVAL, weft_dict_clear(d, -5));
    WT_EXPECT(WEFT_EINVAL, weft_dict_update(d, "k", NULL, NULL, T));
    WT_EXPECT(WEFT_EINVAL, weft_dict_update(d, NULL, add_one, &scratch, T));
    WT_EXPECT(WEFT_EINVAL, weft_dict_lock(d, -3));
    WT_EXPECT(WEFT_EINVAL, weft_dict_next(d, &c, NULL, NULL, NULL, -3));
    assert_int_equal(weft_dict_size(d, T), 0);
    weft_dict_destroy(d);

    WT_EXPECT(WEFT_EMISUSE, weft_dict_set(NULL, "k", "v", 1, T));
    WT_EXPECT(WEFT_EMISUSE, weft_dict_get(NULL, "k", buf, 8, NULL, T));
    WT_EXPECT(WEFT_EMISUSE, weft_dict_get_alloc(NULL, "k", &v, NULL, T));
    WT_EXPECT(WEFT_EMISUSE, weft_dict_delete(NULL, "k", T));
    WT_EXPECT(WEFT_EMISUSE, weft_dict_contains(NULL, "k", T));
    WT_EXPECT(WEFT_EMISUSE, weft_dict_size(NULL, T));
    WT_EXPECT(WEFT_EMISUSE, weft_dict_clear(NULL, T));
    WT_EXPECT(WEFT_EMISUSE, weft_dict_update(NULL, "k", add_one, &scratch, T));
    WT_EXPECT(WEFT_EMISUSE, weft_dict_lock(NULL, T));
    WT_EXPECT(WEFT_EMISUSE, weft_dict_unlock(NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_dict_mark_consistent(NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_dict_next(NULL, &c, NULL, NULL, NULL, T));
    WT_EXPECT(WEFT_EMISUSE, weft_dict_set((weft_dict *)s, "k", "v", 1, T)); /* wrong type */
    assert_null(weft_dict_name(NULL));
    assert_int_equal(weft_dict_max_entries(NULL), 0);
    assert_int_equal(weft_dict_capacity(NULL), 0);
    weft_dict_destroy(NULL);
    weft_shm_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_dict_set_get_contains_delete_behave_like_a_dict, check_no_leftovers),
        cmocka_unit_test_teardown(test_dict_get_into_a_small_buffer_is_emsgsize_with_the_size_needed,
                                  check_no_leftovers),
        cmocka_unit_test_teardown(test_dict_full_dict_refuses_with_eoverflow_and_stays_unchanged, check_no_leftovers),
        cmocka_unit_test_teardown(test_dict_delete_and_refill_churn_leaks_no_heap_space, check_no_leftovers),
        cmocka_unit_test_teardown(test_dict_clear_removes_everything, check_no_leftovers),
        cmocka_unit_test_teardown(test_dict_update_runs_the_callback_on_the_old_value, check_no_leftovers),
        cmocka_unit_test_teardown(test_dict_updates_from_four_threads_are_exact, check_no_leftovers),
        cmocka_unit_test_teardown(test_dict_lock_makes_a_transaction_of_several_calls, check_no_leftovers),
        cmocka_unit_test_teardown(test_dict_iteration_returns_every_entry_once, check_no_leftovers),
        cmocka_unit_test_teardown(test_dict_iteration_while_another_process_modifies_sees_stable_keys_once,
                                  check_no_leftovers),
        cmocka_unit_test_teardown(test_dict_four_processes_updating_shared_counters_get_exact_totals,
                                  check_no_leftovers),
        cmocka_unit_test_teardown(test_dict_process_killed_in_a_set_delete_loop_leaves_it_consistent,
                                  check_no_leftovers),
        cmocka_unit_test_teardown(test_dict_process_killed_inside_an_update_is_repaired_silently,
                                  check_no_leftovers),
        cmocka_unit_test_teardown(test_dict_lock_reports_a_transaction_holder_that_died, check_no_leftovers),
        cmocka_unit_test_teardown(test_dict_named_is_opened_by_another_process, check_no_leftovers),
        cmocka_unit_test_teardown(test_dict_bad_input_is_refused_with_the_exact_code, check_no_leftovers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
