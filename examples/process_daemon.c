/*
 * Seed idea: the daemon process that ends with the process it guards. A
 * "guarded" process starts a daemon child that would print "daemon: still
 * here" for 3 seconds ("zi run" ... "zi over" in the seed), then the guarded
 * process ends after 0.3 s without waiting for it: here it is even killed
 * with SIGKILL, the end no exit handler can soften. The kernel kills the
 * daemon with it (PR_SET_PDEATHSIG), so "daemon: over" is never printed.
 *
 * Prints the daemon's heartbeats, the guarded process's end, and whether the
 * daemon is gone a moment later. Exits non-zero if it survived.
 */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <weft/weft.h>

static int daemon_task(void *arg, size_t len) {
    (void)arg;
    (void)len;
    printf("daemon: run (pid %lld)\n", (long long)weft_process_current_pid());
    for (int i = 0; i < 30; i++) {
        weft_sleep_ns(100 * WEFT_MSEC);
        printf("daemon: still here\n");
        fflush(stdout);
    }
    printf("daemon: over\n"); /* never printed: it dies with its parent */
    return 0;
}

/* The guarded process: starts the daemon, reports its pid, and is killed. */
static int guarded(void *arg, size_t len) {
    int fd = *(const int *)arg;
    weft_process *d;
    weft_process_options o = WEFT_PROCESS_OPTIONS_INIT;
    (void)len;
    o.daemon = 1; /* as p.daemon = True, before start */
    if (weft_process_spawn(&d, daemon_task, NULL, 0, &o) != WEFT_OK) return 1;
    long long pid = weft_process_pid(d);
    if (write(fd, &pid, sizeof pid) != (ssize_t)sizeof pid) return 2;
    for (;;) weft_sleep_ns(WEFT_SEC); /* until killed */
}

int main(void) {
    int fds[2];
    if (pipe(fds) != 0) return 1;
    weft_process *g;
    if (weft_process_spawn(&g, guarded, &fds[1], sizeof fds[1], NULL) != WEFT_OK) {
        fprintf(stderr, "start: %s\n", weft_last_error()->message);
        return 1;
    }
    long long daemon_pid = 0;
    if (read(fds[0], &daemon_pid, sizeof daemon_pid) != (ssize_t)sizeof daemon_pid) return 1;
    weft_sleep_ns(300 * WEFT_MSEC);
    printf("guarded process: over (killed with SIGKILL)\n");
    fflush(stdout);
    if (weft_process_kill(g) != WEFT_OK || weft_process_join(g, 5 * WEFT_SEC) != WEFT_OK) {
        fprintf(stderr, "kill: %s\n", weft_last_error()->message);
        return 1;
    }
    /* The daemon is not our child: ask the kernel whether its pid still lives
     * (it may linger a moment as a zombie of whoever inherits it). */
    int gone = 0;
    for (int i = 0; i < 100 && !gone; i++) {
        char path[64], state = '?';
        snprintf(path, sizeof path, "/proc/%lld/stat", daemon_pid);
        FILE *f = fopen(path, "r");
        if (!f) {
            gone = 1;
            break;
        }
        if (fscanf(f, "%*d (%*[^)]) %c", &state) == 1 && (state == 'Z' || state == 'X')) gone = 1;
        fclose(f);
        if (!gone) weft_sleep_ns(10 * WEFT_MSEC);
    }
    printf("daemon %lld %s\n", daemon_pid, gone ? "is gone with its parent" : "SURVIVED");
    weft_process_destroy(g);
    close(fds[0]);
    close(fds[1]);
    return gone ? 0 : 1;
}
