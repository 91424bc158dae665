#!/bin/sh
# The Common Lisp binding's tests: bindings/lisp/tests (loopback, SBCL from
# the command line) and usocket's own test suite run through
# usocket-cffi/compat. Assumes the core is built (cargo build --release) or
# USOCKET_LIBRARY names it. Prints "N passed, M failed" last; exits non-zero
# on any failure. Each part runs under a time limit.
set -u
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
if [ -z "${USOCKET_LIBRARY:-}" ] && [ ! -f ../../target/release/libusocket.so ]; then
  echo "libusocket.so not found: run 'cargo build --release' first or set USOCKET_LIBRARY"
  echo "0 passed, 1 failed"
  exit 1
fi
out=$(mktemp /tmp/usocket-cffi-tests.XXXXXX)
trap 'rm -f "$out" "$out.suite"' EXIT

echo "== usocket-cffi tests"
timeout -k 5 200 sbcl --noinform --non-interactive --no-userinit --no-sysinit \
  --load tests/run.lisp > "$out" 2>&1
rc1=$?
grep -v '^;' "$out" | grep -v '^$'

echo "== usocket's own test suite through usocket-cffi/compat"
timeout -k 5 60 sh tests/usocket-suite.sh > "$out.suite" 2>&1
rc2=$?
grep -v '^;' "$out.suite" | grep -v '^$'

counts() { # file, pattern prefix -> "passed failed"
  sed -n "s/^$2\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed.*/\1 \2/p" "$1" | tail -1
}
set -- $(counts "$out" "") ; p1=${1:-0}; f1=${2:-1}
set -- $(counts "$out.suite" "usocket suite: ") ; p2=${1:-0}; f2=${2:-1}
[ $rc1 -ne 0 ] && [ "$f1" -eq 0 ] && f1=1
[ $rc2 -ne 0 ] && [ "$f2" -eq 0 ] && f2=1
echo "usocket-cffi: $p1 passed, $f1 failed; usocket's suite: $p2 passed, $f2 failed"
echo "$((p1 + p2)) passed, $((f1 + f2)) failed"
[ $((f1 + f2)) -eq 0 ]
