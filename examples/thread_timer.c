/*
 * Seed idea: threading.Timer. One timer says hello after 200 ms; a second
 * one, set for 500 ms, is cancelled after 50 ms and never runs.
 *
 * Prints when the first timer fired (about 200 ms after it was set), that the
 * second was cancelled, and that cancelling the first after it fired reports
 * WEFT_EBUSY. Exits non-zero if the timers misbehave.
 */
#include <stdio.h>
#include <weft/weft.h>

static int64_t start_ns;
static int hello_count, never_count;

static void hello(void *arg) {
    (void)arg;
    printf("timer: hello, %.0f ms after it was set\n", (double)(weft_monotonic_ns() - start_ns) / 1e6);
    __atomic_add_fetch(&hello_count, 1, __ATOMIC_ACQ_REL);
}

static void never(void *arg) {
    (void)arg;
    printf("timer: this line should never be printed\n");
    __atomic_add_fetch(&never_count, 1, __ATOMIC_ACQ_REL);
}

int main(void) {
    weft_timer *greet, *cancelled;
    start_ns = weft_monotonic_ns();
    if (weft_timer_start(&greet, 200 * WEFT_MSEC, hello, NULL) != WEFT_OK ||
        weft_timer_start(&cancelled, 500 * WEFT_MSEC, never, NULL) != WEFT_OK) {
        fprintf(stderr, "timer_start: %s\n", weft_last_error()->message);
        return 1;
    }
    weft_sleep_ns(50 * WEFT_MSEC);
    weft_status s = weft_timer_cancel(cancelled);
    printf("main: cancelled the 500 ms timer after 50 ms: %s\n", weft_status_name(s));
    if (s != WEFT_OK || weft_timer_join(cancelled, WEFT_SEC) != WEFT_OK) return 1;
    if (weft_timer_join(greet, 5 * WEFT_SEC) != WEFT_OK) {
        fprintf(stderr, "join: %s\n", weft_last_error()->message);
        return 1;
    }
    s = weft_timer_cancel(greet);
    printf("main: cancelling the 200 ms timer after it fired: %s\n", weft_status_name(s));
    weft_timer_destroy(greet);
    weft_timer_destroy(cancelled);
    int ok = s == WEFT_EBUSY && __atomic_load_n(&hello_count, __ATOMIC_ACQUIRE) == 1 &&
             __atomic_load_n(&never_count, __ATOMIC_ACQUIRE) == 0;
    printf("%s\n", ok ? "main: one timer fired, one never did" : "main: timers misbehaved");
    return ok ? 0 : 1;
}
