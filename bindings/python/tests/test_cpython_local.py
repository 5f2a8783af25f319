"""CPython's test_threading_local (BaseLocalTest) against weft.threading.local."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from test import test_threading_local as tl  # noqa: E402

import weft.threading  # noqa: E402
from _runner import main  # noqa: E402


class WeftLocalTest(tl.unittest.TestCase, tl.BaseLocalTest):
    _local = weft.threading.local


SKIP = {
    'test_threading_local_clear_race':
        'drives _thread._local through _testcapi.set_nomemory; inspects the C implementation',
}

if __name__ == '__main__':
    main([WeftLocalTest], SKIP)
