/*
 * Seed idea: a pool inside a pool thread. Each outer task (a "site") starts
 * its own small pool to fetch its pages, and another outer task submits to
 * the very pool it runs in and waits for the result: with a single outer
 * worker that would deadlock a naive pool; weft's waiting worker runs the
 * queued task itself.
 * Prints the pages each site fetched and the nested result.
 */
#include <stdio.h>
#include <weft/weft.h>

static weft_pool *outer;

static void *fetch_page(void *arg) { return (void *)((intptr_t)arg * 10); }

static void *crawl_site(void *arg) {
    weft_pool_options o = WEFT_POOL_OPTIONS_INIT;
    weft_pool *inner;
    void *pages[3] = {(void *)1, (void *)2, (void *)3}, *sizes[3];
    intptr_t total = 0;
    o.workers = 3;
    o.name_prefix = "page";
    if (weft_pool_create(&inner, &o) != WEFT_OK) return (void *)-1;
    if (weft_pool_map(inner, fetch_page, pages, 3, sizes, 1, 5 * WEFT_SEC) == WEFT_OK)
        for (int i = 0; i < 3; i++) total += (intptr_t)sizes[i];
    weft_pool_destroy(inner);
    printf("site %d: fetched 3 pages, %ld bytes, inside %s\n", (int)(intptr_t)arg, (long)total,
           weft_thread_name(weft_thread_current()));
    return (void *)total;
}

static void *wait_on_own_pool(void *arg) {
    weft_future *f;
    void *r = NULL;
    if (weft_pool_submit(outer, fetch_page, arg, &f, WEFT_FOREVER) != WEFT_OK) return (void *)-1;
    weft_status s = weft_future_result(f, &r, 5 * WEFT_SEC);
    weft_future_destroy(f);
    return s == WEFT_OK ? r : (void *)-1;
}

int main(void) {
    weft_pool_options o = WEFT_POOL_OPTIONS_INIT;
    void *r1, *r2;
    o.workers = 1;
    o.name_prefix = "site";
    if (weft_pool_create(&outer, &o) != WEFT_OK) return 1;
    if (weft_pool_apply(outer, crawl_site, (void *)1, &r1) != WEFT_OK) return 1;
    if (weft_pool_apply(outer, wait_on_own_pool, (void *)7, &r2) != WEFT_OK) return 1;
    printf("a task waited on its own one-worker pool and got %ld\n", (long)(intptr_t)r2);
    weft_pool_destroy(outer);
    return (intptr_t)r1 == 60 && (intptr_t)r2 == 70 ? 0 : 1;
}
