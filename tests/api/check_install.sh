#!/bin/sh
# meson install into a scratch root, then build and run a program outside the
# tree with nothing but `pkg-config --cflags --libs weft`.
# usage: check_install.sh BUILD_DIR OUTSIDE_C
set -eu
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

meson install -C "$build" --no-rebuild --destdir "$tmp/root" > "$tmp/install.log" 2>&1 || {
    cat "$tmp/install.log"; echo "meson install failed"; exit 1; }

pc=$(find "$tmp/root" -name weft.pc | head -n 1)
[ -n "$pc" ] || { echo "no weft.pc installed"; exit 1; }
so=$(find "$tmp/root" -name 'libweft.so.*.*.*' | head -n 1)
[ -n "$so" ] || { echo "no versioned libweft.so installed"; exit 1; }
soname=$(readelf -d "$so" | sed -n 's/.*SONAME.*\[\(.*\)\].*/\1/p')
case "$soname" in libweft.so.[0-9]*) ;; *) echo "bad SONAME '$soname'"; exit 1;; esac
[ -L "$(dirname "$so")/libweft.so" ] || { echo "no libweft.so development link"; exit 1; }
for h in weft.h common.h error.h version.h; do
    [ -f "$(find "$tmp/root" -path "*/include/weft/$h" | head -n 1)" ] || { echo "header weft/$h not installed"; exit 1; }
done

flags=$(PKG_CONFIG_SYSROOT_DIR="$tmp/root" PKG_CONFIG_PATH="$(dirname "$pc")" pkg-config --cflags --libs weft)
echo "pkg-config --cflags --libs weft: $flags"
# shellcheck disable=SC2086
cc -std=c99 -Wall -Werror "$src" $flags -o "$tmp/outside"
LD_LIBRARY_PATH="$(dirname "$so")" "$tmp/outside"
