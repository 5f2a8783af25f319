/*
 * Seed idea: "print the pid and ppid of the parent and the children". The
 * main process prints its pid; two children, "task1" and "task2" (the second
 * with arguments, as Process(target=task2, args=(2, "process 2"))), each
 * print their own pid, their parent's pid and their name a few times; main
 * prints a counter meanwhile, then terminates both (as p.terminate() does)
 * and shows their exit codes (-15: ended by SIGTERM).
 *
 * Exits non-zero if a child saw another parent than main or ended otherwise.
 */
#include <signal.h>
#include <stdio.h>
#include <weft/weft.h>

struct task2_args {
    int period_ms;
    const char *label;
};

static int task1(void *arg, size_t len) {
    (void)arg;
    (void)len;
    for (int i = 0; i < 100; i++) { /* "while True", bounded: terminate() ends it long before */
        weft_sleep_ns(100 * WEFT_MSEC);
        printf("task1: pid %lld, parent pid %lld (%s)\n", (long long)weft_process_current_pid(),
               (long long)weft_process_parent_pid(), weft_process_current_name());
        fflush(stdout);
    }
    return 0;
}

static int task2(void *arg, size_t len) {
    const struct task2_args *a = arg; /* fork: the parent's struct, in the child's copy of memory */
    (void)len;
    for (int i = 0; i < 100; i++) {
        weft_sleep_ns(a->period_ms * WEFT_MSEC);
        printf("task2: pid %lld, parent pid %lld, %s\n", (long long)weft_process_current_pid(),
               (long long)weft_process_parent_pid(), a->label);
        fflush(stdout);
    }
    return 0;
}

int main(void) {
    weft_process *p1, *p2;
    weft_process_options o1 = WEFT_PROCESS_OPTIONS_INIT, o2 = WEFT_PROCESS_OPTIONS_INIT;
    struct task2_args a = {200, "process 2"};
    o1.name = "task1";
    o2.name = "task2";
    printf("main: pid %lld\n", (long long)weft_process_current_pid());
    fflush(stdout);
    if (weft_process_spawn(&p1, task1, NULL, 0, &o1) != WEFT_OK ||
        weft_process_spawn(&p2, task2, &a, sizeof a, &o2) != WEFT_OK) {
        fprintf(stderr, "start: %s\n", weft_last_error()->message);
        return 1;
    }
    printf("started %s (pid %lld) and %s (pid %lld)\n", weft_process_name(p1), (long long)weft_process_pid(p1),
           weft_process_name(p2), (long long)weft_process_pid(p2));
    for (int number = 1; number <= 10; number++) {
        weft_sleep_ns(50 * WEFT_MSEC);
        printf("------- %d\n", number);
        fflush(stdout);
    }
    int c1 = 0, c2 = 0;
    if (weft_process_terminate(p1) != WEFT_OK || weft_process_terminate(p2) != WEFT_OK ||
        weft_process_join(p1, 5 * WEFT_SEC) != WEFT_OK || weft_process_join(p2, 5 * WEFT_SEC) != WEFT_OK ||
        weft_process_exitcode(p1, &c1) != WEFT_OK || weft_process_exitcode(p2, &c2) != WEFT_OK) {
        fprintf(stderr, "stop: %s\n", weft_last_error()->message);
        return 1;
    }
    printf("%s exit code %d, %s exit code %d\n", weft_process_name(p1), c1, weft_process_name(p2), c2);
    weft_process_destroy(p1);
    weft_process_destroy(p2);
    return c1 == -SIGTERM && c2 == -SIGTERM ? 0 : 1;
}
