#!/bin/bash
# The hardening suite of issue 7: one fault table run from C, Python and
# Lisp; soaks; close under a blocked call; signals (SBCL GC storm, SIGINT in
# Python, SIGPIPE in a C host); hostile peers against the C, Python and Lisp
# socket servers. Loopback only; every part under a time limit.
#
#   tests/hardening/run.sh          the default run (about 3 minutes): soaks of
#                                   5,000 cycles per runtime
#   tests/hardening/run.sh soak     the long run (several minutes): soaks of
#                                   100,000 cycles per runtime, an unpaced
#                                   connect burst against each server, 20
#                                   rounds of calls under the GC storm
#
# Parts (each prints "N passed, M failed" last; a part that prints no such
# line, crashes or runs out of time counts as failed):
#   faults-{c,python,lisp}      faults.tsv, inside netns.sh's private namespace
#   faults-lisp-{ecl,clisp,abcl}  faults.lisp on ECL, CLISP and ABCL (faults-lisp
#                               is SBCL); same namespace. Each part that runs
#                               first loads usocket-cffi once (load-check.lisp)
#                               when ASDF's fasl cache for this tree is cold or
#                               older than bindings/lisp, so the part is timed warm
#   soak-{c,python,lisp}        soak.c, soak.py, soak.lisp
#   close-{python,lisp}         test_close_under_call.py, close-under-call.lisp
#                               (C: tests/blocking.rs close_wakes_*)
#   gc-storm-lisp, sigint-python, and SIGPIPE in C: the faults-c runner keeps
#                               SIGPIPE at its default while it writes to reset
#                               and shut-down peers (write-after-peer-reset,
#                               write-after-reset-reported, write-after-shutdown-output)
#   hostile-{c,python,lisp}     hostile.c against hostile_server.c,
#                               hostile_server.py, hostile-server.lisp
#
# Environment: USOCKET_HARDENING_NO_BUILD=1 skips `make build` (the library
# must then be built already); USOCKET_HARDENING_PARTS="faults-c soak-lisp"
# runs only those parts (e.g. USOCKET_HARDENING_PARTS=faults-lisp-ecl, or
# "faults-lisp faults-lisp-ecl faults-lisp-clisp faults-lisp-abcl" for the
# Lisp fault table everywhere); PYTHON (default python3), SBCL (default
# sbcl), ECL (ecl), CLISP (clisp), ABCL (abcl; CLASSPATH gets
# /usr/share/java/jna.jar), CC.
# Prints every part's output, a table of parts, the measurements, and
# "N passed, M failed" last (checks summed over the parts); exits non-zero
# on any failure. Needs root for unshare -n -m (the fault runners).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT" || exit 2
MODE=${1:-default}
case $MODE in default | soak) ;; *) echo "usage: $0 [soak]" >&2; exit 2 ;; esac

PY=${PYTHON:-python3}
SBCL=${SBCL:-sbcl}
CC=${CC:-cc}
LIB=$ROOT/target/release
BIN=$ROOT/build/hardening
WORK=$(mktemp -d "${TMPDIR:-/tmp}/usocket-hardening.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export USOCKET_HARDENING_MEASURE=$WORK/measurements
: > "$USOCKET_HARDENING_MEASURE"
ulimit -n "$(ulimit -Hn)" 2> /dev/null || true

if [ "$MODE" = soak ]; then
    CYCLES=100000 SOAK_LIMIT=1800 HOSTILE_BURST=1 GC_ROUNDS=20
else
    CYCLES=5000 SOAK_LIMIT=240 HOSTILE_BURST=0 GC_ROUNDS=5
fi
export HOSTILE_BURST

total_passed=0 total_failed=0
table=""
note() { table="$table$(printf '  %-18s %s' "$1" "$2")
"; }

# count FILE: "passed failed" from the last "N passed, M failed" (ours) or
# pytest's summary line; empty if there is none.
count() {
    local line p f e
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$1" | tail -1)
    if [ -n "$line" ]; then
        echo "$line" | sed -E 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/'
        return
    fi
    line=$(grep -E '^=*[ ]*([0-9]+ (passed|failed|errors?|skipped|xfailed|xpassed|deselected|warnings?)(, )?)+ in [0-9.]+s' "$1" | tail -1)
    [ -n "$line" ] || return
    p=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || true)
    f=$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' || true)
    e=$(echo "$line" | grep -oE '[0-9]+ errors?' | grep -oE '[0-9]+' || true)
    echo "${p:-0} $(( ${f:-0} + ${e:-0} ))"
}

want() { [ -z "${USOCKET_HARDENING_PARTS:-}" ] || [[ " $USOCKET_HARDENING_PARTS " == *" $1 "* ]]; }

# part NAME LIMIT COMMAND...: runs one part under a time limit, shows its
# output (less SBCL's compiler notes) and adds its counts.
part() {
    local name=$1 limit=$2
    shift 2
    want "$name" || return 0
    local log=$WORK/$name.log t0=$SECONDS rc
    echo
    echo "=== $name"
    timeout --kill-after=10 "$limit" "$@" > "$log" 2>&1
    rc=$?
    grep -v '^;' "$log" | grep -v '^$' | tail -n 150
    local c p f
    c=$(count "$log")
    if [ -z "$c" ]; then
        p=0 f=1
        if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
            echo "$name: did not finish within $limit s"
        else
            echo "$name: ended (status $rc) without a result line"
        fi
    else
        set -- $c
        p=$1 f=$2
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
            echo "$name: exit status $rc with no failed check"
            f=1
        fi
    fi
    total_passed=$((total_passed + p))
    total_failed=$((total_failed + f))
    note "$name" "$p passed, $f failed ($((SECONDS - t0)) s)"
}

# broken NAME WHY: a part that cannot run counts as one failure.
broken() {
    want "$1" || return 0
    echo
    echo "=== $1"
    echo "$1: FAILED: $2"
    total_failed=$((total_failed + 1))
    note "$1" "0 passed, 1 failed (cannot run: $2)"
}

# ---------------------------------------------------------------- building
echo "=== build"
if [ "${USOCKET_HARDENING_NO_BUILD:-0}" != 1 ]; then
    make --no-print-directory build > "$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; echo "make build failed"; }
fi
c_ok=1
if [ ! -e "$LIB/libusocket.so" ]; then
    echo "no $LIB/libusocket.so: build the core first (make build)"
    c_ok=0
fi
mkdir -p "$BIN"
if [ "$c_ok" = 1 ]; then
    for prog in faults soak hostile hostile_server; do
        if ! "$CC" -O1 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$ROOT/include" -I"$HERE" \
            "$HERE/$prog.c" -L"$LIB" -Wl,-rpath,"$LIB" -lusocket -lpthread -o "$BIN/$prog" 2> "$WORK/cc-$prog.log"; then
            cat "$WORK/cc-$prog.log"
            echo "compiling $prog.c failed"
            c_ok=0
        fi
    done
fi
[ "$c_ok" = 1 ] && echo "C programs built in build/hardening/"

# Are the bindings usable?
py_ok=1 py_why=""
if ! py_why=$(cd "$HERE" && "$PY" -c 'import conftest, usocket; usocket.core_version()' 2>&1); then
    py_ok=0
    py_why="the Python binding (bindings/python, package usocket) does not import: $(echo "$py_why" | tail -1)"
fi
if [ "$py_ok" = 1 ] && ! "$PY" -c 'import pytest' 2> /dev/null; then
    "$PY" -m pip install -q --disable-pip-version-check pytest > /dev/null 2>&1 || true
    if ! "$PY" -c 'import pytest' 2> /dev/null; then
        py_ok=0
        py_why="pytest is not installed and pip could not install it"
    fi
fi
lisp_ok=1 lisp_why=""
sbcl_parts="faults-lisp soak-lisp close-lisp gc-storm-lisp hostile-lisp"
wanted_any() { local p; for p in "$@"; do want "$p" && return 0; done; return 1; }
if wanted_any $sbcl_parts &&
    ! lisp_why=$(timeout 120 "$SBCL" --noinform --non-interactive --no-userinit --no-sysinit \
    --load "$HERE/hlisp.lisp" --eval '(progn (usocket-cffi:core-version) (sb-ext:exit :code 0))' 2>&1); then
    lisp_ok=0
    lisp_why="the Lisp binding (bindings/lisp, system usocket-cffi) does not load: $(echo "$lisp_why" | grep -v '^;' | grep -v '^$' | tail -2 | tr '\n' ' ')"
fi
[ "$py_ok" = 1 ] && echo "Python binding: importable" || echo "Python binding: NOT usable: $py_why"
if wanted_any $sbcl_parts; then
    [ "$lisp_ok" = 1 ] && echo "Lisp binding: loads" || echo "Lisp binding: NOT usable: $lisp_why"
fi

# The other Lisps (faults-lisp-ecl, -clisp, -abcl): the command that loads a
# file on each, as bindings/lisp/run-tests.sh starts them.
ECL_RUN=("${ECL:-ecl}" -norc --load)
CLISP_RUN=("${CLISP:-clisp}" -norc -q)
ABCL_RUN=(env "CLASSPATH=/usr/share/java/jna.jar${CLASSPATH:+:$CLASSPATH}" "${ABCL:-abcl}" --noinform --noinit --batch --load)
# fasls_fresh IMPL: ASDF's cache of this tree's bindings/lisp/src for IMPL
# exists and every source file compiled there (not SBCL's fd-stream.lisp
# elsewhere) is older than its compiled file.
fasls_fresh() {
    local dir src f
    dir=$(ls -d "${XDG_CACHE_HOME:-$HOME/.cache}/common-lisp/$1"-*"$ROOT/bindings/lisp/src" 2> /dev/null | head -1)
    [ -n "$dir" ] || return 1
    for src in $(cd "$ROOT/bindings/lisp/src" && find . -name '*.lisp'); do
        for f in "$dir/${src%.lisp}".*; do
            [ -e "$f" ] || continue
            [ "$f" -nt "$ROOT/bindings/lisp/src/$src" ] || return 1
        done
    done
}
# other_lisp IMPL LIMIT: runs faults.lisp on IMPL as part faults-lisp-IMPL,
# after a load check (which fills a cold fasl cache) when the cache is not fresh.
other_lisp() {
    local impl=$1 limit=$2 why t0 exe
    local -n run=${impl^^}_RUN
    want "faults-lisp-$impl" || return 0
    case $impl in ecl) exe=${ECL:-ecl} ;; clisp) exe=${CLISP:-clisp} ;; abcl) exe=${ABCL:-abcl} ;; esac
    if ! command -v "$exe" > /dev/null 2>&1 || { [ "$impl" = abcl ] && [ ! -f /usr/share/java/jna.jar ]; }; then
        local pkgs=$impl
        [ "$impl" = abcl ] && pkgs="abcl and libjna-java (/usr/share/java/jna.jar)"
        broken "faults-lisp-$impl" "$exe is not installed (Debian: $pkgs; bindings/lisp/run-tests.sh $impl installs it)"
        return
    fi
    if ! fasls_fresh "$impl"; then
        t0=$SECONDS
        if ! why=$(timeout 600 "${run[@]}" "$HERE/load-check.lisp" 2>&1); then
            broken "faults-lisp-$impl" "usocket-cffi does not load on $impl: $(echo "$why" | grep -v '^;' | grep -v '^$' | tail -2 | tr '\n' ' ')"
            return
        fi
        echo "$impl: fasl cache filled in $((SECONDS - t0)) s ($(echo "$why" | grep '^usocket-cffi loads'))"
    fi
    part "faults-lisp-$impl" "$limit" "$HERE/netns.sh" "${run[@]}" "$HERE/faults.lisp"
}

SBCL_RUN=("$SBCL" --noinform --non-interactive --no-userinit --no-sysinit --load)
# pytest FILE, run from this directory (its conftest.py puts the binding on sys.path)
pytest_cmd() { echo "cd '$HERE' && exec '$PY' -m pytest -q -p no:cacheprovider -rfE -o faulthandler_timeout=100 $1"; }
export PYTHONDONTWRITEBYTECODE=1

# ---------------------------------------------------------------- faults
if [ "$c_ok" = 1 ]; then
    part faults-c 120 "$HERE/netns.sh" "$BIN/faults" "$HERE/faults.tsv"
else
    broken faults-c "the C programs did not build"
fi
if [ "$py_ok" = 1 ]; then
    part faults-python 180 "$HERE/netns.sh" sh -c "$(pytest_cmd test_faults.py)"
else
    broken faults-python "$py_why"
fi
if [ "$lisp_ok" = 1 ]; then
    part faults-lisp 180 "$HERE/netns.sh" "${SBCL_RUN[@]}" "$HERE/faults.lisp"
else
    broken faults-lisp "$lisp_why"
fi
other_lisp ecl 180
other_lisp clisp 120
other_lisp abcl 240

# ---------------------------------------------------------------- soaks
if [ "$c_ok" = 1 ]; then part soak-c "$SOAK_LIMIT" "$BIN/soak" "$CYCLES"; else broken soak-c "the C programs did not build"; fi
if [ "$py_ok" = 1 ]; then
    part soak-python "$SOAK_LIMIT" "$PY" "$HERE/soak.py" "$CYCLES"
else
    broken soak-python "$py_why"
fi
if [ "$lisp_ok" = 1 ]; then
    part soak-lisp "$SOAK_LIMIT" env USOCKET_SOAK_CYCLES="$CYCLES" "${SBCL_RUN[@]}" "$HERE/soak.lisp"
else
    broken soak-lisp "$lisp_why"
fi

# ---------------------------------------------------------------- close under a blocked call
if [ "$py_ok" = 1 ]; then
    part close-python 120 sh -c "$(pytest_cmd test_close_under_call.py)"
else
    broken close-python "$py_why"
fi
if [ "$lisp_ok" = 1 ]; then part close-lisp 120 "${SBCL_RUN[@]}" "$HERE/close-under-call.lisp"; else broken close-lisp "$lisp_why"; fi

# ---------------------------------------------------------------- signals
if [ "$lisp_ok" = 1 ]; then
    part gc-storm-lisp 300 env USOCKET_GC_STORM_ROUNDS="$GC_ROUNDS" "${SBCL_RUN[@]}" "$HERE/gc-storm.lisp"
else
    broken gc-storm-lisp "$lisp_why"
fi
if [ "$py_ok" = 1 ]; then
    part sigint-python 120 sh -c "$(pytest_cmd test_sigint.py)"
else
    broken sigint-python "$py_why"
fi

# ---------------------------------------------------------------- hostile peers
if [ "$c_ok" = 1 ]; then
    part hostile-c 300 "$BIN/hostile" C "$BIN/hostile_server"
    if [ "$py_ok" = 1 ]; then
        part hostile-python 300 "$BIN/hostile" Python "$PY" "$HERE/hostile_server.py"
    else
        broken hostile-python "$py_why"
    fi
    if [ "$lisp_ok" = 1 ]; then
        part hostile-lisp 300 "$BIN/hostile" Lisp "${SBCL_RUN[@]}" "$HERE/hostile-server.lisp"
    else
        broken hostile-lisp "$lisp_why"
    fi
else
    broken hostile-c "the C programs did not build"
    broken hostile-python "the C driver did not build"
    broken hostile-lisp "the C driver did not build"
fi

# ---------------------------------------------------------------- summary
echo
echo "=== hardening ($MODE): parts"
printf '%s' "$table"
if [ -s "$USOCKET_HARDENING_MEASURE" ]; then
    echo "=== measurements (pytest parts)"
    sed 's/^/  /' "$USOCKET_HARDENING_MEASURE"
fi
echo "hardening ($MODE): $total_passed passed, $total_failed failed"
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
