#!/bin/sh
# The Common Lisp binding's tests: bindings/lisp/tests (loopback) and, on
# SBCL, usocket's own test suite run through usocket-cffi/compat.
#
#   bindings/lisp/run-tests.sh              # SBCL
#   LISP=ecl bindings/lisp/run-tests.sh     # or clisp, abcl (or: run-tests.sh ecl)
#
# Installs the implementation from Debian's packages when it is missing
# (ecl; clisp; abcl with libjna-java). Compiled files are cached by ASDF per
# implementation (~/.cache/common-lisp/<implementation>/), so a second stage
# or run does not compile again. Assumes the core is built (cargo build
# --release) or USOCKET_LIBRARY names it. Prints "N passed, M failed" last;
# exits non-zero on any failure. Each part runs under a time limit.
set -u
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
LISP=${1:-${LISP:-sbcl}}
if [ -z "${USOCKET_LIBRARY:-}" ] && [ ! -f ../../target/release/libusocket.so ]; then
  echo "libusocket.so not found: run 'cargo build --release' first or set USOCKET_LIBRARY"
  echo "0 passed, 1 failed"
  exit 1
fi
out=$(mktemp /tmp/usocket-cffi-tests.XXXXXX)
trap 'rm -f "$out" "$out.suite"' EXIT

install_if_missing() { # a command or file, then the packages that give it
  cmd=$1; shift
  { [ -e "$cmd" ] || command -v "$cmd" >/dev/null 2>&1; } && return 0
  echo "== installing $* (Debian packages)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1 ||
    { apt-get update >/dev/null 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1; }
  [ -e "$cmd" ] || command -v "$cmd" >/dev/null 2>&1
}

if [ "$LISP" != sbcl ]; then
  case "$LISP" in
    ecl)   install_if_missing ecl ecl; limit=420
           set -- ecl -norc --load tests/run.lisp ;;
    clisp) install_if_missing clisp clisp; limit=300
           set -- clisp -norc -q tests/run.lisp ;;
    abcl)  install_if_missing abcl abcl libjna-java; limit=480
           install_if_missing /usr/share/java/jna.jar libjna-java
           CLASSPATH=/usr/share/java/jna.jar${CLASSPATH:+:$CLASSPATH}; export CLASSPATH
           set -- abcl --noinform --noinit --batch --load tests/run.lisp ;;
    *) echo "LISP=$LISP: one of sbcl, ecl, clisp, abcl"; echo "0 passed, 1 failed"; exit 1 ;;
  esac
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "$LISP is not installed and could not be installed"
    echo "0 passed, 1 failed"
    exit 1
  fi
  echo "== usocket-cffi tests on $LISP"
  timeout -k 5 $limit "$@" < /dev/null > "$out" 2>&1
  rc=$?
  grep -v '^;' "$out" | grep -v '^$'
  line=$(sed -n 's/^\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed.*/\1 \2/p' "$out" | tail -1)
  set -- $line; p=${1:-0}; f=${2:-1}
  [ $rc -ne 0 ] && [ "$f" -eq 0 ] && f=1
  [ $rc -eq 124 ] && echo "$LISP: the tests took more than $limit s"
  k=$(sed -n 's/^[0-9][0-9]* passed, [0-9][0-9]* failed, \([0-9][0-9]*\) skipped.*/\1/p' "$out" | tail -1)
  echo "$p passed, $f failed${k:+, $k skipped (what $LISP lacks; reasons above)}"
  [ "$f" -eq 0 ]
  exit $?
fi

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
