"""Process pools that run Python callables: the machinery under
:class:`weft.multiprocessing.Pool` and :class:`weft.futures.ProcessPoolExecutor`.

A task is a weft process-pool task (``weft_process_pool_submit``) whose
argument bytes are ``b'C' + pickle((fn, args, kwargs))`` (one call; for a
plain function ``b'F'`` + its pickled reference, kept by both sides, +
``pickle((args, kwargs))``) or ``b'M' + pickle((fn, star, items))`` (a
chunk of a map; ``b'G'`` + star byte + u32 length + the function's pickled
reference + ``pickle(items)`` for a plain function, whose reference the
worker keeps); the C trampoline
``weft.python.call`` (bindings/python/weft_python.i) hands them to
:func:`run_task` in the worker, which answers ``b'R' + pickle(value)`` or
``b'E' + pickle(exception)``. The exception travels with its traceback text
and comes back as the task's own exception type, its ``__cause__`` the
remote traceback (as concurrent.futures does).

A worker that dies (SIGKILL, a segfault, ``os._exit``) fails only the task it
ran, with :class:`WorkerDiedError` naming its pid and the signal or exit
code; the pool starts a replacement and goes on serving. A crashed chunk of
a map is run again one item per task, so only the item that crashed fails.

Start methods: ``fork`` (the workers are forked by the pool's supervisor
thread, with Python's fork protocol around each fork), ``spawn`` (a fresh
interpreter runs this module's :func:`_spawn_main`, which imports the
parent's ``__main__`` as ``__mp_main__`` with
``multiprocessing.spawn.prepare()``, so functions defined under the
``if __name__ == '__main__'`` guard's module work, as in the stdlib) and
``forkserver``: the tasks run in children forked by the Python forkserver of
weft.multiprocessing.forkserver (which imported the main module once, at
its start, and any set_forkserver_preload() modules). weft's C pool still
starts and supervises one process per worker, a *link*
(:func:`_forkserver_main`: a small interpreter that does not import the main
module), which asks the server for a child and forwards each task's bytes to
it and its answer back. The link ends the way its child ended (same signal
or exit code), so a crash is reported as under fork; the server kills the
child when the link ends (timeout, cancel, terminate, retirement). A child
that died between tasks (the forkserver was killed: its children die with
it) is replaced before the next task; when the server is gone the link runs
the tasks itself, as a spawn worker does, so the pool goes on. The pids the
pool reports (``worker_pids()``, WorkerDiedError.pid) are the links';
``os.getpid()`` in a task is the child's.
"""

import atexit as _atexit
import base64 as _base64
import concurrent.futures as _cf
import itertools as _itertools
import os as _os
import pickle as _pickle
import re as _re
import sys as _sys
import threading as _threading
import traceback as _traceback
import types as _types
from concurrent.futures.process import BrokenProcessPool, _ExceptionWithTraceback

from . import _weft
from . import futures as _futures
from ._errors import WeftError, WeftWorkerDiedError

__all__ = ['WorkerDiedError', 'TransferError', 'BrokenProcessPool', 'run_task']

_dumps = _pickle.dumps
_loads = _pickle.loads
_HIGHEST = _pickle.HIGHEST_PROTOCOL
_PACKED = (b'Q', b'D')  # the tags of a chunk's items or values packed by py_pack_numbers (pickles start with 0x80)
_FOREVER = -1

# WEFT_PROCESS_POOL_START_FORK, _SPAWN, _FORKSERVER (process_pool.h)
START_METHODS = {'fork': 1, 'spawn': 2, 'forkserver': 3}


class WorkerDiedError(WeftWorkerDiedError, BrokenProcessPool):
    """The worker process running the task died (killed by a signal, crashed,
    or left with ``os._exit``): only this task failed, the pool goes on.

    ``str()`` is weft's message (``"worker 1234 was killed by signal 9
    (SIGKILL) while it ran the task"``); ``pid`` is the worker's pid,
    ``signal`` the signal that ended it (or None) and ``exitcode`` its exit
    code (or None). It is a :class:`concurrent.futures.process.BrokenProcessPool`
    too, so ``except BrokenProcessPool`` clauses written for the stdlib still
    catch it (but unlike the stdlib's, weft's pool is not broken).
    """

    def __init__(self, message=''):
        super().__init__(message)
        self.code = _weft.WEFT_EWORKERDIED
        self.name = 'WEFT_EWORKERDIED'
        m = _re.search(r'worker (\d+)', message)
        self.pid = int(m.group(1)) if m else None
        m = _re.search(r'signal (\d+)', message)
        self.signal = int(m.group(1)) if m else None
        m = _re.search(r'exited with code (\d+)', message)
        self.exitcode = int(m.group(1)) if m else None


class TransferError(BrokenProcessPool):
    """A task could not be unpickled in its worker, or its result in the pool's
    process (e.g. a function the worker cannot import). ``__cause__`` is the
    original error. A BrokenProcessPool, as the stdlib reports these, though
    weft's pool is not broken: only this task failed."""


class _RemoteError(Exception):
    """An exception that could not be pickled, as text (type, message, traceback)."""


# ---- the worker side -------------------------------------------------------------

def _exc_bytes(exc):
    """b'E' + the pickled exception with its traceback; its text if it does not pickle."""
    tb = exc.__traceback__
    try:
        return b'E' + _dumps(_ExceptionWithTraceback(exc, tb), _HIGHEST)
    except BaseException as e:  # noqa: B902 - the exception itself does not pickle
        text = ''.join(_traceback.format_exception(type(exc), exc, tb))
        err = _RemoteError('%s: %s (the exception could not be pickled: %s: %s)' % (
            type(exc).__qualname__, exc, type(e).__name__, e))
        return b'E' + _dumps(_rebuilt(err, text), _HIGHEST)


class _rebuilt:
    """Pickles as an exception whose __cause__ is the remote traceback text."""

    def __init__(self, exc, text):
        self.exc = exc
        self.tb = '\n"""\n%s"""' % text

    def __reduce__(self):
        from concurrent.futures.process import _rebuild_exc
        return _rebuild_exc, (self.exc, self.tb)


def _result_error(exc, value):
    """The error that pickling value raised, with a note saying so."""
    _note(exc, 'weft: the result of type %s could not be pickled' % (type(value).__qualname__,))
    return exc


def _flush():
    # A worker leaves with _exit: what a task printed must not wait in a buffer.
    for f in (_sys.stdout, _sys.stderr):
        try:
            f.flush()
        except Exception:  # noqa: BLE001 - a closed or odd stream
            pass


_worker_fns = {}  # pickled function reference -> the function (b'F' tasks)


def _worker_fn(key):
    fn = _worker_fns.get(key)
    if fn is None:
        fn = _loads(key)
        if len(_worker_fns) >= 512:
            _worker_fns.clear()
        _worker_fns[key] = fn
    return fn


def _unpickle_task(kind, view):
    if kind == 70:  # b'F': u32 length, the function's pickle, pickle((args, kwargs))
        n = int.from_bytes(view[1:5], 'little')
        fn = _worker_fn(bytes(view[5:5 + n]))
        args, kwargs = _loads(view[5 + n:])
        return fn, args, kwargs
    if kind == 71:  # b'G': star byte, u32 length, the function's pickle, the items (pickle, or packed numbers)
        n = int.from_bytes(view[2:6], 'little')
        fn = _worker_fn(bytes(view[6:6 + n]))
        items = view[6 + n:]
        # (packed numbers stay packed: py_map_each reads them as they are)
        return fn, view[1] == 1, items if items[:1] in _PACKED else _loads(items)
    return _loads(view[1:])


def run_task(view):
    """Run one task in a worker: view holds the bytes the pool's process made.

    Returns b'R' + pickle(result) or b'E' + pickle(exception) (a map chunk's:
    see below), or True when py_map_each wrote the chunk's packed values into
    the task's result itself. Never raises.
    """
    kind = view[0]
    if kind == 73:  # b"I": a spawn worker's initializer (it ends the worker if it fails)
        _loads(view[1:])()
        return b''
    try:
        payload = _unpickle_task(kind, view)
    except BaseException as e:  # noqa: B902 - e.g. a function this worker cannot find
        err = TransferError('the task could not be unpickled in worker %d: %s: %s'
                            % (_os.getpid(), type(e).__name__, e))
        err.__cause__ = e
        return _exc_bytes(err)
    if kind != 77 and kind != 71:  # b'C' or b'F': one call
        fn, args, kwargs = payload
        payload = None
        try:
            r = fn(*args, **kwargs)
        except BaseException as e:  # noqa: B902 - carried to the caller
            return _exc_bytes(e)
        finally:
            fn = args = kwargs = None
            _flush()
        try:
            return b'R' + _dumps(r, _HIGHEST)
        except BaseException as e:  # noqa: B902
            return _exc_bytes(_result_error(e, r))
    # b'M' or b'G': a chunk of a map; each item has its own outcome. The common case,
    # every call returned, answers b'R' + pickle([value, ...]) (b'Q' or b'D' +
    # the values packed when all are ints within int64, or all floats); otherwise
    # b'P' + pickle([(ok, value or exception), ...]). The calls run in one C loop
    # (py_map_each), which packs the values as they come.
    fn, star, items = payload
    payload = None
    try:
        values = _weft.py_map_each(fn, items, star)
    except BaseException:  # noqa: B902 - (out of memory) run again item by item
        values = None
    _flush()
    if values is True or type(values) is bytes:  # (True: packed into the task's result already)
        return values
    if type(values) is list:
        try:
            return b'R' + _dumps(values, _HIGHEST)
        except BaseException:  # noqa: B902 - find the items that do not pickle below
            out = [(True, v) for v in values]
    else:
        if type(items) is memoryview:
            items = _weft.py_unpack_numbers(items)
        out = []
        start = 0
        if values is not None:  # (values, k, exc): call k raised, the ones before it returned
            done, k, e = values
            out = [(True, v) for v in done]
            out.append((False, _ExceptionWithTraceback(e, e.__traceback__)))
            start = k + 1
        append = out.append
        for x in _itertools.islice(items, start, None):
            try:
                append((True, fn(*x) if star else fn(x)))
            except BaseException as e:  # noqa: B902
                append((False, _ExceptionWithTraceback(e, e.__traceback__)))
    try:
        return b'P' + _dumps(out, _HIGHEST)
    except BaseException:  # noqa: B902 - find the items that do not pickle
        safe = []
        for ok, v in out:
            try:
                _dumps(v, _HIGHEST)
                safe.append((ok, v))
            except BaseException as e:  # noqa: B902
                safe.append((False, _ExceptionWithTraceback(
                    _result_error(e, v.exc if isinstance(v, _ExceptionWithTraceback) else v), None)))
        return b'P' + _dumps(safe, _HIGHEST)


_weft.py_ppool_set_runner(run_task)


def _spawn_main():
    """Entry of a spawn worker: ``python -c <code> <prep> <weft's arguments>``.

    prep is base64 of pickle(multiprocessing.spawn.get_preparation_data()):
    the parent's sys.path, working directory and main module, which
    multiprocessing.spawn.prepare() imports as ``__mp_main__`` (so functions
    defined there unpickle). Then weft_main() serves the pool and exits.
    """
    argv = [_sys.executable] + _sys.argv[2:]  # prepare() sets sys.argv to the parent's
    prep = _loads(_base64.b64decode(_sys.argv[1]))
    if prep:
        import multiprocessing.process as _mp_process
        import multiprocessing.spawn as _mp_spawn
        # As the stdlib's spawn child: while the main module is imported, a
        # pool or process it starts without the __main__ guard raises.
        _mp_process.current_process()._inheriting = True
        try:
            _mp_spawn.prepare(prep)
        finally:
            del _mp_process.current_process()._inheriting
    rc = _weft.py_weft_main(argv)
    _os._exit(rc)


class _Link:
    """The task runner of a forkserver pool's link process (see the module's
    docstring): forward the task's bytes to the forkserver's child, return
    its answer; mirror the child's end when it dies during a task."""

    def __init__(self, info):
        self.addr = info['addr']
        self.server = info['server']
        self.prep = info['prep']
        self.chan = self.conn = None
        self.child = None
        self.local = False  # the server is gone: run the tasks here, as a spawn worker

    def __call__(self, view):
        if self.chan is None and not self.local:
            self._link()
        if self.local:
            return run_task(view)
        chan = self.chan
        head = len(view).to_bytes(8, 'little')
        try:
            sent = chan.sendmsg([head, view])
        except (BrokenPipeError, ConnectionResetError):
            # The child ended between tasks (it dies with the server): this
            # task never reached it. Another child, or run it here.
            self._drop()
            self._link()
            if self.local:
                return run_task(view)
            chan = self.chan
            try:
                sent = chan.sendmsg([head, view])
            except OSError:
                self._mirror()
        except OSError:
            self._mirror()
        try:
            if sent < len(view) + 8:  # a signal cut it short: the rest as is
                chan.sendall(bytes(head[sent:]) + bytes(view) if sent < 8 else view[sent - 8:])
            data = chan.recv(1 << 16)
            if len(data) < 8:
                data = self._recv_rest(data, 8)
            n = int.from_bytes(data[:8], 'little')
            if len(data) != n + 8:
                data = self._recv_rest(data, n + 8)
            return data[8:]
        except OSError:
            pass
        self._mirror()

    def _recv_rest(self, data, n):
        buf = bytearray(n)
        buf[:len(data)] = data
        view = memoryview(buf)
        got = len(data)
        while got < n:
            k = self.chan.recv_into(view[got:])
            if not k:
                view.release()
                self._mirror()
            got += k
        view.release()
        return bytes(buf)

    def _drop(self):
        for s in (self.chan, self.conn):
            if s is not None:
                s.close()
        self.chan = self.conn = self.child = None

    def _link(self):
        import socket
        import time
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        end = time.monotonic() + 30.0
        while True:
            try:
                conn.connect(self.addr)
                break
            except (ConnectionRefusedError, FileNotFoundError):
                # Not listening yet (it is starting), or gone.
                try:
                    _os.kill(self.server, 0)
                    alive = True
                except ProcessLookupError:
                    alive = False
                if not alive or time.monotonic() > end:
                    conn.close()
                    return self._go_local()
                time.sleep(0.005)
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            socket.send_fds(conn, [b'W'], [theirs.fileno()])
            theirs.close()
            data = b''
            while len(data) < 8:
                more = conn.recv(8 - len(data))
                if not more:
                    raise EOFError
                data += more
        except (OSError, EOFError):
            theirs.close()
            mine.close()
            conn.close()
            return self._go_local()
        self.chan, self.conn = mine, conn
        self.child = int.from_bytes(data, 'little', signed=True)

    def _go_local(self):
        if self.prep:
            import multiprocessing.process as _mp_process
            import multiprocessing.spawn as _mp_spawn
            _mp_process.current_process()._inheriting = True
            try:
                _mp_spawn.prepare(self.prep)
            finally:
                del _mp_process.current_process()._inheriting
        self.local = True

    def _mirror(self):
        """The child died during the task: end this process the same way."""
        import signal
        import struct
        code = None
        try:
            self.conn.settimeout(5.0)
            data = b''
            while len(data) < 4:
                more = self.conn.recv(4 - len(data))
                if not more:
                    break
                data += more
            if len(data) == 4:
                code = struct.unpack('<i', data)[0]
        except OSError:
            pass
        _flush()
        if code is None:
            _sys.stderr.write('weft: forkserver pool worker %s ended and the forkserver did not say how '
                              '(it was killed?)\n' % (self.child,))
            _flush()
            code = -signal.SIGKILL
        if code >= 0:
            _os._exit(code)
        try:
            signal.signal(-code, signal.SIG_DFL)
            _os.kill(_os.getpid(), -code)
        finally:
            _os.kill(_os.getpid(), signal.SIGKILL)


def _forkserver_main():
    """Entry of a forkserver pool's link: ``python -c <code> <info> <weft's arguments>``.

    info is base64 of pickle({'addr', 'server', 'prep'}): the forkserver's
    pool address and pid, and the spawn preparation data (used only if the
    server is gone). The link asks the server for its child at its first
    task (the pool's connection window does not wait for the server's start).
    """
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the child gets Ctrl-C, the link forwards
    argv = [_sys.executable] + _sys.argv[2:]
    info = _loads(_base64.b64decode(_sys.argv[1]))
    _weft.py_ppool_set_runner(_Link(info))
    rc = _weft.py_weft_main(argv)
    _os._exit(rc)


def _check_not_importing_main():
    import multiprocessing.process as _mp_process
    if getattr(_mp_process.current_process(), '_inheriting', False):
        raise RuntimeError(
            'An attempt has been made to start a process pool before the current process has finished '
            'its bootstrapping phase: this spawn worker is importing the main module, which starts a pool '
            'at import. Guard the main module\'s work with\n\n    if __name__ == \'__main__\':\n        ...\n')


def _spawn_argv(forkserver=False):
    """Program and the arguments before weft's of a spawned Python worker
    (with forkserver: of a forkserver pool's link, see _forkserver_main)."""
    import multiprocessing.spawn as _mp_spawn
    prep = _mp_spawn.get_preparation_data('weft-pool-worker')
    if 'authkey' in prep:  # an AuthenticationString refuses pickling outside a spawn
        prep['authkey'] = bytes(prep['authkey'])
    here = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
    entry = '_forkserver_main' if forkserver else '_spawn_main'
    code = ('import sys; sys.path.insert(0, %r); from weft._ppool import %s; %s()' % (here, entry, entry))
    if forkserver:
        from .multiprocessing import forkserver as _fs
        addr, server = _fs.pool_address()
        prep = {'addr': addr, 'server': server, 'prep': prep}
        # At exit, pools and executors finish (or end) their tasks before the
        # server stops (atexit runs the last registered first).
        for fn in (_futures._python_exit, _at_exit):
            _atexit.unregister(fn)
            _atexit.register(fn)
    blob = _base64.b64encode(_dumps(prep, _HIGHEST)).decode('ascii')
    exe = _sys.executable
    try:  # multiprocessing.set_executable() (weft.multiprocessing.spawn)
        from .multiprocessing import spawn as _spawn
        exe = _spawn.get_executable()
        if isinstance(exe, (list, tuple)):
            exe = exe[0]
    except (ImportError, AttributeError):
        pass
    return exe, ['-c', code, blob]


# ---- the pool's side -------------------------------------------------------------

_outcome = _weft.py_ppool_outcome
_future_wait = _weft.py_future_wait
_get_state = _weft.weft_future_get_state
_DONE = _weft.WEFT_FUTURE_DONE
_RUNNING = _weft.WEFT_FUTURE_RUNNING
_CANCELLED = _weft.WEFT_FUTURE_CANCELLED


def _weft_exception(code, name, message):
    if code == _weft.WEFT_EWORKERDIED:
        return WorkerDiedError(message)
    if code == _weft.WEFT_ECANCELLED:
        return _cf.CancelledError(message)
    if code == _weft.WEFT_EBROKEN:
        e = BrokenProcessPool(message)
        e.code, e.name = code, name
        return e
    cls = _weft._error_classes.get(code, WeftError)
    e = cls(message)
    e.code, e.name = code, name
    return e


def decode(outer, inner):
    """(True, value) or (False, exception) of a finished task."""
    o = _outcome(outer, inner)
    if o is None:
        raise _cf.InvalidStateError('the task is not finished')
    return decode_outcome(o)


def decode_outcome(o):
    """(True, value) or (False, exception) of a task's outcome as
    py_ppool_outcome and py_ppool_map give it: (0, bytes), (1, (code, name,
    message)) or (2, None)."""
    kind, payload = o
    if kind == 0:
        if payload[:1] in _PACKED:  # a chunk's values, every one an int (or a float)
            return True, _weft.py_unpack_numbers(payload)
        try:
            value = _loads(memoryview(payload)[1:])
        except BaseException as e:  # noqa: B902 - the result does not unpickle here
            err = TransferError('the result could not be unpickled: %s: %s' % (type(e).__name__, e))
            err.__cause__ = e
            return False, err
        tag = payload[:1]
        if tag == b'P':
            return True, Outcomes(value)
        return tag == b'R', value
    if kind == 2:
        return False, _cf.CancelledError()
    return False, _weft_exception(*payload)


class Outcomes(list):
    """A chunk's [(ok, value or exception), ...] when some call of it failed
    (a chunk whose calls all returned is the plain list of their values)."""

    __slots__ = ()


class ProcessFuture(_futures.Future):
    """The Future of a task run in a worker process (weft.futures.Future).

    Its result is unpickled, once, in the first thread that asks for it.
    cancel() cancels a task that has not started (a running one is left
    alone, as concurrent.futures does).
    """

    __slots__ = ('_inner', '_decoded')

    def __del__(self, _destroy=_weft.weft_future_destroy):
        inner, self._inner = getattr(self, '_inner', None), None
        if inner is not None:
            _destroy(inner)
        _futures.Future.__del__(self)

    def _decode(self):
        if not self._decoded:
            ok, v = decode(self._h, self._inner)
            if ok:
                self._result = v
            else:
                self._exception = v
            self._decoded = True
        return self._exception is None

    def __repr__(self):
        st = _get_state(self._h)
        if st >= _DONE and st != _CANCELLED:
            self._decode()
            if self._exception is None:
                return '<%s at %#x state=finished returned %s>' % (
                    self.__class__.__name__, id(self), self._result.__class__.__name__)
            return '<%s at %#x state=finished raised %s>' % (
                self.__class__.__name__, id(self), self._exception.__class__.__name__)
        return _futures.Future.__repr__(self)

    def running(self):
        """Return True if a worker runs the call now."""
        return _get_state(self._h) < _DONE and _get_state(self._inner) == _RUNNING

    def cancel(self):
        """Cancel the call if no worker took it yet; return whether it is cancelled."""
        if _weft.py_ppool_cancel(self._inner):
            return True
        return _get_state(self._h) == _CANCELLED

    def result(self, timeout=None):
        """Return the call's value, waiting up to timeout seconds (see Future.result)."""
        h = self._h
        st = _get_state(h)
        if st < _DONE:
            if not _future_wait(h, _futures._wait_ns(timeout)):
                raise _cf.TimeoutError()
            st = _get_state(h)
        if st == _CANCELLED:
            raise _cf.CancelledError()
        if self._decode():
            return self._result
        try:
            raise self._exception
        finally:
            self = None

    def exception(self, timeout=None):
        """Return the call's exception (None if it returned), waiting up to timeout seconds."""
        h = self._h
        if _get_state(h) < _DONE and not _future_wait(h, _futures._wait_ns(timeout)):
            raise _cf.TimeoutError()
        if _get_state(h) == _CANCELLED:
            raise _cf.CancelledError()
        self._decode()
        return self._exception

    def set_running_or_notify_cancel(self):
        raise RuntimeError('the pool runs this future')

    def set_result(self, result):
        raise RuntimeError('the pool finishes this future')

    def set_exception(self, exception):
        raise RuntimeError('the pool finishes this future')


def failed_future(exc):
    """A finished weft Future that raises exc (e.g. arguments that do not pickle)."""
    f = _futures.Future()
    f.set_exception(exc)
    return f


_BY_NAME = (_types.FunctionType, _types.BuiltinFunctionType)
_fn_bytes = {}    # function -> its pickle (a reference by module and name)
_live = {}        # id(handle) -> pools not yet destroyed, for the exit handler
_orphans = []     # pools collected while their tasks still ran: destroyed once finished


def _reap_orphans():
    for h in list(_orphans):
        try:
            done = _weft.py_ppool_join(h, 0)
        except WeftError:
            done = True
        if done:
            _orphans.remove(h)
            _weft.py_ppool_destroy(h)


class Core:
    """One weft process pool running Python callables (used by Pool and ProcessPoolExecutor)."""

    def __init__(self, workers, start_method='fork', initializer=None, initargs=(), max_tasks=0,
                 task_timeout=None, max_restarts=0, restart_window=None, init_errors='log', at_exit='wait'):
        if start_method is None:
            start_method = 'fork'
        if start_method not in START_METHODS:
            raise ValueError('cannot find context for %r' % (start_method,))
        self.start_method = start_method
        _reap_orphans()
        init = None
        if initializer is not None:
            init = _Initializer(initializer, tuple(initargs), init_errors == 'log')
        program = argv = init_blob = None
        method = start_method
        if start_method != 'fork':
            _check_not_importing_main()
            # weft's C forkserver is process-wide and re-executes the program,
            # which a Python program cannot serve: the C pool spawns each
            # worker (spawn) or each worker's link to the Python forkserver
            # (forkserver; see the module's docstring).
            method = 'spawn'
            program, argv = _spawn_argv(forkserver=start_method == 'forkserver')
            if init is not None:
                init_blob = b'I' + _dumps(init, _HIGHEST)
            init = None
        self._init = init  # the fork workers' copy lives as long as the pool
        ns = 0 if task_timeout is None else _weft.py_timeout_ns(task_timeout)
        window = 0 if restart_window is None else _weft.py_timeout_ns(restart_window)
        self.h = _weft.py_ppool_create(workers, START_METHODS[method], max_tasks or 0, ns,
                                       max_restarts, window, init, init_blob, program, argv)
        _live[id(self.h)] = (self.h, at_exit == 'wait')

    def submit(self, data):
        """Submit runner bytes; return a ProcessFuture."""
        outer, inner = _weft.py_ppool_submit(self.h, data)
        f = ProcessFuture.__new__(ProcessFuture)
        f._h = outer
        f._inner = inner
        f._result = f._exception = f._work = f._pool_state = None
        f._decoded = False
        return f

    def map_chunks(self, datas):
        """Run the tasks of runner bytes datas (a map's chunks) with one C map
        on this thread and wait: [(ok, value or exception), ...] in order.
        An untimed map on a pool without task timeout or max_tasks borrows
        the idle workers and moves the chunks itself (no supervisor hop and
        no future per chunk; weft_process_pool_map_stoppable). It holds no
        GIL; on the main thread a signal handler that raises (Ctrl-C's
        KeyboardInterrupt) stops it within 100 ms, the workers running its
        chunks killed and replaced, and the exception propagates.
        WeftClosedError if the pool was closed."""
        main = _threading.current_thread() is _threading.main_thread()
        return [decode_outcome(o) for o in _weft.py_ppool_map(self.h, datas, main, 0)]

    def wake(self, n):
        """Wake up to n idle workers: chunks follow shortly (a hint; never raises
        for a live pool)."""
        if self.h is not None:
            _weft.py_ppool_wake(self.h, n)

    def map_values(self, datas):
        """map_chunks(datas), for a map that wants only the values: (values,
        None) with every chunk's values in order in one list when each chunk's
        calls all returned numbers (packed: decoded in C straight into that
        list), else (None, map_chunks' outcomes)."""
        main = _threading.current_thread() is _threading.main_thread()
        values, outcomes = _weft.py_ppool_map(self.h, datas, main, 1)
        if values is not None:
            return values, None
        return None, [decode_outcome(o) for o in outcomes]

    @staticmethod
    def _fn_ref(fn):
        """A plain function's pickle (a reference by module and name), kept:
        pickling a global imports its module each time. The worker keeps the
        function it found under these bytes. None for other callables."""
        if type(fn) not in _BY_NAME:
            return None
        fnb = _fn_bytes.get(fn)
        if fnb is None:
            fnb = _dumps(fn, _HIGHEST)
            if len(_fn_bytes) >= 512:
                _fn_bytes.clear()
            _fn_bytes[fn] = fnb
        return fnb

    def submit_call(self, fn, args, kwargs):
        try:
            fnb = self._fn_ref(fn)
            if fnb is not None:
                data = b''.join((b'F', len(fnb).to_bytes(4, 'little'), fnb, _dumps((args, kwargs), _HIGHEST)))
            else:
                data = b'C' + _dumps((fn, args, kwargs), _HIGHEST)
        except Exception as e:  # noqa: BLE001 - reported on the future, as the stdlib does
            _note(e, 'weft: the call %r could not be pickled for the worker process' % (fn,))
            return failed_future(e)
        return self.submit(data)

    def submit_chunk(self, fn, items, star):
        return self.chunk_submitter(fn, star)(items)

    def chunk_submitter(self, fn, star):
        """A function items -> the ProcessFuture of one map chunk: fn(x) (or
        fn(*x) with star) for each item, run in one task. A plain function's
        reference is pickled once for all the chunks, the items once per chunk."""
        pack = self.chunk_packer(fn, star)
        submit = self.submit

        def chunk(items):
            data = pack(items)
            return submit(data) if type(data) is bytes else data

        return chunk

    def chunk_packer(self, fn, star):
        """A function items -> the task bytes of one map chunk (see
        chunk_submitter), or a failed Future if they do not pickle; submit
        the bytes with submit()."""
        try:
            fnb = self._fn_ref(fn)
        except Exception:  # noqa: BLE001 - reported per chunk below
            fnb = None
        if fnb is not None:
            head = b''.join((b'G', b'\x01' if star else b'\x00', len(fnb).to_bytes(4, 'little'), fnb))

        def pack(items):
            try:
                if fnb is not None:
                    packed = _weft.py_pack_numbers(items) if not star else None  # (a list of ints or floats)
                    return head + (packed if packed is not None else _dumps(items, _HIGHEST))
                return b'M' + _dumps((fn, star, items), _HIGHEST)
            except Exception as e:  # noqa: BLE001
                _note(e, 'weft: the arguments of %r could not be pickled for the worker process' % (fn,))
                return failed_future(e)

        return pack

    def close(self):
        if self.h is not None:
            _weft.py_ppool_close(self.h)

    def terminate(self):
        if self.h is not None:
            _weft.py_ppool_terminate(self.h)

    def shutdown(self, wait, cancel):
        if self.h is not None:
            _weft.py_ppool_shutdown(self.h, 1 if wait else 0, 1 if cancel else 0)

    def join(self, timeout=None):
        if self.h is None:
            return True
        ns = _FOREVER if timeout is None else _weft.py_timeout_ns(max(0, timeout))
        return _weft.py_ppool_join(self.h, ns)

    def stats(self):
        return _weft.py_ppool_stats(self.h)

    def pids(self):
        return _weft.py_ppool_pids(self.h)

    def release(self):
        """Forget the pool: destroy it now if it finished, else once it has."""
        h, self.h = self.h, None
        if h is None:
            return
        _live.pop(id(h), None)
        try:
            _weft.py_ppool_close(h)
            done = _weft.py_ppool_join(h, 0)
        except WeftError:
            done = True
        if done:
            _weft.py_ppool_destroy(h)
        else:
            _orphans.append(h)


def _note(exc, text):
    try:
        exc.add_note(text)
    except AttributeError:  # Python < 3.11
        pass


class _Initializer:
    """Runs initializer(*initargs) once in each worker; a failure ends the worker.

    Pickled for spawn and forkserver workers; called through C for fork ones.
    """

    def __init__(self, fn, args, log):
        self.fn = fn
        self.args = args
        self.log = log

    def __call__(self):
        try:
            self.fn(*self.args)
        except BaseException:  # noqa: B902 - the stdlib logs it and the worker is lost
            if self.log:  # concurrent.futures' way
                import logging
                logging.getLogger('concurrent.futures').critical('Exception in initializer:', exc_info=True)
            else:  # multiprocessing's way: the worker's traceback on stderr
                _sys.stderr.write('weft: the process pool initializer raised; the worker exits\n')
                _traceback.print_exc()
            # Leave as a multiprocessing child does: flush its queues' feeder
            # threads (a QueueHandler's records), then the streams.
            mp_util = _sys.modules.get('multiprocessing.util')
            if mp_util is not None:
                try:
                    mp_util._exit_function()
                except BaseException:  # noqa: B902
                    pass
            try:
                _sys.stderr.flush()
            except Exception:  # noqa: BLE001
                pass
            _os._exit(1)


def _at_exit():
    # As the stdlib at exit: executors finish what was submitted, Pools are
    # terminated (multiprocessing's finalizer does that).
    for h, wait in list(_live.values()):
        try:
            if wait:
                _weft.py_ppool_shutdown(h, 1, 0)
            else:
                _weft.py_ppool_terminate(h)
                _weft.py_ppool_join(h, -1)
        except WeftError:
            pass
    for h in list(_orphans):
        try:
            _weft.py_ppool_shutdown(h, 1, 0)
        except WeftError:
            pass


_atexit.register(_at_exit)
