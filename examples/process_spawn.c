/*
 * Seed idea: the start methods spawn and forkserver, and why spawn needs
 * `if __name__ == '__main__'`. The program calls weft_main() first thing in
 * main: in a child started by spawn it runs the registered task and never
 * returns; in the normal run it returns at once. Functions are found by the
 * name WEFT_REGISTER_FUNCTION gave them, and their argument is a copy of the
 * bytes handed to start.
 *
 * Prints main's pid, then each child's line (with the bytes it received, its
 * pid and its parent's pid), and their exit codes: spawn, forkserver and
 * fork. Exits non-zero if a child ended otherwise.
 */
#include <stdio.h>
#include <string.h>
#include <weft/weft.h>

struct job {
    int number;
    char word[16];
};

static int show_job(void *arg, size_t len) {
    struct job j;
    if (len != sizeof j) return 1;
    memcpy(&j, arg, sizeof j); /* a private copy of the parent's bytes */
    printf("%s: job %d \"%s\", pid %lld, parent %lld\n", weft_process_current_name(), j.number, j.word,
           (long long)weft_process_current_pid(), (long long)weft_process_parent_pid());
    return j.number;
}
WEFT_REGISTER_FUNCTION(show_job)

int main(int argc, char **argv) {
    weft_main(argc, argv); /* the C twin of if __name__ == '__main__' */
    printf("main: pid %lld\n", (long long)weft_process_current_pid());
    fflush(stdout);
    static const struct {
        int method;
        const char *name;
    } ways[] = {{WEFT_START_SPAWN, "spawn"}, {WEFT_START_FORKSERVER, "forkserver"}, {WEFT_START_FORK, "fork"}};
    int failures = 0;
    for (int i = 0; i < 3; i++) {
        struct job j;
        memset(&j, 0, sizeof j);
        j.number = i + 1;
        snprintf(j.word, sizeof j.word, "via %s", ways[i].name);
        weft_process *p;
        weft_process_options o = WEFT_PROCESS_OPTIONS_INIT;
        o.start_method = ways[i].method;
        o.name = ways[i].name;
        int code = -1;
        if (weft_process_spawn(&p, show_job, &j, sizeof j, &o) != WEFT_OK ||
            weft_process_join(p, 10 * WEFT_SEC) != WEFT_OK || weft_process_exitcode(p, &code) != WEFT_OK) {
            fprintf(stderr, "%s: %s\n", ways[i].name, weft_last_error()->message);
            return 1;
        }
        printf("%s child exit code %d\n", ways[i].name, code);
        fflush(stdout);
        failures += code != i + 1;
        weft_process_destroy(p);
    }
    return failures ? 1 : 0;
}
