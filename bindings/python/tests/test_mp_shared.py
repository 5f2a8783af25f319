"""weft.multiprocessing.shared_memory, managers and connection: SharedMemory
and ShareableList (and their interplay with the stdlib's), Manager() objects
across fork and spawn children, Listener/Client/wait against the stdlib's
multiprocessing.connection with and without an authkey. Every wait is finite.
"""

import os
import queue
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import multiprocessing.connection as std_conn  # noqa: E402
import multiprocessing.resource_tracker as std_tracker  # noqa: E402
import multiprocessing.shared_memory as std_shm  # noqa: E402

import weft.multiprocessing as mp  # noqa: E402
from weft.multiprocessing import connection, managers, shared_memory  # noqa: E402
from _runner import check_fresh_build  # noqa: E402

WAIT = 20.0


def _fill_block(name, n):
    s = shared_memory.SharedMemory(name)
    s.buf[:n] = bytes(range(n))
    s.close()


def _dict_child(d, lst, ns, key):
    d[key] = {'pid': os.getpid()}
    d.setdefault('count', 0)
    with d.lock():
        d['count'] = d['count'] + 1
    lst.append(key)
    ns.seen = key


def _serve_echo(address, authkey, ready):
    with connection.Listener(address, authkey=authkey) as lst:
        ready.put(lst.address)
        with lst.accept(WAIT) as c:
            c.send_bytes(b'echo:' + c.recv_bytes())


def _untrack(std_block):
    """Python 3.11's SharedMemory registers a block it only opened with its
    resource tracker, which would unlink it at exit (CPython issue 82300)."""
    std_tracker.unregister(std_block._name, 'shared_memory')


class SharedMemoryTests(unittest.TestCase):
    def test_create_open_write_read_close_unlink(self):
        a = shared_memory.SharedMemory(create=True, size=100)
        try:
            self.assertEqual(a.size, 100)
            self.assertTrue(a.name)
            a.buf[:5] = b'hello'
            b = shared_memory.SharedMemory(a.name)
            self.assertEqual(bytes(b.buf[:5]), b'hello')
            self.assertEqual(b.size, 100)
            b.close()
            b.close()  # twice is fine
        finally:
            a.close()
            a.unlink()
        with self.assertRaises(FileNotFoundError):
            shared_memory.SharedMemory(a.name)

    def test_bad_arguments_and_existing_names(self):
        with self.assertRaises(ValueError):
            shared_memory.SharedMemory(create=True, size=0)
        with self.assertRaises(ValueError):
            shared_memory.SharedMemory()
        with self.assertRaises(ValueError):
            shared_memory.SharedMemory(create=True, size=-1)
        name = 'wpy_test_%d' % os.getpid()
        a = shared_memory.SharedMemory(name, create=True, size=10)
        try:
            with self.assertRaises(FileExistsError):
                shared_memory.SharedMemory(name, create=True, size=10)
        finally:
            a.close()
            a.unlink()

    def test_close_refuses_while_a_view_is_alive(self):
        a = shared_memory.SharedMemory(create=True, size=16)
        try:
            view = a.buf[2:4]
            with self.assertRaises(BufferError):
                a.close()
            view.release()
            a.close()
            self.assertIsNone(a.buf)
        finally:
            a.unlink()

    def test_the_stdlib_opens_a_weft_block_and_weft_opens_a_stdlib_block(self):
        a = shared_memory.SharedMemory(create=True, size=64)
        try:
            a.buf[:3] = b'abc'
            s = std_shm.SharedMemory(a.name)
            _untrack(s)
            self.assertEqual(bytes(s.buf[:3]), b'abc')
            s.buf[3] = ord('d')
            s.close()
            self.assertEqual(bytes(a.buf[:4]), b'abcd')
        finally:
            a.close()
            a.unlink()
        s = std_shm.SharedMemory(create=True, size=32)
        try:
            s.buf[:2] = b'xy'
            w = shared_memory.SharedMemory(s.name)
            self.assertEqual(bytes(w.buf[:2]), b'xy')
            w.close()
        finally:
            s.close()
            s.unlink()

    def test_a_child_writes_a_block_by_name_under_fork_and_spawn(self):
        for m in ('fork', 'spawn'):
            with self.subTest(method=m):
                a = shared_memory.SharedMemory(create=True, size=32)
                try:
                    p = mp.get_context(m).Process(target=_fill_block, args=(a.name, 10))
                    p.start()
                    p.join(WAIT)
                    self.assertEqual(p.exitcode, 0)
                    self.assertEqual(bytes(a.buf[:10]), bytes(range(10)))
                finally:
                    a.close()
                    a.unlink()

    def test_shareable_list_round_trips_and_the_stdlib_reads_it(self):
        sl = shared_memory.ShareableList([1, 2.5, 'text', b'raw', None, True])
        try:
            self.assertEqual(list(sl), [1, 2.5, 'text', b'raw', None, True])
            sl[0] = 42
            sl[2] = 'tex'
            std = std_shm.ShareableList(name=sl.shm.name)
            _untrack(std.shm)
            self.assertEqual(list(std), [42, 2.5, 'tex', b'raw', None, True])
            std.shm.close()
            with self.assertRaises(ValueError):
                sl[2] = 'much longer than before'
            again = shared_memory.ShareableList(name=sl.shm.name)
            self.assertEqual(again[0], 42)
            again.shm.close()
        finally:
            sl.shm.close()
            sl.shm.unlink()


def _put_sizes(q, sizes):
    for n in sizes:
        q.put_bytes(bytes([n % 251]) * n)


class QueueBytesTests(unittest.TestCase):
    """Queue.get copies each message once into its bytes object: small ones through
    a stack buffer, larger ones into an object of the reported size."""

    SIZES = [0, 1, 511, 512, 513, 4096, 100_000, 0, 3]

    def test_messages_of_every_size_arrive_whole_and_in_order(self):
        q = mp.Queue()
        p = mp.Process(target=_put_sizes, args=(q, self.SIZES))
        p.start()
        got = [q.get_bytes(timeout=WAIT) for _ in self.SIZES]
        p.join(WAIT)
        self.assertEqual([len(b) for b in got], self.SIZES)
        self.assertTrue(all(b == bytes([n % 251]) * n for b, n in zip(got, self.SIZES)))
        self.assertEqual(p.exitcode, 0)

    def test_an_empty_message_that_arrives_while_waiting_is_taken(self):
        q = mp.Queue()
        t = threading.Timer(0.1, q.put_bytes, (b'',))
        t.start()
        self.assertEqual(q.get_bytes(timeout=WAIT), b'')
        t.join()
        with self.assertRaises(queue.Empty):
            q.get(timeout=0.01)


class ManagerTests(unittest.TestCase):
    def test_dict_behaves_like_a_dict(self):
        with mp.Manager() as m:
            d = m.dict(a=1)
            d['b'] = [1, 2]
            d[3] = 'int key'
            self.assertEqual(d['a'], 1)
            self.assertEqual(d[3], 'int key')
            self.assertEqual(len(d), 3)
            self.assertIn('b', d)
            self.assertNotIn('zz', d)
            self.assertEqual(d.get('zz', 9), 9)
            with self.assertRaises(KeyError):
                d['zz']
            with self.assertRaises(KeyError):
                del d['zz']
            self.assertEqual(sorted(map(str, d.keys())), ['3', 'a', 'b'])
            self.assertEqual(d.pop('a'), 1)
            self.assertEqual(d.pop('a', None), None)
            self.assertEqual(d.setdefault('c', 5), 5)
            self.assertEqual(d.copy(), {'b': [1, 2], 3: 'int key', 'c': 5})
            d.update({'x': 1}, y=2)
            self.assertEqual(d['y'], 2)
            d.clear()
            self.assertEqual(len(d), 0)
        with self.assertRaises(ValueError):
            d['a'] = 1  # closed with the manager

    def test_list_and_namespace(self):
        with mp.Manager() as m:
            lst = m.list([3, 1])
            lst.append(2)
            lst.extend([5])
            lst.sort()
            self.assertEqual(lst.copy(), [1, 2, 3, 5])
            self.assertEqual(lst[-1], 5)
            self.assertEqual(lst.pop(0), 1)
            self.assertEqual(len(lst), 3)
            with self.assertRaises(IndexError):
                lst[10]
            ns = m.Namespace(x=1)
            ns.y = 'two'
            self.assertEqual((ns.x, ns.y), (1, 'two'))
            with self.assertRaises(AttributeError):
                ns.missing

    def test_objects_reach_fork_and_spawn_children(self):
        for method in ('fork', 'spawn'):
            with self.subTest(method=method), mp.Manager() as m:
                d, lst, ns = m.dict(), m.list(), m.Namespace()
                ctx = mp.get_context(method)
                ps = [ctx.Process(target=_dict_child, args=(d, lst, ns, 'k%d' % i)) for i in range(3)]
                for p in ps:
                    p.start()
                for p in ps:
                    p.join(WAIT)
                    self.assertEqual(p.exitcode, 0)
                self.assertEqual(d['count'], 3)
                self.assertEqual(sorted(lst), ['k0', 'k1', 'k2'])
                self.assertIn(ns.seen, ('k0', 'k1', 'k2'))
                self.assertEqual({d['k%d' % i]['pid'] for i in range(3)}, {p.pid for p in ps})

    def test_manager_locks_and_queues_are_named_weft_objects(self):
        with mp.Manager() as m:
            lock, q, ev = m.Lock(), m.Queue(), m.Event()
            v, arr = m.Value('i', 3), m.Array('d', [1.0, 2.0])
            self.assertTrue(lock.name and q.name)
            with lock:
                v.value += 1
            q.put('x')
            self.assertEqual(q.get(timeout=WAIT), 'x')
            ev.set()
            self.assertTrue(ev.wait(0))
            self.assertEqual((v.value, list(arr)), (4, [1.0, 2.0]))
        self.assertEqual(managers.SyncManager().address, None)

    def test_a_manager_must_be_started(self):
        m = managers.SyncManager()
        with self.assertRaises(RuntimeError):
            m.dict()
        m.start()
        with self.assertRaises(RuntimeError):
            m.start()
        m.shutdown()


class ConnectionTests(unittest.TestCase):
    def _addr(self):
        return os.path.join('/tmp', 'wpy-conn-%d-%d' % (os.getpid(), time.monotonic_ns()))

    def test_weft_listener_accepts_a_stdlib_client_with_an_authkey(self):
        for address in (self._addr(), ('127.0.0.1', 0), '\0wpy-abstract-%d' % os.getpid()):
            with self.subTest(address=address), \
                    connection.Listener(address, authkey=b'secret') as lst:
                out = []
                t = threading.Thread(target=lambda: out.append(self._std_client(lst.address)))
                t.start()
                c = lst.accept(WAIT)
                self.assertIsNotNone(c)
                self.assertEqual(c.recv(), {'hello': 'weft'})
                c.send_bytes(b'pong')
                c.close()
                t.join(WAIT)
                self.assertEqual(out, [b'pong'])

    def _std_client(self, address):
        with std_conn.Client(address, authkey=b'secret') as c:
            c.send({'hello': 'weft'})
            return c.recv_bytes()

    def test_weft_client_talks_to_a_stdlib_listener_with_an_authkey(self):
        with std_conn.Listener(self._addr(), authkey=b'k3y') as lst:
            def serve():
                with lst.accept() as c:
                    c.send(['from', 'stdlib', c.recv()])
            t = threading.Thread(target=serve)
            t.start()
            with connection.Client(lst.address, authkey=b'k3y', timeout=WAIT) as c:
                c.send(1234)
                self.assertEqual(c.recv(), ['from', 'stdlib', 1234])
            t.join(WAIT)

    def test_a_wrong_key_is_refused_both_ways(self):
        with connection.Listener(self._addr(), authkey=b'right') as lst:
            errs = []

            def client():
                try:
                    std_conn.Client(lst.address, authkey=b'wrong')
                except std_conn.AuthenticationError as e:
                    errs.append(e)
            t = threading.Thread(target=client)
            t.start()
            with self.assertRaises(mp.AuthenticationError):
                lst.accept(WAIT)
            t.join(WAIT)
            self.assertEqual(len(errs), 1)
        with std_conn.Listener(self._addr(), authkey=b'right') as lst:
            def serve():
                try:
                    lst.accept()
                except std_conn.AuthenticationError:
                    pass
            t = threading.Thread(target=serve)
            t.start()
            with self.assertRaises(mp.AuthenticationError):
                connection.Client(lst.address, authkey=b'wrong', timeout=WAIT)
            t.join(WAIT)

    def test_connecting_to_nobody_and_bad_addresses(self):
        with self.assertRaises(ConnectionRefusedError):
            connection.Client(self._addr(), timeout=1)
        with self.assertRaises(TypeError):
            connection.Listener(1234)
        with self.assertRaises(TypeError):
            connection.Listener(self._addr(), authkey='not bytes')
        addr = self._addr()
        with connection.Listener(addr):
            with self.assertRaises(FileExistsError):
                connection.Listener(addr)
        self.assertFalse(os.path.exists(addr))  # removed at close

    def test_accept_times_out_and_a_child_serves_a_listener(self):
        with connection.Listener(self._addr()) as lst:
            self.assertIsNone(lst.accept(0.05))
        q = mp.Queue()
        p = mp.Process(target=_serve_echo, args=(self._addr(), b'ab', q))
        p.start()
        address = q.get(timeout=WAIT)
        with connection.Client(address, authkey=b'ab', timeout=WAIT) as c:
            c.send_bytes(b'hi')
            self.assertEqual(c.recv_bytes(), b'echo:hi')
        p.join(WAIT)
        self.assertEqual(p.exitcode, 0)

    def test_wait_returns_the_ready_objects(self):
        a, b = mp.Pipe()
        s1, s2 = socket.socketpair()
        try:
            self.assertEqual(connection.wait([a, s1], 0.05), [])
            b.send('x')
            s2.send(b'y')
            got = connection.wait([a, s1], WAIT)
            self.assertEqual(set(map(id, got)), {id(a), id(s1)})
            self.assertEqual(a.recv(), 'x')
        finally:
            for o in (a, b, s1, s2):
                o.close()


if __name__ == '__main__':
    check_fresh_build()
    unittest.main(verbosity=2 if '-v' in sys.argv else 1, argv=[sys.argv[0]])
