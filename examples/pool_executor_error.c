/*
 * Seed idea: ThreadPoolExecutor with exception capture. A task that fails
 * does not kill its worker: its future carries the error code and message,
 * and future.result() hands them to the caller, while the other tasks'
 * results arrive as usual.
 * Prints each task's outcome as it completes.
 */
#include <stdio.h>
#include <weft/weft.h>

static void *parse(void *arg) {
    const char *text = arg;
    int value = 0;
    for (const char *c = text; *c; c++) {
        if (*c < '0' || *c > '9') {
            weft_task_fail(WEFT_EINVAL, "not a number"); /* Python: raise ValueError */
            return NULL;
        }
        value = value * 10 + (*c - '0');
    }
    return (void *)(intptr_t)value;
}

int main(void) {
    static const char *inputs[] = {"12", "7", "seven", "40"};
    weft_pool *pool;
    weft_future *futures[4];
    weft_as_completed *it;
    weft_future *f;
    int ok = 0, failed = 0;

    if (weft_pool_create(&pool, NULL) != WEFT_OK) return 1;
    for (int i = 0; i < 4; i++)
        if (weft_pool_submit(pool, parse, (void *)inputs[i], &futures[i], WEFT_FOREVER) != WEFT_OK) return 1;

    if (weft_as_completed_create(&it, futures, 4) != WEFT_OK) return 1;
    while (weft_as_completed_next(it, &f, 5 * WEFT_SEC) == WEFT_OK) {
        void *value;
        weft_status s = weft_future_result(f, &value, 0);
        if (s == WEFT_OK) {
            printf("ok:     %d\n", (int)(intptr_t)value);
            ok++;
        } else {
            printf("failed: %s: %s\n", weft_status_name(s), weft_last_error()->message);
            failed++;
        }
    }
    weft_as_completed_destroy(it);
    for (int i = 0; i < 4; i++) weft_future_destroy(futures[i]);
    weft_pool_destroy(pool);
    printf("%d ok, %d failed, and the pool kept working\n", ok, failed);
    return ok == 3 && failed == 1 ? 0 : 1;
}
