/*
 * Seed idea: ThreadLocal, each thread with its own independent space
 * (Python's threading.local). As in the tutorial, each thread stores "its"
 * student in one shared weft_local, and process_student(), deep down, reads
 * it back without the name being passed along: every thread sees only its own.
 *
 * Second part, the C way: a weft_tls_key with a destructor gives each thread a
 * scratch buffer made on first use; the destructor frees it when the thread
 * exits, so nothing leaks however the thread was started.
 *
 * Prints "Hello, <student> (in <thread>)" once per thread, then how many
 * scratch buffers were freed at thread exit (3). Exits non-zero on failure.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft/weft.h>

static weft_local *local_school;
static weft_tls_key *scratch_key;
static int buffers_freed; /* atomic */
static int failures;      /* atomic */

static void free_scratch(void *buffer) {
    free(buffer);
    __atomic_add_fetch(&buffers_freed, 1, __ATOMIC_SEQ_CST);
}

/* This thread's scratch buffer, made on first use. */
static char *scratch(void) {
    void *buf = NULL;
    if (weft_tls_get(scratch_key, &buf) != WEFT_OK) return NULL;
    if (buf == NULL) {
        buf = malloc(128);
        if (buf && weft_tls_set(scratch_key, buf) != WEFT_OK) {
            free(buf);
            buf = NULL;
        }
    }
    return buf;
}

static char *copy(const char *s) {
    char *d = malloc(strlen(s) + 1);
    if (d) strcpy(d, s);
    return d;
}

/* Deep down: no parameters, yet it knows whose student it is. */
static void process_student(void) {
    void *student, *thread;
    char *line = scratch();
    if (!line || weft_local_get(local_school, "student", &student) != WEFT_OK ||
        weft_local_get(local_school, "thread", &thread) != WEFT_OK) {
        __atomic_add_fetch(&failures, 1, __ATOMIC_SEQ_CST);
        return;
    }
    snprintf(line, 128, "Hello, %s (in %s)", (const char *)student, (const char *)thread);
    puts(line);
}

struct job {
    const char *student, *thread;
};

static void *process_thread(void *arg) {
    const struct job *j = arg;
    /* The local owns the copies: freed with free() when this thread exits. */
    char *s = copy(j->student), *t = copy(j->thread);
    if (!s || !t || weft_local_set(local_school, "student", s, free) != WEFT_OK) {
        free(s);
        free(t);
        __atomic_add_fetch(&failures, 1, __ATOMIC_SEQ_CST);
        return NULL;
    }
    if (weft_local_set(local_school, "thread", t, free) != WEFT_OK) {
        free(t);
        __atomic_add_fetch(&failures, 1, __ATOMIC_SEQ_CST);
        return NULL;
    }
    process_student();
    return NULL;
}

int main(void) {
    static const struct job jobs[3] = {{"Alice", "Thread-A"}, {"Bob", "Thread-B"}, {"Carol", "Thread-C"}};
    pthread_t t[3];
    void *unset;
    if (weft_local_create(&local_school) != WEFT_OK || weft_tls_key_create(&scratch_key, free_scratch) != WEFT_OK) {
        fprintf(stderr, "setup: %s\n", weft_last_error()->message);
        return 1;
    }
    /* One at a time keeps the output in order; the values are per thread anyway. */
    for (int i = 0; i < 3; i++) {
        if (pthread_create(&t[i], NULL, process_thread, (void *)&jobs[i]) != 0) return 1;
        pthread_join(t[i], NULL);
    }
    /* The main thread never set a student: Python would raise AttributeError. */
    weft_status s = weft_local_get(local_school, "student", &unset);
    printf("main thread's student: %s\n", s == WEFT_ENOENT ? "(none: WEFT_ENOENT)" : "unexpected!");
    printf("scratch buffers freed at thread exit: %d\n", buffers_freed);
    weft_tls_key_destroy(scratch_key);
    weft_local_destroy(local_school);
    return failures == 0 && buffers_freed == 3 && s == WEFT_ENOENT ? 0 : 1;
}
