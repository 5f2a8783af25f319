"""Seed idea: IPC by socket ("more complex, better for exchanging data over a
network"); with the import changed to weft (weft.multiprocessing.connection).

A child listens with an authkey; the parent connects as a client. weft speaks
CPython's wire format and handshake, so either side could be the stdlib's
multiprocessing.connection (or a C program using weft_listener_create()).

Prints the reply; exits non-zero if it is wrong.
"""

import sys

from weft.multiprocessing import Process, Queue
from weft.multiprocessing.connection import Client, Listener


def server(ready):
    with Listener(('127.0.0.1', 0), authkey=b'seed') as listener:
        ready.put(listener.address)
        with listener.accept(10) as conn:
            name = conn.recv()
            conn.send(f"hello {name}, from process server")


if __name__ == '__main__':
    ready = Queue()
    p = Process(target=server, args=(ready,))
    p.start()
    address = ready.get(timeout=10)
    with Client(address, authkey=b'seed', timeout=10) as conn:
        conn.send("client")
        reply = conn.recv()
    p.join(10)
    print(reply)
    sys.exit(0 if reply == "hello client, from process server" and p.exitcode == 0 else 1)
