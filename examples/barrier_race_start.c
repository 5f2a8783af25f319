/*
 * Seed idea: threads that must start together (Python's threading.Barrier).
 * Four runners get ready at their own pace (a random warm-up), then wait at
 * the start line, a weft_barrier for four parties. The last runner to arrive
 * runs the barrier's action, which fires the starting gun: it prints "go!"
 * exactly once per race, before anyone is released. The barrier is reused
 * for three races.
 *
 * Prints, for each race, "go!" and how far apart the runners started (well
 * under the warm-up spread of up to 40 ms). Exits non-zero if a wait failed,
 * the gun fired a wrong number of times, or two runners got the same place.
 */
#include <pthread.h>
#include <stdio.h>
#include <weft/weft.h>

enum { RUNNERS = 4, RACES = 3 };

static weft_barrier *start_line;
static int shots;                         /* times the gun fired; atomic */
static int64_t started[RACES][RUNNERS];   /* when each runner left the line */
static unsigned place[RACES][RUNNERS];    /* barrier index: arrival order */
static int failures;                      /* atomic */

static int fire_gun(void *user_data) {
    (void)user_data;
    int shot = __atomic_add_fetch(&shots, 1, __ATOMIC_SEQ_CST);
    printf("race %d: go!\n", shot);
    return 0; /* non-zero would break the barrier */
}

static void *runner(void *arg) {
    int me = (int)(intptr_t)arg;
    unsigned seed = 7u * (unsigned)me + 1u;
    for (int race = 0; race < RACES; race++) {
        seed = seed * 1103515245u + 12345u;
        weft_sleep_ns((int64_t)((seed >> 16) % 40) * WEFT_MSEC); /* warming up */
        weft_status s = weft_barrier_wait(start_line, &place[race][me], 5 * WEFT_SEC);
        started[race][me] = weft_monotonic_ns();
        if (s != WEFT_OK) {
            fprintf(stderr, "runner %d: %s\n", me, weft_last_error()->message);
            __atomic_add_fetch(&failures, 1, __ATOMIC_SEQ_CST);
            return NULL;
        }
    }
    return NULL;
}

int main(void) {
    weft_barrier_options opts = WEFT_BARRIER_OPTIONS_INIT;
    pthread_t t[RUNNERS];
    opts.action = fire_gun;
    if (weft_barrier_create(&start_line, RUNNERS, &opts) != WEFT_OK) {
        fprintf(stderr, "weft_barrier_create: %s\n", weft_last_error()->message);
        return 1;
    }
    for (int i = 0; i < RUNNERS; i++)
        if (pthread_create(&t[i], NULL, runner, (void *)(intptr_t)i) != 0) return 1;
    for (int i = 0; i < RUNNERS; i++) pthread_join(t[i], NULL);
    weft_barrier_destroy(start_line);

    int ok = failures == 0 && shots == RACES;
    for (int race = 0; race < RACES && ok; race++) {
        int64_t first = started[race][0], last = started[race][0];
        unsigned seen = 0;
        for (int i = 0; i < RUNNERS; i++) {
            if (started[race][i] < first) first = started[race][i];
            if (started[race][i] > last) last = started[race][i];
            seen |= 1u << place[race][i];
        }
        printf("race %d: %d runners left the line within %.2f ms of each other\n", race + 1, RUNNERS,
               (double)(last - first) / 1e6);
        if (seen != (1u << RUNNERS) - 1) ok = 0; /* places 0..3, each once */
    }
    printf("the gun fired %d times for %d races\n", shots, RACES);
    return ok ? 0 : 1;
}
