"""Python's ``concurrent.futures``, on weft.

``import weft.futures as futures``: Future is a weft future (``weft_future``),
ThreadPoolExecutor a weft thread pool (``weft_pool``), ProcessPoolExecutor a
weft supervised process pool (``weft_process_pool``); wait() and
as_completed() wait in C with the GIL released, on thread and process
futures alike. The exceptions are the
stdlib's own classes, so ``except concurrent.futures.CancelledError`` and
``except weft.futures.CancelledError`` are the same thing.

Differences from the stdlib: the executor starts its max_workers threads at
construction (the stdlib starts them on demand); wait() and as_completed()
accept weft futures only.
"""

import atexit as _atexit
import concurrent.futures as _cf
import concurrent.futures.process as _cf_process
import concurrent.futures.thread as _cf_thread
import itertools as _itertools
import logging as _logging
import os as _os
import signal as _signal
import types as _types
import weakref as _weakref

from . import _weft
from ._errors import WeftBrokenError, WeftBusyError, WeftClosedError, WeftStateError, WeftTimeoutError

__all__ = ['FIRST_COMPLETED', 'FIRST_EXCEPTION', 'ALL_COMPLETED', 'CancelledError', 'TimeoutError',
           'InvalidStateError', 'BrokenExecutor', 'Future', 'Executor', 'wait', 'as_completed',
           'ThreadPoolExecutor', 'ProcessPoolExecutor', 'BrokenProcessPool', 'WorkerDiedError']

FIRST_COMPLETED = _cf.FIRST_COMPLETED
FIRST_EXCEPTION = _cf.FIRST_EXCEPTION
ALL_COMPLETED = _cf.ALL_COMPLETED
#: The future was cancelled (the stdlib's class).
CancelledError = _cf.CancelledError
#: The operation exceeded its timeout (the builtin TimeoutError, as in the stdlib).
TimeoutError = _cf.TimeoutError
#: The future is in a state that does not allow the operation (the stdlib's class).
InvalidStateError = _cf.InvalidStateError
#: The executor is broken and cannot run tasks (the stdlib's class).
BrokenExecutor = _cf.BrokenExecutor
#: A thread pool whose initializer failed (the stdlib's class).
BrokenThreadPool = _cf_thread.BrokenThreadPool
#: A process pool that cannot run tasks anymore (the stdlib's class): weft's
#: breaks only when its restart budget runs out (e.g. an initializer that fails).
BrokenProcessPool = _cf_process.BrokenProcessPool
#: What wait() returns: (done, not_done) sets.
DoneAndNotDoneFutures = _cf._base.DoneAndNotDoneFutures

LOGGER = _logging.getLogger('concurrent.futures')

_PENDING = _weft.WEFT_FUTURE_PENDING
_RUNNING = _weft.WEFT_FUTURE_RUNNING
_DONE = _weft.WEFT_FUTURE_DONE
_FAILED = _weft.WEFT_FUTURE_FAILED
_CANCELLED = _weft.WEFT_FUTURE_CANCELLED
_STATE_NAMES = {_PENDING: 'pending', _RUNNING: 'running', _DONE: 'finished', _FAILED: 'finished',
                _CANCELLED: 'cancelled'}
# The stdlib's state names (Future._state), for code that reads them.
_STD_STATES = {_PENDING: _cf._base.PENDING, _RUNNING: _cf._base.RUNNING, _DONE: _cf._base.FINISHED,
               _FAILED: _cf._base.FINISHED, _CANCELLED: _cf._base.CANCELLED}
_MODES = {FIRST_COMPLETED: _weft.WEFT_WAIT_FIRST_COMPLETED,
          FIRST_EXCEPTION: _weft.WEFT_WAIT_FIRST_EXCEPTION,
          ALL_COMPLETED: _weft.WEFT_WAIT_ALL_COMPLETED}
_FOREVER = -1
_NS_MAX = (1 << 63) - 1
_get_state = _weft.weft_future_get_state
_future_wait = _weft.py_future_wait
_submit = _weft.py_pool_submit


def _wait_ns(timeout):
    if timeout is None:
        return _FOREVER
    if timeout <= 0:
        return 0
    ns = int(timeout * 1e9)
    return ns if ns < _NS_MAX else _FOREVER


class Future:
    """Future(): the result of an asynchronous computation (concurrent.futures.Future).

    Created by Executor.submit(), or directly by code that completes it with
    set_result() / set_exception(). The value and exception stay in this
    object; the state lives in weft, where C waiters see it too.
    """

    __slots__ = ('_h', '_result', '_exception', '_work', '_pool_state', '__weakref__')

    def __init__(self):
        self._h = _weft.weft_future_create()
        self._result = None
        self._exception = None
        self._work = None
        self._pool_state = None

    def __del__(self, _destroy=_weft.weft_future_destroy):
        h, self._h = getattr(self, '_h', None), None
        if h is not None:
            _destroy(h)

    def __repr__(self):
        st = _get_state(self._h)
        if st == _DONE:
            return '<%s at %#x state=finished returned %s>' % (
                self.__class__.__name__, id(self), self._result.__class__.__name__)
        if st == _FAILED:
            return '<%s at %#x state=finished raised %s>' % (
                self.__class__.__name__, id(self), self._exception.__class__.__name__)
        return '<%s at %#x state=%s>' % (self.__class__.__name__, id(self), _STATE_NAMES.get(st, st))

    @property
    def _state(self):
        """The state under the stdlib's name: 'PENDING', 'RUNNING', 'CANCELLED' or 'FINISHED'."""
        return _STD_STATES[_get_state(self._h)]

    # ---- run by the pool (see weft_python.i) ----
    def _weft_run(self):
        fn, args, kwargs = self._work
        self._work = None
        state = self._pool_state
        if state is not None and state.broken:
            self._exception = BrokenThreadPool(state.broken)
            return False
        try:
            self._result = fn(*args, **kwargs)
            return True
        except BaseException as exc:  # noqa: B902 - the caller sees it in result()
            self._exception = exc
            return False
        finally:
            fn = args = kwargs = None

    def _weft_done(self):
        self._work = None

    # ---- consumer side ----
    def cancel(self):
        """Cancel the future if it has not started; return whether it is cancelled now."""
        try:
            _weft.weft_future_cancel(self._h)
        except (WeftBusyError, WeftStateError):
            return False
        return True

    def cancelled(self):
        """Return True if the future was cancelled."""
        return _get_state(self._h) == _CANCELLED

    def running(self):
        """Return True if the call is running now."""
        return _get_state(self._h) == _RUNNING

    def done(self):
        """Return True if the future finished (with a result or exception) or was cancelled."""
        return _get_state(self._h) >= _DONE

    def result(self, timeout=None):
        """Return the call's value, waiting up to timeout seconds.

        CancelledError if cancelled, TimeoutError if not done in time; the
        call's exception if it raised.
        """
        h = self._h
        st = _get_state(h)
        if st < _DONE:
            if not _future_wait(h, _wait_ns(timeout)):
                raise TimeoutError()
            st = _get_state(h)
        if st == _DONE:
            return self._result
        if st == _CANCELLED:
            raise CancelledError()
        try:
            raise self._exception
        finally:
            self = None

    def exception(self, timeout=None):
        """Return the call's exception (None if it returned), waiting up to timeout seconds."""
        h = self._h
        if _get_state(h) < _DONE and not _future_wait(h, _wait_ns(timeout)):
            raise TimeoutError()
        st = _get_state(h)
        if st == _CANCELLED:
            raise CancelledError()
        return self._exception if st == _FAILED else None

    def add_done_callback(self, fn):
        """Call fn(future) once the future is done (now, in this thread, if it is already)."""
        ref = self

        def call():
            try:
                fn(ref)
            except Exception:
                LOGGER.exception('exception calling callback for %r', ref)
        _weft.py_future_add_done_callback(self._h, call)

    # ---- producer side ----
    def set_running_or_notify_cancel(self):
        """Mark the future running; return False (and do nothing) if it was cancelled."""
        try:
            _weft.weft_future_set_running(self._h)
        except _cf.CancelledError:
            return False
        except WeftStateError:
            raise RuntimeError('Future in unexpected state') from None
        return True

    def set_result(self, result):
        """Finish the future with result; InvalidStateError if it is done already."""
        if self.done():
            raise InvalidStateError('%s: %r' % (self._state, self))
        self._result = result
        try:
            _weft.py_future_set_done(self._h)
        except WeftStateError:
            raise InvalidStateError('%r' % (self,)) from None

    def set_exception(self, exception):
        """Finish the future with exception; InvalidStateError if it is done already."""
        if self.done():
            raise InvalidStateError('%s: %r' % (self._state, self))
        self._exception = exception
        try:
            _weft.weft_future_set_error(self._h, _weft.WEFT_EFAILED, str(exception)[:200])
        except WeftStateError:
            raise InvalidStateError('%r' % (self,)) from None

    __class_getitem__ = classmethod(_types.GenericAlias)


def _handles(fs):
    try:
        return [f._h for f in fs]
    except AttributeError:
        raise TypeError('weft.futures waits on weft.futures.Future objects only') from None


def wait(fs, timeout=None, return_when=ALL_COMPLETED):
    """Wait for the futures fs; return DoneAndNotDoneFutures(done, not_done).

    return_when is FIRST_COMPLETED, FIRST_EXCEPTION or ALL_COMPLETED; after
    timeout seconds it returns whatever is done.
    """
    fs = set(fs)
    if return_when not in _MODES:
        raise ValueError('Invalid return condition: %r' % (return_when,))
    if fs:
        _weft.py_future_wait_many(_handles(fs), _MODES[return_when], _wait_ns(timeout))
    done = {f for f in fs if f.done()}
    return DoneAndNotDoneFutures(done, fs - done)


def as_completed(fs, timeout=None):
    """Yield the futures fs as they complete (finished or cancelled), each once.

    TimeoutError if timeout seconds pass (from the call) before all are done.
    """
    fs = set(fs)
    total = len(fs)
    if timeout is not None:
        end = _weft.weft_monotonic_ns() + int(max(timeout, 0) * 1e9)
    it = _weft.py_as_completed_create(_handles(fs))
    # Yielded futures are forgotten here, so the caller alone decides how
    # long they live.
    by_address = {_weft.py_handle_address(f._h): f for f in fs}
    fs = None
    try:
        while by_address:
            ns = _FOREVER if timeout is None else max(0, end - _weft.weft_monotonic_ns())
            try:
                addr = _weft.py_as_completed_next(it, ns)
            except WeftTimeoutError:
                raise TimeoutError('%d (of %d) futures unfinished' % (len(by_address), total)) from None
            if addr is None:
                return
            yield by_address.pop(addr)
    finally:
        _weft.weft_as_completed_destroy(it)


def _result_or_cancel(fut, timeout=None):
    try:
        try:
            return fut.result(timeout)
        finally:
            fut.cancel()
    finally:
        del fut


class Executor:
    """Base of executors: submit(), map(), shutdown() and the with-statement."""

    def submit(self, fn, /, *args, **kwargs):
        """Schedule fn(*args, **kwargs); return a Future."""
        raise NotImplementedError()

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        """Like map(fn, *iterables), the calls running concurrently; results in order.

        TimeoutError from the iterator if a result is not ready timeout
        seconds after map() was called.
        """
        if timeout is not None:
            end = _weft.weft_monotonic_ns() + int(timeout * 1e9)
        fs = [self.submit(fn, *args) for args in zip(*iterables)]

        def result_iterator():
            try:
                fs.reverse()
                while fs:
                    if timeout is None:
                        yield _result_or_cancel(fs.pop())
                    else:
                        yield _result_or_cancel(fs.pop(), (end - _weft.weft_monotonic_ns()) / 1e9)
            finally:
                for future in fs:
                    future.cancel()
        return result_iterator()

    def shutdown(self, wait=True, *, cancel_futures=False):
        """Release the executor's resources; with wait, after pending calls finished."""
        pass

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.shutdown(wait=True)
        return False


class _PoolState:
    __slots__ = ('broken',)

    def __init__(self):
        self.broken = False


_live_executors = _weakref.WeakSet()
_interpreter_exiting = False


class ThreadPoolExecutor(Executor):
    """ThreadPoolExecutor(max_workers=None, thread_name_prefix='', initializer=None, initargs=()).

    Runs calls on a weft thread pool of max_workers threads (default
    min(32, cpu_count + 4)). If initializer raises in a worker, the pool is
    broken: pending and later calls fail with BrokenThreadPool.
    """

    _counter = _itertools.count().__next__

    def __init__(self, max_workers=None, thread_name_prefix='', initializer=None, initargs=()):
        if max_workers is None:
            max_workers = min(32, (_os.cpu_count() or 1) + 4)
        if max_workers <= 0:
            raise ValueError('max_workers must be greater than 0')
        if initializer is not None and not callable(initializer):
            raise TypeError('initializer must be a callable')
        self._max_workers = max_workers
        self._thread_name_prefix = thread_name_prefix or ('ThreadPoolExecutor-%d' % self._counter())
        self._initializer = initializer
        self._initargs = initargs
        self._state = _PoolState()
        self._shutdown = False
        self._init_fn = _make_initializer(initializer, initargs, self._state)
        self._pool = _weft.py_pool_create(max_workers, self._thread_name_prefix, self._init_fn)
        _live_executors.add(self)

    def __del__(self, _destroy=_weft.weft_pool_destroy):
        pool, self._pool = getattr(self, '_pool', None), None
        if pool is not None:
            _destroy(pool)

    @property
    def _broken(self):
        return self._state.broken

    def submit(self, fn, /, *args, **kwargs):
        """Schedule fn(*args, **kwargs) on a worker; return its Future.

        RuntimeError after shutdown(); BrokenThreadPool if an initializer failed.
        """
        if self._state.broken:
            raise BrokenThreadPool(self._state.broken)
        if self._shutdown or self._pool is None:
            raise RuntimeError('cannot schedule new futures after shutdown')
        if _interpreter_exiting:
            raise RuntimeError('cannot schedule new futures after interpreter shutdown')
        f = Future.__new__(Future)
        f._result = None
        f._exception = None
        f._pool_state = self._state
        f._work = (fn, args, kwargs)
        f._h = None
        try:
            f._h = _submit(self._pool, f, _FOREVER)
        except WeftClosedError:
            raise RuntimeError('cannot schedule new futures after shutdown') from None
        return f

    def shutdown(self, wait=True, *, cancel_futures=False):
        """Stop accepting calls; cancel pending ones if cancel_futures; with wait, join the workers."""
        self._shutdown = True
        if self._pool is not None:
            _weft.weft_pool_shutdown(self._pool, 1 if wait else 0, 1 if cancel_futures else 0)


def _make_initializer(initializer, initargs, state):
    if initializer is None:
        return None

    def run():
        try:
            initializer(*initargs)
        except BaseException:  # noqa: B902 - breaks the pool, as in the stdlib
            LOGGER.critical('Exception in initializer:', exc_info=True)
            state.broken = 'A thread initializer failed, the thread pool is not usable anymore'
        return True
    return run


class ProcessPoolExecutor(Executor):
    """ProcessPoolExecutor(max_workers=None, mp_context=None, initializer=None, initargs=(), *,
    max_tasks_per_child=None).

    Runs calls in max_workers worker processes (default os.cpu_count()) of a
    weft supervised process pool; arguments and results are pickled.
    mp_context is a multiprocessing context (weft's or the stdlib's) or a
    start method name: 'fork' (default), 'spawn' or 'forkserver' (the calls
    run in children of weft's Python forkserver; _processes lists the link
    processes weft supervises, one per worker: see weft/_ppool.py). Each worker
    runs initializer(*initargs) when it starts (if it raises, the worker
    exits; the pool breaks, BrokenProcessPool, after max_workers + 2 such
    deaths within a minute) and is replaced after max_tasks_per_child calls
    (allowed with fork too).

    Unlike the stdlib's, a worker that dies fails only the call it ran, with
    WorkerDiedError (a BrokenProcessPool naming the pid and the signal or
    exit code), and the executor goes on. Futures are weft futures: wait()
    and as_completed() take them together with thread-pool futures.
    """

    def __init__(self, max_workers=None, mp_context=None, initializer=None, initargs=(), *,
                 max_tasks_per_child=None):
        from . import _ppool
        self._core = None
        self._shutdown = False
        if max_workers is None:
            max_workers = _os.cpu_count() or 1
        elif max_workers <= 0:
            raise ValueError('max_workers must be greater than 0')
        if initializer is not None and not callable(initializer):
            raise TypeError('initializer must be a callable')
        if max_tasks_per_child is not None:
            if not isinstance(max_tasks_per_child, int):
                raise TypeError('max_tasks_per_child must be an integer')
            if max_tasks_per_child <= 0:
                raise ValueError('max_tasks_per_child must be >= 1')
        self._max_workers = max_workers
        self._mp_context = mp_context
        self._initializer = initializer
        self._initargs = initargs
        self._max_tasks_per_child = max_tasks_per_child
        # An initializer that fails ends its worker; the stdlib breaks the
        # executor at once, weft once the restart budget is spent: with an
        # initializer, max_workers + 2 worker deaths within a minute (a
        # spawned interpreter may take seconds to fail on a loaded machine).
        budget = dict(max_restarts=max_workers + 1, restart_window=60.0) if initializer is not None else {}
        self._core = _ppool.Core(max_workers, _start_method_of(mp_context), initializer, initargs,
                                 max_tasks_per_child or 0, init_errors='log', **budget)
        _live_executors.add(self)

    def __del__(self):
        core, self._core = getattr(self, '_core', None), None
        if core is not None:
            core.release()

    @property
    def _broken(self):
        """The reason the pool broke (its restart budget ran out), or False."""
        core = self._core
        if core is None or core.h is None:
            return False
        return 'the process pool is broken: its restart budget ran out' if core.stats()['broken'] else False

    @property
    def _processes(self):
        """{pid: process-like object} of the live workers (the stdlib's attribute)."""
        core = self._core
        if core is None or core.h is None:
            return {}
        return {pid: _WorkerProcess(pid) for pid in core.pids()}

    def submit(self, fn, /, *args, **kwargs):
        """Schedule fn(*args, **kwargs) in a worker process; return its Future.

        RuntimeError after shutdown(); BrokenProcessPool if the pool broke.
        Arguments that do not pickle fail the returned future (as in the stdlib).
        """
        if self._shutdown or self._core is None:
            raise RuntimeError('cannot schedule new futures after shutdown')
        if _interpreter_exiting:
            raise RuntimeError('cannot schedule new futures after interpreter shutdown')
        try:
            return self._core.submit_call(fn, args, kwargs)
        except WeftClosedError:
            raise RuntimeError('cannot schedule new futures after shutdown') from None
        except WeftBrokenError as e:
            raise BrokenProcessPool(str(e)) from None

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        """Like map(fn, *iterables), the calls running in the workers, chunksize per task.

        Results come in order; a call's exception is raised at its position.
        TimeoutError from the iterator if a result is not ready timeout
        seconds after map() was called. A chunk whose worker died is run
        again one call per task, so only the call that crashed fails.
        """
        if chunksize < 1:
            raise ValueError('chunksize must be >= 1.')
        if chunksize == 1:
            return super().map(fn, *iterables, timeout=timeout)
        if self._shutdown or self._core is None:
            raise RuntimeError('cannot schedule new futures after shutdown')
        from .multiprocessing.pool import _outcomes
        end = None if timeout is None else _weft.weft_monotonic_ns() / 1e9 + timeout
        core = self._core
        args = list(zip(*iterables))
        parts = []
        for i in range(0, len(args), chunksize):
            part = args[i:i + chunksize]
            parts.append((part, core.submit_chunk(fn, part, True)))

        def result_iterator():
            try:
                parts.reverse()
                while parts:
                    part, fut = parts.pop()
                    for ok, v in _outcomes(core, fn, True, part, fut, end):
                        if not ok:
                            raise v
                        yield v
            finally:
                for _, fut in parts:
                    fut.cancel()
        return result_iterator()

    def shutdown(self, wait=True, *, cancel_futures=False):
        """Stop accepting calls; cancel pending ones if cancel_futures; with wait,
        wait for the running ones and the workers' exit."""
        self._shutdown = True
        core = self._core
        if core is not None and core.h is not None:
            core.shutdown(wait, cancel_futures)
            if wait:
                self._core = None
                core.release()


class _WorkerProcess:
    """A worker of a ProcessPoolExecutor, seen from the pool's process (pid,
    is_alive, join, terminate, kill); weft's supervisor reaps it."""

    def __init__(self, pid):
        self.pid = pid

    def is_alive(self):
        try:
            _os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def join(self, timeout=None):
        end = None if timeout is None else _weft.weft_monotonic_ns() + int(timeout * 1e9)
        while self.is_alive() and (end is None or _weft.weft_monotonic_ns() < end):
            _weft.weft_sleep_ns(5_000_000)

    def terminate(self):
        try:
            _os.kill(self.pid, _signal.SIGTERM)
        except ProcessLookupError:
            pass

    def kill(self):
        try:
            _os.kill(self.pid, _signal.SIGKILL)
        except ProcessLookupError:
            pass


def _start_method_of(mp_context):
    if mp_context is None:
        return 'fork'
    if isinstance(mp_context, str):
        return mp_context
    try:
        return mp_context.get_start_method(allow_none=False)
    except TypeError:
        return mp_context.get_start_method()


def __getattr__(name):
    # WorkerDiedError lives with the process pool machinery (weft._ppool),
    # imported when first asked for.
    if name == 'WorkerDiedError':
        from ._ppool import WorkerDiedError
        return WorkerDiedError
    raise AttributeError('module %r has no attribute %r' % (__name__, name))


def _python_exit():
    global _interpreter_exiting
    _interpreter_exiting = True
    for ex in list(_live_executors):
        try:
            ex.shutdown(wait=True)
        except Exception:
            pass


_atexit.register(_python_exit)
