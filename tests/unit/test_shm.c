/* Shared memory segments (create/open/close/unlink, lifetimes, publication
 * only once initialized, creators killed half-way, creation races, foreign
 * files) and shared Value/Array (typed access, bounds and overflow, the
 * robust recursive lock across processes, owner death). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weft_test.h"

/* ---- helpers ------------------------------------------------------------ */

/* A name unique to this test process: "weft-test-<pid>-<tag>". */
static const char *tname(char *buf, size_t n, const char *tag) {
    snprintf(buf, n, "weft-test-%d-%s", (int)getpid(), tag);
    return buf;
}
#define NAME(var, tag) \
    char var##_buf[96]; \
    const char *var = tname(var##_buf, sizeof var##_buf, tag)

static int name_exists(const char *name) {
    char path[160];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    return access(path, F_OK) == 0;
}

/* How many /dev/shm entries start with `prefix`. */
static int count_entries(const char *prefix) {
    DIR *d = opendir("/dev/shm");
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) n++;
    closedir(d);
    return n;
}

static int leftovers_of(int pid) {
    char a[64], b[64];
    snprintf(a, sizeof a, "weft-test-%d-", pid);
    snprintf(b, sizeof b, ".weft.tmp.%d.", pid);
    return count_entries(a) + count_entries(b);
}

/* Every test leaves /dev/shm as it found it. */
static int check_no_leftovers(void **state) {
    (void)state;
    int n = leftovers_of((int)getpid());
    if (n != 0) print_error("%d /dev/shm entries left behind\n", n);
    assert_int_equal(n, 0);
    return 0;
}

/* Reap `pid` within `ms`; its exit code, 128+signal when killed, or -1
 * (after killing it) when it did not finish in time. */
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

/* ---- segments ----------------------------------------------------------- */

static void test_shm_anonymous_segment_is_zero_filled_and_describes_itself(void **state) {
    weft_shm *s;
    (void)state;
    WT_OK(weft_shm_create(&s, NULL, 100, NULL));
    const unsigned char *p = weft_shm_data(s);
    assert_non_null(p);
    for (int i = 0; i < 100; i++) assert_int_equal(p[i], 0);
    assert_int_equal(weft_shm_size(s), 100);
    assert_null(weft_shm_name(s));
    assert_true(weft_shm_fd(s) >= 0);
    assert_int_equal(weft_shm_created(s), 1);
    assert_int_equal(weft_shm_refs(s), 1);
    assert_int_equal((uintptr_t)p % 64, 0);
    weft_shm_close(s);
}

static void test_shm_named_segment_is_seen_by_an_independent_open(void **state) {
    NAME(name, "seen");
    weft_shm *a, *b;
    (void)state;
    WT_OK(weft_shm_create(&a, name, 4096, NULL));
    assert_string_equal(weft_shm_name(a), name);
    strcpy(weft_shm_data(a), "hello from the creator");
    WT_OK(weft_shm_open(&b, name));
    assert_int_equal(weft_shm_created(b), 0);
    assert_int_equal(weft_shm_size(b), 4096);
    assert_string_equal(weft_shm_data(b), "hello from the creator");
    assert_ptr_not_equal(weft_shm_data(a), weft_shm_data(b)); /* two mappings, one memory */
    strcpy(weft_shm_data(b), "and back");
    assert_string_equal(weft_shm_data(a), "and back");
    assert_int_equal(weft_shm_refs(a), 2);
    weft_shm_close(b);
    assert_int_equal(weft_shm_refs(a), 1);
    weft_shm_close(a);
    assert_false(name_exists(name));
}

static void test_shm_leading_slash_is_ignored_as_shm_open_does(void **state) {
    NAME(name, "slash");
    char slashed[128];
    weft_shm *a, *b;
    (void)state;
    snprintf(slashed, sizeof slashed, "/%s", name);
    WT_OK(weft_shm_create(&a, slashed, 64, NULL));
    assert_string_equal(weft_shm_name(a), name);
    WT_OK(weft_shm_open(&b, name));
    weft_shm_close(b);
    weft_shm_close(a);
}

static void test_shm_anonymous_segment_is_shared_with_a_forked_child(void **state) {
    WT_SKIP_UNDER_TSAN();
    weft_shm *s;
    (void)state;
    WT_OK(weft_shm_create(&s, NULL, 64, NULL));
    int *p = weft_shm_data(s);
    p[0] = 41;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int *q = weft_shm_data(s); /* the inherited handle copy works */
        q[1] = q[0] + 1;
        weft_shm_close(s);
        _exit(0);
    }
    assert_int_equal(reap(pid, 5000), 0);
    assert_int_equal(p[1], 42);
    weft_shm_close(s);
}

static void test_shm_named_segment_is_opened_and_written_by_another_process(void **state) {
    WT_SKIP_UNDER_TSAN();
    NAME(name, "other");
    weft_shm *s;
    (void)state;
    WT_OK(weft_shm_create(&s, name, 256, NULL));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        weft_shm *t;
        if (weft_shm_open(&t, name) != WEFT_OK) _exit(1);
        strcpy(weft_shm_data(t), "written by the child");
        weft_shm_close(t);
        _exit(0);
    }
    assert_int_equal(reap(pid, 5000), 0);
    assert_string_equal(weft_shm_data(s), "written by the child");
    assert_true(name_exists(name)); /* an opener's close never removes an owned name */
    assert_int_equal(weft_shm_refs(s), 1);
    weft_shm_close(s);
    assert_false(name_exists(name));
}

static void test_shm_create_of_an_existing_name_is_eexist_unless_asked_to_open(void **state) {
    NAME(name, "exists");
    weft_shm *a, *b = (weft_shm *)1;
    weft_shm_options o = WEFT_SHM_OPTIONS_INIT;
    (void)state;
    WT_OK(weft_shm_create(&a, name, 128, NULL));
    ((char *)weft_shm_data(a))[0] = 'x';
    WT_EXPECT(WEFT_EEXIST, weft_shm_create(&b, name, 128, NULL));
    assert_null(b);
    o.flags = WEFT_SHARE_OPEN_EXISTING;
    WT_OK(weft_shm_create(&b, name, 128, &o));
    assert_int_equal(weft_shm_created(b), 0);
    assert_int_equal(((char *)weft_shm_data(b))[0], 'x');
    weft_shm_close(b);
    weft_shm_close(a);
    /* With the name gone, OPEN_EXISTING creates. */
    WT_OK(weft_shm_create(&b, name, 128, &o));
    assert_int_equal(weft_shm_created(b), 1);
    weft_shm_close(b);
}

static void test_shm_open_or_unlink_of_a_missing_name_is_enoent(void **state) {
    NAME(name, "missing");
    weft_shm *s = (weft_shm *)1;
    (void)state;
    WT_EXPECT(WEFT_ENOENT, weft_shm_open(&s, name));
    assert_null(s);
    WT_EXPECT(WEFT_ENOENT, weft_shm_unlink(name));
}

static void test_shm_bad_names_are_einval(void **state) {
    char longname[260];
    const char *bad[] = {"", "/", "a/b", ".", "..", ".weft.tmp.x", longname};
    weft_shm *s = (weft_shm *)1;
    (void)state;
    memset(longname, 'n', 201);
    longname[201] = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        WT_EXPECT(WEFT_EINVAL, weft_shm_create(&s, bad[i], 64, NULL));
        assert_null(s);
        WT_EXPECT(WEFT_EINVAL, weft_shm_open(&s, bad[i]));
        WT_EXPECT(WEFT_EINVAL, weft_shm_unlink(bad[i]));
    }
    WT_EXPECT(WEFT_EINVAL, weft_shm_open(&s, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_shm_unlink(NULL));
    longname[200] = 0; /* 200 bytes is allowed */
    char prefix[64];
    int n = snprintf(prefix, sizeof prefix, "weft-test-%d-", (int)getpid());
    memcpy(longname, prefix, (size_t)n);
    WT_OK(weft_shm_create(&s, longname, 64, NULL));
    weft_shm_close(s);
}

static void test_shm_bad_arguments_are_einval(void **state) {
    weft_shm *s = (weft_shm *)1;
    weft_shm_options o = WEFT_SHM_OPTIONS_INIT;
    (void)state;
    WT_EXPECT(WEFT_EINVAL, weft_shm_create(NULL, NULL, 64, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_shm_open(NULL, "x"));
    WT_EXPECT(WEFT_EINVAL, weft_shm_create(&s, NULL, 0, NULL));
    assert_null(s);
    WT_EXPECT(WEFT_EINVAL, weft_shm_create(&s, NULL, SIZE_MAX, NULL));
    o.version = 99;
    WT_EXPECT(WEFT_EINVAL, weft_shm_create(&s, NULL, 64, &o));
    o.version = WEFT_SHM_OPTIONS_VERSION;
    o.lifetime = 7;
    WT_EXPECT(WEFT_EINVAL, weft_shm_create(&s, NULL, 64, &o));
    o.lifetime = WEFT_LIFETIME_OWNED;
    o.flags = 4;
    WT_EXPECT(WEFT_EINVAL, weft_shm_create(&s, NULL, 64, &o));
    o.flags = 0;
    o.mode = 01000;
    WT_EXPECT(WEFT_EINVAL, weft_shm_create(&s, NULL, 64, &o));
}

static void test_shm_accessors_of_a_null_handle_are_harmless(void **state) {
    (void)state;
    assert_null(weft_shm_data(NULL));
    assert_int_equal(weft_shm_size(NULL), 0);
    assert_null(weft_shm_name(NULL));
    assert_int_equal(weft_shm_fd(NULL), -1);
    assert_int_equal(weft_shm_created(NULL), 0);
    assert_int_equal(weft_shm_refs(NULL), WEFT_EMISUSE);
    weft_shm_close(NULL);
}

static void test_shm_owned_name_goes_with_the_creators_close(void **state) {
    NAME(name, "owned");
    weft_shm *a, *b;
    (void)state;
    WT_OK(weft_shm_create(&a, name, 64, NULL));
    WT_OK(weft_shm_open(&b, name));
    weft_shm_close(a);
    assert_false(name_exists(name));
    ((char *)weft_shm_data(b))[0] = 1; /* the opener's mapping stays */
    weft_shm_close(b);
}

static void test_shm_refcounted_name_goes_with_the_last_close(void **state) {
    NAME(name, "refc");
    weft_shm *a, *b, *c;
    weft_shm_options o = WEFT_SHM_OPTIONS_INIT;
    (void)state;
    o.lifetime = WEFT_LIFETIME_REFCOUNTED;
    WT_OK(weft_shm_create(&a, name, 64, &o));
    WT_OK(weft_shm_open(&b, name));
    WT_OK(weft_shm_open(&c, name));
    assert_int_equal(weft_shm_refs(a), 3);
    weft_shm_close(a);
    assert_true(name_exists(name));
    assert_int_equal(weft_shm_refs(b), 2);
    weft_shm_close(c);
    assert_true(name_exists(name));
    weft_shm_close(b);
    assert_false(name_exists(name));
}

static void test_shm_persistent_name_stays_until_unlinked(void **state) {
    NAME(name, "persist");
    weft_shm *a, *b;
    weft_shm_options o = WEFT_SHM_OPTIONS_INIT;
    (void)state;
    o.lifetime = WEFT_LIFETIME_PERSISTENT;
    WT_OK(weft_shm_create(&a, name, 64, &o));
    strcpy(weft_shm_data(a), "kept");
    weft_shm_close(a);
    assert_true(name_exists(name));
    WT_OK(weft_shm_open(&b, name));
    assert_string_equal(weft_shm_data(b), "kept");
    weft_shm_close(b);
    assert_true(name_exists(name));
    WT_OK(weft_shm_unlink(name));
    assert_false(name_exists(name));
    WT_EXPECT(WEFT_ENOENT, weft_shm_unlink(name));
}

static void test_shm_forked_child_closing_its_copy_never_removes_the_name(void **state) {
    WT_SKIP_UNDER_TSAN();
    NAME(owned, "fork-owned");
    NAME(refc, "fork-refc");
    weft_shm *a, *b;
    weft_shm_options o = WEFT_SHM_OPTIONS_INIT;
    (void)state;
    WT_OK(weft_shm_create(&a, owned, 64, NULL));
    o.lifetime = WEFT_LIFETIME_REFCOUNTED;
    WT_OK(weft_shm_create(&b, refc, 64, &o));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        weft_shm_close(a);
        weft_shm_close(b);
        _exit(0);
    }
    assert_int_equal(reap(pid, 5000), 0);
    assert_true(name_exists(owned));
    assert_true(name_exists(refc));
    assert_int_equal(weft_shm_refs(a), 1);
    assert_int_equal(weft_shm_refs(b), 1);
    weft_shm_close(a);
    weft_shm_close(b);
    assert_false(name_exists(owned));
    assert_false(name_exists(refc));
}

enum { INIT_SIZE = 1 << 20 };

static int fill_slowly(void *data, size_t size, void *user_data) {
    unsigned char *p = data;
    (void)user_data;
    memset(p, 0xA5, size / 2);
    wt_sleep_ms(100); /* an opener polling now must still see nothing */
    memset(p + size / 2, 0xA5, size - size / 2);
    return 0;
}

static void test_shm_init_runs_before_the_name_is_published(void **state) {
    WT_SKIP_UNDER_TSAN();
    NAME(name, "init");
    int go[2];
    weft_shm *s;
    weft_shm_options o = WEFT_SHM_OPTIONS_INIT;
    (void)state;
    assert_int_equal(pipe(go), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        weft_shm *t;
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) != 1) _exit(3);
        int64_t end = weft_monotonic_ns() + 5 * WEFT_SEC;
        weft_status st;
        while ((st = weft_shm_open(&t, name)) == WEFT_ENOENT && weft_monotonic_ns() < end) {
        }
        if (st != WEFT_OK) _exit(1);
        const unsigned char *p = weft_shm_data(t);
        for (size_t i = 0; i < weft_shm_size(t); i++)
            if (p[i] != 0xA5) _exit(2);
        weft_shm_close(t);
        _exit(0);
    }
    close(go[0]);
    assert_int_equal(write(go[1], "g", 1), 1);
    close(go[1]);
    wt_sleep_ms(10); /* the child is polling */
    o.init = fill_slowly;
    WT_OK(weft_shm_create(&s, name, INIT_SIZE, &o));
    assert_int_equal(reap(pid, 10000), 0);
    weft_shm_close(s);
}

static int refuse(void *data, size_t size, void *user_data) {
    (void)data;
    (void)size;
    ++*(int *)user_data;
    return 1;
}

static void test_shm_refusing_init_publishes_nothing(void **state) {
    NAME(name, "refused");
    weft_shm *s = (weft_shm *)1;
    weft_shm_options o = WEFT_SHM_OPTIONS_INIT;
    int calls = 0;
    (void)state;
    o.init = refuse;
    o.user_data = &calls;
    WT_EXPECT(WEFT_EFAILED, weft_shm_create(&s, name, 64, &o));
    assert_null(s);
    assert_int_equal(calls, 1);
    assert_false(name_exists(name));
    WT_EXPECT(WEFT_EFAILED, weft_shm_create(&s, NULL, 64, &o)); /* anonymous too */
    assert_int_equal(calls, 2);
}

static int signal_and_hang(void *data, size_t size, void *user_data) {
    int fd = *(int *)user_data;
    (void)data;
    (void)size;
    if (write(fd, "i", 1) != 1) return 1;
    wt_sleep_ms(10000);
    return 0;
}

static void test_shm_creator_killed_inside_init_publishes_nothing_and_is_swept(void **state) {
    WT_SKIP_UNDER_TSAN();
    NAME(name, "killed");
    NAME(other, "sweeper");
    int fds[2];
    char c, prefix[64];
    weft_shm *s;
    (void)state;
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        weft_shm *t;
        weft_shm_options o = WEFT_SHM_OPTIONS_INIT;
        close(fds[0]);
        o.init = signal_and_hang;
        o.user_data = &fds[1];
        (void)weft_shm_create(&t, name, 4096, &o);
        _exit(1);
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], &c, 1), 1); /* the child is inside init */
    close(fds[0]);
    kill(pid, SIGKILL);
    assert_int_equal(reap(pid, 5000), 128 + SIGKILL);
    assert_false(name_exists(name));
    snprintf(prefix, sizeof prefix, ".weft.tmp.%d.", (int)pid);
    assert_int_equal(count_entries(prefix), 1); /* its private file, never the name */
    WT_OK(weft_shm_create(&s, other, 64, NULL)); /* the next named create sweeps it */
    assert_int_equal(count_entries(prefix), 0);
    weft_shm_close(s);
}

/* Two processes race to create one name; each reports 0 (created), 1 (opened
 * an existing one) or 2 (EEXIST). */
static int race_child(int go_fd, const char *name, int open_existing) {
    weft_shm *t;
    weft_shm_options o = WEFT_SHM_OPTIONS_INIT;
    char c;
    o.lifetime = WEFT_LIFETIME_PERSISTENT; /* outlives the racers; the parent unlinks */
    o.flags = open_existing ? WEFT_SHARE_OPEN_EXISTING : 0;
    if (read(go_fd, &c, 1) != 1) return 9;
    weft_status st = weft_shm_create(&t, name, 4096, &o);
    if (st == WEFT_EEXIST) return 2;
    if (st != WEFT_OK) return 8;
    int created = weft_shm_created(t);
    weft_shm_close(t);
    return created ? 0 : 1;
}

static void test_shm_two_processes_racing_to_create_one_name_get_one_winner(void **state) {
    WT_SKIP_UNDER_TSAN();
    NAME(name, "race");
    (void)state;
    for (int round = 0; round < 20; round++) {
        int open_existing = round % 2;
        int go[2], rc[2];
        pid_t pids[2];
        assert_int_equal(pipe(go), 0);
        for (int i = 0; i < 2; i++) {
            pids[i] = fork();
            assert_true(pids[i] >= 0);
            if (pids[i] == 0) {
                close(go[1]);
                _exit(race_child(go[0], name, open_existing));
            }
        }
        close(go[0]);
        assert_int_equal(write(go[1], "gg", 2), 2);
        close(go[1]);
        for (int i = 0; i < 2; i++) rc[i] = reap(pids[i], 5000);
        int created = (rc[0] == 0) + (rc[1] == 0);
        int lost = open_existing ? (rc[0] == 1) + (rc[1] == 1) : (rc[0] == 2) + (rc[1] == 2);
        if (created != 1 || lost != 1) print_error("round %d: exits %d %d\n", round, rc[0], rc[1]);
        assert_int_equal(created, 1);
        assert_int_equal(lost, 1);
        WT_OK(weft_shm_unlink(name));
    }
}

static void test_shm_open_of_a_file_not_made_by_weft_is_einval(void **state) {
    NAME(name, "foreign");
    char slashed[128];
    weft_shm *s = (weft_shm *)1;
    (void)state;
    snprintf(slashed, sizeof slashed, "/%s", name);
    int fd = shm_open(slashed, O_RDWR | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    WT_EXPECT(WEFT_EINVAL, weft_shm_open(&s, name)); /* empty */
    assert_int_equal(ftruncate(fd, 4096), 0);
    WT_EXPECT(WEFT_EINVAL, weft_shm_open(&s, name)); /* zeros */
    assert_null(s);
    close(fd);
    WT_OK(weft_shm_unlink(name)); /* unlink removes any name */
}

static void test_shm_open_of_a_weft_object_of_another_kind_is_einval(void **state) {
    NAME(name, "kind");
    weft_array *a;
    weft_array_options o = WEFT_ARRAY_OPTIONS_INIT;
    weft_shm *s = (weft_shm *)1;
    weft_dict *d = (weft_dict *)1;
    (void)state;
    o.share.name = name;
    WT_OK(weft_array_create(&a, WEFT_ARRAY_INT32, 4, &o));
    WT_EXPECT(WEFT_EINVAL, weft_shm_open(&s, name));
    assert_null(s);
    assert_non_null(strstr(weft_last_error()->message, "shared array"));
    WT_EXPECT(WEFT_EINVAL, weft_dict_open(&d, name));
    assert_null(d);
    weft_array_destroy(a);
    assert_false(name_exists(name));
}

static void test_shm_plain_shm_open_sees_the_bytes_at_offset_zero(void **state) {
    NAME(name, "plain");
    char slashed[128];
    weft_shm *s;
    (void)state;
    snprintf(slashed, sizeof slashed, "/%s", name);
    WT_OK(weft_shm_create(&s, name, 1000, NULL));
    strcpy(weft_shm_data(s), "cross-language layout");
    int fd = shm_open(slashed, O_RDONLY, 0);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_true(st.st_size >= 1000);
    char *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    assert_true(p != MAP_FAILED);
    assert_string_equal(p, "cross-language layout");
    munmap(p, (size_t)st.st_size);
    close(fd);
    weft_shm_close(s);
}

/* ---- Value / Array ------------------------------------------------------ */

static void test_array_defaults_to_a_zeroed_locked_anonymous_array(void **state) {
    weft_array *a;
    (void)state;
    WT_OK(weft_array_create(&a, WEFT_ARRAY_INT32, 10, NULL));
    assert_int_equal(weft_array_type(a), WEFT_ARRAY_INT32);
    assert_int_equal(weft_array_length(a), 10);
    assert_int_equal(weft_array_element_size(a), 4);
    const int32_t *p = weft_array_data(a);
    assert_non_null(p);
    for (int i = 0; i < 10; i++) assert_int_equal(p[i], 0);
    WT_OK(weft_array_acquire(a, 0));
    WT_OK(weft_array_release(a));
    weft_array_destroy(a);
}

static void test_array_initial_values_are_copied_in(void **state) {
    weft_array *a;
    weft_array_options o = WEFT_ARRAY_OPTIONS_INIT;
    const double init[3] = {1.5, -2.25, 1e300};
    double v;
    (void)state;
    o.initial = init;
    WT_OK(weft_array_create(&a, WEFT_ARRAY_DOUBLE, 3, &o));
    for (size_t i = 0; i < 3; i++) {
        WT_OK(weft_array_get_double(a, i, &v));
        assert_true(v == init[i]);
    }
    weft_array_destroy(a);
}

struct range {
    uint32_t type;
    int64_t lo;
    uint64_t hi;
};

static void test_array_integer_accessors_check_ranges_and_types(void **state) {
    static const struct range ranges[] = {
        {WEFT_ARRAY_INT8, INT8_MIN, INT8_MAX},       {WEFT_ARRAY_UINT8, 0, UINT8_MAX},
        {WEFT_ARRAY_INT16, INT16_MIN, INT16_MAX},    {WEFT_ARRAY_UINT16, 0, UINT16_MAX},
        {WEFT_ARRAY_INT32, INT32_MIN, INT32_MAX},    {WEFT_ARRAY_UINT32, 0, UINT32_MAX},
        {WEFT_ARRAY_INT64, INT64_MIN, INT64_MAX},    {WEFT_ARRAY_UINT64, 0, UINT64_MAX},
        {WEFT_ARRAY_CHAR, INT8_MIN, UINT8_MAX},
    };
    (void)state;
    for (size_t t = 0; t < sizeof ranges / sizeof ranges[0]; t++) {
        const struct range *r = &ranges[t];
        weft_array *a;
        int64_t s;
        uint64_t u;
        WT_OK(weft_array_create(&a, r->type, 2, NULL));
        WT_OK(weft_array_set_int64(a, 0, r->lo));
        WT_OK(weft_array_get_int64(a, 0, &s));
        if (r->type == WEFT_ARRAY_CHAR)
            assert_int_equal(s, 128); /* the byte of -128 */
        else
            assert_true(s == r->lo);
        WT_OK(weft_array_set_uint64(a, 1, r->hi));
        WT_OK(weft_array_get_uint64(a, 1, &u));
        assert_true(u == r->hi);
        if (r->lo > INT64_MIN) WT_EXPECT(WEFT_EOVERFLOW, weft_array_set_int64(a, 0, r->lo - 1));
        if (r->hi < UINT64_MAX) {
            WT_EXPECT(WEFT_EOVERFLOW, weft_array_set_uint64(a, 0, r->hi + 1));
            if (r->hi < (uint64_t)INT64_MAX) WT_EXPECT(WEFT_EOVERFLOW, weft_array_set_int64(a, 0, (int64_t)(r->hi + 1)));
        }
        WT_OK(weft_array_get_int64(a, 0, &s)); /* unchanged by the refused writes */
        assert_true(r->type == WEFT_ARRAY_CHAR ? s == 128 : s == r->lo);
        if (r->type == WEFT_ARRAY_UINT64) WT_EXPECT(WEFT_EOVERFLOW, weft_array_get_int64(a, 1, &s));
        if (r->lo < 0 && r->type != WEFT_ARRAY_CHAR) WT_EXPECT(WEFT_EOVERFLOW, weft_array_get_uint64(a, 0, &u));
        WT_EXPECT(WEFT_EINVAL, weft_array_get_int64(a, 2, &s));
        WT_EXPECT(WEFT_EINVAL, weft_array_set_int64(a, 2, 0));
        WT_EXPECT(WEFT_EINVAL, weft_array_get_uint64(a, SIZE_MAX, &u));
        WT_EXPECT(WEFT_EINVAL, weft_array_set_uint64(a, 2, 0));
        WT_EXPECT(WEFT_EINVAL, weft_array_get_int64(a, 0, NULL));
        WT_EXPECT(WEFT_EINVAL, weft_array_set_double(a, 0, 1.0));
        WT_EXPECT(WEFT_EINVAL, weft_array_get_double(a, 0, &(double){0}));
        weft_array_destroy(a);
    }
}

static void test_array_float_accessors_check_range_and_type(void **state) {
    weft_array *f, *d;
    double v;
    int64_t s;
    (void)state;
    WT_OK(weft_array_create(&f, WEFT_ARRAY_FLOAT, 1, NULL));
    WT_OK(weft_array_create(&d, WEFT_ARRAY_DOUBLE, 1, NULL));
    WT_OK(weft_array_set_double(f, 0, 0.5));
    WT_OK(weft_array_get_double(f, 0, &v));
    assert_true(v == 0.5);
    assert_true(*(float *)weft_array_data(f) == 0.5f);
    WT_EXPECT(WEFT_EOVERFLOW, weft_array_set_double(f, 0, 1e39));
    WT_EXPECT(WEFT_EOVERFLOW, weft_array_set_double(f, 0, -1e39));
    WT_OK(weft_array_get_double(f, 0, &v));
    assert_true(v == 0.5);
    WT_OK(weft_array_set_double(f, 0, INFINITY));
    WT_OK(weft_array_get_double(f, 0, &v));
    assert_true(isinf(v));
    WT_OK(weft_array_set_double(d, 0, 1e300));
    WT_OK(weft_array_get_double(d, 0, &v));
    assert_true(v == 1e300);
    WT_EXPECT(WEFT_EINVAL, weft_array_set_int64(d, 0, 1));
    WT_EXPECT(WEFT_EINVAL, weft_array_get_int64(f, 0, &s));
    WT_EXPECT(WEFT_EINVAL, weft_array_get_double(d, 1, &v));
    WT_EXPECT(WEFT_EINVAL, weft_array_set_double(d, 1, 0));
    WT_EXPECT(WEFT_EINVAL, weft_array_get_double(d, 0, NULL));
    weft_array_destroy(f);
    weft_array_destroy(d);
}

static void test_array_bad_arguments_are_einval_or_emisuse(void **state) {
    weft_array *a = (weft_array *)1;
    weft_array_options o = WEFT_ARRAY_OPTIONS_INIT;
    weft_shm *s;
    int64_t v;
    (void)state;
    WT_EXPECT(WEFT_EINVAL, weft_array_create(NULL, WEFT_ARRAY_INT8, 1, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_array_create(&a, 0, 1, NULL));
    assert_null(a);
    WT_EXPECT(WEFT_EINVAL, weft_array_create(&a, WEFT_ARRAY_CHAR + 1, 1, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_array_create(&a, WEFT_ARRAY_INT64, SIZE_MAX / 4, NULL));
    o.flags = 2;
    WT_EXPECT(WEFT_EINVAL, weft_array_create(&a, WEFT_ARRAY_INT8, 1, &o));
    o.flags = WEFT_ARRAY_LOCK;
    o.version = 2;
    WT_EXPECT(WEFT_EINVAL, weft_array_create(&a, WEFT_ARRAY_INT8, 1, &o));
    o.version = WEFT_ARRAY_OPTIONS_VERSION;
    o.share.name = "a/b";
    WT_EXPECT(WEFT_EINVAL, weft_array_create(&a, WEFT_ARRAY_INT8, 1, &o));
    WT_EXPECT(WEFT_EINVAL, weft_array_open(&a, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_array_open(NULL, "x"));
    /* NULL and wrong-type handles */
    WT_EXPECT(WEFT_EMISUSE, weft_array_acquire(NULL, 0));
    WT_EXPECT(WEFT_EMISUSE, weft_array_release(NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_array_mark_consistent(NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_array_get_int64(NULL, 0, &v));
    WT_EXPECT(WEFT_EMISUSE, weft_array_set_int64(NULL, 0, 0));
    WT_OK(weft_shm_create(&s, NULL, 64, NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_array_acquire((weft_array *)s, 0));
    assert_null(weft_array_data((weft_array *)s));
    weft_shm_close(s);
    assert_null(weft_array_data(NULL));
    assert_int_equal(weft_array_length(NULL), 0);
    assert_int_equal(weft_array_type(NULL), 0);
    assert_int_equal(weft_array_element_size(NULL), 0);
    weft_array_destroy(NULL);
    /* Thread scope is taken as anonymous process scope. */
    o = (weft_array_options)WEFT_ARRAY_OPTIONS_INIT;
    o.share.scope = WEFT_SCOPE_THREAD;
    WT_OK(weft_array_create(&a, WEFT_ARRAY_INT8, 3, &o));
    WT_OK(weft_array_set_int64(a, 2, -5));
    weft_array_destroy(a);
    /* An empty array is allowed. */
    WT_OK(weft_array_create(&a, WEFT_ARRAY_INT8, 0, NULL));
    assert_int_equal(weft_array_length(a), 0);
    WT_EXPECT(WEFT_EINVAL, weft_array_get_int64(a, 0, &v));
    WT_EXPECT(WEFT_EINVAL, weft_array_acquire(a, -2));
    weft_array_destroy(a);
}

static void test_array_without_a_lock_refuses_lock_calls_with_enotsup(void **state) {
    weft_array *a;
    weft_array_options o = WEFT_ARRAY_OPTIONS_INIT;
    (void)state;
    o.flags = 0;
    WT_OK(weft_array_create(&a, WEFT_ARRAY_UINT8, 8, &o));
    WT_EXPECT(WEFT_ENOTSUP, weft_array_acquire(a, 0));
    WT_EXPECT(WEFT_ENOTSUP, weft_array_release(a));
    WT_EXPECT(WEFT_ENOTSUP, weft_array_mark_consistent(a));
    weft_array_destroy(a);
}

struct lock_probe {
    weft_array *a;
    weft_status poll, timed, release;
    double waited_ms;
};

static void *probe_lock(void *arg) {
    struct lock_probe *p = arg;
    p->poll = weft_array_acquire(p->a, 0);
    int64_t t0 = weft_monotonic_ns();
    p->timed = weft_array_acquire(p->a, 50 * WEFT_MSEC);
    p->waited_ms = wt_ms_since(t0);
    p->release = weft_array_release(p->a);
    return NULL;
}

static void test_array_lock_is_recursive_and_owned_by_its_holder(void **state) {
    weft_array *a;
    pthread_t t;
    struct lock_probe p;
    (void)state;
    WT_OK(weft_array_create(&a, WEFT_ARRAY_INT64, 1, NULL));
    WT_OK(weft_array_acquire(a, WEFT_FOREVER));
    WT_OK(weft_array_acquire(a, 0)); /* recursive */
    p.a = a;
    assert_int_equal(pthread_create(&t, NULL, probe_lock, &p), 0);
    pthread_join(t, NULL);
    assert_int_equal(p.poll, WEFT_ETIMEDOUT);
    assert_int_equal(p.timed, WEFT_ETIMEDOUT);
    WT_ASSERT_ABOUT_MS(p.waited_ms, 50);
    assert_int_equal(p.release, WEFT_EPERM);
    WT_EXPECT(WEFT_EINVAL, weft_array_mark_consistent(a)); /* not in the owner-died state */
    WT_OK(weft_array_release(a));
    WT_OK(weft_array_release(a));
    WT_EXPECT(WEFT_EPERM, weft_array_release(a));
    weft_array_destroy(a);
}

enum { INCREMENTS = 10000 };

static void test_array_value_incremented_by_two_processes_under_its_lock_is_exact(void **state) {
    WT_SKIP_UNDER_TSAN();
    weft_array *v;
    pid_t pids[2];
    int64_t total;
    (void)state;
    WT_OK(weft_array_create(&v, WEFT_ARRAY_INT64, 1, NULL));
    for (int i = 0; i < 2; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            int64_t *n = weft_array_data(v);
            for (int k = 0; k < INCREMENTS; k++) {
                if (weft_array_acquire(v, 10 * WEFT_SEC) != WEFT_OK) _exit(1);
                int64_t x = *n; /* a read-modify-write the lock makes atomic */
                *n = x + 1;
                if (weft_array_release(v) != WEFT_OK) _exit(2);
            }
            _exit(0);
        }
    }
    for (int i = 0; i < 2; i++) assert_int_equal(reap(pids[i], 60000), 0);
    WT_OK(weft_array_get_int64(v, 0, &total));
    assert_int_equal(total, 2 * INCREMENTS);
    weft_array_destroy(v);
}

static void test_array_lock_holder_killed_gives_eownerdead_then_recovers(void **state) {
    WT_SKIP_UNDER_TSAN();
    weft_array *v;
    int fds[2];
    char c;
    int64_t x;
    (void)state;
    WT_OK(weft_array_create(&v, WEFT_ARRAY_INT32, 1, NULL));
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        if (weft_array_acquire(v, WEFT_FOREVER) != WEFT_OK) _exit(1);
        (void)weft_array_set_int64(v, 0, -1); /* half-way through an update */
        if (write(fds[1], "h", 1) != 1) _exit(2);
        for (;;) pause();
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], &c, 1), 1);
    close(fds[0]);
    WT_EXPECT(WEFT_ETIMEDOUT, weft_array_acquire(v, 20 * WEFT_MSEC));
    kill(pid, SIGKILL);
    assert_int_equal(reap(pid, 5000), 128 + SIGKILL);
    WT_EXPECT(WEFT_EOWNERDEAD, weft_array_acquire(v, 5 * WEFT_SEC));
    WT_OK(weft_array_get_int64(v, 0, &x));
    assert_int_equal(x, -1);
    WT_OK(weft_array_set_int64(v, 0, 0)); /* the repair */
    WT_OK(weft_array_mark_consistent(v));
    WT_OK(weft_array_release(v));
    WT_OK(weft_array_acquire(v, 0));
    WT_OK(weft_array_release(v));
    weft_array_destroy(v);
}

static void test_array_released_without_mark_consistent_is_not_recoverable(void **state) {
    WT_SKIP_UNDER_TSAN();
    weft_array *v;
    (void)state;
    WT_OK(weft_array_create(&v, WEFT_ARRAY_INT32, 1, NULL));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (weft_array_acquire(v, WEFT_FOREVER) != WEFT_OK) _exit(1);
        _exit(0); /* exits holding it */
    }
    assert_int_equal(reap(pid, 5000), 0);
    WT_EXPECT(WEFT_EOWNERDEAD, weft_array_acquire(v, WEFT_SEC));
    WT_OK(weft_array_release(v));
    WT_EXPECT(WEFT_ENOTRECOVERABLE, weft_array_acquire(v, 0));
    WT_EXPECT(WEFT_ENOTRECOVERABLE, weft_array_acquire(v, WEFT_SEC));
    weft_array_destroy(v);
}

static void test_array_named_is_opened_by_another_process(void **state) {
    WT_SKIP_UNDER_TSAN();
    NAME(name, "array");
    weft_array *a, *b;
    weft_array_options o = WEFT_ARRAY_OPTIONS_INIT;
    const uint16_t init[4] = {1, 2, 3, 4};
    int64_t v;
    (void)state;
    o.share.name = name;
    o.initial = init;
    WT_OK(weft_array_create(&a, WEFT_ARRAY_UINT16, 4, &o));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        weft_array *c;
        int64_t x;
        if (weft_array_open(&c, name) != WEFT_OK) _exit(1);
        if (weft_array_type(c) != WEFT_ARRAY_UINT16 || weft_array_length(c) != 4) _exit(2);
        if (weft_array_acquire(c, WEFT_SEC) != WEFT_OK) _exit(3);
        for (size_t i = 0; i < 4; i++) {
            if (weft_array_get_int64(c, i, &x) != WEFT_OK) _exit(4);
            if (weft_array_set_int64(c, i, x * 10) != WEFT_OK) _exit(5);
        }
        weft_array_release(c);
        weft_array_destroy(c);
        _exit(0);
    }
    assert_int_equal(reap(pid, 5000), 0);
    for (size_t i = 0; i < 4; i++) {
        WT_OK(weft_array_get_int64(a, i, &v));
        assert_int_equal(v, (int64_t)(i + 1) * 10);
    }
    /* OPEN_EXISTING opens it when it matches and refuses a mismatch. */
    o.share.flags = WEFT_SHARE_OPEN_EXISTING;
    o.initial = NULL;
    WT_OK(weft_array_create(&b, WEFT_ARRAY_UINT16, 4, &o));
    WT_OK(weft_array_get_int64(b, 3, &v));
    assert_int_equal(v, 40);
    weft_array_destroy(b);
    b = (weft_array *)1;
    WT_EXPECT(WEFT_EINVAL, weft_array_create(&b, WEFT_ARRAY_INT16, 4, &o));
    assert_null(b);
    WT_EXPECT(WEFT_EINVAL, weft_array_create(&b, WEFT_ARRAY_UINT16, 5, &o));
    WT_OK(weft_array_open(&b, name));
    weft_array_destroy(b);
    weft_array_destroy(a);
    WT_EXPECT(WEFT_ENOENT, weft_array_open(&b, name));
}

static void test_array_open_of_a_raw_segment_is_einval(void **state) {
    NAME(name, "rawarr");
    weft_shm *s;
    weft_array *a = (weft_array *)1;
    (void)state;
    WT_OK(weft_shm_create(&s, name, 4096, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_array_open(&a, name));
    assert_null(a);
    weft_shm_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_shm_anonymous_segment_is_zero_filled_and_describes_itself, check_no_leftovers),
        cmocka_unit_test_teardown(test_shm_named_segment_is_seen_by_an_independent_open, check_no_leftovers),
        cmocka_unit_test_teardown(test_shm_leading_slash_is_ignored_as_shm_open_does, check_no_leftovers),
        cmocka_unit_test_teardown(test_shm_anonymous_segment_is_shared_with_a_forked_child, check_no_leftovers),
        cmocka_unit_test_teardown(test_shm_named_segment_is_opened_and_written_by_another_process, check_no_leftovers),
        cmocka_unit_test_teardown(test_shm_create_of_an_existing_name_is_eexist_unless_asked_to_open, check_no_leftovers),
        cmocka_unit_test_teardown(test_shm_open_or_unlink_of_a_missing_name_is_enoent, check_no_leftovers),
        cmocka_unit_test_teardown(test_shm_bad_names_are_einval, check_no_leftovers),
        cmocka_unit_test_teardown(test_shm_bad_arguments_are_einval, check_no_leftovers),
        cmocka_unit_test_teardown(test_shm_accessors_of_a_null_handle_are_harmless, check_no_leftovers),
        cmocka_unit_test_teardown(test_shm_owned_name_goes_with_the_creators_close, check_no_leftovers),
        cmocka_unit_test_teardown(test_shm_refcounted_name_goes_with_the_last_close, check_no_leftovers),
        cmocka_unit_test_teardown(test_shm_persistent_name_stays_until_unlinked, check_no_leftovers),
        cmocka_unit_test_teardown(test_shm_forked_child_closing_its_copy_never_removes_the_name, check_no_leftovers),
        cmocka_unit_test_teardown(test_shm_init_runs_before_the_name_is_published, check_no_leftovers),
        cmocka_unit_test_teardown(test_shm_refusing_init_publishes_nothing, check_no_leftovers),
        cmocka_unit_test_teardown(test_shm_creator_killed_inside_init_publishes_nothing_and_is_swept,
                                  check_no_leftovers),
        cmocka_unit_test_teardown(test_shm_two_processes_racing_to_create_one_name_get_one_winner, check_no_leftovers),
        cmocka_unit_test_teardown(test_shm_open_of_a_file_not_made_by_weft_is_einval, check_no_leftovers),
        cmocka_unit_test_teardown(test_shm_open_of_a_weft_object_of_another_kind_is_einval, check_no_leftovers),
        cmocka_unit_test_teardown(test_shm_plain_shm_open_sees_the_bytes_at_offset_zero, check_no_leftovers),
        cmocka_unit_test_teardown(test_array_defaults_to_a_zeroed_locked_anonymous_array, check_no_leftovers),
        cmocka_unit_test_teardown(test_array_initial_values_are_copied_in, check_no_leftovers),
        cmocka_unit_test_teardown(test_array_integer_accessors_check_ranges_and_types, check_no_leftovers),
        cmocka_unit_test_teardown(test_array_float_accessors_check_range_and_type, check_no_leftovers),
        cmocka_unit_test_teardown(test_array_bad_arguments_are_einval_or_emisuse, check_no_leftovers),
        cmocka_unit_test_teardown(test_array_without_a_lock_refuses_lock_calls_with_enotsup, check_no_leftovers),
        cmocka_unit_test_teardown(test_array_lock_is_recursive_and_owned_by_its_holder, check_no_leftovers),
        cmocka_unit_test_teardown(test_array_value_incremented_by_two_processes_under_its_lock_is_exact,
                                  check_no_leftovers),
        cmocka_unit_test_teardown(test_array_lock_holder_killed_gives_eownerdead_then_recovers, check_no_leftovers),
        cmocka_unit_test_teardown(test_array_released_without_mark_consistent_is_not_recoverable, check_no_leftovers),
        cmocka_unit_test_teardown(test_array_named_is_opened_by_another_process, check_no_leftovers),
        cmocka_unit_test_teardown(test_array_open_of_a_raw_segment_is_einval, check_no_leftovers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
