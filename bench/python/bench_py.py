#!/usr/bin/python3
"""Python rows P1-P3 of BENCHMARKS.md: weft's package against the stdlib it mirrors.

    /usr/bin/python3 bench/python/bench_py.py [--build BUILD] [--runs 3] [--rounds 5] [--scale 1]

BUILD (default: build/) is a meson build directory of weft with the Python
bindings; the script imports weft from BUILD/bindings/python unless weft is
importable already (installed). Method as the C bench: per run, one
unmeasured warm-up round, then ROUNDS rounds in each of which the stdlib and
weft run once, interleaved (A B A B ...); per run the ratio is the median of
the per-round ratios stdlib_time / weft_time (> 1: weft is faster); the
summary gives, per row, the median over runs and the spread (min..max).

Rows:
  P1.acquire  Lock.acquire(); Lock.release()     1M pairs on one thread
  P1.with     with lock: pass                    1M times on one thread
  P2          Queue put/get, 1 producer thread, 1 consumer thread, 200k items
  P3          ThreadPoolExecutor(2 workers): 100k submit, then every result()
  P4.64       cross-process Queue (fork child puts, parent gets), 20k messages of 64 B
  P4.64k      the same, 2k messages of 64 KiB
  P6.fork     Process(target=noop) start + join, 20 in a row, fork start method
  P6.forkserver  the same with the forkserver start method (server started in the warm-up)
  P6.cap      the cap of P6.fork: a bare os.fork() / child os._exit(0) / os.waitpid loop in
              the weft column, against the stdlib's Process (the lowest ratio any fork-based
              Process can reach here: no goal)
  P6.overcap  weft's Process (fork) against that bare fork loop (1.0: nothing beyond the fork)
  P7          2 processes x 10k `with lock: value.value += 1` on a shared RawValue

Goals (weft time / stdlib time): P1 <= 1.5, P2 <= 0.5 (2x), P3 <= 0.5 (2x),
P4 <= 0.2 (5x), P6 <= 0.33 (3x), P7 <= 0.5 (2x). P4/P6/P7 compare
weft.multiprocessing with the stdlib's multiprocessing (contexts of the same
start method).
Output: one line per measurement `workload impl metric value unit`, then the
ratio table.
"""

import argparse
import os
import statistics
import sys
import time


def import_weft(build):
    try:
        import weft  # noqa: F401
    except ImportError:
        sys.path.insert(0, os.path.join(build, 'bindings', 'python'))
    import weft.futures
    import weft.queue
    import weft.threading
    return weft


def p1_acquire(threading, n):
    lock = threading.Lock()
    acquire, release = lock.acquire, lock.release
    t0 = time.perf_counter()
    for _ in range(n):
        acquire()
        release()
    return time.perf_counter() - t0


def p1_with(threading, n):
    lock = threading.Lock()
    t0 = time.perf_counter()
    for _ in range(n):
        with lock:
            pass
    return time.perf_counter() - t0


def p2_queue(mods, n):
    threading, queue = mods
    q = queue.Queue()
    got = []

    def producer():
        put = q.put
        for i in range(n):
            put(i)
        put(None)

    def consumer():
        get = q.get
        count = 0
        while get() is not None:
            count += 1
        got.append(count)

    t0 = time.perf_counter()
    c = threading.Thread(target=consumer)
    p = threading.Thread(target=producer)
    c.start()
    p.start()
    p.join()
    c.join()
    dt = time.perf_counter() - t0
    assert got == [n], got
    return dt


def _task(x):
    return x + 1


def p3_pool(futures, n):
    t0 = time.perf_counter()
    with futures.ThreadPoolExecutor(max_workers=2) as ex:
        submit = ex.submit
        fs = [submit(_task, i) for i in range(n)]
        total = 0
        for f in fs:
            total += f.result()
    dt = time.perf_counter() - t0
    assert total == n * (n + 1) // 2, total
    return dt


def _p4_producer(q, go, n, size):
    payload = b'x' * size
    go.wait()
    put = q.put
    for _ in range(n):
        put(payload)


def p4_queue(mp, n, size):
    ctx = mp.get_context('fork')
    q, go = ctx.Queue(), ctx.Event()
    p = ctx.Process(target=_p4_producer, args=(q, go, n, size))
    p.start()
    time.sleep(0.05)
    t0 = time.perf_counter()
    go.set()
    get = q.get
    for _ in range(n):
        assert len(get()) == size
    dt = time.perf_counter() - t0
    p.join()
    return dt


def _noop():
    pass


def p6_process(mp, method, n):
    ctx = mp.get_context(method)
    t0 = time.perf_counter()
    for _ in range(n):
        p = ctx.Process(target=_noop)
        p.start()
        p.join()
        assert p.exitcode == 0, p.exitcode
    return time.perf_counter() - t0


def p6_bare_fork(n):
    """The floor under any fork-based Process start: fork, exit at once, reap."""
    t0 = time.perf_counter()
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert status == 0, status
    return time.perf_counter() - t0


def _p7_worker(lock, value, go, n):
    go.wait()
    for _ in range(n):
        with lock:
            value.value += 1


def p7_lock(mp, n):
    ctx = mp.get_context('fork')
    lock, value, go = ctx.Lock(), ctx.RawValue('l', 0), ctx.Event()
    ps = [ctx.Process(target=_p7_worker, args=(lock, value, go, n)) for _ in range(2)]
    for p in ps:
        p.start()
    time.sleep(0.05)
    t0 = time.perf_counter()
    go.set()
    for p in ps:
        p.join()
    dt = time.perf_counter() - t0
    assert value.value == 2 * n, value.value
    return dt


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--build', default='build')
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--scale', type=float, default=1.0)
    ap.add_argument('--only', default='P1.acquire,P1.with,P2,P3,P4.64,P4.64k,P6.fork,P6.cap,P6.overcap,P6.forkserver,P7')
    args = ap.parse_args()

    weft = import_weft(args.build)
    import concurrent.futures as std_futures
    import queue as std_queue
    import threading as std_threading
    import multiprocessing as std_mp
    import weft.multiprocessing as weft_mp

    def n(x):
        return max(1, int(x * args.scale))

    rows = {
        'P1.acquire': (lambda: p1_acquire(std_threading, n(1_000_000)),
                       lambda: p1_acquire(weft.threading, n(1_000_000)), n(1_000_000), 1.5),
        'P1.with': (lambda: p1_with(std_threading, n(1_000_000)),
                    lambda: p1_with(weft.threading, n(1_000_000)), n(1_000_000), 1.5),
        'P2': (lambda: p2_queue((std_threading, std_queue), n(200_000)),
               lambda: p2_queue((weft.threading, weft.queue), n(200_000)), n(200_000), 0.5),
        'P3': (lambda: p3_pool(std_futures, n(100_000)),
               lambda: p3_pool(weft.futures, n(100_000)), n(100_000), 0.5),
        'P4.64': (lambda: p4_queue(std_mp, n(20_000), 64),
                  lambda: p4_queue(weft_mp, n(20_000), 64), n(20_000), 0.2),
        'P4.64k': (lambda: p4_queue(std_mp, n(2_000), 65536),
                   lambda: p4_queue(weft_mp, n(2_000), 65536), n(2_000), 0.2),
        'P6.fork': (lambda: p6_process(std_mp, 'fork', n(20)),
                    lambda: p6_process(weft_mp, 'fork', n(20)), n(20), 0.34),
        'P6.forkserver': (lambda: p6_process(std_mp, 'forkserver', n(20)),
                          lambda: p6_process(weft_mp, 'forkserver', n(20)), n(20), 0.34),
        'P6.cap': (lambda: p6_process(std_mp, 'fork', n(20)),
                   lambda: p6_bare_fork(n(20)), n(20), None),
        'P6.overcap': (lambda: p6_bare_fork(n(20)),
                       lambda: p6_process(weft_mp, 'fork', n(20)), n(20), None),
        'P7': (lambda: p7_lock(std_mp, n(10_000)),
               lambda: p7_lock(weft_mp, n(10_000)), 2 * n(10_000), 0.5),
    }
    wanted = [r for r in args.only.split(',') if r in rows]
    summary = {}
    for run in range(args.runs):
        for name in wanted:
            std_fn, weft_fn, ops, goal = rows[name]
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
            print(f'{name} stdlib ns_per_op {ms / ops * 1e9:.1f} ns run={run + 1}')
            print(f'{name} weft ns_per_op {mw / ops * 1e9:.1f} ns run={run + 1}')
            summary.setdefault(name, []).append((statistics.median(ratios), ms / ops * 1e9, mw / ops * 1e9))
            sys.stdout.flush()

    print()
    print(f'{"row":<13} {"stdlib ns/op":>13} {"weft ns/op":>11} {"weft/stdlib":>12} {"spread":>16} {"goal":>6}  met')
    for name in wanted:
        _, _, _, goal = rows[name]
        rs = [r for r, _, _ in summary[name]]
        med = statistics.median(rs)
        s_ns = statistics.median(s for _, s, _ in summary[name])
        w_ns = statistics.median(w for _, _, w in summary[name])
        if goal is None:
            verdict = f'{"-":>6}  -'
        else:
            verdict = f'{goal:>6.2f}  {"yes" if med <= goal else "NOT met"}'
        print(f'{name:<13} {s_ns:>13.1f} {w_ns:>11.1f} {med:>12.3f} {min(rs):>7.3f}..{max(rs):<7.3f} {verdict}')


if __name__ == '__main__':
    main()
