/*
 * Seed idea: ThreadPoolExecutor with exception capture. Python's
 *
 *     with ThreadPoolExecutor(3) as ex:
 *         fs = [ex.submit(divide, 100, d) for d in (5, 4, 0, 2, 1, 10)]
 *         for f in as_completed(fs): ...
 *         fs[2].result()   # raises ZeroDivisionError, captured in the future
 *
 * here with three plain pthreads as the workers (the producer side of a
 * weft_future: set_running, then set_result or set_error) and the consumer
 * side as Python has it: a done callback per future, as_completed, result().
 * The job with divisor 0 fails with its own code and message, the last job
 * is cancelled before any worker starts (the worker skips it).
 *
 * Prints one callback line per job (from the worker that finished it, or
 * from main for the cancelled one), interleaved with the as_completed lines
 * that give the jobs in completion order (the main thread is woken before
 * the finishing worker runs the callbacks), then each
 * job's result() in submission order: a value, the captured error code and
 * message, or "cancelled". Exits non-zero if any weft call misbehaves.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <weft/weft.h>

enum { JOBS = 7, WORKERS = 3 };
#define DIVIDE_BY_ZERO (-1000) /* the task's own negative error code */

static const int divisors[JOBS] = {5, 4, 0, 2, 1, 10, 3};
static weft_future *futures[JOBS];
static int next_job;    /* taken with an atomic add: the "work queue" */
static int callbacks;   /* done callbacks that ran, counted atomically */
static int failures;    /* unexpected statuses, counted atomically */

static void check(weft_status s, weft_status want, const char *what) {
    if (s != want) {
        fprintf(stderr, "%s: %s (%s)\n", what, weft_status_name(s), weft_last_error()->message);
        __atomic_add_fetch(&failures, 1, __ATOMIC_SEQ_CST);
    }
}

/* One job: divide 100 by its divisor, slower for small divisors. */
static void run_job(int i, weft_future *f) {
    weft_status s = weft_future_set_running(f);
    if (s == WEFT_ECANCELLED) return; /* cancelled while queued: skip it */
    check(s, WEFT_OK, "weft_future_set_running");
    weft_sleep_ns((int64_t)(12 - divisors[i]) * 10 * WEFT_MSEC);
    if (divisors[i] == 0) {
        char msg[64];
        snprintf(msg, sizeof msg, "job %d: division by zero (100 / %d)", i, divisors[i]);
        check(weft_future_set_error(f, DIVIDE_BY_ZERO, msg), WEFT_OK, "weft_future_set_error");
        return;
    }
    int *quotient = malloc(sizeof *quotient);
    if (!quotient) {
        check(weft_future_set_error(f, WEFT_ENOMEM, "out of memory"), WEFT_OK, "weft_future_set_error");
        return;
    }
    *quotient = 100 / divisors[i];
    check(weft_future_set_result(f, quotient, free), WEFT_OK, "weft_future_set_result"); /* f owns it now */
}

static void *worker(void *arg) {
    (void)arg;
    for (;;) {
        int i = __atomic_fetch_add(&next_job, 1, __ATOMIC_SEQ_CST);
        if (i >= JOBS) return NULL;
        run_job(i, futures[i]);
    }
}

/* Runs once per future, in the thread that finished it. */
static void on_done(weft_future *f, void *user_data) {
    static const char *const names[] = {"PENDING", "RUNNING", "DONE", "FAILED", "CANCELLED"};
    int state = weft_future_get_state(f);
    printf("  [callback] job %d finished: %s\n", (int)(intptr_t)user_data,
           state >= 0 && state <= 4 ? names[state] : "?");
    __atomic_add_fetch(&callbacks, 1, __ATOMIC_SEQ_CST);
}

static int index_of(weft_future *f) {
    for (int i = 0; i < JOBS; i++)
        if (futures[i] == f) return i;
    return -1;
}

int main(void) {
    pthread_t workers[WORKERS];
    weft_as_completed *it;
    weft_future *f;
    weft_status s;

    for (int i = 0; i < JOBS; i++) {
        check(weft_future_create(&futures[i]), WEFT_OK, "weft_future_create");
        if (!futures[i]) return 1;
        check(weft_future_add_done_callback(futures[i], on_done, (void *)(intptr_t)i), WEFT_OK,
              "weft_future_add_done_callback");
    }
    printf("cancelling job %d before the workers start:\n", JOBS - 1);
    check(weft_future_cancel(futures[JOBS - 1]), WEFT_OK, "weft_future_cancel");

    printf("3 workers, %d jobs:\n", JOBS);
    for (int i = 0; i < WORKERS; i++)
        if (pthread_create(&workers[i], NULL, worker, NULL) != 0) return 1;

    /* as_completed: each future once, finished ones first, then as they finish */
    check(weft_as_completed_create(&it, futures, JOBS), WEFT_OK, "weft_as_completed_create");
    if (!it) return 1;
    for (int rank = 1; (s = weft_as_completed_next(it, &f, 5 * WEFT_SEC)) == WEFT_OK; rank++)
        printf("  as_completed #%d: job %d\n", rank, index_of(f));
    check(s, WEFT_ECLOSED, "weft_as_completed_next");
    weft_as_completed_destroy(it);
    for (int i = 0; i < WORKERS; i++) pthread_join(workers[i], NULL);

    /* result() in submission order: the error travels in the future */
    printf("results in submission order:\n");
    for (int i = 0; i < JOBS; i++) {
        void *value;
        s = weft_future_result(futures[i], &value, 5 * WEFT_SEC);
        if (s == WEFT_OK) {
            printf("  job %d: 100 / %d = %d\n", i, divisors[i], *(int *)value);
        } else if (s == WEFT_ECANCELLED) {
            printf("  job %d: cancelled\n", i);
        } else {
            printf("  job %d: failed with code %d: %s\n", i, s, weft_last_error()->message);
            check(s, DIVIDE_BY_ZERO, "weft_future_result of the failing job");
        }
    }
    for (int i = 0; i < JOBS; i++) weft_future_destroy(futures[i]); /* frees the quotients */

    if (__atomic_load_n(&callbacks, __ATOMIC_SEQ_CST) != JOBS) {
        fprintf(stderr, "expected %d callbacks, saw %d\n", JOBS, callbacks);
        return 1;
    }
    return __atomic_load_n(&failures, __ATOMIC_SEQ_CST) == 0 ? 0 : 1;
}
