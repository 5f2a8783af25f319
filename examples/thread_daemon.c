/*
 * Seed idea: the daemon thread that dies with its parent. A daemon thread
 * would print "daemon: still here" forever; a non-daemon worker prints a few
 * lines and needs longer than main. When main returns, weft's exit handler
 * waits for the non-daemon worker (as Python does at interpreter exit), and
 * the daemon is simply cut off when the process ends.
 *
 * Prints the daemon's heartbeats, main saying it returns, the worker
 * finishing after that, and a last line from an exit handler confirming the
 * worker was waited for. Exits non-zero if it was not.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <weft/weft.h>

static int worker_done; /* set by the worker, read at exit */

static void *heartbeat(void *arg) {
    (void)arg;
    for (;;) { /* never returns: only the process end stops it */
        printf("daemon: still here\n");
        fflush(stdout);
        weft_sleep_ns(100 * WEFT_MSEC);
    }
    return NULL;
}

static void *slow_worker(void *arg) {
    (void)arg;
    for (int i = 1; i <= 3; i++) {
        weft_sleep_ns(150 * WEFT_MSEC);
        printf("worker: step %d of 3\n", i);
        fflush(stdout);
    }
    printf("worker: done (main returned before me; exit waited)\n");
    fflush(stdout);
    __atomic_store_n(&worker_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* Registered before weft's handler, so it runs after it (atexit is LIFO). */
static void at_exit(void) {
    if (!__atomic_load_n(&worker_done, __ATOMIC_ACQUIRE)) {
        printf("at exit: the non-daemon worker was NOT waited for\n");
        fflush(stdout);
        _exit(1);
    }
    printf("at exit: the worker was joined; the daemon ends with the process now\n");
    fflush(stdout);
}

int main(void) {
    weft_thread *d, *w;
    weft_thread_options dopt = WEFT_THREAD_OPTIONS_INIT;
    dopt.name = "heartbeat";
    dopt.daemon = 1;
    if (atexit(at_exit) != 0) return 1;
    if (weft_thread_spawn(&d, heartbeat, NULL, &dopt) != WEFT_OK ||
        weft_thread_spawn(&w, slow_worker, NULL, NULL) != WEFT_OK) {
        fprintf(stderr, "spawn: %s\n", weft_last_error()->message);
        return 1;
    }
    printf("main: %s is a daemon: %d, %s is a daemon: %d\n", weft_thread_name(d), weft_thread_is_daemon(d),
           weft_thread_name(w), weft_thread_is_daemon(w));
    weft_sleep_ns(250 * WEFT_MSEC);
    printf("main: returning without joining anyone\n");
    fflush(stdout);
    weft_thread_destroy(d); /* releasing handles never stops a thread */
    weft_thread_destroy(w);
    return 0;
}
