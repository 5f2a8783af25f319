"""Python and C share weft's named objects.

Usage: test_cross_language.py PATH-TO-cross_language_peer

Python makes a named queue, lock and dict (unique names with this pid),
spawns the C peer (cross_language_peer.c) with subprocess, and puts messages
the peer takes; both sides increment one counter in the dict under the named
lock; the peer then writes what it saw into the dict. Python checks the
counter is exact (no lost update), the peer's report, and that every name is
gone from /dev/shm after closing.
"""

import os
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import weft  # noqa: E402
import weft.multiprocessing as mp  # noqa: E402
from _runner import check_fresh_build  # noqa: E402

PEER = None
WAIT = 20.0
MESSAGES = 200
PYTHON_INCREMENTS = 200


class CrossLanguageTests(unittest.TestCase):
    def setUp(self):
        self.base = 'weft-xl-%d-%d' % (os.getpid(), threading.get_ident() % 100000)
        self.names = [self.base + s for s in ('-q', '-l', '-d')]
        for n in self.names:
            self.assertFalse(os.path.exists('/dev/shm/' + n), n)
        self.q = mp.Queue(name=self.base + '-q')
        self.lock = mp.Lock(name=self.base + '-l')
        self.d = weft.shared_dict(self.base + '-d')
        self.peer = None

    def tearDown(self):
        if self.peer is not None and self.peer.poll() is None:
            self.peer.kill()
            self.peer.wait(WAIT)
        self.q.close()
        self.lock.close()
        self.d.close()
        for n in self.names:
            self.assertFalse(os.path.exists('/dev/shm/' + n), 'left behind: ' + n)

    def increment(self):
        self.assertTrue(self.lock.acquire(timeout=WAIT))
        try:
            value = int(self.d.get('counter', b'0'))
            self.d['counter'] = str(value + 1)
        finally:
            self.lock.release()

    def test_a_c_process_takes_python_messages_and_shares_the_locked_counter(self):
        self.peer = subprocess.Popen([PEER, self.base])
        sent_bytes = 0
        for i in range(MESSAGES):
            msg = ('message %d from python' % i).encode()
            sent_bytes += len(msg)
            self.q.put_bytes(msg, timeout=WAIT)
            if i < PYTHON_INCREMENTS:
                self.increment()
        self.q.put_bytes(b'stop', timeout=WAIT)
        self.assertEqual(self.peer.wait(WAIT), 0)
        self.assertEqual(int(self.d['counter']), MESSAGES + PYTHON_INCREMENTS)
        messages, nbytes, pid = self.d['peer'].split()
        self.assertEqual((int(messages), int(nbytes), int(pid)), (MESSAGES, sent_bytes, self.peer.pid))
        self.assertTrue(self.q.empty())

    def test_the_peer_fails_cleanly_when_the_names_do_not_exist(self):
        self.peer = subprocess.Popen([PEER, self.base + '-absent'], stderr=subprocess.PIPE)
        _, err = self.peer.communicate(timeout=WAIT)
        self.assertEqual(self.peer.returncode, 1)
        self.assertIn(b'WEFT_ENOENT', err)

    def test_python_sees_a_lock_the_c_side_holds(self):
        # The C side takes the lock between messages: while Python holds it,
        # the peer cannot finish its first increment, so the counter stays put.
        self.peer = subprocess.Popen([PEER, self.base])
        self.assertTrue(self.lock.acquire(timeout=WAIT))
        self.q.put_bytes(b'one', timeout=WAIT)
        self.q.put_bytes(b'stop', timeout=WAIT)
        with self.assertRaises(subprocess.TimeoutExpired):
            self.peer.wait(0.3)
        self.assertIsNone(self.d.get('counter'))
        self.lock.release()
        self.assertEqual(self.peer.wait(WAIT), 0)
        self.assertEqual(self.d['counter'], b'1')
        self.assertEqual(self.d['peer'].split()[:2], [b'1', b'3'])


if __name__ == '__main__':
    check_fresh_build()
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        raise SystemExit('usage: test_cross_language.py PATH-TO-cross_language_peer')
    PEER = sys.argv[1]
    unittest.main(verbosity=2 if '-v' in sys.argv else 1, argv=[sys.argv[0]])
