"""Seed idea: two processes print their pid and their parent's pid; the main
process terminates them, with the import changed to weft.

The seed's task1/task2 loop forever; here the main process lets them print a
few times, then terminate()s both, as the seed does at number == 100.
Python twin of examples/process_pid_ppid.c.

Prints each child's pid and ppid; exits non-zero if a child reports another
parent or does not end with -SIGTERM.
"""

import os
import signal
import sys
from time import sleep

from weft.multiprocessing import Process, Queue


def task1(q):
    while True:
        q.put(('task1', os.getpid(), os.getppid()))
        print(f"task 1, pid {os.getpid()}, parent pid {os.getppid()}", flush=True)
        sleep(0.1)


def task2(q, time, name):
    while True:
        q.put(('task2', os.getpid(), os.getppid()))
        print(f"task 2, pid {os.getpid()}, parent pid {os.getppid()}, {name}", flush=True)
        sleep(time)


if __name__ == '__main__':
    print(f"main process, pid {os.getpid()}")
    q = Queue()
    p1 = Process(target=task1, name="task 1", args=(q,))
    p1.start()
    print(p1.name)
    p2 = Process(target=task2, name="task 2", args=(q, 0.2, "process 2"))
    p2.start()
    print(p2.name)
    seen = {}
    for _ in range(6):
        who, pid, ppid = q.get(timeout=10)
        seen[who] = (pid, ppid)
    p1.terminate()
    p2.terminate()
    p1.join(10)
    p2.join(10)
    ok = (seen.get('task1') == (p1.pid, os.getpid()) and seen.get('task2') == (p2.pid, os.getpid())
          and p1.exitcode == p2.exitcode == -signal.SIGTERM)
    print('exit codes', p1.exitcode, p2.exitcode)
    sys.exit(0 if ok else 1)
