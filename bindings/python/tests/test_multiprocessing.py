"""weft.multiprocessing: processes started by fork, and the process-shared
objects they use (locks, queues, pipes, events, shared values), including a
lock whose holder process died. Every child is reaped; every wait is finite.
"""

import os
import queue
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import weft  # noqa: E402
import weft.multiprocessing as mp  # noqa: E402
from _runner import apply_skips, check_fresh_build  # noqa: E402
from test import lock_tests  # noqa: E402

WAIT = 10.0  # seconds: the bound on every wait that should succeed


def _raise_value_error():
    raise ValueError('expected by the test')


def _exit_with(code):
    sys.exit(code)


# Read, yield the CPU, write: without the lock the two children lose about
# half the updates (measured: ~1000 of 2000), so the exact total tests the lock.
def _increment(counter, lock, n, go):
    go.wait(WAIT)
    for _ in range(n):
        with lock:
            x = counter.value
            os.sched_yield()
            counter.value = x + 1


def _increment_with_value_lock(counter, n, go):
    go.wait(WAIT)
    for _ in range(n):
        with counter.get_lock():
            x = counter.value
            os.sched_yield()
            counter.value = x + 1


def _echo_twice(conn):
    obj = conn.recv()
    conn.send(obj)
    conn.send_bytes(b'raw:' + conn.recv_bytes())
    conn.close()


def _put_range(q, n):
    for i in range(n):
        q.put(('item', i))


def _take_and_report(q, out):
    out.put(q.get(timeout=WAIT))


def _set_after(event, delay):
    time.sleep(delay)
    event.set()


def _die_holding(lock):
    lock.acquire()
    os._exit(0)


def _report_identity(q):
    parent = mp.parent_process()
    q.put((mp.current_process().name, mp.current_process().pid, parent.name, parent.pid))


def _process_tasks(jq, results):
    while True:
        item = jq.get(timeout=WAIT)
        if item is None:
            jq.task_done()
            return
        results.put(item * item)
        jq.task_done()


def _notify_when_told(cond, flag):
    with cond:
        flag.value = 1
        cond.notify_all()


class ProcessTests(unittest.TestCase):
    def tearDown(self):
        for p in mp.active_children():
            p.kill()
            p.join(WAIT)
        self.assertEqual(mp.active_children(), [])

    def start(self, *args, **kwargs):
        p = mp.Process(*args, **kwargs)
        p.start()
        return p

    def test_a_target_that_returns_exits_with_zero(self):
        p = self.start(target=int)
        p.join(WAIT)
        self.assertEqual(p.exitcode, 0)
        self.assertFalse(p.is_alive())

    def test_a_target_that_raises_exits_with_one(self):
        p = self.start(target=_raise_value_error)
        p.join(WAIT)
        self.assertEqual(p.exitcode, 1)

    def test_sys_exit_sets_the_exit_code(self):
        p = self.start(target=_exit_with, args=(7,))
        p.join(WAIT)
        self.assertEqual(p.exitcode, 7)
        p = self.start(target=_exit_with, args=(None,))
        p.join(WAIT)
        self.assertEqual(p.exitcode, 0)

    def test_a_subclass_runs_its_own_run(self):
        class Child(mp.Process):
            def run(self):
                os._exit(5)
        p = Child()
        p.start()
        p.join(WAIT)
        self.assertEqual(p.exitcode, 5)

    def test_join_with_a_timeout_returns_while_the_child_still_runs(self):
        p = self.start(target=time.sleep, args=(30,))
        t0 = time.monotonic()
        p.join(0.2)
        elapsed = time.monotonic() - t0
        self.assertTrue(0.12 <= elapsed < 2.0, elapsed)
        self.assertTrue(p.is_alive())
        self.assertIsNone(p.exitcode)
        self.assertIn(p, mp.active_children())
        p.terminate()
        p.join(WAIT)
        self.assertEqual(p.exitcode, -15)

    def test_kill_gives_a_negative_signal_exit_code(self):
        p = self.start(target=time.sleep, args=(30,))
        p.kill()
        p.join(WAIT)
        self.assertEqual(p.exitcode, -9)

    def test_pid_name_and_daemon_are_reported(self):
        p = mp.Process(target=int, name='worker', daemon=True)
        self.assertIsNone(p.pid)
        self.assertIsNone(p.exitcode)
        self.assertTrue(p.daemon)
        self.assertEqual(p.name, 'worker')
        p.start()
        self.assertGreater(p.pid, 0)
        self.assertNotEqual(p.pid, os.getpid())
        with self.assertRaises(AssertionError):
            p.daemon = False
        with self.assertRaises(AssertionError):
            p.start()
        p.join(WAIT)
        self.assertEqual(p.exitcode, 0)
        p.close()
        with self.assertRaises(ValueError):
            p.is_alive()

    def test_the_child_knows_itself_and_its_parent(self):
        q = mp.Queue()
        p = self.start(target=_report_identity, args=(q,), name='kid')
        name, pid, parent_name, parent_pid = q.get(timeout=WAIT)
        p.join(WAIT)
        self.assertEqual((name, pid), ('kid', p.pid))
        self.assertEqual((parent_name, parent_pid), ('MainProcess', os.getpid()))
        self.assertIsNone(mp.parent_process())
        self.assertEqual(mp.current_process().name, 'MainProcess')

    def test_cpu_count_is_positive(self):
        self.assertGreaterEqual(mp.cpu_count(), 1)


class LockTests(unittest.TestCase):
    def test_two_processes_count_to_2000_under_the_lock(self):
        counter = mp.Value('i', 0)
        lock = mp.Lock()
        go = mp.Event()
        ps = [mp.Process(target=_increment, args=(counter, lock, 1000, go)) for _ in range(2)]
        for p in ps:
            p.start()
        go.set()
        for p in ps:
            p.join(WAIT)
            self.assertEqual(p.exitcode, 0)
        self.assertEqual(counter.value, 2000)

    def test_the_value_lock_protects_the_value_across_processes(self):
        counter = mp.Value('q', 0)
        go = mp.Event()
        ps = [mp.Process(target=_increment_with_value_lock, args=(counter, 1000, go)) for _ in range(2)]
        for p in ps:
            p.start()
        go.set()
        for p in ps:
            p.join(WAIT)
        self.assertEqual(counter.value, 2000)

    def test_a_lock_held_by_a_dead_process_raises_owner_dead_and_recovers(self):
        lock = mp.Lock()
        p = mp.Process(target=_die_holding, args=(lock,))
        p.start()
        p.join(WAIT)
        self.assertEqual(p.exitcode, 0)
        with self.assertRaises(weft.OwnerDeadError) as cm:
            lock.acquire(timeout=WAIT)
        self.assertIsInstance(cm.exception, weft.WeftError)
        self.assertEqual(cm.exception.name, 'WEFT_EOWNERDEAD')
        self.assertTrue(lock.locked())  # held by us now
        lock.mark_consistent()
        lock.release()
        self.assertTrue(lock.acquire(timeout=WAIT))
        lock.release()

    def test_acquire_times_out_and_nonblocking_fails_while_held(self):
        lock = mp.Lock()
        self.assertTrue(lock.acquire())
        self.assertFalse(lock.acquire(False))
        t0 = time.monotonic()
        self.assertFalse(lock.acquire(timeout=0.1))
        self.assertGreaterEqual(time.monotonic() - t0, 0.06)
        lock.release()
        with self.assertRaises(ValueError):
            lock.release()

    def test_rlock_is_reentrant(self):
        r = mp.RLock()
        self.assertTrue(r.acquire())
        self.assertTrue(r.acquire())
        r.release()
        r.release()
        with self.assertRaises(AssertionError):
            r.release()

    def test_bounded_semaphore_refuses_release_above_its_start(self):
        s = mp.BoundedSemaphore(2)
        self.assertTrue(s.acquire())
        self.assertEqual(s.get_value(), 1)
        s.release()
        with self.assertRaises(ValueError):
            s.release()
        plain = mp.Semaphore(0)
        self.assertFalse(plain.acquire(timeout=0.05))
        plain.release()
        self.assertTrue(plain.acquire(False))

    def test_a_closed_lock_raises_instead_of_crashing(self):
        lock = mp.Lock()
        lock.close()
        with self.assertRaises(weft.WeftMisuseError):
            lock.acquire()


class EventConditionTests(unittest.TestCase):
    def test_an_event_set_by_a_child_wakes_the_parent(self):
        e = mp.Event()
        self.assertFalse(e.wait(0.05))
        p = mp.Process(target=_set_after, args=(e, 0.1))
        p.start()
        self.assertTrue(e.wait(WAIT))
        self.assertTrue(e.is_set())
        p.join(WAIT)
        e.clear()
        self.assertFalse(e.is_set())

    def test_a_condition_notify_from_a_child_wakes_the_parent(self):
        cond = mp.Condition(mp.Lock())
        flag = mp.Value('i', 0)
        with cond:
            p = mp.Process(target=_notify_when_told, args=(cond, flag))
            p.start()
            self.assertTrue(cond.wait_for(lambda: flag.value == 1, timeout=WAIT))
        p.join(WAIT)
        self.assertEqual(p.exitcode, 0)


class QueueTests(unittest.TestCase):
    def test_objects_put_by_a_child_arrive_in_order(self):
        q = mp.Queue()
        p = mp.Process(target=_put_range, args=(q, 50))
        p.start()
        got = [q.get(timeout=WAIT) for _ in range(50)]
        p.join(WAIT)
        self.assertEqual(got, [('item', i) for i in range(50)])

    def test_get_raises_empty_after_its_timeout(self):
        q = mp.Queue()
        t0 = time.monotonic()
        with self.assertRaises(queue.Empty):
            q.get(timeout=0.1)
        self.assertTrue(0.06 <= time.monotonic() - t0 < 1.0)
        with self.assertRaises(queue.Empty):
            q.get(False)
        with self.assertRaises(queue.Empty):
            q.get_nowait()

    def test_put_raises_full_after_its_timeout(self):
        q = mp.Queue(1)
        q.put('a')
        self.assertTrue(q.full())
        t0 = time.monotonic()
        with self.assertRaises(queue.Full):
            q.put('b', timeout=0.1)
        self.assertTrue(0.06 <= time.monotonic() - t0 < 1.0)
        with self.assertRaises(queue.Full):
            q.put_nowait('b')
        self.assertEqual(q.qsize(), 1)
        self.assertEqual(q.get(), 'a')
        self.assertTrue(q.empty())

    def test_a_child_blocked_in_get_receives_what_the_parent_puts(self):
        q, out = mp.Queue(), mp.Queue()
        p = mp.Process(target=_take_and_report, args=(q, out))
        p.start()
        time.sleep(0.05)
        q.put({'x': [1, 2]})
        self.assertEqual(out.get(timeout=WAIT), {'x': [1, 2]})
        p.join(WAIT)

    def test_a_closed_queue_refuses_use(self):
        q = mp.Queue()
        q.close()
        with self.assertRaises(ValueError):
            q.put(1)

    def test_joinable_queue_join_waits_for_every_task_done(self):
        jq, results = mp.JoinableQueue(), mp.Queue()
        p = mp.Process(target=_process_tasks, args=(jq, results))
        p.start()
        for i in range(10):
            jq.put(i)
        jq.put(None)
        self.assertTrue(jq.join(WAIT))
        p.join(WAIT)
        self.assertEqual(sorted(results.get(timeout=WAIT) for _ in range(10)), [i * i for i in range(10)])
        with self.assertRaises(ValueError):
            jq.task_done()

    def test_simple_queue_round_trips(self):
        sq = mp.SimpleQueue()
        self.assertTrue(sq.empty())
        sq.put([1, 'two'])
        self.assertEqual(sq.get(), [1, 'two'])
        sq.close()


class PipeTests(unittest.TestCase):
    def test_a_duplex_pipe_round_trips_objects_and_bytes(self):
        a, b = mp.Pipe()
        p = mp.Process(target=_echo_twice, args=(b,))
        p.start()
        b.close()
        a.send({'n': 42})
        a.send_bytes(b'hello')
        self.assertTrue(a.poll(WAIT))
        self.assertEqual(a.recv(), {'n': 42})
        self.assertEqual(a.recv_bytes(), b'raw:hello')
        with self.assertRaises(EOFError):
            a.recv()
        p.join(WAIT)
        self.assertEqual(p.exitcode, 0)
        a.close()

    def test_poll_times_out_on_a_silent_pipe(self):
        a, b = mp.Pipe()
        self.assertFalse(a.poll())
        t0 = time.monotonic()
        self.assertFalse(a.poll(0.1))
        self.assertGreaterEqual(time.monotonic() - t0, 0.06)

    def test_a_one_way_pipe_has_a_reader_and_a_writer(self):
        r, w = mp.Pipe(duplex=False)
        w.send_bytes(b'abcdef', 2, 3)
        self.assertEqual(r.recv_bytes(), b'cde')
        with self.assertRaises(OSError):
            r.send(1)
        with self.assertRaises(OSError):
            w.recv()
        w.close()
        with self.assertRaises(EOFError):
            r.recv_bytes()
        r.close()
        with self.assertRaises(OSError):
            r.recv()


class SharedValueTests(unittest.TestCase):
    def test_value_and_array_typecodes_hold_their_values(self):
        self.assertEqual(mp.Value('d', 2.5).value, 2.5)
        self.assertEqual(mp.Value('b', -3).value, -3)
        self.assertEqual(mp.Value('c', b'x').value, b'x')
        self.assertEqual(mp.Value('i').value, 0)
        arr = mp.Array('i', [1, 2, 3])
        self.assertEqual(len(arr), 3)
        self.assertEqual(arr[:], [1, 2, 3])
        arr[1] = 20
        self.assertEqual(arr[1], 20)
        self.assertEqual(mp.Array('d', 4)[:], [0.0] * 4)
        text = mp.Array('c', 8)
        text.value = b'hi'
        self.assertEqual(text.value, b'hi')
        with self.assertRaises(TypeError):
            mp.Value('u')

    def test_a_child_writes_into_a_shared_array(self):
        arr = mp.Array('q', 4)

        def fill():
            for i in range(4):
                arr[i] = i * 10
        p = mp.Process(target=fill)
        p.start()
        p.join(WAIT)
        self.assertEqual(arr[:], [0, 10, 20, 30])


class SharedDictTests(unittest.TestCase):
    def test_a_named_shared_dict_stores_bytes_and_removes_its_name(self):
        name = 'weft-pytest-dict-%d' % os.getpid()
        d = weft.shared_dict(name)
        d['k'] = 'v'
        d.set('b', b'\x00\x01')
        self.assertEqual(d['k'], b'v')
        self.assertEqual(d.get('b'), b'\x00\x01')
        self.assertIsNone(d.get('missing'))
        self.assertIn('k', d)
        del d['k']
        with self.assertRaises(KeyError):
            d['k']
        self.assertTrue(os.path.exists('/dev/shm/' + name))
        d.close()
        self.assertFalse(os.path.exists('/dev/shm/' + name))


# CPython's thread-based lock_tests against the process-scope classes (they
# work on process-shared objects too). They test threading's API, so what is
# threading-only is skipped, each with its reason.
class CPythonLockTests(lock_tests.LockTests):
    locktype = staticmethod(mp.Lock)


class CPythonSemaphoreTests(lock_tests.SemaphoreTests):
    semtype = staticmethod(mp.Semaphore)


class CPythonBoundedSemaphoreTests(lock_tests.BoundedSemaphoreTests):
    semtype = staticmethod(mp.BoundedSemaphore)


class CPythonEventTests(lock_tests.EventTests):
    eventtype = staticmethod(mp.Event)


_THREADING_TIMEOUT = ("threading raises ValueError for a negative timeout; multiprocessing "
                      "takes it as 0 (a poll), as weft.multiprocessing does")
_REPR = "expects threading's repr; weft.multiprocessing's objects keep object's repr"
_OWNED = ("releases the lock from another thread: weft's process-scope lock is robust (it "
          "tracks its owner to detect a dead holder), so only the holder may release it "
          "(WEFT_EPERM), unlike multiprocessing's POSIX semaphore")
SKIP = {
    'CPythonLockTests.test_timeout': _THREADING_TIMEOUT,
    'CPythonSemaphoreTests.test_acquire_timeout': _THREADING_TIMEOUT,
    'CPythonBoundedSemaphoreTests.test_acquire_timeout': _THREADING_TIMEOUT,
    'CPythonLockTests.test_repr': _REPR,
    'CPythonLockTests.test_locked_repr': _REPR,
    'CPythonSemaphoreTests.test_repr': _REPR,
    'CPythonBoundedSemaphoreTests.test_repr': _REPR,
    'CPythonEventTests.test_repr': _REPR,
    'CPythonLockTests.test_at_fork_reinit': 'threading-only private method _at_fork_reinit',
    'CPythonEventTests.test_at_fork_reinit': "reaches into threading.Event's private _cond",
    'CPythonLockTests.test_state_after_timeout': "calls acquire(blocking=...), threading's keyword "
                                                 "(multiprocessing's is block)",
    'CPythonLockTests.test_different_thread': _OWNED,
    'CPythonLockTests.test_reacquire': _OWNED,
}


if __name__ == '__main__':
    check_fresh_build()
    apply_skips([CPythonLockTests, CPythonSemaphoreTests, CPythonBoundedSemaphoreTests,
                 CPythonEventTests], SKIP)
    unittest.main(verbosity=2 if '-v' in sys.argv else 1, argv=[sys.argv[0]])
