"""CPython's test_queue against weft.queue.

test_queue parametrizes its test classes over a `queue` module attribute
(py_queue / c_queue); weft.queue is plugged in the same way."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from test import test_queue as tq  # noqa: E402

import weft.queue  # noqa: E402
from _runner import main  # noqa: E402


class WeftQueueTest(tq.QueueTest, tq.unittest.TestCase):
    queue = weft.queue


class WeftLifoQueueTest(tq.LifoQueueTest, tq.unittest.TestCase):
    queue = weft.queue


class WeftPriorityQueueTest(tq.PriorityQueueTest, tq.unittest.TestCase):
    queue = weft.queue


class WeftSimpleQueueTest(tq.BaseSimpleQueueTest, tq.unittest.TestCase):
    queue = weft.queue

    def setUp(self):
        self.type2test = self.queue.SimpleQueue
        super().setUp()


SKIP = {}

if __name__ == '__main__':
    main([WeftQueueTest, WeftLifoQueueTest, WeftPriorityQueueTest, WeftSimpleQueueTest], SKIP)
