"""weft's own Python tests: what CPython's tests do not cover.

Errors carry weft's codes and messages; closed objects raise instead of
crashing; blocking calls release the GIL; callbacks from C threads hold the
GIL and every reference handed to C is dropped exactly once.
"""

import gc
import os
import threading
import sys
import time
import unittest
import weakref

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import weft  # noqa: E402
import weft.futures as wf  # noqa: E402
import weft.queue as wq  # noqa: E402
import weft.threading as wt  # noqa: E402
from weft import _weft  # noqa: E402
from _runner import InterruptTestCase, check_fresh_build  # noqa: E402


class Marker:
    """An object whose reference count the tests watch."""


class ErrorTests(unittest.TestCase):
    def test_a_null_handle_raises_misuse_with_weft_message(self):
        with self.assertRaises(weft.WeftMisuseError) as cm:
            _weft.weft_lock_acquire(None, 0)
        e = cm.exception
        self.assertIsInstance(e, RuntimeError)
        self.assertIsInstance(e, weft.WeftError)
        self.assertEqual(e.code, _weft.WEFT_EMISUSE)
        self.assertEqual(e.name, 'WEFT_EMISUSE')
        self.assertIn('weft_lock_acquire', str(e))

    def test_a_bad_timeout_raises_value_error(self):
        ev = _weft.weft_event_create(None)
        try:
            with self.assertRaises(ValueError) as cm:
                _weft.weft_event_wait(ev, -5)
            self.assertIsInstance(cm.exception, weft.WeftValueError)
            self.assertEqual(cm.exception.code, _weft.WEFT_EINVAL)
        finally:
            _weft.weft_event_destroy(ev)

    def test_a_raw_timeout_raises_timeout_error(self):
        lk = _weft.weft_lock_create(None)
        try:
            _weft.weft_lock_acquire(lk, 0)
            with self.assertRaises(TimeoutError):
                _weft.weft_lock_acquire(lk, 1000)
        finally:
            _weft.weft_lock_release(lk)
            _weft.weft_lock_destroy(lk)

    def test_queue_timeouts_must_not_be_negative(self):
        q = wq.Queue()
        with self.assertRaises(ValueError):
            q.get(timeout=-1)
        with self.assertRaises(ValueError):
            q.put(1, timeout=-1)

    def test_lock_rejects_a_timeout_without_blocking(self):
        with self.assertRaises(ValueError):
            wt.Lock().acquire(False, 1)
        with self.assertRaises(ValueError):
            wt.Lock().acquire(timeout=-2)

    def test_bounded_semaphore_over_release_is_value_error(self):
        s = wt.BoundedSemaphore(2)
        with self.assertRaises(ValueError):
            s.release()
        self.assertEqual(s._value, 2)


class ClosedObjectTests(unittest.TestCase):
    """After destroy the wrapper holds None: every call raises, none crashes."""

    def check_closed(self, obj, *calls):
        obj.__del__()
        for call in calls:
            with self.assertRaises(weft.WeftError):
                call()

    def test_a_destroyed_queue_raises(self):
        q = wq.Queue()
        q.put(Marker())
        self.check_closed(q, lambda: q.put(1), lambda: q.get(timeout=0.01), q.qsize, q.task_done)

    def test_destroyed_synchronisation_objects_raise(self):
        e = wt.Event()
        self.check_closed(e, e.set, e.wait, e.clear)
        s = wt.Semaphore(1)
        self.check_closed(s, s.acquire, s.release)
        b = wt.Barrier(2)
        self.check_closed(b, lambda: b.wait(0.01), b.abort)
        c = wt.Condition(wt.Lock())
        c.acquire()
        self.check_closed(c, c.notify, lambda: c.wait(0.01))
        c.release()

    def test_a_destroyed_future_raises(self):
        f = wf.Future()
        self.check_closed(f, f.done, lambda: f.result(0.01), f.cancel)

    def test_a_destroyed_executor_refuses_work(self):
        ex = wf.ThreadPoolExecutor(1)
        ex.__del__()
        with self.assertRaises(RuntimeError):
            ex.submit(print)
        ex.shutdown()


class GilTests(unittest.TestCase):
    def progress_while(self, blocker_target, release):
        """Run blocker_target on a thread; count main-thread progress for 0.2 s; release."""
        t = wt.Thread(target=blocker_target)
        t.start()
        time.sleep(0.02)
        count = 0
        end = time.monotonic() + 0.2
        while time.monotonic() < end:
            count += 1
        release()
        t.join(5)
        self.assertFalse(t.is_alive())
        return count

    def test_a_blocked_lock_acquire_lets_python_run(self):
        lock = wt.Lock()
        lock.acquire()
        got = []
        count = self.progress_while(lambda: got.append(lock.acquire(timeout=5)), lock.release)
        self.assertEqual(got, [True])
        self.assertGreater(count, 1000)

    def test_a_blocked_queue_get_lets_python_run(self):
        q = wq.Queue()
        got = []
        count = self.progress_while(lambda: got.append(q.get(timeout=5)), lambda: q.put('x'))
        self.assertEqual(got, ['x'])
        self.assertGreater(count, 1000)

    def test_blocked_event_and_future_waits_let_python_run(self):
        ev = wt.Event()
        self.assertGreater(self.progress_while(lambda: ev.wait(5), ev.set), 1000)
        f = wf.Future()
        self.assertGreater(self.progress_while(lambda: f.result(5), lambda: f.set_result(1)), 1000)


class MemoryTrimTests(unittest.TestCase):
    """weft.memory_trim() gives the futures cache back and nothing breaks."""

    def test_trim_after_a_burst_and_work_goes_on(self):
        weft.memory_trim()
        with wf.ThreadPoolExecutor(2) as ex:
            fs = [ex.submit(int, i) for i in range(20000)]
            self.assertEqual(sum(f.result() for f in fs), sum(range(20000)))
        del fs
        gc.collect()
        given = weft.memory_trim()
        if 'libasan' in os.environ.get('LD_PRELOAD', ''):
            self.assertEqual(given, 0)  # under AddressSanitizer nothing is cached
        else:
            self.assertGreater(given, 20000 * 64 // 2)  # most of 20000 futures' cells
        self.assertEqual(weft.memory_trim(), 0)  # nothing left to give
        with wf.ThreadPoolExecutor(2) as ex:
            self.assertEqual(list(ex.map(abs, [-1, -2])), [1, 2])


class ReferenceTests(unittest.TestCase):
    """Every reference weft holds on an object is dropped exactly once."""

    def test_queued_items_are_owned_and_released(self):
        m = Marker()
        base = sys.getrefcount(m)
        q = wq.Queue()
        q.put(m)
        self.assertEqual(sys.getrefcount(m), base + 1)
        self.assertIs(q.get(), m)
        self.assertEqual(sys.getrefcount(m), base)
        for _ in range(3):
            q.put(m)
        del q
        gc.collect()
        self.assertEqual(sys.getrefcount(m), base)

    def test_an_immediate_shutdown_drops_the_queued_items(self):
        m = Marker()
        base = sys.getrefcount(m)
        q = wq.LifoQueue()
        q.put(m)
        q.put(m)
        q.shutdown(immediate=True)
        self.assertEqual(sys.getrefcount(m), base)
        with self.assertRaises(wq.ShutDown):
            q.get(timeout=0.01)

    def test_a_failed_put_keeps_no_reference(self):
        m = Marker()
        base = sys.getrefcount(m)
        q = wq.Queue(1)
        q.put(1)
        with self.assertRaises(wq.Full):
            q.put(m, timeout=0.01)
        self.assertEqual(sys.getrefcount(m), base)

    def test_a_thread_drops_its_target_and_arguments(self):
        m = Marker()
        base = sys.getrefcount(m)
        t = wt.Thread(target=lambda x: None, args=(m,))
        t.start()
        t.join(5)
        del t
        gc.collect()
        self.assertEqual(sys.getrefcount(m), base)

    def test_done_callbacks_run_once_and_are_dropped(self):
        m = Marker()
        calls = []
        f = wf.Future()

        def cb(fut, m=m):
            calls.append(fut)
        base = sys.getrefcount(m)
        f.add_done_callback(cb)
        f.set_result(3)
        self.assertEqual(calls, [f])
        del cb
        gc.collect()
        self.assertEqual(sys.getrefcount(m), base - 1)

    def test_submitted_calls_drop_function_and_arguments_done_or_cancelled(self):
        m = Marker()
        base = sys.getrefcount(m)
        gate = wt.Event()
        started = wt.Event()

        def block():
            started.set()
            return gate.wait(5)
        with wf.ThreadPoolExecutor(1) as ex:
            blocker = ex.submit(block)
            self.assertTrue(started.wait(5))
            pending = [ex.submit(lambda x: x, m) for _ in range(5)]
            self.assertTrue(pending[0].cancel())
            ex.shutdown(wait=False, cancel_futures=True)
            gate.set()
            self.assertTrue(blocker.result(5))
        self.assertTrue(all(p.cancelled() for p in pending))
        del pending
        gc.collect()
        self.assertEqual(sys.getrefcount(m), base)

    def test_a_thread_local_value_goes_when_its_thread_ends(self):
        loc = wt.local()
        refs = []

        def use():
            m = Marker()
            loc.m = m
            refs.append(weakref.ref(m))
        t = wt.Thread(target=use)
        t.start()
        t.join(5)
        # As with _threading_local, the object's __dict__ slot points at the
        # dict of the last thread that used it until another thread does.
        self.assertFalse(hasattr(loc, 'm'))
        gc.collect()
        self.assertIsNone(refs[0]())


class CallbackTests(unittest.TestCase):
    def test_a_done_callback_runs_in_the_worker_that_finished_the_task(self):
        seen = []
        gate = wt.Event()
        with wf.ThreadPoolExecutor(1) as ex:
            f = ex.submit(gate.wait, 5)
            f.add_done_callback(lambda fut: seen.append(wt.get_ident()))
            gate.set()
            f.result(5)
        self.assertEqual(len(seen), 1)
        self.assertNotEqual(seen[0], wt.get_ident())

    def test_a_raising_callback_is_logged_and_the_future_stays_usable(self):
        f = wf.Future()
        with self.assertLogs('concurrent.futures', 'ERROR'):
            f.add_done_callback(lambda fut: 1 / 0)
            f.set_result(1)
        self.assertEqual(f.result(), 1)

    def test_a_barrier_action_error_reaches_the_thread_that_ran_it(self):
        def action():
            raise KeyError('boom')
        b = wt.Barrier(2, action)
        out = []

        def party():
            try:
                b.wait(5)
                out.append('passed')
            except KeyError:
                out.append('KeyError')
            except wt.BrokenBarrierError:
                out.append('broken')
        ts = [wt.Thread(target=party) for _ in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(5)
        self.assertEqual(sorted(out), ['KeyError', 'broken'])
        self.assertTrue(b.broken)

    def test_the_excepthook_sees_a_thread_failure(self):
        seen = []
        old = wt.excepthook
        wt.excepthook = lambda args: seen.append((args.exc_type, args.thread.name))
        try:
            t = wt.Thread(target=lambda: 1 / 0, name='faulty')
            t.start()
            t.join(5)
        finally:
            wt.excepthook = old
        self.assertEqual(seen, [(ZeroDivisionError, 'faulty')])


class ThreadTests(unittest.TestCase):
    def test_ident_name_and_native_id_are_reported(self):
        seen = {}

        def run():
            me = wt.current_thread()
            seen.update(ident=wt.get_ident(), native=wt.get_native_id(), me=me)
        t = wt.Thread(target=run, name='worker')
        t.start()
        t.join(5)
        self.assertIs(seen['me'], t)
        self.assertEqual(seen['ident'], t.ident)
        self.assertEqual(seen['native'], t.native_id)
        self.assertNotEqual(t.ident, wt.get_ident())
        self.assertEqual(t.name, 'worker')
        self.assertIs(wt.main_thread(), wt.current_thread())

    def test_join_with_a_timeout_returns_while_the_thread_runs(self):
        ev = wt.Event()
        t = wt.Thread(target=ev.wait, args=(5,), daemon=True)
        t.start()
        t0 = time.monotonic()
        t.join(0.1)
        dt = time.monotonic() - t0
        self.assertTrue(t.is_alive())
        self.assertTrue(0.06 <= dt < 1.0, dt)
        self.assertIn(t, wt.enumerate())
        ev.set()
        t.join(5)
        self.assertFalse(t.is_alive())
        self.assertNotIn(t, wt.enumerate())

    def test_a_subclass_run_is_used_and_start_twice_raises(self):
        class Worker(wt.Thread):
            def run(self):
                self.result = 42
        w = Worker()
        w.start()
        w.join(5)
        self.assertEqual(w.result, 42)
        with self.assertRaises(RuntimeError):
            w.start()

    def test_a_timer_fires_and_a_cancelled_one_does_not(self):
        fired = []
        t1 = wt.Timer(0.05, fired.append, args=('a',))
        t2 = wt.Timer(0.05, fired.append, args=('b',))
        t1.start()
        t2.start()
        t2.cancel()
        t1.join(5)
        t2.join(5)
        self.assertEqual(fired, ['a'])


class QueueTests(unittest.TestCase):
    def test_shutdown_lets_get_drain_then_raises(self):
        q = wq.Queue()
        q.put(1)
        q.shutdown()
        with self.assertRaises(wq.ShutDown):
            q.put(2)
        self.assertEqual(q.get(), 1)
        with self.assertRaises(wq.ShutDown):
            q.get()

    def test_shutdown_wakes_a_blocked_getter(self):
        q = wq.Queue()
        out = []

        def getter():
            try:
                q.get(timeout=5)
            except wq.ShutDown:
                out.append('shutdown')
        t = wt.Thread(target=getter)
        t.start()
        time.sleep(0.05)
        q.shutdown()
        t.join(5)
        self.assertEqual(out, ['shutdown'])

    def test_priority_queue_orders_like_heapq(self):
        q = wq.PriorityQueue()
        for item in [(3, 'c'), (1, 'b'), (1, 'a'), (2, 'x')]:
            q.put(item)
        self.assertEqual([q.get() for _ in range(4)], [(1, 'a'), (1, 'b'), (2, 'x'), (3, 'c')])

    def test_task_done_too_often_is_value_error(self):
        q = wq.Queue()
        with self.assertRaises(ValueError):
            q.task_done()


class ConditionTests(unittest.TestCase):
    def test_a_foreign_lock_gets_the_stdlib_condition(self):
        import threading
        c = wt.Condition(threading.Lock())
        self.assertIsInstance(c, threading.Condition)
        self.assertIsInstance(wt.Condition(wt.Lock()), wt.Condition)


class CtrlCTests(InterruptTestCase):
    """SIGINT while the main thread blocks in a weft.threading / weft.queue /
    weft.futures wait raises KeyboardInterrupt promptly, as the stdlib's do,
    also for a wait with a long timeout or none."""

    def test_thread_queue_and_future_waits_are_interrupted(self):
        lock = wt.Lock()
        lock.acquire()
        self._interrupted(lambda: lock.acquire(timeout=30))
        self._interrupted(lock.acquire)
        lock.release()
        rlock, held, leave = wt.RLock(), wt.Event(), wt.Event()

        def holder():
            with rlock:
                held.set()
                leave.wait(30)
        t = wt.Thread(target=holder)
        t.start()
        try:
            self.assertTrue(held.wait(30))
            self._interrupted(lambda: rlock.acquire(timeout=30))
            self._interrupted(lambda: t.join(30))
        finally:
            leave.set()
            t.join(30)
        self._interrupted(lambda: wt.Event().wait(30))
        self._interrupted(lambda: wt.Semaphore(0).acquire(timeout=30))
        q = wq.Queue(maxsize=1)
        self._interrupted(lambda: q.get(timeout=30))
        self._interrupted(q.get)
        q.put(1)
        self._interrupted(lambda: q.put(2, timeout=30))
        q.get()
        q.task_done()
        q.put(1)
        self._interrupted(q.join)
        with wf.ThreadPoolExecutor(1) as ex:
            gate = wt.Event()
            f = ex.submit(gate.wait, 30)
            try:
                self._interrupted(lambda: f.result(timeout=30))
                self._interrupted(lambda: wf.wait([f], timeout=30))
            finally:
                gate.set()
            self.assertTrue(f.result(30))

    def test_other_threads_still_time_out_normally(self):
        q = wq.Queue()
        out = []
        t = wt.Thread(target=lambda: out.append(self._get(q)))
        t.start()
        t.join(30)
        self.assertEqual(out, ['empty'])

    @staticmethod
    def _get(q):
        try:
            q.get(timeout=0.2)
        except wq.Empty:
            return 'empty'
        return 'item'


if __name__ == '__main__':
    check_fresh_build()
    unittest.main(verbosity=2 if '-v' in sys.argv else 1)
