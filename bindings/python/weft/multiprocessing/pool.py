"""weft.multiprocessing.pool: Python's ``multiprocessing.Pool``, on weft's supervised process pool.

``Pool(processes, initializer, initargs, maxtasksperchild, context)`` with
apply, apply_async (callback, error_callback), map, map_async, imap,
imap_unordered, starmap, starmap_async, close, terminate, join and the
with-statement (which terminates on exit, as the stdlib's does).

Where weft is better than the stdlib: a worker that dies (SIGKILL, a
segfault, ``os._exit``) fails only its own task, with
:class:`WorkerDiedError` naming the worker's pid and the signal or exit
code, and the pool starts a replacement and goes on serving (the stdlib's
Pool waits forever for the lost result). In a map, a chunk whose worker died
is run again one item per task, so only the item that crashed fails and the
other results are intact (``imap`` yields them; ``map`` raises the first
failure, as the stdlib does). Every item of a chunk has its own outcome: an
exception in one does not fail its neighbours.

Start methods (``context``: a context object from ``get_context()``, the
stdlib's, or a name): ``'fork'`` (default), ``'spawn'`` and
``'forkserver'``. Under spawn and forkserver, functions defined in the main
module work when it guards its work with ``if __name__ == '__main__':``
(each spawn worker imports it as ``__mp_main__``, as the stdlib's do; under
forkserver the server imported it once, and the tasks run in children it
forks, as the stdlib's). weft's C pool supervises one small link process
per forkserver worker, which forwards the tasks to its child and ends the
way the child ended; ``worker_pids()`` and ``WorkerDiedError.pid`` name the
links (see weft/_ppool.py). If the forkserver is killed, its children die
with it (their running tasks fail with WorkerDiedError) and the workers run
the next tasks themselves, as spawn workers.

Differences from the stdlib: the iterable of imap/imap_unordered is read
whole when the call is made; results of a failed-then-retried chunk come
from a second run of its items (map functions should have no side effects).
"""

import os as _os
import threading as _threading
import types as _types
import warnings as _warnings

from .. import _ppool
from .. import futures as _futures
from .._errors import WeftClosedError
from .._ppool import BrokenProcessPool, WorkerDiedError
from . import TimeoutError  # noqa: A004 - multiprocessing's name

__all__ = ['Pool', 'ThreadPool', 'AsyncResult', 'ApplyResult', 'MapResult', 'IMapIterator',
           'IMapUnorderedIterator', 'WorkerDiedError', 'BrokenProcessPool', 'RUN', 'CLOSE', 'TERMINATE']

RUN = 0
CLOSE = 1
TERMINATE = 2

_wait_ns = _futures._wait_ns


def _start_method(context):
    if context is None:
        return 'fork'
    if isinstance(context, str):
        return context
    get = getattr(context, 'get_start_method', None)
    if get is None:
        raise TypeError('context must be a multiprocessing context or a start method name')
    try:
        return get(allow_none=False)
    except TypeError:
        return get()


class AsyncResult:
    """The result of apply_async() (multiprocessing.pool.AsyncResult).

    A callback (with the value) or error_callback (with the exception) runs
    once when the task ends, in the pool's supervisor thread, before get()
    and wait() return; keep it short.
    """

    def __init__(self, future, callback=None, error_callback=None):
        self._f = future
        self._callback = callback
        self._error_callback = error_callback
        self._event = None
        if callback is not None or error_callback is not None:
            self._event = _threading.Event()
            future.add_done_callback(self._run_callbacks)

    def _run_callbacks(self, f):
        try:
            try:
                exc = f.exception()
            except BaseException as e:  # noqa: B902 - cancelled
                exc = e
            if exc is None:
                if self._callback is not None:
                    self._callback(f.result())
            elif self._error_callback is not None:
                self._error_callback(exc)
        finally:
            self._callback = self._error_callback = None
            self._event.set()

    def ready(self):
        """Return whether the call finished."""
        if self._event is not None:
            return self._event.is_set()
        return self._f.done()

    def successful(self):
        """Return whether the call returned without raising; ValueError if not ready."""
        if not self.ready():
            raise ValueError('{0!r} not ready'.format(self))
        try:
            return self._f.exception() is None
        except BaseException:  # noqa: B902 - cancelled
            return False

    def wait(self, timeout=None):
        """Wait until the call finished, or timeout seconds passed."""
        if self._event is not None:
            self._event.wait(timeout)
            return
        _futures.wait([self._f], timeout)

    def get(self, timeout=None):
        """Return the call's value (raise its exception); multiprocessing.TimeoutError
        if it is not ready within timeout seconds."""
        if self._event is not None:
            if not self._event.wait(timeout):
                raise TimeoutError
            timeout = 0
        try:
            return self._f.result(timeout)
        except _futures.TimeoutError:
            if not self._f.done():
                raise TimeoutError from None
            raise

    __class_getitem__ = classmethod(_types.GenericAlias)


ApplyResult = AsyncResult


def _pairs(v):
    return v if type(v) is _ppool.Outcomes else [(True, x) for x in v]


def _settled(fut, end):
    """(True, value) or (False, exception) of a chunk's future; raises
    TimeoutError if it has not finished by end."""
    timeout = None if end is None else max(0.0, end - _monotonic())
    try:
        return True, fut.result(timeout)
    except _futures.TimeoutError:
        if not fut.done():
            raise
        return False, fut.exception()
    except BaseException as e:  # noqa: B902 - the whole chunk failed (pickling, cancel, broken)
        if not fut.done():
            raise  # not the chunk's: the wait itself was interrupted (KeyboardInterrupt)
        return False, e


def _outcomes(core, func, star, items, fut, end):
    """[(ok, value), ...] of a chunk's future, retrying a crashed chunk one
    item per task (weft.futures' map uses it too)."""
    return _chunk_outcomes(core, func, star, items, *_settled(fut, end), end)


def _chunk_outcomes(core, func, star, items, ok, value, end):
    """[(ok, value), ...] of a chunk whose task ended with (ok, value),
    retrying a crashed chunk one item per task."""
    if ok:
        return _pairs(value)
    if not isinstance(value, WorkerDiedError) or len(items) == 1:
        return [(False, value)] * len(items)
    singles = [core.submit_chunk(func, [x], star) for x in items]
    out = []
    for s in singles:
        ok, v = _settled(s, end)
        if ok:
            out.extend(_pairs(v))
        else:
            out.append((False, v))
    return out


def _monotonic():
    return _ppool._weft.weft_monotonic_ns() / 1e9


def _wait_all(handles, end):
    timeout = None if end is None else max(0.0, end - _monotonic())
    _ppool._weft.py_future_wait_many(handles, _ALL, _wait_ns(timeout))


_ALL = _ppool._weft.WEFT_WAIT_ALL_COMPLETED


# map()'s default split. With many items (at least _BIG_SHARE per worker)
# the calls are taken to be small: one chunk per worker, so the map costs
# one round trip and one pickle each way per worker (a 10k map of tiny calls
# on 2 workers, loaded 2-core machine: 1.3x faster than with 2 chunks per
# worker, 1.6x than with 4). With
# fewer items each may be long: the stdlib's 4 chunks per worker, so that
# the workers share them evenly.
_BIG_SHARE = 1024


def _default_chunksize(n, workers):
    parts = workers if n >= _BIG_SHARE * workers else workers * 4
    chunksize, extra = divmod(n, parts)
    return chunksize + 1 if extra else chunksize


class _Chunks:
    """The chunks of one map call, submitted at once.

    A chunk is one task: its items pickled in one piece (a ``range`` is cut
    into ranges, which pickle as three numbers; a list of ints within int64,
    or of floats, goes packed, 8 bytes each), run by the worker in one C
    loop (``py_map_each``), its values coming back in one pickle (or packed
    likewise).
    """

    def __init__(self, pool, func, iterable, chunksize, star):
        if type(iterable) is range and not star:
            items = iterable  # its slices are ranges: nothing per item to pickle
        else:
            items = iterable if isinstance(iterable, list) else list(iterable)
        if chunksize is None:
            chunksize = _default_chunksize(len(items), pool._processes)
        if chunksize < 1:
            if len(items) == 0:
                chunksize = 1
            else:
                raise ValueError('Chunksize must be 1+, not {0:n}'.format(chunksize))
        core = pool._core
        self.core = core
        self.func = func
        self.star = star
        self.n = len(items)
        self.workers = pool._processes
        self.parts = []
        self._send(items, range(0, len(items), chunksize), chunksize, core.chunk_packer(func, star))

    def _send(self, items, starts, chunksize, pack):
        """Pickle and submit every chunk: parts = [(items, ProcessFuture), ...]."""
        submit = self.core.submit
        # The first chunk of each worker pickled first, then submitted
        # together (the pool's thread wakes once for them: measured 4-9%
        # faster), the others as they are pickled.
        first = []
        for i in starts[:self.workers]:
            part = items[i:i + chunksize]
            first.append((part, pack(part)))
        for part, data in first:
            self.parts.append((part, submit(data) if type(data) is bytes else data))
        for i in starts[self.workers:]:
            part = items[i:i + chunksize]
            data = pack(part)
            self.parts.append((part, submit(data) if type(data) is bytes else data))

    def outcomes(self, k, end=None):
        part, fut = self.parts[k]
        return _outcomes(self.core, self.func, self.star, part, fut, end)

    def values(self, end=None):
        """Every value in order; raises the first failure."""
        if 1 < len(self.parts) <= self.workers:
            # One chunk per worker: they end about together, so wake once for
            # all of them (measured 5-18% faster on a loaded machine than a
            # wake-up per chunk, whose unpickling would overlap little).
            _wait_all([fut._h for _, fut in self.parts], end)
        return self._gather(((part, *_settled(fut, end)) for part, fut in self.parts), end)

    def _gather(self, settled, end):
        """The values of settled chunks [(items, ok, value or exception), ...]
        in order; raises the first failure (a crashed chunk is retried one
        item per task first)."""
        out = None
        for part, ok, v in settled:
            if ok and type(v) is not _ppool.Outcomes:  # every call of the chunk returned
                if out is None:
                    out = v  # the first chunk's fresh list, unpickled for this call only
                else:
                    out.extend(v)
                continue
            if out is None:
                out = []
            for ok, x in _chunk_outcomes(self.core, self.func, self.star, part, ok, v, end):
                if not ok:
                    raise x
                out.append(x)
        return [] if out is None else out


class _MapNow(_Chunks):
    """The chunks of one map() or starmap() call, which waits: pickled here,
    then run by one C map on the calling thread (weft_process_pool_map,
    _ppool.Core.map_chunks), which on a pool without task timeout or
    maxtasksperchild borrows the idle workers and moves the chunks itself:
    no supervisor hop and no future per chunk. Outcomes, retries of crashed
    chunks and the first failure are as for the futures of _Chunks.

    Ctrl-C: the C map holds no GIL; on the main thread it runs the signal
    handlers every 100 ms and on each signal that interrupts its wait, and a
    KeyboardInterrupt stops it: the workers running its chunks are killed and
    replaced (the stdlib's Pool.map raises at once too, its tasks running on);
    map_async, imap and imap_unordered keep their futures and interruptible
    waits.
    """

    def _send(self, items, starts, chunksize, pack):
        """Only pickle: parts = [(items, bytes or a failed Future), ...]."""
        # Wake the workers first: they come up while the chunks are pickled
        # (weft_process_pool_wake; 10k tiny calls after a pause: 4-7% faster).
        self.core.wake(len(starts))
        self.parts = [(part, pack(part)) for part in (items[i:i + chunksize] for i in starts)]

    def _c_map(self, run, datas):
        try:
            return run(datas)
        except WeftClosedError:
            raise ValueError('Pool not running') from None

    def settled(self):
        """Run every chunk and wait: [(items, ok, value or exception), ...] in order."""
        datas = [data for _, data in self.parts if type(data) is bytes]
        done = iter(self._c_map(self.core.map_chunks, datas) if datas else ())
        # A chunk that did not pickle holds a failed Future instead of bytes.
        return [(part, *(next(done) if type(data) is bytes else _settled(data, None)))
                for part, data in self.parts]

    def values(self, end=None):
        """Run every chunk, wait; every value in order, raises the first failure."""
        datas = [data for _, data in self.parts]
        if datas and all(type(data) is bytes for data in datas):
            values, outcomes = self._c_map(self.core.map_values, datas)
            if values is not None:  # every chunk's values were numbers: in one list already
                return values
            return self._gather([(part, *o) for (part, _), o in zip(self.parts, outcomes)], None)
        return self._gather(self.settled(), None)


class MapResult(AsyncResult):
    """The result of map_async() / starmap_async(): get() returns the list."""

    def __init__(self, chunks, callback, error_callback):
        self._chunks = chunks
        self._callback = callback
        self._error_callback = error_callback
        self._event = _threading.Event()
        self._value = None
        self._error = None
        t = _threading.Thread(target=self._collect, name='weft-pool-map', daemon=True)
        t.start()

    def _collect(self):
        try:
            try:
                self._value = self._chunks.values()
            except BaseException as e:  # noqa: B902 - delivered by get()
                self._error = e
            self._chunks = None
            if self._error is None:
                if self._callback is not None:
                    self._callback(self._value)
            elif self._error_callback is not None:
                self._error_callback(self._error)
        finally:
            self._callback = self._error_callback = None
            self._event.set()

    def ready(self):
        """Return whether every call finished (or one failed)."""
        return self._event.is_set()

    def successful(self):
        """Return whether every call returned; ValueError if not ready."""
        if not self.ready():
            raise ValueError('{0!r} not ready'.format(self))
        return self._error is None

    def wait(self, timeout=None):
        """Wait until the map finished, or timeout seconds passed."""
        self._event.wait(timeout)

    def get(self, timeout=None):
        """Return the list of results (raise the first failure); TimeoutError if not ready in time."""
        if not self._event.wait(timeout):
            raise TimeoutError
        if self._error is not None:
            raise self._error
        return self._value


class IMapIterator:
    """The iterator of imap(): results in order; next(timeout) as in the stdlib.

    A failed call raises its exception at its position; iterating on yields
    the following results.
    """

    def __init__(self, chunks):
        self._chunks = chunks
        self._k = 0
        self._buf = []
        self._i = 0

    def __iter__(self):
        return self

    def _fill(self, timeout):
        end = None if timeout is None else _monotonic() + timeout
        try:
            self._buf = self._chunks.outcomes(self._k, end)
        except _futures.TimeoutError:
            raise TimeoutError from None
        self._k += 1
        self._i = 0

    def next(self, timeout=None):
        """The next result, waiting up to timeout seconds (multiprocessing.TimeoutError)."""
        while self._i >= len(self._buf):
            if self._chunks is None or self._k >= len(self._chunks.parts):
                self._chunks = None
                raise StopIteration
            self._fill(timeout)
        return self._take()

    def _take(self):
        """The buffered result at the cursor (returned or raised), dropped from the buffer."""
        ok, v = self._buf[self._i]
        self._buf[self._i] = None
        self._i += 1
        if ok:
            return v
        raise v

    __next__ = next


class IMapUnorderedIterator(IMapIterator):
    """The iterator of imap_unordered(): results as their chunks finish."""

    def __init__(self, chunks):
        super().__init__(chunks)
        self._left = {fut: k for k, (part, fut) in enumerate(chunks.parts)}

    def next(self, timeout=None):
        """The next result to finish, waiting up to timeout seconds."""
        while self._i >= len(self._buf):
            if not self._left:
                self._chunks = None
                raise StopIteration
            done, _ = _futures.wait(list(self._left), timeout, _futures.FIRST_COMPLETED)
            if not done:
                raise TimeoutError
            fut = next(iter(done))
            k = self._left.pop(fut)
            self._buf = self._chunks.outcomes(k)
            self._i = 0
        return self._take()

    __next__ = next


class Pool:
    """Pool(processes=None, initializer=None, initargs=(), maxtasksperchild=None, context=None).

    A pool of worker processes (multiprocessing.Pool) on weft's supervised
    process pool: ``processes`` workers (default os.cpu_count()), each
    running ``initializer(*initargs)`` when it starts and replaced after
    ``maxtasksperchild`` tasks (None: never). A worker that dies fails only
    its task (WorkerDiedError) and is replaced; the pool goes on.
    ``task_timeout`` (seconds, a weft extension) kills and replaces the worker
    of a task that runs longer; the task fails with weft.WeftTimeoutError.
    """

    _wrap_exception = True

    def __init__(self, processes=None, initializer=None, initargs=(), maxtasksperchild=None,
                 context=None, *, task_timeout=None):
        self._state = RUN
        self._core = None
        if processes is None:
            processes = _os.cpu_count() or 1
        if processes < 1:
            raise ValueError('Number of processes must be at least 1')
        if maxtasksperchild is not None:
            if not isinstance(maxtasksperchild, int) or maxtasksperchild <= 0:
                raise ValueError('maxtasksperchild must be a positive int or None')
        if initializer is not None and not callable(initializer):
            raise TypeError('initializer must be a callable')
        self._processes = processes
        self._ctx = context
        # At exit a Pool is terminated, as multiprocessing's finalizer does.
        self._core = _ppool.Core(processes, _start_method(context), initializer, initargs,
                                 maxtasksperchild or 0, task_timeout=task_timeout, init_errors='print',
                                 at_exit='terminate')

    def __repr__(self):
        state = {RUN: 'RUN', CLOSE: 'CLOSE', TERMINATE: 'TERMINATE'}.get(self._state, self._state)
        return '<%s.%s state=%s pool_size=%d>' % (self.__class__.__module__, self.__class__.__qualname__,
                                                   state, self._processes)

    def __reduce__(self):
        raise NotImplementedError('pool objects cannot be passed between processes or pickled')

    def __del__(self, _warn=_warnings.warn, RUN=RUN):
        core = getattr(self, '_core', None)
        if core is None:
            return
        if self._state == RUN:
            _warn('unclosed running multiprocessing pool %r' % (self,), ResourceWarning, source=self)
        core.release()
        self._core = None

    def _check_running(self):
        if self._state != RUN:
            raise ValueError('Pool not running')

    # ---- single calls ----
    def apply(self, func, args=(), kwds={}):  # noqa: B006 - the stdlib's signature
        """Call func(*args, **kwds) in a worker and return its value (raise its exception)."""
        self._check_running()
        return self._core.submit_call(func, tuple(args), dict(kwds)).result()

    def apply_async(self, func, args=(), kwds={}, callback=None, error_callback=None):  # noqa: B006
        """Call func(*args, **kwds) in a worker; return an AsyncResult."""
        self._check_running()
        try:
            f = self._core.submit_call(func, tuple(args), dict(kwds))
        except WeftClosedError:
            raise ValueError('Pool not running') from None
        return AsyncResult(f, callback, error_callback)

    # ---- maps ----
    def _chunks(self, func, iterable, chunksize, star, kind=_Chunks):
        self._check_running()
        try:
            return kind(self, func, iterable, chunksize, star)
        except WeftClosedError:
            raise ValueError('Pool not running') from None

    def map(self, func, iterable, chunksize=None):
        """[func(x) for x in iterable], computed by the workers in chunks; raises the first failure.

        Each chunk is one task: its items pickled in one piece, run as
        ``list(map(func, chunk))``, the values sent back in one pickle.
        chunksize None: with at least 1024 items per worker, one chunk per
        worker (so tiny calls pay one round trip per worker); with fewer, the
        stdlib's rule (4 chunks per worker). Give a smaller chunksize when
        many calls take very different times, so that the workers share the
        work more evenly. A ``range`` is sent as ranges (nothing per item is
        pickled on the way there). The chunks run in one call of weft's C map
        on this thread; Ctrl-C in the main thread stops it within 100 ms (the
        workers running its chunks are killed and replaced) and raises
        KeyboardInterrupt.
        """
        return self._chunks(func, iterable, chunksize, False, _MapNow).values()

    def starmap(self, func, iterable, chunksize=None):
        """[func(*args) for args in iterable], computed by the workers."""
        return self._chunks(func, iterable, chunksize, True, _MapNow).values()

    def map_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        """map() without waiting: return a MapResult."""
        return MapResult(self._chunks(func, iterable, chunksize, False), callback, error_callback)

    def starmap_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        """starmap() without waiting: return a MapResult."""
        return MapResult(self._chunks(func, iterable, chunksize, True), callback, error_callback)

    def imap(self, func, iterable, chunksize=1):
        """An iterator over func(x) for x in iterable, in order."""
        return IMapIterator(self._chunks(func, iterable, chunksize, False))

    def imap_unordered(self, func, iterable, chunksize=1):
        """An iterator over func(x) for x in iterable, in the order they finish."""
        return IMapUnorderedIterator(self._chunks(func, iterable, chunksize, False))

    # ---- life ----
    def close(self):
        """Accept no more tasks; the queued ones still run."""
        if self._state == RUN:
            self._state = CLOSE
            self._core.close()

    def terminate(self):
        """Cancel queued tasks and kill the workers now (their tasks fail with CancelledError)."""
        self._state = TERMINATE
        if self._core is not None:
            self._core.terminate()

    def join(self, timeout=None):
        """Wait until the workers exited (after close() or terminate()).

        timeout (a weft extension): return False if they have not by then.
        """
        if self._state == RUN:
            raise ValueError('Pool is still running')
        if self._state not in (CLOSE, TERMINATE):
            raise ValueError('In unknown state')
        return self._core.join(timeout)

    def stats(self):
        """weft's counters (a weft extension): workers, busy, queued, completed, failed,
        cancelled, timed_out, crashed, replaced, broken."""
        return self._core.stats()

    def worker_pids(self):
        """The pids of the live workers (a weft extension)."""
        return self._core.pids()

    def __enter__(self):
        self._check_running()
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.terminate()


def ThreadPool(processes=None, initializer=None, initargs=()):
    """multiprocessing.pool.ThreadPool: the stdlib's (threads need no weft process pool)."""
    from multiprocessing.pool import ThreadPool as _TP
    return _TP(processes, initializer, initargs)
