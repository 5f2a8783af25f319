/*
 * Seed idea: a Pool.map where one job crashes its worker process. With
 * Python's multiprocessing.Pool that map hangs forever; weft's supervised
 * pool fails only the crashed item and replaces the worker.
 * Prints the map's results (item 5 says EWORKERDIED with the worker's pid
 * and signal), the pool's counters, and a job the pool still serves after.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <weft/weft.h>

static weft_status cube_or_crash(const void *arg, size_t len, weft_ptask_result *out) {
    int64_t x;
    if (len != sizeof x) return WEFT_EINVAL;
    memcpy(&x, arg, sizeof x);
    if (x == 5) raise(SIGSEGV); /* a bug in the job: the worker process dies */
    x = x * x * x;
    return weft_ptask_result_set(out, &x, sizeof x);
}

int main(void) {
    weft_process_pool_options o = WEFT_PROCESS_POOL_OPTIONS_INIT;
    weft_process_pool *pool;
    o.workers = 2;
    if (weft_process_pool_create(&pool, &o) != WEFT_OK) {
        fprintf(stderr, "%s\n", weft_last_error()->message);
        return 1;
    }
    enum { N = 10 };
    int64_t xs[N];
    weft_bytes args[N];
    weft_bytes *results[N];
    weft_status codes[N];
    for (int i = 0; i < N; i++) {
        xs[i] = i;
        args[i].size = sizeof xs[i];
        args[i].data = &xs[i];
    }
    weft_status s = weft_process_pool_map(pool, cube_or_crash, args, N, results, codes, 3, 20 * WEFT_SEC);
    printf("map returned %s: %s\n", weft_status_name(s), weft_last_error()->message);
    int intact = 0;
    for (int i = 0; i < N; i++) {
        if (codes[i] == WEFT_OK) {
            int64_t y;
            memcpy(&y, results[i]->data, sizeof y);
            printf("  %d^3 = %lld\n", i, (long long)y);
            intact += y == (int64_t)i * i * i;
            weft_bytes_free(results[i]);
        } else {
            printf("  %d: %s\n", i, weft_status_name(codes[i]));
        }
    }
    weft_process_pool_stats st;
    if (weft_process_pool_stats_get(pool, &st) != WEFT_OK) return 1;
    /* item 5 crashed twice: in its chunk of 3 (so that chunk was run again
     * one item per task, to save items 3 and 4), then alone */
    printf("workers %d, worker crashes %lld, replacements %lld\n", st.workers, (long long)st.crashed,
           (long long)st.replaced);

    int64_t seven = 7;
    weft_bytes *r;
    if (weft_process_pool_apply(pool, cube_or_crash, &seven, sizeof seven, &r) != WEFT_OK) {
        fprintf(stderr, "%s\n", weft_last_error()->message);
        return 1;
    }
    int64_t y;
    memcpy(&y, r->data, sizeof y);
    printf("after the crash the pool still serves: 7^3 = %lld\n", (long long)y);
    weft_bytes_free(r);
    weft_process_pool_destroy(pool);
    return s == WEFT_EWORKERDIED && codes[5] == WEFT_EWORKERDIED && intact == N - 1 && y == 343 ? 0 : 1;
}
