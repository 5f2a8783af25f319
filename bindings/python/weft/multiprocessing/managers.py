"""weft.multiprocessing.managers: ``Manager()`` without a server process.

The stdlib's manager starts a server process and hands out proxies that talk
to it over sockets. weft's objects already live in shared memory, so
:class:`SyncManager` hands out the objects themselves, each *named* (an
automatic unique name) so that it reaches children of every start method
(fork, spawn, forkserver) and is opened by name there:

- ``dict()``: :class:`DictProxy` over a weft shared dict (``<weft/dict.h>``):
  values are pickled; str keys are stored as they are, other keys pickled.
  Compound operations (``setdefault``, ``pop``, ``update``, ``+=`` on a
  value through ``d[k] = d[k] + 1`` is *not* atomic, as with the stdlib)
  run under the dict's own lock; ``with d.lock():`` holds it for several.
- ``list()``: :class:`ListProxy`, the whole list pickled under one key of a
  shared dict, each operation one transaction under the dict's lock (O(n)).
- ``Namespace()``: attributes stored in a shared dict.
- ``Lock``, ``RLock``, ``Semaphore``, ``BoundedSemaphore``, ``Event``,
  ``Condition``, ``Queue``, ``JoinableQueue``, ``Value``, ``Array``: the
  process-scope objects of :mod:`weft.multiprocessing` (named ones).

``shutdown()`` (and leaving the ``with`` block) closes the objects this manager
made; children that opened them keep their own handles.
"""

import base64 as _base64
import os as _os
import pickle as _pickle
import uuid as _uuid

from .. import _weft

__all__ = ['SyncManager', 'BaseManager', 'DictProxy', 'ListProxy', 'Namespace']

_P = _pickle.HIGHEST_PROTOCOL


def _name(kind):
    return 'wpy-m%s-%d-%s' % (kind, _os.getpid(), _uuid.uuid4().hex[:16])


def _enc_key(key):
    if isinstance(key, str) and not key.startswith('\x01'):
        return key
    return '\x01' + _base64.b64encode(_pickle.dumps(key, protocol=_P)).decode()


def _dec_key(k):
    if k.startswith('\x01'):
        return _pickle.loads(_base64.b64decode(k[1:]))
    return k


class _Missing:
    pass


_MISSING = _Missing()


class _DictLock:
    """``with d.lock():`` holds the dict's recursive lock for several operations."""

    def __init__(self, h):
        self._h = h

    def __enter__(self):
        _weft.py_mpx_dict_lock(self._h, -1)
        return self

    def __exit__(self, *exc):
        _weft.weft_dict_unlock(self._h)


class DictProxy:
    """A dict shared by processes (Manager().dict()), stored in a named weft dict."""

    def __init__(self, *args, _name=None, _open=False, **kwargs):
        self._name = _name or _name_default()
        self._h = _weft.py_mpx_open(5, self._name) if _open else _weft.py_mp_dict_create(self._name, 1)
        if args or kwargs:
            self.update(*args, **kwargs)

    def __reduce__(self):
        return (_open_dict, (type(self), self._name))

    def _check(self):
        if self._h is None:
            raise ValueError('the manager object is closed')
        return self._h

    def lock(self):
        """A context manager holding the dict's lock (recursive) across several calls."""
        return _DictLock(self._check())

    def _lookup(self, key):
        """The value, or _MISSING."""
        v = _weft.py_mp_dict_get(self._check(), _enc_key(key), -1)
        return _MISSING if v is None else _pickle.loads(v)

    def _get(self, key, default=_MISSING):
        v = self._lookup(key)
        if v is _MISSING:
            if default is _MISSING:
                raise KeyError(key)
            return default
        return v

    def __getitem__(self, key):
        return self._get(key)

    def get(self, key, default=None):
        """d[key], or default when absent."""
        return self._get(key, default)

    def __setitem__(self, key, value):
        _weft.py_mp_dict_set(self._check(), _enc_key(key), _pickle.dumps(value, protocol=_P), -1)

    def __delitem__(self, key):
        try:
            _weft.weft_dict_delete(self._check(), _enc_key(key), -1)
        except LookupError:
            raise KeyError(key) from None

    def __contains__(self, key):
        return _weft.py_mp_dict_get(self._check(), _enc_key(key), -1) is not None

    def __len__(self):
        return _weft.weft_dict_size(self._check(), -1)

    def _items(self):
        return [(_dec_key(k), _pickle.loads(v)) for k, v in _weft.py_mpx_dict_items(self._check())]

    def items(self):
        """A list of (key, value) pairs (a snapshot)."""
        return self._items()

    def keys(self):
        """A list of the keys (a snapshot)."""
        return [k for k, _ in self._items()]

    def values(self):
        """A list of the values (a snapshot)."""
        return [v for _, v in self._items()]

    def __iter__(self):
        return iter(self.keys())

    def copy(self):
        """A plain dict with the same items."""
        return dict(self._items())

    _getvalue = copy

    def clear(self):
        """Remove every item."""
        _weft.weft_dict_clear(self._check(), -1)

    def update(self, *args, **kwargs):
        """As dict.update, in one transaction."""
        with self.lock():
            for k, v in dict(*args, **kwargs).items():
                self[k] = v

    def setdefault(self, key, default=None):
        """d[key], set to default first when absent (atomic)."""
        with self.lock():
            v = self._lookup(key)
            if v is _MISSING:
                self[key] = default
                return default
            return v

    def pop(self, key, default=_MISSING):
        """Remove key and return its value (default when absent, else KeyError); atomic."""
        with self.lock():
            v = self._lookup(key)
            if v is _MISSING:
                if default is _MISSING:
                    raise KeyError(key)
                return default
            del self[key]
            return v

    def popitem(self):
        """Remove and return some (key, value); KeyError when empty."""
        with self.lock():
            items = _weft.py_mpx_dict_items(self._check())
            if not items:
                raise KeyError('popitem(): dictionary is empty')
            k, v = items[-1]
            _weft.weft_dict_delete(self._h, k, -1)
            return _dec_key(k), _pickle.loads(v)

    def __eq__(self, other):
        return self.copy() == (other.copy() if isinstance(other, DictProxy) else other)

    __hash__ = None

    def __repr__(self):
        return repr(self.copy())

    def close(self):
        """Release this process's handle."""
        h, self._h = getattr(self, '_h', None), None
        if h is not None:
            _weft.weft_dict_destroy(h)

    def __del__(self):
        self.close()


def _name_default():
    return _name('dict')


def _open_dict(cls, name):
    obj = cls.__new__(cls)
    DictProxy.__init__(obj, _name=name, _open=True)
    return obj


class ListProxy(DictProxy):
    """A list shared by processes (Manager().list()): the list pickled under one
    key of a named weft dict, each operation one transaction under its lock."""

    def __init__(self, sequence=(), *, _name=None, _open=False):
        DictProxy.__init__(self, _name=_name, _open=_open)
        if not _open:
            self._store(list(sequence))

    def _load(self):
        v = _weft.py_mp_dict_get(self._check(), 'list', -1)
        return _pickle.loads(v) if v is not None else []

    def _store(self, lst):
        _weft.py_mp_dict_set(self._check(), 'list', _pickle.dumps(lst, protocol=_P), -1)

    def _apply(self, fn):
        with self.lock():
            lst = self._load()
            r = fn(lst)
            self._store(lst)
            return r

    def _read(self, fn):
        with self.lock():
            return fn(self._load())

    def __getitem__(self, i):
        return self._read(lambda lst: lst[i])

    def __setitem__(self, i, v):
        self._apply(lambda lst: lst.__setitem__(i, v))

    def __delitem__(self, i):
        self._apply(lambda lst: lst.__delitem__(i))

    def __len__(self):
        return self._read(len)

    def __iter__(self):
        return iter(self._read(list))

    def __contains__(self, v):
        return self._read(lambda lst: v in lst)

    def append(self, v):
        """Append v."""
        self._apply(lambda lst: lst.append(v))

    def extend(self, seq):
        """Append the items of seq."""
        seq = list(seq)
        self._apply(lambda lst: lst.extend(seq))

    def insert(self, i, v):
        """Insert v before index i."""
        self._apply(lambda lst: lst.insert(i, v))

    def pop(self, i=-1):
        """Remove and return the item at i."""
        return self._apply(lambda lst: lst.pop(i))

    def remove(self, v):
        """Remove the first v."""
        self._apply(lambda lst: lst.remove(v))

    def index(self, v, *args):
        """Index of the first v."""
        return self._read(lambda lst: lst.index(v, *args))

    def count(self, v):
        """How many items equal v."""
        return self._read(lambda lst: lst.count(v))

    def sort(self, **kwargs):
        """Sort in place."""
        self._apply(lambda lst: lst.sort(**kwargs))

    def reverse(self):
        """Reverse in place."""
        self._apply(lambda lst: lst.reverse())

    def __iadd__(self, seq):
        self.extend(seq)
        return self

    def copy(self):
        """A plain list with the same items."""
        return self._read(list)

    _getvalue = copy

    def __eq__(self, other):
        return self.copy() == (other.copy() if isinstance(other, ListProxy) else other)

    __hash__ = None

    def __repr__(self):
        return repr(self.copy())


class Namespace:
    """Attributes shared by processes (Manager().Namespace()), in a named weft dict."""

    def __init__(self, _d=None, **kwargs):
        object.__setattr__(self, '_d', _d if _d is not None else DictProxy())
        for k, v in kwargs.items():
            setattr(self, k, v)

    def __reduce__(self):
        return (Namespace, (self._d,))

    def __getattr__(self, name):
        if name.startswith('__'):
            raise AttributeError(name)
        try:
            return self._d[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self._d[name] = value

    def __delattr__(self, name):
        try:
            del self._d[name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self):
        return 'Namespace(%s)' % ', '.join('%s=%r' % kv for kv in sorted(self._d.items())
                                            if not kv[0].startswith('_'))


class BaseManager:
    """start()/shutdown() and the context-manager protocol of a manager."""

    def __init__(self, address=None, authkey=None, serializer='pickle', ctx=None, **kwargs):
        self._objects = []
        self._state = 'initial'

    def start(self, initializer=None, initargs=()):
        """Nothing to start (no server process); runs initializer(*initargs) here."""
        if self._state == 'started':
            raise RuntimeError('Already started server')
        if initializer is not None:
            initializer(*initargs)
        self._state = 'started'

    def connect(self):
        """Nothing to connect to."""
        self._state = 'started'

    def _keep(self, obj):
        if self._state != 'started':
            raise RuntimeError('the manager is not started (use start() or a with block)')
        self._objects.append(obj)
        return obj

    def shutdown(self):
        """Close the objects this manager made (their names go away)."""
        objs, self._objects = self._objects, []
        for o in objs:
            close = getattr(o, 'close', None)
            if close is not None:
                close()
        self._state = 'shutdown'

    def __enter__(self):
        if self._state == 'initial':
            self.start()
        return self

    def __exit__(self, *exc):
        self.shutdown()

    @property
    def address(self):
        """None: there is no server."""
        return None


class SyncManager(BaseManager):
    """The manager behind Manager(): shared objects with names, no server process."""

    def dict(self, *args, **kwargs):  # noqa: A003 - the stdlib's name
        """A DictProxy (a named weft shared dict)."""
        return self._keep(DictProxy(*args, **kwargs))

    def list(self, sequence=()):  # noqa: A003
        """A ListProxy."""
        return self._keep(ListProxy(sequence))

    def Namespace(self, **kwargs):  # noqa: N802
        """A Namespace."""
        ns = Namespace(**kwargs)
        self._keep(ns._d)
        return ns

    def _mp(self):
        from .. import multiprocessing
        return multiprocessing

    def Lock(self):  # noqa: N802
        """A named process-scope Lock."""
        return self._keep(self._mp().Lock(name=_name('lock')))

    def RLock(self):  # noqa: N802
        """A named process-scope RLock."""
        return self._keep(self._mp().RLock(name=_name('rlock')))

    def Semaphore(self, value=1):  # noqa: N802
        """A named process-scope Semaphore."""
        return self._keep(self._mp().Semaphore(value, name=_name('sem')))

    def BoundedSemaphore(self, value=1):  # noqa: N802
        """A named process-scope BoundedSemaphore."""
        return self._keep(self._mp().BoundedSemaphore(value, name=_name('sem')))

    def Event(self):  # noqa: N802
        """A named process-scope Event."""
        return self._keep(self._mp().Event(name=_name('event')))

    def Condition(self, lock=None):  # noqa: N802
        """A process-scope Condition (anonymous: for fork children)."""
        return self._keep(self._mp().Condition(lock))

    def Queue(self, maxsize=0):  # noqa: N802
        """A named process-scope Queue."""
        return self._keep(self._mp().Queue(maxsize, name=_name('queue')))

    def JoinableQueue(self, maxsize=0):  # noqa: N802
        """A named process-scope JoinableQueue."""
        return self._keep(self._mp().JoinableQueue(maxsize, name=_name('queue')))

    def Value(self, typecode, value, lock=True):  # noqa: N802
        """A named shared Value."""
        return self._keep(self._mp().Value(typecode, value, lock=lock, name=_name('value')))

    def Array(self, typecode, sequence, lock=True):  # noqa: N802
        """A named shared Array."""
        return self._keep(self._mp().Array(typecode, sequence, lock=lock, name=_name('array')))

    def Pool(self, processes=None, initializer=None, initargs=(), maxtasksperchild=None):  # noqa: N802
        """A weft process pool (weft.multiprocessing.pool.Pool)."""
        from .pool import Pool
        return Pool(processes, initializer, initargs, maxtasksperchild)
