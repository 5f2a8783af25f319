/*
 * Seed idea: threading.enumerate() and active_count(). Main starts three
 * workers that wait for a signal, lists every alive thread (the main thread,
 * the workers and a plain pthread that asked for its current thread, which
 * shows up as "Dummy-N"), then lets them finish and counts again.
 *
 * Prints the thread list with names, states and daemon flags, and the active
 * count before, during and after. Exits non-zero if the counts are off.
 */
#include <pthread.h>
#include <stdio.h>
#include <weft/weft.h>

static int go; /* released by main */

static void *worker(void *arg) {
    (void)arg;
    while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE)) weft_sleep_ns(WEFT_MSEC);
    return NULL;
}

static void *plain(void *arg) {
    (void)arg;
    weft_thread_current(); /* gives this pthread a Dummy record */
    while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE)) weft_sleep_ns(WEFT_MSEC);
    return NULL;
}

int main(void) {
    enum { N = 3 };
    weft_thread *w[N], *all[16];
    pthread_t p;
    static const char *names[] = {"new", "running", "finished"};
    size_t before = weft_thread_active_count();
    printf("active threads before: %zu\n", before);
    for (int i = 0; i < N; i++) {
        if (weft_thread_spawn(&w[i], worker, NULL, NULL) != WEFT_OK) {
            fprintf(stderr, "spawn: %s\n", weft_last_error()->message);
            return 1;
        }
    }
    if (pthread_create(&p, NULL, plain, NULL) != 0) return 1;
    while (weft_thread_active_count() < before + N + 1) weft_sleep_ns(WEFT_MSEC);

    size_t n = weft_thread_enumerate(all, 16);
    printf("active threads now: %zu\n", n);
    for (size_t i = 0; i < n && i < 16; i++) {
        printf("  %-10s %-8s daemon=%d ident=%llu\n", weft_thread_name(all[i]),
               names[weft_thread_get_state(all[i])], weft_thread_is_daemon(all[i]),
               (unsigned long long)weft_thread_ident(all[i]));
        weft_thread_destroy(all[i]); /* enumerate hands out new references */
    }
    __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < N; i++) {
        if (weft_thread_join(w[i], NULL, 5 * WEFT_SEC) != WEFT_OK) return 1;
        weft_thread_destroy(w[i]);
    }
    pthread_join(p, NULL);
    size_t after = weft_thread_active_count();
    printf("active threads after: %zu\n", after);
    return (n == before + N + 1 && after == before) ? 0 : 1;
}
