#!/bin/sh
# Build weft and run every test (unit, api, examples), then print
# "N passed, N failed", counting each cmocka test case on its own.
#
#   tools/test.sh                 plain build in build/
#   tools/test.sh --sanitize asan ASan+UBSan build in build-asan/
#   tools/test.sh --sanitize tsan TSan build in build-tsan/
#   extra arguments after -- go to `meson test` (e.g. -- --suite unit)
set -eu
cd "$(dirname "$0")/.."

variant=plain
while [ $# -gt 0 ]; do
    case "$1" in
        --sanitize) variant=$2; shift 2 ;;
        --) shift; break ;;
        *) echo "usage: tools/test.sh [--sanitize asan|tsan] [-- meson-test-args]" >&2; exit 2 ;;
    esac
done

sh tools/deps.sh

case "$variant" in
    plain) dir=build; opts="" ;;
    asan) dir=build-asan; opts="-Db_sanitize=address,undefined -Db_lundef=false" ;;
    tsan) dir=build-tsan; opts="-Db_sanitize=thread -Db_lundef=false" ;;
    *) echo "unknown sanitizer '$variant' (asan or tsan)" >&2; exit 2 ;;
esac
[ -n "${WEFT_MESON_OPTS:-}" ] && opts="$opts $WEFT_MESON_OPTS"

if [ -f "$dir/build.ninja" ]; then
    # shellcheck disable=SC2086
    meson configure "$dir" $opts > /dev/null
else
    # shellcheck disable=SC2086
    meson setup "$dir" $opts > /dev/null
fi
ninja -C "$dir" > "$dir.ninja.log" 2>&1 || { tail -n 60 "$dir.ninja.log"; echo "build failed"; exit 1; }

# Sanitizer reports fail the test that caused them.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"

status=0
meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" || status=$?
/usr/bin/python3 tools/count_tests.py "$dir/meson-logs/testlog.json" || status=1
exit $status
