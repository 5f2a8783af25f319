/*
 * The C side of test_cross_language.py: one C process and one Python process
 * share a named queue, a named lock and a named dict.
 *
 * Usage: cross_language_peer BASE
 * Opens BASE-q (queue), BASE-l (lock) and BASE-d (dict), made by Python.
 * Takes messages from the queue until one reads "stop"; for each other
 * message it increments the decimal "counter" in the dict under the lock
 * (Python increments the same counter under the same lock meanwhile) and
 * appends the message's length to a checksum. At "stop" it writes the dict
 * entry "peer" = "<messages> <total bytes> <pid>" and exits 0; any failure
 * prints the weft status and exits 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft/weft.h>

#define WAIT (20 * WEFT_SEC)

static int report(const char *what, weft_status st) {
    fprintf(stderr, "cross_language_peer: %s: %s (%s)\n", what, weft_status_name(st),
            weft_last_error()->message);
    return 1;
}

static int increment(weft_lock *lock, weft_dict *dict) {
    weft_status st = weft_lock_acquire(lock, WAIT);
    if (st == WEFT_EOWNERDEAD) st = weft_lock_mark_consistent(lock);
    if (st != WEFT_OK) return report("weft_lock_acquire", st);
    char buf[32];
    size_t len = 0;
    long long counter = 0;
    st = weft_dict_get(dict, "counter", buf, sizeof buf - 1, &len, WAIT);
    if (st == WEFT_OK) {
        buf[len] = '\0';
        counter = atoll(buf);
    } else if (st != WEFT_ENOENT) {
        (void)weft_lock_release(lock);
        return report("weft_dict_get", st);
    }
    /* Widen the race window a little: without the lock, updates would be lost. */
    if (counter % 7 == 0) usleep(100);
    int n = snprintf(buf, sizeof buf, "%lld", counter + 1);
    st = weft_dict_set(dict, "counter", buf, (size_t)n, WAIT);
    weft_status rs = weft_lock_release(lock);
    if (st != WEFT_OK) return report("weft_dict_set", st);
    if (rs != WEFT_OK) return report("weft_lock_release", rs);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: cross_language_peer BASE\n");
        return 2;
    }
    char qname[256], lname[256], dname[256];
    snprintf(qname, sizeof qname, "%s-q", argv[1]);
    snprintf(lname, sizeof lname, "%s-l", argv[1]);
    snprintf(dname, sizeof dname, "%s-d", argv[1]);

    weft_queue *q = NULL;
    weft_lock *lock = NULL;
    weft_dict *dict = NULL;
    weft_status st = weft_queue_open(&q, qname);
    if (st != WEFT_OK) return report("weft_queue_open", st);
    st = weft_lock_open(&lock, lname);
    if (st != WEFT_OK) return report("weft_lock_open", st);
    st = weft_dict_open(&dict, dname);
    if (st != WEFT_OK) return report("weft_dict_open", st);

    int rc = 0;
    long messages = 0, bytes = 0;
    for (;;) {
        char msg[512];
        size_t len = 0;
        st = weft_queue_get_bytes(q, msg, sizeof msg, &len, WAIT);
        if (st != WEFT_OK) { rc = report("weft_queue_get_bytes", st); break; }
        if (len == 4 && memcmp(msg, "stop", 4) == 0) break;
        messages++;
        bytes += (long)len;
        if (increment(lock, dict) != 0) { rc = 1; break; }
    }
    if (rc == 0) {
        char out[128];
        int n = snprintf(out, sizeof out, "%ld %ld %d", messages, bytes, (int)getpid());
        st = weft_dict_set(dict, "peer", out, (size_t)n, WAIT);
        if (st != WEFT_OK) rc = report("weft_dict_set", st);
    }
    weft_dict_destroy(dict);
    weft_lock_destroy(lock);
    weft_queue_destroy(q);
    return rc;
}
