/*
 * Seed idea: IPC by socket, the seeds' fourth way for processes to talk
 * ("tedious to program, better suited to exchanging data over a network").
 * With weft it is Python's multiprocessing.connection Listener and Client:
 * a ticket office listens on a TCP port of 127.0.0.1 with an authentication
 * key; a customer process that knows the key connects and buys tickets,
 * message by message; then an impostor with the wrong key is refused, on
 * both sides, with WEFT_EPERM, and the office goes on serving.
 *
 * A Python program can be the customer too:
 *   Client(("127.0.0.1", port), authkey=b"ticket-office").send_bytes(b"buy 2")
 *
 * Prints the office's address, each request and reply, and the refused
 * impostor. Exits non-zero if any status is unexpected.
 */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <weft/weft.h>

static const char KEY[] = "ticket-office";

static int customer(const char *address, const char *key) {
    weft_client_options o = WEFT_CLIENT_OPTIONS_INIT;
    weft_conn *c;
    o.authkey = key;
    o.authkey_len = strlen(key);
    weft_status st = weft_client_connect(&c, address, &o, 5 * WEFT_SEC);
    if (st == WEFT_EPERM) {
        printf("impostor: %s\n", weft_last_error()->message);
        fflush(stdout);
        return 3;
    }
    if (st != WEFT_OK) {
        fprintf(stderr, "customer: %s\n", weft_last_error()->message);
        return 1;
    }
    static const char *const requests[] = {"how many left?", "buy 2", "buy 5"};
    for (int i = 0; i < 3; i++) {
        char reply[64];
        size_t len;
        printf("customer asks: %s\n", requests[i]);
        fflush(stdout);
        if (weft_conn_send(c, requests[i], strlen(requests[i]), 5 * WEFT_SEC) != WEFT_OK ||
            weft_conn_recv(c, reply, sizeof reply - 1, &len, 5 * WEFT_SEC) != WEFT_OK) {
            fprintf(stderr, "customer: %s\n", weft_last_error()->message);
            weft_conn_destroy(c);
            return 1;
        }
        reply[len] = '\0';
        printf("office replies: %s\n", reply);
        fflush(stdout);
    }
    weft_conn_destroy(c);
    return 0;
}

/* Serve one customer until it hangs up. */
static int serve(weft_conn *c, int *tickets) {
    for (;;) {
        char req[64], reply[64];
        size_t len;
        weft_status st = weft_conn_recv(c, req, sizeof req - 1, &len, 5 * WEFT_SEC);
        if (st == WEFT_ECLOSED) return 0; /* the customer left */
        if (st != WEFT_OK) return 1;
        req[len] = '\0';
        int n = 0;
        if (sscanf(req, "buy %d", &n) == 1) {
            if (n <= *tickets) {
                *tickets -= n;
                snprintf(reply, sizeof reply, "sold %d, %d left", n, *tickets);
            } else {
                snprintf(reply, sizeof reply, "sorry, only %d left", *tickets);
            }
        } else {
            snprintf(reply, sizeof reply, "%d tickets left", *tickets);
        }
        if (weft_conn_send(c, reply, strlen(reply), 5 * WEFT_SEC) != WEFT_OK) return 1;
    }
}

static pid_t start_customer(const char *address, const char *key) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) _exit(customer(address, key));
    return pid;
}

static int exit_code(pid_t pid) {
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

int main(void) {
    weft_listener_options o = WEFT_LISTENER_OPTIONS_INIT;
    weft_listener *office;
    weft_conn *c;
    int tickets = 5, failures = 0;
    o.authkey = KEY;
    o.authkey_len = strlen(KEY);
    if (weft_listener_create(&office, "tcp:127.0.0.1:0", &o) != WEFT_OK) {
        fprintf(stderr, "weft_listener_create: %s\n", weft_last_error()->message);
        return 1;
    }
    const char *address = weft_listener_address(office);
    printf("ticket office listening on %s\n", address);

    pid_t pid = start_customer(address, KEY);
    if (weft_listener_accept(office, &c, 5 * WEFT_SEC) == WEFT_OK) {
        failures += serve(c, &tickets);
        weft_conn_destroy(c);
    } else {
        fprintf(stderr, "accept: %s\n", weft_last_error()->message);
        failures++;
    }
    if (exit_code(pid) != 0) failures++;

    pid = start_customer(address, "guessed-key");
    weft_status st = weft_listener_accept(office, &c, 5 * WEFT_SEC);
    printf("office: %s: %s\n", weft_status_name(st), weft_last_error()->message);
    if (st != WEFT_EPERM) failures++;
    if (exit_code(pid) != 3) failures++;

    weft_listener_destroy(office);
    printf("%d tickets left; %s\n", tickets, failures ? "FAILED" : "done");
    return failures ? 1 : 0;
}
