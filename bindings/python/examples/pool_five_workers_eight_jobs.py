"""Seed idea: Pool(5) runs 8 jobs with apply_async and a callback per job,
then close() and join(): the seed's program with the import changed to weft
(`from weft.multiprocessing import Pool`). Five worker processes take the
eight jobs; as each ends, its callback prints "Complete task<n>" in the
parent. Python twin of examples/process_pool_five_workers_eight_jobs.c.

Prints a start and a resume line per job (from the worker processes) and a
"Complete task<n>" line per job (from the parent), then how many processes
ran them; exits non-zero unless every callback ran once with its job's value.
"""

import os
import random
import sys
import time

from weft.multiprocessing import Pool


def task(task_name):
    print(f"start process {task_name},process id {os.getpid()}")
    start = time.time()
    time.sleep(random.random() * 0.3)
    end = time.time()
    print(f"resume time {end - start},process id {os.getpid()}")
    return task_name, os.getpid()


completed = []


def callback_func(result):
    n, pid = result
    completed.append(result)
    print(f"Complete task{n}")


if __name__ == '__main__':
    pool = Pool(5)
    for i in range(8):
        pool.apply_async(task, args=(i,), callback=callback_func)  # asynchronous
        # pool.apply(task, (i,)) would run them one after another
    pool.close()  # no more jobs
    pool.join()  # wait for the workers (and the callbacks)
    pids = {pid for _, pid in completed}
    print(f"{len(completed)} jobs completed by {len(pids)} worker processes")
    ok = sorted(n for n, _ in completed) == list(range(8)) and 1 <= len(pids) <= 5 and os.getpid() not in pids
    sys.exit(0 if ok else 1)
