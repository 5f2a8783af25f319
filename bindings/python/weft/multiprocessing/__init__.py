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

Start methods (``get_context``, ``set_start_method``): *fork* (the
default), *spawn* (a fresh interpreter started with weft's process API, which
imports ``__main__`` as ``__mp_main__``: keep the ``if __name__ ==
'__main__':`` guard) and *forkserver* (a server started once forks the
children); see :mod:`weft.multiprocessing.context`. Under spawn and
forkserver, objects passed to a child are pickled: named objects (``name=``,
or any object made by a spawn/forkserver context) are opened by name there.

Also: :mod:`weft.multiprocessing.shared_memory` (``SharedMemory``,
``ShareableList``), :func:`Manager` (:mod:`weft.multiprocessing.managers`,
no server process), :mod:`weft.multiprocessing.connection` (``Listener``,
``Client``, ``wait``; CPython's wire format and authkey handshake).

A blocking call (join, get, acquire, wait, recv) in the main thread is
interrupted by Ctrl-C (KeyboardInterrupt) as in the stdlib.

``Connection`` objects may be sent to another process (in a Queue or Pipe
message, or as a spawn/forkserver child's argument): the descriptor travels
as the stdlib's does (``multiprocessing.resource_sharer``).
"""

import _thread
import atexit as _atexit
import ctypes as _ctypes
import itertools as _itertools
import multiprocessing.context as _std_mp_context
import os as _os
import pickle as _pickle
import queue as _std_queue
import select as _select
import signal as _signal
import sys as _sys
import threading as _std_threading
import time as _time
import traceback as _traceback

from .. import _weft
from .. import threading as _wthreading
from .._errors import WeftClosedError as _Closed
from .._errors import WeftOwnerDeadError as OwnerDeadError

__all__ = ['Process', 'current_process', 'parent_process', 'active_children', 'cpu_count',
           'Lock', 'RLock', 'Semaphore', 'BoundedSemaphore', 'Event', 'Condition',
           'Queue', 'JoinableQueue', 'SimpleQueue', 'Pipe', 'Connection', 'Value', 'Array',
           'OwnerDeadError', 'TimeoutError', 'ProcessError', 'get_start_method',
           'RawValue', 'RawArray', 'shared_dict']
__all__ += ['get_context', 'set_start_method', 'get_all_start_methods', 'Manager',
            'ForkProcess', 'SpawnProcess', 'ForkServerProcess', 'AuthenticationError',
            'freeze_support', 'set_executable', 'set_forkserver_preload', 'Barrier',
            'BrokenBarrierError']
BrokenBarrierError = _wthreading.BrokenBarrierError


class ProcessError(_std_mp_context.ProcessError):
    """Base of multiprocessing's own errors (also a multiprocessing.ProcessError,
    so code written for the stdlib catches it)."""


class TimeoutError(ProcessError, _std_mp_context.TimeoutError):  # noqa: A001 - multiprocessing's name
    """multiprocessing.TimeoutError (also the stdlib's, for ``except`` clauses written for it)."""


_SLICE_NS = 50_000_000  # how long a main-thread Condition.wait sleeps between signal checks
_STAMP_SUFFIX = '-notified'  # a named Condition's notify stamp is the weft array of this name
_monotonic_ns = _time.monotonic_ns


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


from .context import get_context, get_start_method, set_start_method, get_all_start_methods  # noqa: E402


def _flush_std():
    """Flush stdout and stderr before a child's os._exit (errors ignored)."""
    for f in (_sys.stdout, _sys.stderr):
        try:
            f.flush()
        except Exception:  # noqa: BLE001
            pass


def _arm_parent_death(ppid):
    """In a daemon child: ask the kernel for SIGKILL when the parent ends, then
    close the race where it ended first (as weft's C daemon children do)."""
    try:
        libc = _ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(_signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if _os.getppid() != ppid:
        _os.kill(_os.getpid(), _signal.SIGKILL)


def _forbid_pickle(obj):
    from multiprocessing import process as std_process
    if getattr(std_process.current_process(), '_inheriting', False) or _pickling_for_child:
        raise RuntimeError('%s objects made without a name can only be shared with fork '
                           'children; make them from get_context(\'spawn\') (or pass name=) '
                           'to send them to a spawn or forkserver child' % type(obj).__name__)
    raise RuntimeError('%s objects should only be shared between processes through '
                       'inheritance' % type(obj).__name__)


_pickling_for_child = False


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
_parent_of = None  # (the parent's Process object, its pid): parent_process() makes _parent of it


class Process:
    """A process running ``target(*args, **kwargs)`` (or an overridden ``run()``),
    started by the default start method (get_start_method()); the context's
    ``Process`` (get_context('spawn').Process, ...) uses that context's method.

    Under spawn and forkserver the Process object (target and arguments
    included) is pickled to the child."""

    _start_method = None
    _popen = None

    def __init__(self, group=None, target=None, name=None, args=(), kwargs=None, *, daemon=None):
        if group is not None:
            raise AssertionError('group argument must be None for now')
        self._target = target
        self._args = tuple(args)
        self._kwargs = dict(kwargs or {})
        me = current_process()
        self._identity = (getattr(me, '_identity', ()) or ()) + (next(_counter),)
        self._name = name  # None: 'Process-N', made when asked (the name property)
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
        # Few calls and objects between one fork and the next: each object
        # written then is a page copied from (or shared with) a child (P6).
        if self._closed:
            raise ValueError('process object is closed')
        if self._pid is not None:
            raise AssertionError('cannot start a process twice')
        if self._parent_pid != _os.getpid():
            raise AssertionError('can only start a process object created by current process')
        if _current is not None and _current._daemon:
            raise AssertionError('daemonic processes are not allowed to have children')
        if _children:
            _reap_finished()
        for f in (_sys.stdout, _sys.stderr):
            try:
                f.flush()
            except Exception:  # noqa: BLE001 - a closed stream is not our concern
                pass
        method = self._start_method or get_start_method()
        if method != 'fork':
            self._start_by(method)
            return
        pid = _os.fork()
        if pid == 0:
            if self._daemon:
                _arm_parent_death(self._parent_pid)
            _forget_resource_sharer()
            _os._exit(self._bootstrap())
        self._pid = pid
        try:
            self._pidfd = _os.pidfd_open(pid)
        except (AttributeError, OSError):
            self._pidfd = -1
        _children.add(self)

    def _start_by(self, method):
        global _pickling_for_child
        if method == 'spawn':
            from .spawn import Popen
        else:
            from .forkserver import Popen
        _pickling_for_child = True
        try:
            self._popen = Popen(self)
        finally:
            _pickling_for_child = False
        self._pid = self._popen.pid
        _children.add(self)

    def __getstate__(self):
        d = dict(self.__dict__)
        d['_popen'] = None
        d['_pidfd'] = -1
        return d

    def _bootstrap(self):
        global _current, _parent, _parent_of
        code = 1
        try:
            # parent_process() makes its answer when asked: each object made
            # or touched here is a page copied from the parent (P6).
            _parent, _parent_of = None, (current_process(), self._parent_pid)
            _current = self
            if _children:
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
                _sys.stderr.write('Process %s:\n' % self.name)
                _traceback.print_exc()
                code = 1
            finally:
                if _children:
                    _join_children_at_exit()
        finally:
            _flush_std()
        return code & 0xFF if code >= 0 else 1

    def _poll(self, timeout):
        """Reap the child if it finished within timeout (None: forever)."""
        if self._exitcode is not None:
            return
        if self._popen is not None:
            code = self._popen.wait(timeout)
            if code is not None:
                self._exitcode = code
                self._popen.close()
                _children.discard(self)
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
        if self._closed:
            raise ValueError('process object is closed')
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
        if self._popen is not None:
            if self._exitcode is None and sig == _signal.SIGTERM:
                self._popen.terminate()
            elif self._exitcode is None:
                self._popen.kill()
            return
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
        if self._popen is not None:
            self._popen.close()
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
        if self._name is None:
            self._name = 'Process-' + ':'.join(map(str, self._identity))
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
        if self._popen is not None:
            return self._popen.sentinel
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
        return '<%s name=%r %s%s>' % (type(self).__name__, self.name, state,
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


class ForkProcess(Process):
    """A Process started by fork (get_context('fork').Process)."""

    _start_method = 'fork'


class SpawnProcess(Process):
    """A Process started by spawn: a fresh interpreter (get_context('spawn').Process)."""

    _start_method = 'spawn'


class ForkServerProcess(Process):
    """A Process forked by the forkserver (get_context('forkserver').Process)."""

    _start_method = 'forkserver'


# Each context's Process is its class itself (see context.ForkContext).
from . import context as _context  # noqa: E402
_context.ForkContext.Process = ForkProcess
_context.SpawnContext.Process = SpawnProcess
_context.ForkServerContext.Process = ForkServerProcess


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
    global _parent
    if _parent is None and _parent_of is not None:
        _parent = _ProcessInfo(_parent_of[0].name, _parent_of[1])
    return _parent


def _reap_finished():
    if _children:
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
class _Handle:
    """A weft object this process holds a handle of: close() destroys the
    handle once (other processes keep theirs; a named object lives on), and
    garbage collection closes it too. Subclasses name their destroy function."""

    _h = None
    _destroy = None

    def close(self):
        h, self._h = self._h, None
        if h is not None:
            type(self)._destroy(h)

    def __del__(self):
        if getattr(self, '_h', None) is not None:
            self.close()


class Lock(_weft.MpLock):
    """A process-shared lock (multiprocessing.Lock). With ``name=`` it is a named
    weft lock other processes open with weft_lock_open(). Raises OwnerDeadError
    (lock held) when the previous holder died holding it.

    Unlike multiprocessing's (a POSIX semaphore), weft's process-scope lock is
    robust, so it knows its holder: only the thread that took it may release it
    (another raises weft.WeftPermissionError).

    ``acquire(block=True, timeout=None)``, ``release()``, ``locked()``,
    ``mark_consistent()`` and ``with lock:`` are native (weft._weft.MpLock).
    Taking it again in the thread that holds it fails (False) when not
    blocking, after the timeout when there is one, and raises
    weft.WeftDeadlockError instead of hanging forever without one."""

    def __init__(self, *, name=None):
        self._init(name, 0)
        self.name = name

    def __reduce__(self):
        """Named: opened by name in the process that unpickles it (spawn, forkserver)."""
        if not self.name:
            _forbid_pickle(self)
        return (_rebuild, ('Lock', self.name, None))

    def close(self):
        """Release this process's handle (the creator of a named lock removes the name)."""
        self._close()

    def __repr__(self):
        return '<Lock(owner=%s)>' % ('SomeOtherProcess' if self._h and self.locked() else 'None')


class RLock(_Handle):
    """A process-shared re-entrant lock (multiprocessing.RLock), owned by one
    thread of one process."""

    _destroy = staticmethod(_weft.weft_rlock_destroy)

    def __init__(self, *, name=None):
        self._h = _weft.py_mp_rlock_create(name)
        self.name = name

    def __reduce__(self):
        """Named: opened by name in the process that unpickles it (spawn, forkserver)."""
        if not self.name:
            _forbid_pickle(self)
        return (_rebuild, ('RLock', self.name, None))

    def acquire(self, block=True, timeout=None):
        return _weft.py_mpx_rlock_acquire(self._h, _ns(timeout) if block else 0)

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


class Semaphore(_Handle):
    """A process-shared counting semaphore (multiprocessing.Semaphore)."""

    _destroy = staticmethod(_weft.weft_semaphore_destroy)

    _bound = 0

    def __init__(self, value=1, *, name=None):
        if value < 0:
            raise ValueError('semaphore initial value must be >= 0')
        self._h = _weft.py_mpx_semaphore_create(value, value if self._bound else 0, name)
        self.name = name

    def __reduce__(self):
        """Named: opened by name in the process that unpickles it (spawn, forkserver)."""
        if not self.name:
            _forbid_pickle(self)
        return (_rebuild, (type(self).__name__, self.name, None))

    def acquire(self, block=True, timeout=None):
        return _weft.py_mpx_semaphore_acquire(self._h, _ns(timeout) if block else 0)

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


class BoundedSemaphore(Semaphore):
    """A semaphore whose value may never exceed its initial value."""

    _bound = 1


class Event(_Handle):
    """A process-shared event (multiprocessing.Event)."""

    _destroy = staticmethod(_weft.weft_event_destroy)

    def __init__(self, *, name=None):
        self._h = _weft.py_mpx_event_create(name)
        self.name = name

    def __reduce__(self):
        """Named: opened by name in the process that unpickles it (spawn, forkserver)."""
        if not self.name:
            _forbid_pickle(self)
        return (_rebuild, ('Event', self.name, None))

    def is_set(self):
        return bool(_weft.weft_event_is_set(self._h))

    def set(self):
        _weft.weft_event_set(self._h)

    def clear(self):
        _weft.weft_event_clear(self._h)

    def wait(self, timeout=None):
        """Wait until set, up to timeout seconds; return whether it is set."""
        return _weft.py_mpx_event_wait(self._h, _ns(timeout))


class Condition(_Handle):
    """A process-shared condition (multiprocessing.Condition) over a Lock or
    RLock of this module (default: a new RLock).

    With ``name=`` (a weft extension; what a spawn or forkserver context's
    ``Condition()`` does) it is a named weft condition with a lock of its own
    (a Lock: not re-entrant), which other processes open by name
    (``weft_condition_open()``), and which is pickled by name to spawn and
    forkserver children. A named condition takes no ``lock``: weft opens a
    condition by name with the lock it was made with."""

    _destroy = staticmethod(_weft.weft_condition_destroy)

    def __init__(self, lock=None, *, name=None):
        self.name = name
        if name is not None:
            if lock is not None:
                raise ValueError('a named Condition uses a lock of its own (the one other processes '
                                 'find by its name); do not give it a lock')
            self._h = _weft.py_pymp_condition_create(name)
            self._lock = None
        else:
            if lock is None:
                lock = RLock()
            if isinstance(lock, Lock):
                self._h = _weft.py_mp_condition_create(lock._h, None)
            elif isinstance(lock, RLock):
                self._h = _weft.py_mp_condition_create(None, lock._h)
            else:
                raise TypeError('expected a weft.multiprocessing Lock or RLock')
            self._lock = lock
        try:
            self._stamp_h, addr = _weft.py_mp_array_create(7, 1, name and name + _STAMP_SUFFIX)
        except BaseException:
            self.close()
            raise
        self._stamp = _ctypes.c_int64.from_address(addr)

    # Ctrl-C in the main thread: there a wait runs in slices of _SLICE_NS and
    # a pending KeyboardInterrupt is raised between them (lock held). A slice
    # that times out leaves the waiters before it re-takes the lock, so a
    # notify made in that gap would miss it: every notify stamps the time in
    # shared memory (_stamp, next to the condition; a C peer's notify does
    # not), and a slice that timed out while a notify came at or after its
    # deadline returns True, as notified (a spurious wake-up at worst, which
    # a process-scope condition allows).
    _stamp = None
    _stamp_h = None

    def close(self):
        h, self._stamp_h = self._stamp_h, None
        self._stamp = None
        if h is not None:
            _weft.weft_array_destroy(h)
        super().close()

    def __reduce__(self):
        """Named: opened by name in the process that unpickles it (spawn, forkserver)."""
        if not self.name:
            if self._lock is not None and self._lock.name and _pickling_for_child:
                raise RuntimeError('a Condition over a lock you give can only be shared with fork '
                                   'children (weft opens a condition by name with its own lock): '
                                   'make it with get_context(\'spawn\').Condition() and no lock')
            _forbid_pickle(self)
        return (_rebuild, ('Condition', self.name, None))

    def acquire(self, block=True, timeout=None):
        return _weft.py_mpx_condition_acquire(self._h, _ns(timeout) if block else 0)

    def release(self):
        if self._lock is not None:
            self._lock.release()
            return
        try:
            _weft.weft_condition_release(self._h)
        except _weft.WeftError as e:
            if e.name in ('WEFT_ESTATE', 'WEFT_EPERM'):
                raise ValueError('semaphore or lock released too many times') from None
            raise

    def mark_consistent(self):
        """After OwnerDeadError and a repair: make the condition's lock normal again (still held)."""
        _weft.weft_condition_mark_consistent(self._h)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()

    def wait(self, timeout=None):
        """Release the lock, wait for a notify up to timeout seconds, re-take it."""
        ns = _ns(timeout)
        if _thread.get_ident() != _std_threading.main_thread().ident:
            return _weft.py_mpx_condition_wait(self._h, ns)
        end = None if ns < 0 else _monotonic_ns() + ns
        while True:
            start = _monotonic_ns()
            left = _SLICE_NS if end is None else max(0, min(_SLICE_NS, end - start))
            if _weft.py_mpx_condition_wait(self._h, left):
                return True
            if self._stamp.value >= start + left:
                return True
            if end is not None and _monotonic_ns() >= end:
                return False

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
        self._stamp.value = _monotonic_ns()

    def notify_all(self):
        _weft.weft_condition_notify_all(self._h)
        self._stamp.value = _monotonic_ns()


class Barrier(_wthreading.Barrier):
    """A process-shared barrier (multiprocessing.Barrier): parties threads of any
    processes wait for each other; the last to arrive runs action (an anonymous
    barrier only: a named one, ``name=``, has none) before the others go on.
    BrokenBarrierError (threading's) when it is broken, reset or times out."""

    def __init__(self, parties, action=None, timeout=None, *, name=None):
        if parties < 1:
            raise ValueError('parties must be > 0')
        if action is not None and name:
            raise ValueError('a named barrier has no action')
        self._action = action
        self._timeout = timeout
        self._action_errors = {}
        self._runner = self._run_action if action is not None else None
        self._h = _weft.py_mpx_barrier_create(parties, self._runner, name)
        self.name = name

    def __reduce__(self):
        """Named: opened by name in the process that unpickles it (spawn, forkserver)."""
        if not self.name:
            _forbid_pickle(self)
        return (_rebuild, ('Barrier', self.name, self._timeout))


# ---- queues --------------------------------------------------------------------------
class Queue(_Handle):
    """A process-shared FIFO of picklable objects (multiprocessing.Queue).

    maxsize <= 0 means unbounded in items (the shared ring still has a byte
    size, max_bytes, 0 = weft's default). With ``name=`` it is a named weft
    queue that C code opens with weft_queue_open() and reads with
    weft_queue_get_bytes() (each message is one pickle).
    """

    _destroy = staticmethod(_weft.weft_queue_destroy)

    def __init__(self, maxsize=0, *, name=None, max_bytes=0):
        self._h = _weft.py_mp_queue_create(name, maxsize if maxsize > 0 else 0, max_bytes)
        self._maxsize = maxsize
        self.name = name

    def __reduce__(self):
        """Named: opened by name in the process that unpickles it (spawn, forkserver)."""
        if not self.name:
            _forbid_pickle(self)
        return (_rebuild, (type(self).__name__, self.name, self._maxsize))

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
        if not _weft.py_mpx_queue_put(self._h, data, _ns(timeout) if block else 0):
            raise _std_queue.Full

    def get(self, block=True, timeout=None):
        """Take the oldest object; queue.Empty when none comes in time."""
        return _pickle.loads(self.get_bytes(block, timeout))

    def get_bytes(self, block=True, timeout=None):
        self._check()
        data = _weft.py_mpx_queue_get(self._h, _ns(timeout) if block else 0)
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


    def join_thread(self):
        """Nothing to join: weft's queue has no feeder thread."""

    def cancel_join_thread(self):
        """Nothing to cancel: weft's queue has no feeder thread."""


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
        return _weft.py_mpx_queue_join(self._h, _ns(timeout))


class SimpleQueue:
    """An unbounded process-shared FIFO with get/put/empty/close."""

    def __init__(self, *, name=None):
        self._q = Queue(name=name)

    def __reduce__(self):
        """Named: opened by name in the process that unpickles it (spawn, forkserver)."""
        if not self._q.name:
            _forbid_pickle(self)
        return (_rebuild, ('SimpleQueue', self._q.name, None))

    def put(self, obj):
        self._q.put(obj)

    def get(self):
        return self._q.get()

    def empty(self):
        return self._q.empty()

    def close(self):
        self._q.close()


# ---- pipes ---------------------------------------------------------------------------
class Connection(_Handle):
    """One end of a Pipe(): send/recv pickle objects, *_bytes move raw bytes."""

    _destroy = staticmethod(_weft.weft_conn_destroy)

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
            data = _weft.py_mpx_conn_recv(self._h, -1)
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
        return _weft.py_mpx_conn_poll(self._h, _ns(timeout))

    def fileno(self):
        self._check(None)
        return _weft.weft_conn_fd(self._h)

    def __reduce__(self):
        """Pickled (a spawn/forkserver child's argument, a Queue or Pipe message),
        a Connection carries a duplicate of its descriptor as the stdlib's does
        (multiprocessing.resource_sharer: the receiver fetches it over a Unix
        socket with SCM_RIGHTS, after the authkey handshake), so the receiver
        gets this end of the same stream. Close your own copy if you no longer
        use it. Send an end before receiving on it here: what this handle has
        read ahead stays here."""
        self._check(None)
        from multiprocessing import resource_sharer
        return (_rebuild_connection, (resource_sharer.DupFd(_weft.weft_conn_fd(self._h)),
                                      self._readable, self._writable))


    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _rebuild_connection(dupfd, readable, writable):
    """Unpickle a Connection: fetch the descriptor and put it under a fresh weft
    handle (a new pipe end whose own descriptor it replaces, close-on-exec)."""
    fd = dupfd.detach()
    try:
        a, b = _weft.py_mp_pipe(1)
        _weft.weft_conn_destroy(b)
        try:
            _os.dup2(fd, _weft.weft_conn_fd(a), inheritable=False)
        except BaseException:
            _weft.weft_conn_destroy(a)
            raise
    finally:
        _os.close(fd)
    return Connection(a, readable, writable)


def _forget_resource_sharer():
    """In a fork child: the stdlib's resource sharer (which serves the
    descriptors of Connections sent from here) has no thread here; start
    afresh, as the stdlib's own fork children do."""
    rs = _sys.modules.get('multiprocessing.resource_sharer')
    if rs is not None:
        rs._resource_sharer._afterfork()


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


def _array_release(h):
    try:
        _weft.weft_array_release(h)
    except _weft.WeftError as e:
        if e.name in ('WEFT_ESTATE', 'WEFT_EPERM'):
            raise ValueError('semaphore or lock released too many times') from None
        raise


class _ArrayLock:
    """The lock inside a shared Value/Array (get_lock())."""

    def __init__(self, owner):
        self._owner = owner

    def acquire(self, block=True, timeout=None):
        return _weft.py_mpx_array_acquire(self._owner._h, _ns(timeout) if block else 0)

    def release(self):
        _array_release(self._owner._h)

    def mark_consistent(self):
        _weft.weft_array_mark_consistent(self._owner._h)

    # `with value.get_lock():` goes straight to the C calls (one Python frame each way).
    def __enter__(self):
        return _weft.py_mpx_array_acquire(self._owner._h, -1)

    def __exit__(self, *exc):
        _array_release(self._owner._h)


class _Shared(_Handle):
    _destroy = staticmethod(_weft.weft_array_destroy)

    def __init__(self, wtype, ctype, length, lock, name=None):
        if lock not in (True, False, None):
            raise TypeError('lock must be True or False (an outside lock is not supported)')
        self._h, addr = _weft.py_mp_array_create(wtype, length, name)
        self._setup(ctype, length, addr, name)

    def _setup(self, ctype, length, addr, name):
        self._ctype = ctype
        self.name = name
        self._lock = _ArrayLock(self)
        self._obj = (ctype * length).from_address(addr) if length else (ctype * 0)()

    def __reduce__(self):
        """Named: opened by name in the process that unpickles it (spawn, forkserver)."""
        if not self.name:
            _forbid_pickle(self)
        return (_rebuild, (type(self).__name__, self.name, self._ctype))

    def get_lock(self):
        return self._lock

    def get_obj(self):
        return self._obj

    def acquire(self, *a, **k):
        return self._lock.acquire(*a, **k)

    def release(self):
        self._lock.release()

    def __enter__(self):
        return _weft.py_mpx_array_acquire(self._h, -1)

    def __exit__(self, *exc):
        _array_release(self._h)

    def close(self):
        self._obj = None
        super().close()


class _Value(_Shared):
    def __init__(self, typecode_or_type, *args, lock=True, name=None):
        wtype, ctype = _resolve(typecode_or_type)
        super().__init__(wtype, ctype, 1, lock, name)
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
    def __init__(self, typecode_or_type, size_or_initializer, lock=True, name=None):
        wtype, ctype = _resolve(typecode_or_type)
        if isinstance(size_or_initializer, int):
            init, length = None, size_or_initializer
        else:
            init = list(size_or_initializer)
            length = len(init)
        if length < 0:
            raise ValueError('array size must be >= 0')
        super().__init__(wtype, ctype, length, lock, name)
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


def Value(typecode_or_type, *args, lock=True, name=None):
    """A shared value (its own process-shared lock: get_lock()); name= (weft
    extension) makes it a named weft_array that C opens with weft_array_open()."""
    return _Value(typecode_or_type, *args, lock=lock, name=name)


def Array(typecode_or_type, size_or_initializer, *, lock=True, name=None):
    """A shared array of a size or initialized from a sequence (get_lock());
    name= as for Value."""
    return _Array(typecode_or_type, size_or_initializer, lock=lock, name=name)


def RawValue(typecode_or_type, *args, name=None):
    """A shared value without a lock, as the stdlib's: the ctypes object itself
    (``.value`` is a C attribute), living in a weft shared array; name= as for Value."""
    wtype, ctype = _resolve(typecode_or_type)
    h, addr = _weft.py_mp_array_create(wtype, 1, name)
    obj = _raw_class(ctype).from_address(addr)
    obj._h = h
    obj.name = name
    if args:
        obj.value = args[0]
    return obj


_raw_classes = {}


def _raw_class(ctype):
    """ctype's subclass whose instances own the weft_array their bytes live in."""
    cls = _raw_classes.get(ctype)
    if cls is None:
        def close(self):
            """Release this process's handle (the bytes go away with the last one)."""
            h = self.__dict__.pop('_h', None)
            if h is not None:
                _weft.weft_array_destroy(h)

        def __reduce__(self):  # noqa: N807
            if not self.name:
                _forbid_pickle(self)
            return (_rebuild_raw, (self.name, ctype))

        cls = type('Raw_' + ctype.__name__, (ctype,), {
            '__doc__': 'A %s in shared memory (RawValue).' % ctype.__name__,
            '__module__': __name__, 'close': close, '__del__': close, '__reduce__': __reduce__,
            'get_obj': lambda self: self})
        _raw_classes[ctype] = cls
    return cls


def _rebuild_raw(name, ctype):
    """Unpickle a named RawValue: open it by name in this process."""
    h, addr, _wtype, _length = _weft.py_mpx_array_open(name)
    obj = _raw_class(ctype).from_address(addr)
    obj._h = h
    obj.name = name
    return obj


def RawArray(typecode_or_type, size_or_initializer):
    """A shared array whose lock you need not use."""
    return _Array(typecode_or_type, size_or_initializer, lock=False)


_OPEN_KINDS = {'Lock': 0, 'RLock': 1, 'Semaphore': 2, 'BoundedSemaphore': 2, 'Event': 3,
               'Queue': 4, 'JoinableQueue': 4, 'shared_dict': 5, 'Barrier': 6}


def _rebuild(kind, name, extra):
    """Unpickle a named object: open it by name in this process."""
    cls = globals()[kind]
    obj = cls.__new__(cls)
    if kind in ('_Value', '_Array'):
        h, addr, _wtype, length = _weft.py_mpx_array_open(name)
        obj._h = h
        obj._setup(extra, length, addr, name)
        return obj
    if kind == 'SimpleQueue':
        obj._q = _rebuild('Queue', name, 0)
        return obj
    if kind == 'Lock':
        obj._init(name, 1)
    elif kind == 'Condition':
        obj._h = _weft.weft_condition_open(name)
        obj._lock = None
        try:
            obj._stamp_h, addr, _wtype, _length = _weft.py_mpx_array_open(name + _STAMP_SUFFIX)
        except BaseException:
            obj.close()
            raise
        obj._stamp = _ctypes.c_int64.from_address(addr)
    else:
        obj._h = _weft.py_mpx_open(_OPEN_KINDS[kind], name)
    obj.name = name
    if kind in ('Queue', 'JoinableQueue'):
        obj._maxsize = extra
    if kind == 'Barrier':
        obj._action, obj._timeout, obj._action_errors, obj._runner = None, extra, {}, None
    return obj


# ---- named shared dict ---------------------------------------------------------------
class shared_dict(_Handle):  # noqa: N801 - a factory-like name, as the docs call it
    """A named weft dict (<weft/dict.h>) of str keys and bytes values, shared
    with any process (C: weft_dict_open(name)). Opens the name when it exists,
    else creates it (then the name goes away when this object is closed).
    str values are stored UTF-8 encoded; values come back as bytes.
    ``name=None`` makes an anonymous dict shared with forked children."""

    _destroy = staticmethod(_weft.weft_dict_destroy)

    def __init__(self, name=None):
        self._h = _weft.py_mp_dict_create(name, 1)
        self.name = name

    def __reduce__(self):
        """Named: opened by name in the process that unpickles it (spawn, forkserver)."""
        if not self.name:
            _forbid_pickle(self)
        return (_rebuild, ('shared_dict', self.name, None))

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


    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class AuthenticationError(ProcessError, _std_mp_context.AuthenticationError):
    """multiprocessing.AuthenticationError: a Listener/Client key did not match
    (also the stdlib's)."""


def Manager():
    """A started SyncManager (weft.multiprocessing.managers): its dict() is a weft
    shared dict, its Lock(), Queue(), ... weft process-scope objects; no server
    process. Use it as a context manager, as the stdlib's."""
    from .managers import SyncManager
    m = SyncManager()
    m.start()
    return m


def freeze_support():
    """Nothing to do (frozen Windows programs only)."""


def set_executable(executable):
    """The interpreter spawn children and the forkserver run."""
    from . import spawn
    spawn.set_executable(executable)


def set_forkserver_preload(module_names):
    """Modules the forkserver imports when it starts."""
    from . import forkserver
    forkserver.set_forkserver_preload(module_names)


def Pool(processes=None, initializer=None, initargs=(), maxtasksperchild=None):
    """A process pool (weft.multiprocessing.pool.Pool) of the default start method;
    a crashed worker fails only its own task and the pool goes on."""
    from .pool import Pool as _Pool
    return _Pool(processes, initializer, initargs, maxtasksperchild, context=get_context())


__all__ += ['Pool']
