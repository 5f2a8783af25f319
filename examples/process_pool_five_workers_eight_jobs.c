/*
 * Seed idea: Pool(5) running 8 jobs with apply_async and a callback per job,
 * this time with processes (multiprocessing.Pool) instead of threads.
 * Each job prints the pid of the worker process that runs it; each callback
 * (run in the pool's process) prints the job's result. Then it prints how
 * many distinct worker processes served the 8 jobs (at most 5) and the time:
 * about 2 rounds of 100 ms work, not 8.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <weft/weft.h>

struct job_result {
    int n;
    int square;
    long pid;
};

/* Runs in a worker process: argument and result are bytes. */
static weft_status job(const void *arg, size_t len, weft_ptask_result *out) {
    struct job_result r;
    int n;
    if (len != sizeof n) return weft_task_fail(WEFT_EINVAL, "job wants one int");
    memcpy(&n, arg, sizeof n);
    printf("job %d starts in process %ld\n", n, (long)getpid());
    fflush(stdout);                   /* the worker shares our stdout */
    weft_sleep_ns(100 * WEFT_MSEC);   /* pretend to work */
    r.n = n;
    r.square = n * n;
    r.pid = (long)getpid();
    return weft_ptask_result_set(out, &r, sizeof r);
}

struct tally {
    int callbacks, errors;
    long pids[8];
};

/* Runs in the pool's process (its supervisor thread). */
static void on_done(const weft_bytes *result, void *user_data) {
    struct tally *t = user_data;
    struct job_result r;
    memcpy(&r, result->data, sizeof r);
    printf("  callback: job %d -> %d (worker %ld)\n", r.n, r.square, r.pid);
    t->pids[r.n] = r.pid;
    t->callbacks++;
}

static void on_error(weft_status code, const char *message, void *user_data) {
    struct tally *t = user_data;
    printf("  error callback: %s: %s\n", weft_status_name(code), message);
    t->errors++;
}

int main(void) {
    weft_process_pool_options o = WEFT_PROCESS_POOL_OPTIONS_INIT;
    weft_process_pool *pool;
    struct tally t;
    memset(&t, 0, sizeof t);
    o.workers = 5;
    printf("main process %ld, pool of 5 worker processes\n", (long)getpid());
    fflush(stdout); /* the workers are forked: they would inherit unflushed output */
    if (weft_process_pool_create(&pool, &o) != WEFT_OK) {
        fprintf(stderr, "%s\n", weft_last_error()->message);
        return 1;
    }
    int64_t t0 = weft_monotonic_ns();
    for (int i = 0; i < 8; i++)
        if (weft_process_pool_apply_async(pool, job, &i, sizeof i, NULL, WEFT_FOREVER, on_done, on_error, &t) !=
            WEFT_OK) {
            fprintf(stderr, "%s\n", weft_last_error()->message);
            return 1;
        }
    /* pool.close(); pool.join() */
    if (weft_process_pool_close(pool) != WEFT_OK || weft_process_pool_join(pool, 10 * WEFT_SEC) != WEFT_OK) {
        fprintf(stderr, "%s\n", weft_last_error()->message);
        return 1;
    }
    double ms = (double)(weft_monotonic_ns() - t0) / 1e6;
    weft_process_pool_destroy(pool);

    int distinct = 0;
    for (int i = 0; i < 8; i++) {
        int seen = 0;
        for (int j = 0; j < i; j++) seen = seen || t.pids[j] == t.pids[i];
        distinct += !seen && t.pids[i] != 0;
    }
    printf("%d callbacks, %d errors, %d worker processes, %.0f ms\n", t.callbacks, t.errors, distinct, ms);
    return t.callbacks == 8 && t.errors == 0 && distinct >= 2 && distinct <= 5 ? 0 : 1;
}
