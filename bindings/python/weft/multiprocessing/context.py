"""weft.multiprocessing.context: start methods and context objects, as the stdlib's.

``get_context('fork' | 'spawn' | 'forkserver')`` returns a context whose
``Process`` starts children by that method and whose other names (``Lock``,
``Queue``, ``Value``, ``Pool``, ``Manager``, ...) are those of
:mod:`weft.multiprocessing`. Under spawn and forkserver the child is not a
copy of the parent, so the objects a child receives as arguments are pickled:
a context of those methods makes its locks, events, semaphores, queues and
shared values *named* weft objects (an automatic unique name), which the
child opens by name. (Objects made anonymous, e.g. by the module-level
``Lock()`` while the default method is fork, can only be inherited by fork.)
"""

import os as _os
import threading as _threading
import uuid as _uuid

__all__ = ['BaseContext', 'ForkContext', 'SpawnContext', 'ForkServerContext', 'get_context',
           'set_start_method', 'get_start_method', 'get_all_start_methods']

_METHODS = ('fork', 'spawn', 'forkserver')
_default = {'method': None}
_lock = _threading.Lock()


def _auto_name(kind):
    """A fresh name for an object that must cross spawn/forkserver by name."""
    return 'wpy-%s-%d-%s' % (kind, _os.getpid(), _uuid.uuid4().hex[:16])


class BaseContext:
    """What every context offers: the module's names, with this context's start method."""

    _name = None

    ProcessError = property(lambda self: _mp().ProcessError)
    TimeoutError = property(lambda self: _mp().TimeoutError)
    OwnerDeadError = property(lambda self: _mp().OwnerDeadError)

    def get_start_method(self, allow_none=False):
        """This context's start method."""
        return self._name

    def set_start_method(self, method, force=False):
        """Set the module's default start method (as multiprocessing does)."""
        set_start_method(method, force)

    def get_context(self, method=None):
        """Another context (None: the default one)."""
        return get_context(method)

    def get_all_start_methods(self):
        """['fork', 'spawn', 'forkserver']."""
        return get_all_start_methods()

    def cpu_count(self):
        """Number of CPUs this process may run on."""
        return _mp().cpu_count()

    def current_process(self):
        """The Process object of this process."""
        return _mp().current_process()

    def parent_process(self):
        """The parent process's (name, pid), None in the main process."""
        return _mp().parent_process()

    def active_children(self):
        """Children started here that are still running."""
        return _mp().active_children()

    def _named(self):
        return self._name != 'fork'

    def Lock(self):
        """A process-shared Lock (named under spawn/forkserver)."""
        return _mp().Lock(name=_auto_name('lock') if self._named() else None)

    def RLock(self):
        """A process-shared RLock (named under spawn/forkserver)."""
        return _mp().RLock(name=_auto_name('rlock') if self._named() else None)

    def Semaphore(self, value=1):
        """A process-shared Semaphore (named under spawn/forkserver)."""
        return _mp().Semaphore(value, name=_auto_name('sem') if self._named() else None)

    def BoundedSemaphore(self, value=1):
        """A process-shared BoundedSemaphore (named under spawn/forkserver)."""
        return _mp().BoundedSemaphore(value, name=_auto_name('sem') if self._named() else None)

    def Event(self):
        """A process-shared Event (named under spawn/forkserver)."""
        return _mp().Event(name=_auto_name('event') if self._named() else None)

    def Condition(self, lock=None):
        """A process-shared Condition; under spawn/forkserver, without a lock, a named
        one with a lock of its own (not re-entrant), which reaches their children."""
        if lock is None and self._named():
            return _mp().Condition(name=_auto_name('cond'))
        return _mp().Condition(lock)

    def Barrier(self, parties, action=None, timeout=None):
        """A process-shared Barrier (named, without action, under spawn/forkserver
        when no action is given)."""
        named = self._named() and action is None
        return _mp().Barrier(parties, action, timeout, name=_auto_name('barrier') if named else None)

    def Queue(self, maxsize=0):
        """A process-shared Queue (named under spawn/forkserver)."""
        return _mp().Queue(maxsize, name=_auto_name('queue') if self._named() else None)

    def JoinableQueue(self, maxsize=0):
        """A process-shared JoinableQueue (named under spawn/forkserver)."""
        return _mp().JoinableQueue(maxsize, name=_auto_name('queue') if self._named() else None)

    def SimpleQueue(self):
        """A process-shared SimpleQueue (named under spawn/forkserver)."""
        return _mp().SimpleQueue(name=_auto_name('queue') if self._named() else None)

    def Pipe(self, duplex=True):
        """Two Connections (inherited by fork children)."""
        return _mp().Pipe(duplex)

    def Value(self, typecode_or_type, *args, lock=True):
        """A shared value (named under spawn/forkserver)."""
        return _mp().Value(typecode_or_type, *args, lock=lock,
                           name=_auto_name('value') if self._named() else None)

    def Array(self, typecode_or_type, size_or_initializer, *, lock=True):
        """A shared array (named under spawn/forkserver)."""
        return _mp().Array(typecode_or_type, size_or_initializer, lock=lock,
                           name=_auto_name('array') if self._named() else None)

    def RawValue(self, typecode_or_type, *args):
        """A shared value without a lock: the ctypes object itself (named under spawn/forkserver)."""
        return _mp().RawValue(typecode_or_type, *args,
                              name=_auto_name('value') if self._named() else None)

    def RawArray(self, typecode_or_type, size_or_initializer):
        """A shared array without a lock of its own."""
        return self.Array(typecode_or_type, size_or_initializer, lock=False)

    def Manager(self):
        """A started weft.multiprocessing.managers.SyncManager (no server process)."""
        from .managers import SyncManager
        m = SyncManager(ctx=self)
        m.start()
        return m

    def Pool(self, processes=None, initializer=None, initargs=(), maxtasksperchild=None):
        """A process pool (weft.multiprocessing.pool.Pool) whose workers start by this method."""
        from .pool import Pool
        return Pool(processes, initializer, initargs, maxtasksperchild, context=self)

    def set_forkserver_preload(self, module_names):
        """Modules the forkserver imports when it starts (as multiprocessing's)."""
        from . import forkserver
        forkserver.set_forkserver_preload(module_names)

    def set_executable(self, executable):
        """The interpreter spawn starts (default sys.executable)."""
        from . import spawn
        spawn.set_executable(executable)

    def freeze_support(self):
        """Nothing to do outside frozen Windows programs."""

    def allow_connection_pickling(self):
        """Nothing to do: weft's connections are inherited by fork children."""

    def log_to_stderr(self, level=None):
        """multiprocessing.log_to_stderr."""
        import multiprocessing as _std
        return _std.log_to_stderr(level)

    def get_logger(self):
        """multiprocessing.get_logger."""
        import multiprocessing as _std
        return _std.get_logger()

    def __repr__(self):
        return '<weft.multiprocessing.context.%s>' % type(self).__name__


_module = []


def _mp():
    # Cached: an import statement runs importlib's Python code, and every
    # object it touches is a page a forked child shares, copied at the
    # parent's next write (ctx.Process in a start loop: P6).
    if _module:
        return _module[0]
    from .. import multiprocessing
    _module.append(multiprocessing)
    return multiprocessing


class ForkContext(BaseContext):
    """Children are forked copies of this process.

    ``Process``, the Process class of each context's start method
    (ForkProcess, SpawnProcess, ForkServerProcess), is set on these classes
    by weft.multiprocessing, which defines those classes after importing this
    module: a plain class attribute, not a look-up on every ``ctx.Process(...)``."""

    _name = 'fork'


class SpawnContext(ForkContext):
    """Children are fresh interpreters (sys.executable) that import __main__ as __mp_main__."""

    _name = 'spawn'


class ForkServerContext(ForkContext):
    """Children are forked by a server process started once (by spawn)."""

    _name = 'forkserver'


_contexts = {'fork': ForkContext(), 'spawn': SpawnContext(), 'forkserver': ForkServerContext()}


def get_context(method=None):
    """The context of a start method; None: the default one (fixing it to fork
    when none was set)."""
    if method is None:
        method = get_start_method()
    try:
        return _contexts[method]
    except KeyError:
        raise ValueError('cannot find context for %r' % (method,)) from None


def get_start_method(allow_none=False):
    """The default start method; with allow_none, None while none was set."""
    with _lock:
        if _default['method'] is None:
            if allow_none:
                return None
            _default['method'] = 'fork'
        return _default['method']


def set_start_method(method, force=False):
    """Set the default start method, once (force=True to change it; None resets)."""
    with _lock:
        if _default['method'] is not None and not force:
            raise RuntimeError('context has already been set')
        if method is not None and method not in _METHODS:
            raise ValueError('cannot find context for %r' % (method,))
        _default['method'] = method


def get_all_start_methods():
    """The start methods weft offers: ['fork', 'spawn', 'forkserver']."""
    return list(_METHODS)
