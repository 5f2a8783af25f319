/*
 * Seed idea: the ticket office ("抢票"). A file db.json holds {"count": N};
 * five buyer processes each read it, think for a moment, and if a ticket is
 * left, write back count - 1 and announce "bought a ticket".
 *
 * Round 1 runs the buyers without a lock: they all read the same count
 * before anyone writes it back, so more tickets are "sold" than existed (the
 * race is printed). Round 2 wraps read-think-write in a process-scope
 * weft_lock (Python's multiprocessing.Lock), inherited by the children
 * started with weft_process_spawn (fork): exactly as many tickets are sold as
 * existed and db.json ends at 0.
 *
 * Prints both rounds; exits non-zero if the locked round is not exact.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft/weft.h>

enum { BUYERS = 5, TICKETS = 2 };

struct office {
    char path[256];   /* db.json in a fresh temporary directory */
    weft_lock *lock;  /* NULL: no lock (round 1) */
};

static int read_count(const char *path) {
    FILE *f = fopen(path, "r");
    int count = -1;
    if (!f) return -1;
    if (fscanf(f, " {\"count\": %d}", &count) != 1) count = -1;
    fclose(f);
    return count;
}

static int write_count(const char *path, int count) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "{\"count\": %d}\n", count);
    return fclose(f) == 0 ? 0 : -1;
}

/* One buyer: exit code 0 = bought, 1 = sold out, 2 = failure. */
static int buy(void *arg, size_t len) {
    const struct office *o = arg;
    int bought = 0;
    (void)len;
    int seen = read_count(o->path); /* show(): outside the lock, as in the seed */
    if (seen >= 0)
        printf("buyer %lld: %d ticket(s) left\n", (long long)weft_process_current_pid(), seen);
    else
        printf("buyer %lld: db.json is being written\n", (long long)weft_process_current_pid());
    if (o->lock) {
        weft_status st = weft_lock_acquire(o->lock, 10 * WEFT_SEC);
        if (st != WEFT_OK) {
            fprintf(stderr, "buyer: %s\n", weft_last_error()->message);
            return 2;
        }
    }
    int count = read_count(o->path);
    weft_sleep_ns(50 * WEFT_MSEC); /* the buyer thinks: the others read meanwhile */
    if (count > 0) {
        if (write_count(o->path, count - 1) != 0) return 2;
        bought = 1;
        printf("buyer %lld: bought a ticket!\n", (long long)weft_process_current_pid());
    } else {
        printf("buyer %lld: sold out\n", (long long)weft_process_current_pid());
    }
    if (o->lock && weft_lock_release(o->lock) != WEFT_OK) return 2;
    fflush(stdout);
    return bought ? 0 : 1;
}

/* Run BUYERS buyer processes; returns how many bought, or -1. */
static int round_of_buyers(struct office *o) {
    weft_process *p[BUYERS];
    int sold = 0, failed = 0;
    if (write_count(o->path, TICKETS) != 0) return -1;
    for (int i = 0; i < BUYERS; i++) {
        if (weft_process_spawn(&p[i], buy, o, sizeof *o, NULL) != WEFT_OK) {
            fprintf(stderr, "spawn: %s\n", weft_last_error()->message);
            for (int j = 0; j < i; j++) weft_process_destroy(p[j]);
            return -1;
        }
    }
    for (int i = 0; i < BUYERS; i++) {
        int code = -1;
        if (weft_process_join(p[i], 10 * WEFT_SEC) != WEFT_OK || weft_process_exitcode(p[i], &code) != WEFT_OK) {
            fprintf(stderr, "join: %s\n", weft_last_error()->message);
            failed = 1;
        }
        if (code == 0) sold++;
        else if (code != 1) failed = 1;
        weft_process_destroy(p[i]);
    }
    return failed ? -1 : sold;
}

int main(void) {
    struct office o;
    char dir[] = "/tmp/weft-ticket-office-XXXXXX";
    weft_lock_options lo = WEFT_LOCK_OPTIONS_INIT;
    int ok = 1;

    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(o.path, sizeof o.path, "%s/db.json", dir);

    printf("== round 1: %d buyers, %d tickets, no lock\n", BUYERS, TICKETS);
    fflush(stdout);
    o.lock = NULL;
    int sold = round_of_buyers(&o);
    if (sold < 0) ok = 0;
    printf("sold %d ticket(s) of %d%s\n\n", sold, TICKETS, sold > TICKETS ? ": the race sold tickets that never existed" : "");

    printf("== round 2: %d buyers, %d tickets, a process-scope weft_lock\n", BUYERS, TICKETS);
    fflush(stdout);
    lo.share.scope = WEFT_SCOPE_PROCESS; /* anonymous: shared with the forked buyers */
    if (weft_lock_create(&o.lock, &lo) != WEFT_OK) {
        fprintf(stderr, "lock: %s\n", weft_last_error()->message);
        return 1;
    }
    sold = round_of_buyers(&o);
    int left = read_count(o.path);
    printf("sold %d ticket(s) of %d, db.json says %d left\n", sold, TICKETS, left);
    if (sold != TICKETS || left != 0) ok = 0;
    weft_lock_destroy(o.lock);

    remove(o.path);
    remove(dir);
    printf("%s\n", ok ? "the lock made the office exact" : "FAILED");
    return ok ? 0 : 1;
}
