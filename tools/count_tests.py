"""Count test cases in a meson testlog.json: each cmocka case on its own,
every other test as one. Prints "N passed, N failed" and exits non-zero when
anything failed. Usage: count_tests.py TESTLOG.json [...]"""
import json
import re
import sys

PASSED = re.compile(r"^\[  PASSED  \] (\d+) test\(s\)\.", re.M)
FAILED = re.compile(r"^\[  FAILED  \] (\d+) test\(s\), listed below", re.M)


def count(path):
    passed = failed = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            t = json.loads(line)
            out = (t.get("stdout") or t.get("stdo") or "") + (t.get("stderr") or t.get("stde") or "")
            ok = t.get("result") in ("OK", "EXPECTEDFAIL", "SKIP")
            p = sum(int(n) for n in PASSED.findall(out))
            q = sum(int(n) for n in FAILED.findall(out))
            if p or q:
                passed += p
                failed += q
                if not ok and q == 0:
                    failed += 1  # crashed or sanitizer report after the cases ran
            elif ok:
                passed += 1
            else:
                failed += 1
    return passed, failed


def main():
    total_p = total_f = 0
    for path in sys.argv[1:]:
        p, f = count(path)
        total_p += p
        total_f += f
    print(f"{total_p} passed, {total_f} failed")
    return 1 if total_f else 0


if __name__ == "__main__":
    sys.exit(main())
