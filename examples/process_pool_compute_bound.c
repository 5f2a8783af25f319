/*
 * Seed idea: compute-bound work spread over the cores. The same job (count
 * the primes below a bound, in slices) runs on a thread pool and on a
 * process pool with one worker per core, and once on the main thread.
 * Prints the prime count each way and the time each took; in C both pools
 * run in parallel (no GIL), so the process pool's extra cost is only the
 * copying of arguments and results as bytes.
 */
#include <stdio.h>
#include <string.h>
#include <weft/weft.h>

#define BOUND 1000000
#define SLICES 16

static int64_t primes_in(int64_t lo, int64_t hi) {
    int64_t count = 0;
    for (int64_t n = lo < 2 ? 2 : lo; n < hi; n++) {
        int prime = 1;
        for (int64_t d = 2; d * d <= n; d++)
            if (n % d == 0) {
                prime = 0;
                break;
            }
        count += prime;
    }
    return count;
}

static int64_t slice_lo(int i) { return (int64_t)BOUND * i / SLICES; }

/* thread pool task: the slice index in the pointer, the count back in it */
static void *thread_slice(void *arg) {
    int i = (int)(intptr_t)arg;
    return (void *)(intptr_t)primes_in(slice_lo(i), slice_lo(i + 1));
}

/* process pool task: the slice index as bytes, the count as bytes */
static weft_status process_slice(const void *arg, size_t len, weft_ptask_result *out) {
    int i;
    if (len != sizeof i) return WEFT_EINVAL;
    memcpy(&i, arg, sizeof i);
    int64_t c = primes_in(slice_lo(i), slice_lo(i + 1));
    return weft_ptask_result_set(out, &c, sizeof c);
}

int main(void) {
    int cores = weft_cpu_count();
    int64_t serial = 0, threads = 0, processes = 0;

    int64_t t0 = weft_monotonic_ns();
    for (int i = 0; i < SLICES; i++) serial += primes_in(slice_lo(i), slice_lo(i + 1));
    double serial_ms = (double)(weft_monotonic_ns() - t0) / 1e6;

    weft_pool_options to = WEFT_POOL_OPTIONS_INIT;
    weft_pool *tp;
    to.workers = cores;
    if (weft_pool_create(&tp, &to) != WEFT_OK) return 1;
    void *targs[SLICES], *tres[SLICES];
    for (int i = 0; i < SLICES; i++) targs[i] = (void *)(intptr_t)i;
    t0 = weft_monotonic_ns();
    if (weft_pool_map(tp, thread_slice, targs, SLICES, tres, 1, 60 * WEFT_SEC) != WEFT_OK) return 1;
    for (int i = 0; i < SLICES; i++) threads += (int64_t)(intptr_t)tres[i];
    double thread_ms = (double)(weft_monotonic_ns() - t0) / 1e6;
    weft_pool_destroy(tp);

    weft_process_pool_options po = WEFT_PROCESS_POOL_OPTIONS_INIT;
    weft_process_pool *pp;
    po.workers = cores;
    if (weft_process_pool_create(&pp, &po) != WEFT_OK) {
        fprintf(stderr, "%s\n", weft_last_error()->message);
        return 1;
    }
    int idx[SLICES];
    weft_bytes args[SLICES];
    weft_bytes *res[SLICES];
    for (int i = 0; i < SLICES; i++) {
        idx[i] = i;
        args[i].size = sizeof idx[i];
        args[i].data = &idx[i];
    }
    t0 = weft_monotonic_ns();
    if (weft_process_pool_map(pp, process_slice, args, SLICES, res, NULL, 1, 60 * WEFT_SEC) != WEFT_OK) {
        fprintf(stderr, "%s\n", weft_last_error()->message);
        return 1;
    }
    for (int i = 0; i < SLICES; i++) {
        int64_t c;
        memcpy(&c, res[i]->data, sizeof c);
        processes += c;
        weft_bytes_free(res[i]);
    }
    double process_ms = (double)(weft_monotonic_ns() - t0) / 1e6;
    weft_process_pool_destroy(pp);

    printf("primes below %d: %lld\n", BOUND, (long long)serial);
    printf("main thread:                %7.1f ms\n", serial_ms);
    printf("thread pool, %d workers:     %7.1f ms (%lld primes)\n", cores, thread_ms, (long long)threads);
    printf("process pool, %d workers:    %7.1f ms (%lld primes)\n", cores, process_ms, (long long)processes);
    return serial == threads && serial == processes ? 0 : 1;
}
