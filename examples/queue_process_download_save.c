/*
 * Seed idea: download and save in two processes over a multiprocessing Queue
 * of capacity 5. The downloader process puts "file-N" records; the saver
 * process takes them with a timeout on get (the seed's q.get(timeout=...))
 * and stops when it sees the end marker, or when nothing came for a second.
 * The records are bytes copied through shared memory: pointers do not cross
 * processes. Prints "downloading" and "saved" lines with each process's pid,
 * then how many files the saver kept.
 */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <weft/weft.h>

enum { NFILES = 6 };
static const char end_marker[] = "END";

static int download(weft_queue *q) {
    char record[32];
    for (int i = 1; i <= NFILES; i++) {
        int n = snprintf(record, sizeof record, "file-%d", i);
        printf("downloading %s (process %d)\n", record, (int)getpid());
        if (weft_queue_put_bytes(q, record, (size_t)n, 5 * WEFT_SEC) != WEFT_OK) return 1;
        weft_sleep_ns(30 * WEFT_MSEC);
    }
    return weft_queue_put_bytes(q, end_marker, sizeof end_marker - 1, 5 * WEFT_SEC) == WEFT_OK ? 0 : 1;
}

static int save(weft_queue *q) {
    char record[32];
    size_t len;
    int saved = 0;
    for (;;) {
        weft_status s = weft_queue_get_bytes(q, record, sizeof record - 1, &len, WEFT_SEC);
        if (s == WEFT_ETIMEDOUT) {
            printf("nothing new for 1 s: the saver stops\n");
            break;
        }
        if (s != WEFT_OK) {
            fprintf(stderr, "get failed: %s\n", weft_last_error()->message);
            return 100;
        }
        record[len] = '\0';
        if (strcmp(record, end_marker) == 0) {
            printf("end marker: the saver stops\n");
            break;
        }
        printf("saved %s (process %d)\n", record, (int)getpid());
        saved++;
    }
    return saved;
}

/* Run `fn` in a child process; its return value becomes the exit code. */
static pid_t start(int (*fn)(weft_queue *), weft_queue *q) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int code = fn(q);
        fflush(stdout);
        _exit(code);
    }
    return pid;
}

static int exit_code(pid_t pid) {
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

int main(void) {
    weft_queue_options o = WEFT_QUEUE_OPTIONS_INIT;
    weft_queue *q;
    o.capacity = 5;
    o.share.scope = WEFT_SCOPE_PROCESS; /* anonymous: shared with the children fork starts */
    if (weft_queue_create(&q, &o) != WEFT_OK) {
        fprintf(stderr, "cannot create the queue: %s\n", weft_last_error()->message);
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    pid_t saver = start(save, q);
    pid_t downloader = start(download, q);
    if (saver < 0 || downloader < 0) {
        perror("fork");
        return 1;
    }
    int downloaded = exit_code(downloader), saved = exit_code(saver);
    printf("main process %d: the saver kept %d of %d files\n", (int)getpid(), saved, NFILES);
    weft_queue_destroy(q);
    return downloaded == 0 && saved == NFILES ? 0 : 1;
}
