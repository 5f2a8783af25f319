"""weft: Python's threading, queue and concurrent.futures, on the weft C library.

Change an import and a program runs on weft::

    import weft.threading as threading
    import weft.queue as queue
    import weft.futures as futures      # concurrent.futures' face

``weft._weft`` is the raw SWIG module over the C API (one function per C
function); the modules above are what programs use. Every error weft reports
is a :class:`WeftError` (with ``.code`` and ``.name``), also derived from the
natural Python exception (``TimeoutError``, ``ValueError``, ``RuntimeError``...).
"""

from . import _weft
from ._errors import *  # noqa: F401,F403
from ._errors import __all__ as _errors_all

__version__ = _weft.weft_version_string()


def cpu_count():
    """Number of CPUs this process may run on (weft_cpu_count())."""
    return _weft.weft_cpu_count()


def memory_trim():
    """Give weft's cache of futures and pool queue nodes back to the system.

    The cache keeps its peak size so the next burst of tasks pays no page
    faults; call this when the bursts are over or before forking many
    children. Returns the bytes given back (weft_memory_trim()).
    """
    return _weft.weft_memory_trim()


#: A lock whose holder process died: raised by acquire() with the lock held
#: (weft.multiprocessing); repair, then call the lock's mark_consistent().
OwnerDeadError = WeftOwnerDeadError  # noqa: F405


def shared_dict(name=None):
    """A named process-shared dict of str keys and bytes values (weft.multiprocessing.shared_dict)."""
    from .multiprocessing import shared_dict as _sd
    return _sd(name)


__all__ = list(_errors_all) + ['cpu_count', 'memory_trim', '__version__', 'OwnerDeadError', 'shared_dict']
