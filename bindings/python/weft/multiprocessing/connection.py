"""weft.multiprocessing.connection: Listener, Client, wait, Connection, Pipe.

Over weft's connections (``<weft/connection.h>``): the framing and the
authkey handshake are CPython's, so a weft ``Listener`` accepts a
``multiprocessing.connection.Client`` and a weft ``Client`` talks to a
``multiprocessing.connection.Listener``, with or without ``authkey``.

Addresses are Python's: a str path (a Unix-domain socket file), a str
starting with a NUL byte (a Linux abstract socket), or a ``(host, port)``
tuple (TCP; port 0 picks a free one). weft's own ``"unix:..."`` /
``"tcp:..."`` strings are accepted too. ``Listener.address`` answers in the
form it was given.
"""

import select as _select
import tempfile as _tempfile
import time as _time

from .. import _weft
from .._errors import WeftPermissionError as _Perm
from . import AuthenticationError, Connection, Pipe

__all__ = ['Listener', 'Client', 'wait', 'Connection', 'Pipe', 'AuthenticationError']

_BACKLOG = 1


def _to_weft(address):
    """Python's address -> (weft's address string, family)."""
    if isinstance(address, tuple):
        host, port = address
        if ':' in host and not host.startswith('['):
            host = '[' + host + ']'
        return 'tcp:%s:%d' % (host, port), 'AF_INET'
    if isinstance(address, bytes):
        address = address.decode()
    if not isinstance(address, str):
        raise TypeError('address type of %r unrecognized' % (address,))
    if address.startswith(('unix:', 'tcp:')):
        return address, 'AF_INET' if address.startswith('tcp:') else 'AF_UNIX'
    if address.startswith('\0'):
        return 'unix:@' + address[1:], 'AF_UNIX'
    return 'unix:' + address, 'AF_UNIX'


def _from_weft(waddr, given):
    """weft's address string -> the form the caller gave."""
    if isinstance(given, str) and given.startswith(('unix:', 'tcp:')):
        return waddr
    if waddr.startswith('tcp:'):
        host, _, port = waddr[4:].rpartition(':')
        return (host.strip('[]'), int(port))
    path = waddr[5:]
    return '\0' + path[1:] if path.startswith('@') else path


def _auth_key(authkey):
    if authkey is not None and not isinstance(authkey, bytes):
        raise TypeError('authkey should be a byte string')
    return authkey


def arbitrary_address(family):
    """A fresh address of a family ('AF_UNIX' or 'AF_INET'), as the stdlib's."""
    if family == 'AF_INET':
        return ('localhost', 0)
    return _tempfile.mktemp(prefix='listener-', dir=_tempfile.gettempdir())


class Listener:
    """Listens on address for Client connections (multiprocessing.connection.Listener).

    With authkey, every client must prove it knows the key (CPython's
    challenge and response); a client that does not is refused, and accept()
    raises AuthenticationError, as the stdlib's."""

    def __init__(self, address=None, family=None, backlog=1, authkey=None):
        if address is None:
            address = arbitrary_address(family or 'AF_UNIX')
        waddr, fam = _to_weft(address)
        self._family = family or fam
        self._authkey = _auth_key(authkey)
        self._h = _weft.py_mpx_listener_create(waddr, self._authkey, max(backlog, 1))
        self._address = _from_weft(_weft.weft_listener_address(self._h), address)
        self._last_accepted = None

    def accept(self, timeout=None):
        """The next connection (weft extension: None when none came within timeout seconds)."""
        if self._h is None:
            raise OSError('listener is closed')
        ns = -1 if timeout is None else _weft.py_timeout_ns(max(timeout, 0))
        try:
            h = _weft.py_mpx_listener_accept(self._h, ns)
        except _Perm as e:
            raise AuthenticationError(str(e)) from None
        if h is None:
            return None
        return Connection(h, True, True)

    def close(self):
        """Stop listening (a socket file is removed)."""
        h, self._h = self._h, None
        if h is not None:
            _weft.weft_listener_close(h)
            _weft.weft_listener_destroy(h)

    @property
    def address(self):
        """The address clients connect to (a picked port filled in)."""
        return self._address

    @property
    def last_accepted(self):
        """None: weft does not keep the peer's address."""
        return self._last_accepted

    def fileno(self):
        """The listening socket (readable: a client is waiting)."""
        return _weft.weft_listener_fd(self._h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, '_h', None) is not None:
            self.close()


def Client(address, family=None, authkey=None, *, timeout=None):
    """Connect to a Listener at address (multiprocessing.connection.Client);
    weft extension: timeout seconds for the connection and handshake."""
    waddr, _ = _to_weft(address)
    ns = -1 if timeout is None else _weft.py_timeout_ns(max(timeout, 0))
    try:
        h = _weft.py_mpx_client_connect(waddr, _auth_key(authkey), ns)
    except _Perm as e:
        if 'authentication' in str(e):
            raise AuthenticationError(str(e)) from None
        raise
    except LookupError as e:  # nobody listens there
        raise ConnectionRefusedError(str(e)) from None
    return Connection(h, True, True)


def wait(object_list, timeout=None):
    """The objects of object_list that are ready (a Connection with a message or
    at end of file, a socket, a Process sentinel, anything with fileno()),
    waiting up to timeout seconds (None: forever)."""
    fds = {}
    ready = []
    for o in object_list:
        if isinstance(o, Connection):
            if o.poll(0):  # a message read ahead is ready although the fd is not
                ready.append(o)
                continue
            fds[o.fileno()] = o
        elif isinstance(o, int):
            fds[o] = o
        else:
            fds[o.fileno()] = o
    if ready:
        timeout = 0  # report the others that are ready too, without waiting
    deadline = None if timeout is None else _time.monotonic() + timeout
    p = _select.poll()
    for fd in fds:
        p.register(fd, _select.POLLIN)
    while True:
        ms = None if deadline is None else max(0, int((deadline - _time.monotonic()) * 1000))
        events = p.poll(ms)
        out = ready + [fds[fd] for fd, _ in events]
        if out or (deadline is not None and _time.monotonic() >= deadline):
            return out

