/*
 * Seed idea: download and save through a queue of capacity 5. The downloader
 * puts file names; the saver takes them with a timeout on get and stops when
 * nothing came for a while (the seed's q.get(timeout=5) in try/except).
 * Prints "downloading" and "saved" lines, then why the saver stopped.
 */
#include <stdio.h>
#include <weft/weft.h>

static const char *files[] = {"1.jpg", "5.exe", "6.csv"};
enum { NFILES = sizeof files / sizeof files[0] };

static void *download(void *arg) {
    weft_queue *q = arg;
    for (int i = 0; i < NFILES; i++) {
        printf("downloading: %s\n", files[i]);
        if (weft_queue_put(q, (void *)files[i], WEFT_FOREVER) != WEFT_OK) return (void *)1;
        weft_sleep_ns(50 * WEFT_MSEC);
    }
    return NULL;
}

static void *save(void *arg) {
    weft_queue *q = arg;
    intptr_t saved = 0;
    for (;;) {
        void *name;
        weft_status s = weft_queue_get(q, &name, 300 * WEFT_MSEC);
        if (s == WEFT_ETIMEDOUT) {
            printf("nothing new for 300 ms: the saver stops (%s)\n", weft_status_name(s));
            break;
        }
        if (s != WEFT_OK) return (void *)-1;
        printf("saved: %s\n", (const char *)name);
        saved++;
    }
    return (void *)saved;
}

int main(void) {
    weft_queue_options o = WEFT_QUEUE_OPTIONS_INIT;
    weft_queue *q;
    weft_thread *d, *s;
    void *saved = NULL;
    o.capacity = 5;
    if (weft_queue_create(&q, &o) != WEFT_OK || weft_thread_spawn(&d, download, q, NULL) != WEFT_OK ||
        weft_thread_spawn(&s, save, q, NULL) != WEFT_OK) {
        fprintf(stderr, "setup failed: %s\n", weft_last_error()->message);
        return 1;
    }
    if (weft_thread_join(d, NULL, 10 * WEFT_SEC) != WEFT_OK || weft_thread_join(s, &saved, 10 * WEFT_SEC) != WEFT_OK)
        return 1;
    weft_thread_destroy(d);
    weft_thread_destroy(s);
    weft_queue_destroy(q);
    return (intptr_t)saved == NFILES ? 0 : 1;
}
