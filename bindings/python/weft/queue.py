"""Python's ``queue``, on weft.

``import weft.queue as queue``: Queue, LifoQueue, PriorityQueue and
SimpleQueue are weft queues (``weft_queue``) of Python objects; a queued
item holds one reference, dropped when it is taken out or when the queue
goes away. ``shutdown()`` has Python 3.13's semantics (``ShutDown``).

PriorityQueue orders its items as the stdlib does (heapq); its waiting,
bound, task accounting and shutdown are the weft queue's.
"""

import heapq as _heapq
import queue as _std_queue
import types as _types

from . import _weft
from ._errors import WeftClosedError, WeftStateError, WeftTimeoutError

__all__ = ['Empty', 'Full', 'ShutDown', 'Queue', 'PriorityQueue', 'LifoQueue', 'SimpleQueue']

#: Raised by a non-blocking get() (or one that timed out) on an empty queue (the stdlib's class).
Empty = _std_queue.Empty
#: Raised by a non-blocking put() (or one that timed out) on a full queue (the stdlib's class).
Full = _std_queue.Full


class ShutDown(Exception):
    """Raised by put() on a shut-down queue, and by get() on one that is shut down and empty."""


_FOREVER = -1
_NS_MAX = (1 << 63) - 1
_put = _weft.py_queue_put
_put_priority = _weft.py_queue_put_priority
_get = _weft.py_queue_get
_heappush = _heapq.heappush
_heappop = _heapq.heappop
_Lock = _weft.Lock


def _timeout_ns(block, timeout):
    if not block:
        return 0
    if timeout is None:
        return _FOREVER
    if timeout < 0:
        raise ValueError("'timeout' must be a non-negative number")
    ns = int(timeout * 1e9)
    return ns if ns < _NS_MAX else _FOREVER


class Queue:
    """Queue(maxsize=0): a FIFO queue; maxsize <= 0 means unbounded."""

    _kind = _weft.WEFT_QUEUE_FIFO

    def __init__(self, maxsize=0):
        self.maxsize = maxsize
        self._h = _weft.py_queue_create(self._kind, maxsize if maxsize > 0 else 0)

    def __del__(self, _destroy=_weft.weft_queue_destroy):
        h, self._h = getattr(self, '_h', None), None
        if h is not None:
            _destroy(h)

    def task_done(self):
        """Mark one item taken with get() as processed (for join()); ValueError if called too often."""
        try:
            _weft.weft_queue_task_done(self._h)
        except WeftStateError:
            raise ValueError('task_done() called too many times') from None

    def join(self):
        """Block until every item put was taken and marked with task_done() (or the queue was shut down)."""
        _weft.py_queue_join(self._h, _FOREVER)

    def qsize(self):
        """Return the approximate number of queued items."""
        return _weft.weft_queue_size(self._h)

    def empty(self):
        """Return True if the queue is empty (approximately)."""
        return bool(_weft.weft_queue_empty(self._h))

    def full(self):
        """Return True if the queue is full (approximately)."""
        return bool(_weft.weft_queue_full(self._h))

    @property
    def is_shutdown(self):
        """Whether shutdown() was called."""
        return bool(_weft.weft_queue_is_shutdown(self._h))

    def put(self, item, block=True, timeout=None):
        """Put item, waiting (up to timeout seconds) for a free slot when block; Full when none came."""
        try:
            ok = _put(self._h, item, _timeout_ns(block, timeout))
        except WeftClosedError:
            raise ShutDown from None
        if not ok:
            raise Full

    def get(self, block=True, timeout=None):
        """Remove and return an item, waiting (up to timeout seconds) when block; Empty when none came."""
        try:
            return _get(self._h, _timeout_ns(block, timeout))
        except WeftTimeoutError:
            raise Empty from None
        except WeftClosedError:
            raise ShutDown from None

    def put_nowait(self, item):
        """put(item, block=False)."""
        return self.put(item, block=False)

    def get_nowait(self):
        """get(block=False)."""
        return self.get(block=False)

    def shutdown(self, immediate=False):
        """Shut the queue down: put() raises ShutDown; get() does once the queue is empty.

        With immediate, queued items are dropped at once (and join() returns).
        """
        _weft.weft_queue_shutdown(self._h, 1 if immediate else 0)


class LifoQueue(Queue):
    """LifoQueue(maxsize=0): a stack; get() returns the item put last."""

    _kind = _weft.WEFT_QUEUE_LIFO


class PriorityQueue(Queue):
    """PriorityQueue(maxsize=0): get() returns the smallest queued item (as heapq orders them).

    Items are ordered as the stdlib orders them (typically (priority, data)
    tuples). Waiting, the size bound, task_done()/join() and shutdown() are
    the weft queue's: it carries one token per item while the items
    themselves sit in a heap.
    """

    _kind = _weft.WEFT_QUEUE_FIFO

    def __init__(self, maxsize=0):
        super().__init__(maxsize)
        self._heap = []
        self._mutex = _Lock()

    def put(self, item, block=True, timeout=None):
        """Put item, waiting (up to timeout seconds) for a free slot when block; Full when none came."""
        ns = _timeout_ns(block, timeout)
        # One putter at a time: the token goes in, then the item, before the
        # next putter (or a getter holding a token) may touch the heap.
        if ns == _FOREVER:
            self._mutex.acquire()
        else:
            start = _weft.weft_monotonic_ns()
            got = self._mutex.acquire(True, ns / 1e9) if ns else self._mutex.acquire(False)
            if not got:
                raise Full
            if ns:
                ns = max(0, ns - (_weft.weft_monotonic_ns() - start))
        try:
            try:
                ok = _put(self._h, None, ns)
            except WeftClosedError:
                raise ShutDown from None
            if not ok:
                raise Full
            _heappush(self._heap, item)
        finally:
            self._mutex.release()

    def get(self, block=True, timeout=None):
        """Remove and return the smallest item, waiting (up to timeout seconds) when block."""
        try:
            _get(self._h, _timeout_ns(block, timeout))
        except WeftTimeoutError:
            raise Empty from None
        except WeftClosedError:
            raise ShutDown from None
        with self._mutex:
            return _heappop(self._heap)

    def shutdown(self, immediate=False):
        """Shut the queue down, as Queue.shutdown(); immediate also drops the queued items."""
        super().shutdown(immediate)
        if immediate:
            with self._mutex:
                self._heap.clear()


class SimpleQueue:
    """SimpleQueue(): an unbounded FIFO queue without task tracking."""

    def __init__(self):
        self._h = _weft.py_queue_create(_weft.WEFT_QUEUE_FIFO, 0)

    def __del__(self, _destroy=_weft.weft_queue_destroy):
        h, self._h = getattr(self, '_h', None), None
        if h is not None:
            _destroy(h)

    def put(self, item, block=True, timeout=None):
        """Put item; never blocks (block and timeout exist for compatibility)."""
        _put(self._h, item, 0)

    def put_nowait(self, item):
        """put(item)."""
        _put(self._h, item, 0)

    def get(self, block=True, timeout=None):
        """Remove and return an item, waiting (up to timeout seconds) when block; Empty when none came."""
        try:
            return _get(self._h, _timeout_ns(block, timeout))
        except WeftTimeoutError:
            raise Empty from None

    def get_nowait(self):
        """get(block=False)."""
        return self.get(False)

    def empty(self):
        """Return True if the queue is empty (approximately)."""
        return bool(_weft.weft_queue_empty(self._h))

    def qsize(self):
        """Return the approximate number of queued items."""
        return _weft.weft_queue_size(self._h)

    __class_getitem__ = classmethod(_types.GenericAlias)


Queue.__class_getitem__ = classmethod(_types.GenericAlias)
