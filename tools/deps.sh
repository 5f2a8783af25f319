#!/bin/sh
# Install what building and testing weft needs on Debian 12, if it is missing.
# Safe to run again: it only calls apt-get when a package is absent.
set -eu
need="build-essential meson ninja-build pkg-config libcmocka-dev python3 libssl-dev swig python3-dev libpython3.11-testsuite python3-mesonpy"
if [ "${WEFT_BENCH_DEPS:-0}" = 1 ]; then
    need="$need libglib2.0-dev libuv1-dev libtbb-dev libconcurrentqueue-dev libreaderwriterqueue-dev libboost-dev"
fi
missing=""
for p in $need; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing > /dev/null
