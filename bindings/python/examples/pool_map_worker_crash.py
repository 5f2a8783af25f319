"""weft's promise for process pools, in Python: a worker that crashes in the
middle of a map costs only its own item. Item 5 kills its worker process
(SIGKILL, as an out-of-memory killer would); the other results arrive intact,
the failed item raises weft's WorkerDiedError naming the worker's pid and the
signal, and the pool starts a replacement and goes on serving. (The stdlib's
multiprocessing.Pool waits forever for the lost result.) Python twin of
examples/process_pool_worker_crash.c.

Prints each item's result or the error, then the pool's counters; exits
non-zero if a result is wrong or the pool stopped serving.
"""

import os
import signal
import sys

from weft.multiprocessing import Pool
from weft.multiprocessing.pool import WorkerDiedError


def square_or_die(x):
    if x == 5:
        os.kill(os.getpid(), signal.SIGKILL)
    return x * x


if __name__ == '__main__':
    ok = True
    with Pool(2) as pool:
        results = pool.imap(square_or_die, range(10), chunksize=3)
        for x in range(10):
            try:
                value = next(results)
                print(f"{x} -> {value}")
                ok &= value == x * x and x != 5
            except WorkerDiedError as e:
                print(f"{x} failed: {e} (pid {e.pid}, signal {e.signal})")
                ok &= x == 5 and e.signal == signal.SIGKILL
        # The pool is still serving, with a replacement worker.
        again = pool.map(abs, [-1, -2, -3])
        print(f"after the crash: map(abs) -> {again}")
        stats = pool.stats()
        print(f"workers {stats['workers']}, crashed {stats['crashed']}, replaced {stats['replaced']}")
        ok &= again == [1, 2, 3] and stats['workers'] == 2 and stats['crashed'] >= 1
    sys.exit(0 if ok else 1)
