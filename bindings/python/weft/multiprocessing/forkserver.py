"""weft.multiprocessing.forkserver: the *forkserver* start method.

A server process is started once per parent process (by spawn, with weft's
process API, before this process has to fork anything itself). It prepares
itself as a spawn child does (sys.path, cwd, ``__main__`` imported as
``__mp_main__``, plus :func:`set_forkserver_preload` modules), then forks one
child per request. Each request carries one end of a fresh socket pair: the
parent writes the pickled Process into its end, the child reads it from the
other; the server answers the child's pid on it and, once the child ended,
its exit code (-N for signal N), so join, exitcode and ``sentinel`` work
although the parent is not the OS parent. A daemon child asks the kernel to
kill it when the server ends, and the server ends when its parent does (it
watches a pidfd of it and its control socket), so daemon children die with
the parent, SIGKILL included; non-daemon children go on.

The server also forks the workers of forkserver process pools
(weft.multiprocessing.Pool and weft.futures.ProcessPoolExecutor with the
forkserver start method; see weft/_ppool.py). weft's C pool starts each
worker as a small *link* process (a spawn of the interpreter, the pid the
pool supervises); the link connects to the server's listening socket (an
abstract Unix address known to the parent, only this user's processes are
served, checked with SO_PEERCRED) and hands it one end of a socket pair: the
server forks a child that runs the link's tasks from that socket
(:func:`_pool_child`), answers its pid and, once it ended, its exit code.
The child dies with the server; the server kills the child when its link
ends (the pool killed or retired it), so the pool's supervision of the link
is supervision of the child.
"""

import os as _os
import pickle as _pickle
import select as _select
import signal as _signal
import socket as _socket
import struct as _struct
import sys as _sys
import threading as _threading

from .. import _weft
from . import spawn as _spawn

__all__ = ['set_forkserver_preload', 'ensure_running', 'get_server_pid']

_preload = ['__main__']
_state = {'pid': None, 'sock': None, 'handle': None, 'owner': None, 'addr': None}
_lock = _threading.Lock()

_CHILD = ('import sys; sys.path.insert(0, %r); '
          'from weft.multiprocessing.forkserver import _serve; _serve(%%d)' % _spawn._PKG_DIR)


def set_forkserver_preload(module_names):
    """Modules the server imports when it starts ('__main__': the parent's main module)."""
    if not all(isinstance(m, str) for m in module_names):
        raise TypeError('module_names must be a list of strings')
    _preload[:] = list(module_names)


def get_server_pid():
    """The server's pid, or None when this process has none running."""
    return _state['pid'] if _state['owner'] == _os.getpid() else None


def ensure_running():
    """Start the server unless this process has one running already."""
    with _lock:
        _ensure_locked()


def pool_address():
    """(address, pid) of this process's server (started if needed): the abstract
    Unix address where forkserver pool workers ask it for a child."""
    with _lock:
        _ensure_locked()
        return _state['addr'], _state['pid']


def _ensure_locked():
    if _state['owner'] == _os.getpid() and _state['handle'] is not None:
        if _weft.weft_process_is_alive(_state['handle']):
            return
        _stop_locked()
    _state.update(pid=None, sock=None, handle=None, owner=None, addr=None)  # a fork child's copy
    mine, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        theirs.set_inheritable(True)
        fd = theirs.fileno()
        argv = ([_spawn.get_executable()] + _spawn._subprocess._args_from_interpreter_flags()
                + ['-c', _CHILD % fd])
        h = _weft.py_mpx_process_start_program(argv[0], argv, 0, 'weft-forkserver')
    except BaseException:
        mine.close()
        raise
    finally:
        theirs.close()
    prep = _spawn.preparation_data('ForkServer') if '__main__' in _preload else None
    addr = b'\0weft-forkserver-%d-%s' % (_os.getpid(), _os.urandom(8).hex().encode())
    data = _pickle.dumps((prep, [m for m in _preload if m != '__main__'], _os.getpid(), addr),
                         protocol=_pickle.HIGHEST_PROTOCOL)
    mine.sendall(_struct.pack('<Q', len(data)) + data)
    _state.update(pid=_weft.weft_process_pid(h), sock=mine, handle=h, owner=_os.getpid(), addr=addr)
    if not _state.get('atexit'):
        import atexit
        atexit.register(_stop_at_exit)
        _state['atexit'] = True


def _stop_at_exit():
    with _lock:
        if _state['owner'] == _os.getpid():
            _stop_locked()


def _stop_locked():
    sock, h = _state['sock'], _state['handle']
    _state.update(pid=None, sock=None, handle=None, owner=None, addr=None)
    if sock is not None:
        sock.close()
    if h is not None:
        try:
            _weft.py_mpx_process_join(h, 2_000_000_000)
            _weft.weft_process_kill(h)
        except _weft.WeftError:  # e.g. reaped by someone else's waitpid(-1) (a test's reap_children)
            pass
        _weft.weft_process_destroy(h)


def _recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


class Popen:
    """A child forked by the server; its report socket is the sentinel."""

    method = 'forkserver'

    def __init__(self, process_obj):
        data = _pickle.dumps(process_obj, protocol=_pickle.HIGHEST_PROTOCOL)
        mine, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
        self._sock = mine
        self._code = None
        try:
            with _lock:
                _ensure_locked()
                _socket.send_fds(_state['sock'], [b'D' if process_obj._daemon else b'N'],
                                 [theirs.fileno()])
            theirs.close()
            mine.sendall(_struct.pack('<Q', len(data)) + data)
            self.pid = _struct.unpack('<q', _recv_exact(mine, 8))[0]
        except (OSError, EOFError) as e:
            theirs.close()
            mine.close()
            from . import ProcessError
            raise ProcessError('the forkserver did not start the process: %r' % (e,)) from None

    @property
    def sentinel(self):
        """Readable once the child ended (its exit code arrived)."""
        return self._sock.fileno()

    def wait(self, timeout=None):
        """The exit code once ended within timeout seconds (None: forever), else None."""
        if self._code is not None or self._sock is None:
            return self._code
        if timeout is not None:
            r, _, _ = _select.select([self._sock], [], [], max(timeout, 0))
            if not r:
                return None
        try:
            self._code = _struct.unpack('<i', _recv_exact(self._sock, 4))[0]
        except (OSError, EOFError):
            self._code = -_signal.SIGKILL  # the server died before it could report
        self._sock.close()
        self._sock = None
        return self._code

    def poll(self):
        """The exit code, or None while running."""
        return self.wait(0)

    def _signal(self, sig):
        if self._code is None and self.wait(0) is None:
            try:
                _os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def terminate(self):
        """SIGTERM."""
        self._signal(_signal.SIGTERM)

    def kill(self):
        """SIGKILL."""
        self._signal(_signal.SIGKILL)

    def close(self):
        """Release the report socket."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


# ---- the server --------------------------------------------------------------------
def _serve(fd):
    """The server's main loop (in the process ensure_running() started)."""
    ctrl = _socket.socket(fileno=fd)
    n = _struct.unpack('<Q', _recv_exact(ctrl, 8))[0]
    prep, modules, parent, addr = _pickle.loads(_recv_exact(ctrl, n))
    # Listen first: pool workers may ask while the main module is imported.
    listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    listener.bind(addr)
    listener.listen(64)
    if prep is not None:
        try:
            _spawn.prepare(prep)
        except Exception:  # noqa: BLE001 - as CPython: a main that fails to import is not fatal
            pass
    for m in modules:
        try:
            __import__(m)
        except ImportError:
            pass
    try:
        parent_fd = _os.pidfd_open(parent)
    except OSError:
        _os._exit(0)
    if _os.getppid() != parent:
        _os._exit(0)
    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
    children = {}  # pidfd -> (pid, report socket, pidfd of its pool link or None)
    links = {}     # pidfd of a pool link -> the pid of its child
    server_pid = _os.getpid()  # read before fork: a child that asks later may see its new parent
    poller = _select.poll()
    poller.register(ctrl, _select.POLLIN)
    poller.register(parent_fd, _select.POLLIN)
    poller.register(listener, _select.POLLIN)

    def fork_child():
        pid = _os.fork()
        if pid == 0:
            ctrl.close()
            listener.close()
            _os.close(parent_fd)
            for pfd, (_, rep, _) in children.items():
                _os.close(pfd)
                rep.close()
            for lfd in links:
                _os.close(lfd)
        return pid

    while True:
        gone = set()  # descriptors closed while handling this batch: their later events are stale
        for rfd, _ in poller.poll():
            if rfd in gone:
                continue
            if rfd == parent_fd:
                _os._exit(0)
            if rfd == ctrl.fileno():
                try:
                    msg, fds, _, _ = _socket.recv_fds(ctrl, 1, 1)
                except OSError:
                    msg, fds = b'', []
                if not msg:
                    _os._exit(0)
                rep = _socket.socket(fileno=fds[0])
                pid = fork_child()
                if pid == 0:
                    _signal.signal(_signal.SIGINT, _signal.SIG_DFL)
                    _child(rep, msg == b'D', server_pid)
                _watch_child(pid, rep, None, children, poller)
                continue
            if rfd == listener.fileno():
                _accept_link(listener, fork_child, server_pid, children, links, poller)
                continue
            if rfd in links:  # a pool link ended: its child goes too
                pid = links.pop(rfd)
                poller.unregister(rfd)
                _os.close(rfd)
                gone.add(rfd)
                try:
                    _os.kill(pid, _signal.SIGKILL)
                except ProcessLookupError:
                    pass
                continue
            if rfd not in children:
                continue
            pid, rep, lfd = children.pop(rfd)
            poller.unregister(rfd)
            _os.close(rfd)
            gone.add(rfd)
            if lfd is not None and links.pop(lfd, None) is not None:
                poller.unregister(lfd)
                _os.close(lfd)
                gone.add(lfd)
            _, status = _os.waitpid(pid, 0)
            try:
                rep.sendall(_struct.pack('<i', _os.waitstatus_to_exitcode(status)))
            except OSError:
                pass
            rep.close()


def _watch_child(pid, rep, link_fd, children, poller):
    """Tell the client the new child's pid on rep and watch the child's end (its pidfd)."""
    try:
        rep.sendall(_struct.pack('<q', pid))
    except OSError:
        pass
    pfd = _os.pidfd_open(pid)
    children[pfd] = (pid, rep, link_fd)
    poller.register(pfd, _select.POLLIN)


def _accept_link(listener, fork_child, server_pid, children, links, poller):
    """A pool worker's link asks for a child: b'W' and one end of its socket pair."""
    try:
        conn, _ = listener.accept()
    except OSError:
        return
    try:
        cred = conn.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, _struct.calcsize('3i'))
        link_pid, uid, _ = _struct.unpack('3i', cred)
        if uid != _os.getuid():
            raise OSError('a process of another user')
        conn.settimeout(5.0)
        msg, fds, _, _ = _socket.recv_fds(conn, 1, 1)
        conn.settimeout(None)
        if msg != b'W' or len(fds) != 1:
            for f in fds:
                _os.close(f)
            raise OSError('not a pool link request')
        link_fd = _os.pidfd_open(link_pid)
    except OSError:
        conn.close()
        return
    if 'weft._ppool' not in _sys.modules:
        import weft._ppool  # noqa: F401 - once, in the server: every child has it
    chan = _socket.socket(fileno=fds[0])
    pid = fork_child()
    if pid == 0:
        conn.close()
        _os.close(link_fd)
        _pool_child(chan, server_pid)
    chan.close()
    _watch_child(pid, conn, link_fd, children, poller)
    links[link_fd] = pid
    poller.register(link_fd, _select.POLLIN)


def _pool_child(chan, server_pid):
    """A forkserver pool worker: run the tasks its link forwards, until end of file.

    Each task is a u64 length and the bytes weft's pool sent the link; the
    answer is a u64 length and weft._ppool.run_task's bytes."""
    from . import _arm_parent_death
    from .._ppool import run_task
    _arm_parent_death(server_pid)
    # As weft's C pool workers: a crash ends the child with its signal (which
    # the link passes on to the pool), not in a handler inherited from the
    # server (a sanitizer's, faulthandler's); every signal unblocked.
    for sig in (_signal.SIGSEGV, _signal.SIGBUS, _signal.SIGFPE, _signal.SIGILL, _signal.SIGABRT,
                _signal.SIGTRAP, _signal.SIGSYS):
        _signal.signal(sig, _signal.SIG_DFL)
    _signal.pthread_sigmask(_signal.SIG_SETMASK, [])
    _signal.signal(_signal.SIGINT, _signal.default_int_handler)
    # A process a task forks (os.fork, a fork Pool) must not keep this end
    # open: the link sees the child's death as the end of this socket.
    _os.register_at_fork(after_in_child=chan.close)
    code = 0
    try:
        recv_into = chan.recv_into
        small = bytearray(1 << 16)  # one read takes a small task whole
        sview = memoryview(small)
        while True:
            got = recv_into(small)
            while 0 < got < 8:
                k = recv_into(sview[got:])
                got = got + k if k else 0
            if not got:
                return
            n = int.from_bytes(sview[:8], 'little')
            if n + 8 <= len(small):
                view = sview[8:8 + n]
                got -= 8
            else:
                view = memoryview(bytearray(n))
                view[:got - 8] = sview[8:got]
                got -= 8
            while got < n:
                k = recv_into(view[got:])
                if not k:
                    return
                got += k
            r = run_task(view)
            view = None
            chan.sendmsg([len(r).to_bytes(8, 'little'), r])
    except OSError:
        pass
    except BaseException:  # noqa: BLE001 - e.g. KeyboardInterrupt between tasks
        code = 1
    finally:
        from . import _flush_std
        _flush_std()
        _os._exit(code)


def _child(rep, daemon, server_pid):
    code = 1
    try:
        if daemon:
            from . import _arm_parent_death
            _arm_parent_death(server_pid)
        n = _struct.unpack('<Q', _recv_exact(rep, 8))[0]
        process_obj = _pickle.loads(_recv_exact(rep, n))
        rep.close()
        code = process_obj._bootstrap()
    except BaseException:  # noqa: BLE001 - the child reports every failure
        import traceback
        traceback.print_exc()
    finally:
        from . import _flush_std
        _flush_std()
        _os._exit(code)
