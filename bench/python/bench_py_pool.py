#!/usr/bin/python3
"""Python row P5 of BENCHMARKS.md: weft's process pool against multiprocessing.Pool.

    /usr/bin/python3 bench/python/bench_py_pool.py [--build BUILD] [--runs 3] [--rounds 5]
                                                    [--scale 1] [--workers 2] [--only P5.map,...]

BUILD (default: build/) is a meson build directory of weft with the Python
bindings; the script imports weft from BUILD/bindings/python unless weft is
importable already. Both pools use the fork start method and `--workers`
workers (default 2), are created once per run and warmed, then each round
runs the stdlib and weft once, interleaved (A B A B ...); per run the ratio
is the median of the per-round ratios weft_time / stdlib_time (< 1: weft is
faster); the summary gives, per row, the median over runs, the spread
(min..max) and the speed-up (stdlib/weft).

Rows (tiny tasks: square an int):
  P5.map          Pool.map(square, range(10k)), default chunksize
  P5.map.list     the same over a list of the 10k ints (weft sends a range as
                  ranges; here every int is pickled; not a goal row, for reference)
  P5.apply_async  10k apply_async(square, (i,)), then every get()
  P5.executor     ProcessPoolExecutor: 10k submit, then every result()
                  (weft.futures vs concurrent.futures; not a P5 goal, shown for reference)

Goal: weft 3x the stdlib (weft/stdlib <= 0.333) for P5.map and P5.apply_async.
Output: one line per measurement `workload impl metric value unit`, then the ratio table.
"""

import argparse
import os
import statistics
import sys
import time


def square(x):
    return x * x


def import_weft(build):
    try:
        import weft  # noqa: F401
    except ImportError:
        sys.path.insert(0, os.path.join(build, 'bindings', 'python'))
    import weft.futures
    import weft.multiprocessing.pool
    return weft


def run_map(pool, n, as_list=False):
    items = list(range(n)) if as_list else range(n)
    t0 = time.perf_counter()
    out = pool.map(square, items)
    dt = time.perf_counter() - t0
    assert len(out) == n and out[-1] == (n - 1) * (n - 1)
    return dt


def run_apply_async(pool, n):
    t0 = time.perf_counter()
    rs = [pool.apply_async(square, (i,)) for i in range(n)]
    total = 0
    for r in rs:
        total += r.get()
    dt = time.perf_counter() - t0
    assert total == sum(i * i for i in range(n))
    return dt


def run_executor(ex, n):
    t0 = time.perf_counter()
    fs = [ex.submit(square, i) for i in range(n)]
    total = 0
    for f in fs:
        total += f.result()
    dt = time.perf_counter() - t0
    assert total == sum(i * i for i in range(n))
    return dt


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--build', default='build')
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--scale', type=float, default=1.0)
    ap.add_argument('--workers', type=int, default=2)
    ap.add_argument('--only', default='P5.map,P5.map.list,P5.apply_async,P5.executor')
    args = ap.parse_args()

    weft = import_weft(args.build)
    import concurrent.futures as std_futures
    import multiprocessing as std_mp

    def n(x):
        return max(1, int(x * args.scale))

    ctx = std_mp.get_context('fork')
    goals = {'P5.map': 1 / 3, 'P5.map.list': None, 'P5.apply_async': 1 / 3, 'P5.executor': None}
    wanted = [r for r in args.only.split(',') if r in goals]
    summary = {}
    for run in range(args.runs):
        std_pool = ctx.Pool(args.workers)
        weft_pool = weft.multiprocessing.pool.Pool(args.workers, context='fork')
        std_ex = std_futures.ProcessPoolExecutor(args.workers, mp_context=ctx)
        weft_ex = weft.futures.ProcessPoolExecutor(args.workers, mp_context='fork')
        rows = {
            'P5.map': (lambda: run_map(std_pool, n(10_000)),
                       lambda: run_map(weft_pool, n(10_000)), n(10_000)),
            'P5.map.list': (lambda: run_map(std_pool, n(10_000), True),
                            lambda: run_map(weft_pool, n(10_000), True), n(10_000)),
            'P5.apply_async': (lambda: run_apply_async(std_pool, n(10_000)),
                               lambda: run_apply_async(weft_pool, n(10_000)), n(10_000)),
            'P5.executor': (lambda: run_executor(std_ex, n(10_000)),
                            lambda: run_executor(weft_ex, n(10_000)), n(10_000)),
        }
        try:
            for name in wanted:
                std_fn, weft_fn, ops = rows[name]
                std_fn()
                weft_fn()  # warm-up round
                ratios, st, wt = [], [], []
                for _ in range(args.rounds):
                    a = std_fn()
                    b = weft_fn()
                    st.append(a)
                    wt.append(b)
                    ratios.append(b / a)
                ms, mw = statistics.median(st), statistics.median(wt)
                print(f'{name} stdlib tasks_per_s {ops / ms:.0f} tasks/s run={run + 1}')
                print(f'{name} weft tasks_per_s {ops / mw:.0f} tasks/s run={run + 1}')
                summary.setdefault(name, []).append((statistics.median(ratios), ops / ms, ops / mw))
                sys.stdout.flush()
        finally:
            std_pool.terminate()
            std_pool.join()
            weft_pool.terminate()
            weft_pool.join()
            std_ex.shutdown()
            weft_ex.shutdown()

    print()
    print(f'{"row":<15} {"stdlib tasks/s":>15} {"weft tasks/s":>13} {"weft/stdlib":>12} {"spread":>16} '
          f'{"speed-up":>9} {"goal":>6}  met')
    for name in wanted:
        goal = goals[name]
        rs = [r for r, _, _ in summary[name]]
        med = statistics.median(rs)
        s_rate = statistics.median(s for _, s, _ in summary[name])
        w_rate = statistics.median(w for _, _, w in summary[name])
        goal_s = f'{1 / goal:>5.1f}x' if goal else '     -'
        met = ('yes' if med <= goal else 'NOT met') if goal else '-'
        print(f'{name:<15} {s_rate:>15.0f} {w_rate:>13.0f} {med:>12.3f} {min(rs):>7.3f}..{max(rs):<7.3f} '
              f'{1 / med:>8.2f}x {goal_s}  {met}')


if __name__ == '__main__':
    main()
