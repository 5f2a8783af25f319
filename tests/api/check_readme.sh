#!/bin/sh
# The C program in README.md's "Using it" section must compile and run
# against this build, so the README cannot drift from the API.
# usage: check_readme.sh README.md SOURCE_INCLUDE BUILD_INCLUDE LIB_DIR
set -eu
readme=$1 inc=$2 binc=$3 libdir=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -n '/^```c$/,/^```$/p' "$readme" | sed '1d;$d' > "$tmp/readme.c"
[ -s "$tmp/readme.c" ] || { echo "no C example found in $readme"; exit 1; }
cc -std=c99 -Wall -Werror -I"$inc" -I"$binc" "$tmp/readme.c" -L"$libdir" -lweft -o "$tmp/readme"
LD_LIBRARY_PATH="$libdir" "$tmp/readme"
