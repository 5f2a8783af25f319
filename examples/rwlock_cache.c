/*
 * Seed idea: many readers, one writer (a shared configuration cache).
 * Four reader threads look the configuration up constantly; one writer
 * reloads it every 20 ms. A weft_rwlock lets the readers in together and the
 * writer in alone, so no reader ever sees half of an update, and writers are
 * preferred, so the reloads are not starved by the stream of readers.
 *
 * Prints how many lookups the readers made, how many reloads happened, and
 * how many lookups saw a torn configuration (always 0). Exits non-zero on
 * any torn read or failed call.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <weft/weft.h>

enum { READERS = 4, RELOADS = 15 };

struct config {
    int version;
    char server[32];
    int port;
    int checksum; /* version + port: a reader checks it matches */
};

static struct config current = {1, "alpha.example", 8001, 1 + 8001};
static weft_rwlock *cfg_lock;
static int done;     /* atomic */
static long lookups; /* atomic */
static int torn;     /* atomic */
static int failures; /* atomic */

static void *reader(void *arg) {
    (void)arg;
    while (!__atomic_load_n(&done, __ATOMIC_SEQ_CST)) {
        if (weft_rwlock_read_acquire(cfg_lock, 5 * WEFT_SEC) != WEFT_OK) {
            __atomic_add_fetch(&failures, 1, __ATOMIC_SEQ_CST);
            break;
        }
        struct config seen = current; /* plain read: the lock makes it safe */
        weft_rwlock_read_release(cfg_lock);
        if (seen.checksum != seen.version + seen.port || seen.server[0] == '\0')
            __atomic_add_fetch(&torn, 1, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&lookups, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void *writer(void *arg) {
    (void)arg;
    for (int i = 2; i <= RELOADS + 1; i++) {
        weft_sleep_ns(20 * WEFT_MSEC);
        if (weft_rwlock_write_acquire(cfg_lock, 5 * WEFT_SEC) != WEFT_OK) {
            __atomic_add_fetch(&failures, 1, __ATOMIC_SEQ_CST);
            break;
        }
        current.version = i; /* several steps: only safe because readers are out */
        snprintf(current.server, sizeof current.server, "%s.example", i % 2 ? "alpha" : "beta");
        current.port = 8000 + i;
        current.checksum = current.version + current.port;
        weft_rwlock_write_release(cfg_lock);
    }
    __atomic_store_n(&done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

int main(void) {
    pthread_t r[READERS], w;
    if (weft_rwlock_create(&cfg_lock, NULL) != WEFT_OK) {
        fprintf(stderr, "weft_rwlock_create: %s\n", weft_last_error()->message);
        return 1;
    }
    for (int i = 0; i < READERS; i++)
        if (pthread_create(&r[i], NULL, reader, NULL) != 0) return 1;
    if (pthread_create(&w, NULL, writer, NULL) != 0) return 1;
    pthread_join(w, NULL);
    for (int i = 0; i < READERS; i++) pthread_join(r[i], NULL);
    weft_rwlock_destroy(cfg_lock);

    printf("%d readers made %ld lookups while the writer reloaded %d times\n", READERS, lookups, RELOADS);
    printf("final configuration: version %d, %s:%d\n", current.version, current.server, current.port);
    printf("torn reads: %d\n", torn);
    return torn == 0 && failures == 0 && current.version == RELOADS + 1 ? 0 : 1;
}
