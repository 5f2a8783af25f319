/* Threads and timers: start/join, results, timeouts, states, names, ids,
 * current/main/dummies, enumerate, daemon and shutdown, stack size, bad
 * input, and Timer. */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weft_test.h"

/* A flag workers wait on (with a bound, so nothing hangs). */
static int flag_get(const int *f) { return __atomic_load_n(f, __ATOMIC_ACQUIRE); }
static void flag_set(int *f, int v) { __atomic_store_n(f, v, __ATOMIC_RELEASE); }
static void wait_flag(const int *f, int ms) {
    for (int i = 0; i < ms && !flag_get(f); i++) wt_sleep_ms(1);
}

/* Wait (bounded) until the alive-thread count is `n`; returns the count.
 * Threads of earlier tests may still be ending when a test starts. */
static size_t wait_active_count(size_t n) {
    size_t c = weft_thread_active_count();
    for (int i = 0; i < 5000 && c != n; i++) {
        wt_sleep_ms(1);
        c = weft_thread_active_count();
    }
    return c;
}

/* The count when only the main thread is alive (asserted). */
static size_t quiet_count(void) {
    size_t c = wait_active_count(1);
    assert_int_equal(c, 1);
    return c;
}

static void *return_arg_plus_one(void *arg) { return (char *)arg + 1; }

static void *wait_for_release(void *arg) {
    wait_flag(arg, 10000);
    return NULL;
}

static void *sleep_ms_fn(void *arg) {
    wt_sleep_ms((int)(intptr_t)arg);
    return arg;
}

static void test_thread_join_returns_the_function_result(void **state) {
    weft_thread *t;
    char buf[2];
    void *result = NULL;
    (void)state;
    WT_OK(weft_thread_spawn(&t, return_arg_plus_one, buf, NULL));
    WT_OK(weft_thread_join(t, &result, 5 * WEFT_SEC));
    assert_ptr_equal(result, buf + 1);
    result = NULL;
    WT_OK(weft_thread_join(t, &result, 0)); /* joins again, same result */
    assert_ptr_equal(result, buf + 1);
    WT_OK(weft_thread_join(t, NULL, WEFT_FOREVER)); /* result may be NULL */
    weft_thread_destroy(t);
}

static void test_thread_join_times_out_then_succeeds(void **state) {
    weft_thread *t;
    int go = 0;
    (void)state;
    WT_OK(weft_thread_spawn(&t, wait_for_release, &go, NULL));
    WT_EXPECT(WEFT_ETIMEDOUT, weft_thread_join(t, NULL, 0));
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_thread_join(t, NULL, 50 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 50);
    flag_set(&go, 1);
    WT_OK(weft_thread_join(t, NULL, 5 * WEFT_SEC));
    weft_thread_destroy(t);
}

static void *join_myself(void *arg) {
    (void)arg;
    return (void *)(intptr_t)weft_thread_join(weft_thread_current(), NULL, 100 * WEFT_MSEC);
}

static void test_thread_joining_itself_is_edeadlk(void **state) {
    weft_thread *t;
    void *rc = NULL;
    (void)state;
    WT_OK(weft_thread_spawn(&t, join_myself, NULL, NULL));
    WT_OK(weft_thread_join(t, &rc, 5 * WEFT_SEC));
    assert_int_equal((int)(intptr_t)rc, WEFT_EDEADLK);
    /* The main thread joining itself, too. */
    WT_EXPECT(WEFT_EDEADLK, weft_thread_join(weft_thread_main(), NULL, 0));
    weft_thread_destroy(t);
}

static void test_thread_starts_once_and_joins_only_after_start(void **state) {
    weft_thread *t;
    (void)state;
    WT_OK(weft_thread_create(&t, return_arg_plus_one, NULL, NULL));
    WT_EXPECT(WEFT_ESTATE, weft_thread_join(t, NULL, 0));
    WT_OK(weft_thread_start(t));
    WT_EXPECT(WEFT_ESTATE, weft_thread_start(t));
    WT_OK(weft_thread_join(t, NULL, 5 * WEFT_SEC));
    WT_EXPECT(WEFT_ESTATE, weft_thread_start(t)); /* not restartable, as in Python */
    WT_EXPECT(WEFT_ESTATE, weft_thread_start(weft_thread_main()));
    weft_thread_destroy(t);
}

static void test_thread_goes_from_new_to_running_to_finished(void **state) {
    weft_thread *t;
    int go = 0;
    (void)state;
    WT_OK(weft_thread_create(&t, wait_for_release, &go, NULL));
    assert_int_equal(weft_thread_get_state(t), WEFT_THREAD_NEW);
    assert_int_equal(weft_thread_is_alive(t), 0);
    WT_OK(weft_thread_start(t));
    assert_int_equal(weft_thread_get_state(t), WEFT_THREAD_RUNNING);
    assert_int_equal(weft_thread_is_alive(t), 1);
    flag_set(&go, 1);
    WT_OK(weft_thread_join(t, NULL, 5 * WEFT_SEC));
    assert_int_equal(weft_thread_get_state(t), WEFT_THREAD_FINISHED);
    assert_int_equal(weft_thread_is_alive(t), 0);
    weft_thread_destroy(t);
}

static void test_thread_names_default_to_thread_n_and_can_be_set(void **state) {
    weft_thread *a, *b, *c;
    weft_thread_options o = WEFT_THREAD_OPTIONS_INIT;
    unsigned na = 0, nb = 0;
    (void)state;
    WT_OK(weft_thread_create(&a, return_arg_plus_one, NULL, NULL));
    WT_OK(weft_thread_create(&b, return_arg_plus_one, NULL, NULL));
    assert_int_equal(sscanf(weft_thread_name(a), "Thread-%u", &na), 1);
    assert_int_equal(sscanf(weft_thread_name(b), "Thread-%u", &nb), 1);
    assert_true(nb > na);
    o.name = "downloader";
    WT_OK(weft_thread_create(&c, return_arg_plus_one, NULL, &o));
    assert_string_equal(weft_thread_name(c), "downloader");
    const char *old = weft_thread_name(c);
    WT_OK(weft_thread_set_name(c, "listener"));
    assert_string_equal(weft_thread_name(c), "listener");
    assert_string_equal(old, "downloader"); /* earlier names stay valid */
    WT_OK(weft_thread_set_name(c, ""));
    assert_string_equal(weft_thread_name(c), "");
    weft_thread_destroy(a);
    weft_thread_destroy(b);
    weft_thread_destroy(c);
}

struct comm_probe {
    int go;
    int64_t tid;
};

static void *publish_tid_and_wait(void *arg) {
    struct comm_probe *p = arg;
    __atomic_store_n(&p->tid, weft_thread_get_native_id(), __ATOMIC_RELEASE);
    wait_flag(&p->go, 10000);
    return NULL;
}

static void read_comm(int64_t tid, char *buf, size_t n) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%lld/comm", (long long)tid);
    FILE *f = fopen(path, "r");
    buf[0] = '\0';
    if (!f) return;
    if (!fgets(buf, (int)n, f)) buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
}

static void test_thread_os_name_is_visible_in_proc(void **state) {
    weft_thread *t;
    weft_thread_options o = WEFT_THREAD_OPTIONS_INIT;
    struct comm_probe p = {0, 0};
    char comm[64];
    (void)state;
    o.name = "music-and-downloads"; /* longer than the OS's 15 bytes */
    WT_OK(weft_thread_spawn(&t, publish_tid_and_wait, &p, &o));
    /* start returned: the thread named itself already */
    read_comm(weft_thread_native_id(t), comm, sizeof comm);
    assert_string_equal(comm, "music-and-downl");
    WT_OK(weft_thread_set_name(t, "renamed"));
    read_comm(weft_thread_native_id(t), comm, sizeof comm);
    assert_string_equal(comm, "renamed");
    WT_OK(weft_thread_set_name(t, "caf\xc3\xa9-caf\xc3\xa9-caf\xc3\xa9")); /* 15th byte mid-character */
    read_comm(weft_thread_native_id(t), comm, sizeof comm);
    assert_string_equal(comm, "caf\xc3\xa9-caf\xc3\xa9-caf");
    flag_set(&p.go, 1);
    WT_OK(weft_thread_join(t, NULL, 5 * WEFT_SEC));
    WT_OK(weft_thread_set_name(t, "after-the-end")); /* finished: only the record changes */
    assert_string_equal(weft_thread_name(t), "after-the-end");
    weft_thread_destroy(t);
}

static void test_thread_daemon_is_set_only_before_start(void **state) {
    weft_thread *t;
    weft_thread_options o = WEFT_THREAD_OPTIONS_INIT;
    int go = 0;
    (void)state;
    WT_OK(weft_thread_create(&t, wait_for_release, &go, NULL));
    assert_int_equal(weft_thread_is_daemon(t), 0);
    WT_OK(weft_thread_set_daemon(t, 7));
    assert_int_equal(weft_thread_is_daemon(t), 1);
    WT_OK(weft_thread_set_daemon(t, 0));
    assert_int_equal(weft_thread_is_daemon(t), 0);
    WT_OK(weft_thread_start(t));
    WT_EXPECT(WEFT_ESTATE, weft_thread_set_daemon(t, 1));
    assert_int_equal(weft_thread_is_daemon(t), 0);
    flag_set(&go, 1);
    WT_OK(weft_thread_join(t, NULL, 5 * WEFT_SEC));
    weft_thread_destroy(t);

    o.daemon = 1;
    WT_OK(weft_thread_create(&t, return_arg_plus_one, NULL, &o));
    assert_int_equal(weft_thread_is_daemon(t), 1);
    weft_thread_destroy(t);
    assert_int_equal(weft_thread_is_daemon(weft_thread_main()), 0);
    WT_EXPECT(WEFT_ESTATE, weft_thread_set_daemon(weft_thread_main(), 1));
}

struct seen {
    uint64_t ident;
    int64_t native_id;
    weft_thread *current;
    const char *name;
    int is_daemon;
};

static void *record_identity(void *arg) {
    struct seen *s = arg;
    s->ident = weft_thread_get_ident();
    s->native_id = weft_thread_get_native_id();
    s->current = weft_thread_current();
    s->name = weft_thread_name(s->current);
    s->is_daemon = weft_thread_is_daemon(s->current);
    return NULL;
}

static void test_thread_ident_and_native_id_match_inside_the_thread(void **state) {
    weft_thread *t;
    struct seen s;
    (void)state;
    memset(&s, 0, sizeof s);
    WT_OK(weft_thread_create(&t, record_identity, &s, NULL));
    assert_int_equal(weft_thread_ident(t), 0);
    assert_int_equal(weft_thread_native_id(t), 0);
    WT_OK(weft_thread_start(t));
    assert_true(weft_thread_ident(t) != 0); /* known once start returns */
    assert_true(weft_thread_native_id(t) > 0);
    WT_OK(weft_thread_join(t, NULL, 5 * WEFT_SEC));
    assert_int_equal(s.ident, weft_thread_ident(t));
    assert_int_equal(s.native_id, weft_thread_native_id(t));
    assert_true(s.ident != weft_thread_get_ident());
    assert_true(s.native_id != weft_thread_get_native_id());
    assert_ptr_equal(s.current, t); /* current() inside is the thread itself */
    weft_thread_destroy(t);
}

static void *plain_pthread(void *arg) {
    struct seen *s = arg;
    record_identity(s);
    /* copy the name: the record goes away with this thread */
    static char name[32];
    snprintf(name, sizeof name, "%s", s->name ? s->name : "(null)");
    s->name = name;
    s->ident = weft_thread_ident(s->current) == s->ident ? s->ident : 0;
    s->native_id = weft_thread_native_id(s->current) == s->native_id ? s->native_id : 0;
    if (weft_thread_current() != s->current) s->current = NULL; /* stable */
    return NULL;
}

static void test_thread_current_on_a_plain_pthread_is_a_dummy(void **state) {
    pthread_t p;
    struct seen s;
    (void)state;
    memset(&s, 0, sizeof s);
    size_t before = quiet_count();
    assert_int_equal(pthread_create(&p, NULL, plain_pthread, &s), 0);
    assert_int_equal(pthread_join(p, NULL), 0);
    assert_non_null(s.current);
    assert_int_equal(strncmp(s.name, "Dummy-", 6), 0);
    assert_int_equal(s.is_daemon, 1);
    assert_true(s.ident != 0);
    assert_true(s.native_id != 0);
    /* the dummy left enumerate when its thread ended */
    assert_int_equal(weft_thread_active_count(), before);
}

static void test_thread_main_is_the_main_thread(void **state) {
    weft_thread *m = weft_thread_main();
    (void)state;
    assert_non_null(m);
    assert_string_equal(weft_thread_name(m), "MainThread");
    assert_ptr_equal(weft_thread_current(), m); /* cmocka runs tests on main */
    assert_int_equal(weft_thread_ident(m), weft_thread_get_ident());
    assert_int_equal(weft_thread_native_id(m), (int64_t)getpid());
    assert_int_equal(weft_thread_get_state(m), WEFT_THREAD_RUNNING);
    assert_int_equal(weft_thread_is_alive(m), 1);
    assert_ptr_equal(weft_thread_main(), m);
}

static int listed(weft_thread **all, size_t n, const weft_thread *t) {
    for (size_t i = 0; i < n; i++)
        if (all[i] == t) return 1;
    return 0;
}

static void test_thread_enumerate_and_active_count_grow_and_shrink(void **state) {
    enum { N = 3 };
    weft_thread *t[N];
    weft_thread *all[16];
    int go = 0;
    (void)state;
    size_t before = quiet_count();
    assert_true(before >= 1); /* main */
    for (int i = 0; i < N; i++) WT_OK(weft_thread_spawn(&t[i], wait_for_release, &go, NULL));
    assert_int_equal(weft_thread_active_count(), before + N);
    size_t n = weft_thread_enumerate(all, 16);
    assert_int_equal(n, before + N);
    for (int i = 0; i < N; i++) assert_true(listed(all, n, t[i]));
    assert_true(listed(all, n, weft_thread_main()));
    for (size_t i = 0; i < n; i++) weft_thread_destroy(all[i]); /* new references */
    /* a short array gets a prefix and the full count */
    assert_int_equal(weft_thread_enumerate(all, 1), before + N);
    weft_thread_destroy(all[0]);
    assert_int_equal(weft_thread_enumerate(NULL, 0), before + N);
    flag_set(&go, 1);
    for (int i = 0; i < N; i++) {
        WT_OK(weft_thread_join(t[i], NULL, 5 * WEFT_SEC));
        weft_thread_destroy(t[i]);
    }
    assert_int_equal(weft_thread_active_count(), before);
}

static void test_thread_destroyed_while_running_finishes_detached(void **state) {
    weft_thread *t;
    int go = 0;
    (void)state;
    size_t before = quiet_count();
    WT_OK(weft_thread_spawn(&t, wait_for_release, &go, NULL));
    weft_thread_destroy(t); /* the thread keeps running */
    assert_int_equal(weft_thread_active_count(), before + 1);
    flag_set(&go, 1);
    /* it ends on its own and frees its record (ASan: nothing leaks) */
    assert_int_equal(wait_active_count(before), before);
    /* a never-started thread is freed at once */
    WT_OK(weft_thread_create(&t, return_arg_plus_one, NULL, NULL));
    weft_thread_destroy(t);
}

static void test_shutdown_joins_non_daemon_threads_and_skips_daemons(void **state) {
    weft_thread *a, *b, *d;
    weft_thread_options daemon = WEFT_THREAD_OPTIONS_INIT;
    int go = 0;
    (void)state;
    daemon.daemon = 1;
    WT_OK(weft_thread_spawn(&a, sleep_ms_fn, (void *)(intptr_t)30, NULL));
    WT_OK(weft_thread_spawn(&b, sleep_ms_fn, (void *)(intptr_t)60, NULL));
    WT_OK(weft_thread_spawn(&d, wait_for_release, &go, &daemon));
    int64_t t0 = weft_monotonic_ns();
    WT_OK(weft_shutdown(5 * WEFT_SEC)); /* does not wait for the daemon (it waits for `go`) */
    assert_true(wt_ms_since(t0) < 4000.0);  /* returned well before its timeout; the states below say why */
    assert_int_equal(weft_thread_get_state(a), WEFT_THREAD_FINISHED);
    assert_int_equal(weft_thread_get_state(b), WEFT_THREAD_FINISHED);
    assert_int_equal(weft_thread_is_alive(d), 1);
    WT_OK(weft_shutdown(0));
    flag_set(&go, 1);
    WT_OK(weft_thread_join(d, NULL, 5 * WEFT_SEC));
    weft_thread_destroy(a);
    weft_thread_destroy(b);
    weft_thread_destroy(d);
}

static void test_shutdown_times_out_on_a_stuck_thread(void **state) {
    weft_thread *t;
    int go = 0;
    (void)state;
    WT_OK(weft_thread_spawn(&t, wait_for_release, &go, NULL));
    WT_EXPECT(WEFT_ETIMEDOUT, weft_shutdown(0));
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_shutdown(50 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 50);
    flag_set(&go, 1); /* let it finish so the test ends clean */
    WT_OK(weft_shutdown(5 * WEFT_SEC));
    assert_int_equal(weft_thread_is_alive(t), 0);
    weft_thread_destroy(t);
}

static void *call_shutdown(void *arg) {
    (void)arg;
    return (void *)(intptr_t)weft_shutdown(100 * WEFT_MSEC);
}

static void test_shutdown_from_a_weft_thread_skips_itself(void **state) {
    weft_thread *t;
    void *rc = (void *)(intptr_t)1;
    (void)state;
    WT_OK(weft_thread_spawn(&t, call_shutdown, NULL, NULL));
    WT_OK(weft_thread_join(t, &rc, 5 * WEFT_SEC));
    assert_int_equal((int)(intptr_t)rc, WEFT_OK);
    weft_thread_destroy(t);
}

struct stack_probe {
    size_t size;
    int rc;
};

static void *read_stack_size(void *arg) {
    struct stack_probe *p = arg;
    pthread_attr_t attr;
    p->rc = pthread_getattr_np(pthread_self(), &attr);
    if (p->rc == 0) {
        p->rc = pthread_attr_getstacksize(&attr, &p->size);
        pthread_attr_destroy(&attr);
    }
    return NULL;
}

static void test_thread_stack_size_is_honoured(void **state) {
    weft_thread *t;
    weft_thread_options o = WEFT_THREAD_OPTIONS_INIT;
    struct stack_probe p = {0, -1};
    (void)state;
    o.stack_size = 1024 * 1024 + 4096;
    WT_OK(weft_thread_spawn(&t, read_stack_size, &p, &o));
    WT_OK(weft_thread_join(t, NULL, 5 * WEFT_SEC));
    weft_thread_destroy(t);
    assert_int_equal(p.rc, 0);
    assert_true(p.size >= o.stack_size);
    assert_true(p.size <= o.stack_size + 256 * 1024);

    o.stack_size = PTHREAD_STACK_MIN - 1;
    WT_EXPECT(WEFT_EINVAL, weft_thread_create(&t, read_stack_size, &p, &o));
    assert_null(t);
    o.stack_size = 16;
    WT_EXPECT(WEFT_EINVAL, weft_thread_spawn(&t, read_stack_size, &p, &o));
    assert_null(t);
}

static void test_thread_rejects_bad_input(void **state) {
    weft_thread *t = (weft_thread *)1;
    weft_thread_options bad = WEFT_THREAD_OPTIONS_INIT;
    weft_lock *lock;
    (void)state;
    WT_EXPECT(WEFT_EINVAL, weft_thread_create(NULL, return_arg_plus_one, NULL, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_thread_create(&t, NULL, NULL, NULL));
    assert_null(t);
    WT_EXPECT(WEFT_EINVAL, weft_thread_spawn(NULL, return_arg_plus_one, NULL, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_thread_spawn(&t, NULL, NULL, NULL));
    bad.version = 99;
    WT_EXPECT(WEFT_EINVAL, weft_thread_create(&t, return_arg_plus_one, NULL, &bad));
    assert_null(t);
    assert_non_null(strstr(weft_last_error()->message, "version"));

    WT_EXPECT(WEFT_EMISUSE, weft_thread_start(NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_thread_join(NULL, NULL, 0));
    assert_int_equal(weft_thread_is_alive(NULL), WEFT_EMISUSE);
    assert_int_equal(weft_thread_get_state(NULL), WEFT_EMISUSE);
    assert_null(weft_thread_name(NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_thread_set_name(NULL, "x"));
    assert_int_equal(weft_thread_is_daemon(NULL), WEFT_EMISUSE);
    WT_EXPECT(WEFT_EMISUSE, weft_thread_set_daemon(NULL, 1));
    assert_int_equal(weft_thread_ident(NULL), 0);
    assert_int_equal(weft_thread_native_id(NULL), WEFT_EMISUSE);
    weft_thread_destroy(NULL);

    /* a handle of another type */
    WT_OK(weft_lock_create(&lock, NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_thread_join((weft_thread *)lock, NULL, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_timer_cancel((weft_timer *)lock));
    weft_thread_destroy((weft_thread *)lock); /* no-op */
    weft_timer_destroy((weft_timer *)lock);   /* no-op */
    assert_int_equal(weft_lock_locked(lock), 0);
    weft_lock_destroy(lock);

    WT_OK(weft_thread_create(&t, return_arg_plus_one, NULL, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_thread_set_name(t, NULL));
    WT_OK(weft_thread_start(t));
    WT_EXPECT(WEFT_EINVAL, weft_thread_join(t, NULL, -2));
    WT_EXPECT(WEFT_EINVAL, weft_thread_join(t, NULL, INT64_MIN));
    WT_OK(weft_thread_join(t, NULL, INT64_MAX)); /* huge timeout does not overflow */
    weft_thread_destroy(t);

    WT_EXPECT(WEFT_EINVAL, weft_shutdown(-2));
}

/* In a child forked while a weft thread runs, only the forking thread is
 * alive; the other record reads FINISHED and joins at once. The child reports
 * through its exit status: a bit per failed check. */
static int check_in_fork_child(weft_thread *other) {
    int bad = 0;
    if (weft_thread_is_alive(other) != 0) bad |= 1;
    if (weft_thread_join(other, NULL, 0) != WEFT_OK) bad |= 2;
    if (weft_thread_active_count() != 1) bad |= 4;
    if (weft_thread_main() != weft_thread_current()) bad |= 8;
    if (weft_thread_native_id(weft_thread_main()) != (int64_t)getpid()) bad |= 16;
    if (weft_shutdown(0) != WEFT_OK) bad |= 32;
    return bad;
}

static void test_thread_after_fork_only_the_forking_thread_is_alive(void **state) {
    weft_thread *t;
    int go = 0, status = -1;
    (void)state;
    quiet_count();
    WT_OK(weft_thread_spawn(&t, wait_for_release, &go, NULL));
    pid_t pid = fork();
    if (pid == 0) _exit(check_in_fork_child(t));
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    flag_set(&go, 1);
    WT_OK(weft_thread_join(t, NULL, 5 * WEFT_SEC));
    weft_thread_destroy(t);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(weft_thread_get_ident(), weft_thread_ident(weft_thread_main()));
}

static void *exit_early(void *arg) {
    (void)arg;
    pthread_exit(arg);
    return NULL;
}

static void test_thread_ending_with_pthread_exit_is_finished(void **state) {
    weft_thread *t;
    void *result = (void *)1;
    (void)state;
    WT_OK(weft_thread_spawn(&t, exit_early, &result, NULL));
    WT_OK(weft_thread_join(t, &result, 5 * WEFT_SEC));
    assert_null(result); /* pthread_exit's value is not the function's result */
    assert_int_equal(weft_thread_get_state(t), WEFT_THREAD_FINISHED);
    weft_thread_destroy(t);
    assert_int_equal(wait_active_count(1), 1);
}

/* Start does not wait for the new thread to run: identity asked at once
 * waits for the thread to publish it, and is never 0 after start. */
static void test_thread_identity_asked_right_after_start_is_never_zero(void **state) {
    enum { N = 20 };
    (void)state;
    for (int i = 0; i < N; i++) {
        weft_thread *t;
        struct seen s;
        memset(&s, 0, sizeof s);
        WT_OK(weft_thread_spawn(&t, record_identity, &s, NULL));
        int64_t tid = weft_thread_native_id(t); /* first: before ident */
        uint64_t id = weft_thread_ident(t);
        assert_true(tid > 0);
        assert_true(id != 0);
        WT_OK(weft_thread_join(t, NULL, 5 * WEFT_SEC));
        assert_int_equal(s.native_id, tid);
        assert_int_equal(s.ident, id);
        weft_thread_destroy(t);
    }
}

/* Only names the user gives reach the OS: a default "Thread-N" keeps the
 * inherited OS name (no system call per start), as a plain pthread does. */
static void test_thread_only_given_names_become_os_names(void **state) {
    weft_thread *t;
    struct comm_probe p = {0, 0}, q = {0, 0};
    char comm[64], inherited[64];
    (void)state;
    read_comm((int64_t)getpid(), inherited, sizeof inherited); /* the creator's */
    WT_OK(weft_thread_spawn(&t, publish_tid_and_wait, &p, NULL));
    read_comm(weft_thread_native_id(t), comm, sizeof comm);
    assert_string_equal(comm, inherited);
    assert_int_equal(strncmp(weft_thread_name(t), "Thread-", 7), 0);
    WT_OK(weft_thread_set_name(t, "named-later")); /* running: renamed at once */
    read_comm(weft_thread_native_id(t), comm, sizeof comm);
    assert_string_equal(comm, "named-later");
    flag_set(&p.go, 1);
    WT_OK(weft_thread_join(t, NULL, 5 * WEFT_SEC));
    weft_thread_destroy(t);

    WT_OK(weft_thread_create(&t, publish_tid_and_wait, &q, NULL));
    WT_OK(weft_thread_set_name(t, "named-early")); /* before start: named at start */
    WT_OK(weft_thread_start(t));
    read_comm(weft_thread_native_id(t), comm, sizeof comm);
    assert_string_equal(comm, "named-early");
    flag_set(&q.go, 1);
    WT_OK(weft_thread_join(t, NULL, 5 * WEFT_SEC));
    weft_thread_destroy(t);
}

struct joiner {
    weft_thread *target;
    int64_t timeout_ns;
    int rc;
    void *result;
};

static void *join_target(void *arg) {
    struct joiner *j = arg;
    j->rc = weft_thread_join(j->target, &j->result, j->timeout_ns);
    return NULL;
}

static void test_thread_joined_by_several_threads_at_once_wakes_them_all(void **state) {
    enum { N = 4 };
    weft_thread *target, *js[N];
    struct joiner j[N];
    char buf[2];
    int go = 0;
    void *result = NULL;
    (void)state;
    WT_OK(weft_thread_spawn(&target, wait_for_release, &go, NULL));
    for (int i = 0; i < N; i++) {
        j[i].target = target;
        j[i].timeout_ns = (i % 2) ? 5 * WEFT_SEC : WEFT_FOREVER; /* forever and bounded joins mixed */
        j[i].rc = 1;
        j[i].result = buf;
        WT_OK(weft_thread_spawn(&js[i], join_target, &j[i], NULL));
    }
    wt_sleep_ms(30); /* let the joiners block */
    for (int i = 0; i < N; i++) assert_int_equal(weft_thread_is_alive(js[i]), 1);
    flag_set(&go, 1);
    for (int i = 0; i < N; i++) {
        WT_OK(weft_thread_join(js[i], NULL, 5 * WEFT_SEC));
        weft_thread_destroy(js[i]);
        assert_int_equal(j[i].rc, WEFT_OK);
        assert_null(j[i].result); /* wait_for_release returns NULL */
    }
    WT_OK(weft_thread_join(target, &result, WEFT_FOREVER)); /* finished: at once */
    assert_null(result);
    weft_thread_destroy(target);
}

static void test_thread_join_forever_of_a_finished_thread_returns_at_once(void **state) {
    weft_thread *t;
    char buf[2];
    void *result = NULL;
    (void)state;
    WT_OK(weft_thread_spawn(&t, return_arg_plus_one, buf, NULL));
    for (int i = 0; i < 5000 && weft_thread_get_state(t) != WEFT_THREAD_FINISHED; i++) wt_sleep_ms(1);
    assert_int_equal(weft_thread_get_state(t), WEFT_THREAD_FINISHED);
    wt_sleep_ms(5); /* let the OS thread end (it released itself) */
    int64_t t0 = weft_monotonic_ns();
    WT_OK(weft_thread_join(t, &result, WEFT_FOREVER));
    assert_true(wt_ms_since(t0) < 1000);
    assert_ptr_equal(result, buf + 1);
    weft_thread_destroy(t);
}

static void test_thread_ending_with_pthread_exit_joins_forever(void **state) {
    weft_thread *t;
    void *result = (void *)1;
    (void)state;
    WT_OK(weft_thread_spawn(&t, exit_early, &result, NULL));
    WT_OK(weft_thread_join(t, &result, WEFT_FOREVER));
    assert_null(result);
    assert_int_equal(weft_thread_get_state(t), WEFT_THREAD_FINISHED);
    weft_thread_destroy(t);
}

/* A pthread key destructor runs after the thread's function returned; a
 * forever join of a running thread waits for it, as pthread_join does. */
static pthread_key_t tls_probe_key;
static int tls_destructor_ran;

static void note_tls_destructor(void *v) {
    (void)v;
    wt_sleep_ms(30); /* a slow destructor: join must still wait for it */
    flag_set(&tls_destructor_ran, 1);
}

static void *set_tls_and_wait(void *arg) {
    pthread_setspecific(tls_probe_key, arg);
    wait_flag(arg, 10000);
    wt_sleep_ms(20); /* let the joiner be blocked in join, surely */
    return NULL;
}

static void *release_later(void *arg) {
    wt_sleep_ms(30);
    flag_set(arg, 1);
    return NULL;
}

static void test_thread_join_forever_returns_after_thread_local_destructors(void **state) {
    weft_thread *t, *r;
    int go = 0;
    (void)state;
    flag_set(&tls_destructor_ran, 0);
    assert_int_equal(pthread_key_create(&tls_probe_key, note_tls_destructor), 0);
    WT_OK(weft_thread_spawn(&t, set_tls_and_wait, &go, NULL));
    WT_OK(weft_thread_spawn(&r, release_later, &go, NULL));
    WT_OK(weft_thread_join(t, NULL, WEFT_FOREVER)); /* t is still running here */
    assert_int_equal(flag_get(&tls_destructor_ran), 1);
    WT_OK(weft_thread_join(r, NULL, 5 * WEFT_SEC));
    weft_thread_destroy(t);
    weft_thread_destroy(r);
    assert_int_equal(pthread_key_delete(tls_probe_key), 0);
}

/* ---- Timer ---- */

struct fired {
    int count;
    int64_t at;
};

static void note_fired(void *arg) {
    struct fired *f = arg;
    __atomic_store_n(&f->at, weft_monotonic_ns(), __ATOMIC_RELAXED);
    __atomic_add_fetch(&f->count, 1, __ATOMIC_ACQ_REL);
}

static void test_timer_fires_after_about_the_delay(void **state) {
    weft_timer *tm;
    struct fired f = {0, 0};
    (void)state;
    int64_t t0 = weft_monotonic_ns();
    WT_OK(weft_timer_start(&tm, 80 * WEFT_MSEC, note_fired, &f));
    WT_EXPECT(WEFT_ETIMEDOUT, weft_timer_join(tm, 0));
    WT_OK(weft_timer_join(tm, 5 * WEFT_SEC));
    assert_int_equal(__atomic_load_n(&f.count, __ATOMIC_ACQUIRE), 1);
    WT_ASSERT_ABOUT_MS((double)(f.at - t0) / 1e6, 80);
    WT_EXPECT(WEFT_EBUSY, weft_timer_cancel(tm)); /* already fired */
    WT_OK(weft_timer_join(tm, 0));
    weft_timer_destroy(tm);
}

static void test_timer_cancelled_before_firing_never_runs(void **state) {
    weft_timer *tm;
    struct fired f = {0, 0};
    (void)state;
    size_t before = quiet_count();
    WT_OK(weft_timer_start(&tm, 10 * WEFT_SEC, note_fired, &f));
    int64_t t0 = weft_monotonic_ns();
    WT_OK(weft_timer_cancel(tm));
    WT_OK(weft_timer_cancel(tm)); /* again: still OK */
    WT_OK(weft_timer_join(tm, 5 * WEFT_SEC));
    assert_true(wt_ms_since(t0) < 1000); /* no sleeping out the 10 s delay */
    /* the timer thread woke at once and ends */
    assert_int_equal(wait_active_count(before), before);
    assert_int_equal(__atomic_load_n(&f.count, __ATOMIC_ACQUIRE), 0);
    weft_timer_destroy(tm);
}

struct slow {
    int started, go;
};

static void slow_action(void *arg) {
    struct slow *s = arg;
    flag_set(&s->started, 1);
    wait_flag(&s->go, 10000);
}

static void test_timer_cancel_while_running_is_ebusy_and_join_waits(void **state) {
    weft_timer *tm;
    struct slow s = {0, 0};
    (void)state;
    WT_OK(weft_timer_start(&tm, 0, slow_action, &s));
    wait_flag(&s.started, 5000);
    assert_int_equal(flag_get(&s.started), 1);
    WT_EXPECT(WEFT_EBUSY, weft_timer_cancel(tm));
    WT_EXPECT(WEFT_ETIMEDOUT, weft_timer_join(tm, 30 * WEFT_MSEC));
    flag_set(&s.go, 1);
    WT_OK(weft_timer_join(tm, 5 * WEFT_SEC));
    weft_timer_destroy(tm);
}

static void test_timer_destroy_cancels_a_pending_timer(void **state) {
    weft_timer *tm;
    struct fired f = {0, 0};
    (void)state;
    size_t before = quiet_count();
    WT_OK(weft_timer_start(&tm, 50 * WEFT_MSEC, note_fired, &f));
    weft_timer_destroy(tm);
    assert_int_equal(wait_active_count(before), before);
    wt_sleep_ms(80);
    assert_int_equal(__atomic_load_n(&f.count, __ATOMIC_ACQUIRE), 0);
}

static void test_timer_destroy_does_not_block_on_a_running_action(void **state) {
    weft_timer *tm;
    struct slow s = {0, 0};
    (void)state;
    size_t before = quiet_count();
    WT_OK(weft_timer_start(&tm, 0, slow_action, &s));
    wait_flag(&s.started, 5000);
    int64_t t0 = weft_monotonic_ns();
    weft_timer_destroy(tm);
    assert_true(wt_ms_since(t0) < 1000);
    flag_set(&s.go, 1);
    assert_int_equal(wait_active_count(before), before);
}

static void test_timer_rejects_bad_input(void **state) {
    weft_timer *tm = (weft_timer *)1;
    struct fired f = {0, 0};
    (void)state;
    WT_EXPECT(WEFT_EINVAL, weft_timer_start(NULL, 0, note_fired, &f));
    WT_EXPECT(WEFT_EINVAL, weft_timer_start(&tm, 0, NULL, &f));
    assert_null(tm);
    WT_EXPECT(WEFT_EINVAL, weft_timer_start(&tm, -1, note_fired, &f));
    WT_EXPECT(WEFT_EMISUSE, weft_timer_cancel(NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_timer_join(NULL, 0));
    weft_timer_destroy(NULL);
    WT_OK(weft_timer_start(&tm, 10 * WEFT_SEC, note_fired, &f));
    WT_EXPECT(WEFT_EINVAL, weft_timer_join(tm, -2));
    weft_timer_destroy(tm);
    assert_int_equal(f.count, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thread_join_returns_the_function_result),
        cmocka_unit_test(test_thread_join_times_out_then_succeeds),
        cmocka_unit_test(test_thread_joining_itself_is_edeadlk),
        cmocka_unit_test(test_thread_starts_once_and_joins_only_after_start),
        cmocka_unit_test(test_thread_goes_from_new_to_running_to_finished),
        cmocka_unit_test(test_thread_names_default_to_thread_n_and_can_be_set),
        cmocka_unit_test(test_thread_os_name_is_visible_in_proc),
        cmocka_unit_test(test_thread_daemon_is_set_only_before_start),
        cmocka_unit_test(test_thread_ident_and_native_id_match_inside_the_thread),
        cmocka_unit_test(test_thread_current_on_a_plain_pthread_is_a_dummy),
        cmocka_unit_test(test_thread_main_is_the_main_thread),
        cmocka_unit_test(test_thread_enumerate_and_active_count_grow_and_shrink),
        cmocka_unit_test(test_thread_destroyed_while_running_finishes_detached),
        cmocka_unit_test(test_shutdown_joins_non_daemon_threads_and_skips_daemons),
        cmocka_unit_test(test_shutdown_times_out_on_a_stuck_thread),
        cmocka_unit_test(test_shutdown_from_a_weft_thread_skips_itself),
        cmocka_unit_test(test_thread_stack_size_is_honoured),
        cmocka_unit_test(test_thread_rejects_bad_input),
        cmocka_unit_test(test_thread_ending_with_pthread_exit_is_finished),
        cmocka_unit_test(test_thread_after_fork_only_the_forking_thread_is_alive),
        cmocka_unit_test(test_thread_identity_asked_right_after_start_is_never_zero),
        cmocka_unit_test(test_thread_only_given_names_become_os_names),
        cmocka_unit_test(test_thread_joined_by_several_threads_at_once_wakes_them_all),
        cmocka_unit_test(test_thread_join_forever_of_a_finished_thread_returns_at_once),
        cmocka_unit_test(test_thread_ending_with_pthread_exit_joins_forever),
        cmocka_unit_test(test_thread_join_forever_returns_after_thread_local_destructors),
        cmocka_unit_test(test_timer_fires_after_about_the_delay),
        cmocka_unit_test(test_timer_cancelled_before_firing_never_runs),
        cmocka_unit_test(test_timer_cancel_while_running_is_ebusy_and_join_waits),
        cmocka_unit_test(test_timer_destroy_cancels_a_pending_timer),
        cmocka_unit_test(test_timer_destroy_does_not_block_on_a_running_action),
        cmocka_unit_test(test_timer_rejects_bad_input),
    };
    return cmocka_run_group_tests_name("thread", tests, NULL, NULL);
}
