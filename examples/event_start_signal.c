/*
 * Seed idea: the starting gun (the traffic light turning green). Five runner
 * threads get ready and wait on a weft_event; the main thread waits until
 * all of them are at the line, then sets the event once and every runner
 * starts at the same moment (Python: `threading.Event()`, `event.wait()`,
 * `event.set()`).
 *
 * Also shows the other two outcomes: a wait with a timeout on a clear event
 * returns WEFT_ETIMEDOUT, and after weft_event_clear() the light is red
 * again.
 *
 * Prints each runner at the line and off, how long after the gun each one
 * started (all within a few ms), and the timed-out wait. Exits non-zero on
 * any unexpected status.
 */
#include <pthread.h>
#include <stdio.h>
#include <weft/weft.h>

enum { RUNNERS = 5 };

static weft_event *gun;
static int at_line, failures;
static int64_t fired_at;
static int64_t started_after[RUNNERS];

static void *runner(void *arg) {
    int id = (int)(intptr_t)arg;
    printf("runner %d at the line\n", id);
    __atomic_add_fetch(&at_line, 1, __ATOMIC_SEQ_CST);
    weft_status s = weft_event_wait(gun, 5 * WEFT_SEC);
    int64_t now = weft_monotonic_ns();
    if (s != WEFT_OK) {
        fprintf(stderr, "runner %d: %s\n", id, weft_status_name(s));
        __atomic_add_fetch(&failures, 1, __ATOMIC_SEQ_CST);
        return NULL;
    }
    started_after[id] = now - __atomic_load_n(&fired_at, __ATOMIC_SEQ_CST);
    return NULL;
}

int main(void) {
    pthread_t t[RUNNERS];
    if (weft_event_create(&gun, NULL) != WEFT_OK) {
        fprintf(stderr, "weft_event_create: %s\n", weft_last_error()->message);
        return 1;
    }

    weft_status early = weft_event_wait(gun, 50 * WEFT_MSEC);
    printf("waiting 50 ms before anyone fires: %s\n", weft_status_name(early));

    for (int i = 0; i < RUNNERS; i++) pthread_create(&t[i], NULL, runner, (void *)(intptr_t)i);
    while (__atomic_load_n(&at_line, __ATOMIC_SEQ_CST) < RUNNERS) weft_sleep_ns(WEFT_MSEC);
    weft_sleep_ns(20 * WEFT_MSEC); /* let them settle into their wait */

    printf("bang!\n");
    __atomic_store_n(&fired_at, weft_monotonic_ns(), __ATOMIC_SEQ_CST);
    if (weft_event_set(gun) != WEFT_OK) failures++;
    for (int i = 0; i < RUNNERS; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < RUNNERS; i++)
        printf("runner %d off %.3f ms after the gun\n", i, (double)started_after[i] / 1e6);

    int set_now = weft_event_is_set(gun);
    if (weft_event_clear(gun) != WEFT_OK) failures++;
    printf("is_set after the start: %d, after clear: %d\n", set_now, weft_event_is_set(gun));

    int ok = failures == 0 && early == WEFT_ETIMEDOUT && set_now == 1 && weft_event_is_set(gun) == 0;
    weft_event_destroy(gun);
    return ok ? 0 : 1;
}
