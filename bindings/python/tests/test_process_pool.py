"""weft's process pools for Python: weft.multiprocessing.Pool and
weft.futures.ProcessPoolExecutor. Results and exceptions cross processes; a
worker that dies (SIGKILL, os._exit, a segfault) fails only its own task with
WorkerDiedError naming its pid and how it died, and the pool goes on; each
start method runs functions of this (__main__) module. Every wait is finite.
"""

import concurrent.futures as std_futures
import ctypes
import enum
import functools
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import weft  # noqa: E402
import weft.futures as wf  # noqa: E402
import weft.multiprocessing as mp  # noqa: E402
from weft.multiprocessing import pool as pool_mod  # noqa: E402
from weft.multiprocessing.pool import Pool, WorkerDiedError  # noqa: E402
from _runner import InterruptTestCase, check_fresh_build  # noqa: E402

WAIT = 20.0  # seconds: the bound on every wait that should succeed
UNDER_TSAN = 'tsan' in os.environ.get('LD_PRELOAD', '') or 'TSAN_OPTIONS' in os.environ


def square(x):
    return x * x


def identity(x):
    return x


class Color(enum.IntEnum):
    RED = 1


class MyInt(int):
    pass


def half(x):
    return x / 2


def add(a, b):
    return a + b


def boom(x):
    raise KeyError('no key %r' % (x,))


def die_on_13(x):
    if x == 13:
        os.kill(os.getpid(), signal.SIGKILL)
    return x * x


def exit_on(x):
    if x == 3:
        os._exit(7)
    return x


def segfault():
    ctypes.string_at(0)


def sleep_and_return(t, v):
    time.sleep(t)
    return v


def slow_square(x):
    time.sleep(0.5)
    return x * x


def getpid(_=None):
    return os.getpid()


def raise_on_7(x):
    if x == 7:
        raise KeyError('no key 7')
    return x * x


def log_call_raise_on_7(d, x):
    """Note the call in directory d (one dot per call of x), then raise_on_7."""
    with open(os.path.join(d, str(x)), 'a') as f:
        f.write('.')
    return raise_on_7(x)


def die_on_13_once(marker, x):
    """Kill the worker at x == 13 the first time (marker: a file it creates first)."""
    if x == 13:
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return x * x
        os.kill(os.getpid(), signal.SIGKILL)
    return x * x


# Who imported this module: the process itself (fork's parent copy, a spawn
# worker), or the forkserver, once, before it forked the worker.
IMPORTED_BY = os.getpid()


def who_imported(_=None):
    return IMPORTED_BY, os.getpid(), os.getppid()


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def next_or_died(it, n):
    """The next n results of an imap iterator, a WorkerDiedError in place of each crashed item."""
    out = []
    for _ in range(n):
        try:
            out.append(next(it))
        except WorkerDiedError as e:
            out.append(e)
    return out


def wait_until(cond, timeout=WAIT):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


def kwargs_echo(*args, **kwargs):
    return args, kwargs


_init_value = None


def init_set(v):
    global _init_value
    _init_value = v


def init_get():
    return _init_value


def init_fail():
    raise ValueError('the initializer fails on purpose')


class Unpicklable:
    def __reduce__(self):
        raise TypeError('Unpicklable refuses to be pickled')


def return_unpicklable():
    return Unpicklable()


class CustomError(Exception):
    def __init__(self, a, b):
        super().__init__(a, b)
        self.a, self.b = a, b


def raise_custom():
    raise CustomError(1, 'two')


class PoolTest(unittest.TestCase):
    method = 'fork'

    def setUp(self):
        self.pool = Pool(2, context=self.method)

    def tearDown(self):
        self.pool.terminate()
        self.assertTrue(self.pool.join(WAIT))

    def test_apply_map_starmap_return_the_values(self):
        self.assertEqual(self.pool.apply(square, (7,)), 49)
        self.assertEqual(self.pool.apply(kwargs_echo, (1, 2), {'k': 3}), ((1, 2), {'k': 3}))
        self.assertEqual(self.pool.map(square, range(100)), [x * x for x in range(100)])
        self.assertEqual(self.pool.map(square, range(10), chunksize=3), [x * x for x in range(10)])
        self.assertEqual(self.pool.starmap(add, [(1, 2), (3, 4)]), [3, 7])
        self.assertEqual(self.pool.map(square, []), [])

    def test_the_task_exception_comes_back_with_its_type_and_traceback(self):
        with self.assertRaises(KeyError) as cm:
            self.pool.apply(boom, (5,))
        self.assertIn("no key 5", str(cm.exception))
        self.assertIn('boom', str(cm.exception.__cause__))  # the remote traceback
        with self.assertRaises(CustomError) as cm:
            self.pool.apply(raise_custom)
        self.assertEqual((cm.exception.a, cm.exception.b), (1, 'two'))

    def test_map_raises_the_first_failure(self):
        with self.assertRaises(KeyError):
            self.pool.map(boom, range(5))

    def test_apply_async_runs_callback_or_error_callback_before_get_returns(self):
        got, errors = [], []
        r = self.pool.apply_async(square, (6,), callback=got.append, error_callback=errors.append)
        self.assertEqual(r.get(WAIT), 36)
        self.assertEqual(got, [36])
        r = self.pool.apply_async(boom, (1,), callback=got.append, error_callback=errors.append)
        r.wait(WAIT)
        self.assertTrue(r.ready())
        self.assertFalse(r.successful())
        self.assertEqual(len(errors), 1)
        self.assertIsInstance(errors[0], KeyError)
        with self.assertRaises(KeyError):
            r.get(WAIT)

    def test_get_times_out_with_multiprocessing_timeout_error(self):
        r = self.pool.apply_async(sleep_and_return, (1.0, 'late'))
        with self.assertRaises(mp.TimeoutError):
            r.get(0.05)
        self.assertFalse(r.ready())
        with self.assertRaises(ValueError):
            r.successful()
        self.assertEqual(r.get(WAIT), 'late')
        self.assertTrue(r.successful())

    def test_map_async_calls_back_with_the_list(self):
        got = []
        r = self.pool.map_async(square, range(20), callback=got.append)
        self.assertEqual(r.get(WAIT), [x * x for x in range(20)])
        self.assertEqual(got, [[x * x for x in range(20)]])
        errs = []
        r = self.pool.starmap_async(boom, [(1,)], error_callback=errs.append)
        with self.assertRaises(KeyError):
            r.get(WAIT)
        self.assertIsInstance(errs[0], KeyError)

    def test_imap_and_imap_unordered(self):
        self.assertEqual(list(self.pool.imap(square, range(30), chunksize=4)), [x * x for x in range(30)])
        self.assertEqual(sorted(self.pool.imap_unordered(square, range(30), chunksize=4)),
                         [x * x for x in range(30)])
        it = self.pool.imap(slow_square, [3])
        with self.assertRaises(mp.TimeoutError):
            it.next(timeout=0.01)

    def test_a_worker_killed_in_a_map_fails_only_its_item_and_the_pool_serves_on(self):
        it = self.pool.imap(die_on_13, range(30), chunksize=5)
        out = next_or_died(it, 30)
        self.assertRaises(StopIteration, next, it)
        for i, v in enumerate(out):
            if i == 13:
                self.assertIsInstance(v, WorkerDiedError)
                self.assertIn('signal 9 (SIGKILL)', str(v))
                self.assertEqual(v.signal, 9)
                self.assertIsNone(v.exitcode)
                self.assertGreater(v.pid, 0)
                self.assertIn('worker %d' % v.pid, str(v))
            else:
                self.assertEqual(v, i * i)
        with self.assertRaises(WorkerDiedError):  # map raises it; the pool is fine
            self.pool.map(die_on_13, range(20), chunksize=4)
        self.assertEqual(self.pool.apply(square, (3,)), 9)
        stats = self.pool.stats()
        self.assertGreaterEqual(stats['crashed'], 2)
        self.assertFalse(stats['broken'])
        self.assertEqual(stats['workers'], 2)

    def test_exit_and_segfault_are_reported_with_code_and_signal(self):
        with self.assertRaises(WorkerDiedError) as cm:
            self.pool.apply(exit_on, (3,))
        self.assertEqual(cm.exception.exitcode, 7)
        self.assertIn('exited with code 7', str(cm.exception))
        with self.assertRaises(WorkerDiedError) as cm:
            self.pool.apply(segfault)
        self.assertEqual(cm.exception.signal, signal.SIGSEGV)
        self.assertEqual(self.pool.apply(square, (4,)), 16)

    def test_unpicklable_arguments_and_results_give_clear_errors(self):
        with self.assertRaises(TypeError) as cm:
            self.pool.apply(square, (Unpicklable(),))
        self.assertIn('refuses', str(cm.exception))
        self.assertTrue(any('could not be pickled' in n for n in getattr(cm.exception, '__notes__', [])))
        with self.assertRaises(TypeError) as cm:  # the pickling error, raised in the worker
            self.pool.apply(return_unpicklable)
        self.assertIn('refuses', str(cm.exception))
        self.assertTrue(any('could not be pickled' in n for n in cm.exception.__notes__))
        with self.assertRaises(Exception) as cm:  # pickle finds a lambda by name only
            self.pool.apply(lambda: 1)
        self.assertIn('lambda', str(cm.exception))
        self.assertEqual(self.pool.apply(square, (2,)), 4)

    def test_close_join_and_the_state_checks(self):
        r = self.pool.apply_async(sleep_and_return, (0.2, 'done'))
        self.pool.close()
        with self.assertRaises(ValueError):
            self.pool.apply_async(square, (1,))
        with self.assertRaises(ValueError):
            self.pool.map(square, [1])
        self.assertTrue(self.pool.join(WAIT))
        self.assertEqual(r.get(0), 'done')

    def test_join_while_running_raises(self):
        with self.assertRaises(ValueError):
            self.pool.join()

    def test_terminate_kills_running_tasks(self):
        r = self.pool.apply_async(sleep_and_return, (30, 'never'))
        time.sleep(0.2)
        t0 = time.monotonic()
        self.pool.terminate()
        self.assertTrue(self.pool.join(WAIT))
        self.assertLess(time.monotonic() - t0, 10)
        with self.assertRaises(std_futures.CancelledError):
            r.get(WAIT)

    def test_initializer_and_maxtasksperchild(self):
        with Pool(1, init_set, ('hello',), maxtasksperchild=2, context=self.method) as p:
            self.assertEqual(p.apply(init_get), 'hello')
            pids = [p.apply(getpid) for _ in range(4)]
            self.assertEqual(len(set(pids)), 3)  # replaced after every 2 tasks
            self.assertEqual(p.apply(init_get), 'hello')

    def test_the_with_statement_terminates(self):
        with Pool(1, context=self.method) as p:
            self.assertEqual(p.apply(square, (5,)), 25)
        with self.assertRaises(ValueError):
            p.apply(square, (1,))

    def test_bad_arguments(self):
        self.assertRaises(ValueError, Pool, 0)
        self.assertRaises(ValueError, Pool, 1, maxtasksperchild=0)
        self.assertRaises(TypeError, Pool, 1, initializer=3)
        self.assertRaises(ValueError, Pool, 1, context='nonsense')
        with self.assertRaises(ValueError):
            self.pool.map(square, [1, 2], chunksize=0)

    def test_task_timeout_kills_and_replaces_the_worker(self):
        with Pool(1, context=self.method, task_timeout=0.3) as p:
            with self.assertRaises(TimeoutError):
                p.apply(sleep_and_return, (20, 'late'))
            self.assertEqual(p.apply(square, (9,)), 81)

    # ---- map and starmap: one C map on the calling thread (no future per chunk) ----
    def spy_sync_maps(self):
        """Count the C maps of self.pool; fail if a chunk goes through a future."""
        core = self.pool._core
        calls = []
        def counted(real):
            def run(datas):
                calls.append(len(datas))
                return real(datas)
            return run

        def no_submit(data):
            raise AssertionError('map or starmap submitted a chunk as a future')

        core.map_chunks = counted(core.map_chunks)
        core.map_values = counted(core.map_values)
        core.submit = no_submit
        return calls

    def tmp(self):
        """A fresh directory, removed after the test."""
        d = tempfile.mkdtemp(prefix='weft-test-pool-')
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def test_map_and_starmap_run_their_chunks_in_one_c_map_in_order(self):
        calls = self.spy_sync_maps()
        items = list(range(-50, 250))
        self.assertEqual(self.pool.map(square, items), [x * x for x in items])
        self.assertEqual(self.pool.map(square, range(5000)), [x * x for x in range(5000)])
        self.assertEqual(self.pool.map(square, range(3, 40, 3), chunksize=1), [x * x for x in range(3, 40, 3)])
        self.assertEqual(self.pool.map(square, (x for x in range(7)), chunksize=2), [x * x for x in range(7)])
        self.assertEqual(self.pool.starmap(add, [(i, 10 * i) for i in range(30)], chunksize=4),
                         [11 * i for i in range(30)])
        self.assertEqual(calls, [8, 2, 13, 4, 8])  # the chunks of each call, all in one C map
        self.assertEqual(self.pool.map(square, []), [])
        self.assertEqual(self.pool.starmap(add, iter(())), [])
        self.assertEqual(len(calls), 5)  # nothing to run: no C map

    def test_an_exception_in_one_item_of_a_sync_map_raises_it(self):
        self.spy_sync_maps()
        with self.assertRaises(KeyError) as cm:
            self.pool.map(raise_on_7, range(20), chunksize=3)
        self.assertIn('no key 7', str(cm.exception))
        self.assertIn('raise_on_7', str(cm.exception.__cause__))  # the remote traceback
        with self.assertRaises(KeyError):
            self.pool.starmap(boom, [(1,), (2,)])
        with self.assertRaises(CustomError) as cm:
            self.pool.starmap(raise_custom, [()])
        self.assertEqual((cm.exception.a, cm.exception.b), (1, 'two'))
        self.assertEqual(self.pool.map(square, range(4)), [0, 1, 4, 9])

    def test_a_crash_in_a_sync_map_fails_only_its_item(self):
        # The chunk whose worker died is run again one item per task (through
        # futures: a rare path); only the item that kills its worker fails.
        # 13 starts its chunk, so no task ran before it on the worker it kills
        # (the supervisor may still report the task before it as lost with
        # that worker, then run the crashing task again: a bug of lib/, open).
        chunks = self.pool._chunks(die_on_13, range(3, 33), 5, False, pool_mod._MapNow)
        out = []
        for part, ok, v in chunks.settled():
            out.extend(pool_mod._chunk_outcomes(chunks.core, chunks.func, chunks.star, part, ok, v, None))
        self.assertEqual(len(out), 30)
        for x, (ok, v) in zip(range(3, 33), out):
            if x == 13:
                self.assertFalse(ok)
                self.assertIsInstance(v, WorkerDiedError)
                self.assertEqual(v.signal, 9)
                self.assertIn('worker %d' % v.pid, str(v))
            else:
                self.assertEqual((ok, v), (True, x * x))
        # map raises the first failure in item order: the crash at 13 ...
        with self.assertRaises(WorkerDiedError) as cm:
            self.pool.map(die_on_13, range(30), chunksize=10)
        self.assertIn('signal 9 (SIGKILL)', str(cm.exception))
        self.assertGreater(cm.exception.pid, 0)
        # ... or the exception of an item before it
        with self.assertRaises(KeyError):
            self.pool.map(raise_on_7, [1, 7, 2, 13], chunksize=4)
        # an item whose worker died once is run again, so every result comes back
        marker = os.path.join(self.tmp(), 'died')
        self.assertEqual(self.pool.map(functools.partial(die_on_13_once, marker), range(30)),
                         [x * x for x in range(30)])
        self.assertTrue(os.path.exists(marker))
        stats = self.pool.stats()
        self.assertGreaterEqual(stats['crashed'], 3)
        self.assertEqual(stats['workers'], 2)
        self.assertEqual(self.pool.map(square, range(10)), [x * x for x in range(10)])

    def test_a_sync_map_on_a_closed_pool_raises_value_error(self):
        self.pool._core.close()  # closed under the Pool (as by another thread)
        with self.assertRaises(ValueError) as cm:
            self.pool.map(square, range(10))
        self.assertEqual(str(cm.exception), 'Pool not running')
        self.assertEqual(self.pool.map(square, []), [])  # nothing to run

    # Under ASan, in one full CI run of three, the callback did not return
    # within WAIT (fork pool): cause not found yet (it passes alone, in loops
    # and in the plain build); skipped there until it is.
    @unittest.skipIf('libasan' in os.environ.get('LD_PRELOAD', ''), 'hung once under ASan: under investigation')
    def test_a_sync_map_in_a_callback_raises_instead_of_deadlocking(self):
        seen = []

        def callback(value):  # runs in the pool's supervisor thread
            try:
                seen.append(self.pool.map(square, range(3)))
            except BaseException as e:  # noqa: B902 - asserted on the test thread
                seen.append(e)

        # (the task outlasts the callback's registration: a callback added to
        # a finished future runs at once in the thread that adds it)
        self.assertEqual(self.pool.apply_async(sleep_and_return, (0.5, 4), callback=callback).get(WAIT), 4)
        self.assertEqual(len(seen), 1)
        self.assertIsInstance(seen[0], weft.WeftDeadlockError)
        self.assertIn('supervisor', str(seen[0]))
        self.assertEqual(self.pool.map(square, range(3)), [0, 1, 4])

    def test_terminate_from_another_thread_ends_a_sync_map(self):
        timer = threading.Timer(0.3, self.pool.terminate)
        timer.start()
        t0 = time.monotonic()
        with self.assertRaises(std_futures.CancelledError):
            self.pool.starmap(sleep_and_return, [(0.2, i) for i in range(100)], chunksize=1)
        self.assertLess(time.monotonic() - t0, 10)
        timer.join(WAIT)
        self.assertTrue(self.pool.join(WAIT))

    def test_sync_maps_from_several_threads_at_once(self):
        results, errors = {}, []

        def run(k):
            try:
                if k % 2:
                    results[k] = self.pool.starmap(add, [(k, i) for i in range(300)])
                else:
                    results[k] = self.pool.map(functools.partial(add, k), range(300), chunksize=7)
            except BaseException as e:  # noqa: B902 - asserted on the test thread
                errors.append(e)

        threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT)
        self.assertEqual(errors, [])
        for k in range(4):
            self.assertEqual(results[k], [k + i for i in range(300)])

    def test_a_sync_map_on_a_pool_that_does_not_lend_its_workers(self):
        # maxtasksperchild or a task timeout: the C map queues its chunks
        with Pool(1, maxtasksperchild=1, context=self.method) as p:
            pids = p.map(getpid, range(4), chunksize=1)
            self.assertEqual(len(set(pids)), 4)  # a new worker for every chunk
            self.assertEqual(p.map(square, range(10), chunksize=3), [x * x for x in range(10)])
        with Pool(2, context=self.method, task_timeout=2.0) as p:  # (room for a slow start under ASan and load)
            self.assertEqual(p.starmap(add, [(1, 2)] * 9, chunksize=2), [3] * 9)
            with self.assertRaises(WorkerDiedError):
                p.map(die_on_13, range(20), chunksize=5)
            with self.assertRaises(TimeoutError):  # its chunk's worker was killed at the task timeout
                p.starmap(sleep_and_return, [(0, 1), (20, 'late')], chunksize=1)
            self.assertEqual(p.map(square, range(5)), [0, 1, 4, 9, 16])

    def test_the_c_map_binding_checks_its_arguments(self):
        h = self.pool._core.h
        with self.assertRaises(TypeError):
            pool_mod._ppool._weft.py_ppool_map(h, 3, 0, 0)
        with self.assertRaises(TypeError):
            pool_mod._ppool._weft.py_ppool_map(h, [b"x", 4], 0, 0)
        self.assertEqual(pool_mod._ppool._weft.py_ppool_map(h, [], 1, 0), [])
        # a chunk the worker cannot read comes back as its error, the others' results intact
        core = self.pool._core
        good = core.chunk_packer(square, False)([2, 3])
        out = core.map_chunks([good, b'Gjunk', good])
        self.assertEqual(out[0], (True, [4, 9]))
        self.assertEqual(out[2], (True, [4, 9]))
        self.assertFalse(out[1][0])
        self.assertIsInstance(out[1][1], pool_mod._ppool.TransferError)
        # a chunk whose worker died carries the C map's own message: which worker, how, where
        # a wake-up ahead of chunks (map sends one before it pickles them) is only a hint
        core.wake(0)
        core.wake(64)
        self.assertEqual(core.map_values([good, good]), ([4, 9, 4, 9], None))
        # the values only, as map() wants them: one list when every chunk's are numbers
        self.assertEqual(core.map_values([good, good]), ([4, 9, 4, 9], None))
        self.assertEqual(pool_mod._ppool._weft.py_ppool_map(h, [], 1, 1), ([], None))
        named = core.chunk_packer(str, False)([2])
        self.assertEqual(core.map_values([good, named]), (None, [(True, [4, 9]), (True, ['2'])]))
        values, outs = core.map_values([good, b'Gjunk'])
        self.assertIsNone(values)
        self.assertEqual(outs[0], (True, [4, 9]))
        self.assertIsInstance(outs[1][1], pool_mod._ppool.TransferError)
        dead = core.chunk_packer(die_on_13, False)([13])
        out = core.map_chunks([good, dead])
        self.assertEqual(out[0], (True, [4, 9]))
        self.assertFalse(out[1][0])
        self.assertIn('SIGKILL', str(out[1][1]))
        self.assertIn('while running the task', str(out[1][1]))


class MapTest(unittest.TestCase):
    """How map splits its work (fork: the rules are the same for every start method)."""

    def setUp(self):
        self.pool = Pool(2, context='fork')

    def tearDown(self):
        self.pool.terminate()
        self.assertTrue(self.pool.join(WAIT))

    def test_the_default_size_is_the_cpu_count(self):
        with Pool(context='fork') as p:  # processes=None, as the stdlib's
            self.assertEqual(p._processes, os.cpu_count())
            self.assertEqual(p.map(square, range(10)), [x * x for x in range(10)])

    def test_default_chunksize(self):
        def tasks(items):
            before = self.pool.stats()['completed']
            self.assertEqual(self.pool.map(square, items), [x * x for x in items])
            return self.pool.stats()['completed'] - before
        self.assertEqual(tasks(range(2048)), 2)  # >= 1024 items per worker: one chunk each
        self.assertEqual(tasks(list(range(5000))), 2)
        self.assertEqual(tasks(range(2047)), 8)  # fewer: the stdlib's 4 per worker
        self.assertEqual(tasks(list(range(5))), 5)
        self.assertEqual(self.pool.map(square, []), [])
        self.assertEqual(self.pool.map(square, range(0)), [])

    def test_ranges_of_any_step_and_other_iterables(self):
        for r in (range(10, -10, -3), range(7), range(3, 1000, 7)):
            for cs in (None, 1, 4):
                self.assertEqual(self.pool.map(square, r, cs), [x * x for x in r])
                self.assertEqual(list(self.pool.imap(square, r, cs or 1)), [x * x for x in r])
                self.assertEqual(sorted(self.pool.imap_unordered(square, r, cs or 1)),
                                 sorted(x * x for x in r))
        self.assertEqual(self.pool.map(square, (x for x in range(6))), [0, 1, 4, 9, 16, 25])
        self.assertEqual(self.pool.starmap(add, zip(range(5), range(5))), [0, 2, 4, 6, 8])
        self.assertEqual(self.pool.map_async(square, range(6)).get(WAIT), [0, 1, 4, 9, 16, 25])

    def test_callables_that_are_not_plain_functions(self):
        # pickled whole with each chunk (not kept in the worker by reference)
        self.assertEqual(self.pool.map(functools.partial(add, 10), range(5), 2), [10, 11, 12, 13, 14])
        self.assertEqual(self.pool.map(str.upper, ['a', 'b', 'c']), ['A', 'B', 'C'])
        self.assertEqual(self.pool.starmap(functools.partial(kwargs_echo, k=1), [(1,), (2,)]),
                         [((1,), {'k': 1}), ((2,), {'k': 1})])
        with self.assertRaises(Exception) as cm:  # pickle finds a lambda by name only
            self.pool.map(lambda x: x, range(3))
        self.assertIn('lambda', str(cm.exception))
        with self.assertRaises(TypeError):  # the item that does not pickle fails its chunk
            self.pool.map(square, [1, Unpicklable()])
        self.assertEqual(self.pool.map(square, range(3)), [0, 1, 4])

    def test_numbers_keep_their_types_and_values(self):
        # A chunk's items and values of one exact type (int within int64, or
        # float) go packed, not pickled; anything else is pickled. Either way
        # what comes back is what the function returned.
        big = 2 ** 63
        cases = [
            [0, 1, -1, 2 ** 63 - 1, -2 ** 63],      # ints within int64: packed
            [1, 2, big, 3],                          # one beyond: pickled
            [True, False, True],                     # bools stay bools
            [1, True],                               # and in a list of ints
            [Color.RED, 1],                          # int subclasses stay theirs
            [MyInt(5), 6],
            [0.5, -0.0, float('inf'), -1e308],       # floats: packed, bits and all
            [1.0, 2],                                # a mix: pickled
            [1, 'a', None],
        ]
        for items in cases:
            for cs in (None, 1, 2):
                got = self.pool.map(identity, items, cs)
                self.assertEqual(got, items)
                self.assertEqual([type(v) for v in got], [type(v) for v in items])
        neg_zero = self.pool.map(identity, [1.0, -0.0])[1]
        self.assertEqual(str(neg_zero), '-0.0')
        nan = self.pool.map(identity, [float('nan'), 1.0])[0]
        self.assertNotEqual(nan, nan)
        # values computed from packed items, and the other way round
        self.assertEqual(self.pool.map(square, list(range(5000))), [x * x for x in range(5000)])
        self.assertEqual(self.pool.map(half, range(5000)), [x / 2 for x in range(5000)])
        self.assertEqual(self.pool.map(str, [1, 2]), ['1', '2'])
        self.assertEqual(self.pool.map(square, [big, 3]), [big * big, 9])
        # the helpers themselves
        from weft import _weft
        self.assertIsNone(_weft.py_pack_numbers([]))
        self.assertIsNone(_weft.py_pack_numbers((1, 2)))  # a list only
        packed = _weft.py_pack_numbers([3, -4])
        self.assertEqual(packed[:1], b'Q')
        self.assertEqual(len(packed), 17)
        self.assertEqual(_weft.py_unpack_numbers(memoryview(packed)), [3, -4])
        with self.assertRaises(ValueError):
            _weft.py_unpack_numbers(b'Q1234')

    def test_a_call_that_raises_leaves_the_others_run_once(self):
        # A chunk's calls run in one C loop in the worker; the one that raises
        # gets its own outcome, the ones after it still run, and none runs twice.
        for items in (range(10), list(range(10)), [float(x) for x in range(10)]):
            d = tempfile.mkdtemp(prefix='weft-test-map-')
            self.addCleanup(shutil.rmtree, d, True)
            f = functools.partial(log_call_raise_on_7, d)
            it = self.pool.imap(f, items, chunksize=10)
            self.assertEqual([next(it) for _ in range(7)], [x * x for x in items[:7]])
            with self.assertRaises(KeyError):
                next(it)
            self.assertEqual(list(it), [x * x for x in items[8:]])
            for x in items:
                with open(os.path.join(d, str(x))) as log:
                    self.assertEqual(log.read(), '.', 'item %r' % (x,))
            with self.assertRaises(KeyError):
                self.pool.map(f, items)

    def test_the_worker_loop_helper(self):
        # py_map_each: the worker's loop over a chunk, the values packed as they come
        from weft import _weft
        self.assertEqual(_weft.py_map_each(square, range(3), 0), _weft.py_pack_numbers([0, 1, 4]))
        self.assertEqual(_weft.py_map_each(square, (1.5,), 0), _weft.py_pack_numbers([2.25]))
        self.assertEqual(_weft.py_map_each(square, memoryview(_weft.py_pack_numbers([2, 3])), 0),
                         _weft.py_pack_numbers([4, 9]))
        self.assertEqual(_weft.py_map_each(str, range(2), 0), ['0', '1'])
        self.assertEqual(_weft.py_map_each(square, [], 0), [])
        self.assertEqual(_weft.py_map_each(identity, [1, 2 ** 63, 3], 0), [1, 2 ** 63, 3])  # stops packing
        self.assertEqual(_weft.py_map_each(identity, [1, 2.0], 0), [1, 2.0])
        big = range(2 ** 63 - 3, 2 ** 63 + 1)  # beyond int64: iterated, not computed
        self.assertEqual(_weft.py_map_each(identity, big, 0), list(big))
        wide = range(-2 ** 63, 2 ** 63 - 1, 2 ** 62)  # start + k * step in int64, k * step not
        self.assertEqual(_weft.py_unpack_numbers(_weft.py_map_each(identity, wide, 0)), list(wide))
        done, k, e = _weft.py_map_each(raise_on_7, range(10), 0)
        self.assertEqual((done, k, type(e)), ([x * x for x in range(7)], 7, KeyError))
        self.assertIsNotNone(e.__traceback__)
        done, k, e = _weft.py_map_each(raise_on_7, [7], 0)
        self.assertEqual((done, k), ([], 0))
        with self.assertRaises(TypeError):
            _weft.py_map_each(square, iter([1]), 0)
        with self.assertRaises(ValueError):
            _weft.py_map_each(square, memoryview(b'Q123'), 0)
        # starmap's: fn(*x), x a tuple or any sequence; one that is no sequence fails its own call
        self.assertEqual(_weft.py_map_each(add, [(1, 2), [3, 4]], 1), _weft.py_pack_numbers([3, 7]))
        self.assertEqual(_weft.py_map_each(add, [(1, 2), ('a', 'b')], 1), [3, 'ab'])
        done, k, e = _weft.py_map_each(add, [(1, 2), 5, (3, 4)], 1)
        self.assertEqual((done, k, type(e)), ([3], 1, TypeError))

    def test_a_crash_in_a_range_chunk_fails_only_its_item(self):
        out = next_or_died(self.pool.imap(die_on_13, range(10, 20), chunksize=4), 10)
        self.assertIsInstance(out[3], WorkerDiedError)
        self.assertEqual([v for i, v in enumerate(out) if i != 3], [x * x for x in range(10, 20) if x != 13])


class PoolSpawnTest(PoolTest):
    method = 'spawn'


class PoolForkserverTest(PoolTest):
    method = 'forkserver'


class ForkserverTest(unittest.TestCase):
    """Forkserver pools' tasks run in children of weft's Python forkserver."""

    def test_tasks_run_in_children_of_the_server_which_imported_main(self):
        from weft.multiprocessing import forkserver
        with Pool(2, context='forkserver') as p:
            server = forkserver.get_server_pid()
            self.assertIsNotNone(server)
            preloaded = who_imported.__module__ == '__main__'  # (not under python -m unittest)
            for imported_by, pid, ppid in p.map(who_imported, range(6), 1):
                if preloaded:
                    self.assertEqual(imported_by, server)  # the main module: imported once, by the server
                self.assertEqual(ppid, server)
                self.assertNotIn(pid, (os.getpid(), server))
        with wf.ProcessPoolExecutor(1, mp_context='forkserver') as ex:
            imported_by, pid, ppid = ex.submit(who_imported).result(WAIT)
            self.assertEqual(ppid, forkserver.get_server_pid())
            if preloaded:
                self.assertEqual(imported_by, ppid)

    def test_a_worker_killed_from_outside_fails_only_its_task(self):
        with Pool(1, context='forkserver') as p:
            child = p.apply(getpid)
            r = p.apply_async(sleep_and_return, (30, 'never'))
            time.sleep(0.3)
            os.kill(child, signal.SIGKILL)
            with self.assertRaises(WorkerDiedError) as cm:
                r.get(WAIT)
            self.assertEqual(cm.exception.signal, signal.SIGKILL)
            self.assertEqual(p.apply(square, (6,)), 36)
            self.assertNotEqual(p.apply(getpid), child)

    def test_the_child_ends_with_its_worker(self):
        with Pool(1, context='forkserver', task_timeout=0.5) as p:
            child = p.apply(getpid)
            with self.assertRaises(TimeoutError):  # the pool kills the worker, the server its child
                p.apply(sleep_and_return, (30, 'late'))
            self.assertTrue(wait_until(lambda: not alive(child)))
            child = p.apply(getpid)
            os.kill(p.worker_pids()[0], signal.SIGKILL)
            self.assertTrue(wait_until(lambda: not alive(child)))
            self.assertEqual(p.apply(square, (7,)), 49)

    def test_the_pool_goes_on_after_the_server_is_killed(self):
        from weft.multiprocessing import forkserver
        preloaded = who_imported.__module__ == '__main__'
        with Pool(2, context='forkserver') as p:
            self.assertEqual(p.map(square, range(8), 1), [x * x for x in range(8)])
            server = forkserver.get_server_pid()
            r = p.apply_async(sleep_and_return, (30, 'never'))
            time.sleep(0.3)
            os.kill(server, signal.SIGKILL)  # its children die with it
            with self.assertRaises(WorkerDiedError):  # the running task fails, never hangs
                r.get(WAIT)
            # the workers run the next tasks themselves
            self.assertEqual(p.map(square, range(8), 1), [x * x for x in range(8)])
            imported_by, pid, _ = p.apply(who_imported)
            if preloaded:
                self.assertEqual(imported_by, pid)  # it imported the main module itself, as a spawn worker
        with Pool(1, context='forkserver') as p:  # a new pool starts a new server
            self.assertEqual(p.apply(square, (5,)), 25)
            self.assertNotIn(forkserver.get_server_pid(), (None, server))


class ContextTest(unittest.TestCase):
    def test_module_pool_and_context_pool(self):
        with mp.Pool(1) as p:
            self.assertEqual(p.apply(square, (3,)), 9)
        for method in ('fork', 'spawn', 'forkserver'):
            with mp.get_context(method).Pool(1) as p:
                self.assertEqual(p.map(square, range(4)), [0, 1, 4, 9])
        import multiprocessing as std_mp
        with Pool(1, context=std_mp.get_context('fork')) as p:
            self.assertEqual(p.apply(square, (2,)), 4)


class ExecutorTest(unittest.TestCase):
    method = 'fork'

    def setUp(self):
        self.ex = wf.ProcessPoolExecutor(2, mp_context=self.method)

    def tearDown(self):
        self.ex.shutdown(wait=True)

    def test_submit_map_and_exceptions(self):
        self.assertEqual(self.ex.submit(add, 2, b=3).result(WAIT), 5)
        self.assertEqual(list(self.ex.map(square, range(10))), [x * x for x in range(10)])
        self.assertEqual(list(self.ex.map(add, range(10), range(10), chunksize=3)),
                         [2 * x for x in range(10)])
        f = self.ex.submit(boom, 1)
        self.assertIsInstance(f.exception(WAIT), KeyError)
        with self.assertRaises(KeyError):
            f.result()

    def test_a_dead_worker_fails_its_future_with_a_broken_process_pool_subclass(self):
        f = self.ex.submit(die_on_13, 13)
        with self.assertRaises(std_futures.process.BrokenProcessPool) as cm:
            f.result(WAIT)
        self.assertIsInstance(cm.exception, WorkerDiedError)
        self.assertIsInstance(cm.exception, weft.WeftWorkerDiedError)
        self.assertEqual(self.ex.submit(square, 5).result(WAIT), 25)
        self.assertEqual(list(self.ex.map(square, range(5), chunksize=2)), [0, 1, 4, 9, 16])

    def test_wait_and_as_completed_mix_thread_and_process_futures(self):
        with wf.ThreadPoolExecutor(1) as tex:
            fs = [self.ex.submit(square, 3), tex.submit(square, 4), self.ex.submit(boom, 0)]
            done, not_done = wf.wait(fs, WAIT)
            self.assertEqual(len(done), 3)
            self.assertEqual(sorted(f.result() for f in fs[:2]), [9, 16])
            self.assertEqual(len(list(wf.as_completed(fs, WAIT))), 3)
            slow = self.ex.submit(sleep_and_return, 2, 0)
            bad = self.ex.submit(boom, 1)
            done, _ = wf.wait([slow, bad], WAIT, return_when=wf.FIRST_EXCEPTION)
            self.assertEqual(done, {bad})

    def test_cancel_a_queued_future_and_shutdown_cancel_futures(self):
        blockers = [self.ex.submit(sleep_and_return, 0.5, i) for i in range(2)]
        queued = [self.ex.submit(square, i) for i in range(5)]
        self.assertTrue(queued[0].cancel())
        self.assertTrue(queued[0].cancelled())
        with self.assertRaises(std_futures.CancelledError):
            queued[0].result()
        time.sleep(0.1)
        self.assertFalse(blockers[0].cancel())  # running: left alone
        self.ex.shutdown(wait=True, cancel_futures=True)
        self.assertEqual([b.result() for b in blockers], [0, 1])
        self.assertTrue(all(f.cancelled() for f in queued[1:]))
        with self.assertRaises(RuntimeError):
            self.ex.submit(square, 1)

    def test_done_callbacks_run(self):
        got = threading.Event()
        seen = []
        f = self.ex.submit(square, 8)
        f.add_done_callback(lambda fut: (seen.append(fut.result()), got.set()))
        self.assertTrue(got.wait(WAIT))
        self.assertEqual(seen, [64])

    def test_a_failing_initializer_breaks_the_pool(self):
        ex = wf.ProcessPoolExecutor(1, mp_context=self.method, initializer=init_fail)
        try:
            with self.assertRaises(std_futures.BrokenExecutor):
                ex.submit(square, 1).result(WAIT)
            deadline = time.monotonic() + WAIT
            while not ex._broken and time.monotonic() < deadline:
                time.sleep(0.01)
            self.assertTrue(ex._broken)
            with self.assertRaises(std_futures.BrokenExecutor):
                ex.submit(square, 1)
        finally:
            ex.shutdown(wait=True)

    def test_bad_arguments(self):
        self.assertRaises(ValueError, wf.ProcessPoolExecutor, 0)
        self.assertRaises(ValueError, wf.ProcessPoolExecutor, 1, max_tasks_per_child=0)
        self.assertRaises(TypeError, wf.ProcessPoolExecutor, 1, max_tasks_per_child='x')
        self.assertRaises(TypeError, wf.ProcessPoolExecutor, 1, initializer=3)
        with self.assertRaises(ValueError):
            self.ex.map(square, [1], chunksize=0)


class CtrlCTest(InterruptTestCase):
    """Ctrl-C (SIGINT) in the main thread stops a map that waits, as the stdlib's does."""

    def test_a_sync_map_is_interrupted_and_the_pool_serves_on(self):
        with Pool(2, context='fork') as pool:
            self.assertEqual(pool.map(square, range(4)), [0, 1, 4, 9])
            t0 = time.monotonic()
            # 200 calls of 0.1 s on 2 workers: 10 s when nothing stops them
            self._interrupted(lambda: pool.starmap(sleep_and_return, [(0.1, i) for i in range(200)], chunksize=1))
            self.assertLess(time.monotonic() - t0, 3.0)
            # its workers were killed and replaced, not counted as crashes
            self.assertEqual(pool.map(square, range(10)), [x * x for x in range(10)])
            self.assertEqual(pool.stats()['crashed'], 0)
            self.assertEqual(pool.stats()['workers'], 2)

    def test_a_sync_map_in_another_thread_is_not_stopped_by_ctrl_c(self):
        with Pool(2, context='fork') as pool:
            out = []
            t = threading.Thread(target=lambda: out.append(pool.map(slow_square, range(4))))
            t.start()
            self._interrupted(lambda: time.sleep(5))  # the main thread gets the KeyboardInterrupt
            t.join(WAIT)
            self.assertEqual(out, [[0, 1, 4, 9]])


class ExecutorSpawnTest(ExecutorTest):
    method = 'spawn'


class ExecutorForkserverTest(ExecutorTest):
    method = 'forkserver'


if __name__ == '__main__':
    check_fresh_build()
    unittest.main(verbosity=2 if '-v' in sys.argv else 1, argv=[sys.argv[0]])
