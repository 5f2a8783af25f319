/*
 * Seed idea: IPC by pipe, the seeds' third way for processes to talk ("a
 * pipe is based on a file, one-way, and tedious to program"). With weft it
 * is Python's multiprocessing.Pipe(): a parent forks a child that inherits
 * one end of a duplex pipe; the parent sends three orders, the child answers
 * each one (every message arrives whole: one send, one receive), and a
 * second, one-way pipe (Pipe(duplex=False)) carries the child's final report
 * back. When the child is gone, the parent's next receive says so with
 * WEFT_ECLOSED instead of hanging.
 *
 * Prints each order and answer, the report and the closed pipe. Exits
 * non-zero if any status is unexpected or the child fails.
 */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <weft/weft.h>

static int child(weft_conn *orders, weft_conn *report) {
    int served = 0;
    for (;;) {
        char order[64], answer[96];
        size_t len;
        weft_status st = weft_conn_recv(orders, order, sizeof order - 1, &len, 5 * WEFT_SEC);
        if (st == WEFT_ECLOSED) break; /* the parent closed its end: no more orders */
        if (st != WEFT_OK) return 1;
        order[len] = '\0';
        int n = 0;
        sscanf(order, "square %d", &n);
        snprintf(answer, sizeof answer, "%d squared is %d (child %ld)", n, n * n, (long)getpid());
        if (weft_conn_send(orders, answer, strlen(answer), 5 * WEFT_SEC) != WEFT_OK) return 1;
        served++;
    }
    char line[64];
    snprintf(line, sizeof line, "child served %d orders", served);
    return weft_conn_send(report, line, strlen(line), 5 * WEFT_SEC) == WEFT_OK ? 0 : 1;
}

int main(void) {
    weft_conn *mine, *theirs, *report_in, *report_out;
    if (weft_pipe(&mine, &theirs, 1) != WEFT_OK || weft_pipe(&report_in, &report_out, 0) != WEFT_OK) {
        fprintf(stderr, "weft_pipe: %s\n", weft_last_error()->message);
        return 1;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) { /* the child keeps `theirs` and the writing end of the report pipe */
        weft_conn_destroy(mine);
        weft_conn_destroy(report_in);
        int rc = child(theirs, report_out);
        weft_conn_destroy(theirs);
        weft_conn_destroy(report_out);
        _exit(rc);
    }
    weft_conn_destroy(theirs);
    weft_conn_destroy(report_out);

    int failures = 0;
    for (int i = 3; i <= 7; i += 2) {
        char order[32], answer[96];
        size_t len;
        snprintf(order, sizeof order, "square %d", i);
        printf("parent sends: %s\n", order);
        if (weft_conn_send(mine, order, strlen(order), 2 * WEFT_SEC) != WEFT_OK ||
            weft_conn_recv(mine, answer, sizeof answer - 1, &len, 2 * WEFT_SEC) != WEFT_OK) {
            fprintf(stderr, "parent: %s\n", weft_last_error()->message);
            failures++;
            break;
        }
        answer[len] = '\0';
        printf("child answers: %s\n", answer);
    }
    weft_conn_close(mine); /* the child's next receive gets WEFT_ECLOSED */

    void *report;
    size_t len;
    if (weft_conn_recv_alloc(report_in, &report, &len, 2 * WEFT_SEC) == WEFT_OK) {
        printf("report over the one-way pipe: %.*s\n", (int)len, (const char *)report);
        weft_conn_free(report);
    } else {
        fprintf(stderr, "report: %s\n", weft_last_error()->message);
        failures++;
    }
    /* The child has exited: its end of the report pipe is closed with it. */
    weft_status st = weft_conn_recv_alloc(report_in, &report, &len, 2 * WEFT_SEC);
    printf("receiving once more: %s (%s)\n", weft_status_name(st), weft_strerror(st));
    if (st != WEFT_ECLOSED) failures++;
    /* And the one-way pipe refuses the wrong direction. */
    st = weft_conn_send(report_in, "x", 1, 0);
    printf("sending on the reading end: %s\n", weft_status_name(st));
    if (st != WEFT_ENOTSUP) failures++;

    weft_conn_destroy(mine);
    weft_conn_destroy(report_in);
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) failures++;
    printf("%s\n", failures ? "FAILED" : "done");
    return failures ? 1 : 0;
}
