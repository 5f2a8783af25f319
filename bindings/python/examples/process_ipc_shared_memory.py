"""Seed idea: IPC by shared memory, the seeds' main way ("efficient, for
frequent exchanges of small data"). With the import changed to weft.

A child fills a SharedMemory block (which a C program could open by name with
weft_shm_open(), or the stdlib with SharedMemory(name)) and counts in a shared
Value under its lock, while the parent counts too. Python twin of
examples/shm_ipc_shared_memory.c.

Prints the block's text and the count; exits non-zero if either is wrong.
"""

import sys

from weft.multiprocessing import Process, Value
from weft.multiprocessing.shared_memory import SharedMemory


def child(name, counter):
    block = SharedMemory(name)
    block.buf[:5] = b'hello'
    block.close()
    for _ in range(1000):
        with counter.get_lock():
            counter.value += 1


if __name__ == '__main__':
    block = SharedMemory(create=True, size=64)
    counter = Value('i', 0)
    p = Process(target=child, args=(block.name, counter))
    p.start()
    for _ in range(1000):
        with counter.get_lock():
            counter.value += 1
    p.join(10)
    text = bytes(block.buf[:5])
    print("block", block.name, "says", text, "count", counter.value)
    block.close()
    block.unlink()
    sys.exit(0 if text == b'hello' and counter.value == 2000 and p.exitcode == 0 else 1)
