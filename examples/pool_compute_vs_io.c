/*
 * Seed idea: compute-bound versus IO-bound work. Counting primes keeps a CPU
 * busy, so more workers than cores do not help; waiting for a (simulated)
 * download leaves the CPU idle, so many more workers than cores finish sooner.
 * Prints the time for each kind of work with `cores` workers and with
 * 4 x `cores` workers, and the speed-up the extra workers bring.
 */
#include <stdio.h>
#include <weft/weft.h>

static int is_prime(long n) {
    if (n < 2) return 0;
    for (long d = 2; d * d <= n; d++)
        if (n % d == 0) return 0;
    return 1;
}

static void *count_primes(void *arg) {
    long start = (long)(intptr_t)arg, count = 0;
    for (long n = start; n < start + 40000; n++) count += is_prime(n);
    return (void *)(intptr_t)count;
}

static void *download(void *arg) {
    weft_sleep_ns(20 * WEFT_MSEC); /* waiting on the network: no CPU used */
    return arg;
}

static double run(int workers, weft_task_fn fn, int jobs) {
    weft_pool_options o = WEFT_POOL_OPTIONS_INIT;
    weft_pool *pool;
    void *args[64], *results[64];
    o.workers = workers;
    if (weft_pool_create(&pool, &o) != WEFT_OK) return -1;
    for (int i = 0; i < jobs; i++) args[i] = (void *)(intptr_t)(1000000 + i * 40000);
    int64_t t0 = weft_monotonic_ns();
    weft_status s = weft_pool_map(pool, fn, args, (size_t)jobs, results, 1, 30 * WEFT_SEC);
    double ms = (double)(weft_monotonic_ns() - t0) / 1e6;
    weft_pool_destroy(pool);
    return s == WEFT_OK ? ms : -1;
}

int main(void) {
    int cores = weft_cpu_count();
    double c1 = run(cores, count_primes, 16), c4 = run(4 * cores, count_primes, 16);
    double i1 = run(cores, download, 32), i4 = run(4 * cores, download, 32);
    if (c1 < 0 || c4 < 0 || i1 < 0 || i4 < 0) return 1;
    printf("%d cores\n", cores);
    printf("compute-bound, 16 jobs: %2d workers %6.0f ms, %2d workers %6.0f ms: speed-up x%.1f (about 1: CPUs are the limit)\n",
           cores, c1, 4 * cores, c4, c1 / c4);
    printf("IO-bound,      32 jobs: %2d workers %6.0f ms, %2d workers %6.0f ms: speed-up x%.1f (waits overlap)\n", cores,
           i1, 4 * cores, i4, i1 / i4);
    return i4 < i1 ? 0 : 1;
}
