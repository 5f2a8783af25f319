"""weft.multiprocessing.spawn: the *spawn* start method.

The child is a fresh interpreter (``sys.executable``, or :func:`set_executable`)
started with weft's process API (``weft_process_start_program``), so join,
exitcode, terminate, kill and ``daemon`` (a daemon child dies with its parent,
even a SIGKILLed one) behave as for every weft process. The parent sends the
child, over an inherited pipe, the stdlib's preparation data
(``multiprocessing.spawn.get_preparation_data``: sys.path, cwd, how to find
``__main__``) and the pickled Process; the child runs
``multiprocessing.spawn.prepare()`` (which imports the parent's main module
as ``__mp_main__``, so targets defined in ``__main__`` are found when the
program has its ``if __name__ == '__main__':`` guard), unpickles the Process
and runs it.
"""

import io as _io
import os as _os
import pickle as _pickle
import subprocess as _subprocess
import sys as _sys

from .. import _weft

__all__ = ['set_executable', 'get_executable', 'get_command_line']

_executable = [_sys.executable]

# The child's own code: it puts weft's directory on sys.path (so the package
# is found whatever the parent's PYTHONPATH), then reads its task.
_PKG_DIR = _os.path.dirname(_os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))
_CHILD = ('import sys; sys.path.insert(0, %r); '
          'from weft.multiprocessing.spawn import _main; _main(%%d)' % _PKG_DIR)


def set_executable(exe):
    """The interpreter spawn children (and the forkserver) run."""
    _executable[0] = _os.fsdecode(exe)


def get_executable():
    """The interpreter spawn children run (default sys.executable)."""
    return _executable[0]


def get_command_line(fd):
    """argv of a child reading its task from descriptor fd."""
    return ([get_executable()] + _subprocess._args_from_interpreter_flags()
            + ['-c', _CHILD % fd])


def preparation_data(name):
    """The stdlib's preparation data, plus weft's start method."""
    from multiprocessing import spawn as std_spawn
    from . import context
    d = std_spawn.get_preparation_data(name)
    d['weft_start_method'] = context.get_start_method()
    if 'authkey' in d:  # an AuthenticationString refuses pickling outside the stdlib's spawn
        d['authkey'] = bytes(d['authkey'])
    return d


def prepare(data):
    """Make this fresh interpreter look like the parent (as the stdlib's prepare)."""
    from multiprocessing import process as std_process
    from multiprocessing import spawn as std_spawn
    from . import context
    me = std_process.current_process()
    me._inheriting = True
    try:
        std_spawn.prepare(data)
    finally:
        me._inheriting = False
    method = data.get('weft_start_method')
    if method is not None:
        context.set_start_method(method, force=True)


class Popen:
    """A started spawn child (a weft process handle)."""

    method = 'spawn'

    def __init__(self, process_obj):
        prep = preparation_data(process_obj.name)
        buf = _io.BytesIO()
        _pickle.dump(prep, buf, protocol=_pickle.HIGHEST_PROTOCOL)
        _pickle.dump(process_obj, buf, protocol=_pickle.HIGHEST_PROTOCOL)
        data = buf.getbuffer()
        r, w = _os.pipe()
        try:
            _os.set_inheritable(r, True)
            exe = get_executable()
            self._h = _weft.py_mpx_process_start_program(exe, get_command_line(r),
                                                         1 if process_obj._daemon else 0,
                                                         process_obj.name)
        except BaseException:
            _os.close(w)
            raise
        finally:
            _os.close(r)
        self.pid = _weft.weft_process_pid(self._h)
        try:
            with open(w, 'wb', closefd=True) as f:
                f.write(len(data).to_bytes(8, 'little'))
                f.write(data)
        except BrokenPipeError:
            pass  # the child died at once: its exit code tells

    def wait(self, timeout=None):
        """The exit code once ended within timeout seconds (None: forever), else None."""
        if self._h is None:
            return self._code
        ns = -1 if timeout is None else _weft.py_timeout_ns(max(timeout, 0))
        if not _weft.py_mpx_process_join(self._h, ns):
            return None
        self._code = _weft.py_mpx_process_exitcode(self._h)
        return self._code

    def poll(self):
        """The exit code, or None while running."""
        if self._h is None:
            return self._code
        return _weft.py_mpx_process_exitcode(self._h)

    def terminate(self):
        """SIGTERM."""
        if self._h is not None:
            _weft.weft_process_terminate(self._h)

    def kill(self):
        """SIGKILL."""
        if self._h is not None:
            _weft.weft_process_kill(self._h)

    @property
    def sentinel(self):
        """A pidfd of the child: readable once it ended."""
        fd = getattr(self, '_sentinel', None)
        if fd is None:
            fd = self._sentinel = _os.pidfd_open(self.pid)
        return fd

    def close(self):
        """Release the handle (a running daemon child is killed)."""
        h, self._h = self._h, None
        if h is not None:
            code = _weft.py_mpx_process_exitcode(h)
            self._code = code
            _weft.weft_process_destroy(h)
        fd = getattr(self, '_sentinel', None)
        if fd is not None:
            self._sentinel = None
            _os.close(fd)

    _code = None


def _read_task(fd):
    with open(fd, 'rb', closefd=True) as f:
        n = int.from_bytes(f.read(8), 'little')
        return f.read(n)


def _main(fd):
    """The spawn child: read the task, prepare, run, exit with the code."""
    data = _io.BytesIO(_read_task(fd))
    prep = _pickle.load(data)
    prepare(prep)
    process_obj = _pickle.load(data)
    del data
    code = process_obj._bootstrap()
    for f in (_sys.stdout, _sys.stderr):
        try:
            f.flush()
        except Exception:  # noqa: BLE001 - a closed stream is not our concern
            pass
    _os._exit(code)
