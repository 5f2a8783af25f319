"""W7 reference: multiprocessing.Pool(2).map over N tiny tasks (square an int).

Usage: /usr/bin/python3 bench/python/mp_pool_map.py [N] [REPEATS]
Prints one line per repeat ("tasks_per_s <rate>"), then the best of them
("best tasks_per_s <rate>", what bench/ reads: the steady state, the most
favourable figure for Python). The pool is started and warmed before timing,
as the C side's pools are; map uses its default chunking. The fork context
matches weft's fork-started workers.
"""
import multiprocessing as mp
import sys
import time


def square(x):
    return x * x


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    ctx = mp.get_context("fork")
    with ctx.Pool(2) as pool:
        pool.map(square, range(100))
        best = 0.0
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = pool.map(square, range(n))
            dt = time.perf_counter() - t0
            if len(out) != n or out[-1] != (n - 1) * (n - 1):
                print("wrong result", file=sys.stderr)
                return 1
            print(f"tasks_per_s {n / dt:.1f}", flush=True)
            best = max(best, n / dt)
        print(f"best tasks_per_s {best:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
