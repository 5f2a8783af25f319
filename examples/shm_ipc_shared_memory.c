/*
 * Seed idea: IPC by shared memory, "the main way: fast, for frequent
 * exchanges of small data". Processes do not share memory by default; a
 * shared memory segment is memory they do share.
 *
 * Part 1, a mailbox: the parent creates a named segment ("weft-mailbox-<pid>",
 * which Python's SharedMemory(name) could open too) and writes a question
 * into it; a child process opens the segment by its name, reads the question
 * and writes its answer in the same bytes; the parent prints both.
 *
 * Part 2, a shared counter (Python's multiprocessing.Value('q', 0)): two
 * processes add 1 to it 10000 times each, each time under the Value's own
 * lock (`with v.get_lock(): v.value += 1`), and the parent prints 20000.
 *
 * Exits non-zero if the answer or the total is wrong or any call fails.
 */
#include <stdio.h>
#include <string.h>
#include <weft/weft.h>

enum { MAILBOX_SIZE = 256, INCREMENTS = 10000 };

struct mailbox {
    int answered;
    char text[MAILBOX_SIZE - sizeof(int)];
};

static char mailbox_name[64];

static int answer_the_question(void *arg, size_t len) {
    weft_shm *shm;
    (void)arg;
    (void)len;
    if (weft_shm_open(&shm, mailbox_name) != WEFT_OK) { /* a fresh open, by name */
        fprintf(stderr, "child: %s\n", weft_last_error()->message);
        return 1;
    }
    struct mailbox *box = weft_shm_data(shm);
    printf("child (pid %lld) reads: \"%s\"\n", (long long)weft_process_current_pid(), box->text);
    snprintf(box->text, sizeof box->text, "yes: child %lld was here", (long long)weft_process_current_pid());
    box->answered = 1;
    weft_shm_close(shm);
    return 0;
}

static int add_to_counter(void *arg, size_t len) {
    weft_array *counter = arg; /* fork: the parent's handle, usable in the child */
    int64_t *value = weft_array_data(counter);
    (void)len;
    for (int i = 0; i < INCREMENTS; i++) {
        if (weft_array_acquire(counter, 5 * WEFT_SEC) != WEFT_OK) return 1;
        *value += 1; /* read, add, write: safe only under the lock */
        if (weft_array_release(counter) != WEFT_OK) return 1;
    }
    return 0;
}

static int run_and_wait(weft_process_fn fn, void *arg) {
    weft_process *p;
    int code = -1;
    if (weft_process_spawn(&p, fn, arg, 0, NULL) != WEFT_OK) {
        fprintf(stderr, "spawn: %s\n", weft_last_error()->message);
        return -1;
    }
    if (weft_process_join(p, 10 * WEFT_SEC) != WEFT_OK || weft_process_exitcode(p, &code) != WEFT_OK) code = -1;
    weft_process_destroy(p);
    return code;
}

int main(void) {
    weft_shm *shm;
    weft_array *counter;
    weft_process *adders[2];
    int ok = 1;

    /* Part 1: the mailbox. */
    snprintf(mailbox_name, sizeof mailbox_name, "weft-mailbox-%lld", (long long)weft_process_current_pid());
    if (weft_shm_create(&shm, mailbox_name, sizeof(struct mailbox), NULL) != WEFT_OK) {
        fprintf(stderr, "weft_shm_create: %s\n", weft_last_error()->message);
        return 1;
    }
    struct mailbox *box = weft_shm_data(shm);
    strcpy(box->text, "is anybody there?");
    printf("parent (pid %lld) writes: \"%s\" into /dev/shm/%s\n", (long long)weft_process_current_pid(), box->text,
           weft_shm_name(shm));
    if (run_and_wait(answer_the_question, NULL) != 0) ok = 0;
    printf("parent reads back: \"%s\"\n", box->text);
    if (!box->answered || strncmp(box->text, "yes", 3) != 0) ok = 0;
    weft_shm_close(shm); /* the creator's close removes the name */

    /* Part 2: a Value with its lock. */
    if (weft_array_create(&counter, WEFT_ARRAY_INT64, 1, NULL) != WEFT_OK) {
        fprintf(stderr, "weft_array_create: %s\n", weft_last_error()->message);
        return 1;
    }
    for (int i = 0; i < 2; i++) {
        if (weft_process_spawn(&adders[i], add_to_counter, counter, 0, NULL) != WEFT_OK) {
            fprintf(stderr, "spawn: %s\n", weft_last_error()->message);
            return 1;
        }
    }
    for (int i = 0; i < 2; i++) {
        int code = -1;
        if (weft_process_join(adders[i], 30 * WEFT_SEC) != WEFT_OK || weft_process_exitcode(adders[i], &code) != WEFT_OK ||
            code != 0)
            ok = 0;
        weft_process_destroy(adders[i]);
    }
    int64_t total = -1;
    if (weft_array_get_int64(counter, 0, &total) != WEFT_OK) ok = 0;
    printf("two processes added 1, %d times each, under the Value's lock: %lld (expected %d)\n", INCREMENTS,
           (long long)total, 2 * INCREMENTS);
    if (total != 2 * INCREMENTS) ok = 0;
    weft_array_destroy(counter);
    return ok ? 0 : 1;
}
