/*
 * Seed idea: the re-entrant lock (Python's RLock, "可重入锁") next to the
 * bank balance. transfer() takes the account's lock and, while holding it,
 * calls withdraw() and deposit(), which take the same lock again.
 *
 * With a plain weft_lock the inner acquire would block forever (the thread
 * waits for itself); here it is given a 100 ms timeout so the program shows
 * WEFT_ETIMEDOUT instead of hanging. With a weft_rlock the owner simply goes
 * one level deeper: the program prints the owner's ident and the depth at
 * each level, then lets two threads run 20000 transfers each (3 one way, 3 back) and
 * checks that
 * the total money is unchanged.
 *
 * Prints the refused plain-lock re-entry, the rlock depth at each level
 * (1 in transfer, 2 inside withdraw/deposit, 0 after),
 * and the final balances. Exits non-zero on any unexpected status.
 */
#include <pthread.h>
#include <stdio.h>
#include <weft/weft.h>

struct account {
    weft_rlock *lock;
    long balance;
};

static struct account alice, bob;
static int failures;

static int check(weft_status s, const char *what) {
    if (s != WEFT_OK) {
        fprintf(stderr, "%s: %s (%s)\n", what, weft_status_name(s), weft_last_error()->message);
        __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
        return 0;
    }
    return 1;
}

static void change(struct account *a, long amount, int verbose) {
    if (!check(weft_rlock_acquire(a->lock, WEFT_FOREVER), "acquire (inner)")) return;
    if (verbose)
        printf("  inner: owner %llu, depth %d\n", (unsigned long long)weft_rlock_owner(a->lock),
               weft_rlock_count(a->lock));
    a->balance += amount;
    check(weft_rlock_release(a->lock), "release (inner)");
}

/* Both accounts are locked in a fixed order (alice, then bob), so two
 * transfers in opposite directions cannot deadlock each other. */
static void transfer(struct account *from, struct account *to, long amount, int verbose) {
    if (!check(weft_rlock_acquire(alice.lock, WEFT_FOREVER), "acquire alice")) return;
    if (!check(weft_rlock_acquire(bob.lock, WEFT_FOREVER), "acquire bob")) {
        weft_rlock_release(alice.lock);
        return;
    }
    if (verbose)
        printf("  transfer: owner %llu, depth %d\n", (unsigned long long)weft_rlock_owner(from->lock),
               weft_rlock_count(from->lock));
    change(from, -amount, verbose); /* re-enters the lock we already hold */
    change(to, amount, verbose);
    if (verbose) printf("  back in transfer: depth %d\n", weft_rlock_count(from->lock));
    check(weft_rlock_release(bob.lock), "release bob");
    check(weft_rlock_release(alice.lock), "release alice");
}

static void *many_transfers(void *arg) {
    int forward = arg != NULL;
    for (int i = 0; i < 20000; i++) {
        if (forward)
            transfer(&alice, &bob, 3, 0);
        else
            transfer(&bob, &alice, 3, 0);
    }
    return NULL;
}

int main(void) {
    /* 1. A plain Lock cannot be taken twice by the same thread. */
    weft_lock *plain;
    if (!check(weft_lock_create(&plain, NULL), "weft_lock_create")) return 1;
    check(weft_lock_acquire(plain, WEFT_FOREVER), "plain acquire");
    weft_status again = weft_lock_acquire(plain, 100 * WEFT_MSEC);
    printf("plain lock, second acquire by the same thread: %s (it would wait forever)\n",
           weft_status_name(again));
    check(weft_lock_release(plain), "plain release");
    weft_lock_destroy(plain);
    if (again != WEFT_ETIMEDOUT) return 1;

    /* 2. An RLock lets its owner in again. */
    alice.balance = 1000;
    bob.balance = 1000;
    if (!check(weft_rlock_create(&alice.lock, NULL), "weft_rlock_create") ||
        !check(weft_rlock_create(&bob.lock, NULL), "weft_rlock_create"))
        return 1;
    printf("rlock, transfer 100 from alice to bob:\n");
    transfer(&alice, &bob, 100, 1);
    printf("  after: depth %d, owner %llu (0 = free)\n", weft_rlock_count(alice.lock),
           (unsigned long long)weft_rlock_owner(alice.lock));
    printf("alice %ld, bob %ld\n", alice.balance, bob.balance);

    /* 3. Two threads transferring both ways keep the total exact. */
    pthread_t a, b;
    pthread_create(&a, NULL, many_transfers, &alice);
    pthread_create(&b, NULL, many_transfers, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    long total = alice.balance + bob.balance;
    printf("after 2 x 20000 transfers: alice %ld, bob %ld, total %ld (want 2000)\n", alice.balance, bob.balance,
           total);

    weft_rlock_destroy(alice.lock);
    weft_rlock_destroy(bob.lock);
    return (failures == 0 && total == 2000 && alice.balance == 900) ? 0 : 1;
}
