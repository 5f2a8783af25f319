"""Seed idea: the ticket office. Five buyers read db.json and buy a ticket;
the part that reads, decrements and writes the file is guarded by a process
lock, so no ticket is sold twice. With the import changed to weft.

Python twin of examples/lock_ticket_office.c. The file lives in a temporary
folder, with 3 tickets for 5 buyers.

Prints what each buyer sees; exits non-zero unless exactly 3 tickets were
sold and 0 are left.
"""

import json
import os
import sys
import tempfile
import time
import random

from weft.multiprocessing import Lock, Process, Queue

DB = os.path.join(tempfile.mkdtemp(prefix='weft-tickets-'), 'db.json')


def show():
    with open(DB) as f:
        data = json.load(f)
    print("tickets left", data["count"], flush=True)


def buy(sold):
    with open(DB) as f:
        data = json.load(f)
    time.sleep(random.random() * 0.05)  # the seed's network delay, which makes the race
    if data["count"] > 0:
        data["count"] -= 1
        # Written to a side file, then renamed over db.json: show() reads
        # without the lock, and must never see a half-written file.
        with open(DB + ".new", "wt") as f2:
            json.dump(data, f2)
        os.replace(DB + ".new", DB)
        print("bought a ticket!", flush=True)
        sold.put(os.getpid())


def task(mutex, sold):
    show()
    mutex.acquire()
    try:
        buy(sold)
    finally:
        mutex.release()


if __name__ == '__main__':
    with open(DB, "wt") as f:
        json.dump({"count": 3}, f)
    mutex = Lock()
    sold = Queue()
    ps = [Process(target=task, args=(mutex, sold)) for _ in range(5)]
    for p in ps:
        p.start()
    for p in ps:
        p.join(10)
    with open(DB) as f:
        left = json.load(f)["count"]
    n = sold.qsize()
    os.unlink(DB)
    os.rmdir(os.path.dirname(DB))
    print("sold", n, "left", left)
    sys.exit(0 if (n, left) == (3, 0) and all(p.exitcode == 0 for p in ps) else 1)
