"""weft's exceptions: every negative ``weft_status`` becomes one of these.

Each class derives from :class:`WeftError` (``.code`` is the weft status,
``.name`` its name such as ``'WEFT_ETIMEDOUT'``, ``str()`` weft's message
naming the function and the bad value) and, where Python has a natural
exception for the situation, from that one too, so ``except TimeoutError:``
or ``except ValueError:`` catch weft's errors as they catch the stdlib's.
"""

import concurrent.futures as _cf
import threading as _std_threading

from . import _weft

WeftError = _weft.WeftError

_CODES = {name: getattr(_weft, name) for name in dir(_weft)
          if name.startswith('WEFT_E') and isinstance(getattr(_weft, name), int)}


def _make(name, code_name, *bases, doc):
    cls = type(name, (WeftError,) + bases, {'__doc__': doc, '__module__': 'weft'})
    code = _CODES.get(code_name)
    if code is not None:
        _weft._error_classes[code] = cls
    return cls


WeftTimeoutError = _make('WeftTimeoutError', 'WEFT_ETIMEDOUT', TimeoutError,
                         doc='The operation timed out (WEFT_ETIMEDOUT).')
WeftClosedError = _make('WeftClosedError', 'WEFT_ECLOSED', RuntimeError,
                        doc='The object was closed or shut down (WEFT_ECLOSED).')
WeftBusyError = _make('WeftBusyError', 'WEFT_EBUSY', RuntimeError,
                      doc='The resource is busy (WEFT_EBUSY).')
WeftOwnerDeadError = _make('WeftOwnerDeadError', 'WEFT_EOWNERDEAD', RuntimeError,
                           doc='The previous owner died holding it; repair the state and mark '
                               'it consistent (WEFT_EOWNERDEAD).')
WeftCancelledError = _make('WeftCancelledError', 'WEFT_ECANCELLED', _cf.CancelledError,
                           doc='The operation was cancelled (WEFT_ECANCELLED).')
WeftBrokenError = _make('WeftBrokenError', 'WEFT_EBROKEN', _std_threading.BrokenBarrierError,
                        doc='The barrier is broken (WEFT_EBROKEN).')
WeftValueError = _make('WeftValueError', 'WEFT_EINVAL', ValueError,
                       doc='An argument is invalid (WEFT_EINVAL).')
WeftMemoryError = _make('WeftMemoryError', 'WEFT_ENOMEM', MemoryError,
                        doc='Out of memory (WEFT_ENOMEM).')
WeftPermissionError = _make('WeftPermissionError', 'WEFT_EPERM', RuntimeError,
                            doc='Not permitted for this caller, e.g. releasing a lock it does '
                                'not own (WEFT_EPERM).')
WeftDeadlockError = _make('WeftDeadlockError', 'WEFT_EDEADLK', RuntimeError,
                          doc='The operation would deadlock (WEFT_EDEADLK).')
WeftNotSupportedError = _make('WeftNotSupportedError', 'WEFT_ENOTSUP', NotImplementedError,
                              doc='Not supported (WEFT_ENOTSUP).')
WeftMisuseError = _make('WeftMisuseError', 'WEFT_EMISUSE', RuntimeError,
                        doc='The object is closed, destroyed or of the wrong type (WEFT_EMISUSE).')
WeftSystemError = _make('WeftSystemError', 'WEFT_ESYS', OSError,
                        doc='An operating system call failed (WEFT_ESYS).')
WeftNotRecoverableError = _make('WeftNotRecoverableError', 'WEFT_ENOTRECOVERABLE', RuntimeError,
                                doc='The protected state is not recoverable (WEFT_ENOTRECOVERABLE).')
WeftOverflowError = _make('WeftOverflowError', 'WEFT_EOVERFLOW', ValueError,
                          doc='A count would exceed its bound (WEFT_EOVERFLOW).')
WeftNotFoundError = _make('WeftNotFoundError', 'WEFT_ENOENT', LookupError,
                          doc='No object of that name (WEFT_ENOENT).')
WeftExistsError = _make('WeftExistsError', 'WEFT_EEXIST', FileExistsError,
                        doc='An object of that name exists already (WEFT_EEXIST).')
WeftMessageSizeError = _make('WeftMessageSizeError', 'WEFT_EMSGSIZE', ValueError,
                             doc='The message is too large (WEFT_EMSGSIZE).')
WeftStateError = _make('WeftStateError', 'WEFT_ESTATE', RuntimeError,
                       doc='The object is not in a state that allows this (WEFT_ESTATE).')
WeftFailedError = _make('WeftFailedError', 'WEFT_EFAILED', RuntimeError,
                        doc='The task failed (WEFT_EFAILED).')
WeftWorkerDiedError = _make('WeftWorkerDiedError', 'WEFT_EWORKERDIED', RuntimeError,
                            doc='The worker process died running the task (WEFT_EWORKERDIED).')

__all__ = ['WeftError'] + [n for n in dir() if n.startswith('Weft') and n != 'WeftError']
