/*
 * Seed idea: lazy initialisation raced by several threads. Five worker
 * threads all need a shared lookup table (city -> country) the first time
 * they run, and each tries to build it. weft_once_call() lets exactly one of
 * them build it; the others wait until it is complete, then all use it.
 *
 * Prints "building the table" once, each worker's lookup, and how many times
 * the table was built (1). Exits non-zero otherwise.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <weft/weft.h>

enum { WORKERS = 5, CITIES = 5 };

struct entry {
    const char *city, *country;
};

static weft_once table_once = WEFT_ONCE_INIT; /* static: no create call needed */
static struct entry table[CITIES];
static int builds; /* atomic */

static void build_table(void *user_data) {
    static const struct entry data[CITIES] = {
        {"Lisbon", "Portugal"}, {"Osaka", "Japan"}, {"Quito", "Ecuador"},
        {"Accra", "Ghana"},     {"Perth", "Australia"},
    };
    (void)user_data;
    __atomic_add_fetch(&builds, 1, __ATOMIC_SEQ_CST);
    printf("building the table (slowly)\n");
    weft_sleep_ns(30 * WEFT_MSEC); /* the others arrive meanwhile and wait */
    memcpy(table, data, sizeof table); /* plain writes, published by the once */
}

static const char *lookup(const char *city) {
    if (weft_once_call(&table_once, build_table, NULL) != WEFT_OK) return NULL;
    for (int i = 0; i < CITIES; i++)
        if (strcmp(table[i].city, city) == 0) return table[i].country;
    return NULL;
}

static int found; /* atomic */

static void *worker(void *arg) {
    static const char *asks[WORKERS] = {"Osaka", "Accra", "Lisbon", "Perth", "Quito"};
    int me = (int)(intptr_t)arg;
    const char *country = lookup(asks[me]);
    if (country) __atomic_add_fetch(&found, 1, __ATOMIC_SEQ_CST);
    printf("worker %d: %s is in %s\n", me, asks[me], country ? country : "(not found)");
    return NULL;
}

int main(void) {
    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) != 0) return 1;
    for (int i = 0; i < WORKERS; i++) pthread_join(t[i], NULL);
    printf("the table was built %d time(s) for %d workers\n", builds, WORKERS);
    return builds == 1 && found == WORKERS && weft_once_done(&table_once) == 1 ? 0 : 1;
}
