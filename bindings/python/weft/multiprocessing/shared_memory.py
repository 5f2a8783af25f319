"""weft.multiprocessing.shared_memory: SharedMemory and ShareableList, on weft.

``SharedMemory(name=None, create=False, size=0)`` is a weft shared memory
segment (``<weft/shm.h>``): the file ``/dev/shm/<name>``, so the stdlib's
``multiprocessing.shared_memory.SharedMemory(name)``, a C program
(``weft_shm_open(name)``) or any ``shm_open("/<name>")`` sees the same bytes.
Its lifetime is Python's: ``close()`` unmaps this process's view, ``unlink()``
removes the name; there is no resource-tracker process (weft never removes a
name behind your back). A name that exists but was made by something other
than weft (e.g. the stdlib) is opened too, as a plain ``/dev/shm`` file.

``.buf`` is a memoryview of an ``mmap`` of the segment, so ``close()`` refuses
(BufferError) while views of it are alive, as the stdlib's does, instead of
leaving them pointing at unmapped memory.
"""

import mmap as _mmap
import os as _os
import secrets as _secrets
import types as _types

from .. import _weft

__all__ = ['SharedMemory', 'ShareableList']

_PREFIX = 'wnsm_'


class SharedMemory:
    """A shared memory block: create=True makes one of size bytes (name None: a
    random name), create=False opens an existing name."""

    _h = None
    _mmap = None
    _buf = None

    def __init__(self, name=None, create=False, size=0):
        if not size >= 0:
            raise ValueError("'size' must be a positive integer")
        if create:
            if size == 0:
                raise ValueError("'size' must be a positive number different from zero")
        elif name is None:
            raise ValueError("'name' can only be None if create=True")
        if name is not None:
            name = name[1:] if name.startswith('/') else name
        fd = -1
        if create:
            while True:
                want = name if name is not None else _PREFIX + _secrets.token_hex(8)
                try:
                    self._h, fd, size, got = _weft.py_mpx_shm(want, size, 1)
                except FileExistsError:
                    if name is not None:
                        raise FileExistsError('[Errno 17] File exists: %r' % ('/' + want)) from None
                    continue
                break
            name = got
        else:
            try:
                self._h, fd, size, name = _weft.py_mpx_shm(name, 0, 0)
            except LookupError:
                raise FileNotFoundError('[Errno 2] No such file or directory: %r'
                                        % ('/' + name)) from None
            except ValueError:
                # Not a weft segment (e.g. made by the stdlib): a plain /dev/shm file.
                self._h = None
                fd = _os.open('/dev/shm/' + name, _os.O_RDWR)
                try:
                    size = _os.fstat(fd).st_size
                    self._mmap = _mmap.mmap(fd, size)
                finally:
                    _os.close(fd)
                fd = -1
        if fd >= 0:
            self._mmap = _mmap.mmap(fd, size)
        self._name = name
        self._size = size
        self._buf = memoryview(self._mmap)

    def __reduce__(self):
        return (self.__class__, (self._name, False, self._size))

    def __repr__(self):
        return '%s(%r, size=%d)' % (type(self).__name__, self._name, self._size)

    def __del__(self):
        try:
            self.close()
        except (BufferError, OSError):
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def buf(self):
        """A memoryview of the block's bytes."""
        return self._buf

    @property
    def name(self):
        """The name other processes open it by."""
        return self._name

    @property
    def size(self):
        """Its size in bytes."""
        return self._size

    def close(self):
        """Unmap this process's view (the block stays for the others).
        BufferError while views of .buf are still alive."""
        if self._buf is not None:
            self._buf.release()
            self._buf = None
        if self._mmap is not None:
            self._mmap.close()
            self._mmap = None
        h, self._h = self._h, None
        if h is not None:
            _weft.weft_shm_close(h)

    def unlink(self):
        """Remove the name (processes that have it open keep their view)."""
        try:
            _weft.weft_shm_unlink(self._name)
        except ValueError:
            _os.unlink('/dev/shm/' + self._name)


# ---- ShareableList ---------------------------------------------------------------------
def _stdlib_twin(std_cls, globals_):
    """std_cls with its functions rebound to globals_ (its own module's, with
    SharedMemory replaced by weft's): the stdlib's code and layout, weft's blocks."""
    ns = {}
    for k, v in vars(std_cls).items():
        if k in ('__dict__', '__weakref__'):
            continue
        if isinstance(v, _types.FunctionType):
            f = v
            v = _types.FunctionType(f.__code__, globals_, f.__name__, f.__defaults__, f.__closure__)
            v.__kwdefaults__ = f.__kwdefaults__
            v.__doc__ = f.__doc__
        elif isinstance(v, property):
            v = property(*(None if f is None else
                           _types.FunctionType(f.__code__, globals_, f.__name__, f.__defaults__,
                                               f.__closure__)
                           for f in (v.fget, v.fset, v.fdel)), v.__doc__)
        elif isinstance(v, (staticmethod, classmethod)) and isinstance(v.__func__, _types.FunctionType):
            f = v.__func__
            v = type(v)(_types.FunctionType(f.__code__, globals_, f.__name__, f.__defaults__,
                                            f.__closure__))
        ns[k] = v
    return type(std_cls.__name__, (), ns)


def _make_shareable_list():
    import multiprocessing.shared_memory as std
    g = dict(vars(std))
    g['SharedMemory'] = SharedMemory
    cls = _stdlib_twin(std.ShareableList, g)
    cls.__module__ = __name__
    cls.__doc__ = ("ShareableList(sequence=None, *, name=None): a fixed-length list of int, "
                   "float, bool, str, bytes and None in one weft SharedMemory block, in the "
                   "stdlib's layout (the stdlib's code, run over weft's SharedMemory), so "
                   "multiprocessing.shared_memory.ShareableList(name=...) reads it too.")
    return cls


ShareableList = _make_shareable_list()
