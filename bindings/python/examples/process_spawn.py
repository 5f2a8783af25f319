"""Seed idea: start methods. Under spawn the child is a fresh interpreter
that imports this file again as __mp_main__ -- which is why multiprocessing
programs keep their `if __name__ == '__main__':` guard. With the import
changed to weft; the forkserver start method is shown too.

Python twin of examples/process_spawn.c.

Prints each child's answer; exits non-zero if one is wrong.
"""

import os
import sys

import weft.multiprocessing as multiprocessing

print(f"module body runs in {__name__} (pid {os.getpid()})")


def square(q, x):
    q.put((multiprocessing.current_process().name, x * x))


if __name__ == '__main__':
    answers = []
    for method in ('spawn', 'forkserver'):
        ctx = multiprocessing.get_context(method)
        q = ctx.Queue()  # a spawn/forkserver context names it, so it reaches the child
        p = ctx.Process(target=square, args=(q, 7), name=f"{method} child")
        p.start()
        answers.append(q.get(timeout=30))
        p.join(30)
        print(method, answers[-1], "exit code", p.exitcode)
    sys.exit(0 if answers == [("spawn child", 49), ("forkserver child", 49)] else 1)
