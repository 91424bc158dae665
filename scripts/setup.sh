#!/bin/sh
# Installs what building and testing need on a fresh Debian machine (as root).
# Safe to run again: it installs only what is missing.
set -eu
packages="gcc g++ libc6-dev make pkg-config sbcl cl-cffi cl-trivial-gray-streams cl-bordeaux-threads
cl-babel cl-split-sequence cl-usocket cl-rt socat netcat-openbsd curl valgrind iproute2 util-linux
strace time"
need=""
for p in $packages; do
  dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
done
command -v cargo >/dev/null 2>&1 || need="$need cargo"
if [ -n "$need" ]; then
  echo "setup: installing$need"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq $need >/dev/null
fi
python3 -c 'import pytest' 2>/dev/null || python3 -m pip install -q pytest
echo "setup: ready"
