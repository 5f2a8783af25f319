"""Seed idea: ThreadPoolExecutor with exception capture, the import changed
to weft. A task that raises does not kill its worker: its future carries the
exception and future.result() re-raises it, while the other tasks' results
arrive as usual. Python twin of examples/pool_executor_error.c.

Prints each task's outcome as it completes; exits non-zero if an outcome is
wrong.
"""

import sys

from weft.futures import ThreadPoolExecutor, as_completed


def parse(text):
    return int(text)          # ValueError for 'x1'


if __name__ == '__main__':
    texts = ['12', '7', 'x1', '40', 'oops', '3']
    ok = True
    with ThreadPoolExecutor(max_workers=3) as executor:
        futures = {executor.submit(parse, t): t for t in texts}
        for f in as_completed(futures):
            text = futures[f]
            try:
                print(f'{text!r} -> {f.result()}')
                ok &= text.isdigit() and f.result() == int(text)
            except ValueError as exc:
                print(f'{text!r} raised {exc!r}')
                ok &= not text.isdigit()
    sys.exit(0 if ok else 1)
