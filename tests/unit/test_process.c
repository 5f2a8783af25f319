/* Processes: exit codes, join timeouts, pid/ppid, start methods fork, spawn
 * and forkserver, programs, kill_tree, daemon children dying with their
 * parent, detached children reaped, fork with weft threads alive, bad input.
 * Every test that makes a process skips under TSan; main() calls weft_main()
 * first, so this executable can be re-executed by spawn and the forkserver. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weft_test.h"

/* ------------------------------------------------------------ helpers */

static int return_arg(void *arg, size_t len) {
    (void)len;
    return (int)(intptr_t)arg;
}

static int sleep_30s(void *arg, size_t len) {
    (void)arg;
    (void)len;
    for (int i = 0; i < 300; i++) wt_sleep_ms(100);
    return 0;
}

/* Wait (finitely) until pid, our child, ends; its raw status in *st.
 * Returns 1 when reaped, 0 after timeout_ms. */
static int reap_within(pid_t pid, int *st, int timeout_ms) {
    for (int waited = 0; waited <= timeout_ms; waited += 2) {
        pid_t w = waitpid(pid, st, WNOHANG);
        if (w == pid) return 1;
        if (w < 0 && errno != EINTR) return 0;
        wt_sleep_ms(2);
    }
    return 0;
}

/* Parent pid of pid from /proc, or -1. */
static pid_t ppid_of(pid_t pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    char st;
    int pp;
    if (!rp || sscanf(rp + 1, " %c %d", &st, &pp) != 2) return -1;
    return (pid_t)pp;
}

/* Reap every child of ours but `keep` (orphans adopted as a subreaper),
 * waiting up to timeout_ms for them to end. Returns how many are left. */
static int reap_adopted(pid_t keep, int timeout_ms) {
    int left = 0;
    for (int waited = 0; waited <= timeout_ms; waited += 5) {
        left = 0;
        DIR *d = opendir("/proc");
        if (!d) return -1;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
            pid_t pid = (pid_t)atoi(e->d_name);
            if (pid == keep || ppid_of(pid) != getpid()) continue;
            int st;
            if (waitpid(pid, &st, WNOHANG) != pid) left++;
        }
        closedir(d);
        if (left == 0) break;
        wt_sleep_ms(5);
    }
    return left;
}

/* --------------------------------------------------------- exit codes */

static void test_process_exit_codes_are_the_return_value_or_minus_the_signal(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process *p;
    int code = -100;
    WT_OK(weft_process_spawn(&p, return_arg, (void *)(intptr_t)0, 0, NULL));
    WT_OK(weft_process_join(p, 5 * WEFT_SEC));
    WT_OK(weft_process_exitcode(p, &code));
    assert_int_equal(code, 0);
    weft_process_destroy(p);

    WT_OK(weft_process_spawn(&p, return_arg, (void *)(intptr_t)7, 0, NULL));
    WT_OK(weft_process_join(p, 5 * WEFT_SEC));
    WT_OK(weft_process_exitcode(p, &code));
    assert_int_equal(code, 7);
    WT_OK(weft_process_join(p, 0)); /* as often as asked */
    weft_process_destroy(p);

    WT_OK(weft_process_spawn(&p, sleep_30s, NULL, 0, NULL));
    WT_OK(weft_process_kill(p));
    WT_OK(weft_process_join(p, 5 * WEFT_SEC));
    WT_OK(weft_process_exitcode(p, &code));
    assert_int_equal(code, -SIGKILL);
    WT_OK(weft_process_kill(p)); /* ended: nothing to signal, no error */
    weft_process_destroy(p);

    WT_OK(weft_process_spawn(&p, sleep_30s, NULL, 0, NULL));
    WT_OK(weft_process_terminate(p));
    WT_OK(weft_process_join(p, 5 * WEFT_SEC));
    WT_OK(weft_process_exitcode(p, &code));
    assert_int_equal(code, -SIGTERM);
    weft_process_destroy(p);
}

static void test_process_join_times_out_on_a_sleeping_child(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process *p;
    int code = 12345;
    WT_OK(weft_process_create(&p, NULL));
    assert_int_equal(weft_process_is_alive(p), 0);
    assert_int_equal(weft_process_pid(p), 0);
    WT_OK(weft_process_start(p, sleep_30s, NULL, 0));
    assert_true(weft_process_pid(p) > 0);
    assert_int_equal(weft_process_is_alive(p), 1);
    WT_EXPECT(WEFT_ETIMEDOUT, weft_process_join(p, 0));
    int64_t t0 = weft_monotonic_ns();
    WT_EXPECT(WEFT_ETIMEDOUT, weft_process_join(p, 60 * WEFT_MSEC));
    WT_ASSERT_ABOUT_MS(wt_ms_since(t0), 60);
    WT_EXPECT(WEFT_EBUSY, weft_process_exitcode(p, &code));
    assert_int_equal(code, 12345);
    assert_int_equal(weft_process_is_alive(p), 1);
    WT_OK(weft_process_kill(p));
    WT_OK(weft_process_join(p, 5 * WEFT_SEC));
    assert_int_equal(weft_process_is_alive(p), 0);
    weft_process_destroy(p);
}

/* ------------------------------------------------------------ pid/ppid */

struct ids {
    int64_t pid, parent, os_parent;
    char name[32];
};

static int report_ids(void *arg, size_t len) {
    (void)len;
    int fd = *(int *)arg;
    struct ids m;
    memset(&m, 0, sizeof m);
    m.pid = weft_process_current_pid();
    m.parent = weft_process_parent_pid();
    m.os_parent = getppid();
    snprintf(m.name, sizeof m.name, "%s", weft_process_current_name());
    return write(fd, &m, sizeof m) == (ssize_t)sizeof m ? 0 : 1;
}

static void test_process_child_sees_its_pid_parent_and_name(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    weft_process *p;
    weft_process_options o = WEFT_PROCESS_OPTIONS_INIT;
    o.name = "worker";
    WT_OK(weft_process_spawn(&p, report_ids, &fds[1], sizeof fds[1], &o));
    struct ids m;
    assert_int_equal(read(fds[0], &m, sizeof m), (ssize_t)sizeof m);
    WT_OK(weft_process_join(p, 5 * WEFT_SEC));
    int code = -1;
    WT_OK(weft_process_exitcode(p, &code));
    assert_int_equal(code, 0);
    assert_int_equal(m.pid, weft_process_pid(p));
    assert_int_equal(m.parent, getpid());
    assert_int_equal(m.os_parent, getpid());
    assert_string_equal(m.name, "worker");
    assert_string_equal(weft_process_name(p), "worker");
    assert_string_equal(weft_process_current_name(), "MainProcess");
    assert_int_equal(weft_process_current_pid(), getpid());
    assert_int_equal(weft_process_parent_pid(), getppid());
    weft_process_destroy(p);
    close(fds[0]);
    close(fds[1]);

    /* default names are Process-N, renames stay readable */
    WT_OK(weft_process_create(&p, NULL));
    assert_memory_equal(weft_process_name(p), "Process-", 8);
    const char *old = weft_process_name(p);
    WT_OK(weft_process_set_name(p, "renamed"));
    assert_string_equal(weft_process_name(p), "renamed");
    assert_memory_equal(old, "Process-", 8);
    weft_process_destroy(p);
}

/* ------------------------------------------------------------ spawn */

static int check_hello(void *arg, size_t len) {
    if (len != 5 || memcmp(arg, "hello", 5) != 0) return 1;
    if ((uintptr_t)arg % 16 != 0) return 2;
    if (strcmp(weft_process_current_name(), "speller") != 0) return 3;
    if (weft_process_parent_pid() != getppid()) return 4;
    return 42;
}
WEFT_REGISTER_FUNCTION(check_hello)

static int check_pattern(void *arg, size_t len) {
    const unsigned char *b = arg;
    if (len != 100000) return 1;
    for (size_t i = 0; i < len; i++)
        if (b[i] != (unsigned char)(i * 7)) return 2;
    return 43;
}
WEFT_REGISTER_FUNCTION(check_pattern)

static int no_arg(void *arg, size_t len) { return arg == NULL && len == 0 ? 44 : 1; }
WEFT_REGISTER_FUNCTION(no_arg)

static int registered_sleep(void *arg, size_t len) { return sleep_30s(arg, len); }
WEFT_REGISTER_FUNCTION(registered_sleep)

static int unregistered(void *arg, size_t len) {
    (void)arg;
    (void)len;
    return 0;
}

static int run_method(int method, weft_process_fn fn, const void *arg, size_t len, const char *name) {
    weft_process *p;
    weft_process_options o = WEFT_PROCESS_OPTIONS_INIT;
    o.start_method = method;
    o.name = name;
    int code = -1000;
    WT_OK(weft_process_spawn(&p, fn, arg, len, &o));
    WT_OK(weft_process_join(p, 10 * WEFT_SEC));
    WT_OK(weft_process_exitcode(p, &code));
    weft_process_destroy(p);
    return code;
}

static void test_process_spawn_runs_a_registered_function_with_a_copy_of_the_bytes(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    assert_int_equal(run_method(WEFT_START_SPAWN, check_hello, "hello", 5, "speller"), 42);
    assert_int_equal(run_method(WEFT_START_SPAWN, no_arg, NULL, 0, NULL), 44);
    unsigned char *big = malloc(100000);
    assert_non_null(big);
    for (size_t i = 0; i < 100000; i++) big[i] = (unsigned char)(i * 7);
    assert_int_equal(run_method(WEFT_START_SPAWN, check_pattern, big, 100000, NULL), 43);
    free(big);
}

static void test_process_unknown_function_name_gives_its_exit_code(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    int methods[] = {WEFT_START_FORK, WEFT_START_SPAWN, WEFT_START_FORKSERVER};
    for (int i = 0; i < 3; i++) {
        weft_process *p;
        weft_process_options o = WEFT_PROCESS_OPTIONS_INIT;
        o.start_method = methods[i];
        int code = -1;
        WT_OK(weft_process_create(&p, &o));
        WT_OK(weft_process_start_named(p, "no_such_function", NULL, 0));
        WT_OK(weft_process_join(p, 10 * WEFT_SEC));
        WT_OK(weft_process_exitcode(p, &code));
        assert_int_equal(code, WEFT_PROCESS_EXIT_NO_FUNCTION);
        weft_process_destroy(p);
    }
    /* a known name starts as well */
    weft_process *p;
    weft_process_options o = WEFT_PROCESS_OPTIONS_INIT;
    o.start_method = WEFT_START_SPAWN;
    int code = -1;
    WT_OK(weft_process_create(&p, &o));
    WT_OK(weft_process_start_named(p, "no_arg", NULL, 0));
    WT_OK(weft_process_join(p, 10 * WEFT_SEC));
    WT_OK(weft_process_exitcode(p, &code));
    assert_int_equal(code, 44);
    weft_process_destroy(p);
}

/* ------------------------------------------------------- forkserver */

struct fs_ids {
    int64_t parent, server;
};

static int check_forkserver_child(void *arg, size_t len) {
    struct fs_ids want;
    if (len != sizeof want) return 1;
    memcpy(&want, arg, sizeof want);
    if (weft_process_parent_pid() != want.parent) return 2;
    if (getppid() != want.server) return 3;
    return 45;
}
WEFT_REGISTER_FUNCTION(check_forkserver_child)

static void test_process_forkserver_forks_children_and_reports_their_exit(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    WT_OK(weft_forkserver_start());
    WT_OK(weft_forkserver_start()); /* running already: nothing happens */
    int64_t server = weft_forkserver_pid();
    assert_true(server > 0);
    assert_int_equal(ppid_of((pid_t)server), getpid());
    struct fs_ids ids = {getpid(), server};
    assert_int_equal(run_method(WEFT_START_FORKSERVER, check_forkserver_child, &ids, sizeof ids, NULL), 45);
    assert_int_equal(run_method(WEFT_START_FORKSERVER, no_arg, NULL, 0, NULL), 44);
    unsigned char *big = malloc(100000); /* past the inline limit: a memfd */
    assert_non_null(big);
    for (size_t i = 0; i < 100000; i++) big[i] = (unsigned char)(i * 7);
    assert_int_equal(run_method(WEFT_START_FORKSERVER, check_pattern, big, 100000, NULL), 43);
    free(big);

    /* pid, is_alive, join timeout and kill of a child we are not the OS parent of */
    weft_process *p;
    weft_process_options o = WEFT_PROCESS_OPTIONS_INIT;
    o.start_method = WEFT_START_FORKSERVER;
    int code = 0;
    WT_OK(weft_process_spawn(&p, registered_sleep, NULL, 0, &o));
    int64_t pid = weft_process_pid(p);
    assert_true(pid > 0);
    assert_int_equal(ppid_of((pid_t)pid), (pid_t)server);
    assert_int_equal(weft_process_is_alive(p), 1);
    WT_EXPECT(WEFT_ETIMEDOUT, weft_process_join(p, 20 * WEFT_MSEC));
    int64_t kids[8];
    size_t n = weft_process_active_children(kids, 8);
    int found = 0;
    for (size_t i = 0; i < n && i < 8; i++) found |= kids[i] == pid;
    assert_true(found);
    WT_OK(weft_process_terminate(p));
    WT_OK(weft_process_join(p, 5 * WEFT_SEC));
    WT_OK(weft_process_exitcode(p, &code));
    assert_int_equal(code, -SIGTERM);
    weft_process_destroy(p);
}

/* A forkserver child reports its exit code itself when its function
 * returns; one that ends another way is reported by the server, and its
 * own fork children (which inherit its status socket) never report for it. */
static int return_nine(void *arg, size_t len) {
    (void)arg;
    (void)len;
    return 9;
}
WEFT_REGISTER_FUNCTION(return_nine)

static int fork_a_child_then_exit_by_itself(void *arg, size_t len) {
    (void)arg;
    (void)len;
    weft_process *g;
    int code = -1;
    if (weft_process_spawn(&g, return_nine, NULL, 0, NULL) != WEFT_OK) _exit(1); /* fork */
    if (weft_process_join(g, 10 * WEFT_SEC) != WEFT_OK || weft_process_exitcode(g, &code) != WEFT_OK) _exit(2);
    weft_process_destroy(g);
    _exit(code == 9 ? 46 : 3); /* not through weft's return path */
}
WEFT_REGISTER_FUNCTION(fork_a_child_then_exit_by_itself)

static int exit_by_itself(void *arg, size_t len) {
    (void)arg;
    (void)len;
    exit(47);
}
WEFT_REGISTER_FUNCTION(exit_by_itself)

static void test_process_forkserver_child_that_exits_by_itself_reads_its_own_code(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    for (int i = 0; i < 3; i++) {
        assert_int_equal(run_method(WEFT_START_FORKSERVER, fork_a_child_then_exit_by_itself, NULL, 0, NULL), 46);
        assert_int_equal(run_method(WEFT_START_FORKSERVER, exit_by_itself, NULL, 0, NULL), 47);
        assert_int_equal(run_method(WEFT_START_FORKSERVER, no_arg, NULL, 0, NULL), 44);
    }
    /* many short children in a row: each join sees its own child's code */
    for (int i = 0; i < 50; i++)
        assert_int_equal(run_method(WEFT_START_FORKSERVER, i % 2 ? no_arg : return_nine, NULL, 0, NULL),
                         i % 2 ? 44 : 9);
}

static void test_process_killed_forkserver_is_replaced_and_its_children_read_killed(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    WT_OK(weft_forkserver_start());
    int64_t old = weft_forkserver_pid();
    assert_true(old > 0);
    weft_process *p;
    weft_process_options o = WEFT_PROCESS_OPTIONS_INIT;
    o.start_method = WEFT_START_FORKSERVER;
    o.daemon = 1;
    WT_OK(weft_process_spawn(&p, registered_sleep, NULL, 0, &o));
    assert_int_equal(kill((pid_t)old, SIGKILL), 0);
    WT_OK(weft_process_join(p, 5 * WEFT_SEC)); /* the server's end is reported, never waited on forever */
    int code = 0;
    WT_OK(weft_process_exitcode(p, &code));
    assert_int_equal(code, -SIGKILL);
    weft_process_destroy(p);
    int gone = 0;
    for (int i = 0; i < 1000 && !gone; i++) { /* the server is our child: weft reaps it */
        gone = weft_forkserver_pid() == 0;
        if (!gone) wt_sleep_ms(2);
    }
    assert_true(gone);
    assert_int_equal(run_method(WEFT_START_FORKSERVER, no_arg, NULL, 0, NULL), 44); /* a new server */
    assert_true(weft_forkserver_pid() > 0);
    assert_true(weft_forkserver_pid() != old);
}

/* Children that end without reporting: the server's wait status answers,
 * asked for by the join (or is_alive) that finds the child gone. */
static int die_by(void *arg, size_t len) {
    int how = len == sizeof(int) ? *(const int *)arg : 0;
    if (how == 1) raise(SIGKILL);
    if (how == 2) kill(getpid(), SIGTERM);
    if (how == 3) _exit(3);
    if (how == 4) exit(4);
    return 5;
}
WEFT_REGISTER_FUNCTION(die_by)

static int code_of_death(int how) {
    static const int codes[] = {5, -SIGKILL, -SIGTERM, 3, 4};
    return codes[how];
}

static void test_process_forkserver_child_ending_without_a_report_reads_the_servers_status(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    WT_OK(weft_forkserver_start());
    for (int i = 0; i < 25; i++) { /* one right after another: the server is busy with starts */
        int how = i % 5;
        assert_int_equal(run_method(WEFT_START_FORKSERVER, die_by, &how, sizeof how, NULL), code_of_death(how));
    }
    /* is_alive alone (no join) sees the end too */
    weft_process_options o = WEFT_PROCESS_OPTIONS_INIT;
    o.start_method = WEFT_START_FORKSERVER;
    for (int how = 1; how <= 3; how++) {
        weft_process *p;
        WT_OK(weft_process_spawn(&p, die_by, &how, sizeof how, &o));
        int alive = 1;
        for (int i = 0; i < 2500 && alive; i++) {
            alive = weft_process_is_alive(p);
            if (alive) wt_sleep_ms(2);
        }
        assert_int_equal(alive, 0);
        int code = 0;
        WT_OK(weft_process_exitcode(p, &code));
        assert_int_equal(code, code_of_death(how));
        weft_process_destroy(p);
    }
}

/* Several threads start and join forkserver children at once, some of which
 * end without a report: every join reads its own child's code. */
enum { kFsThreads = 4, kFsStarts = 15 };

static void *start_and_join_many(void *arg) {
    intptr_t t = (intptr_t)arg;
    weft_process_options o = WEFT_PROCESS_OPTIONS_INIT;
    o.start_method = WEFT_START_FORKSERVER;
    for (int i = 0; i < kFsStarts; i++) {
        int how = (int)((t + i) % 5);
        weft_process *p;
        int code = -1000;
        if (weft_process_spawn(&p, die_by, &how, sizeof how, &o) != WEFT_OK) return (void *)1;
        if (weft_process_join(p, 10 * WEFT_SEC) != WEFT_OK || weft_process_exitcode(p, &code) != WEFT_OK)
            return (void *)2;
        weft_process_destroy(p);
        if (code != code_of_death(how)) return (void *)3;
    }
    return NULL;
}

static void test_process_forkserver_starts_and_joins_from_many_threads(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    WT_OK(weft_forkserver_start());
    weft_thread *t[kFsThreads];
    for (int i = 0; i < kFsThreads; i++) WT_OK(weft_thread_spawn(&t[i], start_and_join_many, (void *)(intptr_t)i, NULL));
    for (int i = 0; i < kFsThreads; i++) {
        void *r = (void *)9;
        WT_OK(weft_thread_join(t[i], &r, 60 * WEFT_SEC));
        assert_null(r);
        weft_thread_destroy(t[i]);
    }
}

/* The server reaps its ended children when starts stop coming too: none
 * stays a zombie, and a detached child that ends without a report leaves
 * weft_process_active_children(). */
static void test_process_forkserver_reaps_its_children_when_starts_stop(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    WT_OK(weft_forkserver_start());
    weft_process_options o = WEFT_PROCESS_OPTIONS_INIT;
    o.start_method = WEFT_START_FORKSERVER;
    int64_t pids[6];
    for (int i = 0; i < 5; i++) {
        int how = i;
        weft_process *p;
        WT_OK(weft_process_spawn(&p, die_by, &how, sizeof how, &o));
        pids[i] = weft_process_pid(p);
        WT_OK(weft_process_join(p, 10 * WEFT_SEC));
        weft_process_destroy(p);
    }
    /* detached while it runs; it then ends without a report */
    weft_process *d;
    WT_OK(weft_process_spawn(&d, registered_sleep, NULL, 0, &o));
    pids[5] = weft_process_pid(d);
    weft_process_destroy(d);
    int64_t kids[8];
    size_t n = weft_process_active_children(kids, 8);
    int listed = 0;
    for (size_t i = 0; i < n && i < 8; i++) listed |= kids[i] == pids[5];
    assert_true(listed);
    assert_int_equal(kill((pid_t)pids[5], SIGKILL), 0);
    int left = 1;
    for (int w = 0; w < 2500 && left; w++) {
        left = 0;
        for (int i = 0; i < 6; i++) left += wt_proc_state(pids[i]) != 0; /* gone: reaped */
        n = weft_process_active_children(kids, 8);
        for (size_t i = 0; i < n && i < 8; i++) left += kids[i] == pids[5];
        if (left) wt_sleep_ms(2);
    }
    assert_int_equal(left, 0);
}

/* A server running this program starts with LD_BIND_NOW=1 added to its
 * environment and takes it out again: its children see ours. */
static int bind_now_is(void *arg, size_t len) {
    int want = len == sizeof(int) ? *(const int *)arg : -1;
    return (getenv("LD_BIND_NOW") != NULL) == want ? 61 : 62;
}
WEFT_REGISTER_FUNCTION(bind_now_is)

static void test_process_forkserver_children_see_the_callers_environment(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    int want = getenv("LD_BIND_NOW") != NULL;
    assert_int_equal(run_method(WEFT_START_FORKSERVER, bind_now_is, &want, sizeof want, NULL), 61);
}


struct fs_pair {
    int32_t server, child;
};

static int start_forkserver_child_then_sleep(void *arg, size_t len) {
    (void)len;
    int fd = *(int *)arg;
    if (weft_forkserver_start() != WEFT_OK) return 1;
    weft_process *g;
    weft_process_options o = WEFT_PROCESS_OPTIONS_INIT;
    o.start_method = WEFT_START_FORKSERVER;
    o.daemon = 1;
    if (weft_process_spawn(&g, registered_sleep, NULL, 0, &o) != WEFT_OK) return 2;
    struct fs_pair v = {(int32_t)weft_forkserver_pid(), (int32_t)weft_process_pid(g)};
    if (write(fd, &v, sizeof v) != (ssize_t)sizeof v) return 3;
    return sleep_30s(NULL, 0);
}

static void test_process_forkserver_and_its_daemon_children_die_with_their_parent(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    weft_process *m;
    WT_OK(weft_process_spawn(&m, start_forkserver_child_then_sleep, &fds[1], sizeof(int), NULL));
    struct fs_pair v = {0, 0};
    assert_int_equal(read(fds[0], &v, sizeof v), (ssize_t)sizeof v);
    assert_int_equal(ppid_of(v.server), (pid_t)weft_process_pid(m)); /* the middle's own server */
    assert_int_equal(ppid_of(v.child), v.server);
    WT_OK(weft_process_kill(m));
    WT_OK(weft_process_join(m, 5 * WEFT_SEC));
    int st = 0;
    assert_true(reap_within(v.server, &st, 1000));
    assert_true(WIFEXITED(st));
    assert_true(reap_within(v.child, &st, 1000));
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    /* the server's idle spare (forked ahead) died with it, adopted by us too */
    assert_int_equal(reap_adopted((pid_t)weft_forkserver_pid(), 2000), 0);
    weft_process_destroy(m);
    close(fds[0]);
    close(fds[1]);
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
}

/* ------------------------------------- a forkserver from a chosen program */

/* The server is this test program, started with a leading argument of its
 * own (main() passes argv + 1 to weft_main() then): its children are forks
 * of it and see its command line. */
static const char kServerFlag[] = "--test-process-server";

static void self_path(char *buf, size_t cap) {
    ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
    assert_true(n > 0);
    buf[n] = '\0';
}

/* 51 when this process (a fork of the server) has kServerFlag as argv[1]. */
static int check_server_argv(void *arg, size_t len) {
    (void)arg;
    (void)len;
    char cmd[4096];
    FILE *f = fopen("/proc/self/cmdline", "r");
    if (!f) return 1;
    size_t n = fread(cmd, 1, sizeof cmd - 1, f);
    fclose(f);
    cmd[n] = '\0';
    const char *second = cmd + strlen(cmd) + 1; /* argv[1] */
    if (second >= cmd + n || strcmp(second, kServerFlag) != 0) return 2;
    return 51;
}
WEFT_REGISTER_FUNCTION(check_server_argv)

static int sleep_then_return_52(void *arg, size_t len) {
    (void)arg;
    (void)len;
    wt_sleep_ms(300);
    return 52;
}
WEFT_REGISTER_FUNCTION(sleep_then_return_52)

static weft_process *start_via(weft_forkserver *fs, weft_process_fn fn, const void *arg, size_t len, int daemon) {
    weft_process *p = NULL;
    weft_process_options o = WEFT_PROCESS_OPTIONS_INIT;
    o.start_method = WEFT_START_FORKSERVER;
    o.forkserver = fs;
    o.daemon = daemon;
    WT_OK(weft_process_spawn(&p, fn, arg, len, &o));
    return p;
}

static int join_code(weft_process *p) {
    int code = -1000;
    WT_OK(weft_process_join(p, 10 * WEFT_SEC));
    WT_OK(weft_process_exitcode(p, &code));
    weft_process_destroy(p);
    return code;
}

static void test_process_forkserver_from_a_program_forks_its_children(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    char path[4096];
    self_path(path, sizeof path);
    const char *const args[] = {kServerFlag, NULL};
    weft_forkserver *fs = NULL;
    WT_OK(weft_forkserver_start_program(path, args, &fs));
    assert_non_null(fs);
    int64_t server = weft_forkserver_program_pid(fs);
    assert_true(server > 0);
    assert_true(server != weft_forkserver_pid()); /* not the process-wide one */
    assert_int_equal(ppid_of((pid_t)server), getpid());

    /* exit codes, the argument bytes, pid/ppid: as with the process-wide server */
    assert_int_equal(join_code(start_via(fs, check_server_argv, NULL, 0, 0)), 51);
    struct fs_ids ids = {getpid(), server};
    assert_int_equal(join_code(start_via(fs, check_forkserver_child, &ids, sizeof ids, 1)), 45);
    assert_int_equal(join_code(start_via(fs, exit_by_itself, NULL, 0, 0)), 47);
    unsigned char *big = malloc(100000); /* past the inline limit: a memfd */
    assert_non_null(big);
    for (size_t i = 0; i < 100000; i++) big[i] = (unsigned char)(i * 7);
    assert_int_equal(join_code(start_via(fs, check_pattern, big, 100000, 0)), 43);
    free(big);
    for (int i = 0; i < 20; i++) /* one after another: each join reads its own child's code */
        assert_int_equal(join_code(start_via(fs, i % 2 ? no_arg : return_nine, NULL, 0, i % 3 == 0)), i % 2 ? 44 : 9);
    /* a signal's code comes from the server */
    weft_process *p = start_via(fs, registered_sleep, NULL, 0, 0);
    assert_int_equal(ppid_of((pid_t)weft_process_pid(p)), (pid_t)server);
    WT_EXPECT(WEFT_ETIMEDOUT, weft_process_join(p, 20 * WEFT_MSEC));
    WT_OK(weft_process_terminate(p));
    assert_int_equal(join_code(p), -SIGTERM);

    /* the server dies: its daemon child with it; the next start starts it again */
    p = start_via(fs, registered_sleep, NULL, 0, 1);
    assert_int_equal(kill((pid_t)server, SIGKILL), 0);
    assert_int_equal(join_code(p), -SIGKILL);
    int gone = 0;
    for (int i = 0; i < 1000 && !gone; i++) { /* our child: weft reaps it */
        gone = weft_forkserver_program_pid(fs) == 0;
        if (!gone) wt_sleep_ms(2);
    }
    assert_true(gone);
    assert_int_equal(join_code(start_via(fs, check_server_argv, NULL, 0, 0)), 51); /* same program, same argv */
    int64_t again = weft_forkserver_program_pid(fs);
    assert_true(again > 0 && again != server);
    /* killed and not yet reaped when the next starts come: they work (an idle child it offered
     * before it died may take one), and the server is started again */
    assert_int_equal(kill((pid_t)again, SIGKILL), 0);
    char pstate = 0;
    for (int i = 0; i < 1000 && (pstate = wt_proc_state((pid_t)again)) != 'Z'; i++) wt_sleep_ms(2);
    assert_int_equal(pstate, 'Z');
    assert_int_equal(join_code(start_via(fs, check_server_argv, NULL, 0, 0)), 51);
    assert_int_equal(join_code(start_via(fs, return_nine, NULL, 0, 0)), 9);
    server = again;
    again = weft_forkserver_program_pid(fs);
    assert_true(again > 0 && again != server);

    /* the idle child the server offered ahead is killed: a start takes the next one */
    pid_t idle = 0;
    for (int i = 0; i < 1000 && idle == 0; i++) {
        DIR *dir = opendir("/proc");
        assert_non_null(dir);
        struct dirent *e;
        while ((e = readdir(dir)) != NULL && idle == 0)
            if (e->d_name[0] >= '1' && e->d_name[0] <= '9' && ppid_of((pid_t)atoi(e->d_name)) == (pid_t)again)
                idle = (pid_t)atoi(e->d_name);
        closedir(dir);
        if (idle == 0) wt_sleep_ms(2);
    }
    assert_true(idle > 0);
    assert_int_equal(kill(idle, SIGKILL), 0);
    char istate = 'R';
    for (int i = 0; i < 1000 && (istate = wt_proc_state(idle)) != 'Z' && istate != 0; i++) wt_sleep_ms(2);
    assert_true(istate == 'Z' || istate == 0); /* dead, reaped by the server or not yet */
    assert_int_equal(join_code(start_via(fs, check_server_argv, NULL, 0, 0)), 51);
    assert_int_equal(join_code(start_via(fs, return_nine, NULL, 0, 0)), 9);
    assert_int_equal(weft_forkserver_program_pid(fs), again);

    /* destroy: a daemon child dies with the server, another finishes and reads its code */
    weft_process *d = start_via(fs, registered_sleep, NULL, 0, 1);
    weft_process *n = start_via(fs, sleep_then_return_52, NULL, 0, 0);
    weft_forkserver_destroy(fs);
    int st;
    assert_int_equal(waitpid((pid_t)again, &st, WNOHANG), -1); /* reaped by destroy */
    assert_int_equal(join_code(d), -SIGKILL);
    assert_int_equal(join_code(n), 52);
}

static void test_process_forkserver_program_rejects_bad_input(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_forkserver *fs = (weft_forkserver *)&fs; /* overwritten with NULL on failure */
    WT_EXPECT(WEFT_EINVAL, weft_forkserver_start_program("/bin/true", NULL, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_forkserver_start_program("", NULL, &fs));
    assert_null(fs);
    const char *many[70];
    for (int i = 0; i < 69; i++) many[i] = "x";
    many[69] = NULL;
    WT_EXPECT(WEFT_EINVAL, weft_forkserver_start_program("/bin/true", many, &fs));
    WT_EXPECT(WEFT_ENOENT, weft_forkserver_start_program("/nonexistent/weft-server", NULL, &fs));
    assert_non_null(strstr(weft_last_error()->message, "/nonexistent/weft-server"));
    char tmpl[] = "/tmp/weft-noexec-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    close(fd);
    WT_EXPECT(WEFT_EPERM, weft_forkserver_start_program(tmpl, NULL, &fs));
    unlink(tmpl);
    /* a program that does not call weft_main(): no answer, killed and reaped */
    WT_EXPECT(WEFT_ENOTSUP, weft_forkserver_start_program("/bin/true", NULL, &fs));
    assert_null(fs);
    char path[4096];
    self_path(path, sizeof path);

    /* handles */
    assert_int_equal(weft_forkserver_program_pid(NULL), WEFT_EMISUSE);
    int not_a_server[16] = {0};
    assert_int_equal(weft_forkserver_program_pid((weft_forkserver *)not_a_server), WEFT_EMISUSE);
    weft_forkserver_destroy(NULL); /* no-op */
    weft_forkserver_destroy((weft_forkserver *)not_a_server);

    /* options: a forkserver only with the forkserver start method; version 1 still reads */
    weft_process *p = (weft_process *)&p;
    weft_process_options o = WEFT_PROCESS_OPTIONS_INIT;
    o.forkserver = (weft_forkserver *)not_a_server;
    o.start_method = WEFT_START_FORKSERVER;
    WT_EXPECT(WEFT_EMISUSE, weft_process_create(&p, &o));
    assert_null(p);
    const char *const args[] = {kServerFlag, NULL};
    WT_OK(weft_forkserver_start_program(path, args, &fs));
    o.forkserver = fs;
    o.start_method = WEFT_START_FORK;
    WT_EXPECT(WEFT_EINVAL, weft_process_create(&p, &o));
    o.start_method = WEFT_START_SPAWN;
    WT_EXPECT(WEFT_EINVAL, weft_process_create(&p, &o));
    o.version = 1; /* a caller built against version 1: no forkserver field is read */
    o.start_method = WEFT_START_FORKSERVER;
    WT_OK(weft_process_create(&p, &o));
    weft_process_destroy(p);
    o.version = 3;
    WT_EXPECT(WEFT_EINVAL, weft_process_create(&p, &o));
    weft_forkserver_destroy(fs);
}

/* A program whose symbols cannot all be bound at start (the loader exits
 * with 127 under LD_BIND_NOW; main() plays that part when kFailBindNow is
 * set) gets a server started again without. */
static const char kFailBindNow[] = "WEFT_TEST_PROCESS_FAIL_BIND_NOW";

static void test_process_forkserver_starts_without_bind_now_when_the_loader_fails(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    assert_int_equal(setenv(kFailBindNow, "1", 1), 0);
    weft_forkserver *fs = NULL;
    weft_status s = weft_forkserver_start_program(NULL, NULL, &fs); /* this program */
    assert_int_equal(unsetenv(kFailBindNow), 0);
    WT_OK(s);
    int want = getenv("LD_BIND_NOW") != NULL;
    assert_int_equal(join_code(start_via(fs, bind_now_is, &want, sizeof want, 0)), 61);
    assert_int_equal(join_code(start_via(fs, return_nine, NULL, 0, 0)), 9);
    weft_forkserver_destroy(fs);
}

/* ------------------------------------------------------------ programs */

static void test_process_program_gets_argv_env_cwd_and_redirected_stdout(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    for (int daemon = 0; daemon < 2; daemon++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        char *argv[] = {"sh", "-c", "echo \"$1 $WEFT_X $(pwd)\"; cat", "sh", "first", NULL};
        char *envp[] = {"WEFT_X=hello", "PATH=/usr/bin:/bin", NULL};
        weft_exec_options xo = WEFT_EXEC_OPTIONS_INIT;
        xo.cwd = "/";
        xo.stdout_fd = fds[1];
        xo.stdin_fd = WEFT_FD_NULL; /* cat ends at once */
        xo.search_path = 1;
        weft_process *p;
        weft_process_options o = WEFT_PROCESS_OPTIONS_INIT;
        o.daemon = daemon;
        WT_OK(weft_process_create(&p, &o));
        WT_OK(weft_process_start_program(p, "sh", argv, envp, &xo));
        close(fds[1]);
        char buf[128];
        size_t got = 0;
        ssize_t r;
        while (got < sizeof buf - 1 && (r = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0) got += (size_t)r;
        buf[got] = '\0';
        close(fds[0]);
        WT_OK(weft_process_join(p, 5 * WEFT_SEC));
        int code = -1;
        WT_OK(weft_process_exitcode(p, &code));
        assert_int_equal(code, 0);
        assert_string_equal(buf, "first hello /\n");
        weft_process_destroy(p);
    }
    /* exit status of a program */
    weft_process *p;
    char *argv[] = {"/bin/sh", "-c", "exit 3", NULL};
    int code = -1;
    WT_OK(weft_process_create(&p, NULL));
    WT_OK(weft_process_start_program(p, "/bin/sh", argv, NULL, NULL));
    WT_OK(weft_process_join(p, 5 * WEFT_SEC));
    WT_OK(weft_process_exitcode(p, &code));
    assert_int_equal(code, 3);
    weft_process_destroy(p);
}

static void test_process_missing_program_is_enoent_with_its_path(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    for (int daemon = 0; daemon < 2; daemon++) {
        weft_process *p;
        weft_process_options o = WEFT_PROCESS_OPTIONS_INIT;
        o.daemon = daemon;
        WT_OK(weft_process_create(&p, &o));
        WT_EXPECT(WEFT_ENOENT, weft_process_start_program(p, "/nonexistent/weft-no-such-program", NULL, NULL, NULL));
        assert_non_null(strstr(weft_last_error()->message, "/nonexistent/weft-no-such-program"));
        weft_exec_options xo = WEFT_EXEC_OPTIONS_INIT;
        xo.search_path = 1;
        WT_EXPECT(WEFT_ENOENT, weft_process_start_program(p, "weft-no-such-program", NULL, NULL, &xo));
        assert_non_null(strstr(weft_last_error()->message, "weft-no-such-program"));
        WT_EXPECT(WEFT_ESTATE, weft_process_join(p, 0)); /* a failed start leaves it unstarted */
        char *argv[] = {"/bin/true", NULL};
        WT_OK(weft_process_start_program(p, "/bin/true", argv, NULL, NULL)); /* and startable */
        WT_OK(weft_process_join(p, 5 * WEFT_SEC));
        weft_process_destroy(p);
    }
}

/* ------------------------------------------------------------ trees */

static int fork_grandchild_then_sleep(void *arg, size_t len) {
    (void)len;
    int fd = *(int *)arg;
    pid_t g = fork();
    if (g == 0) {
        for (;;) pause();
    }
    int32_t v = (int32_t)g;
    if (write(fd, &v, sizeof v) != (ssize_t)sizeof v) return 1;
    return sleep_30s(NULL, 0);
}

static void test_process_kill_tree_leaves_no_survivor(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0); /* orphans come to us: we can reap them */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    weft_process *p;
    WT_OK(weft_process_spawn(&p, fork_grandchild_then_sleep, &fds[1], sizeof(int), NULL));
    int32_t g = 0;
    assert_int_equal(read(fds[0], &g, sizeof g), (ssize_t)sizeof g);
    assert_int_equal(ppid_of(g), (pid_t)weft_process_pid(p));
    WT_EXPECT(WEFT_EINVAL, weft_process_kill_tree(p, 0));
    WT_OK(weft_process_kill_tree(p, SIGKILL));
    WT_OK(weft_process_join(p, 5 * WEFT_SEC));
    int code = 0;
    WT_OK(weft_process_exitcode(p, &code));
    assert_int_equal(code, -SIGKILL);
    int st = 0;
    assert_true(reap_within(g, &st, 2000));
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    weft_process_destroy(p);
    close(fds[0]);
    close(fds[1]);
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
}

struct middle_args {
    int fd;
    int daemon;
};

static int start_grandchild_then_sleep(void *arg, size_t len) {
    (void)len;
    struct middle_args *a = arg;
    weft_process *g;
    weft_process_options o = WEFT_PROCESS_OPTIONS_INIT;
    o.daemon = a->daemon;
    if (weft_process_spawn(&g, sleep_30s, NULL, 0, &o) != WEFT_OK) return 1;
    int32_t v = (int32_t)weft_process_pid(g);
    if (write(a->fd, &v, sizeof v) != (ssize_t)sizeof v) return 2;
    return sleep_30s(NULL, 0);
}

/* parent (us) -> middle -> grandchild; SIGKILL the middle. */
static int32_t kill_middle(int daemon) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    struct middle_args a = {fds[1], daemon};
    weft_process *m;
    WT_OK(weft_process_spawn(&m, start_grandchild_then_sleep, &a, sizeof a, NULL));
    int32_t g = 0;
    assert_int_equal(read(fds[0], &g, sizeof g), (ssize_t)sizeof g);
    assert_int_equal(kill(g, 0), 0);
    WT_OK(weft_process_kill(m));
    WT_OK(weft_process_join(m, 5 * WEFT_SEC));
    weft_process_destroy(m);
    close(fds[0]);
    close(fds[1]);
    return g;
}

static void test_process_daemon_grandchild_dies_when_its_parent_is_sigkilled(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int32_t g = kill_middle(1);
    int st = 0;
    int64_t t0 = weft_monotonic_ns();
    assert_true(reap_within(g, &st, 1000));
    assert_true(wt_ms_since(t0) < 1000);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
}

static void test_process_non_daemon_grandchild_outlives_its_parent(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int32_t g = kill_middle(0);
    int st = 0;
    assert_false(reap_within(g, &st, 150)); /* still running, now our orphan */
    assert_int_equal(ppid_of(g), getpid());
    assert_int_equal(kill(g, SIGKILL), 0);
    assert_true(reap_within(g, &st, 2000));
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
}

static void *start_daemon_from_thread(void *arg) {
    weft_process *p = NULL;
    weft_process_options o = WEFT_PROCESS_OPTIONS_INIT;
    o.daemon = *(int *)arg;
    if (weft_process_spawn(&p, sleep_30s, NULL, 0, &o) != WEFT_OK) return NULL;
    return p;
}

static void test_process_daemon_started_by_an_exiting_thread_dies_with_that_thread(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    /* The documented limit of PR_SET_PDEATHSIG: the forking thread's end counts. */
    for (int daemon = 1; daemon >= 0; daemon--) {
        weft_thread *t;
        void *r = NULL;
        WT_OK(weft_thread_spawn(&t, start_daemon_from_thread, &daemon, NULL));
        WT_OK(weft_thread_join(t, &r, 5 * WEFT_SEC));
        weft_thread_destroy(t);
        weft_process *p = r;
        assert_non_null(p);
        int code = 0;
        if (daemon) {
            WT_OK(weft_process_join(p, 5 * WEFT_SEC));
            WT_OK(weft_process_exitcode(p, &code));
            assert_int_equal(code, -SIGKILL);
        } else {
            WT_EXPECT(WEFT_ETIMEDOUT, weft_process_join(p, 100 * WEFT_MSEC));
            WT_OK(weft_process_kill(p));
            WT_OK(weft_process_join(p, 5 * WEFT_SEC));
        }
        weft_process_destroy(p);
    }
}

/* ------------------------------------------------------------ teardown */

static void test_process_destroy_kills_a_running_daemon_and_detaches_others(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process *p;
    weft_process_options o = WEFT_PROCESS_OPTIONS_INIT;
    o.daemon = 1;
    WT_OK(weft_process_spawn(&p, sleep_30s, NULL, 0, &o));
    assert_int_equal(weft_process_is_daemon(p), 1);
    pid_t pid = (pid_t)weft_process_pid(p);
    weft_process_destroy(p);
    assert_int_equal(kill(pid, 0), -1); /* killed and reaped */
    assert_int_equal(errno, ESRCH);

    /* a forkserver daemon child too */
    o.start_method = WEFT_START_FORKSERVER;
    WT_OK(weft_process_spawn(&p, registered_sleep, NULL, 0, &o));
    pid = (pid_t)weft_process_pid(p);
    weft_process_destroy(p);
    int gone = 0;
    for (int i = 0; i < 1000 && !gone; i++) {
        gone = kill(pid, 0) != 0;
        if (!gone) wt_sleep_ms(2);
    }
    assert_true(gone);

    /* non-daemon: goes on, is listed, and is reaped once it ends */
    WT_OK(weft_process_spawn(&p, sleep_30s, NULL, 0, NULL));
    pid = (pid_t)weft_process_pid(p);
    weft_process_destroy(p);
    int64_t kids[16];
    size_t n = weft_process_active_children(kids, 16);
    int found = 0;
    for (size_t i = 0; i < n && i < 16; i++) found |= kids[i] == pid;
    assert_true(found);
    assert_int_equal(kill(pid, SIGKILL), 0);
    int listed = 1;
    for (int i = 0; i < 1000 && listed; i++) {
        listed = 0;
        n = weft_process_active_children(kids, 16);
        for (size_t k = 0; k < n && k < 16; k++) listed |= kids[k] == pid;
        if (listed) wt_sleep_ms(2);
    }
    assert_false(listed);
    assert_int_equal(kill(pid, 0), -1); /* reaped: no zombie left */
}

/* -------------------------------------------------- fork with threads */

static weft_event *g_release;
static weft_semaphore *g_parked; /* each parking thread posts it once it set its TLS value */
static weft_tls_key *g_key;

static void *park_on_event(void *arg) {
    (void)weft_tls_set(g_key, arg);
    (void)weft_semaphore_release(g_parked, 1);
    (void)weft_event_wait(g_release, 10 * WEFT_SEC);
    return arg;
}

static void *return_five(void *arg) {
    (void)arg;
    return (void *)(intptr_t)5;
}

static int check_threads_in_child(void *arg, size_t len) {
    (void)arg;
    (void)len;
    if (weft_thread_active_count() != 1) return 10;
    weft_thread *cur = weft_thread_current();
    if (cur == NULL || cur != weft_thread_main()) return 11;
    weft_thread *list[4];
    size_t n = weft_thread_enumerate(list, 4);
    if (n != 1 || list[0] != cur) return 12;
    weft_thread_destroy(list[0]);
    weft_thread *t;
    void *r = NULL;
    if (weft_thread_spawn(&t, return_five, NULL, NULL) != WEFT_OK) return 13;
    if (weft_thread_join(t, &r, 5 * WEFT_SEC) != WEFT_OK || r != (void *)(intptr_t)5) return 14;
    weft_thread_destroy(t);
    void *v = NULL;
    if (weft_tls_get(g_key, &v) != WEFT_OK || v != (void *)(intptr_t)1) return 15; /* ours survives */
    if (weft_tls_set(g_key, (void *)(intptr_t)9) != WEFT_OK) return 16;
    weft_tls_key *k2;
    if (weft_tls_key_create(&k2, NULL) != WEFT_OK) return 17;
    weft_tls_key_destroy(k2);
    weft_tls_key_destroy(g_key); /* other threads' values are gone: nothing to wait for */
    return 0;
}

static void test_process_fork_with_weft_threads_alive_leaves_one_thread_in_the_child(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    WT_OK(weft_event_create(&g_release, NULL));
    WT_OK(weft_tls_key_create(&g_key, NULL));
    WT_OK(weft_tls_set(g_key, (void *)(intptr_t)1));
    weft_thread *t[2];
    WT_OK(weft_semaphore_create(&g_parked, 0, NULL));
    for (int i = 0; i < 2; i++) WT_OK(weft_thread_spawn(&t[i], park_on_event, (void *)(intptr_t)(i + 2), NULL));
    /* Fork once both threads run (hold TLS values, wait on the event), not
     * while they are still starting: a fork in the middle of another
     * thread's start (inside ASan's or glibc's thread set-up) left the
     * child's new thread hanging once under ASan at load 3+. */
    for (int i = 0; i < 2; i++) WT_OK(weft_semaphore_acquire(g_parked, 5 * WEFT_SEC));
    assert_true(weft_thread_active_count() >= 3);
    assert_int_equal(run_method(WEFT_START_FORK, check_threads_in_child, NULL, 0, NULL), 0);
    WT_OK(weft_event_set(g_release));
    for (int i = 0; i < 2; i++) {
        void *r = NULL;
        WT_OK(weft_thread_join(t[i], &r, 5 * WEFT_SEC));
        assert_ptr_equal(r, (void *)(intptr_t)(i + 2));
        weft_thread_destroy(t[i]);
    }
    weft_tls_key_destroy(g_key);
    weft_event_destroy(g_release);
    weft_semaphore_destroy(g_parked);
}

static int use_parents_handle(void *arg, size_t len) {
    (void)len;
    weft_process *q = *(weft_process **)arg;
    int code;
    if (weft_process_join(q, 0) != WEFT_ESTATE) return 1;
    if (weft_process_kill(q) != WEFT_ESTATE) return 2;
    if (weft_process_exitcode(q, &code) != WEFT_ESTATE) return 3;
    if (weft_process_is_alive(q) != 0) return 4;
    if (weft_process_pid(q) <= 0) return 5;
    if (weft_process_active_children(NULL, 0) != 0) return 6; /* the parent's children are not ours */
    weft_process_destroy(q); /* frees the copy, signals nothing */
    return 0;
}

static void test_process_parents_handle_is_refused_in_a_forked_child(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process *q;
    WT_OK(weft_process_spawn(&q, sleep_30s, NULL, 0, NULL));
    assert_int_equal(run_method(WEFT_START_FORK, use_parents_handle, &q, sizeof q, NULL), 0);
    assert_int_equal(weft_process_is_alive(q), 1); /* the child's destroy did not touch it */
    WT_OK(weft_process_kill(q));
    WT_OK(weft_process_join(q, 5 * WEFT_SEC));
    weft_process_destroy(q);
}

/* ------------------------------------------------------------ bad input */

static void test_process_rejects_bad_input(void **state) {
    (void)state;
    weft_process *p = NULL;
    weft_process_options o = WEFT_PROCESS_OPTIONS_INIT;
    int code = 0;
    WT_EXPECT(WEFT_EINVAL, weft_process_create(NULL, NULL));
    o.start_method = 9;
    WT_EXPECT(WEFT_EINVAL, weft_process_create(&p, &o));
    assert_null(p);
    o.start_method = WEFT_START_DEFAULT;
    o.version = 99;
    WT_EXPECT(WEFT_EINVAL, weft_process_create(&p, &o));

    WT_EXPECT(WEFT_EMISUSE, weft_process_start(NULL, return_arg, NULL, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_process_join(NULL, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_process_exitcode(NULL, &code));
    WT_EXPECT(WEFT_EMISUSE, weft_process_kill(NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_process_terminate(NULL));
    assert_int_equal(weft_process_is_alive(NULL), WEFT_EMISUSE);
    assert_int_equal(weft_process_pid(NULL), WEFT_EMISUSE);
    assert_null(weft_process_name(NULL));
    weft_process_destroy(NULL);
    weft_lock *plain;
    WT_OK(weft_lock_create(&plain, NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_process_join((weft_process *)plain, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_process_start((weft_process *)plain, return_arg, NULL, 0));
    weft_lock_destroy(plain);

    WT_OK(weft_process_create(&p, NULL));
    WT_EXPECT(WEFT_ESTATE, weft_process_join(p, 0));
    WT_EXPECT(WEFT_ESTATE, weft_process_exitcode(p, &code));
    WT_EXPECT(WEFT_ESTATE, weft_process_kill(p));
    WT_EXPECT(WEFT_ESTATE, weft_process_kill_tree(p, SIGTERM));
    WT_EXPECT(WEFT_EINVAL, weft_process_join(p, -2));
    WT_EXPECT(WEFT_EINVAL, weft_process_join(p, INT64_MIN));
    WT_EXPECT(WEFT_EINVAL, weft_process_start(p, NULL, NULL, 0));
    WT_EXPECT(WEFT_EINVAL, weft_process_start(p, return_arg, NULL, 3));
    WT_EXPECT(WEFT_EINVAL, weft_process_start_named(p, NULL, NULL, 0));
    WT_EXPECT(WEFT_EINVAL, weft_process_start_named(p, "", NULL, 0));
    WT_EXPECT(WEFT_EINVAL, weft_process_start_program(p, NULL, NULL, NULL, NULL));
    weft_exec_options xo = WEFT_EXEC_OPTIONS_INIT;
    xo.stdout_fd = -3;
    WT_EXPECT(WEFT_EINVAL, weft_process_start_program(p, "/bin/true", NULL, NULL, &xo));
    xo = (weft_exec_options)WEFT_EXEC_OPTIONS_INIT;
    xo.version = 0;
    WT_EXPECT(WEFT_EINVAL, weft_process_start_program(p, "/bin/true", NULL, NULL, &xo));
    WT_EXPECT(WEFT_EINVAL, weft_process_set_name(p, NULL));
    WT_OK(weft_process_set_daemon(p, 1));
    assert_int_equal(weft_process_is_daemon(p), 1);
    WT_OK(weft_process_set_daemon(p, 0));
    weft_process_destroy(p);

    /* spawn and forkserver need a registered function */
    o = (weft_process_options)WEFT_PROCESS_OPTIONS_INIT;
    o.start_method = WEFT_START_SPAWN;
    WT_EXPECT(WEFT_EINVAL, weft_process_spawn(&p, unregistered, NULL, 0, &o));
    assert_null(p);
    assert_non_null(strstr(weft_last_error()->message, "not registered"));

    WT_EXPECT(WEFT_EINVAL, weft_register(NULL, unregistered));
    WT_EXPECT(WEFT_EINVAL, weft_register("", unregistered));
    WT_EXPECT(WEFT_EINVAL, weft_register("x", NULL));
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    WT_EXPECT(WEFT_EINVAL, weft_register(longname, unregistered));
    WT_OK(weft_register("check_hello", check_hello)); /* the same pair again */
    WT_EXPECT(WEFT_EEXIST, weft_register("check_hello", unregistered));
    assert_int_equal(weft_main(1, NULL), 0);
    char *plain_argv[] = {"prog", "--verbose", NULL};
    assert_int_equal(weft_main(2, plain_argv), 0);
}

enum { kRacers = 4, kRounds = 50 };
static char g_names[kRacers][kRounds][32];

static void *register_and_create(void *arg) {
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < kRounds; i++) {
        char name[32];
        snprintf(name, sizeof name, "racer_%d_%d", id, i);
        if (weft_register(name, return_arg) != WEFT_OK) return (void *)1;
        if (weft_register("shared_by_all", return_arg) != WEFT_OK) return (void *)2;
        weft_process *p;
        if (weft_process_create(&p, NULL) != WEFT_OK) return (void *)3;
        snprintf(g_names[id][i], sizeof g_names[id][i], "%s", weft_process_name(p));
        if (weft_process_set_name(p, name) != WEFT_OK) return (void *)4;
        weft_process_destroy(p);
    }
    return NULL;
}

static void test_process_register_and_create_are_thread_safe_and_names_unique(void **state) {
    (void)state;
    weft_thread *t[kRacers];
    for (int i = 0; i < kRacers; i++) WT_OK(weft_thread_spawn(&t[i], register_and_create, (void *)(intptr_t)i, NULL));
    for (int i = 0; i < kRacers; i++) {
        void *r = (void *)9;
        WT_OK(weft_thread_join(t[i], &r, 10 * WEFT_SEC));
        assert_null(r);
        weft_thread_destroy(t[i]);
    }
    for (int a = 0; a < kRacers * kRounds; a++) {
        const char *x = g_names[a / kRounds][a % kRounds];
        assert_memory_equal(x, "Process-", 8);
        for (int b = a + 1; b < kRacers * kRounds; b++) assert_string_not_equal(x, g_names[b / kRounds][b % kRounds]);
    }
    WT_EXPECT(WEFT_EEXIST, weft_register("racer_0_0", no_arg));
}

static void test_process_starts_once_and_set_daemon_only_before(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    weft_process *p;
    WT_OK(weft_process_spawn(&p, return_arg, (void *)(intptr_t)1, 0, NULL));
    WT_EXPECT(WEFT_ESTATE, weft_process_start(p, return_arg, NULL, 0));
    char *argv[] = {"/bin/true", NULL};
    WT_EXPECT(WEFT_ESTATE, weft_process_start_program(p, "/bin/true", argv, NULL, NULL));
    WT_EXPECT(WEFT_ESTATE, weft_process_set_daemon(p, 1));
    WT_EXPECT(WEFT_EINVAL, weft_process_exitcode(p, NULL));
    WT_OK(weft_process_join(p, 5 * WEFT_SEC));
    weft_process_destroy(p);
}

/* Last: every child of ours is gone and reaped (only the forkserver runs). */
static void test_process_leaves_no_zombie_and_no_stray_child(void **state) {
    (void)state;
    WT_SKIP_UNDER_TSAN();
    (void)weft_process_active_children(NULL, 0); /* reaps detached ones */
    int st;
    pid_t w = waitpid(-1, &st, WNOHANG);
    if (w != 0) assert_int_equal(w, -1); /* -1 (ECHILD) or 0 (only live children) */
    int64_t server = weft_forkserver_pid();
    DIR *d = opendir("/proc");
    assert_non_null(d);
    struct dirent *e;
    int strays = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        pid_t pid = (pid_t)atoi(e->d_name);
        if (ppid_of(pid) == getpid() && pid != (pid_t)server) {
            print_error("stray child %d\n", (int)pid);
            strays++;
        }
    }
    closedir(d);
    assert_int_equal(strays, 0);
}

int main(int argc, char **argv) {
    /* a loader that cannot bind every symbol now (see kFailBindNow) */
    if (argc >= 2 && strncmp(argv[1], "--weft-forkserver=", 18) == 0 && getenv(kFailBindNow) && getenv("LD_BIND_NOW"))
        _exit(127);
    /* the server of test_process_forkserver_from_a_program_forks_its_children */
    if (argc >= 3 && strcmp(argv[1], kServerFlag) == 0) weft_main(argc - 1, argv + 1);
    weft_main(argc, argv); /* a spawned child or the forkserver never returns */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_process_rejects_bad_input),
        cmocka_unit_test(test_process_register_and_create_are_thread_safe_and_names_unique),
        cmocka_unit_test(test_process_exit_codes_are_the_return_value_or_minus_the_signal),
        cmocka_unit_test(test_process_join_times_out_on_a_sleeping_child),
        cmocka_unit_test(test_process_child_sees_its_pid_parent_and_name),
        cmocka_unit_test(test_process_starts_once_and_set_daemon_only_before),
        cmocka_unit_test(test_process_spawn_runs_a_registered_function_with_a_copy_of_the_bytes),
        cmocka_unit_test(test_process_unknown_function_name_gives_its_exit_code),
        cmocka_unit_test(test_process_forkserver_forks_children_and_reports_their_exit),
        cmocka_unit_test(test_process_forkserver_and_its_daemon_children_die_with_their_parent),
        cmocka_unit_test(test_process_forkserver_child_that_exits_by_itself_reads_its_own_code),
        cmocka_unit_test(test_process_killed_forkserver_is_replaced_and_its_children_read_killed),
        cmocka_unit_test(test_process_forkserver_child_ending_without_a_report_reads_the_servers_status),
        cmocka_unit_test(test_process_forkserver_starts_and_joins_from_many_threads),
        cmocka_unit_test(test_process_forkserver_reaps_its_children_when_starts_stop),
        cmocka_unit_test(test_process_forkserver_children_see_the_callers_environment),
        cmocka_unit_test(test_process_forkserver_starts_without_bind_now_when_the_loader_fails),
        cmocka_unit_test(test_process_forkserver_from_a_program_forks_its_children),
        cmocka_unit_test(test_process_forkserver_program_rejects_bad_input),
        cmocka_unit_test(test_process_program_gets_argv_env_cwd_and_redirected_stdout),
        cmocka_unit_test(test_process_missing_program_is_enoent_with_its_path),
        cmocka_unit_test(test_process_kill_tree_leaves_no_survivor),
        cmocka_unit_test(test_process_daemon_grandchild_dies_when_its_parent_is_sigkilled),
        cmocka_unit_test(test_process_non_daemon_grandchild_outlives_its_parent),
        cmocka_unit_test(test_process_daemon_started_by_an_exiting_thread_dies_with_that_thread),
        cmocka_unit_test(test_process_destroy_kills_a_running_daemon_and_detaches_others),
        cmocka_unit_test(test_process_fork_with_weft_threads_alive_leaves_one_thread_in_the_child),
        cmocka_unit_test(test_process_parents_handle_is_refused_in_a_forked_child),
        cmocka_unit_test(test_process_leaves_no_zombie_and_no_stray_child),
    };
    return cmocka_run_group_tests_name("process", tests, NULL, NULL);
}
