/*
 * Seed idea: the producer faster than the consumer, on a small shelf. A
 * producer thread makes 12 items quickly; a consumer takes them slowly. The
 * shelf holds only 3, so the producer must wait for room and the consumer
 * for items: both wait on one weft_condition (Python: `threading.Condition`
 * with `wait_for(predicate)` and `notify()`).
 *
 * wait_for() re-checks its predicate under the lock after every wake-up, so
 * the code reads like the sentence "wait until there is room".
 *
 * Prints each item put and taken with the shelf's fill level (never above 3)
 * and the sum of all items taken. Exits non-zero if an item is lost, the
 * shelf overflows or any status is unexpected.
 */
#include <pthread.h>
#include <stdio.h>
#include <weft/weft.h>

enum { SHELF = 3, ITEMS = 12 };

struct shelf {
    weft_condition *cond;
    int items[SHELF];
    int head, count;
    int max_seen;
};

static struct shelf shelf;
static int failures;

static int has_room(void *arg) { return ((struct shelf *)arg)->count < SHELF; }
static int has_item(void *arg) { return ((struct shelf *)arg)->count > 0; }

static void fail_on(weft_status s, const char *what) {
    if (s != WEFT_OK) {
        fprintf(stderr, "%s: %s (%s)\n", what, weft_status_name(s), weft_last_error()->message);
        __atomic_add_fetch(&failures, 1, __ATOMIC_SEQ_CST);
    }
}

static void *producer(void *arg) {
    (void)arg;
    for (int i = 1; i <= ITEMS; i++) {
        fail_on(weft_condition_acquire(shelf.cond, 5 * WEFT_SEC), "producer acquire");
        weft_status s = weft_condition_wait_for(shelf.cond, has_room, &shelf, 5 * WEFT_SEC);
        fail_on(s, "producer wait_for room");
        if (s == WEFT_OK) {
            shelf.items[(shelf.head + shelf.count) % SHELF] = i;
            shelf.count++;
            if (shelf.count > shelf.max_seen) shelf.max_seen = shelf.count;
            printf("put  %2d  (shelf %d/%d)\n", i, shelf.count, SHELF);
            fail_on(weft_condition_notify(shelf.cond, 1), "notify");
        }
        fail_on(weft_condition_release(shelf.cond), "producer release");
    }
    return NULL;
}

static void *consumer(void *arg) {
    long *sum = arg;
    for (int i = 0; i < ITEMS; i++) {
        fail_on(weft_condition_acquire(shelf.cond, 5 * WEFT_SEC), "consumer acquire");
        weft_status s = weft_condition_wait_for(shelf.cond, has_item, &shelf, 5 * WEFT_SEC);
        fail_on(s, "consumer wait_for item");
        if (s == WEFT_OK) {
            int item = shelf.items[shelf.head];
            shelf.head = (shelf.head + 1) % SHELF;
            shelf.count--;
            *sum += item;
            printf("take %2d  (shelf %d/%d)\n", item, shelf.count, SHELF);
            fail_on(weft_condition_notify(shelf.cond, 1), "notify");
        }
        fail_on(weft_condition_release(shelf.cond), "consumer release");
        weft_sleep_ns(10 * WEFT_MSEC); /* the slow consumer */
    }
    return NULL;
}

int main(void) {
    pthread_t p, c;
    long sum = 0;
    if (weft_condition_create(&shelf.cond, NULL) != WEFT_OK) {
        fprintf(stderr, "weft_condition_create: %s\n", weft_last_error()->message);
        return 1;
    }
    pthread_create(&c, NULL, consumer, &sum);
    pthread_create(&p, NULL, producer, NULL);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    printf("sum of items taken: %ld (want %d), fullest shelf: %d/%d\n", sum, ITEMS * (ITEMS + 1) / 2,
           shelf.max_seen, SHELF);
    weft_condition_destroy(shelf.cond);
    return (failures == 0 && sum == ITEMS * (ITEMS + 1) / 2 && shelf.max_seen <= SHELF) ? 0 : 1;
}
