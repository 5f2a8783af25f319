/* Supervised process pool: tasks as bytes, futures shared with the thread
 * pool, failures, map, and the faults the supervisor must survive: workers
 * SIGKILLed while running, receiving, sending and idle, segfaults, exits,
 * timeouts, a crash loop ended by the restart budget, cancel, shutdown, the
 * pool's process dying, bad input; no zombies at the end. Then spawn and
 * forkserver pools (tasks by registered name; main() calls weft_main()).
 * Every case forks, so every case skips itself under TSan. */

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weft_test.h"
#include "weft_fork.h"

/* ---- tasks (they run in the workers) ---------------------------------- */

static int64_t as_i64(const void *arg, size_t len) {
    int64_t x = 0;
    if (len == sizeof x) memcpy(&x, arg, sizeof x);
    return x;
}

static weft_status square(const void *arg, size_t len, weft_ptask_result *out) {
    int64_t x = as_i64(arg, len);
    x *= x;
    return weft_ptask_result_set(out, &x, sizeof x);
}

static weft_status my_pid(const void *arg, size_t len, weft_ptask_result *out) {
    int64_t pid = getpid();
    (void)arg;
    (void)len;
    return weft_ptask_result_set(out, &pid, sizeof pid);
}

static weft_status sleep_ms_then_pid(const void *arg, size_t len, weft_ptask_result *out) {
    wt_sleep_ms((int)as_i64(arg, len));
    return my_pid(NULL, 0, out);
}

static weft_status fails_with_message(const void *arg, size_t len, weft_ptask_result *out) {
    (void)out;
    if (as_i64(arg, len) % 2) return weft_task_fail(WEFT_EFAILED, "odd input");
    return -1234; /* the task's own negative code */
}

static weft_status segfaults(const void *arg, size_t len, weft_ptask_result *out) {
    (void)arg;
    (void)len;
    (void)out;
    raise(SIGSEGV);
    return WEFT_OK;
}

static weft_status exits_7(const void *arg, size_t len, weft_ptask_result *out) {
    (void)arg;
    (void)len;
    (void)out;
    _exit(7);
}

/* map element 13 ends its worker with _exit(5); the others square */
static weft_status square_but_exit_on_13(const void *arg, size_t len, weft_ptask_result *out) {
    if (as_i64(arg, len) == 13) _exit(5);
    return square(arg, len, out);
}

/* returns its argument */
static weft_status echo(const void *arg, size_t len, weft_ptask_result *out) { return weft_ptask_result_set(out, arg, len); }

/* map element 3 crashes its worker; the others square */
static weft_status square_but_crash_on_3(const void *arg, size_t len, weft_ptask_result *out) {
    if (as_i64(arg, len) == 3) raise(SIGKILL);
    return square(arg, len, out);
}

static weft_status byte_sum(const void *arg, size_t len, weft_ptask_result *out) {
    const unsigned char *p = arg;
    uint64_t s = 0;
    for (size_t i = 0; i < len; i += 4096) s += p[i];
    s += len;
    return weft_ptask_result_set(out, &s, sizeof s);
}

static void stop_myself(int sig) {
    (void)sig;
    raise(SIGSTOP);
}

/* Returns a 64 MiB result and stops itself 1 ms into sending it. */
static weft_status big_result_then_stop(const void *arg, size_t len, weft_ptask_result *out) {
    void *p;
    struct itimerval it;
    (void)arg;
    (void)len;
    if (weft_ptask_result_alloc(out, (size_t)64 << 20, &p) != WEFT_OK) return WEFT_ENOMEM;
    memset(p, 7, (size_t)64 << 20);
    signal(SIGALRM, stop_myself);
    memset(&it, 0, sizeof it);
    it.it_value.tv_usec = 1000;
    setitimer(ITIMER_REAL, &it, NULL);
    return WEFT_OK;
}

static weft_status big_result(const void *arg, size_t len, weft_ptask_result *out) {
    void *p;
    size_t n = (size_t)as_i64(arg, len);
    weft_status s = weft_ptask_result_alloc(out, n, &p);
    if (s == WEFT_OK) memset(p, 0x5a, n);
    return s;
}

static int64_t init_mark;
static void set_mark(void *data) { init_mark = *(const int64_t *)data; }
static weft_status read_mark(const void *arg, size_t len, weft_ptask_result *out) {
    (void)arg;
    (void)len;
    return weft_ptask_result_set(out, &init_mark, sizeof init_mark);
}

/* The scheduling policy the worker runs its tasks under. */
static weft_status my_policy(const void *arg, size_t len, weft_ptask_result *out) {
    (void)arg;
    (void)len;
    int64_t policy = sched_getscheduler(0);
    return weft_ptask_result_set(out, &policy, sizeof policy);
}

/* Spawn and forkserver workers find these by name (registered at load time,
 * so the re-executed test program knows them too). */
WEFT_REGISTER_PTASK(my_policy)
WEFT_REGISTER_PTASK(square)
WEFT_REGISTER_PTASK(my_pid)
WEFT_REGISTER_PTASK(sleep_ms_then_pid)
WEFT_REGISTER_PTASK(read_mark)

static weft_status cube(const void *arg, size_t len, weft_ptask_result *out) {
    int64_t x = as_i64(arg, len);
    x = x * x * x;
    return weft_ptask_result_set(out, &x, sizeof x);
}

static void crash_in_init(void *data) {
    (void)data;
    raise(SIGSEGV);
}

/* ---- version 2 options: fork hooks, initializer by name, spawn_program ---- */

/* The fork hooks: prepare and parent count in the pool's process (the
 * supervisor thread calls them); child marks the worker, and the order
 * child -> initializer is recorded by the initializer. */
static struct {
    int prepared, parented, misordered;
} hook_counts;
static int64_t child_hook_mark, child_before_init;
static void hook_prepare(void *data) {
    int *tag = data;
    if (__atomic_load_n(&hook_counts.prepared, __ATOMIC_SEQ_CST) != __atomic_load_n(&hook_counts.parented, __ATOMIC_SEQ_CST))
        __atomic_add_fetch(&hook_counts.misordered, 1, __ATOMIC_SEQ_CST);
    if (*tag == 77) __atomic_add_fetch(&hook_counts.prepared, 1, __ATOMIC_SEQ_CST);
}
static void hook_parent(void *data) {
    int *tag = data;
    if (*tag == 77) __atomic_add_fetch(&hook_counts.parented, 1, __ATOMIC_SEQ_CST);
}
static void hook_child(void *data) { child_hook_mark = *(int *)data; }
static void init_after_child_hook(void *data) {
    (void)data;
    child_before_init = child_hook_mark;
}
static weft_status read_child_marks(const void *arg, size_t len, weft_ptask_result *out) {
    int64_t both[2] = {child_hook_mark, child_before_init};
    (void)arg;
    (void)len;
    return weft_ptask_result_set(out, both, sizeof both);
}
static void must_not_run(void *data) {
    (void)data;
    abort();
}

/* An initializer by name: keeps its argument for read_mark; one that fails. */
static weft_status init_by_name(const void *arg, size_t len, weft_ptask_result *out) {
    (void)out;
    if (len != sizeof(int64_t) || ((uintptr_t)arg & 15) != 0) return weft_task_fail(WEFT_EINVAL, "bad init argument");
    init_mark = as_i64(arg, len);
    return WEFT_OK;
}
static weft_status init_that_fails(const void *arg, size_t len, weft_ptask_result *out) {
    (void)arg;
    (void)len;
    (void)out;
    return weft_task_fail(WEFT_EPERM, "no licence for this worker");
}
WEFT_REGISTER_PTASK(init_by_name)
WEFT_REGISTER_PTASK(init_that_fails)

/* spawn_argv's prefix: main() sees it before weft's own arguments. */
static const char kPrefixArg[] = "--test-process-pool-prefix";
static int64_t saw_prefix;
static weft_status read_saw_prefix(const void *arg, size_t len, weft_ptask_result *out) {
    (void)arg;
    (void)len;
    return weft_ptask_result_set(out, &saw_prefix, sizeof saw_prefix);
}
WEFT_REGISTER_PTASK(read_saw_prefix)

/* ---- helpers (test thread) --------------------------------------------- */

static weft_process_pool *make(int workers) {
    weft_process_pool_options o = WEFT_PROCESS_POOL_OPTIONS_INIT;
    weft_process_pool *p = NULL;
    o.workers = workers;
    WT_OK(weft_process_pool_create(&p, &o));
    return p;
}

/* a pool whose restart budget never runs out: for tests that crash many workers on purpose */
static weft_process_pool *make_unbudgeted(int workers) {
    weft_process_pool_options o = WEFT_PROCESS_POOL_OPTIONS_INIT;
    weft_process_pool *p = NULL;
    o.workers = workers;
    o.max_restarts = -1;
    WT_OK(weft_process_pool_create(&p, &o));
    return p;
}

/* xs[i] = i, and args[i] the bytes of xs[i] */
static void iota_args(int64_t *xs, weft_bytes *args, int n) {
    for (int i = 0; i < n; i++) {
        xs[i] = i;
        args[i].size = sizeof xs[i];
        args[i].data = &xs[i];
    }
}

/* res[i] holds i*i for every i < n (a map of square over iota_args): check and free each */
static void expect_squares_and_free(weft_bytes **res, int n) {
    for (int i = 0; i < n; i++) {
        int64_t y;
        assert_int_equal(res[i]->size, sizeof y);
        memcpy(&y, res[i]->data, sizeof y);
        assert_int_equal(y, (int64_t)i * i);
        weft_bytes_free(res[i]);
    }
}

/* ms[i] = millis, and args[i] its bytes (for sleep_ms_then_pid) */
static void nap_args(int64_t *ms, weft_bytes *args, int n, int64_t millis) {
    for (int i = 0; i < n; i++) {
        ms[i] = millis;
        args[i].size = sizeof ms[i];
        args[i].data = &ms[i];
    }
}

static weft_future *submit_i64(weft_process_pool *p, weft_ptask_fn fn, int64_t x) {
    weft_future *f = NULL;
    WT_OK(weft_process_pool_submit(p, fn, &x, sizeof x, &f, WEFT_FOREVER));
    return f;
}

static int64_t result_i64(weft_future *f) {
    void *v = NULL;
    int64_t x;
    WT_OK(weft_future_result(f, &v, 10 * WEFT_SEC));
    assert_int_equal(((const weft_bytes *)v)->size, sizeof x);
    memcpy(&x, ((const weft_bytes *)v)->data, sizeof x);
    return x;
}

/* Expect the future to fail with `code` and a message containing `needle`. */
static void expect_failure(weft_future *f, weft_status code, const char *needle) {
    void *v = (void *)1;
    weft_status got = weft_future_result(f, &v, 10 * WEFT_SEC);
    if (got != code || (needle && !strstr(weft_last_error()->message, needle)))
        print_error("got %s: \"%s\", wanted %s with \"%s\"\n", weft_status_name(got), weft_last_error()->message,
                    weft_status_name(code), needle ? needle : "");
    assert_int_equal(got, code);
    assert_null(v);
    if (needle) assert_non_null(strstr(weft_last_error()->message, needle));
}

static int64_t only_pid(weft_process_pool *p) {
    int64_t pid = 0;
    size_t n = 0;
    for (int i = 0; i < 500; i++) {
        WT_OK(weft_process_pool_pids(p, &pid, 1, &n));
        if (n == 1) return pid;
        wt_sleep_ms(10);
    }
    assert_int_equal(n, 1);
    return pid;
}

static weft_process_pool_stats stats_of(weft_process_pool *p) {
    weft_process_pool_stats st;
    WT_OK(weft_process_pool_stats_get(p, &st));
    return st;
}

static void wait_busy(weft_process_pool *p, int busy) {
    for (int i = 0; i < 1000 && stats_of(p).busy != busy; i++) wt_sleep_ms(5);
    assert_int_equal(stats_of(p).busy, busy);
}

/* ---- behaviour --------------------------------------------------------- */

static void test_process_pool_submit_gives_a_future_with_the_result_bytes(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(2);
    weft_future *f = submit_i64(p, square, 7);
    assert_int_equal(result_i64(f), 49);
    assert_int_equal(weft_future_get_state(f), WEFT_FUTURE_DONE);
    weft_future_destroy(f);
    /* the task ran in another process */
    f = submit_i64(p, my_pid, 0);
    assert_int_not_equal(result_i64(f), (int64_t)getpid());
    weft_future_destroy(f);
    weft_process_pool_destroy(p);
}

static void test_process_pool_failing_task_reaches_its_future_with_code_and_message(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(1);
    weft_future *f = submit_i64(p, fails_with_message, 3);
    expect_failure(f, WEFT_EFAILED, "odd input");
    weft_future_destroy(f);
    f = submit_i64(p, fails_with_message, 2);
    expect_failure(f, -1234, "returned");
    weft_future_destroy(f);
    assert_int_equal(stats_of(p).failed, 2);
    weft_process_pool_destroy(p);
}

static void test_process_pool_apply_waits_and_hands_back_a_copy(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(1);
    weft_bytes *r = NULL;
    int64_t x = 12, got;
    WT_OK(weft_process_pool_apply(p, square, &x, sizeof x, &r));
    assert_non_null(r);
    assert_int_equal(r->size, sizeof got);
    memcpy(&got, r->data, sizeof got);
    assert_int_equal(got, 144);
    weft_bytes_free(r);
    x = 1;
    WT_EXPECT(WEFT_EFAILED, weft_process_pool_apply(p, fails_with_message, &x, sizeof x, &r));
    assert_null(r);
    assert_non_null(strstr(weft_last_error()->message, "odd input"));
    weft_process_pool_destroy(p);
}

struct callbacks {
    int ok, errors;
    int64_t sum;
    weft_status last_code;
};

static void on_result(const weft_bytes *b, void *ud) {
    struct callbacks *c = ud;
    int64_t x;
    memcpy(&x, b->data, sizeof x);
    __atomic_add_fetch(&c->sum, x, __ATOMIC_RELAXED);
    __atomic_add_fetch(&c->ok, 1, __ATOMIC_RELEASE);
}

static void on_error(weft_status code, const char *message, void *ud) {
    struct callbacks *c = ud;
    (void)message;
    c->last_code = code;
    __atomic_add_fetch(&c->errors, 1, __ATOMIC_RELEASE);
}

static void test_process_pool_apply_async_calls_one_callback_per_job(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(5);
    struct callbacks c = {0, 0, 0, 0};
    for (int64_t i = 0; i < 8; i++)
        WT_OK(weft_process_pool_apply_async(p, square, &i, sizeof i, NULL, WEFT_FOREVER, on_result, on_error, &c));
    int64_t odd = 1;
    WT_OK(weft_process_pool_apply_async(p, fails_with_message, &odd, sizeof odd, NULL, WEFT_FOREVER, on_result,
                                        on_error, &c));
    WT_OK(weft_process_pool_close(p));
    WT_OK(weft_process_pool_join(p, 20 * WEFT_SEC));
    assert_int_equal(__atomic_load_n(&c.ok, __ATOMIC_ACQUIRE), 8);
    assert_int_equal(c.sum, 0 + 1 + 4 + 9 + 16 + 25 + 36 + 49);
    assert_int_equal(__atomic_load_n(&c.errors, __ATOMIC_ACQUIRE), 1);
    assert_int_equal(c.last_code, WEFT_EFAILED);
    WT_EXPECT(WEFT_ECLOSED, weft_process_pool_apply_async(p, square, &odd, sizeof odd, NULL, WEFT_FOREVER, on_result,
                                                          on_error, &c));
    assert_int_equal(c.ok + c.errors, 9); /* a failed call runs no callback */
    weft_process_pool_destroy(p);
}

static void test_process_pool_execute_runs_everything_before_shutdown_returns(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(2);
    for (int64_t i = 0; i < 2000; i++) WT_OK(weft_process_pool_execute(p, square, &i, sizeof i, WEFT_FOREVER));
    WT_OK(weft_process_pool_shutdown(p, 1, 0));
    weft_process_pool_stats st = stats_of(p);
    assert_int_equal(st.completed, 2000);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.workers, 0);
    weft_process_pool_destroy(p);
}

static void test_process_pool_map_keeps_argument_order_for_any_chunk_size(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(2);
    enum { N = 103 };
    int64_t xs[N];
    weft_bytes args[N];
    weft_bytes *res[N];
    weft_status codes[N];
    iota_args(xs, args, N);
    size_t chunks[] = {0, 1, 7, 200};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        WT_OK(weft_process_pool_map(p, square, args, N, res, codes, chunks[c], 20 * WEFT_SEC));
        for (int i = 0; i < N; i++) {
            int64_t y;
            assert_int_equal(codes[i], WEFT_OK);
            assert_int_equal(res[i]->size, sizeof y);
            memcpy(&y, res[i]->data, sizeof y);
            assert_int_equal(y, (int64_t)i * i);
            weft_bytes_free(res[i]);
        }
    }
    WT_OK(weft_process_pool_map(p, square, NULL, 0, NULL, NULL, 0, WEFT_FOREVER));
    weft_process_pool_destroy(p);
}

static void test_process_pool_map_moves_arguments_and_results_of_every_small_size(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(2);
    enum { N = 70 };
    unsigned char bytes[N][N];
    weft_bytes args[N];
    weft_bytes *res[N];
    for (int i = 0; i < N; i++) { /* argument i has i bytes: 0, the sizes around 4, 8 and 16, and larger */
        for (int j = 0; j < i; j++) bytes[i][j] = (unsigned char)(i * 31 + j + 1);
        args[i].size = (size_t)i;
        args[i].data = i ? bytes[i] : NULL;
    }
    int64_t timeouts[] = {20 * WEFT_SEC, WEFT_FOREVER};
    size_t chunks[] = {0, 1, 3, N};
    for (size_t t = 0; t < 2; t++)
        for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
            WT_OK(weft_process_pool_map(p, echo, args, N, res, NULL, chunks[c], timeouts[t]));
            for (int i = 0; i < N; i++) {
                assert_int_equal(res[i]->size, (size_t)i);
                assert_int_equal((uintptr_t)res[i]->data % 16, 0);
                if (i) assert_memory_equal(res[i]->data, bytes[i], (size_t)i);
                weft_bytes_free(res[i]);
            }
        }
    weft_process_pool_destroy(p);
}

/* A map chunk of same-size small arguments, and its reply while every call
 * succeeds with a result of one small size, travel packed; any other call
 * turns the reply padded from there on. The argument is {i, rule, at} and
 * zeros up to its size; the result of call i by rule: 0: i*i (8 bytes);
 * 1: the same, but call `at` gives 3 bytes {i, i, i}; 2: the same, but call
 * `at` fails; 3: 64 bytes (the largest packed size) of i; 4: 65 bytes of i;
 * 5: no bytes; 6: i*i, but call `at` gives 100 bytes of i. */
enum { SHAPE_SQUARE, SHAPE_SHORT_AT, SHAPE_FAIL_AT, SHAPE_64, SHAPE_65, SHAPE_EMPTY, SHAPE_LONG_AT, SHAPE_RULES };

static size_t shape_size(int64_t rule, int64_t i, int64_t at) {
    static const size_t sizes[] = {8, 8, 8, 64, 65, 0, 8};
    if (i == at && (rule == SHAPE_SHORT_AT || rule == SHAPE_LONG_AT)) return rule == SHAPE_SHORT_AT ? 3 : 100;
    return sizes[rule];
}

static weft_status shape(const void *arg, size_t len, weft_ptask_result *out) {
    int64_t v[3];
    unsigned char b[100];
    if (len < sizeof v) return WEFT_EINVAL;
    memcpy(v, arg, sizeof v);
    if (v[1] == SHAPE_FAIL_AT && v[0] == v[2]) return weft_task_fail(WEFT_EFAILED, "shape: told to fail here");
    if (shape_size(v[1], v[0], v[2]) != 8) {
        memset(b, (int)v[0], sizeof b);
        return weft_ptask_result_set(out, b, shape_size(v[1], v[0], v[2]));
    }
    int64_t y = v[0] * v[0];
    return weft_ptask_result_set(out, &y, sizeof y);
}

static void test_process_pool_map_packs_same_size_items_and_unpacks_at_the_first_other(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(2);
    enum { N = 37 };
    static unsigned char raw[N][80];
    weft_bytes args[N];
    weft_bytes *res[N];
    weft_status codes[N];
    size_t arg_sizes[] = {24, 64, 65}; /* packed, the largest packed, padded */
    int64_t ats[] = {0, 17, N - 1};
    size_t chunks[] = {0, 1, 5, N};
    int64_t timeouts[] = {20 * WEFT_SEC, WEFT_FOREVER};
    for (size_t a = 0; a < 3; a++)
        for (int64_t rule = 0; rule < SHAPE_RULES; rule++)
            for (size_t k = 0; k < 3; k++)
                for (size_t c = 0; c < 4; c++) {
                    int64_t at = ats[k];
                    for (int64_t i = 0; i < N; i++) {
                        int64_t v[3] = {i, rule, at};
                        memset(raw[i], 0, sizeof raw[i]);
                        memcpy(raw[i], v, sizeof v);
                        args[i].size = arg_sizes[a];
                        args[i].data = raw[i];
                    }
                    weft_status s = weft_process_pool_map(p, shape, args, N, res, codes, chunks[c], timeouts[c % 2]);
                    assert_int_equal(s, rule == SHAPE_FAIL_AT ? WEFT_EFAILED : WEFT_OK);
                    for (int64_t i = 0; i < N; i++) {
                        if (rule == SHAPE_FAIL_AT && i == at) {
                            assert_int_equal(codes[i], WEFT_EFAILED);
                            assert_null(res[i]);
                            continue;
                        }
                        size_t want = shape_size(rule, i, at);
                        assert_int_equal(codes[i], WEFT_OK);
                        assert_int_equal(res[i]->size, want);
                        assert_int_equal((uintptr_t)res[i]->data % 16, 0);
                        if (want == 8) {
                            int64_t y;
                            memcpy(&y, res[i]->data, sizeof y);
                            assert_int_equal(y, i * i);
                        } else {
                            for (size_t j = 0; j < want; j++)
                                assert_int_equal(((unsigned char *)res[i]->data)[j], (unsigned char)i);
                        }
                        weft_bytes_free(res[i]);
                    }
                    if (rule == SHAPE_FAIL_AT)
                        assert_non_null(strstr(weft_last_error()->message, "shape: told to fail here"));
                }
    weft_process_pool_destroy(p);
}

/* CPU time (utime + stime, clock ticks) a process has used, from /proc/PID/stat. */
static long proc_cpu_ticks(int64_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%lld/stat", (long long)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    assert_non_null(rp);
    long utime = 0, stime = 0;
    /* after ')': state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    assert_int_equal(sscanf(rp + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &utime, &stime), 2);
    return utime + stime;
}

/* The pool's two workers (their pids in pids) use no CPU once past any spin
 * (at most 200 us): a spin that never ended would use up to 100 ticks in 0.5 s. */
static void expect_two_workers_asleep(weft_process_pool *p, int64_t pids[2]) {
    size_t n = 0;
    WT_OK(weft_process_pool_pids(p, pids, 2, &n));
    assert_int_equal(n, 2);
    wt_sleep_ms(50);
    long before = proc_cpu_ticks(pids[0]) + proc_cpu_ticks(pids[1]);
    wt_sleep_ms(500);
    assert_true(proc_cpu_ticks(pids[0]) + proc_cpu_ticks(pids[1]) - before <= 5);
}

static void test_process_pool_workers_spin_between_quick_tasks_and_sleep_when_idle(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(2);
    enum { N = 2000 };
    int64_t xs[N];
    weft_bytes args[N];
    weft_bytes *res[N];
    iota_args(xs, args, N);
    for (int r = 0; r < 50; r++) { /* back-to-back maps: the workers spin for the next chunk */
        WT_OK(weft_process_pool_map(p, square, args, N, res, NULL, 0, WEFT_FOREVER));
        for (int i = 0; i < N; i++) weft_bytes_free(res[i]);
    }
    int64_t pids[2];
    expect_two_workers_asleep(p, pids);
    /* and they still answer */
    WT_OK(weft_process_pool_map(p, square, args, N, res, NULL, 0, WEFT_FOREVER));
    expect_squares_and_free(res, N);
    weft_process_pool_destroy(p);
}

static void test_process_pool_wake_readies_idle_workers_for_what_follows(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(2);
    enum { N = 2000 };
    int64_t xs[N];
    weft_bytes args[N];
    weft_bytes *res[N];
    iota_args(xs, args, N);
    WT_OK(weft_process_pool_wake(p, 0)); /* none */
    /* a wake-up carries nothing: maps and single tasks after one, or after
     * many piled up in the workers' sockets, run as usual */
    for (int r = 0; r < 20; r++) {
        for (int k = 0; k <= r % 4; k++) WT_OK(weft_process_pool_wake(p, (size_t)(1 + r % 3)));
        WT_OK(weft_process_pool_map(p, square, args, N, res, NULL, 0, WEFT_FOREVER));
        expect_squares_and_free(res, N);
        WT_OK(weft_process_pool_wake(p, 64)); /* more than there are: the idle ones */
        weft_future *f = submit_i64(p, square, r);
        assert_int_equal(result_i64(f), r * r);
        weft_future_destroy(f);
    }
    /* woken workers that get nothing go back to sleep */
    WT_OK(weft_process_pool_wake(p, 2));
    int64_t pids[2];
    expect_two_workers_asleep(p, pids);
    /* a worker that died while idle: replaced, whether the wake-up or the supervisor finds it first */
    kill((pid_t)pids[0], SIGKILL);
    WT_OK(weft_process_pool_wake(p, 2));
    for (int i = 0; i < 500 && stats_of(p).replaced < 1; i++) wt_sleep_ms(10);
    assert_int_equal(stats_of(p).replaced, 1);
    WT_OK(weft_process_pool_map(p, square, args, N, res, NULL, 0, WEFT_FOREVER));
    expect_squares_and_free(res, N);
    WT_OK(weft_process_pool_close(p));
    WT_OK(weft_process_pool_wake(p, 2)); /* a hint: nothing to wake */
    weft_process_pool_destroy(p);
    WT_EXPECT(WEFT_EMISUSE, weft_process_pool_wake(NULL, 1));
    WT_EXPECT(WEFT_EMISUSE, weft_process_pool_wake((weft_process_pool *)pids, 1)); /* not a pool */
}

/* A stop function: stops the map once *flag is set (by a thread, or by a signal handler). */
static volatile sig_atomic_t stop_flag;
static int stop_when_flagged(void *data) {
    int *asked = data;
    (*asked)++;
    return stop_flag != 0;
}

static void set_stop_flag(int sig) {
    (void)sig;
    stop_flag = 1;
}

static void *flag_later(void *arg) {
    wt_sleep_ms((int)(intptr_t)arg);
    stop_flag = 1;
    return NULL;
}

static void test_process_pool_a_stoppable_map_stops_and_keeps_what_finished(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(2);
    enum { N = 80 }; /* 80 calls of 50 ms on 2 workers: 2 s when nobody stops it */
    int64_t ms[N];
    weft_bytes args[N];
    weft_bytes *res[N];
    weft_status codes[N];
    nap_args(ms, args, N, 50);
    /* untimed (on the borrowed workers) and timed (through the queue); stopped by a thread */
    int64_t timeouts[] = {WEFT_FOREVER, 20 * WEFT_SEC};
    for (int t = 0; t < 2; t++) {
        int asked = 0;
        weft_thread *th;
        stop_flag = 0;
        WT_OK(weft_thread_spawn(&th, flag_later, (void *)(intptr_t)250, NULL));
        int64_t t0 = weft_monotonic_ns();
        WT_EXPECT(WEFT_ECANCELLED, weft_process_pool_map_stoppable(p, sleep_ms_then_pid, args, N, res, codes, 1,
                                                                   timeouts[t], stop_when_flagged, &asked));
        int64_t took = weft_monotonic_ns() - t0;
        WT_OK(weft_thread_join(th, NULL, 10 * WEFT_SEC));
        weft_thread_destroy(th);
        assert_non_null(strstr(weft_last_error()->message, "stopped by its stop function"));
        assert_true(asked >= 2);             /* asked while it waited */
        assert_true(took < 1500 * WEFT_MSEC); /* not the whole 2 s */
        int finished = 0;
        for (int i = 0; i < N; i++) {
            if (codes[i] == WEFT_OK) {
                assert_non_null(res[i]);
                assert_int_equal(res[i]->size, sizeof(int64_t));
                weft_bytes_free(res[i]);
                finished++;
            } else {
                assert_int_equal(codes[i], WEFT_ECANCELLED);
                assert_null(res[i]);
            }
        }
        assert_true(finished >= 2 && finished < N);
    }
    /* the killed workers were replaced, not counted as crashes, and the pool serves on */
    assert_int_equal(stats_of(p).crashed, 0);
    int64_t xs[N];
    weft_bytes sq[N];
    iota_args(xs, sq, N);
    WT_OK(weft_process_pool_map_stoppable(p, square, sq, N, res, codes, 0, WEFT_FOREVER, NULL, NULL));
    expect_squares_and_free(res, N);
    weft_process_pool_stats st = stats_of(p);
    assert_int_equal(st.workers, 2);
    assert_int_equal(st.busy, 0);
    weft_process_pool_destroy(p);
}

static void test_process_pool_a_stoppable_map_stops_on_a_signal(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(2);
    enum { N = 80 };
    int64_t ms[N];
    weft_bytes args[N];
    weft_bytes *res[N];
    nap_args(ms, args, N, 50);
    /* a SIGALRM handler sets the flag, as a SIGINT handler would for Ctrl-C */
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = set_stop_flag;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
    stop_flag = 0;
    int asked = 0;
    struct itimerval it;
    memset(&it, 0, sizeof it);
    it.it_value.tv_usec = 200 * 1000;
    int64_t t0 = weft_monotonic_ns();
    assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
    WT_EXPECT(WEFT_ECANCELLED,
              weft_process_pool_map_stoppable(p, sleep_ms_then_pid, args, N, res, NULL, 1, WEFT_FOREVER,
                                              stop_when_flagged, &asked));
    assert_true(weft_monotonic_ns() - t0 < 1500 * WEFT_MSEC); /* not the whole 2 s */
    assert_int_equal(sigaction(SIGALRM, &old, NULL), 0);
    for (int i = 0; i < N; i++) weft_bytes_free(res[i]); /* NULL for the cancelled ones */
    WT_EXPECT(WEFT_EMISUSE, weft_process_pool_map_stoppable(NULL, square, args, 1, res, NULL, 0, WEFT_FOREVER,
                                                           stop_when_flagged, &asked));
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_map_stoppable(p, square, args, 1, NULL, NULL, 0, WEFT_FOREVER,
                                                           stop_when_flagged, &asked));
    weft_process_pool_destroy(p);
}

struct unordered_seen {
    int count[64];
    int64_t sum;
};

static void collect(size_t i, const weft_bytes *r, weft_status code, const char *msg, void *ud) {
    struct unordered_seen *s = ud;
    int64_t y = 0;
    (void)msg;
    if (code == WEFT_OK) memcpy(&y, r->data, sizeof y);
    s->count[i]++;
    s->sum += y;
}

static void test_process_pool_map_unordered_reports_each_result_once(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(2);
    int64_t xs[64];
    weft_bytes args[64];
    struct unordered_seen s;
    int64_t want = 0;
    memset(&s, 0, sizeof s);
    for (int i = 0; i < 64; i++) {
        xs[i] = i;
        args[i].size = sizeof xs[i];
        args[i].data = &xs[i];
        want += (int64_t)i * i;
    }
    WT_OK(weft_process_pool_map_unordered(p, square, args, 64, 5, 20 * WEFT_SEC, collect, &s));
    for (int i = 0; i < 64; i++) assert_int_equal(s.count[i], 1);
    assert_int_equal(s.sum, want);
    weft_process_pool_destroy(p);
}

struct nested_seen {
    weft_process_pool *pool;
    int calls, bad;
};

/* map_unordered's callback applies a task on the same pool: it must not wait for the map's own workers */
static void apply_from_callback(size_t i, const weft_bytes *r, weft_status code, const char *msg, void *ud) {
    struct nested_seen *s = ud;
    int64_t y = 0, x = (int64_t)i, z = 0;
    weft_bytes *b = NULL;
    (void)msg;
    if (code == WEFT_OK) memcpy(&y, r->data, sizeof y);
    s->bad += code != WEFT_OK || y != x * x;
    if (weft_process_pool_apply(s->pool, square, &x, sizeof x, &b) != WEFT_OK) {
        s->bad++;
        return;
    }
    memcpy(&z, b->data, sizeof z);
    s->bad += z != x * x;
    weft_bytes_free(b);
    s->calls++;
}

static void test_process_pool_untimed_map_unordered_callback_may_use_the_pool(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(2);
    int64_t xs[40];
    weft_bytes args[40];
    iota_args(xs, args, 40);
    struct nested_seen s = {p, 0, 0};
    WT_OK(weft_process_pool_map_unordered(p, square, args, 40, 0, WEFT_FOREVER, apply_from_callback, &s));
    assert_int_equal(s.calls, 40);
    assert_int_equal(s.bad, 0);
    weft_process_pool_destroy(p);
}

static void test_process_pool_runs_the_initializer_in_each_worker_and_replaces_after_max_tasks(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool_options o = WEFT_PROCESS_POOL_OPTIONS_INIT;
    weft_process_pool *p;
    int64_t mark = 4242;
    o.workers = 1;
    o.initializer = set_mark;
    o.initializer_data = &mark;
    o.max_tasks_per_worker = 2;
    WT_OK(weft_process_pool_create(&p, &o));
    int64_t pids[6];
    for (int i = 0; i < 6; i++) {
        weft_future *f = submit_i64(p, my_pid, 0);
        pids[i] = result_i64(f);
        weft_future_destroy(f);
        f = submit_i64(p, read_mark, 0);
        assert_int_equal(result_i64(f), 4242);
        weft_future_destroy(f);
    }
    /* two tasks per worker: my_pid+read_mark; so every pid differs */
    for (int i = 1; i < 6; i++) assert_int_not_equal(pids[i], pids[i - 1]);
    weft_process_pool_stats st = stats_of(p);
    assert_true(st.replaced >= 5);
    assert_int_equal(st.crashed, 0);
    assert_int_equal(init_mark, 0); /* never ran in this process */
    weft_process_pool_destroy(p);
}

/* ---- faults ------------------------------------------------------------- */

static void test_process_pool_worker_killed_while_running_fails_only_its_task(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(1);
    int64_t pid = only_pid(p);
    weft_future *f = submit_i64(p, sleep_ms_then_pid, 5000);
    wait_busy(p, 1);
    weft_future *queued = submit_i64(p, square, 5);
    kill((pid_t)pid, SIGKILL);
    char want[64];
    snprintf(want, sizeof want, "worker %lld was killed by signal 9 (SIGKILL)", (long long)pid);
    expect_failure(f, WEFT_EWORKERDIED, want);
    assert_int_equal(result_i64(queued), 25); /* the replacement serves the rest */
    weft_process_pool_stats st = stats_of(p);
    assert_int_equal(st.crashed, 1);
    assert_int_equal(st.replaced, 1);
    assert_int_equal(st.workers, 1);
    assert_int_not_equal(only_pid(p), pid);
    weft_future_destroy(f);
    weft_future_destroy(queued);
    weft_process_pool_destroy(p);
}

static void test_process_pool_worker_killed_while_receiving_a_large_argument(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(1);
    int64_t pid = only_pid(p);
    size_t big = (size_t)64 << 20;
    char *arg = malloc(big);
    assert_non_null(arg);
    memset(arg, 1, big);
    weft_future *f = submit_i64(p, square, 2); /* the worker is up and ready */
    assert_int_equal(result_i64(f), 4);
    weft_future_destroy(f);
    /* Stopped, the worker cannot drain its socket: the 64 MiB stay in flight. */
    assert_int_equal(kill((pid_t)pid, SIGSTOP), 0);
    WT_OK(weft_process_pool_submit(p, byte_sum, arg, big, &f, WEFT_FOREVER));
    wait_busy(p, 1);
    wt_sleep_ms(30);
    kill((pid_t)pid, SIGKILL);
    expect_failure(f, WEFT_EWORKERDIED, "while receiving the task's argument");
    weft_future_destroy(f);
    /* the next large argument goes through whole */
    WT_OK(weft_process_pool_submit(p, byte_sum, arg, big, &f, WEFT_FOREVER));
    assert_int_equal(result_i64(f), (int64_t)(big / 4096 + big));
    weft_future_destroy(f);
    free(arg);
    weft_process_pool_destroy(p);
}

static void test_process_pool_worker_killed_while_sending_a_large_result(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(1);
    int64_t pid = only_pid(p);
    weft_future *f = submit_i64(p, big_result_then_stop, 0);
    char st = 0;
    for (int i = 0; i < 1000 && (st = wt_proc_state(pid)) != 'T'; i++) wt_sleep_ms(5);
    assert_int_equal(st, 'T'); /* stopped in the middle of sending */
    assert_int_equal(weft_future_done(f), 0);
    kill((pid_t)pid, SIGKILL);
    expect_failure(f, WEFT_EWORKERDIED, "while sending the task's result");
    weft_future_destroy(f);
    int64_t n = (int64_t)((size_t)64 << 20);
    f = submit_i64(p, big_result, n);
    void *v;
    WT_OK(weft_future_result(f, &v, 20 * WEFT_SEC));
    const weft_bytes *b = v;
    assert_int_equal(b->size, (size_t)n);
    assert_int_equal(((const unsigned char *)b->data)[n - 1], 0x5a);
    weft_future_destroy(f);
    weft_process_pool_destroy(p);
}

static void test_process_pool_replaces_a_worker_killed_while_idle(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(1);
    int64_t pid = only_pid(p);
    kill((pid_t)pid, SIGKILL);
    for (int i = 0; i < 500 && stats_of(p).replaced < 1; i++) wt_sleep_ms(10);
    weft_process_pool_stats st = stats_of(p);
    assert_int_equal(st.replaced, 1);
    assert_int_equal(st.crashed, 1);
    weft_future *f = submit_i64(p, square, 9);
    assert_int_equal(result_i64(f), 81);
    weft_future_destroy(f);
    weft_process_pool_destroy(p);
}

static void test_process_pool_survives_both_workers_killed_at_once(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(2);
    weft_future *a = submit_i64(p, sleep_ms_then_pid, 5000);
    weft_future *b = submit_i64(p, sleep_ms_then_pid, 5000);
    wait_busy(p, 2);
    int64_t pids[2];
    size_t n;
    WT_OK(weft_process_pool_pids(p, pids, 2, &n));
    assert_int_equal(n, 2);
    kill((pid_t)pids[0], SIGKILL);
    kill((pid_t)pids[1], SIGKILL);
    expect_failure(a, WEFT_EWORKERDIED, "SIGKILL");
    expect_failure(b, WEFT_EWORKERDIED, "SIGKILL");
    weft_future *c = submit_i64(p, square, 3), *d = submit_i64(p, square, 4);
    assert_int_equal(result_i64(c), 9);
    assert_int_equal(result_i64(d), 16);
    assert_int_equal(stats_of(p).crashed, 2);
    weft_future_destroy(a);
    weft_future_destroy(b);
    weft_future_destroy(c);
    weft_future_destroy(d);
    weft_process_pool_destroy(p);
}

static void test_process_pool_reports_a_segfault_and_an_exit_code(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(1);
    weft_future *f = submit_i64(p, segfaults, 0);
    expect_failure(f, WEFT_EWORKERDIED, "signal 11 (SIGSEGV) while running the task");
    weft_future_destroy(f);
    f = submit_i64(p, exits_7, 0);
    expect_failure(f, WEFT_EWORKERDIED, "exited with code 7");
    weft_future_destroy(f);
    f = submit_i64(p, square, 6);
    assert_int_equal(result_i64(f), 36);
    weft_future_destroy(f);
    weft_process_pool_destroy(p);
}

static void test_process_pool_kills_a_task_past_its_timeout(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool_options o = WEFT_PROCESS_POOL_OPTIONS_INIT;
    weft_process_pool *p;
    o.workers = 1;
    o.task_timeout_ns = 200 * WEFT_MSEC;
    WT_OK(weft_process_pool_create(&p, &o));
    int64_t t0 = weft_monotonic_ns();
    weft_future *f = submit_i64(p, sleep_ms_then_pid, 10000);
    expect_failure(f, WEFT_ETIMEDOUT, "timeout of 200 ms");
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 200);
    weft_future_destroy(f);
    f = submit_i64(p, sleep_ms_then_pid, 10); /* a short one passes */
    (void)result_i64(f);
    weft_future_destroy(f);
    weft_process_pool_stats st = stats_of(p);
    assert_int_equal(st.timed_out, 1);
    assert_int_equal(st.crashed, 0);
    assert_int_equal(st.replaced, 1);
    weft_process_pool_destroy(p);
}

static void test_process_pool_restart_budget_ends_a_crash_loop_and_breaks_the_pool(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool_options o = WEFT_PROCESS_POOL_OPTIONS_INIT;
    weft_process_pool *p;
    o.workers = 1;
    o.max_restarts = 2;
    o.restart_window_ns = 60 * WEFT_SEC;
    WT_OK(weft_process_pool_create(&p, &o));
    weft_future *fs[5];
    for (int i = 0; i < 5; i++) fs[i] = submit_i64(p, segfaults, 0);
    expect_failure(fs[0], WEFT_EWORKERDIED, "SIGSEGV");
    expect_failure(fs[1], WEFT_EWORKERDIED, "SIGSEGV");
    expect_failure(fs[2], WEFT_EWORKERDIED, "restart budget ran out");
    expect_failure(fs[3], WEFT_EBROKEN, "broken");
    expect_failure(fs[4], WEFT_EBROKEN, "broken");
    for (int i = 0; i < 5; i++) weft_future_destroy(fs[i]);
    int64_t x = 1;
    weft_future *f;
    WT_EXPECT(WEFT_EBROKEN, weft_process_pool_submit(p, square, &x, sizeof x, &f, WEFT_FOREVER));
    WT_OK(weft_process_pool_join(p, 10 * WEFT_SEC));
    weft_process_pool_stats st = stats_of(p);
    assert_int_equal(st.broken, 1);
    assert_int_equal(st.crashed, 3);
    assert_int_equal(st.workers, 0);
    weft_process_pool_destroy(p);
}

static void test_process_pool_with_a_crashing_initializer_breaks_instead_of_spinning(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool_options o = WEFT_PROCESS_POOL_OPTIONS_INIT;
    weft_process_pool *p;
    o.workers = 2;
    o.initializer = crash_in_init;
    o.max_restarts = 4;
    WT_OK(weft_process_pool_create(&p, &o));
    int64_t x = 2;
    weft_future *f = NULL;
    weft_status s = weft_process_pool_submit(p, square, &x, sizeof x, &f, WEFT_FOREVER);
    if (s == WEFT_OK) {
        expect_failure(f, WEFT_EBROKEN, "restart budget ran out");
        weft_future_destroy(f);
    } else {
        assert_int_equal(s, WEFT_EBROKEN);
    }
    WT_OK(weft_process_pool_join(p, 10 * WEFT_SEC));
    weft_process_pool_stats st = stats_of(p);
    assert_int_equal(st.broken, 1);
    assert_int_equal(st.crashed, 5);
    weft_process_pool_destroy(p);
}

static void test_process_pool_shutdown_while_tasks_run_loses_nothing(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(2);
    weft_future *fs[6];
    for (int i = 0; i < 6; i++) fs[i] = submit_i64(p, sleep_ms_then_pid, 100);
    wait_busy(p, 2);
    WT_OK(weft_process_pool_shutdown(p, 1, 0)); /* waits for all six */
    for (int i = 0; i < 6; i++) {
        assert_int_equal(weft_future_get_state(fs[i]), WEFT_FUTURE_DONE);
        weft_future_destroy(fs[i]);
    }
    weft_process_pool_destroy(p);

    p = make(2);
    for (int i = 0; i < 6; i++) fs[i] = submit_i64(p, sleep_ms_then_pid, 100);
    wait_busy(p, 2);
    WT_OK(weft_process_pool_shutdown(p, 1, 1)); /* the two running finish, the rest are cancelled */
    int done = 0, cancelled = 0;
    for (int i = 0; i < 6; i++) {
        int st = weft_future_get_state(fs[i]);
        done += st == WEFT_FUTURE_DONE;
        cancelled += st == WEFT_FUTURE_CANCELLED;
        weft_future_destroy(fs[i]);
    }
    assert_int_equal(done, 2);
    assert_int_equal(cancelled, 4);
    weft_process_pool_destroy(p);
}

static void test_process_pool_cancels_a_pending_task_and_kills_a_running_one(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(1);
    weft_future *running = submit_i64(p, sleep_ms_then_pid, 5000);
    weft_future *pending = submit_i64(p, square, 3);
    wait_busy(p, 1);
    WT_OK(weft_future_cancel(pending));
    assert_int_equal(weft_future_get_state(pending), WEFT_FUTURE_CANCELLED);
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_EBUSY, weft_future_cancel(running)); /* RUNNING: the pool kills its worker */
    expect_failure(running, WEFT_ECANCELLED, "cancelled while it ran");
    assert_true(wt_ms_since(t0) < 2000);
    weft_future *f = submit_i64(p, square, 4);
    assert_int_equal(result_i64(f), 16);
    weft_process_pool_stats st = stats_of(p);
    assert_int_equal(st.cancelled, 2);
    assert_int_equal(st.crashed, 0);
    assert_int_equal(st.completed, 1);
    weft_future_destroy(f);
    weft_future_destroy(running);
    weft_future_destroy(pending);
    weft_process_pool_destroy(p);
}

static void test_process_pool_terminate_kills_running_tasks(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(2);
    weft_future *fs[4];
    for (int i = 0; i < 4; i++) fs[i] = submit_i64(p, sleep_ms_then_pid, 5000);
    wait_busy(p, 2);
    int64_t t0 = weft_monotonic_ns();
    WT_OK(weft_process_pool_terminate(p));
    WT_OK(weft_process_pool_join(p, 5 * WEFT_SEC));
    assert_true(wt_ms_since(t0) < 2000);
    int failed = 0, cancelled = 0;
    for (int i = 0; i < 4; i++) {
        void *v;
        weft_status s = weft_future_result(fs[i], &v, 0);
        assert_int_equal(s, WEFT_ECANCELLED);
        failed += weft_future_get_state(fs[i]) == WEFT_FUTURE_FAILED;
        cancelled += weft_future_get_state(fs[i]) == WEFT_FUTURE_CANCELLED;
        weft_future_destroy(fs[i]);
    }
    assert_int_equal(failed, 2);
    assert_int_equal(cancelled, 2);
    assert_int_equal(stats_of(p).workers, 0);
    weft_process_pool_destroy(p);
}

static void test_process_pool_map_with_one_crashing_element_keeps_the_others(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make_unbudgeted(2); /* crashes on purpose, many times */
    enum { N = 40 };
    int64_t xs[N];
    weft_bytes args[N];
    weft_bytes *res[N];
    weft_status codes[N];
    iota_args(xs, args, N);
    size_t chunks[] = {0, 1, 4, N};
    /* timed: through the queue; untimed: on the idle workers the map borrows */
    int64_t timeouts[] = {20 * WEFT_SEC, WEFT_FOREVER};
    for (size_t t = 0; t < 2; t++)
        for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
            WT_EXPECT(WEFT_EWORKERDIED,
                      weft_process_pool_map(p, square_but_crash_on_3, args, N, res, codes, chunks[c], timeouts[t]));
            assert_non_null(strstr(weft_last_error()->message, "call 3 failed"));
            assert_non_null(strstr(weft_last_error()->message, "SIGKILL"));
            assert_non_null(strstr(weft_last_error()->message, "while running the task"));
            for (int i = 0; i < N; i++) {
                if (i == 3) {
                    assert_int_equal(codes[i], WEFT_EWORKERDIED);
                    assert_null(res[i]);
                    continue;
                }
                int64_t y;
                assert_int_equal(codes[i], WEFT_OK);
                memcpy(&y, res[i]->data, sizeof y);
                assert_int_equal(y, (int64_t)i * i);
                weft_bytes_free(res[i]);
            }
        }
    weft_process_pool_stats st = stats_of(p);
    assert_true(st.crashed >= 8);
    assert_int_equal(st.busy, 0);
    weft_future *f = submit_i64(p, square, 12); /* still serving */
    assert_int_equal(result_i64(f), 144);
    weft_future_destroy(f);
    weft_process_pool_destroy(p);
}

static void test_process_pool_map_times_out_and_kills_what_runs(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(2);
    int64_t xs[6] = {5000, 5000, 5000, 5000, 5000, 5000};
    weft_bytes args[6];
    weft_bytes *res[6];
    weft_status codes[6];
    for (int i = 0; i < 6; i++) {
        args[i].size = sizeof xs[i];
        args[i].data = &xs[i];
    }
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_process_pool_map(p, sleep_ms_then_pid, args, 6, res, codes, 1, 200 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 200);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(codes[i], WEFT_ECANCELLED);
        assert_null(res[i]);
    }
    weft_future *f = submit_i64(p, square, 2);
    assert_int_equal(result_i64(f), 4);
    weft_future_destroy(f);
    weft_process_pool_destroy(p);
}

static void *thread_square(void *arg) { return (void *)((intptr_t)arg * (intptr_t)arg); }

static void test_process_pool_futures_mix_with_thread_pool_futures(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *pp = make(2);
    weft_pool *tp;
    WT_OK(weft_pool_create(&tp, NULL));
    weft_future *fs[4];
    fs[0] = submit_i64(pp, sleep_ms_then_pid, 50);
    WT_OK(weft_pool_submit(tp, thread_square, (void *)(intptr_t)5, &fs[1], WEFT_FOREVER));
    fs[2] = submit_i64(pp, square, 8);
    WT_OK(weft_pool_submit(tp, thread_square, (void *)(intptr_t)6, &fs[3], WEFT_FOREVER));
    size_t n_done = 0;
    WT_OK(weft_future_wait_many(fs, 4, WEFT_WAIT_ALL_COMPLETED, 10 * WEFT_SEC, &n_done));
    assert_int_equal(n_done, 4);
    weft_as_completed *it;
    WT_OK(weft_as_completed_create(&it, fs, 4));
    int yielded = 0;
    weft_future *f;
    while (weft_as_completed_next(it, &f, 5 * WEFT_SEC) == WEFT_OK) yielded++;
    assert_int_equal(yielded, 4);
    weft_as_completed_destroy(it);
    assert_int_equal(result_i64(fs[2]), 64);
    void *v;
    WT_OK(weft_future_result(fs[3], &v, 0));
    assert_int_equal((intptr_t)v, 36);
    for (int i = 0; i < 4; i++) weft_future_destroy(fs[i]);
    weft_pool_destroy(tp);
    weft_process_pool_destroy(pp);
}

static void workers_die_with_the_pools_process(int method) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(fds[0]);
        weft_process_pool_options o = WEFT_PROCESS_POOL_OPTIONS_INIT;
        weft_process_pool *p;
        int64_t pids[3] = {0, 0, 0};
        size_t n = 0;
        o.workers = 3;
        o.start_method = method;
        if (weft_process_pool_create(&p, &o) != WEFT_OK) _exit(2);
        for (int i = 0; i < 500 && n < 3; i++) {
            weft_process_pool_pids(p, pids, 3, &n);
            if (n < 3) weft_sleep_ns(10 * WEFT_MSEC);
        }
        if (write(fds[1], pids, sizeof pids) != (ssize_t)sizeof pids) _exit(3);
        for (;;) pause(); /* the test kills us */
    }
    close(fds[1]);
    int64_t pids[3] = {0, 0, 0};
    ssize_t got = read(fds[0], pids, sizeof pids);
    close(fds[0]);
    assert_int_equal(got, (ssize_t)sizeof pids);
    for (int i = 0; i < 3; i++) assert_true(pids[i] > 0 && wt_proc_state(pids[i]) != 0);
    kill(child, SIGKILL);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFSIGNALED(status));
    /* the workers were the child's children: they get SIGKILL (PR_SET_PDEATHSIG);
     * gone, or a zombie of whichever process adopted them */
    int alive = 3;
    for (int t = 0; t < 500 && alive; t++) {
        alive = 0;
        for (int i = 0; i < 3; i++) {
            char s = wt_proc_state(pids[i]);
            alive += s != 0 && s != 'Z' && s != 'X';
        }
        if (alive) wt_sleep_ms(10);
    }
    assert_int_equal(alive, 0);
}

static void test_process_pool_workers_die_with_the_pools_process(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    workers_die_with_the_pools_process(WEFT_PROCESS_POOL_START_FORK);
}

static void test_process_pool_bounded_queue_makes_submit_wait_then_time_out(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool_options o = WEFT_PROCESS_POOL_OPTIONS_INIT;
    weft_process_pool *p;
    o.workers = 1;
    o.max_queued = 2;
    WT_OK(weft_process_pool_create(&p, &o));
    weft_future *running = submit_i64(p, sleep_ms_then_pid, 400);
    wait_busy(p, 1);
    weft_future *q1 = submit_i64(p, square, 1), *q2 = submit_i64(p, square, 2), *f = NULL;
    int64_t x = 3;
    WT_EXPECT(WEFT_ETIMEDOUT, weft_process_pool_submit(p, square, &x, sizeof x, &f, 0));
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_process_pool_submit(p, square, &x, sizeof x, &f, 100 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 100);
    assert_null(f);
    /* room appears when the running task ends and q1 is sent */
    WT_OK(weft_process_pool_submit(p, square, &x, sizeof x, &f, 10 * WEFT_SEC));
    assert_int_equal(result_i64(f), 9);
    assert_int_equal(result_i64(q1), 1);
    assert_int_equal(result_i64(q2), 4);
    (void)result_i64(running);
    weft_future_destroy(running);
    weft_future_destroy(q1);
    weft_future_destroy(q2);
    weft_future_destroy(f);
    weft_process_pool_destroy(p);
}

static void test_process_pool_belongs_to_the_process_that_created_it(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(1);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        int64_t x = 1;
        weft_future *f;
        int bad = weft_process_pool_submit(p, square, &x, sizeof x, &f, 0) != WEFT_ESTATE;
        bad += weft_process_pool_close(p) != WEFT_ESTATE;
        weft_process_pool_destroy(p); /* only forgets it */
        _exit(bad);
    }
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    weft_future *f = submit_i64(p, square, 5); /* the parent's pool is untouched */
    assert_int_equal(result_i64(f), 25);
    weft_future_destroy(f);
    weft_process_pool_destroy(p);
}

static void test_process_pool_rejects_bad_input(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool_options o = WEFT_PROCESS_POOL_OPTIONS_INIT;
    weft_process_pool *p = NULL;
    weft_future *f = NULL;
    int64_t x = 1;
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_create(NULL, NULL));
    o.workers = -1;
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_create(&p, &o));
    assert_null(p);
    o = (weft_process_pool_options)WEFT_PROCESS_POOL_OPTIONS_INIT;
    o.version = 99;
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_create(&p, &o));
    o = (weft_process_pool_options)WEFT_PROCESS_POOL_OPTIONS_INIT;
    o.task_timeout_ns = -5;
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_create(&p, &o));
    o = (weft_process_pool_options)WEFT_PROCESS_POOL_OPTIONS_INIT;
    o.max_restarts = -2;
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_create(&p, &o));
    o = (weft_process_pool_options)WEFT_PROCESS_POOL_OPTIONS_INIT;
    o.max_tasks_per_worker = -1;
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_create(&p, &o));
    o = (weft_process_pool_options)WEFT_PROCESS_POOL_OPTIONS_INIT;
    o.start_method = WEFT_PROCESS_POOL_START_SPAWN;
    o.initializer = set_mark; /* a pointer a spawned worker cannot share */
    WT_EXPECT(WEFT_ENOTSUP, weft_process_pool_create(&p, &o));
    o.initializer = NULL;
    o.start_method = 17;
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_create(&p, &o));

    p = make(1);
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_submit(p, NULL, &x, sizeof x, &f, WEFT_FOREVER));
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_submit(p, square, &x, sizeof x, NULL, WEFT_FOREVER));
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_submit(p, square, NULL, 8, &f, WEFT_FOREVER));
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_submit(p, square, &x, sizeof x, &f, -2));
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_execute(p, square, &x, sizeof x, -7));
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_map(p, square, NULL, 3, NULL, NULL, 0, WEFT_FOREVER));
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_map_unordered(p, square, NULL, 0, 0, WEFT_FOREVER, NULL, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_stats_get(p, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_pids(p, NULL, 1, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_join(p, -3));
    WT_EXPECT(WEFT_ESTATE, weft_process_pool_join(p, 0)); /* still open */
    WT_EXPECT(WEFT_EINVAL, weft_ptask_result_set(NULL, &x, 1));
    /* an empty argument and an empty result are fine */
    WT_OK(weft_process_pool_submit(p, read_mark, NULL, 0, &f, WEFT_FOREVER));
    (void)result_i64(f);
    weft_future_destroy(f);
    weft_process_pool_destroy(p);

    weft_process_pool_stats st;
    WT_EXPECT(WEFT_EMISUSE, weft_process_pool_submit(NULL, square, &x, sizeof x, &f, WEFT_FOREVER));
    WT_EXPECT(WEFT_EMISUSE, weft_process_pool_stats_get(NULL, &st));
    WT_EXPECT(WEFT_EMISUSE, weft_process_pool_close(NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_process_pool_close((weft_process_pool *)&x)); /* not a pool */
    weft_process_pool_destroy(NULL);
}

static void test_process_pool_leaves_no_zombies_behind(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(3);
    weft_future *f = submit_i64(p, segfaults, 0);
    expect_failure(f, WEFT_EWORKERDIED, NULL);
    weft_future_destroy(f);
    weft_process_pool_destroy(p);
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1); /* no child left, not even a zombie */
    assert_int_equal(errno, ECHILD);
}

/* ---- spawn and forkserver --------------------------------------------- */

static weft_process_pool *make_with(int method, int workers) {
    weft_process_pool_options o = WEFT_PROCESS_POOL_OPTIONS_INIT;
    weft_process_pool *p = NULL;
    o.workers = workers;
    o.start_method = method;
    WT_OK(weft_process_pool_create(&p, &o));
    return p;
}

/* A registered task and a chunked map run in fresh workers that share no
 * memory with the pool's process. */
static void runs_registered_tasks_and_map(int method) {
    weft_process_pool *p = make_with(method, 2);
    init_mark = 42; /* set after the workers started: a spawned or forkserver worker never sees it */
    weft_future *f = submit_i64(p, square, 7);
    assert_int_equal(result_i64(f), 49);
    weft_future_destroy(f);
    f = submit_i64(p, my_pid, 0);
    int64_t pid = result_i64(f);
    weft_future_destroy(f);
    assert_true(pid > 0 && pid != (int64_t)getpid());
    f = submit_i64(p, read_mark, 0);
    assert_int_equal(result_i64(f), 0);
    weft_future_destroy(f);
    init_mark = 0;
    int64_t xs[10];
    weft_bytes args[10];
    weft_bytes *res[10];
    iota_args(xs, args, 10);
    WT_OK(weft_process_pool_map(p, square, args, 10, res, NULL, 3, 10 * WEFT_SEC));
    for (int i = 0; i < 10; i++) {
        int64_t x;
        assert_int_equal(res[i]->size, sizeof x);
        memcpy(&x, res[i]->data, sizeof x);
        assert_int_equal(x, (int64_t)i * i);
        weft_bytes_free(res[i]);
    }
    for (int64_t i = 0; i < 5; i++) { /* apply on an idle worker: the task goes by name too */
        weft_bytes *r = NULL;
        int64_t y;
        WT_OK(weft_process_pool_apply(p, square, &i, sizeof i, &r));
        memcpy(&y, r->data, sizeof y);
        assert_int_equal(y, i * i);
        weft_bytes_free(r);
    }
    WT_OK(weft_process_pool_shutdown(p, 1, 0));
    weft_process_pool_destroy(p);
}

static void test_process_pool_spawn_workers_run_registered_tasks_and_map(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    runs_registered_tasks_and_map(WEFT_PROCESS_POOL_START_SPAWN);
}

static void test_process_pool_forkserver_workers_run_registered_tasks_and_map(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    runs_registered_tasks_and_map(WEFT_PROCESS_POOL_START_FORKSERVER);
}

static void killed_worker_is_replaced(int method) {
    weft_process_pool *p = make_with(method, 1);
    int64_t pid = only_pid(p);
    weft_future *f = submit_i64(p, sleep_ms_then_pid, 5000);
    wait_busy(p, 1);
    assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
    expect_failure(f, WEFT_EWORKERDIED, "SIGKILL");
    weft_future_destroy(f);
    for (int i = 0; i < 500 && stats_of(p).replaced < 1; i++) wt_sleep_ms(10);
    weft_process_pool_stats st = stats_of(p);
    assert_int_equal(st.replaced, 1);
    assert_int_equal(st.crashed, 1);
    f = submit_i64(p, my_pid, 0);
    int64_t again = result_i64(f);
    weft_future_destroy(f);
    assert_true(again > 0 && again != pid);
    f = submit_i64(p, square, 9);
    assert_int_equal(result_i64(f), 81);
    weft_future_destroy(f);
    weft_process_pool_destroy(p);
    /* the workers are gone (a forkserver worker is reaped by the server, soon) */
    for (int i = 0; i < 200 && (wt_proc_state(pid) || wt_proc_state(again)); i++) wt_sleep_ms(5);
    assert_int_equal(wt_proc_state(pid), 0);
    assert_int_equal(wt_proc_state(again), 0);
}

static void test_process_pool_replaces_a_killed_spawn_worker(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    killed_worker_is_replaced(WEFT_PROCESS_POOL_START_SPAWN);
}

static void test_process_pool_replaces_a_killed_forkserver_worker(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    killed_worker_is_replaced(WEFT_PROCESS_POOL_START_FORKSERVER);
}

/* Registered only at run time, in this process: the spawned copy of the
 * program does not know the name, and the task's future says so. A pointer
 * registered nowhere is refused at submit. */
static void test_process_pool_spawn_worker_reports_an_unknown_task_name_on_the_future(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    WT_OK(weft_process_pool_register("runtime_only_cube", cube));
    weft_process_pool *p = make_with(WEFT_PROCESS_POOL_START_SPAWN, 1);
    weft_future *f = submit_i64(p, cube, 3);
    expect_failure(f, WEFT_ENOENT, "\"runtime_only_cube\"");
    weft_future_destroy(f);
    int64_t x = 3;
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_submit(p, exits_7, &x, sizeof x, &f, WEFT_FOREVER));
    assert_null(f);
    weft_bytes arg = {sizeof x, &x};
    weft_bytes *res = NULL;
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_map(p, exits_7, &arg, 1, &res, NULL, 1, WEFT_SEC));
    f = submit_i64(p, square, 5); /* the worker still serves */
    assert_int_equal(result_i64(f), 25);
    weft_future_destroy(f);
    assert_int_equal(stats_of(p).crashed, 0);
    weft_process_pool_destroy(p);
    /* a fork pool calls the pointer as before */
    p = make(1);
    f = submit_i64(p, cube, 3);
    assert_int_equal(result_i64(f), 27);
    weft_future_destroy(f);
    weft_process_pool_destroy(p);
}

/* A spawn worker's parent is the pool's supervisor thread; a forkserver
 * worker's is the server, which ends with the pool's process. */
static void test_process_pool_spawn_and_forkserver_workers_die_with_the_pools_process(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    workers_die_with_the_pools_process(WEFT_PROCESS_POOL_START_SPAWN);
    workers_die_with_the_pools_process(WEFT_PROCESS_POOL_START_FORKSERVER);
}

/* Workers run under SCHED_BATCH, whatever their start method: waking one
 * never preempts the caller that sent it work (the whole map is sent before
 * a worker takes the caller's CPU). A task may set its policy back. */
static void test_process_pool_workers_run_under_sched_batch(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    int methods[] = {WEFT_PROCESS_POOL_START_FORK, WEFT_PROCESS_POOL_START_SPAWN, WEFT_PROCESS_POOL_START_FORKSERVER};
    for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
        weft_process_pool *p = make_with(methods[m], 2);
        for (int i = 0; i < 4; i++) {  /* each worker (round robin is not promised: enough to reach both) */
            weft_future *f = submit_i64(p, my_policy, 0);
            assert_int_equal(result_i64(f), SCHED_BATCH);
            weft_future_destroy(f);
        }
        int64_t pids[2];
        size_t n = 0;
        WT_OK(weft_process_pool_pids(p, pids, 2, &n));
        assert_int_equal(n, 2);
        /* seen from outside too, once each worker is up (a spawn worker is listed
         * from its fork on, before it runs weft's worker code) */
        for (size_t i = 0; i < n; i++) {
            int policy = sched_getscheduler((pid_t)pids[i]);
            for (int t = 0; t < 1000 && policy != SCHED_BATCH; t++) {
                wt_sleep_ms(10);
                policy = sched_getscheduler((pid_t)pids[i]);
            }
            assert_int_equal(policy, SCHED_BATCH);
        }
        weft_process_pool_destroy(p);
    }
    assert_int_equal(sched_getscheduler(0), SCHED_OTHER); /* the caller's own policy is untouched */
}

static void test_process_pool_register_rejects_bad_names_and_clashes(void **state) {
    (void)state;
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_register(NULL, cube));
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_register("x", NULL));
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_register("", cube));
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_register(longname, cube));
    WT_OK(weft_process_pool_register("square", square)); /* again, same function */
    WT_EXPECT(WEFT_EEXIST, weft_process_pool_register("square", cube));
}


/* Tiny tasks may be sent ahead to a worker that runs fast ones; if the
 * worker dies, only its running task fails and those waiting behind it run
 * on its replacement. (Whether any was sent ahead depends on timing: the
 * outcome must be the same either way.) */
static void test_process_pool_tasks_waiting_in_a_killed_worker_run_on_its_replacement(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(1);
    int64_t pid = only_pid(p);
    for (int i = 0; i < 200; i++) { /* a fast worker */
        weft_future *f = submit_i64(p, square, i);
        assert_int_equal(result_i64(f), (int64_t)i * i);
        weft_future_destroy(f);
    }
    weft_future *slow = submit_i64(p, sleep_ms_then_pid, 5000);
    weft_future *fs[20];
    for (int i = 0; i < 20; i++) fs[i] = submit_i64(p, square, i);
    wait_busy(p, 1);
    wt_sleep_ms(50);
    assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
    expect_failure(slow, WEFT_EWORKERDIED, "SIGKILL");
    for (int i = 0; i < 20; i++) {
        assert_int_equal(result_i64(fs[i]), (int64_t)i * i);
        weft_future_destroy(fs[i]);
    }
    weft_future_destroy(slow);
    weft_process_pool_stats st = stats_of(p);
    assert_int_equal(st.crashed, 1);
    assert_int_equal(st.completed, 220);
    weft_process_pool_destroy(p);
}

/* A chunk's results share one block: each result is freed on its own, in
 * any order, also after the pool is gone, and the block with the last. */
static void test_process_pool_map_results_outlive_the_pool_and_free_in_any_order(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    enum { N = 100 };
    int64_t xs[N];
    weft_bytes args[N];
    weft_bytes *res[N];
    for (int round = 0; round < 3; round++) {
        weft_process_pool *p = make(2);
        for (int i = 0; i < N; i++) {
            xs[i] = i + round;
            args[i].size = sizeof xs[i];
            args[i].data = &xs[i];
        }
        WT_OK(weft_process_pool_map(p, square, args, N, res, NULL, round == 0 ? 10 : 0, 10 * WEFT_SEC));
        weft_process_pool_destroy(p);
        for (int i = N - 1; i >= 0; i -= 2) { /* odd ones backwards, then the even ones */
            int64_t y;
            assert_int_equal(res[i]->size, sizeof y);
            assert_int_equal(((uintptr_t)res[i]->data) & 15, 0);
            memcpy(&y, res[i]->data, sizeof y);
            assert_int_equal(y, (int64_t)(i + round) * (i + round));
            weft_bytes_free(res[i]);
        }
        for (int i = 0; i < N; i += 2) weft_bytes_free(res[i]);
    }
}

/* ---- apply on a borrowed idle worker, results freed by several threads ---- */

static void expect_apply_failure(weft_process_pool *p, weft_ptask_fn fn, int64_t x, weft_status code,
                                 const char *needle) {
    weft_bytes *r = (weft_bytes *)1;
    weft_status got = weft_process_pool_apply(p, fn, &x, sizeof x, &r);
    if (got != code || !strstr(weft_last_error()->message, needle))
        print_error("got %s: \"%s\", wanted %s with \"%s\"\n", weft_status_name(got), weft_last_error()->message,
                    weft_status_name(code), needle);
    assert_int_equal(got, code);
    assert_null(r);
    assert_non_null(strstr(weft_last_error()->message, needle));
}

static int64_t apply_i64(weft_process_pool *p, weft_ptask_fn fn, int64_t x) {
    weft_bytes *r = NULL;
    int64_t y;
    WT_OK(weft_process_pool_apply(p, fn, &x, sizeof x, &r));
    assert_int_equal(r->size, sizeof y);
    memcpy(&y, r->data, sizeof y);
    weft_bytes_free(r);
    return y;
}

static void test_process_pool_apply_reports_a_worker_that_dies_under_it(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(2);
    assert_int_equal(apply_i64(p, square, 9), 81);
    expect_apply_failure(p, segfaults, 0, WEFT_EWORKERDIED, "signal 11 (SIGSEGV) while running the task");
    expect_apply_failure(p, exits_7, 0, WEFT_EWORKERDIED, "exited with code 7");
    expect_apply_failure(p, fails_with_message, 2, -1234, "returned");
    for (int i = 0; i < 500 && stats_of(p).replaced < 2; i++) wt_sleep_ms(10);
    weft_process_pool_stats st = stats_of(p);
    assert_int_equal(st.crashed, 2);
    assert_int_equal(st.replaced, 2);
    assert_int_equal(st.workers, 2);
    assert_int_equal(st.busy, 0);
    for (int64_t i = 0; i < 50; i++) assert_int_equal(apply_i64(p, square, i), i * i);
    st = stats_of(p);
    assert_int_equal(st.completed, 52); /* square x 51 and the failed call */
    assert_int_equal(st.failed, 1);
    weft_process_pool_destroy(p);
}

static void test_process_pool_apply_moves_large_arguments_and_results(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(1);
    size_t n = (size_t)8 << 20; /* far more than a socket holds */
    unsigned char *big = malloc(n);
    assert_non_null(big);
    memset(big, 3, n);
    weft_bytes *r = NULL;
    WT_OK(weft_process_pool_apply(p, byte_sum, big, n, &r));
    uint64_t sum;
    memcpy(&sum, r->data, sizeof sum);
    assert_int_equal(sum, (uint64_t)n + 3 * (n / 4096));
    weft_bytes_free(r);
    free(big);
    int64_t want = (int64_t)n;
    WT_OK(weft_process_pool_apply(p, big_result, &want, sizeof want, &r));
    assert_int_equal(r->size, n);
    assert_int_equal(((unsigned char *)r->data)[0], 0x5a);
    assert_int_equal(((unsigned char *)r->data)[n - 1], 0x5a);
    weft_bytes_free(r);
    weft_process_pool_destroy(p);
}

struct applier {
    weft_process_pool *pool;
    weft_ptask_fn fn;
    int64_t arg, n, bad;
    weft_status st;
};

static void *apply_loop(void *arg) {
    struct applier *a = arg;
    for (int64_t i = 0; i < a->n && a->st == WEFT_OK; i++) {
        int64_t x = a->arg ? a->arg : i;
        weft_bytes *r = NULL;
        a->st = weft_process_pool_apply(a->pool, a->fn, &x, sizeof x, &r);
        if (a->st == WEFT_OK) {
            int64_t y;
            memcpy(&y, r->data, sizeof y);
            a->bad += a->fn == square && y != x * x;
            weft_bytes_free(r);
        }
    }
    return NULL;
}

static void test_process_pool_apply_from_many_threads_with_submits_loses_nothing(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    enum { T = 4, N = 300, S = 200 };
    weft_process_pool *p = make(2);
    weft_thread *t[T];
    struct applier a[T];
    for (int i = 0; i < T; i++) {
        a[i] = (struct applier){p, square, 0, N, 0, WEFT_OK};
        WT_OK(weft_thread_spawn(&t[i], apply_loop, &a[i], NULL));
    }
    weft_future *fs[S];
    for (int i = 0; i < S; i++) fs[i] = submit_i64(p, square, i);
    for (int i = 0; i < S; i++) {
        assert_int_equal(result_i64(fs[i]), (int64_t)i * i);
        weft_future_destroy(fs[i]);
    }
    for (int i = 0; i < T; i++) {
        WT_OK(weft_thread_join(t[i], NULL, 60 * WEFT_SEC));
        weft_thread_destroy(t[i]);
        assert_int_equal(a[i].st, WEFT_OK);
        assert_int_equal(a[i].bad, 0);
    }
    weft_process_pool_stats st = stats_of(p);
    assert_int_equal(st.completed, T * N + S);
    assert_int_equal(st.busy, 0);
    assert_int_equal(st.crashed, 0);
    weft_process_pool_destroy(p);
}

static void test_process_pool_terminate_and_close_with_an_apply_running(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    /* terminate: the apply running on a borrowed worker ends cancelled */
    weft_process_pool *p = make(1);
    weft_thread *t;
    struct applier a = {p, sleep_ms_then_pid, 5000, 1, 0, WEFT_OK};
    WT_OK(weft_thread_spawn(&t, apply_loop, &a, NULL));
    wait_busy(p, 1);
    int64_t t0 = weft_monotonic_ns();
    WT_OK(weft_process_pool_terminate(p));
    WT_OK(weft_thread_join(t, NULL, 10 * WEFT_SEC));
    weft_thread_destroy(t);
    assert_int_equal(a.st, WEFT_ECANCELLED);
    WT_OK(weft_process_pool_join(p, 5 * WEFT_SEC));
    assert_true(wt_ms_since(t0) < 2000);
    assert_int_equal(stats_of(p).workers, 0);
    weft_process_pool_destroy(p);
    /* close: it finishes, then the pool ends */
    p = make(1);
    a = (struct applier){p, sleep_ms_then_pid, 200, 1, 0, WEFT_OK};
    WT_OK(weft_thread_spawn(&t, apply_loop, &a, NULL));
    wait_busy(p, 1);
    WT_OK(weft_process_pool_close(p));
    WT_OK(weft_process_pool_join(p, 10 * WEFT_SEC));
    WT_OK(weft_thread_join(t, NULL, 10 * WEFT_SEC));
    weft_thread_destroy(t);
    assert_int_equal(a.st, WEFT_OK);
    assert_int_equal(stats_of(p).completed, 1);
    assert_int_equal(stats_of(p).workers, 0);
    weft_process_pool_destroy(p);
}

struct freer {
    weft_bytes **res;
    int first, n, step;
};

static void *free_some(void *arg) {
    struct freer *f = arg;
    for (int i = f->first; i < f->n; i += f->step) weft_bytes_free(f->res[i]);
    return NULL;
}

static void test_process_pool_map_results_of_one_chunk_freed_by_two_threads(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    enum { N = 2000 };
    static int64_t xs[N];
    static weft_bytes args[N];
    static weft_bytes *res[N];
    weft_process_pool *p = make(2);
    iota_args(xs, args, N);
    for (int round = 0; round < 20; round++) {
        /* one chunk: every result in one block, its halves freed by two threads at once */
        WT_OK(weft_process_pool_map(p, square, args, N, res, NULL, N, 10 * WEFT_SEC));
        for (int i = 0; i < N; i++) {
            int64_t y;
            memcpy(&y, res[i]->data, sizeof y);
            assert_int_equal(y, (int64_t)i * i);
        }
        struct freer f[2] = {{res, 0, N, 2}, {res, 1, N, 2}};
        weft_thread *t[2];
        for (int i = 0; i < 2; i++) WT_OK(weft_thread_spawn(&t[i], free_some, &f[i], NULL));
        for (int i = 0; i < 2; i++) {
            WT_OK(weft_thread_join(t[i], NULL, 10 * WEFT_SEC));
            weft_thread_destroy(t[i]);
        }
    }
    /* and interleaved in one thread with the results of another map */
    static weft_bytes *res2[N];
    WT_OK(weft_process_pool_map(p, square, args, N, res, NULL, 100, 10 * WEFT_SEC));
    WT_OK(weft_process_pool_map(p, square, args, N, res2, NULL, 0, 10 * WEFT_SEC));
    for (int i = 0; i < N; i++) {
        weft_bytes_free(res[i]);
        weft_bytes_free(res2[N - 1 - i]);
    }
    weft_process_pool_destroy(p);
}

static void test_process_pool_results_sent_before_a_worker_died_still_count(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    /* A worker ends a chunk, sends its results, and dies in the next one while
     * the chunk after that is being sent to it: the finished chunk's results
     * count (they were once lost when the send failed first), and only
     * element 13 fails. Timed maps go through the supervisor, untimed ones
     * through the caller. */
    weft_process_pool *p = make_unbudgeted(2); /* crashes on purpose, many times */
    enum { N = 30 };
    int64_t xs[N];
    weft_bytes args[N];
    weft_bytes *res[N];
    weft_status codes[N];
    iota_args(xs, args, N);
    for (int round = 0; round < 150; round++) {
        int64_t timeout = round % 2 ? WEFT_FOREVER : 20 * WEFT_SEC;
        WT_EXPECT(WEFT_EWORKERDIED, weft_process_pool_map(p, square_but_exit_on_13, args, N, res, codes, 5, timeout));
        for (int i = 0; i < N; i++) {
            if (i == 13) {
                assert_int_equal(codes[i], WEFT_EWORKERDIED);
                continue;
            }
            assert_int_equal(codes[i], WEFT_OK);
            weft_bytes_free(res[i]);
        }
    }
    weft_process_pool_destroy(p);
}

/* ---- a map on lent workers (untimed maps do their own I/O) ------------------ */

struct killer {
    int64_t pid;
    int after_ms;
    char wait_state; /* kill once /proc says this state ('T'), or 0 */
};

static void *kill_later(void *arg) {
    struct killer *k = arg;
    for (int i = 0; i < 1000 && k->wait_state && wt_proc_state(k->pid) != k->wait_state; i++) wt_sleep_ms(5);
    wt_sleep_ms(k->after_ms);
    kill((pid_t)k->pid, SIGKILL);
    return NULL;
}

static void test_process_pool_untimed_map_with_a_worker_killed_while_receiving_or_sending(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(1);
    size_t big = (size_t)16 << 20;
    char *blob = malloc(big);
    assert_non_null(blob);
    memset(blob, 1, big);
    weft_bytes args[2] = {{big, blob}, {big, blob}};
    weft_bytes *res[2];
    weft_status codes[2];
    weft_thread *t;
    /* Stopped, the worker cannot drain its socket: the first 16 MiB stay in flight. */
    struct killer k = {only_pid(p), 50, 0};
    assert_int_equal(kill((pid_t)k.pid, SIGSTOP), 0);
    WT_OK(weft_thread_spawn(&t, kill_later, &k, NULL));
    WT_EXPECT(WEFT_EWORKERDIED, weft_process_pool_map(p, byte_sum, args, 2, res, codes, 1, WEFT_FOREVER));
    assert_non_null(strstr(weft_last_error()->message, "while receiving the task's argument"));
    WT_OK(weft_thread_join(t, NULL, 10 * WEFT_SEC));
    weft_thread_destroy(t);
    assert_int_equal(codes[0], WEFT_EWORKERDIED);
    assert_null(res[0]);
    /* the second never started: the replacement ran it */
    assert_int_equal(codes[1], WEFT_OK);
    uint64_t sum;
    memcpy(&sum, res[1]->data, sizeof sum);
    assert_int_equal(sum, (uint64_t)big + big / 4096);
    weft_bytes_free(res[1]);
    /* a worker that stops itself half-way through sending a 64 MiB result */
    k = (struct killer){only_pid(p), 20, 'T'};
    WT_OK(weft_thread_spawn(&t, kill_later, &k, NULL));
    int64_t zero = 0;
    weft_bytes one = {sizeof zero, &zero};
    WT_EXPECT(WEFT_EWORKERDIED, weft_process_pool_map(p, big_result_then_stop, &one, 1, res, codes, 0, WEFT_FOREVER));
    assert_non_null(strstr(weft_last_error()->message, "while sending the task's result"));
    WT_OK(weft_thread_join(t, NULL, 10 * WEFT_SEC));
    weft_thread_destroy(t);
    /* and the next map goes through whole */
    WT_OK(weft_process_pool_map(p, byte_sum, args, 2, res, codes, 1, WEFT_FOREVER));
    for (int i = 0; i < 2; i++) {
        memcpy(&sum, res[i]->data, sizeof sum);
        assert_int_equal(sum, (uint64_t)big + big / 4096);
        weft_bytes_free(res[i]);
    }
    assert_int_equal(stats_of(p).busy, 0);
    free(blob);
    weft_process_pool_destroy(p);
}

struct mapper {
    weft_process_pool *pool;
    int rounds;
    int64_t bad;
    weft_status st;
};

static void *map_loop(void *arg) {
    struct mapper *m = arg;
    enum { N = 300 };
    int64_t xs[N];
    weft_bytes args[N];
    weft_bytes *res[N];
    for (int i = 0; i < N; i++) {
        xs[i] = i * 7;
        args[i].size = sizeof xs[i];
        args[i].data = &xs[i];
    }
    for (int r = 0; r < m->rounds && m->st == WEFT_OK; r++) {
        m->st = weft_process_pool_map(m->pool, square, args, N, res, NULL, (size_t)(r % 3) * 50, WEFT_FOREVER);
        for (int i = 0; m->st == WEFT_OK && i < N; i++) {
            int64_t y;
            memcpy(&y, res[i]->data, sizeof y);
            m->bad += y != xs[i] * xs[i];
            weft_bytes_free(res[i]);
        }
    }
    return NULL;
}

static void test_process_pool_untimed_maps_from_many_threads_with_applies_lose_nothing(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    enum { M = 3, A = 2, R = 30 };
    weft_process_pool *p = make(2);
    weft_thread *t[M + A];
    struct mapper m[M];
    struct applier a[A];
    for (int i = 0; i < M; i++) {
        m[i] = (struct mapper){p, R, 0, WEFT_OK};
        WT_OK(weft_thread_spawn(&t[i], map_loop, &m[i], NULL));
    }
    for (int i = 0; i < A; i++) {
        a[i] = (struct applier){p, square, 0, 200, 0, WEFT_OK};
        WT_OK(weft_thread_spawn(&t[M + i], apply_loop, &a[i], NULL));
    }
    for (int i = 0; i < M + A; i++) {
        WT_OK(weft_thread_join(t[i], NULL, 60 * WEFT_SEC));
        weft_thread_destroy(t[i]);
    }
    for (int i = 0; i < M; i++) {
        assert_int_equal(m[i].st, WEFT_OK);
        assert_int_equal(m[i].bad, 0);
    }
    for (int i = 0; i < A; i++) {
        assert_int_equal(a[i].st, WEFT_OK);
        assert_int_equal(a[i].bad, 0);
    }
    weft_process_pool_stats st = stats_of(p);
    assert_int_equal(st.busy, 0);
    assert_int_equal(st.crashed, 0);
    weft_process_pool_destroy(p);
}

static void test_process_pool_large_map_blocks_are_kept_until_memory_trim(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    enum { N = 100000 };
    int64_t *xs = malloc(N * sizeof *xs);
    weft_bytes *args = malloc(N * sizeof *args);
    weft_bytes **res = malloc(N * sizeof *res);
    assert_non_null(xs);
    assert_non_null(args);
    assert_non_null(res);
    iota_args(xs, args, N);
    weft_process_pool *p = make(2);
    for (int round = 0; round < 2; round++) {
        WT_OK(weft_process_pool_map(p, square, args, N, res, NULL, 0, WEFT_FOREVER));
        expect_squares_and_free(res, N);
        /* the chunks' argument blocks and reply blocks went back to the cache: trim frees them */
        size_t given = weft_memory_trim();
        assert_true(given >= (size_t)N * (32 + 16)); /* the replies alone: 32 bytes of head + 16 of data per call */
    }
    weft_process_pool_destroy(p);
    free(res);
    free(args);
    free(xs);
}

static void test_process_pool_untimed_map_takes_workers_that_become_idle(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(2);
    /* one worker is busy when the map starts: once idle it joins the map */
    weft_future *f = submit_i64(p, sleep_ms_then_pid, 150);
    wait_busy(p, 1);
    enum { N = 10 };
    int64_t xs[N];
    weft_bytes args[N];
    weft_bytes *res[N];
    for (int i = 0; i < N; i++) {
        xs[i] = 50;
        args[i].size = sizeof xs[i];
        args[i].data = &xs[i];
    }
    WT_OK(weft_process_pool_map(p, sleep_ms_then_pid, args, N, res, NULL, 1, WEFT_FOREVER));
    int64_t other = result_i64(f), on_other = 0;
    weft_future_destroy(f);
    for (int i = 0; i < N; i++) {
        int64_t pid;
        memcpy(&pid, res[i]->data, sizeof pid);
        on_other += pid == other;
        weft_bytes_free(res[i]);
    }
    assert_true(on_other > 0);
    weft_process_pool_destroy(p);
}

struct slow_mapper {
    weft_process_pool *pool;
    weft_status st;
    weft_status codes[6];
};

static void *slow_map(void *arg) {
    struct slow_mapper *m = arg;
    int64_t xs[6] = {5000, 5000, 5000, 5000, 5000, 5000};
    weft_bytes args[6];
    weft_bytes *res[6];
    for (int i = 0; i < 6; i++) {
        args[i].size = sizeof xs[i];
        args[i].data = &xs[i];
    }
    m->st = weft_process_pool_map(m->pool, sleep_ms_then_pid, args, 6, res, m->codes, 1, WEFT_FOREVER);
    for (int i = 0; i < 6; i++)
        if (m->codes[i] == WEFT_OK) weft_bytes_free(res[i]);
    return NULL;
}

static void test_process_pool_terminate_ends_an_untimed_map_at_once(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(2);
    struct slow_mapper m = {p, WEFT_OK, {0}};
    weft_thread *t;
    WT_OK(weft_thread_spawn(&t, slow_map, &m, NULL));
    wait_busy(p, 2);
    int64_t t0 = weft_monotonic_ns();
    WT_OK(weft_process_pool_terminate(p));
    WT_OK(weft_thread_join(t, NULL, 10 * WEFT_SEC));
    weft_thread_destroy(t);
    assert_true(wt_ms_since(t0) < 2000);
    /* the running calls were cancelled with their workers, the others never ran */
    assert_int_equal(m.st, WEFT_ECANCELLED);
    for (int i = 0; i < 6; i++) assert_int_equal(m.codes[i], WEFT_ECANCELLED);
    WT_OK(weft_process_pool_join(p, 5 * WEFT_SEC));
    assert_int_equal(stats_of(p).workers, 0);
    weft_process_pool_destroy(p);
}

static int trimming;

static void *trim_loop(void *arg) {
    (void)arg;
    while (__atomic_load_n(&trimming, __ATOMIC_RELAXED)) (void)weft_memory_trim();
    return NULL;
}

static int trim_in_child(void *arg) {
    (void)arg;
    (void)weft_memory_trim();
    return 0;
}

static void test_process_pool_map_blocks_survive_a_fork_while_another_thread_trims(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    /* The map block cache's lock is never inherited held: a child forked
     * while another thread trims (or maps) can use it at once. */
    __atomic_store_n(&trimming, 1, __ATOMIC_RELAXED);
    weft_thread *t;
    WT_OK(weft_thread_spawn(&t, trim_loop, NULL, NULL));
    for (int round = 0; round < 200; round++) {
        pid_t pid = wt_fork(trim_in_child, NULL);
        assert_true(pid >= 0);
        WT_CHILD_OK(pid); /* a deadlocked child is killed after 10 s and fails this */
    }
    __atomic_store_n(&trimming, 0, __ATOMIC_RELAXED);
    WT_OK(weft_thread_join(t, NULL, 10 * WEFT_SEC));
    weft_thread_destroy(t);
}

/* ---- resize ---------------------------------------------------------------- */

static int64_t live_workers_after(weft_process_pool *p, int want) {
    for (int i = 0; i < 500 && stats_of(p).workers != want; i++) wt_sleep_ms(10);
    return stats_of(p).workers;
}

static void test_process_pool_resize_grows_while_busy(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(1);
    weft_future *first = submit_i64(p, sleep_ms_then_pid, 300);
    wait_busy(p, 1);
    WT_OK(weft_process_pool_resize(p, 3));
    assert_int_equal(stats_of(p).workers, 3); /* forked before it returned */
    weft_future *more[2] = {submit_i64(p, sleep_ms_then_pid, 300), submit_i64(p, sleep_ms_then_pid, 300)};
    wait_busy(p, 3); /* three at once: the new workers run tasks */
    int64_t pids[3] = {result_i64(first), result_i64(more[0]), result_i64(more[1])};
    assert_true(pids[0] != pids[1] && pids[0] != pids[2] && pids[1] != pids[2]);
    weft_future_destroy(first);
    weft_future_destroy(more[0]);
    weft_future_destroy(more[1]);
    weft_process_pool_stats st = stats_of(p);
    assert_int_equal(st.replaced, 0);
    assert_int_equal(st.crashed, 0);
    weft_process_pool_destroy(p);
}

static void test_process_pool_resize_shrinks_while_busy_without_losing_a_task(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(3);
    weft_future *fs[3];
    for (int i = 0; i < 3; i++) fs[i] = submit_i64(p, sleep_ms_then_pid, 300);
    wait_busy(p, 3);
    int64_t t0 = weft_monotonic_ns();
    WT_OK(weft_process_pool_resize(p, 1));
    assert_true(wt_ms_since(t0) < 250); /* it does not wait for the busy ones */
    for (int i = 0; i < 3; i++) {
        assert_true(result_i64(fs[i]) > 0); /* the busy ones finished their tasks */
        weft_future_destroy(fs[i]);
    }
    assert_int_equal(live_workers_after(p, 1), 1);
    for (int64_t i = 0; i < 5; i++) assert_int_equal(apply_i64(p, square, i), i * i);
    weft_process_pool_stats st = stats_of(p);
    assert_int_equal(st.workers, 1);
    assert_int_equal(st.crashed, 0);
    assert_int_equal(st.replaced, 0);
    assert_int_equal(st.completed, 8);
    weft_process_pool_destroy(p);
}

static void test_process_pool_resize_retires_idle_workers_first_and_grows_back(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(4);
    weft_future *busy = submit_i64(p, sleep_ms_then_pid, 400);
    wait_busy(p, 1);
    int64_t busy_pid = 0;
    WT_OK(weft_process_pool_resize(p, 1));
    assert_int_equal(live_workers_after(p, 1), 1); /* the three idle ones left; the busy one stays */
    size_t n = 0;
    WT_OK(weft_process_pool_pids(p, &busy_pid, 1, &n));
    assert_int_equal(n, 1);
    assert_int_equal(result_i64(busy), busy_pid);
    weft_future_destroy(busy);
    WT_OK(weft_process_pool_resize(p, 2));
    assert_int_equal(stats_of(p).workers, 2);
    WT_OK(weft_process_pool_resize(p, 2)); /* no change */
    assert_int_equal(stats_of(p).workers, 2);
    /* a killed worker is replaced up to the new size, not the old one */
    int64_t pids[2];
    WT_OK(weft_process_pool_pids(p, pids, 2, &n));
    assert_int_equal(kill((pid_t)pids[0], SIGKILL), 0);
    for (int i = 0; i < 500 && stats_of(p).replaced < 1; i++) wt_sleep_ms(10);
    assert_int_equal(live_workers_after(p, 2), 2);
    wt_sleep_ms(50);
    assert_int_equal(stats_of(p).workers, 2);
    weft_process_pool_destroy(p);
}

static void test_process_pool_resize_rejects_bad_sizes_and_closed_pools(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = make(2);
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_resize(p, 0));
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_resize(p, -3));
    WT_EXPECT(WEFT_EMISUSE, weft_process_pool_resize(NULL, 2));
    assert_int_equal(stats_of(p).workers, 2);
    WT_OK(weft_process_pool_close(p));
    WT_EXPECT(WEFT_ECLOSED, weft_process_pool_resize(p, 3));
    WT_OK(weft_process_pool_join(p, 10 * WEFT_SEC));
    WT_EXPECT(WEFT_ECLOSED, weft_process_pool_resize(p, 3));
    weft_process_pool_destroy(p);
    p = make(1);
    WT_OK(weft_process_pool_terminate(p));
    WT_EXPECT(WEFT_ECLOSED, weft_process_pool_resize(p, 2));
    WT_OK(weft_process_pool_join(p, 10 * WEFT_SEC));
    weft_process_pool_destroy(p);
}

/* ---- version 2 options --------------------------------------------------- */

static void test_process_pool_calls_the_fork_hooks_around_every_worker_fork(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    static int tag = 77;
    weft_process_pool_options o = WEFT_PROCESS_POOL_OPTIONS_INIT;
    weft_process_pool *p;
    memset(&hook_counts, 0, sizeof hook_counts);
    o.workers = 2;
    o.fork_prepare = hook_prepare;
    o.fork_parent = hook_parent;
    o.fork_child = hook_child;
    o.fork_hook_data = &tag;
    o.initializer = init_after_child_hook;
    WT_OK(weft_process_pool_create(&p, &o));
    assert_int_equal(__atomic_load_n(&hook_counts.prepared, __ATOMIC_SEQ_CST), 2);
    assert_int_equal(__atomic_load_n(&hook_counts.parented, __ATOMIC_SEQ_CST), 2);
    weft_future *f = submit_i64(p, read_child_marks, 0);
    void *v = NULL;
    int64_t both[2];
    WT_OK(weft_future_result(f, &v, 10 * WEFT_SEC));
    assert_int_equal(((const weft_bytes *)v)->size, sizeof both);
    memcpy(both, ((const weft_bytes *)v)->data, sizeof both);
    assert_int_equal(both[0], 77); /* the child hook ran in the worker */
    assert_int_equal(both[1], 77); /* before the initializer */
    weft_future_destroy(f);
    assert_int_equal(child_hook_mark, 0); /* and never in this process */
    /* a replacement is forked with the hooks too */
    int64_t pids[2];
    size_t n = 0;
    WT_OK(weft_process_pool_pids(p, pids, 2, &n));
    assert_int_equal(n, 2);
    assert_int_equal(kill((pid_t)pids[0], SIGKILL), 0);
    for (int i = 0; i < 500 && stats_of(p).replaced < 1; i++) wt_sleep_ms(10);
    assert_int_equal(stats_of(p).replaced, 1);
    assert_int_equal(__atomic_load_n(&hook_counts.prepared, __ATOMIC_SEQ_CST), 3);
    assert_int_equal(__atomic_load_n(&hook_counts.parented, __ATOMIC_SEQ_CST), 3);
    assert_int_equal(__atomic_load_n(&hook_counts.misordered, __ATOMIC_SEQ_CST), 0);
    weft_process_pool_destroy(p);
}

/* A caller built against version 1 of the options: the fields after
 * max_queued are not read (here they hold a hook that would abort). */
static void test_process_pool_accepts_version_1_options_and_ignores_what_follows(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool_options o = WEFT_PROCESS_POOL_OPTIONS_INIT;
    weft_process_pool *p;
    o.version = 1;
    o.workers = 1;
    o.fork_prepare = must_not_run;
    o.fork_child = must_not_run;
    o.initializer_name = "no such initializer";
    WT_OK(weft_process_pool_create(&p, &o));
    weft_future *f = submit_i64(p, square, 6);
    assert_int_equal(result_i64(f), 36);
    weft_future_destroy(f);
    weft_process_pool_destroy(p);
    o.version = 3;
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_create(&p, &o));
    o.version = 0;
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_create(&p, &o));
}

static void initializer_by_name_runs_in_each_worker(int method) {
    weft_process_pool_options o = WEFT_PROCESS_POOL_OPTIONS_INIT;
    weft_process_pool *p;
    int64_t mark = 5150;
    o.workers = 2;
    o.start_method = method;
    o.initializer_name = "init_by_name";
    o.initializer_arg = &mark;
    o.initializer_arg_len = sizeof mark;
    o.max_tasks_per_worker = 1; /* every task in a new worker, each initialized */
    WT_OK(weft_process_pool_create(&p, &o));
    mark = 0; /* copied at create */
    for (int i = 0; i < 4; i++) {
        weft_future *f = submit_i64(p, read_mark, 0);
        assert_int_equal(result_i64(f), 5150);
        weft_future_destroy(f);
    }
    assert_int_equal(init_mark, 0); /* never ran in this process */
    assert_int_equal(stats_of(p).crashed, 0);
    weft_process_pool_destroy(p);
}

static void test_process_pool_runs_an_initializer_by_name_under_each_start_method(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    initializer_by_name_runs_in_each_worker(WEFT_PROCESS_POOL_START_FORK);
    initializer_by_name_runs_in_each_worker(WEFT_PROCESS_POOL_START_SPAWN);
    initializer_by_name_runs_in_each_worker(WEFT_PROCESS_POOL_START_FORKSERVER);
}

static void failing_initializer_breaks_the_pool(int method) {
    weft_process_pool_options o = WEFT_PROCESS_POOL_OPTIONS_INIT;
    weft_process_pool *p;
    o.workers = 1;
    o.start_method = method;
    o.initializer_name = "init_that_fails";
    o.max_restarts = 2;
    WT_OK(weft_process_pool_create(&p, &o));
    int64_t x = 2;
    weft_future *f = NULL;
    weft_status s = weft_process_pool_submit(p, square, &x, sizeof x, &f, WEFT_FOREVER);
    if (s == WEFT_OK) {
        expect_failure(f, WEFT_EBROKEN, "no licence for this worker");
        weft_future_destroy(f);
    } else {
        assert_int_equal(s, WEFT_EBROKEN);
    }
    WT_OK(weft_process_pool_join(p, 20 * WEFT_SEC));
    weft_process_pool_stats st = stats_of(p);
    assert_int_equal(st.broken, 1);
    assert_int_equal(st.crashed, 3);
    assert_int_equal(st.completed, 0);
    weft_process_pool_destroy(p);
}

static void test_process_pool_failing_initializer_by_name_breaks_it_with_its_message(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    failing_initializer_breaks_the_pool(WEFT_PROCESS_POOL_START_FORK);
    failing_initializer_breaks_the_pool(WEFT_PROCESS_POOL_START_SPAWN);
}

static void self_path(char *buf, size_t cap) {
    ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
    assert_true(n > 0);
    buf[n] = '\0';
}

/* spawn: each worker runs the program; forkserver: the pool's own server
 * runs it and the workers are its forks (they inherit what main() saw). */
static void spawn_program_runs_workers_with_the_argv_prefix(int start_method) {
    char exe[4096];
    self_path(exe, sizeof exe);
    const char *const prefix[] = {kPrefixArg, NULL};
    weft_process_pool_options o = WEFT_PROCESS_POOL_OPTIONS_INIT;
    weft_process_pool *p;
    int64_t mark = 99;
    o.workers = 2;
    o.start_method = start_method;
    o.spawn_program = exe;
    o.spawn_argv = prefix;
    o.initializer_name = "init_by_name";
    o.initializer_arg = &mark;
    o.initializer_arg_len = sizeof mark;
    WT_OK(weft_process_pool_create(&p, &o));
    weft_future *f = submit_i64(p, read_saw_prefix, 0);
    assert_int_equal(result_i64(f), 1); /* main() saw the prefix before weft's arguments */
    weft_future_destroy(f);
    assert_int_equal(saw_prefix, 0);
    f = submit_i64(p, read_mark, 0);
    assert_int_equal(result_i64(f), 99);
    weft_future_destroy(f);
    f = submit_i64(p, square, 12);
    assert_int_equal(result_i64(f), 144);
    weft_future_destroy(f);
    /* supervised as any worker: killed, reported, replaced by the same program */
    int64_t pids[2];
    size_t n = 0;
    WT_OK(weft_process_pool_pids(p, pids, 2, &n));
    f = submit_i64(p, sleep_ms_then_pid, 5000);
    wait_busy(p, 1);
    assert_int_equal(kill((pid_t)pids[0], SIGKILL), 0);
    assert_int_equal(kill((pid_t)pids[1], SIGKILL), 0);
    expect_failure(f, WEFT_EWORKERDIED, "SIGKILL");
    weft_future_destroy(f);
    for (int i = 0; i < 1000 && stats_of(p).replaced < 2; i++) wt_sleep_ms(10);
    assert_int_equal(stats_of(p).replaced, 2);
    f = submit_i64(p, read_saw_prefix, 0);
    assert_int_equal(result_i64(f), 1);
    weft_future_destroy(f);
    weft_process_pool_destroy(p);
    for (int i = 0; i < 200 && (wt_proc_state(pids[0]) || wt_proc_state(pids[1])); i++) wt_sleep_ms(5);
    assert_int_equal(wt_proc_state(pids[0]), 0);
    assert_int_equal(wt_proc_state(pids[1]), 0);
    /* spawn_argv alone re-executes this program with the prefix */
    o.spawn_program = NULL;
    o.initializer_name = NULL;
    o.initializer_arg = NULL;
    o.initializer_arg_len = 0;
    o.workers = 1;
    WT_OK(weft_process_pool_create(&p, &o));
    f = submit_i64(p, read_saw_prefix, 0);
    assert_int_equal(result_i64(f), 1);
    weft_future_destroy(f);
    weft_process_pool_destroy(p);
}

static void test_process_pool_spawn_program_runs_workers_with_the_argv_prefix(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    spawn_program_runs_workers_with_the_argv_prefix(WEFT_PROCESS_POOL_START_SPAWN);
}

static void test_process_pool_forkserver_runs_spawn_program_as_its_server(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    spawn_program_runs_workers_with_the_argv_prefix(WEFT_PROCESS_POOL_START_FORKSERVER);
}

static void test_process_pool_rejects_bad_version_2_options(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process_pool *p = (weft_process_pool *)1;
    int64_t x = 1;
    weft_process_pool_options o = WEFT_PROCESS_POOL_OPTIONS_INIT;
    o.workers = 1;
    o.initializer = set_mark;
    o.initializer_name = "init_by_name";
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_create(&p, &o));
    assert_null(p);
    o.initializer = NULL;
    o.initializer_name = "nobody registered this";
    WT_EXPECT(WEFT_ENOENT, weft_process_pool_create(&p, &o));
    assert_non_null(strstr(weft_last_error()->message, "nobody registered this"));
    o.initializer_name = "";
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_create(&p, &o));
    o.initializer_name = "init_by_name";
    o.initializer_arg_len = 8;
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_create(&p, &o));
    o.initializer_arg = &x;
    o.initializer_name = NULL;
    o.initializer_arg_len = 0;
    o.start_method = WEFT_PROCESS_POOL_START_FORKSERVER;
    o.spawn_program = "/nonexistent/weft-server-program";
    WT_EXPECT(WEFT_ENOENT, weft_process_pool_create(&p, &o));
    assert_non_null(strstr(weft_last_error()->message, "forkserver"));
    assert_null(p);
    o.start_method = WEFT_PROCESS_POOL_START_SPAWN;
    o.spawn_program = "";
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_create(&p, &o));
    o.spawn_program = "/nonexistent/weft-worker-program";
    WT_EXPECT(WEFT_ENOENT, weft_process_pool_create(&p, &o));
    assert_non_null(strstr(weft_last_error()->message, "/nonexistent/weft-worker-program"));
    /* a program that never calls weft_main: it ends before it connects */
    o.spawn_program = "/bin/true";
    WT_EXPECT(WEFT_EWORKERDIED, weft_process_pool_create(&p, &o));
    assert_non_null(strstr(weft_last_error()->message, "weft_main"));
    const char *too_many[70];
    for (int i = 0; i < 69; i++) too_many[i] = "x";
    too_many[69] = NULL;
    o.spawn_program = NULL;
    o.spawn_argv = too_many;
    WT_EXPECT(WEFT_EINVAL, weft_process_pool_create(&p, &o));
    assert_null(p);
    /* under fork, spawn_program is ignored */
    o.start_method = WEFT_PROCESS_POOL_START_FORK;
    o.spawn_program = "/nonexistent/weft-worker-program";
    o.spawn_argv = NULL;
    WT_OK(weft_process_pool_create(&p, &o));
    weft_future *f = submit_i64(p, square, 4);
    assert_int_equal(result_i64(f), 16);
    weft_future_destroy(f);
    weft_process_pool_destroy(p);
    errno = 0;
}

int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], kPrefixArg) == 0) { /* a spawn_program worker: weft's arguments follow */
        saw_prefix = 1;
        argc--;
        argv++;
    }
    weft_main(argc, argv); /* a spawned worker or the forkserver never returns */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_process_pool_submit_gives_a_future_with_the_result_bytes),
        cmocka_unit_test(test_process_pool_failing_task_reaches_its_future_with_code_and_message),
        cmocka_unit_test(test_process_pool_apply_waits_and_hands_back_a_copy),
        cmocka_unit_test(test_process_pool_apply_async_calls_one_callback_per_job),
        cmocka_unit_test(test_process_pool_execute_runs_everything_before_shutdown_returns),
        cmocka_unit_test(test_process_pool_map_keeps_argument_order_for_any_chunk_size),
        cmocka_unit_test(test_process_pool_map_moves_arguments_and_results_of_every_small_size),
        cmocka_unit_test(test_process_pool_map_packs_same_size_items_and_unpacks_at_the_first_other),
        cmocka_unit_test(test_process_pool_workers_spin_between_quick_tasks_and_sleep_when_idle),
        cmocka_unit_test(test_process_pool_wake_readies_idle_workers_for_what_follows),
        cmocka_unit_test(test_process_pool_a_stoppable_map_stops_and_keeps_what_finished),
        cmocka_unit_test(test_process_pool_a_stoppable_map_stops_on_a_signal),
        cmocka_unit_test(test_process_pool_map_unordered_reports_each_result_once),
        cmocka_unit_test(test_process_pool_untimed_map_unordered_callback_may_use_the_pool),
        cmocka_unit_test(test_process_pool_runs_the_initializer_in_each_worker_and_replaces_after_max_tasks),
        cmocka_unit_test(test_process_pool_worker_killed_while_running_fails_only_its_task),
        cmocka_unit_test(test_process_pool_worker_killed_while_receiving_a_large_argument),
        cmocka_unit_test(test_process_pool_worker_killed_while_sending_a_large_result),
        cmocka_unit_test(test_process_pool_replaces_a_worker_killed_while_idle),
        cmocka_unit_test(test_process_pool_survives_both_workers_killed_at_once),
        cmocka_unit_test(test_process_pool_reports_a_segfault_and_an_exit_code),
        cmocka_unit_test(test_process_pool_kills_a_task_past_its_timeout),
        cmocka_unit_test(test_process_pool_restart_budget_ends_a_crash_loop_and_breaks_the_pool),
        cmocka_unit_test(test_process_pool_with_a_crashing_initializer_breaks_instead_of_spinning),
        cmocka_unit_test(test_process_pool_shutdown_while_tasks_run_loses_nothing),
        cmocka_unit_test(test_process_pool_cancels_a_pending_task_and_kills_a_running_one),
        cmocka_unit_test(test_process_pool_terminate_kills_running_tasks),
        cmocka_unit_test(test_process_pool_map_with_one_crashing_element_keeps_the_others),
        cmocka_unit_test(test_process_pool_results_sent_before_a_worker_died_still_count),
        cmocka_unit_test(test_process_pool_map_times_out_and_kills_what_runs),
        cmocka_unit_test(test_process_pool_futures_mix_with_thread_pool_futures),
        cmocka_unit_test(test_process_pool_workers_die_with_the_pools_process),
        cmocka_unit_test(test_process_pool_bounded_queue_makes_submit_wait_then_time_out),
        cmocka_unit_test(test_process_pool_belongs_to_the_process_that_created_it),
        cmocka_unit_test(test_process_pool_rejects_bad_input),
        cmocka_unit_test(test_process_pool_leaves_no_zombies_behind),
        /* after the zombie check: the forkserver stays a child of this process */
        cmocka_unit_test(test_process_pool_register_rejects_bad_names_and_clashes),
        cmocka_unit_test(test_process_pool_spawn_workers_run_registered_tasks_and_map),
        cmocka_unit_test(test_process_pool_replaces_a_killed_spawn_worker),
        cmocka_unit_test(test_process_pool_spawn_worker_reports_an_unknown_task_name_on_the_future),
        cmocka_unit_test(test_process_pool_forkserver_workers_run_registered_tasks_and_map),
        cmocka_unit_test(test_process_pool_replaces_a_killed_forkserver_worker),
        cmocka_unit_test(test_process_pool_workers_run_under_sched_batch),
        cmocka_unit_test(test_process_pool_spawn_and_forkserver_workers_die_with_the_pools_process),
        cmocka_unit_test(test_process_pool_tasks_waiting_in_a_killed_worker_run_on_its_replacement),
        cmocka_unit_test(test_process_pool_map_results_outlive_the_pool_and_free_in_any_order),
        cmocka_unit_test(test_process_pool_apply_reports_a_worker_that_dies_under_it),
        cmocka_unit_test(test_process_pool_apply_moves_large_arguments_and_results),
        cmocka_unit_test(test_process_pool_apply_from_many_threads_with_submits_loses_nothing),
        cmocka_unit_test(test_process_pool_terminate_and_close_with_an_apply_running),
        cmocka_unit_test(test_process_pool_map_results_of_one_chunk_freed_by_two_threads),
        cmocka_unit_test(test_process_pool_untimed_map_with_a_worker_killed_while_receiving_or_sending),
        cmocka_unit_test(test_process_pool_untimed_maps_from_many_threads_with_applies_lose_nothing),
        cmocka_unit_test(test_process_pool_large_map_blocks_are_kept_until_memory_trim),
        cmocka_unit_test(test_process_pool_map_blocks_survive_a_fork_while_another_thread_trims),
        cmocka_unit_test(test_process_pool_terminate_ends_an_untimed_map_at_once),
        cmocka_unit_test(test_process_pool_untimed_map_takes_workers_that_become_idle),
        cmocka_unit_test(test_process_pool_resize_grows_while_busy),
        cmocka_unit_test(test_process_pool_resize_shrinks_while_busy_without_losing_a_task),
        cmocka_unit_test(test_process_pool_resize_retires_idle_workers_first_and_grows_back),
        cmocka_unit_test(test_process_pool_resize_rejects_bad_sizes_and_closed_pools),
        cmocka_unit_test(test_process_pool_calls_the_fork_hooks_around_every_worker_fork),
        cmocka_unit_test(test_process_pool_accepts_version_1_options_and_ignores_what_follows),
        cmocka_unit_test(test_process_pool_runs_an_initializer_by_name_under_each_start_method),
        cmocka_unit_test(test_process_pool_failing_initializer_by_name_breaks_it_with_its_message),
        cmocka_unit_test(test_process_pool_spawn_program_runs_workers_with_the_argv_prefix),
        cmocka_unit_test(test_process_pool_forkserver_runs_spawn_program_as_its_server),
        cmocka_unit_test(test_process_pool_rejects_bad_version_2_options),
    };
    return cmocka_run_group_tests_name("process_pool", tests, NULL, NULL);
}
