#!/bin/sh
# The exported symbols of libweft, the names in lib/weft.map and the WEFT_API
# function declarations in include/weft/*.h must be the same set, and nothing
# C++-mangled may be exported.
# usage: check_symbols.sh LIBWEFT_SO WEFT_MAP INCLUDE_DIR
set -eu
so=$1 map=$2 incdir=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

nm -D --defined-only "$so" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' | sort -u > "$tmp/exported"
sed 's,/\*.*\*/,,g' "$map" | grep -oE '\bweft_[a-z0-9_]+;' | tr -d ';' | sort -u > "$tmp/mapped"
grep -h 'WEFT_API' "$incdir"/*.h "$incdir"/*.h.in | grep -v '#' | grep -oE '\bweft_[a-z0-9_]+[[:space:]]*\(' \
    | tr -d '( \t' | sort -u > "$tmp/declared"

fail=0
mangled=$(grep '^_Z' "$tmp/exported" || true)
if [ -n "$mangled" ]; then echo "C++-mangled exports:"; echo "$mangled"; fail=1; fi
stray=$(grep -v '^weft_' "$tmp/exported" | grep -v '^_Z' || true)
if [ -n "$stray" ]; then echo "exports outside weft_*:"; echo "$stray"; fail=1; fi

report() { # $1 $2: names in $1 but not in $2
    d=$(comm -23 "$tmp/$1" "$tmp/$2")
    if [ -n "$d" ]; then echo "in $1 but not $2:"; echo "$d" | sed 's/^/  /'; fail=1; fi
}
report declared exported
report exported declared
report mapped exported
report exported mapped
report declared mapped
report mapped declared

n=$(wc -l < "$tmp/exported")
if [ "$fail" -eq 0 ]; then echo "ok: $n symbols exported, mapped and declared alike"; fi
exit $fail
