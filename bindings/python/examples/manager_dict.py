"""Seed idea: Manager "creates containers synchronised between processes, but
does not make them safe" -- so a count needs a lock. With the import changed to
weft: Manager().dict() is a weft shared dict (no server process), and
d.lock() holds its lock around a read-modify-write.

Python twin of examples/dict_manager.c. Four processes each record their
pid and add 100 to a shared count under the dict's lock; the spawn start
method is used, to show the objects cross by name.

Prints the dict; exits non-zero if the count is not 400.
"""

import os
import sys

import weft.multiprocessing as multiprocessing


def work(d, i):
    d[f"worker {i}"] = os.getpid()
    for _ in range(100):
        with d.lock():  # without it, increments from the processes would be lost
            d["count"] = d.get("count", 0) + 1


if __name__ == '__main__':
    ctx = multiprocessing.get_context('spawn')
    with multiprocessing.Manager() as manager:
        d = manager.dict()
        ps = [ctx.Process(target=work, args=(d, i)) for i in range(4)]
        for p in ps:
            p.start()
        for p in ps:
            p.join(30)
        print(d.copy())
        ok = d["count"] == 400 and all(p.exitcode == 0 for p in ps)
    sys.exit(0 if ok else 1)
