"""Seed idea: the bank balance race, with the import changed to weft.

Two threads deposit and withdraw the same amount many times; the balance
should end where it started. With a lock around the read-modify-write the
balance is exact. Python twin of examples/lock_bank_balance.c.

Prints the final balance of the locked run; exits non-zero if it is not 0.
"""

import sys

import weft.threading as threading

balance = 0
lock = threading.Lock()


def change_it(n):
    global balance
    balance = balance + n
    balance = balance - n


def run_thread(n):
    for _ in range(100000):
        with lock:            # the seed: lock.acquire(); try: change_it(n) finally: lock.release()
            change_it(n)


t1 = threading.Thread(target=run_thread, args=(5,))
t2 = threading.Thread(target=run_thread, args=(8,))
t1.start()
t2.start()
t1.join()
t2.join()
print('balance with the lock:', balance)
sys.exit(0 if balance == 0 else 1)
