#!/bin/bash
# Runs every test stage, each with a time limit, and prints one summary.
# Exits non-zero when any stage fails. Called by `make test`.
set -u
cd "$(dirname "$0")/.."
passed=0; failed=0; failures=""
stage() {
  local name=$1 limit=$2; shift 2
  echo; echo "=== stage: $name ==="
  local t0=$SECONDS
  if timeout --kill-after=10 "$limit" "$@"; then
    passed=$((passed + 1)); echo "=== $name: ok ($((SECONDS - t0)) s) ==="
  else
    failed=$((failed + 1)); failures="$failures $name"; echo "=== $name: FAILED ($((SECONDS - t0)) s) ==="
  fi
}
stage rust       600 cargo test --release
# The crate's safety lints (every unsafe block documented, ...) are errors.
stage lint       300 cargo clippy --release --lib -- -D warnings
# Every export made to panic once: the boundary holds (a second build of the
# crate with the test-only feature; target/release/libusocket.so is untouched).
stage panic      600 cargo test --release --features panic-probe --test panic_boundary
# ABCL's stages run beside the others, as one chain in the background (a JVM
# spends much of their time waiting, and the machine has 2 cores); their
# output is printed, and their results counted, at the end.
abcl_log=$(mktemp /tmp/usocket-abcl-stages.XXXXXX)
abcl_counts=$abcl_log.counts
(
  passed=0; failed=0; failures=""
  stage lisp-abcl      600 ./bindings/lisp/run-tests.sh abcl
  stage programs-abcl  900 ./bindings/lisp/tests/programs/run.sh abcl
  echo "$passed $failed$failures" > "$abcl_counts"
) > "$abcl_log" 2>&1 &
abcl_chain=$!
stage c          300 make --no-print-directory test-c
stage fuzz       180 ./fuzz/run.sh
stage examples   180 make --no-print-directory test-examples
stage python     300 ./bindings/python/run-tests.sh
stage lisp       400 ./bindings/lisp/run-tests.sh
# Real usocket programs (Hunchentoot, Drakma, cl+ssl) and usocket's 0.8.3 and
# 0.8.9 suites, on usocket-cffi/compat and on native usocket as the control.
stage programs   600 ./bindings/lisp/tests/programs/run.sh sbcl
# The same binding, its tests, the programs and usocket's suites on ECL and
# CLISP (ABCL: the background chain above). Compiled files are cached per
# implementation between stages (ASDF's cache, the programs' cache).
stage lisp-ecl        600 ./bindings/lisp/run-tests.sh ecl
stage programs-ecl    900 ./bindings/lisp/tests/programs/run.sh ecl
stage lisp-clisp      300 ./bindings/lisp/run-tests.sh clisp
stage programs-clisp  600 ./bindings/lisp/tests/programs/run.sh clisp
stage hardening  600 env USOCKET_HARDENING_NO_BUILD=1 ./tests/hardening/run.sh
# `make bench QUICK=1`, as the README describes this stage: fails when the
# benchmark code is broken (exit 1) or a measured implementation crashed or
# failed (exit 2); a missed speed target is only reported (bench/run.py).
stage bench      360 make --no-print-directory bench QUICK=1

# the ABCL chain
wait "$abcl_chain"
echo; echo "=== the ABCL stages (run beside the others) ==="
cat "$abcl_log"
if [ -s "$abcl_counts" ]; then
  read -r p f rest < "$abcl_counts"
  passed=$((passed + p)); failed=$((failed + f)); [ -n "${rest:-}" ] && failures="$failures $rest"
else
  failed=$((failed + 1)); failures="$failures abcl-chain"
fi
rm -f "$abcl_log" "$abcl_counts"
echo
[ -n "$failures" ] && echo "failed stages:$failures"
echo "stages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
