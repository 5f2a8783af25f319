/*
 * Helpers for tests that fork (process-scope objects). Include after
 * weft_test.h. Every such test calls WT_SKIP_UNDER_TSAN() first.
 *
 * Rules: a child never returns into cmocka (it _exit()s with a code the
 * parent asserts on); the parent reaps every child it forks (wt_reap kills a
 * child that overstays, so no test hangs and no process is left behind);
 * names are unique per test process ("weft-test-<pid>-<what>") and
 * wt_shm_leftovers() counts what a test left in /dev/shm.
 */
#ifndef WEFT_FORK_H
#define WEFT_FORK_H

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

/* Fork a child that runs fn(arg) and _exit()s with its return value. */
static inline pid_t wt_fork(int (*fn)(void *), void *arg) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) _exit(fn(arg) & 0xff);
    return pid;
}

/* Reap `pid` within timeout_ms: its exit code (0..255), 1000 + signal when
 * killed by a signal, -1 when it overstayed (it is then SIGKILLed and reaped),
 * -2 when waitpid failed. */
static inline int wt_reap(pid_t pid, int timeout_ms) {
    int st = 0;
    int64_t end = weft_monotonic_ns() + (int64_t)timeout_ms * WEFT_MSEC;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) break;
        if (r < 0 && errno != EINTR) return -2;
        if (weft_monotonic_ns() > end) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
            return -1;
        }
        usleep(1000);
    }
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 1000 + WTERMSIG(st);
    return -2;
}

/* Kill a child with SIGKILL and reap it. */
static inline void wt_kill(pid_t pid) {
    int st;
    kill(pid, SIGKILL);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
}

/* Assert that child `pid` exits with code 0 within 10 s. */
#define WT_CHILD_OK(pid) assert_int_equal(wt_reap((pid), 10000), 0)

/* "weft-test-<pid>-<what>" in buf. */
static inline const char *wt_name(char *buf, size_t n, const char *what) {
    snprintf(buf, n, "weft-test-%d-%s", (int)getpid(), what);
    return buf;
}

/* How many /dev/shm entries this test process's names left behind. */
static inline int wt_shm_leftovers(void) {
    char prefix[64];
    int n = 0;
    snprintf(prefix, sizeof prefix, "weft-test-%d-", (int)getpid());
    DIR *d = opendir("/dev/shm");
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            print_error("left in /dev/shm: %s\n", e->d_name);
            n++;
        }
    }
    closedir(d);
    return n;
}

/* A page of memory shared with forked children (counters, flags). */
static inline void *wt_shared_page(void) {
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* A child signals the parent over a pipe ("I hold it now"); the parent waits
 * up to timeout_ms for that byte. */
static inline int wt_signal_parent(int fd) { return write(fd, "x", 1) == 1 ? 0 : -1; }
static inline int wt_wait_child_signal(int fd, int timeout_ms) {
    int64_t end = weft_monotonic_ns() + (int64_t)timeout_ms * WEFT_MSEC;
    char c;
    for (;;) {
        fd_set set;
        FD_ZERO(&set);
        FD_SET(fd, &set);
        struct timeval tv = {0, 10000};
        int r = select(fd + 1, &set, NULL, NULL, &tv);
        if (r == 1) return read(fd, &c, 1) == 1 ? 0 : -1;
        if (weft_monotonic_ns() > end) return -1;
    }
}

#endif /* WEFT_FORK_H */
