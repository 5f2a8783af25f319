/*
 * Seed idea: a semaphore as a room with a limited number of seats. Ten
 * threads want in; a weft_semaphore with value 4 lets at most four of them
 * inside at once (Python: `threading.Semaphore(4)` around the work). Each
 * thread stays inside for 20 ms; a counter tracks how many are in the room
 * and the highest number ever seen.
 *
 * Then a BoundedSemaphore (a semaphore with max_value 4) shows the safety
 * net: releasing it once more than it was acquired is refused with
 * WEFT_EOVERFLOW instead of silently letting a fifth thread in later.
 *
 * Prints each thread entering and leaving, the peak (must be <= 4) and the
 * refused over-release. Exits non-zero if the peak exceeds 4 or any status
 * is unexpected.
 */
#include <pthread.h>
#include <stdio.h>
#include <weft/weft.h>

enum { THREADS = 10, SEATS = 4 };

static weft_semaphore *room;
static int inside, peak, failures;

static void *visitor(void *arg) {
    int id = (int)(intptr_t)arg;
    if (weft_semaphore_acquire(room, 5 * WEFT_SEC) != WEFT_OK) {
        fprintf(stderr, "visitor %d: %s\n", id, weft_last_error()->message);
        __atomic_add_fetch(&failures, 1, __ATOMIC_SEQ_CST);
        return NULL;
    }
    int now = __atomic_add_fetch(&inside, 1, __ATOMIC_SEQ_CST);
    int seen = __atomic_load_n(&peak, __ATOMIC_SEQ_CST);
    while (now > seen && !__atomic_compare_exchange_n(&peak, &seen, now, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    }
    printf("visitor %d enters (%d inside)\n", id, now);
    weft_sleep_ns(20 * WEFT_MSEC); /* the work, done by at most 4 at once */
    now = __atomic_sub_fetch(&inside, 1, __ATOMIC_SEQ_CST);
    printf("visitor %d leaves (%d inside)\n", id, now);
    if (weft_semaphore_release(room, 1) != WEFT_OK) __atomic_add_fetch(&failures, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

int main(void) {
    weft_semaphore_options bounded = WEFT_SEMAPHORE_OPTIONS_INIT;
    pthread_t t[THREADS];

    bounded.max_value = SEATS; /* a BoundedSemaphore(4) */
    if (weft_semaphore_create(&room, SEATS, &bounded) != WEFT_OK) {
        fprintf(stderr, "weft_semaphore_create: %s\n", weft_last_error()->message);
        return 1;
    }
    for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, visitor, (void *)(intptr_t)i);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    printf("peak: %d threads inside at once (limit %d)\n", peak, SEATS);
    printf("value now: %lld\n", (long long)weft_semaphore_value(room));

    /* Everyone has left: the value is back at 4, its bound. One release too many: */
    weft_status over = weft_semaphore_release(room, 1);
    printf("extra release on the bounded semaphore: %s (%s)\n", weft_status_name(over),
           weft_last_error()->message);
    int ok = failures == 0 && peak >= 1 && peak <= SEATS && over == WEFT_EOVERFLOW &&
             weft_semaphore_value(room) == SEATS;
    weft_semaphore_destroy(room);
    return ok ? 0 : 1;
}
