/*
 * Seed idea: Pool(5) running 8 jobs with apply_async and a callback per job,
 * next to the synchronous apply that waits for each job in turn.
 * Prints each job as it starts and each callback, then the time both ways
 * took: about 2 rounds of work asynchronously, 8 rounds synchronously.
 */
#include <stdio.h>
#include <weft/weft.h>

static void *job(void *arg) {
    int n = (int)(intptr_t)arg;
    printf("job %d starts in %s\n", n, weft_thread_name(weft_thread_current()));
    weft_sleep_ns(50 * WEFT_MSEC); /* pretend to work */
    return (void *)(intptr_t)(n * n);
}

static void on_done(void *result, void *user_data) {
    int *count = user_data;
    __atomic_add_fetch(count, 1, __ATOMIC_RELAXED);
    printf("  callback: result %d\n", (int)(intptr_t)result);
}

static void on_error(weft_status code, const char *message, void *user_data) {
    (void)user_data;
    printf("  error callback: %s: %s\n", weft_status_name(code), message);
}

int main(void) {
    weft_pool_options o = WEFT_POOL_OPTIONS_INIT;
    weft_pool *pool;
    int callbacks = 0;
    o.workers = 5;
    o.name_prefix = "pool";
    if (weft_pool_create(&pool, &o) != WEFT_OK) {
        fprintf(stderr, "%s\n", weft_last_error()->message);
        return 1;
    }

    int64_t t0 = weft_monotonic_ns();
    for (int i = 0; i < 8; i++)
        if (weft_pool_apply_async(pool, job, (void *)(intptr_t)i, NULL, WEFT_FOREVER, on_done, on_error, &callbacks) !=
            WEFT_OK)
            return 1;
    if (weft_pool_close(pool) != WEFT_OK || weft_pool_join(pool, 10 * WEFT_SEC) != WEFT_OK) return 1;
    double async_ms = (double)(weft_monotonic_ns() - t0) / 1e6;
    weft_pool_destroy(pool);

    if (weft_pool_create(&pool, &o) != WEFT_OK) return 1;
    t0 = weft_monotonic_ns();
    for (int i = 0; i < 8; i++) {
        void *r;
        if (weft_pool_apply(pool, job, (void *)(intptr_t)i, &r) != WEFT_OK) return 1;
        printf("  apply returned %d\n", (int)(intptr_t)r);
    }
    double sync_ms = (double)(weft_monotonic_ns() - t0) / 1e6;
    weft_pool_destroy(pool);

    printf("apply_async: %d callbacks, %.0f ms; apply: %.0f ms\n", callbacks, async_ms, sync_ms);
    return callbacks == 8 && async_ms < sync_ms ? 0 : 1;
}
