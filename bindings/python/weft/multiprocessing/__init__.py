"""weft.multiprocessing: a first slice of Python's multiprocessing, on weft.

Change an import and a fork-based program runs on weft::

    import weft.multiprocessing as multiprocessing

Processes start with the *fork* method only: the child is a copy of this
interpreter that runs ``Process.run()`` and leaves with ``os._exit`` (0; 1
after printing the traceback of an exception; or ``sys.exit``'s code), as
multiprocessing's fork start method does.

The synchronization objects (``Lock``, ``RLock``, ``Semaphore``,
``BoundedSemaphore``, ``Event``, ``Condition``), the queues (``Queue``,
``JoinableQueue``, ``SimpleQueue``), ``Value``/``Array`` and ``Pipe`` are weft
process-scope objects in shared memory: anonymous ones are shared with the
children forked after they were made. ``Lock``, ``RLock`` and ``Queue`` also
take a keyword ``name=`` (a weft extension): then they are *named* objects
that any process, in any language, opens with ``weft_lock_open()`` /
``weft_queue_open()``; the name goes away when the Python object is closed
or collected. :func:`weft.shared_dict` is the named shared dict.

A lock whose holder process died is not silently handed over: the next
``acquire()`` raises :class:`weft.OwnerDeadError` *with the lock held*; repair
the data it protects, then call ``mark_consistent()`` (and later
``release()``) on the lock.

Not in this slice: the spawn and forkserver start methods, Manager, Pool,
Listener/Client, shared_memory and ``Connection`` objects passed in messages.
"""

import atexit as _atexit
import ctypes as _ctypes
import itertools as _itertools
import os as _os
import pickle as _pickle
import queue as _std_queue
import select as _select
import signal as _signal
import sys as _sys
import time as _time
import traceback as _traceback

from .. import _weft
from .._errors import WeftClosedError as _Closed
from .._errors import WeftDeadlockError as _Deadlock
from .._errors import WeftOwnerDeadError as OwnerDeadError

__all__ = ['Process', 'current_process', 'parent_process', 'active_children', 'cpu_count',
           'Lock', 'RLock', 'Semaphore', 'BoundedSemaphore', 'Event', 'Condition',
           'Queue', 'JoinableQueue', 'SimpleQueue', 'Pipe', 'Connection', 'Value', 'Array',
           'OwnerDeadError', 'TimeoutError', 'ProcessError', 'get_start_method',
           'RawValue', 'RawArray', 'shared_dict']


class ProcessError(Exception):
    """Base of multiprocessing's own errors."""


class TimeoutError(ProcessError):  # noqa: A001 - multiprocessing's name
    """multiprocessing.TimeoutError."""


def _ns(timeout):
    """Seconds (None: forever) -> weft timeout in ns; negative counts as 0 (poll)."""
    if timeout is None:
        return -1
    if timeout < 0:
        timeout = 0
    return _weft.py_timeout_ns(timeout)


def cpu_count():
    """Number of CPUs this process may run on."""
    return _weft.weft_cpu_count()


def get_start_method(allow_none=False):
    """Always 'fork': the one start method of this slice."""
    return 'fork'


# ---- processes ----------------------------------------------------------------------
class _ProcessInfo:
    """What parent_process() answers: a name and a pid."""

    def __init__(self, name, pid):
        self.name = name
        self.pid = pid
        self.ident = pid

    def is_alive(self):
        try:
            _os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def __repr__(self):
        return '<_ParentProcess name=%r pid=%d>' % (self.name, self.pid)


_counter = _itertools.count(1)
_children = set()
_current = None
_parent = None


class Process:
    """A process running ``target(*args, **kwargs)`` (or an overridden ``run()``),
    started by fork."""

    def __init__(self, group=None, target=None, name=None, args=(), kwargs=None, *, daemon=None):
        if group is not None:
            raise AssertionError('group argument must be None for now')
        self._target = target
        self._args = tuple(args)
        self._kwargs = dict(kwargs or {})
        me = current_process()
        self._identity = (getattr(me, '_identity', ()) or ()) + (next(_counter),)
        self._name = name if name is not None else 'Process-' + ':'.join(map(str, self._identity))
        self._daemon = bool(daemon) if daemon is not None else bool(getattr(me, '_daemon', False))
        self._pid = None
        self._pidfd = -1
        self._exitcode = None
        self._closed = False
        self._parent_pid = _os.getpid()

    def run(self):
        """What the child does; by default calls target(*args, **kwargs)."""
        if self._target is not None:
            self._target(*self._args, **self._kwargs)

    def _check_closed(self):
        if self._closed:
            raise ValueError('process object is closed')

    def start(self):
        """Fork a child that runs run() and exits with its code."""
        self._check_closed()
        if self._pid is not None:
            raise AssertionError('cannot start a process twice')
        if self._parent_pid != _os.getpid():
            raise AssertionError('can only start a process object created by current process')
        if getattr(current_process(), '_daemon', False):
            raise AssertionError('daemonic processes are not allowed to have children')
        _reap_finished()
        for f in (_sys.stdout, _sys.stderr):
            try:
                f.flush()
            except Exception:  # noqa: BLE001 - a closed stream is not our concern
                pass
        pid = _os.fork()
        if pid == 0:
            _os._exit(self._bootstrap())
        self._pid = pid
        try:
            self._pidfd = _os.pidfd_open(pid)
        except (AttributeError, OSError):
            self._pidfd = -1
        _children.add(self)

    def _bootstrap(self):
        global _current, _parent
        code = 1
        try:
            _parent = _ProcessInfo(current_process().name, self._parent_pid)
            _current = self
            _children.clear()
            self._pid = _os.getpid()
            try:
                self.run()
                code = 0
            except SystemExit as e:
                if e.code is None:
                    code = 0
                elif isinstance(e.code, int):
                    code = e.code
                else:
                    _sys.stderr.write(str(e.code) + '\n')
                    code = 1
            except BaseException:  # noqa: BLE001 - the child reports every failure
                _sys.stderr.write('Process %s:\n' % self._name)
                _traceback.print_exc()
                code = 1
            finally:
                _join_children_at_exit()
        finally:
            for f in (_sys.stdout, _sys.stderr):
                try:
                    f.flush()
                except Exception:  # noqa: BLE001
                    pass
        return code & 0xFF if code >= 0 else 1

    def _poll(self, timeout):
        """Reap the child if it finished within timeout (None: forever)."""
        if self._exitcode is not None:
            return
        if timeout is None:
            _, status = _os.waitpid(self._pid, 0)
        else:
            if self._pidfd >= 0:
                if timeout > 0:
                    _select.select([self._pidfd], [], [], timeout)
            else:
                end = _time.monotonic() + timeout
                while True:
                    pid, status = _os.waitpid(self._pid, _os.WNOHANG)
                    if pid or _time.monotonic() >= end:
                        break
                    _time.sleep(0.005)
                if pid == 0:
                    return
                self._set_status(status)
                return
            pid, status = _os.waitpid(self._pid, _os.WNOHANG)
            if pid == 0:
                return
        self._set_status(status)

    def _set_status(self, status):
        self._exitcode = _os.waitstatus_to_exitcode(status)
        if self._pidfd >= 0:
            _os.close(self._pidfd)
            self._pidfd = -1
        _children.discard(self)

    def join(self, timeout=None):
        """Wait up to timeout seconds (None: forever) for the process to end."""
        self._check_closed()
        if self._parent_pid != _os.getpid():
            raise AssertionError('can only join a child process')
        if self._pid is None:
            raise AssertionError('can only join a started process')
        if timeout is not None and timeout < 0:
            timeout = 0
        self._poll(timeout)

    def is_alive(self):
        """Whether the process was started and has not finished."""
        self._check_closed()
        if self is _current:
            return True
        if self._pid is None or self._parent_pid != _os.getpid():
            return False
        self._poll(0)
        return self._exitcode is None

    def _signal(self, sig):
        self._check_closed()
        if self._pid is not None and self._exitcode is None:
            try:
                _os.kill(self._pid, sig)
            except ProcessLookupError:
                pass

    def terminate(self):
        """Send SIGTERM."""
        self._signal(_signal.SIGTERM)

    def kill(self):
        """Send SIGKILL."""
        self._signal(_signal.SIGKILL)

    def close(self):
        """Release the process object (the process must have finished)."""
        if self._closed:
            return
        if self._pid is not None and self._exitcode is None:
            self._poll(0)
            if self._exitcode is None:
                raise ValueError('Cannot close a process while it is still running. '
                                 'You should first call join() or terminate().')
        self._closed = True

    @property
    def exitcode(self):
        """None while running; the exit code, or -N when killed by signal N."""
        self._check_closed()
        if self._pid is None:
            return None
        if self._exitcode is None and self._parent_pid == _os.getpid() and self is not _current:
            self._poll(0)
        return self._exitcode

    @property
    def pid(self):
        self._check_closed()
        return self._pid

    ident = pid

    @property
    def name(self):
        return self._name

    @name.setter
    def name(self, value):
        self._name = str(value)

    @property
    def daemon(self):
        return self._daemon

    @daemon.setter
    def daemon(self, value):
        if self._pid is not None:
            raise AssertionError('process has already started')
        self._daemon = bool(value)

    @property
    def sentinel(self):
        """A file descriptor that becomes readable when the process ends (a pidfd)."""
        self._check_closed()
        if self._pidfd < 0:
            raise ValueError('process not started')
        return self._pidfd

    def __repr__(self):
        if self._pid is None:
            state = 'initial'
        elif self._exitcode is not None:
            state = 'stopped exitcode=%s' % self._exitcode
        else:
            state = 'started'
        return '<%s name=%r %s%s>' % (type(self).__name__, self._name, state,
                                      ' daemon' if self._daemon else '')


class _MainProcess(Process):
    def __init__(self):
        self._target = None
        self._args = ()
        self._kwargs = {}
        self._identity = ()
        self._name = 'MainProcess'
        self._daemon = False
        self._pid = _os.getpid()
        self._pidfd = -1
        self._exitcode = None
        self._closed = False
        self._parent_pid = None

    @property
    def pid(self):
        return _os.getpid()

    ident = pid


_main = None


def current_process():
    """The Process object of this process."""
    global _main
    if _current is not None:
        return _current
    if _main is None:
        _main = _MainProcess()
    return _main


def parent_process():
    """The parent (name, pid) in a child started by this module; None in the main process."""
    return _parent


def _reap_finished():
    for p in list(_children):
        p._poll(0)


def active_children():
    """The children started here that are still running (finished ones are reaped)."""
    _reap_finished()
    return list(_children)


def _join_children_at_exit():
    for p in list(_children):
        if p._daemon:
            p.terminate()
    for p in list(_children):
        p._poll(None)


_atexit.register(lambda: _join_children_at_exit() if _current is None else None)


# ---- locks ---------------------------------------------------------------------------
class Lock:
    """A process-shared lock (multiprocessing.Lock). With ``name=`` it is a named
    weft lock other processes open with weft_lock_open(). Raises OwnerDeadError
    (lock held) when the previous holder died holding it.

    Unlike multiprocessing's (a POSIX semaphore), weft's process-scope lock is
    robust, so it knows its holder: only the thread that took it may release it
    (another raises weft.WeftPermissionError)."""

    def __init__(self, *, name=None):
        self._h = _weft.py_mp_lock_create(name)
        self.name = name

    def acquire(self, block=True, timeout=None):
        """Acquire, waiting up to timeout seconds when block; return whether acquired.

        Taking it again in the thread that holds it fails (False) when not
        blocking, after the timeout when there is one, and raises
        weft.WeftDeadlockError instead of hanging forever without one."""
        ns = _ns(timeout) if block else 0
        try:
            return _weft.py_mp_lock_acquire(self._h, ns)
        except _Deadlock:
            if ns < 0:
                raise
            if ns > 0:
                _time.sleep(ns / 1e9)
            return False

    def release(self):
        """Release; ValueError when it is not locked."""
        try:
            _weft.weft_lock_release(self._h)
        except _weft.WeftError as e:
            if e.name == 'WEFT_ESTATE':
                raise ValueError('semaphore or lock released too many times') from None
            raise

    def locked(self):
        return bool(_weft.weft_lock_locked(self._h))

    def mark_consistent(self):
        """After OwnerDeadError and a repair: make the lock normal again (still held)."""
        _weft.weft_lock_mark_consistent(self._h)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()

    def close(self):
        h, self._h = self._h, None
        if h is not None:
            _weft.weft_lock_destroy(h)

    def __del__(self):
        if getattr(self, '_h', None) is not None:
            self.close()

    def __repr__(self):
        return '<Lock(owner=%s)>' % ('SomeOtherProcess' if self._h and self.locked() else 'None')


class RLock:
    """A process-shared re-entrant lock (multiprocessing.RLock), owned by one
    thread of one process."""

    def __init__(self, *, name=None):
        self._h = _weft.py_mp_rlock_create(name)
        self.name = name

    def acquire(self, block=True, timeout=None):
        return _weft.py_mp_rlock_acquire(self._h, _ns(timeout) if block else 0)

    def release(self):
        try:
            _weft.weft_rlock_release(self._h)
        except _weft.WeftError as e:
            if e.name in ('WEFT_EPERM', 'WEFT_ESTATE'):
                raise AssertionError('attempt to release recursive lock not owned by thread') from None
            raise

    def mark_consistent(self):
        _weft.weft_rlock_mark_consistent(self._h)

    def _is_owned(self):
        return _weft.weft_rlock_count(self._h) > 0

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()

    def close(self):
        h, self._h = self._h, None
        if h is not None:
            _weft.weft_rlock_destroy(h)

    def __del__(self):
        if getattr(self, '_h', None) is not None:
            self.close()


class Semaphore:
    """A process-shared counting semaphore (multiprocessing.Semaphore)."""

    _bound = 0

    def __init__(self, value=1):
        if value < 0:
            raise ValueError('semaphore initial value must be >= 0')
        self._h = _weft.py_mp_semaphore_create(value, value if self._bound else 0)

    def acquire(self, block=True, timeout=None):
        return _weft.py_semaphore_acquire(self._h, _ns(timeout) if block else 0)

    def release(self, n=1):
        try:
            _weft.weft_semaphore_release(self._h, n)
        except _weft.WeftError as e:
            if e.name == 'WEFT_EOVERFLOW' and self._bound:
                raise ValueError('semaphore or lock released too many times') from None
            raise

    def get_value(self):
        return _weft.weft_semaphore_value(self._h)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()

    def close(self):
        h, self._h = self._h, None
        if h is not None:
            _weft.weft_semaphore_destroy(h)

    def __del__(self):
        if getattr(self, '_h', None) is not None:
            self.close()


class BoundedSemaphore(Semaphore):
    """A semaphore whose value may never exceed its initial value."""

    _bound = 1


class Event:
    """A process-shared event (multiprocessing.Event)."""

    def __init__(self):
        self._h = _weft.py_mp_event_create()

    def is_set(self):
        return bool(_weft.weft_event_is_set(self._h))

    def set(self):
        _weft.weft_event_set(self._h)

    def clear(self):
        _weft.weft_event_clear(self._h)

    def wait(self, timeout=None):
        """Wait until set, up to timeout seconds; return whether it is set."""
        return _weft.py_event_wait(self._h, _ns(timeout))

    def close(self):
        h, self._h = self._h, None
        if h is not None:
            _weft.weft_event_destroy(h)

    def __del__(self):
        if getattr(self, '_h', None) is not None:
            self.close()


class Condition:
    """A process-shared condition (multiprocessing.Condition) over a Lock or
    RLock of this module (default: a new RLock)."""

    def __init__(self, lock=None):
        if lock is None:
            lock = RLock()
        if isinstance(lock, Lock):
            self._h = _weft.py_mp_condition_create(lock._h, None)
        elif isinstance(lock, RLock):
            self._h = _weft.py_mp_condition_create(None, lock._h)
        else:
            raise TypeError('expected a weft.multiprocessing Lock or RLock')
        self._lock = lock

    def acquire(self, block=True, timeout=None):
        return _weft.py_mp_condition_acquire(self._h, _ns(timeout) if block else 0)

    def release(self):
        self._lock.release()

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()

    def wait(self, timeout=None):
        """Release the lock, wait for a notify up to timeout seconds, re-take it."""
        return _weft.py_condition_wait(self._h, _ns(timeout))

    def wait_for(self, predicate, timeout=None):
        result = predicate()
        if result:
            return result
        end = None if timeout is None else _time.monotonic() + timeout
        while not result:
            if end is not None:
                left = end - _time.monotonic()
                if left <= 0:
                    break
                self.wait(left)
            else:
                self.wait()
            result = predicate()
        return result

    def notify(self, n=1):
        _weft.weft_condition_notify(self._h, n)

    def notify_all(self):
        _weft.weft_condition_notify_all(self._h)

    def close(self):
        h, self._h = self._h, None
        if h is not None:
            _weft.weft_condition_destroy(h)

    def __del__(self):
        if getattr(self, '_h', None) is not None:
            self.close()


# ---- queues --------------------------------------------------------------------------
class Queue:
    """A process-shared FIFO of picklable objects (multiprocessing.Queue).

    maxsize <= 0 means unbounded in items (the shared ring still has a byte
    size, max_bytes, 0 = weft's default). With ``name=`` it is a named weft
    queue that C code opens with weft_queue_open() and reads with
    weft_queue_get_bytes() (each message is one pickle).
    """

    def __init__(self, maxsize=0, *, name=None, max_bytes=0):
        self._h = _weft.py_mp_queue_create(name, maxsize if maxsize > 0 else 0, max_bytes)
        self._maxsize = maxsize
        self.name = name

    def _check(self):
        if self._h is None:
            raise ValueError('Queue %r is closed' % self)

    def put(self, obj, block=True, timeout=None):
        """Put obj; queue.Full when it stays full (block=False: at once)."""
        self._check()
        self.put_bytes(_pickle.dumps(obj, protocol=_pickle.HIGHEST_PROTOCOL), block, timeout)

    def put_bytes(self, data, block=True, timeout=None):
        """Put raw bytes (what a C peer gets with weft_queue_get_bytes)."""
        self._check()
        if not _weft.py_mp_queue_put(self._h, data, _ns(timeout) if block else 0):
            raise _std_queue.Full

    def get(self, block=True, timeout=None):
        """Take the oldest object; queue.Empty when none comes in time."""
        return _pickle.loads(self.get_bytes(block, timeout))

    def get_bytes(self, block=True, timeout=None):
        self._check()
        data = _weft.py_mp_queue_get(self._h, _ns(timeout) if block else 0)
        if data is None:
            raise _std_queue.Empty
        return data

    def put_nowait(self, obj):
        return self.put(obj, False)

    def get_nowait(self):
        return self.get(False)

    def qsize(self):
        self._check()
        return _weft.weft_queue_size(self._h)

    def empty(self):
        self._check()
        return bool(_weft.weft_queue_empty(self._h))

    def full(self):
        self._check()
        return bool(_weft.weft_queue_full(self._h))

    def close(self):
        """Release this process's handle (other processes keep theirs)."""
        h, self._h = self._h, None
        if h is not None:
            _weft.weft_queue_destroy(h)

    def join_thread(self):
        """Nothing to join: weft's queue has no feeder thread."""

    def cancel_join_thread(self):
        """Nothing to cancel: weft's queue has no feeder thread."""

    def __del__(self):
        if getattr(self, '_h', None) is not None:
            self.close()


class JoinableQueue(Queue):
    """A Queue with task_done() and join(), counted across processes."""

    def task_done(self):
        self._check()
        try:
            _weft.weft_queue_task_done(self._h)
        except _weft.WeftError as e:
            if e.name in ('WEFT_ESTATE', 'WEFT_EOVERFLOW'):
                raise ValueError('task_done() called too many times') from None
            raise

    def join(self, timeout=None):
        """Wait until every item put was marked done (weft extension: timeout,
        returning whether that happened)."""
        self._check()
        return _weft.py_queue_join(self._h, _ns(timeout))


class SimpleQueue:
    """An unbounded process-shared FIFO with get/put/empty/close."""

    def __init__(self):
        self._q = Queue()

    def put(self, obj):
        self._q.put(obj)

    def get(self):
        return self._q.get()

    def empty(self):
        return self._q.empty()

    def close(self):
        self._q.close()


# ---- pipes ---------------------------------------------------------------------------
class Connection:
    """One end of a Pipe(): send/recv pickle objects, *_bytes move raw bytes."""

    def __init__(self, handle, readable, writable):
        self._h = handle
        self._readable = readable
        self._writable = writable

    @property
    def closed(self):
        return self._h is None

    @property
    def readable(self):
        return self._readable

    @property
    def writable(self):
        return self._writable

    def _check(self, need):
        if self._h is None:
            raise OSError('handle is closed')
        if need == 'r' and not self._readable:
            raise OSError('connection is write-only')
        if need == 'w' and not self._writable:
            raise OSError('connection is read-only')

    def send_bytes(self, buf, offset=0, size=None):
        self._check('w')
        m = memoryview(buf).cast('B')
        if offset < 0 or offset > len(m):
            raise ValueError('offset is out of range')
        if size is None:
            size = len(m) - offset
        if size < 0 or offset + size > len(m):
            raise ValueError('size is out of range' if size >= 0 else 'size is negative')
        try:
            _weft.py_mp_conn_send(self._h, m[offset:offset + size], -1)
        except _Closed:
            raise BrokenPipeError('the other end of the pipe is closed') from None

    def send(self, obj):
        self.send_bytes(_pickle.dumps(obj, protocol=_pickle.HIGHEST_PROTOCOL))

    def recv_bytes(self, maxlength=None):
        """The next message; EOFError when the other end closed and nothing is left."""
        self._check('r')
        try:
            data = _weft.py_mp_conn_recv(self._h, -1)
        except _Closed:
            raise EOFError from None
        if maxlength is not None and len(data) > maxlength:
            raise OSError('bad message length')
        return data

    def recv(self):
        return _pickle.loads(self.recv_bytes())

    def poll(self, timeout=0.0):
        """Whether a message (or end of file) is ready, waiting up to timeout
        seconds (None: forever)."""
        self._check('r')
        return _weft.py_mp_conn_poll(self._h, _ns(timeout))

    def fileno(self):
        self._check(None)
        return _weft.weft_conn_fd(self._h)

    def close(self):
        h, self._h = self._h, None
        if h is not None:
            _weft.weft_conn_destroy(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, '_h', None) is not None:
            self.close()


def Pipe(duplex=True):
    """Two Connections; with duplex=False the first only receives, the second only sends."""
    a, b = _weft.py_mp_pipe(1 if duplex else 0)
    if duplex:
        return Connection(a, True, True), Connection(b, True, True)
    return Connection(a, True, False), Connection(b, False, True)


# ---- shared values -------------------------------------------------------------------
# typecode -> (weft_array type from <weft/shm.h>, ctypes type)
_TYPES = {
    'b': (1, _ctypes.c_int8), 'B': (2, _ctypes.c_uint8),
    'h': (3, _ctypes.c_int16), 'H': (4, _ctypes.c_uint16),
    'i': (5, _ctypes.c_int32), 'I': (6, _ctypes.c_uint32),
    'l': (7, _ctypes.c_int64), 'L': (8, _ctypes.c_uint64),
    'q': (7, _ctypes.c_int64), 'Q': (8, _ctypes.c_uint64),
    'f': (9, _ctypes.c_float), 'd': (10, _ctypes.c_double),
    'c': (11, _ctypes.c_char),
}
_CTYPES = {v[1]: v for v in _TYPES.values()}
_CTYPES[_ctypes.c_int] = _TYPES['i']
_CTYPES[_ctypes.c_long] = _TYPES['l']
_CTYPES[_ctypes.c_bool] = _TYPES['B']


def _resolve(typecode_or_type):
    if isinstance(typecode_or_type, str):
        t = _TYPES.get(typecode_or_type)
    else:
        t = _CTYPES.get(typecode_or_type)
    if t is None:
        raise TypeError('unsupported typecode or type: %r' % (typecode_or_type,))
    return t


class _ArrayLock:
    """The lock inside a shared Value/Array (get_lock())."""

    def __init__(self, owner):
        self._owner = owner

    def acquire(self, block=True, timeout=None):
        return _weft.py_mp_array_acquire(self._owner._h, _ns(timeout) if block else 0)

    def release(self):
        try:
            _weft.weft_array_release(self._owner._h)
        except _weft.WeftError as e:
            if e.name in ('WEFT_ESTATE', 'WEFT_EPERM'):
                raise ValueError('semaphore or lock released too many times') from None
            raise

    def mark_consistent(self):
        _weft.weft_array_mark_consistent(self._owner._h)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


class _Shared:
    def __init__(self, wtype, ctype, length, lock):
        if lock not in (True, False, None):
            raise TypeError('lock must be True or False (an outside lock is not supported)')
        self._h, addr = _weft.py_mp_array_create(wtype, length, None)
        self._ctype = ctype
        self._lock = _ArrayLock(self)
        self._obj = (ctype * length).from_address(addr) if length else (ctype * 0)()

    def get_lock(self):
        return self._lock

    def get_obj(self):
        return self._obj

    def acquire(self, *a, **k):
        return self._lock.acquire(*a, **k)

    def release(self):
        self._lock.release()

    def __enter__(self):
        return self._lock.__enter__()

    def __exit__(self, *exc):
        return self._lock.__exit__(*exc)

    def close(self):
        self._obj = None
        h, self._h = self._h, None
        if h is not None:
            _weft.weft_array_destroy(h)

    def __del__(self):
        if getattr(self, '_h', None) is not None:
            self.close()


class _Value(_Shared):
    def __init__(self, typecode_or_type, *args, lock=True):
        wtype, ctype = _resolve(typecode_or_type)
        super().__init__(wtype, ctype, 1, lock)
        if args:
            self.value = args[0]

    @property
    def value(self):
        return self._obj[0]

    @value.setter
    def value(self, v):
        self._obj[0] = v

    def __repr__(self):
        return '<Synchronized wrapper for %s(%r)>' % (self._ctype.__name__, self.value)


class _Array(_Shared):
    def __init__(self, typecode_or_type, size_or_initializer, lock=True):
        wtype, ctype = _resolve(typecode_or_type)
        if isinstance(size_or_initializer, int):
            init, length = None, size_or_initializer
        else:
            init = list(size_or_initializer)
            length = len(init)
        if length < 0:
            raise ValueError('array size must be >= 0')
        super().__init__(wtype, ctype, length, lock)
        if init is not None:
            self._obj[:] = init

    def __len__(self):
        return len(self._obj)

    def __getitem__(self, i):
        return self._obj[i]

    def __setitem__(self, i, v):
        self._obj[i] = v

    @property
    def value(self):
        """For a 'c' array: its bytes up to the first NUL."""
        return self._obj.value

    @value.setter
    def value(self, v):
        self._obj.value = v

    @property
    def raw(self):
        return self._obj.raw

    def __repr__(self):
        return '<SynchronizedArray wrapper for %r>' % (list(self._obj),)


def Value(typecode_or_type, *args, lock=True):
    """A shared value (its own process-shared lock: get_lock())."""
    return _Value(typecode_or_type, *args, lock=lock)


def Array(typecode_or_type, size_or_initializer, *, lock=True):
    """A shared array of a size or initialized from a sequence (get_lock())."""
    return _Array(typecode_or_type, size_or_initializer, lock=lock)


def RawValue(typecode_or_type, *args):
    return _Value(typecode_or_type, *args, lock=False)


def RawArray(typecode_or_type, size_or_initializer):
    return _Array(typecode_or_type, size_or_initializer, lock=False)


# ---- named shared dict ---------------------------------------------------------------
class shared_dict:  # noqa: N801 - a factory-like name, as the docs call it
    """A named weft dict (<weft/dict.h>) of str keys and bytes values, shared
    with any process (C: weft_dict_open(name)). Opens the name when it exists,
    else creates it (then the name goes away when this object is closed).
    str values are stored UTF-8 encoded; values come back as bytes.
    ``name=None`` makes an anonymous dict shared with forked children."""

    def __init__(self, name=None):
        self._h = _weft.py_mp_dict_create(name, 1)
        self.name = name

    def _check(self):
        if self._h is None:
            raise ValueError('shared_dict is closed')

    @staticmethod
    def _bytes(value):
        return value.encode() if isinstance(value, str) else value

    def get(self, key, default=None):
        self._check()
        v = _weft.py_mp_dict_get(self._h, key, -1)
        return default if v is None else v

    def set(self, key, value):
        self._check()
        _weft.py_mp_dict_set(self._h, key, self._bytes(value), -1)

    def __getitem__(self, key):
        v = self.get(key)
        if v is None:
            raise KeyError(key)
        return v

    def __setitem__(self, key, value):
        self.set(key, value)

    def __delitem__(self, key):
        self._check()
        try:
            _weft.weft_dict_delete(self._h, key, -1)
        except LookupError:
            raise KeyError(key) from None

    def __contains__(self, key):
        return self.get(key) is not None

    def close(self):
        h, self._h = self._h, None
        if h is not None:
            _weft.weft_dict_destroy(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, '_h', None) is not None:
            self.close()
