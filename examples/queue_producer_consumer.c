/*
 * Seed idea: producer/consumer through queue.Queue(10), the producer faster
 * than the consumer, and None as the end marker.
 * Prints what is produced and consumed; the producer blocks whenever 10 items
 * wait, so "queued" never exceeds 10. Exits non-zero if anything is lost.
 */
#include <stdio.h>
#include <stdlib.h>
#include <weft/weft.h>

enum { ITEMS = 30, CAPACITY = 10 };
static const char END[] = "end"; /* the end marker: Python's None */

static void *produce(void *arg) {
    weft_queue *q = arg;
    for (int i = 1; i <= ITEMS; i++) {
        int *item = malloc(sizeof *item);
        if (!item) return (void *)1;
        int value = *item = i * 7 % 100;
        if (weft_queue_put(q, item, WEFT_FOREVER) != WEFT_OK) { /* the queue owns item now */
            free(item);
            return (void *)1;
        }
        printf("produced %2d (queued %lld)\n", value, (long long)weft_queue_size(q));
        weft_sleep_ns(1 * WEFT_MSEC); /* fast */
    }
    return weft_queue_put(q, (void *)END, WEFT_FOREVER) == WEFT_OK ? NULL : (void *)1;
}

static void *consume(void *arg) {
    weft_queue *q = arg;
    intptr_t got = 0;
    for (;;) {
        void *item;
        if (weft_queue_get(q, &item, 10 * WEFT_SEC) != WEFT_OK) return (void *)-1;
        if (item == END) break;
        printf("         consumed %2d\n", *(int *)item);
        free(item);
        got++;
        weft_sleep_ns(4 * WEFT_MSEC); /* slow */
    }
    return (void *)got;
}

int main(void) {
    weft_queue_options o = WEFT_QUEUE_OPTIONS_INIT;
    weft_queue *q;
    weft_thread *producer, *consumer;
    void *p_result, *c_result;
    o.capacity = CAPACITY;
    o.item_free = free; /* anything left at destroy is freed */
    if (weft_queue_create(&q, &o) != WEFT_OK || weft_thread_spawn(&producer, produce, q, NULL) != WEFT_OK ||
        weft_thread_spawn(&consumer, consume, q, NULL) != WEFT_OK) {
        fprintf(stderr, "setup failed: %s\n", weft_last_error()->message);
        return 1;
    }
    if (weft_thread_join(producer, &p_result, 30 * WEFT_SEC) != WEFT_OK ||
        weft_thread_join(consumer, &c_result, 30 * WEFT_SEC) != WEFT_OK) {
        fprintf(stderr, "join failed: %s\n", weft_last_error()->message);
        return 1;
    }
    printf("consumer got %ld of %d items\n", (long)(intptr_t)c_result, ITEMS);
    weft_thread_destroy(producer);
    weft_thread_destroy(consumer);
    weft_queue_destroy(q);
    return p_result == NULL && (intptr_t)c_result == ITEMS ? 0 : 1;
}
