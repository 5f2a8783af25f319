"""Shared helpers for the runners of CPython's own tests against weft.

CPython's test modules are imported at run time from the interpreter's
`test` package (Debian: libpython3.11-testsuite); nothing is copied here.
Tests that inspect CPython internals are skipped by name, each with its
reason, in the runner's SKIP table.
"""

import os
import signal
import sys
import threading
import time
import unittest


def check_fresh_build():
    """Fail unless weft is imported from the build tree named by PYTHONPATH."""
    import weft
    path = os.environ.get('PYTHONPATH', '').split(os.pathsep)[0]
    if path and not os.path.realpath(weft.__file__).startswith(os.path.realpath(path)):
        raise SystemExit('weft imported from %s, not from the build tree %s' % (weft.__file__, path))


def apply_skips(classes, skips):
    """skips: {'Class.test_name' or 'test_name': reason}. Replace those tests by skips."""
    used = set()
    for cls in classes:
        for name in dir(cls):
            if not name.startswith('test'):
                continue
            reason = skips.get('%s.%s' % (cls.__name__, name)) or skips.get(name)
            if reason:
                used.add('%s.%s' % (cls.__name__, name) if '%s.%s' % (cls.__name__, name) in skips else name)
                setattr(cls, name, unittest.skip(reason)(getattr(cls, name)))
    unknown = set(skips) - used
    if unknown:
        raise SystemExit('SKIP entries that match no test (stale list?): %s' % sorted(unknown))



class InterruptTestCase(unittest.TestCase):
    """A test case with _interrupted(block): SIGINT arrives 0.2 s into block(),
    which must raise KeyboardInterrupt promptly (as the stdlib's waits do)."""

    def _interrupted(self, block):
        timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
        t = time.monotonic()
        timer.start()
        try:
            with self.assertRaises(KeyboardInterrupt):
                block()
        finally:
            timer.cancel()
            timer.join()
        self.assertLess(time.monotonic() - t, 5.0)


def main(classes, skips=None, setup=None, teardown=None, run=None):
    """Run `run` (default: all of `classes`); skips are checked against all of
    `classes`, so a stale entry is caught whichever group runs."""
    check_fresh_build()
    if skips:
        apply_skips(classes, skips)
    loader = unittest.TestLoader()
    suite = unittest.TestSuite(loader.loadTestsFromTestCase(c) for c in (run or classes))
    if setup:
        setup()
    try:
        result = unittest.TextTestRunner(verbosity=2 if '-v' in sys.argv else 1).run(suite)
    finally:
        if teardown:
            teardown()
    print('ran %d, failures %d, errors %d, skipped %d' % (
        result.testsRun, len(result.failures), len(result.errors), len(result.skipped)))
    sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)
