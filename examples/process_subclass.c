/*
 * Seed idea: a Process "subclass" (class MyProcess(Process) with its own
 * fields and run()). In C the subclass is a struct whose first member is the
 * run function, followed by its fields; one generic entry point starts any
 * such object in a child, as Process.start() calls self.run().
 *
 * Prints the process name the object carries ("Xiaoming") from the child,
 * then a second kind of object (a counter) that reports through its exit
 * code. Exits non-zero if either child ended otherwise.
 */
#include <stdio.h>
#include <weft/weft.h>

struct my_process; /* the "base class": run comes first in every subclass */
typedef int (*run_fn)(struct my_process *self);
struct my_process {
    run_fn run;
};

/* Process.start(): run the object's run() in a child. */
static int bootstrap(void *arg, size_t len) {
    struct my_process *self = arg;
    (void)len;
    return self->run(self);
}

static weft_status start(struct my_process *obj, const char *name, weft_process **out) {
    weft_process_options o = WEFT_PROCESS_OPTIONS_INIT;
    o.name = name;
    return weft_process_spawn(out, bootstrap, obj, 0, &o);
}

/* Subclass 1: a name to print. */
struct greeter {
    struct my_process base;
    const char *person;
};

static int greeter_run(struct my_process *self) {
    struct greeter *g = (struct greeter *)self;
    printf("process name %s, in child %s (pid %lld)\n", g->person, weft_process_current_name(),
           (long long)weft_process_current_pid());
    return 0;
}

/* Subclass 2: counts to a limit and returns the total as its exit code. */
struct counter {
    struct my_process base;
    int limit;
};

static int counter_run(struct my_process *self) {
    struct counter *c = (struct counter *)self;
    int total = 0;
    for (int i = 1; i <= c->limit; i++) total += i;
    printf("counter in %s: 1 + ... + %d = %d\n", weft_process_current_name(), c->limit, total);
    return total;
}

int main(void) {
    struct greeter xiaoming = {{greeter_run}, "Xiaoming"};
    struct counter count = {{counter_run}, 10};
    weft_process *p1, *p2;
    int c1 = -1, c2 = -1;
    if (start(&xiaoming.base, "MyProcess-1", &p1) != WEFT_OK || start(&count.base, "MyProcess-2", &p2) != WEFT_OK) {
        fprintf(stderr, "start: %s\n", weft_last_error()->message);
        return 1;
    }
    if (weft_process_join(p1, 5 * WEFT_SEC) != WEFT_OK || weft_process_join(p2, 5 * WEFT_SEC) != WEFT_OK ||
        weft_process_exitcode(p1, &c1) != WEFT_OK || weft_process_exitcode(p2, &c2) != WEFT_OK) {
        fprintf(stderr, "join: %s\n", weft_last_error()->message);
        return 1;
    }
    printf("%s exit code %d, %s exit code %d\n", weft_process_name(p1), c1, weft_process_name(p2), c2);
    weft_process_destroy(p1);
    weft_process_destroy(p2);
    return c1 == 0 && c2 == 55 ? 0 : 1;
}
