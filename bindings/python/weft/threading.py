"""Python's ``threading``, on weft.

``import weft.threading as threading`` and a program written for the stdlib
runs on weft: threads are weft threads (``weft_thread``), locks, conditions,
semaphores, events and barriers are weft's, and every blocking call releases
the GIL only while it really waits.

Differences from the stdlib, all deliberate:

- ``ident`` / ``get_ident()`` are weft's thread idents: never reused within
  the process (the stdlib's may be reused once a thread ended).
- ``Condition(lock)`` with a lock that is not a weft ``Lock``/``RLock``
  returns the stdlib's ``threading.Condition`` over that lock (weft's
  condition needs a weft lock underneath).
- ``enumerate()`` lists the threads this module started, the main thread,
  and foreign threads (not started here) that called ``current_thread()``
  while they are alive.
"""

import _thread
import atexit as _atexit
import itertools as _itertools
import os as _os
import sys as _sys
import time as _time
import warnings as _warnings
import weakref as _weakref
import threading as _std

from . import _weft
from ._errors import WeftError, WeftPermissionError  # noqa: F401

__all__ = ['get_ident', 'get_native_id', 'active_count', 'Condition', 'current_thread', 'enumerate',
           'main_thread', 'TIMEOUT_MAX', 'Event', 'Lock', 'RLock', 'Semaphore', 'BoundedSemaphore',
           'Thread', 'Barrier', 'BrokenBarrierError', 'Timer', 'ThreadError', 'ExceptHookArgs',
           'excepthook', 'local']

#: Largest timeout (seconds) a blocking call accepts.
TIMEOUT_MAX = _std.TIMEOUT_MAX
#: Raised by the low-level thread API; RuntimeError.
ThreadError = _thread.error
#: Raised by ``Barrier.wait()`` when the barrier is broken or reset (the stdlib's class).
BrokenBarrierError = _std.BrokenBarrierError
#: The argument of ``excepthook`` (the stdlib's type).
ExceptHookArgs = _std.ExceptHookArgs

Lock = _weft.Lock
RLock = _weft.RLock
_FOREVER = -1
_NS_MAX = (1 << 63) - 1


_SLICE_NS = 50_000_000  # how long a main-thread Condition.wait sleeps between signal checks
_monotonic_ns = _time.monotonic_ns


def _wait_ns(timeout):
    """Seconds -> ns for waits that treat a negative timeout as 'do not wait'."""
    if timeout is None:
        return _FOREVER
    if timeout <= 0:
        return 0
    ns = int(timeout * 1e9)
    return ns if ns < _NS_MAX else _FOREVER


def get_ident():
    """Return the calling thread's weft ident: a non-zero integer never reused in this process."""
    return _weft.weft_thread_get_ident()


def get_native_id():
    """Return the kernel's id (TID) of the calling thread."""
    return _weft.weft_thread_get_native_id()


# ---- Condition ------------------------------------------------------------------------


class Condition:
    """Condition(lock=None): a condition variable (threading.Condition) on weft_condition.

    ``lock`` must be a weft ``Lock`` or ``RLock`` (a new ``RLock`` when None).
    Given any other lock, the constructor returns the stdlib's
    ``threading.Condition`` over it.
    """

    def __new__(cls, lock=None):
        if lock is not None and not isinstance(lock, (Lock, RLock)):
            return _std.Condition(lock)
        return super().__new__(cls)

    def __init__(self, lock=None):
        if lock is None:
            lock = RLock()
        self._lock = lock
        self._h = _weft.py_condition_create(lock)
        # Export the lock's methods, as the stdlib does.
        self.acquire = lock.acquire
        self.release = lock.release
        if hasattr(lock, '_release_save'):
            self._release_save = lock._release_save
            self._acquire_restore = lock._acquire_restore
            self._is_owned = lock._is_owned

    def __del__(self, _destroy=_weft.weft_condition_destroy):
        h, self._h = getattr(self, '_h', None), None
        if h is not None:
            _destroy(h)

    def __enter__(self):
        return self._lock.__enter__()

    def __exit__(self, *args):
        return self._lock.__exit__(*args)

    def __repr__(self):
        return '<Condition(%s)>' % (self._lock,)

    def _release_save(self):
        self._lock.release()

    def _acquire_restore(self, x):
        self._lock.acquire()

    def _is_owned(self):
        if self._lock.acquire(False):
            self._lock.release()
            return False
        return True

    # Ctrl-C in the main thread: a wait there runs in slices of _SLICE_NS (the
    # other threads never run signal handlers and wait in one call), and
    # between slices, back in Python, a pending KeyboardInterrupt is raised
    # (with the lock held, as the stdlib's wait leaves it). A slice that times
    # out has left the waiters' queue before it re-takes the lock, so a notify
    # made in that gap would not find it: notify() stamps the time while a
    # main-thread waiter exists (_main_waiting, read and written under the
    # lock), and a slice that timed out while a notify came at or after its
    # deadline returns True (a notify was meant for it). A notify before the
    # deadline found it queued: the C wait then returned True itself, or the
    # notify went, in order, to waiters ahead of it. The cost: the waiter goes
    # to the back of the queue each slice, and a notify that raced a slice's
    # end may wake it as well as the waiter it went to.
    _main_waiting = 0
    _notified_ns = 0

    def wait(self, timeout=None):
        """Release the lock, wait until notified or timeout seconds passed, re-acquire it.

        Return False on timeout, True otherwise. RuntimeError if the lock is not held.
        In the main thread, Ctrl-C interrupts the wait (KeyboardInterrupt, lock held).
        """
        if _thread.get_ident() != _std.main_thread().ident:
            return _weft.py_condition_wait(self._h, _wait_ns(timeout))
        ns = _wait_ns(timeout)
        end = None if ns < 0 else _monotonic_ns() + ns
        if not self._is_owned():
            raise RuntimeError('cannot wait on un-acquired lock')
        self._main_waiting += 1
        try:
            while True:
                start = _monotonic_ns()
                left = _SLICE_NS if end is None else max(0, min(_SLICE_NS, end - start))
                if _weft.py_condition_wait(self._h, left):
                    return True
                if self._notified_ns >= start + left:
                    return True
                if end is not None and _monotonic_ns() >= end:
                    return False
        finally:
            self._main_waiting -= 1

    def wait_for(self, predicate, timeout=None):
        """Wait until predicate() is true (checked under the lock); return its last value."""
        endtime = None
        waittime = timeout
        result = predicate()
        while not result:
            if waittime is not None:
                if endtime is None:
                    endtime = _weft.weft_monotonic_ns() + int(waittime * 1e9)
                else:
                    waittime = (endtime - _weft.weft_monotonic_ns()) / 1e9
                    if waittime <= 0:
                        break
            self.wait(waittime)
            result = predicate()
        return result

    def notify(self, n=1):
        """Wake up to n threads waiting on this condition. RuntimeError if the lock is not held."""
        _weft.weft_condition_notify(self._h, min(int(n), 0x7fffffff))
        if self._main_waiting:
            self._notified_ns = _monotonic_ns()

    def notify_all(self):
        """Wake every thread waiting on this condition. RuntimeError if the lock is not held."""
        _weft.weft_condition_notify_all(self._h)
        if self._main_waiting:
            self._notified_ns = _monotonic_ns()

    def notifyAll(self):
        """Deprecated alias of notify_all()."""
        _warnings.warn('notifyAll() is deprecated, use notify_all() instead',
                       DeprecationWarning, stacklevel=2)
        self.notify_all()


# ---- Semaphore ----------------------------------------------------------------------------


class Semaphore:
    """Semaphore(value=1): a counter acquire() takes from and release() adds to (weft_semaphore)."""

    _bound = 0

    def __init__(self, value=1):
        if value < 0:
            raise ValueError('semaphore initial value must be >= 0')
        self._h = _weft.py_semaphore_create(value, self._bound and value)

    def __del__(self, _destroy=_weft.weft_semaphore_destroy):
        h, self._h = getattr(self, '_h', None), None
        if h is not None:
            _destroy(h)

    def __repr__(self):
        cls = self.__class__
        return (f'<{cls.__module__}.{cls.__qualname__} at {id(self):#x}:'
                f' value={self._value}>')

    @property
    def _value(self):
        return _weft.weft_semaphore_value(self._h)

    def acquire(self, blocking=True, timeout=None):
        """Take one unit, waiting (up to timeout seconds) while the value is 0; return whether taken."""
        if not blocking:
            if timeout is not None:
                raise ValueError("can't specify timeout for non-blocking acquire")
            return _weft.py_semaphore_acquire(self._h, 0)
        return _weft.py_semaphore_acquire(self._h, _wait_ns(timeout))

    def __enter__(self):
        return _weft.py_semaphore_acquire(self._h, _FOREVER)

    def release(self, n=1):
        """Add n units, waking as many waiters."""
        if n < 1:
            raise ValueError('n must be one or more')
        _weft.weft_semaphore_release(self._h, n)

    def __exit__(self, *args):
        _weft.weft_semaphore_release(self._h, 1)


class BoundedSemaphore(Semaphore):
    """BoundedSemaphore(value=1): a Semaphore whose release() raises ValueError above the initial value."""

    _bound = 1

    def __init__(self, value=1):
        super().__init__(value)
        self._initial_value = value

    def __repr__(self):
        cls = self.__class__
        return (f'<{cls.__module__}.{cls.__qualname__} at {id(self):#x}:'
                f' value={self._value}/{self._initial_value}>')

    def release(self, n=1):
        """Add n units; ValueError (nothing added) if that would exceed the initial value."""
        if n < 1:
            raise ValueError('n must be one or more')
        if self._initial_value == 0:
            raise ValueError('Semaphore released too many times')
        _weft.weft_semaphore_release(self._h, n)

    def __exit__(self, *args):
        self.release()


# ---- Event -----------------------------------------------------------------------------------


class Event:
    """Event(): a flag threads wait for (threading.Event) on weft_event."""

    def __init__(self):
        self._h = _weft.weft_event_create(None)

    def __del__(self, _destroy=_weft.weft_event_destroy):
        h, self._h = getattr(self, '_h', None), None
        if h is not None:
            _destroy(h)

    def __repr__(self):
        cls = self.__class__
        status = 'set' if self.is_set() else 'unset'
        return f'<{cls.__module__}.{cls.__qualname__} at {id(self):#x}: {status}>'

    def _at_fork_reinit(self):
        was = self.is_set()
        old, self._h = self._h, _weft.weft_event_create(None)
        _weft.weft_event_destroy(old)
        if was:
            self.set()

    def is_set(self):
        """Return whether the flag is set."""
        return bool(_weft.weft_event_is_set(self._h))

    def isSet(self):
        """Deprecated alias of is_set()."""
        _warnings.warn('isSet() is deprecated, use is_set() instead',
                       DeprecationWarning, stacklevel=2)
        return self.is_set()

    def set(self):
        """Set the flag and wake every waiter."""
        _weft.weft_event_set(self._h)

    def clear(self):
        """Reset the flag."""
        _weft.weft_event_clear(self._h)

    def wait(self, timeout=None):
        """Wait until the flag is set or timeout seconds passed; return the flag."""
        return _weft.py_event_wait(self._h, _wait_ns(timeout))


# ---- Barrier ---------------------------------------------------------------------------------


class Barrier:
    """Barrier(parties, action=None, timeout=None): parties threads wait for each other (weft_barrier).

    The last thread to arrive runs ``action`` before the others are released;
    if it raises, the barrier breaks and that thread gets the exception.
    """

    def __init__(self, parties, action=None, timeout=None):
        if parties < 1:
            raise ValueError('parties must be > 0')
        self._action = action
        self._timeout = timeout
        self._action_errors = {}
        self._runner = self._run_action if action is not None else None
        self._h = _weft.py_barrier_create(parties, self._runner)

    def __del__(self, _destroy=_weft.weft_barrier_destroy):
        h, self._h = getattr(self, '_h', None), None
        if h is not None:
            _destroy(h)

    def __repr__(self):
        cls = self.__class__
        if self.broken:
            return f'<{cls.__module__}.{cls.__qualname__} at {id(self):#x}: broken>'
        return (f'<{cls.__module__}.{cls.__qualname__} at {id(self):#x}:'
                f' waiters={self.n_waiting}/{self.parties}>')

    def _run_action(self):
        try:
            self._action()
            return True
        except BaseException as e:  # noqa: B902 - handed to the waiting thread
            self._action_errors[get_ident()] = e
            return False

    def wait(self, timeout=None):
        """Wait for the other parties; return this thread's index in 0..parties-1.

        BrokenBarrierError if the barrier is broken, reset or times out meanwhile.
        """
        if timeout is None:
            timeout = self._timeout
        kind, index = _weft.py_barrier_wait(self._h, _wait_ns(timeout))
        if kind == 0:
            return index
        if kind == 3:
            exc = self._action_errors.pop(get_ident(), None)
            if exc is not None:
                try:
                    raise exc
                finally:
                    exc = None
        if kind == 1:
            _weft.weft_barrier_abort(self._h)
        raise BrokenBarrierError

    def reset(self):
        """Return the barrier to its empty state; current waiters get BrokenBarrierError."""
        _weft.weft_barrier_reset(self._h)

    def abort(self):
        """Break the barrier: current and future waiters get BrokenBarrierError until reset()."""
        _weft.weft_barrier_abort(self._h)

    @property
    def parties(self):
        """The number of threads that must wait together."""
        return _weft.weft_barrier_parties(self._h)

    @property
    def n_waiting(self):
        """The number of threads waiting now."""
        return _weft.weft_barrier_n_waiting(self._h)

    @property
    def broken(self):
        """Whether the barrier is broken."""
        return bool(_weft.weft_barrier_broken(self._h))


# ---- Thread ---------------------------------------------------------------------------------

_active = {}             # weft ident -> Thread started here (or the main thread)
_active_lock = Lock()
_counter = _itertools.count(1).__next__
_dummies = _thread._local()
_stack_size = 0


def _newname(name_template='Thread-%d'):
    return name_template % _counter()


class Thread:
    """Thread(group=None, target=None, name=None, args=(), kwargs=None, *, daemon=None).

    A thread of control running on a weft thread; subclass it and override
    run(), or pass target. join(timeout) releases the GIL while it waits.
    """

    _initialized = False

    def __init__(self, group=None, target=None, name=None, args=(), kwargs=None, *, daemon=None):
        assert group is None, 'group argument must be None for now'
        if kwargs is None:
            kwargs = {}
        if name:
            name = str(name)
        else:
            name = _newname('Thread-%d')
            if target is not None:
                try:
                    name += f' ({target.__name__})'
                except AttributeError:
                    pass
        self._target = target
        self._name = name
        self._args = args
        self._kwargs = kwargs
        if daemon is not None:
            if daemon and not getattr(_std, '_daemon_threads_allowed', lambda: True)():
                raise RuntimeError('daemon threads are disabled in this (sub)interpreter')
            self._daemonic = bool(daemon)
        else:
            self._daemonic = current_thread().daemon
        self._ident = None
        self._native_id = None
        self._handle = None
        self._started = Event()
        self._is_stopped = False
        self._initialized = True
        self._stderr = _sys.stderr

    def __del__(self, _destroy=_weft.weft_thread_destroy):
        h, self._handle = getattr(self, '_handle', None), None
        if h is not None:
            _destroy(h)

    def __repr__(self):
        assert self._initialized, 'Thread.__init__() was not called'
        status = 'initial'
        if self._started.is_set():
            status = 'started'
        if not self.is_alive() and self._started.is_set():
            status = 'stopped'
        if self._daemonic:
            status += ' daemon'
        if self._ident is not None:
            status += ' %s' % self._ident
        return '<%s(%s, %s)>' % (self.__class__.__name__, self._name, status)

    def start(self):
        """Start the thread's activity (at most once); returns once it runs."""
        if not self._initialized:
            raise RuntimeError('thread.__init__() not called')
        if self._handle is not None or self._started.is_set():
            raise RuntimeError('threads can only be started once')
        self._handle = _weft.py_thread_spawn(self._bootstrap, self._name, int(self._daemonic),
                                             _stack_size)
        self._started.wait()

    def run(self):
        """The thread's activity: calls target(*args, **kwargs). Override in a subclass."""
        try:
            if self._target is not None:
                self._target(*self._args, **self._kwargs)
        finally:
            del self._target, self._args, self._kwargs

    def _bootstrap(self):
        self._ident = _weft.weft_thread_get_ident()
        self._native_id = _weft.weft_thread_get_native_id()
        with _active_lock:
            _active[self._ident] = self
        try:
            self._started.set()
            try:
                self.run()
            except BaseException:  # noqa: B902 - reported through excepthook
                self._invoke_excepthook()
        finally:
            self._is_stopped = True
            with _active_lock:
                _active.pop(self._ident, None)

    def _invoke_excepthook(self):
        # As the stdlib's invoke_excepthook: the module's current hook gets
        # every exception (the default one ignores SystemExit); a failing
        # hook is reported through sys.excepthook.
        try:
            hook = excepthook
            args = ExceptHookArgs([*_sys.exc_info(), self])
            hook(args)
        except Exception as exc:
            exc.__suppress_context__ = True
            del exc
            stderr = _sys.stderr if _sys.stderr is not None else self._stderr
            print('Exception in threading.excepthook:', file=stderr, flush=True)
            if _sys.excepthook is not None:
                _sys.excepthook(*_sys.exc_info())
        finally:
            args = None

    def join(self, timeout=None):
        """Wait until the thread ends, or timeout seconds passed; check is_alive() afterwards."""
        if not self._initialized:
            raise RuntimeError('Thread.__init__() not called')
        if not self._started.is_set():
            raise RuntimeError('cannot join thread before it is started')
        if self is current_thread():
            raise RuntimeError('cannot join current thread')
        if self._handle is None:
            return
        _weft.py_thread_join(self._handle, _wait_ns(timeout))

    @property
    def name(self):
        """The thread's name (also its OS name, truncated to 15 bytes)."""
        assert self._initialized, 'Thread.__init__() not called'
        return self._name

    @name.setter
    def name(self, name):
        assert self._initialized, 'Thread.__init__() not called'
        self._name = str(name)
        if self._handle is not None and self.is_alive():
            try:
                _weft.weft_thread_set_name(self._handle, self._name)
            except WeftError:
                pass

    @property
    def ident(self):
        """The thread's weft ident, or None before it started."""
        assert self._initialized, 'Thread.__init__() not called'
        return self._ident

    @property
    def native_id(self):
        """The thread's kernel id (TID), or None before it started."""
        assert self._initialized, 'Thread.__init__() not called'
        return self._native_id

    def is_alive(self):
        """Whether the thread runs: from just before run() starts until just after it ends."""
        assert self._initialized, 'Thread.__init__() not called'
        if self._is_stopped or not self._started.is_set():
            return False
        if self._handle is None:
            return True
        return bool(_weft.weft_thread_is_alive(self._handle))

    @property
    def daemon(self):
        """Whether the thread is a daemon (not waited for at exit); set it before start()."""
        assert self._initialized, 'Thread.__init__() not called'
        return self._daemonic

    @daemon.setter
    def daemon(self, daemonic):
        if not self._initialized:
            raise RuntimeError('Thread.__init__() not called')
        if self._started.is_set():
            raise RuntimeError('cannot set daemon status of active thread')
        self._daemonic = bool(daemonic)

    def isDaemon(self):
        """Deprecated: read the daemon attribute."""
        _warnings.warn('isDaemon() is deprecated, get the daemon attribute instead',
                       DeprecationWarning, stacklevel=2)
        return self.daemon

    def setDaemon(self, daemonic):
        """Deprecated: set the daemon attribute."""
        _warnings.warn('setDaemon() is deprecated, set the daemon attribute instead',
                       DeprecationWarning, stacklevel=2)
        self.daemon = daemonic

    def getName(self):
        """Deprecated: read the name attribute."""
        _warnings.warn('getName() is deprecated, get the name attribute instead',
                       DeprecationWarning, stacklevel=2)
        return self.name

    def setName(self, name):
        """Deprecated: set the name attribute."""
        _warnings.warn('setName() is deprecated, set the name attribute instead',
                       DeprecationWarning, stacklevel=2)
        self.name = name


class _MainThread(Thread):
    def __init__(self):
        Thread.__init__(self, name='MainThread', daemon=False)
        self._ident = _weft.py_main_ident()
        self._native_id = _os.getpid()
        self._started.set()

    def is_alive(self):
        return True

    def join(self, timeout=None):
        raise RuntimeError('cannot join current thread' if self is current_thread()
                           else 'cannot join the main thread')


class _DummyThread(Thread):
    """A thread weft.threading did not start (C thread, stdlib thread), seen by current_thread()."""

    def __init__(self):
        Thread.__init__(self, name=_newname('Dummy-%d'), daemon=True)
        self._ident = get_ident()
        self._native_id = get_native_id()
        self._started.set()

    def is_alive(self):
        return True

    def join(self, timeout=None):
        raise RuntimeError('cannot join a dummy thread')


def current_thread():
    """Return the Thread object of the calling thread (a dummy one for threads not started here)."""
    ident = _weft.weft_thread_get_ident()
    t = _active.get(ident)
    if t is not None:
        return t
    try:
        return _dummies.thread
    except AttributeError:
        d = _dummies.thread = _DummyThread()
        return d


def currentThread():
    """Deprecated alias of current_thread()."""
    _warnings.warn('currentThread() is deprecated, use current_thread() instead',
                   DeprecationWarning, stacklevel=2)
    return current_thread()


def main_thread():
    """Return the main thread's Thread object."""
    return _main_thread


def enumerate():  # noqa: A001 - the stdlib's name
    """Return the list of live Thread objects: started here, the main thread."""
    with _active_lock:
        return [t for t in _active.values() if t.is_alive()]


def active_count():
    """Return the number of live Thread objects (len(enumerate()))."""
    return len(enumerate())


def activeCount():
    """Deprecated alias of active_count()."""
    _warnings.warn('activeCount() is deprecated, use active_count() instead',
                   DeprecationWarning, stacklevel=2)
    return active_count()


class _Named:
    __slots__ = ('name',)

    def __init__(self, name):
        self.name = name


def excepthook(args, /):
    """Report an exception raised by Thread.run() (the stdlib's format); replace it to handle them."""
    if args.thread is None:
        # The stdlib would print _thread's ident; weft's is the one programs see.
        args = ExceptHookArgs([args.exc_type, args.exc_value, args.exc_traceback,
                               _Named(str(get_ident()))])
    return _std.__excepthook__(args)


__excepthook__ = excepthook


def stack_size(size=None):
    """Return the stack size for new threads (0: system default); set it when size is given."""
    global _stack_size
    old = _stack_size
    if size is not None:
        if size != 0 and size < 32768:
            raise ValueError('size not valid: %d bytes' % size)
        _stack_size = int(size)
    return old


class Timer(Thread):
    """Timer(interval, function, args=None, kwargs=None): call function after interval seconds.

    A Thread; cancel() before the interval passes stops it.
    """

    def __init__(self, interval, function, args=None, kwargs=None):
        Thread.__init__(self)
        self.interval = interval
        self.function = function
        self.args = args if args is not None else []
        self.kwargs = kwargs if kwargs is not None else {}
        self.finished = Event()

    def cancel(self):
        """Stop the timer if it has not fired yet."""
        self.finished.set()

    def run(self):
        """Wait for the interval, then call the function unless cancelled."""
        self.finished.wait(self.interval)
        if not self.finished.is_set():
            self.function(*self.args, **self.kwargs)
        self.finished.set()


# ---- local ----------------------------------------------------------------------------------


class local:
    """local(): attributes with a separate value in each thread (threading.local), on weft_local.

    Subclasses may define __init__ with arguments: it runs again, with the
    same arguments, the first time each thread uses the object. A thread's
    values are dropped when the thread ends.
    """

    __slots__ = ('_weft_h', '_weft_args', '_weft_lock', '_weft_dicts', '__dict__', '__weakref__')

    def __new__(cls, /, *args, **kw):
        if (args or kw) and (cls.__init__ is object.__init__):
            raise TypeError('Initialization arguments are not supported')
        self = object.__new__(cls)
        object.__setattr__(self, '_weft_args', (args, kw))
        object.__setattr__(self, '_weft_lock', RLock())
        object.__setattr__(self, '_weft_dicts', _LocalDicts())
        object.__setattr__(self, '_weft_h', _weft.weft_local_create())
        _new_slot(self, object.__getattribute__(self, '__dict__'))
        return self

    def __del__(self, _destroy=_weft.weft_local_destroy):
        try:
            h = object.__getattribute__(self, '_weft_h')
        except AttributeError:
            return
        object.__setattr__(self, '_weft_h', None)
        if h is not None:
            _destroy(h)

    def __getattribute__(self, name):
        with _patch(self):
            return object.__getattribute__(self, name)

    def __setattr__(self, name, value):
        if name == '__dict__':
            raise AttributeError("%r object attribute '__dict__' is read-only" % self.__class__.__name__)
        with _patch(self):
            return object.__setattr__(self, name, value)

    def __delattr__(self, name):
        if name == '__dict__':
            raise AttributeError("%r object attribute '__dict__' is read-only" % self.__class__.__name__)
        with _patch(self):
            return object.__delattr__(self, name)


class _LocalDicts(dict):
    """A local's per-thread dicts by slot key, visible to the garbage collector."""

    __slots__ = ('__weakref__',)


class _LocalSlot:
    """What weft_local keeps for one thread; weft drops it when the thread ends (or
    the local goes), and then the thread's dict goes too."""

    __slots__ = ('dicts', 'key')

    def __init__(self, dicts, key):
        self.dicts = _weakref.ref(dicts)
        self.key = key

    def __del__(self):
        dicts = self.dicts()
        if dicts is not None:
            dicts.pop(self.key, None)


_slot_keys = _itertools.count().__next__


class _LocalReaper:
    """Lives in the interpreter's own per-thread state (a _thread._local), which
    Python clears on the exiting thread before join() returns: it drops that
    thread's values of every weft local it used, so they go as promptly as the
    stdlib's (weft itself would drop them a moment later, at pthread exit)."""

    __slots__ = ('locals',)

    def __init__(self):
        self.locals = []

    def __del__(self):
        for ref in self.locals:
            obj = ref()
            if obj is None:
                continue
            try:
                h = object.__getattribute__(obj, '_weft_h')
                if h is not None:
                    _weft.weft_local_delete(h, '__dict__')
            except Exception:
                pass


_reapers = _thread._local()


def _new_slot(obj, d):
    dicts = object.__getattribute__(obj, '_weft_dicts')
    key = _slot_keys()
    dicts[key] = d
    _weft.py_local_set(object.__getattribute__(obj, '_weft_h'), _LocalSlot(dicts, key))
    try:
        reaper = _reapers.reaper
    except AttributeError:
        reaper = _reapers.reaper = _LocalReaper()
    reaper.locals.append(_weakref.ref(obj))
    return d


class _patch:
    __slots__ = ('obj', 'lock')

    def __init__(self, obj):
        self.obj = obj

    def __enter__(self):
        obj = self.obj
        lock = object.__getattribute__(obj, '_weft_lock')
        lock.acquire()
        self.lock = lock
        try:
            h = object.__getattribute__(obj, '_weft_h')
            if h is None:
                raise RuntimeError('the local object is being destroyed')
            slot = _weft.py_local_get(h)
            fresh = slot is None
            if fresh:
                d = _new_slot(obj, {})
            else:
                d = object.__getattribute__(obj, '_weft_dicts')[slot.key]
            object.__setattr__(obj, '__dict__', d)
            if fresh:
                args, kw = object.__getattribute__(obj, '_weft_args')
                cls = type(obj)
                if cls.__init__ is not object.__init__:
                    cls.__init__(obj, *args, **kw)
        except BaseException:
            lock.release()
            raise

    def __exit__(self, *a):
        self.lock.release()


# ---- start-up and exit --------------------------------------------------------------------

_main_thread = _MainThread()
_active[_main_thread._ident] = _main_thread


def _shutdown():
    """Wait for every non-daemon thread started here (atexit, before the interpreter goes)."""
    while True:
        with _active_lock:
            pending = [t for t in _active.values()
                       if t is not _main_thread and not t._daemonic and t.is_alive()]
        if not pending:
            return
        for t in pending:
            t.join()


_atexit.register(_shutdown)
