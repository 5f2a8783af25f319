"""Seed idea: cross-process communication by a Queue (here the seeds' Queue(2)
with block and timeout) and by a Pipe; with the import changed to weft.

Python twin of the queue and pipe parts of examples/queue_process_download_save.c.

Prints what goes through each; exits non-zero if something is lost.
"""

import queue
import sys

from weft.multiprocessing import Pipe, Process, Queue


def producer(q):
    for i in range(5):
        q.put(i)  # blocks while the queue holds 2 items
    q.put(None)


def echo(conn):
    while True:
        msg = conn.recv()
        if msg is None:
            break
        conn.send(msg.upper())
    conn.close()


if __name__ == '__main__':
    q = Queue(2)  # at most 2 items at a time
    q.put(1)
    q.put(2)
    try:
        q.put(3, block=True, timeout=0.1)  # full: waits 0.1 s, then queue.Full
    except queue.Full:
        print("the queue is full")
    print(q.get(), q.get())
    try:
        q.get(block=True, timeout=0.1)  # empty: waits 0.1 s, then queue.Empty
    except queue.Empty:
        print("the queue is empty")
    p = Process(target=producer, args=(q,))
    p.start()
    got = []
    while (item := q.get(timeout=10)) is not None:
        got.append(item)
    p.join(10)
    print("from the queue", got)

    parent, child = Pipe()
    e = Process(target=echo, args=(child,))
    e.start()
    child.close()
    replies = []
    for word in ("download", "save"):
        parent.send(word)
        replies.append(parent.recv())
    parent.send(None)
    e.join(10)
    print("through the pipe", replies)
    sys.exit(0 if got == [0, 1, 2, 3, 4] and replies == ["DOWNLOAD", "SAVE"]
             and p.exitcode == e.exitcode == 0 else 1)
