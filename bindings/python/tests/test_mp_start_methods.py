"""weft.multiprocessing start methods (fork, spawn, forkserver), contexts,
named objects pickled to spawn/forkserver children, daemon children dying with
a SIGKILLed parent, and Ctrl-C interrupting blocking calls in the main thread.
Every child is reaped; every wait is finite.
"""

import os
import signal
import subprocess
import tempfile
import sys
import textwrap
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import weft.multiprocessing as mp  # noqa: E402
from weft.multiprocessing import context, forkserver  # noqa: E402
from _runner import InterruptTestCase, check_fresh_build  # noqa: E402

WAIT = 20.0  # seconds: the bound on every wait that should succeed (spawn starts an interpreter)
METHODS = ('fork', 'spawn', 'forkserver')


# Targets live in __main__: spawn children find them by re-importing this file
# as __mp_main__ (it has the __name__ guard), forkserver's server preloads it.
def _report(q, x):
    q.put((os.getpid(), mp.parent_process().pid if mp.parent_process() else None, x * 2))


def _exit_with(code):
    sys.exit(code)


def _raise():
    raise ValueError('expected by the test')


def _sleep(seconds):
    time.sleep(seconds)


def _increment(counter, lock, n):
    for _ in range(n):
        with lock:
            counter.value += 1


def _use_named(lock, ev, sem, q, value, arr, sq):
    with lock:
        value.value += 5
    arr[1] = 42
    sem.acquire(timeout=WAIT)
    sq.put('simple')
    q.put('queue')
    ev.set()


def _barrier_wait(b, q):
    q.put(b.wait(WAIT))


def _cond_child(cond, value):
    with cond:
        value.value = 1
        cond.notify_all()
        ok = cond.wait_for(lambda: value.value == 2, WAIT)
        value.value = 3 if ok else -1
        cond.notify_all()


def _conn_echo(conn):
    conn.send(('hello from', os.getpid()))
    conn.send(conn.recv() * 2)
    conn.close()


def _conn_from_queue(q):
    conn = q.get(timeout=WAIT)
    _conn_echo(conn)


def _notifier(cond, posted, seen, stop):
    import random
    rnd = random.Random(7)
    while not stop.is_set():
        with cond:
            if posted.value == seen.value:
                posted.value += 1
                cond.notify()
        time.sleep(rnd.random() * 0.0006)


class MyProcess(mp.Process):
    """A subclass with run() overridden, defined in __main__."""

    def __init__(self, q):
        super().__init__()
        self.q = q

    def run(self):
        self.q.put(('subclass', self.name))


def _run(ctx, target, *args, daemon=None):
    p = ctx.Process(target=target, args=args, daemon=daemon)
    p.start()
    return p


class StartMethodTests(unittest.TestCase):
    def test_every_method_runs_a_main_target_and_reports_exit_codes(self):
        for m in METHODS:
            with self.subTest(method=m):
                ctx = mp.get_context(m)
                q = ctx.Queue()
                p = _run(ctx, _report, q, 21)
                pid, ppid, v = q.get(timeout=WAIT)
                p.join(WAIT)
                self.assertEqual(p.exitcode, 0)
                self.assertEqual(pid, p.pid)
                self.assertEqual(ppid, os.getpid())
                self.assertEqual(v, 42)
                for target, args, want in ((_exit_with, (7,), 7), (_exit_with, (None,), 0),
                                           (_raise, (), 1)):
                    p = ctx.Process(target=target, args=args)
                    p.start()
                    p.join(WAIT)
                    self.assertEqual(p.exitcode, want, (m, target.__name__))
                    p.close()
                    with self.assertRaises(ValueError):
                        p.is_alive()

    def test_terminate_kill_is_alive_and_join_timeout(self):
        for m in METHODS:
            with self.subTest(method=m):
                ctx = mp.get_context(m)
                p = _run(ctx, _sleep, 30)
                self.assertTrue(p.is_alive())
                self.assertIsNone(p.exitcode)
                t = time.monotonic()
                p.join(0.2)
                self.assertGreaterEqual(time.monotonic() - t, 0.12)
                self.assertIn(p, mp.active_children())
                p.terminate()
                p.join(WAIT)
                self.assertEqual(p.exitcode, -signal.SIGTERM)
                self.assertFalse(p.is_alive())
                self.assertNotIn(p, mp.active_children())
                p = _run(ctx, _sleep, 30)
                p.kill()
                p.join(WAIT)
                self.assertEqual(p.exitcode, -signal.SIGKILL)

    def test_a_subclass_defined_in_main_runs_under_spawn_and_forkserver(self):
        for m in ('spawn', 'forkserver'):
            with self.subTest(method=m):
                ctx = mp.get_context(m)
                q = ctx.Queue()
                p = MyProcess(q)
                p._start_method = m
                p.start()
                self.assertEqual(q.get(timeout=WAIT), ('subclass', p.name))
                p.join(WAIT)
                self.assertEqual(p.exitcode, 0)

    def test_named_objects_reach_spawn_and_forkserver_children(self):
        for m in ('spawn', 'forkserver'):
            with self.subTest(method=m):
                ctx = mp.get_context(m)
                lock, ev, sem = ctx.Lock(), ctx.Event(), ctx.Semaphore(1)
                q, sq = ctx.Queue(), ctx.SimpleQueue()
                value, arr = ctx.Value('i', 1), ctx.Array('i', [0, 0, 0])
                p = _run(ctx, _use_named, lock, ev, sem, q, value, arr, sq)
                self.assertTrue(ev.wait(WAIT))
                self.assertEqual(q.get(timeout=WAIT), 'queue')
                self.assertEqual(sq.get(), 'simple')
                p.join(WAIT)
                self.assertEqual(p.exitcode, 0)
                self.assertEqual(value.value, 6)
                self.assertEqual(list(arr), [0, 42, 0])
                self.assertFalse(sem.acquire(False))

    def test_a_spawn_lock_counts_exactly_across_two_children(self):
        ctx = mp.get_context('spawn')
        counter, lock = ctx.Value('i', 0), ctx.Lock()
        ps = [_run(ctx, _increment, counter, lock, 500) for _ in range(2)]
        for p in ps:
            p.join(WAIT)
            self.assertEqual(p.exitcode, 0)
        self.assertEqual(counter.value, 1000)

    def test_an_anonymous_object_refuses_to_go_to_a_spawn_child(self):
        lock = mp.Lock()  # fork-only: no name
        p = mp.get_context('spawn').Process(target=_increment, args=(mp.Value('i'), lock, 1))
        with self.assertRaisesRegex(RuntimeError, 'name'):
            p.start()
        self.assertIsNone(p.pid)
        import pickle
        with self.assertRaisesRegex(RuntimeError, 'inheritance'):
            pickle.dumps(lock)

    def test_a_context_condition_reaches_spawn_and_forkserver_children(self):
        for m in ('spawn', 'forkserver'):
            with self.subTest(method=m):
                ctx = mp.get_context(m)
                cond, value = ctx.Condition(), ctx.Value('i', 0)
                self.assertTrue(cond.name)
                p = _run(ctx, _cond_child, cond, value)
                with cond:
                    self.assertTrue(cond.wait_for(lambda: value.value == 1, WAIT))
                    value.value = 2
                    cond.notify_all()
                    self.assertTrue(cond.wait_for(lambda: value.value != 2, WAIT))
                    self.assertEqual(value.value, 3)
                p.join(WAIT)
                self.assertEqual(p.exitcode, 0)
                cond.close()

    def test_a_named_condition_takes_no_lock_and_releases_only_when_held(self):
        with self.assertRaisesRegex(ValueError, 'lock of its own'):
            mp.Condition(mp.Lock(), name=context._auto_name('cond'))
        cond = mp.Condition(name=context._auto_name('cond'))
        with self.assertRaises(ValueError):
            cond.release()
        self.assertTrue(cond.acquire(timeout=WAIT))
        self.assertFalse(cond.wait(0.01))
        cond.release()
        import pickle
        twin = pickle.loads(pickle.dumps(cond))  # opened by name, as a spawn child does
        with twin:  # the same lock: another thread cannot take it through cond
            out = []
            t = threading.Thread(target=lambda: out.append(cond.acquire(False)))
            t.start()
            t.join(WAIT)
            self.assertEqual(out, [False])
            twin.notify()
        twin.close()
        cond.close()
        with self.assertRaises(Exception):
            cond.acquire(False)

    def test_a_condition_over_a_given_lock_says_why_it_cannot_go_to_spawn(self):
        ctx = mp.get_context('spawn')
        cond = ctx.Condition(ctx.Lock())
        self.assertIsNone(cond.name)
        p = ctx.Process(target=_cond_child, args=(cond, ctx.Value('i')))
        with self.assertRaisesRegex(RuntimeError, 'lock you give'):
            p.start()
        self.assertIsNone(p.pid)

    def test_connections_go_to_children_as_arguments_and_in_messages(self):
        for m in METHODS:
            with self.subTest(method=m, via='argument'):
                ctx = mp.get_context(m)
                here, there = ctx.Pipe()
                p = _run(ctx, _conn_echo, there)
                there.close()
                self.assertTrue(here.poll(WAIT))
                self.assertEqual(here.recv()[0], 'hello from')
                here.send(21)
                self.assertEqual(here.recv(), 42)
                p.join(WAIT)
                self.assertEqual(p.exitcode, 0)
                with self.assertRaises(EOFError):
                    here.recv()
                here.close()
            with self.subTest(method=m, via='queue'):
                q = ctx.Queue()
                p = _run(ctx, _conn_from_queue, q)
                here, there = ctx.Pipe()
                q.put(there)
                there.close()
                self.assertTrue(here.poll(WAIT))
                self.assertEqual(here.recv(), ('hello from', p.pid))
                here.send('ab')
                self.assertEqual(here.recv(), 'abab')
                p.join(WAIT)
                self.assertEqual(p.exitcode, 0)
                here.close()

    def test_a_connection_sent_over_a_pipe_keeps_its_direction_and_closed_ones_refuse(self):
        carrier_a, carrier_b = mp.Pipe()
        r, w = mp.Pipe(duplex=False)
        carrier_a.send(w)
        w2 = carrier_b.recv()
        self.assertFalse(w2.readable)
        self.assertTrue(w2.writable)
        w.close()
        w2.send_bytes(b'through the copy')
        self.assertEqual(r.recv_bytes(), b'through the copy')
        self.assertNotEqual(w2.fileno(), r.fileno())
        with self.assertRaises(OSError):
            w2.recv()
        w2.close()
        with self.assertRaises(EOFError):
            r.recv()
        import pickle
        with self.assertRaisesRegex(OSError, 'closed'):
            pickle.dumps(w2)
        for c in (r, carrier_a, carrier_b):
            c.close()

    def test_contexts_and_default_start_method(self):
        self.assertEqual(mp.get_all_start_methods(), ['fork', 'spawn', 'forkserver'])
        self.assertEqual(mp.get_context('spawn').get_start_method(), 'spawn')
        self.assertIs(mp.get_context('spawn').Process, mp.SpawnProcess)
        self.assertIs(mp.get_context('forkserver').Process, mp.ForkServerProcess)
        with self.assertRaises(ValueError):
            mp.get_context('threads')
        saved = context.get_start_method(allow_none=True)
        try:
            mp.set_start_method(None, force=True)
            self.assertIsNone(mp.get_start_method(allow_none=True))
            mp.set_start_method('spawn')
            with self.assertRaises(RuntimeError):
                mp.set_start_method('fork')
            with self.assertRaises(ValueError):
                mp.set_start_method('nope', force=True)
            self.assertEqual(mp.get_start_method(), 'spawn')
            q = mp.get_context().Queue()
            self.assertTrue(q.name)  # a spawn context names its objects
            p = mp.Process(target=_report, args=(q, 1))
            p.start()
            self.assertEqual(q.get(timeout=WAIT)[2], 2)
            p.join(WAIT)
            self.assertEqual(p.exitcode, 0)
        finally:
            mp.set_start_method(saved, force=True)

    def test_a_barrier_releases_parties_of_several_processes_together(self):
        for m in METHODS:
            with self.subTest(method=m):
                ctx = mp.get_context(m)
                b, q = ctx.Barrier(3), ctx.Queue()
                ps = [_run(ctx, _barrier_wait, b, q) for _ in range(2)]
                got = [b.wait(WAIT)] + [q.get(timeout=WAIT) for _ in ps]
                for p in ps:
                    p.join(WAIT)
                    self.assertEqual(p.exitcode, 0)
                self.assertEqual(sorted(got), [0, 1, 2])
        with self.assertRaises(mp.BrokenBarrierError):
            mp.Barrier(2).wait(0.05)
        with self.assertRaises(ValueError):
            mp.Barrier(2, action=print, name='wpy-barrier-with-action')

    def test_forkserver_is_started_once_and_reused(self):
        ctx = mp.get_context('forkserver')
        p = _run(ctx, _exit_with, 3)
        p.join(WAIT)
        pid = forkserver.get_server_pid()
        self.assertIsNotNone(pid)
        p = _run(ctx, _exit_with, 4)
        p.join(WAIT)
        self.assertEqual(p.exitcode, 4)
        self.assertEqual(forkserver.get_server_pid(), pid)

    def test_sentinel_becomes_readable_when_the_child_ends(self):
        from weft.multiprocessing.connection import wait
        for m in METHODS:
            with self.subTest(method=m):
                p = _run(mp.get_context(m), _sleep, 0.3)
                self.assertEqual(wait([p.sentinel], 0), [])
                self.assertEqual(wait([p.sentinel], WAIT), [p.sentinel])
                p.join(WAIT)
                self.assertEqual(p.exitcode, 0)


_DAEMON_PARENT = textwrap.dedent('''
    import os, sys, time
    import weft.multiprocessing as mp

    def sleeper():
        time.sleep(60)

    if __name__ == '__main__':
        ctx = mp.get_context(sys.argv[1])
        d = ctx.Process(target=sleeper, daemon=True)
        d.start()
        n = ctx.Process(target=sleeper, daemon=False)
        n.start()
        print(d.pid, n.pid, flush=True)
        time.sleep(60)
''')


def _alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split(')')[-1].split()[0] != 'Z'
    except FileNotFoundError:
        return False


class DaemonTests(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def test_daemon_children_die_with_a_sigkilled_parent_and_others_live_on(self):
        for m in METHODS:
            with self.subTest(method=m):
                # A script file, not `-c`: spawn and forkserver children import the
                # parent's __main__ from its path to find `sleeper` (as the stdlib's do).
                script = os.path.join(self.tmp.name, 'daemon_parent.py')
                with open(script, 'w') as f:
                    f.write(_DAEMON_PARENT)
                parent = subprocess.Popen([sys.executable, script, m],
                                          stdout=subprocess.PIPE, text=True)
                try:
                    daemon_pid, other_pid = map(int, parent.stdout.readline().split())
                finally:
                    parent.kill()
                    parent.wait(WAIT)
                    parent.stdout.close()
                try:
                    end = time.monotonic() + WAIT
                    while _alive(daemon_pid) and time.monotonic() < end:
                        time.sleep(0.02)
                    self.assertFalse(_alive(daemon_pid), 'the daemon child outlived its parent')
                    self.assertTrue(_alive(other_pid), 'a non-daemon child died with its parent')
                finally:
                    for pid in (daemon_pid, other_pid):
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass


class CtrlCTests(InterruptTestCase):
    """SIGINT while the main thread blocks in a weft call raises KeyboardInterrupt
    there promptly (the stdlib's behaviour)."""

    def test_queue_get_lock_acquire_event_wait_and_join_are_interrupted(self):
        q = mp.Queue()
        self._interrupted(lambda: q.get(timeout=30))
        self._interrupted(q.get)
        lock, held, leave = mp.Lock(), threading.Event(), threading.Event()

        def holder():
            with lock:
                held.set()
                leave.wait(WAIT)
        t = threading.Thread(target=holder)
        t.start()
        try:
            self.assertTrue(held.wait(WAIT))
            self._interrupted(lock.acquire)
        finally:
            leave.set()
            t.join(WAIT)
        ev = mp.Event()
        self._interrupted(lambda: ev.wait(30))
        sem = mp.Semaphore(0)
        self._interrupted(lambda: sem.acquire(timeout=30))
        a, b = mp.Pipe()
        self._interrupted(a.recv)
        jq = mp.JoinableQueue()
        jq.put(1)
        self._interrupted(lambda: jq.join(30))
        cond = mp.Condition()
        with cond:
            self._interrupted(lambda: cond.wait(30))
        for m in ('spawn', 'fork'):
            p = _run(mp.get_context(m), _sleep, 30)
            try:
                self._interrupted(lambda: p.join(30))
            finally:
                p.kill()
                p.join(WAIT)

    def test_threading_condition_wait_is_interrupted_and_keeps_the_lock(self):
        import weft.threading as wt
        for lock in (None, wt.Lock(), wt.RLock()):
            with self.subTest(lock=type(lock).__name__):
                cond = wt.Condition(lock)
                with cond:
                    self._interrupted(cond.wait)
                    self._interrupted(lambda: cond.wait(30))
                    self.assertTrue(cond._is_owned())
                    self.assertFalse(cond.wait(0.01))
                    self.assertTrue(cond._is_owned())
                self.assertFalse(cond._is_owned())
                with self.assertRaises(RuntimeError):
                    cond.wait(0.01)

    def test_threading_condition_wait_in_slices_loses_no_notify(self):
        # Tiny slices make a notify often land between a slice's time-out and
        # its re-taking of the lock: each must still end the main thread's wait.
        import random
        import weft.threading as wt
        old = wt._SLICE_NS
        wt._SLICE_NS = 200_000
        try:
            for lock in (wt.Lock(), wt.RLock()):
                cond = wt.Condition(lock)
                state = {'posted': 0, 'seen': 0}
                stop = []

                def notifier():
                    rnd = random.Random(7)
                    while not stop:
                        with cond:
                            if state['posted'] == state['seen']:
                                state['posted'] += 1
                                cond.notify()
                        time.sleep(rnd.random() * 0.0006)

                t = threading.Thread(target=notifier)
                t.start()
                late = 0
                try:
                    for _ in range(400):
                        with cond:
                            while state['posted'] == state['seen']:
                                if not cond.wait(1.0):
                                    late += 1  # a notify was lost (or the notifier stalled a full second)
                            state['seen'] = state['posted']
                finally:
                    stop.append(1)
                    t.join(WAIT)
                self.assertEqual(late, 0, type(lock).__name__)
        finally:
            wt._SLICE_NS = old

    def test_multiprocessing_condition_wait_in_slices_loses_no_notify(self):
        # As the threading test above, for a process-scope condition notified
        # by a thread here and by a forked child.
        old = mp._SLICE_NS
        mp._SLICE_NS = 200_000
        try:
            for who in ('thread', 'process'):
                cond = mp.Condition(mp.Lock())
                posted, seen, stop = mp.Value('i', 0), mp.Value('i', 0), mp.Event()
                if who == 'thread':
                    t = threading.Thread(target=_notifier, args=(cond, posted, seen, stop))
                else:
                    t = mp.get_context('fork').Process(target=_notifier, args=(cond, posted, seen, stop))
                t.start()
                late = 0
                try:
                    for _ in range(300):
                        with cond:
                            while posted.value == seen.value:
                                if not cond.wait(1.0):
                                    late += 1
                            seen.value = posted.value
                finally:
                    stop.set()
                    t.join(WAIT)
                self.assertEqual(late, 0, who)
                with cond:
                    self._interrupted(cond.wait)
                cond.close()
        finally:
            mp._SLICE_NS = old

    def test_a_wait_in_another_thread_still_times_out_normally(self):
        q = mp.Queue()
        out = []
        t = threading.Thread(target=lambda: out.append(_get_or_empty(q, 0.2)))
        t.start()
        t.join(WAIT)
        self.assertEqual(out, ['empty'])


def _get_or_empty(q, timeout):
    import queue
    try:
        return q.get(timeout=timeout)
    except queue.Empty:
        return 'empty'


if __name__ == '__main__':
    check_fresh_build()
    unittest.main(verbosity=2 if '-v' in sys.argv else 1, argv=[sys.argv[0]])
