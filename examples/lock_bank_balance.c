/*
 * Seed idea: the bank balance race. Two threads deposit and withdraw the same
 * amount many times; the balance should end where it started. Without a lock,
 * the read-modify-write steps interleave and updates are lost; with a
 * weft_lock around them the balance is exact.
 *
 * Prints the balance after the unlocked run (often wrong, depends on timing)
 * and after the locked run (always 0). Exits non-zero if the locked run is off.
 */
#include <pthread.h>
#include <stdio.h>
#include <weft/weft.h>

enum { ROUNDS = 200000 };

static long balance;
static weft_lock *lock;

/* Unsynchronised read and write, made of atomic halves so the lost updates
 * are a logic race, not undefined behaviour. */
static void change_unlocked(long n) {
    long v = __atomic_load_n(&balance, __ATOMIC_RELAXED);
    __atomic_store_n(&balance, v + n, __ATOMIC_RELAXED);
    v = __atomic_load_n(&balance, __ATOMIC_RELAXED);
    __atomic_store_n(&balance, v - n, __ATOMIC_RELAXED);
}

static void change_locked(long n) {
    if (weft_lock_acquire(lock, WEFT_FOREVER) != WEFT_OK) return;
    balance += n;
    balance -= n;
    weft_lock_release(lock);
}

static int use_lock;

static void *run(void *arg) {
    long n = (long)(intptr_t)arg;
    for (int i = 0; i < ROUNDS; i++) {
        if (use_lock)
            change_locked(n);
        else
            change_unlocked(n);
    }
    return NULL;
}

static long run_twice(void) {
    pthread_t a, b;
    balance = 0;
    pthread_create(&a, NULL, run, (void *)(intptr_t)5);
    pthread_create(&b, NULL, run, (void *)(intptr_t)8);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    return balance;
}

int main(void) {
    weft_status s = weft_lock_create(&lock, NULL);
    if (s != WEFT_OK) {
        fprintf(stderr, "weft_lock_create: %s\n", weft_last_error()->message);
        return 1;
    }
    use_lock = 0;
    printf("without a lock: balance = %ld (should be 0; lost updates make it drift)\n", run_twice());
    use_lock = 1;
    long locked = run_twice();
    printf("with a lock:    balance = %ld\n", locked);
    weft_lock_destroy(lock);
    return locked == 0 ? 0 : 1;
}
