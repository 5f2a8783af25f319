#!/bin/sh
# Install what is missing, build weft and run every example in order, with a
# heading naming the seed idea each one shows.
set -eu
cd "$(dirname "$0")/.."
sh tools/deps.sh
[ -f build/build.ninja ] || meson setup build > /dev/null
ninja -C build > build.ninja.log 2>&1 || { tail -n 40 build.ninja.log; exit 1; }
failed=0
for name in $(sed -n "s/^ *'\([a-z0-9_]*\)',.*/\1/p" examples/meson.build); do
    what=$(sed -n '2,3p' "examples/$name.c" | sed 's/^ \* \{0,1\}//' | tr '\n' ' ')
    printf '\n=== %s — %s\n' "$name" "$what"
    "./build/examples/$name" || { echo "!!! $name failed"; failed=$((failed + 1)); }
done
printf '\n%s examples failed\n' "$failed"
[ "$failed" -eq 0 ]
