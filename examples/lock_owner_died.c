/*
 * Seed idea: "terminate a process that holds a lock, and recover the lock".
 * Python's multiprocessing.Lock would hang forever here; weft tells.
 *
 * Two accounts in shared memory hold 1000 between them. A child opens the
 * named process lock, starts a transfer of 100 (takes it from account A) and
 * is killed (SIGKILL) before it credits account B: the invariant A + B ==
 * 1000 is broken and the lock's holder is dead. The parent's acquire returns
 * WEFT_EOWNERDEAD: it owns the lock, sees the half-done transfer, repairs it
 * (rolls it back), calls weft_lock_mark_consistent(), and the lock works as
 * before.
 *
 * Prints each step; exits non-zero if any step differs.
 */
#include <stdio.h>
#include <weft/weft.h>

struct bank {
    long a, b; /* guarded by the lock; a + b == 1000 when it is free */
    long moving; /* what the current transfer took from a */
};

struct child_args {
    char lock_name[64];
    struct bank *bank;
    weft_event *holding; /* set by the child once it holds the lock */
};

static int transfer_and_die(void *arg, size_t len) {
    struct child_args *c = arg;
    weft_lock *lock;
    (void)len;
    if (weft_lock_open(&lock, c->lock_name) != WEFT_OK) return 2; /* by name, as any process could */
    if (weft_lock_acquire(lock, 5 * WEFT_SEC) != WEFT_OK) return 3;
    c->bank->moving = 100;
    c->bank->a -= 100; /* half a transfer */
    printf("child %lld: took 100 from A, about to credit B...\n", (long long)weft_process_current_pid());
    fflush(stdout);
    weft_event_set(c->holding);
    weft_sleep_ns(10 * WEFT_SEC); /* killed here */
    return 4;
}

static int fail(const char *what) {
    fprintf(stderr, "%s: %s\n", what, weft_last_error()->message);
    return 1;
}

int main(void) {
    struct child_args c;
    weft_lock *lock;
    weft_shm *mem;
    weft_process *child;
    weft_lock_options lo = WEFT_LOCK_OPTIONS_INIT;
    weft_event_options eo = WEFT_EVENT_OPTIONS_INIT;
    int code = 0;

    snprintf(c.lock_name, sizeof c.lock_name, "weft-example-bank-%lld", (long long)weft_process_current_pid());
    lo.share.scope = WEFT_SCOPE_PROCESS;
    lo.share.name = c.lock_name; /* owned: our destroy removes the name */
    if (weft_lock_create(&lock, &lo) != WEFT_OK) return fail("lock");
    if (weft_shm_create(&mem, NULL, sizeof(struct bank), NULL) != WEFT_OK) return fail("shm");
    eo.share.scope = WEFT_SCOPE_PROCESS;
    if (weft_event_create(&c.holding, &eo) != WEFT_OK) return fail("event");
    c.bank = weft_shm_data(mem);
    c.bank->a = 600;
    c.bank->b = 400;
    printf("A = %ld, B = %ld, total %ld\n", c.bank->a, c.bank->b, c.bank->a + c.bank->b);

    if (weft_process_spawn(&child, transfer_and_die, &c, sizeof c, NULL) != WEFT_OK) return fail("spawn");
    if (weft_event_wait(c.holding, 5 * WEFT_SEC) != WEFT_OK) return fail("wait for the child");
    if (weft_process_kill(child) != WEFT_OK || weft_process_join(child, 5 * WEFT_SEC) != WEFT_OK ||
        weft_process_exitcode(child, &code) != WEFT_OK)
        return fail("kill the child");
    printf("parent: killed the child (exit code %d) while it held the lock\n", code);

    weft_status st = weft_lock_acquire(lock, 5 * WEFT_SEC);
    printf("parent: weft_lock_acquire -> %s\n", weft_status_name(st));
    if (st != WEFT_EOWNERDEAD) return fail("expected WEFT_EOWNERDEAD");
    printf("parent: A + B = %ld, %ld in flight: rolling the transfer back\n", c.bank->a + c.bank->b, c.bank->moving);
    c.bank->a += c.bank->moving;
    c.bank->moving = 0;
    if (weft_lock_mark_consistent(lock) != WEFT_OK) return fail("mark consistent");
    if (weft_lock_release(lock) != WEFT_OK) return fail("release");

    st = weft_lock_acquire(lock, 0);
    printf("parent: repaired; acquire again -> %s, A = %ld, B = %ld, total %ld\n", weft_status_name(st), c.bank->a,
           c.bank->b, c.bank->a + c.bank->b);
    int ok = st == WEFT_OK && c.bank->a + c.bank->b == 1000 && code == -9;
    if (st == WEFT_OK) weft_lock_release(lock);

    weft_process_destroy(child);
    weft_event_destroy(c.holding);
    weft_shm_close(mem);
    weft_lock_destroy(lock);
    return ok ? 0 : 1;
}
