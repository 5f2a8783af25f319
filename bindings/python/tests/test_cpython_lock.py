"""CPython's lock_tests (Lock, RLock, Condition, Semaphore, BoundedSemaphore,
Event, Barrier) against weft.threading, wired as test_threading.py wires them."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from test import lock_tests  # noqa: E402

import weft.threading as wt  # noqa: E402
from _runner import main  # noqa: E402


class WeftLockTests(lock_tests.LockTests):
    locktype = staticmethod(wt.Lock)


class WeftRLockTests(lock_tests.RLockTests):
    locktype = staticmethod(wt.RLock)


class WeftEventTests(lock_tests.EventTests):
    eventtype = staticmethod(wt.Event)


class WeftConditionAsRLockTests(lock_tests.RLockTests):
    # A Condition uses an RLock by default and exports its acquire/release.
    locktype = staticmethod(wt.Condition)


class WeftConditionTests(lock_tests.ConditionTests):
    condtype = staticmethod(wt.Condition)


class WeftSemaphoreTests(lock_tests.SemaphoreTests):
    semtype = staticmethod(wt.Semaphore)


class WeftBoundedSemaphoreTests(lock_tests.BoundedSemaphoreTests):
    semtype = staticmethod(wt.BoundedSemaphore)


class WeftBarrierTests(lock_tests.BarrierTests):
    barriertype = staticmethod(wt.Barrier)


SKIP = {
    'WeftEventTests.test_at_fork_reinit':
        "reaches into the stdlib Event's private _cond (a threading.Condition); weft's state is in C",
    'WeftBarrierTests.test_repr':
        'expects a one-word module name before .Barrier; weft\'s is weft.threading',
    'WeftEventTests.test_repr':
        'expects "<module.Event at ...>" with a one-word module name (the regex is \\w+\\.Event); '
        "weft's class lives in weft.threading",
    'WeftSemaphoreTests.test_repr':
        'expects a one-word module name before .Semaphore; weft\'s is weft.threading',
    'WeftBoundedSemaphoreTests.test_repr':
        'expects a one-word module name before .BoundedSemaphore; weft\'s is weft.threading',
}

if __name__ == '__main__':
    main([WeftLockTests, WeftRLockTests, WeftEventTests, WeftConditionAsRLockTests, WeftConditionTests,
          WeftSemaphoreTests, WeftBoundedSemaphoreTests, WeftBarrierTests], SKIP)
