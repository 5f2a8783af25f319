"""Seed idea: producer/consumer through queue.Queue(10), the producer faster
than the consumer, None as the end marker; the import changed to weft.
Python twin of examples/queue_producer_consumer.c.

Prints what is produced and consumed; the producer blocks whenever 10 items
wait, so the queue never holds more than 10. Exits non-zero if anything is
lost or the bound is broken.
"""

import random
import sys
import time

import weft.queue as queue
import weft.threading as threading

ITEMS = 30
consumed = []
max_seen = 0


def produce(q):
    global max_seen
    for i in range(ITEMS):
        item = f'data {random.randint(1, 99)} #{i}'
        q.put(item)
        max_seen = max(max_seen, q.qsize())
        print('produced', item)
    q.put(None)


def consume(q):
    while True:
        item = q.get()
        if item is None:
            q.task_done()
            break
        print('consumed', item)
        consumed.append(item)
        time.sleep(0.02)          # the consumer is the slow one
        q.task_done()


if __name__ == '__main__':
    q = queue.Queue(10)
    t1 = threading.Thread(target=produce, name='producer', args=(q,))
    t2 = threading.Thread(target=consume, name='consumer', args=(q,))
    t1.start()
    t2.start()
    t1.join()
    t2.join()
    q.join()
    print(f'{len(consumed)} items consumed, at most {max_seen} queued')
    sys.exit(0 if len(consumed) == ITEMS and max_seen <= 10 else 1)
