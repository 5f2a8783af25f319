/*
 * Seed idea: the first of the four ways of IPC, "create a shared file"
 * ("创建一个共享文件": slow, but it can carry a lot of data; for exchanges
 * that are rare and large).
 *
 * A child process (weft_process_spawn, fork) writes a large report, 2000
 * lines, into a file in a fresh temporary directory, then sets a
 * process-scope weft_event ("the report is ready"). The parent waits for the
 * event with a timeout, reads the file back and checks every line. The event
 * is anonymous process scope: it lives in shared memory the child inherits.
 *
 * Prints what each side did; exits non-zero if the file is not what the
 * child wrote.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <weft/weft.h>

enum { LINES = 2000 };

struct report {
    char path[256];
    weft_event *ready;
};

/* The child: write the report, then say it is there. */
static int write_report(void *arg, size_t len) {
    struct report *r = arg;
    (void)len;
    FILE *f = fopen(r->path, "w");
    if (!f) return 1;
    for (int i = 0; i < LINES; i++) fprintf(f, "line %d: downloaded %d bytes\n", i, i * 37);
    if (fclose(f) != 0) return 1;
    printf("child %lld: wrote %d lines to the shared file\n", (long long)weft_process_current_pid(), LINES);
    fflush(stdout);
    return weft_event_set(r->ready) == WEFT_OK ? 0 : 1;
}

int main(void) {
    struct report r;
    char dir[] = "/tmp/weft-shared-file-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    snprintf(r.path, sizeof r.path, "%s/report.txt", dir);

    weft_event_options eo = WEFT_EVENT_OPTIONS_INIT;
    eo.share.scope = WEFT_SCOPE_PROCESS; /* anonymous: inherited by the child */
    if (weft_event_create(&r.ready, &eo) != WEFT_OK) return 1;

    weft_process *p;
    weft_status s = weft_process_spawn(&p, write_report, &r, sizeof r, NULL);
    if (s != WEFT_OK) {
        fprintf(stderr, "spawn: %s\n", weft_last_error()->message);
        return 1;
    }
    s = weft_event_wait(r.ready, 5 * WEFT_SEC);
    int ok = s == WEFT_OK;
    if (!ok) fprintf(stderr, "the report never came: %s\n", weft_status_name(s));

    int lines = 0;
    if (ok) {
        FILE *f = fopen(r.path, "r");
        char line[128], want[128];
        while (f && fgets(line, sizeof line, f)) {
            snprintf(want, sizeof want, "line %d: downloaded %d bytes\n", lines, lines * 37);
            if (strcmp(line, want) != 0) ok = 0;
            lines++;
        }
        if (f) fclose(f);
        ok = ok && lines == LINES;
        printf("parent %lld: read %d lines back from %s: %s\n", (long long)weft_process_current_pid(), lines,
               r.path, ok ? "all as written" : "NOT what the child wrote");
    }

    int code = -1;
    if (weft_process_join(p, 5 * WEFT_SEC) != WEFT_OK || weft_process_exitcode(p, &code) != WEFT_OK || code != 0)
        ok = 0;
    weft_process_destroy(p);
    weft_event_destroy(r.ready);
    unlink(r.path);
    rmdir(dir);
    return ok ? 0 : 1;
}
