/*
 * Seed idea: Manager().dict(), "a container shared between processes" (the
 * seeds warn that Manager's containers do not handle safety themselves).
 * weft's shared dict lives in shared memory, needs no manager process, and
 * is safe: every call takes the dict's own lock, and weft_dict_update() does
 * a read-modify-write (`d["visits"] += 1`) atomically.
 *
 * Four worker processes each open the dict by its name, store their own
 * entry ("worker-<n>" -> "pid <pid>, squares ..."), and add 1 to the shared
 * "visits" counter 250 times. The parent then prints every entry by
 * iterating the dict.
 *
 * Prints the entries and "visits = 1000". Exits non-zero if an entry is
 * missing, the count is off or any call fails.
 */
#include <stdio.h>
#include <string.h>
#include <weft/weft.h>

enum { WORKERS = 4, VISITS = 250 };

static char dict_name[64];

/* d["visits"] = d.get("visits", 0) + 1, as one atomic step. */
static int add_visit(const void *old, size_t old_len, const void **new_value, size_t *new_len, void *user_data) {
    long long *scratch = user_data;
    long long n = 0;
    if (old && old_len == sizeof n) memcpy(&n, old, sizeof n);
    *scratch = n + 1;
    *new_value = scratch;
    *new_len = sizeof *scratch;
    return WEFT_DICT_UPDATE_SET;
}

static int worker(void *arg, size_t len) {
    int id = (int)(intptr_t)arg;
    weft_dict *d;
    char key[32], value[96];
    long long scratch;
    (void)len;
    if (weft_dict_open(&d, dict_name) != WEFT_OK) {
        fprintf(stderr, "worker %d: %s\n", id, weft_last_error()->message);
        return 1;
    }
    snprintf(key, sizeof key, "worker-%d", id);
    snprintf(value, sizeof value, "pid %lld, squares %d %d %d", (long long)weft_process_current_pid(), id * id,
             (id + 1) * (id + 1), (id + 2) * (id + 2));
    int failed = weft_dict_set(d, key, value, strlen(value), 5 * WEFT_SEC) != WEFT_OK;
    for (int i = 0; i < VISITS && !failed; i++)
        failed = weft_dict_update(d, "visits", add_visit, &scratch, 5 * WEFT_SEC) != WEFT_OK;
    weft_dict_destroy(d);
    return failed;
}

int main(void) {
    weft_dict *d;
    weft_dict_options o = WEFT_DICT_OPTIONS_INIT;
    weft_process *workers[WORKERS];
    int ok = 1;

    snprintf(dict_name, sizeof dict_name, "weft-manager-dict-%lld", (long long)weft_process_current_pid());
    o.share.name = dict_name; /* any process, in any language, may open it by this name */
    o.max_entries = 64;
    o.capacity = 16 * 1024;
    if (weft_dict_create(&d, &o) != WEFT_OK) {
        fprintf(stderr, "weft_dict_create: %s\n", weft_last_error()->message);
        return 1;
    }
    for (int i = 0; i < WORKERS; i++) {
        if (weft_process_spawn(&workers[i], worker, (void *)(intptr_t)i, 0, NULL) != WEFT_OK) {
            fprintf(stderr, "spawn: %s\n", weft_last_error()->message);
            return 1;
        }
    }
    for (int i = 0; i < WORKERS; i++) {
        int code = -1;
        if (weft_process_join(workers[i], 30 * WEFT_SEC) != WEFT_OK ||
            weft_process_exitcode(workers[i], &code) != WEFT_OK || code != 0)
            ok = 0;
        weft_process_destroy(workers[i]);
    }

    printf("the shared dict holds %lld entries:\n", (long long)weft_dict_size(d, WEFT_SEC));
    weft_dict_cursor cursor = WEFT_DICT_CURSOR_INIT;
    char *key;
    void *value;
    size_t len;
    int workers_seen = 0;
    weft_status st;
    while ((st = weft_dict_next(d, &cursor, &key, &value, &len, WEFT_SEC)) == WEFT_OK) {
        if (strcmp(key, "visits") == 0) {
            long long n = 0;
            if (len == sizeof n) memcpy(&n, value, sizeof n);
            printf("  %-9s = %lld\n", key, n);
            if (n != WORKERS * VISITS) ok = 0;
        } else {
            printf("  %-9s = \"%s\"\n", key, (const char *)value); /* a 0 byte follows the value */
            workers_seen++;
        }
        weft_dict_free(key);
        weft_dict_free(value);
    }
    if (st != WEFT_ENOENT || workers_seen != WORKERS) ok = 0;
    printf("expected visits = %d and %d workers: %s\n", WORKERS * VISITS, WORKERS, ok ? "ok" : "WRONG");
    weft_dict_destroy(d); /* the creator's destroy removes the name */
    return ok ? 0 : 1;
}
