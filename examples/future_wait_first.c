/*
 * Seed idea: the download threads, now with futures and Python's
 *
 *     done, not_done = wait(fs, return_when=FIRST_COMPLETED)
 *
 * Three downloads of different lengths run in their own threads, each
 * finishing a weft_future with the page it fetched. The main thread sleeps in
 * weft_future_wait_many(FIRST_COMPLETED) until the quickest one is done (no
 * polling), uses it at once, then waits for the rest with ALL_COMPLETED and a
 * timeout.
 *
 * Prints which download finished first and after how long, then every
 * download's result. Exits non-zero if any weft call misbehaves.
 */
#include <pthread.h>
#include <stdio.h>
#include <weft/weft.h>

enum { DOWNLOADS = 3 };

struct download {
    const char *url;
    int ms; /* how long the "download" takes */
    weft_future *future;
    pthread_t thread;
    char page[64];
};

static struct download downloads[DOWNLOADS] = {
    {"https://example.org/big.iso", 400, NULL, 0, ""},
    {"https://example.org/small.txt", 60, NULL, 0, ""},
    {"https://example.org/medium.png", 200, NULL, 0, ""},
};

static void *fetch(void *arg) {
    struct download *d = arg;
    if (weft_future_set_running(d->future) != WEFT_OK) return NULL;
    weft_sleep_ns(d->ms * WEFT_MSEC);
    snprintf(d->page, sizeof d->page, "%d bytes from %s", d->ms * 1000, d->url);
    /* The value is borrowed from the download record: no free function. */
    if (weft_future_set_result(d->future, d->page, NULL) != WEFT_OK)
        weft_future_set_error(d->future, WEFT_EINTERNAL, "could not publish the page");
    return NULL;
}

static int fail(const char *what, weft_status s) {
    fprintf(stderr, "%s: %s (%s)\n", what, weft_status_name(s), weft_last_error()->message);
    return 1;
}

int main(void) {
    weft_future *fs[DOWNLOADS];
    size_t n_done = 0;
    weft_status s;
    int rc = 0;

    for (int i = 0; i < DOWNLOADS; i++) {
        if ((s = weft_future_create(&downloads[i].future)) != WEFT_OK) return fail("weft_future_create", s);
        fs[i] = downloads[i].future;
    }
    int64_t t0 = weft_monotonic_ns();
    for (int i = 0; i < DOWNLOADS; i++)
        if (pthread_create(&downloads[i].thread, NULL, fetch, &downloads[i]) != 0) return 1;

    s = weft_future_wait_many(fs, DOWNLOADS, WEFT_WAIT_FIRST_COMPLETED, 5 * WEFT_SEC, &n_done);
    if (s != WEFT_OK) return fail("weft_future_wait_many(FIRST_COMPLETED)", s);
    printf("first completed after %.0f ms (%zu done):\n", (double)(weft_monotonic_ns() - t0) / 1e6, n_done);
    for (int i = 0; i < DOWNLOADS; i++) {
        void *page;
        if (weft_future_done(fs[i]) == 1 && weft_future_result(fs[i], &page, 0) == WEFT_OK)
            printf("  %s -> %s\n", downloads[i].url, (const char *)page);
    }

    s = weft_future_wait_many(fs, DOWNLOADS, WEFT_WAIT_ALL_COMPLETED, 5 * WEFT_SEC, &n_done);
    if (s != WEFT_OK) return fail("weft_future_wait_many(ALL_COMPLETED)", s);
    printf("all %zu completed after %.0f ms:\n", n_done, (double)(weft_monotonic_ns() - t0) / 1e6);
    for (int i = 0; i < DOWNLOADS; i++) {
        void *page;
        s = weft_future_result(fs[i], &page, 0);
        if (s != WEFT_OK) {
            rc = fail("weft_future_result", s);
            continue;
        }
        printf("  %s -> %s\n", downloads[i].url, (const char *)page);
    }
    for (int i = 0; i < DOWNLOADS; i++) pthread_join(downloads[i].thread, NULL);
    for (int i = 0; i < DOWNLOADS; i++) weft_future_destroy(fs[i]);
    return rc;
}
