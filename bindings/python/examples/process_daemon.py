"""Seed idea: a daemon process ends when the process it guards ends, even
with its task unfinished; with the import changed to weft.

The child would print "child over" after 3 s; it is a daemon, so when the
main process is done ("main over"), the child is ended with it. weft goes
further than the stdlib: a daemon child also dies when its parent is
SIGKILLed (the kernel is asked to kill it), not only at a clean exit; this
example shows that with a grandchild: a middle process starts the daemon,
then is SIGKILLed. Python twin of examples/process_daemon.c.

Prints "main over"; exits non-zero if the daemon outlived its parent.
"""

import os
import signal
import sys
import time

from weft.multiprocessing import Process, Queue


def task():
    print("child run", flush=True)
    time.sleep(3)
    print("child over", flush=True)


def middle(q):
    p = Process(target=task)
    p.daemon = True  # a daemon: must be set before start
    p.start()
    q.put(p.pid)
    time.sleep(30)


def alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split(')')[-1].split()[0] != 'Z'
    except FileNotFoundError:
        return False


if __name__ == '__main__':
    p = Process(target=task)
    p.daemon = True
    p.start()
    print("main started a daemon child, pid", p.pid)
    q = Queue()
    m = Process(target=middle, args=(q,))
    m.start()
    daemon_pid = q.get(timeout=10)
    os.kill(m.pid, signal.SIGKILL)  # the daemon's parent dies without any clean-up
    m.join(10)
    end = time.monotonic() + 5
    while alive(daemon_pid) and time.monotonic() < end:
        time.sleep(0.02)
    if alive(daemon_pid):
        print("the daemon outlived its SIGKILLed parent")
        sys.exit(1)
    print("the daemon of a SIGKILLed parent ended with it")
    print("main over")
