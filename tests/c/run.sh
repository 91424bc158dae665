#!/bin/bash
# The C tests of usocket-core. `make test-c` builds build/ctests/* and runs this.
#
#  1. The header: include/usocket.h compiles as C99 and as C++11 with
#     -Wall -Wextra -Werror (-pedantic-errors too); a C++ program links and
#     runs against the library; a C program links the static library;
#     `make install PREFIX=<tmp>` installs what pkg-config and a program
#     built from the installed files alone need; every function the header
#     declares is called by some test here (or by examples-c/server_*).
#  2. Every test binary, plainly.
#  3. Every test binary again under valgrind (memcheck, --leak-check=full,
#     --error-exitcode=99), with fewer iterations (USOCKET_TEST_CYCLES) and
#     timing bounds stretched (USOCKET_TEST_SLOW). No suppressions are
#     needed: the Rust runtime's one-time allocations stay reachable and are
#     not reported as errors.
#
# Binaries named *_netns run inside a private network and mount namespace
# (unshare -n -m) whose /etc/nsswitch.conf says "hosts: files" and whose
# /etc/hosts is our own, so name look-ups never reach the real resolver.
# No namespace (no unshare, not root) fails the run: it never skips them.
#
# Environment: VALGRIND=0 skips step 3; CTESTS="test_wait test_args" runs
# only those binaries. Prints "N passed, M failed" last (test cases and
# header checks, both runs); exits non-zero on any failure.
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
LIBDIR=$ROOT/target/release
BIN=$ROOT/build/ctests
WORK=$(mktemp -d "${TMPDIR:-/tmp}/usocket-ctests.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

passed=0
failed=0
skipped=0
failures=""

note_pass() { passed=$((passed + 1)); echo "ok   $1"; }
note_fail() { failed=$((failed + 1)); failures="$failures
  $1"; echo "FAIL $1"; }

if [ ! -e "$LIBDIR/libusocket.so" ]; then
    echo "run.sh: $LIBDIR/libusocket.so is missing: run 'make ctests' (or cargo build --release) first" >&2
    exit 2
fi
# The library's soname is libusocket.so.MAJOR; the binaries find it through
# their rpath when the build made that link, else through this directory.
SONAME=$(readelf -d "$LIBDIR/libusocket.so" 2>/dev/null | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
SONAME_MAJOR=${SONAME#libusocket.so.}
if [ -n "$SONAME" ] && [ ! -e "$LIBDIR/$SONAME" ]; then
    mkdir -p "$WORK/lib"
    ln -s "$LIBDIR/libusocket.so" "$WORK/lib/$SONAME"
    export LD_LIBRARY_PATH="$WORK/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

CC=${CC:-cc}
CXX=${CXX:-c++}
CFLAGS="-Wall -Wextra -Werror"
LINK="-L$LIBDIR -Wl,-rpath,$LIBDIR -lusocket -lpthread"

# ---------------------------------------------------------------------------
echo "=== the header"
cat > "$WORK/header.c" <<'EOF'
#include "usocket.h"
#include "usocket.h" /* twice: the include guard holds */
int main(void) { return usocket_version()[0] == '\0'; }
EOF
cat > "$WORK/header.cpp" <<'EOF'
#include <cstdio>
#include <cstring>
#include "usocket.h"
int main() {
    usocket_connect_options o;
    usocket_connect_options_init(&o);
    usocket_t s = 0;
    int32_t rc = usocket_close(s);
    std::printf("C++: usocket %s, close(0) = %s\n", usocket_version(), usocket_error_name(rc));
    return (rc == USOCKET_ERR_INVALID_HANDLE && o.nodelay &&
            std::strcmp(usocket_error_name(USOCKET_ERR_TIMEOUT), "timeout-error") == 0) ? 0 : 1;
}
EOF
check_cmd() { # name, command...
    local name=$1
    shift
    if "$@" > "$WORK/out" 2>&1; then note_pass "$name"; else cat "$WORK/out"; note_fail "$name"; fi
}
check_cmd "header compiles as C99 ($CC -std=c99 $CFLAGS -pedantic-errors)" \
    $CC -std=c99 $CFLAGS -pedantic-errors -fsyntax-only -Iinclude "$WORK/header.c"
check_cmd "header compiles as C11" $CC -std=c11 $CFLAGS -fsyntax-only -Iinclude "$WORK/header.c"
check_cmd "header compiles as C++ (g++ -std=c++11 $CFLAGS -fsyntax-only)" \
    g++ -std=c++11 $CFLAGS -fsyntax-only -Iinclude "$WORK/header.cpp"
check_cmd "header compiles as C++ (-pedantic-errors, C++17)" \
    $CXX -std=c++17 $CFLAGS -pedantic-errors -fsyntax-only -Iinclude "$WORK/header.cpp"
check_cmd "a C++ program links and runs" \
    sh -c "$CXX -std=c++11 $CFLAGS -Iinclude '$WORK/header.cpp' $LINK -o '$WORK/header_cpp' && '$WORK/header_cpp'"
if [ -e "$LIBDIR/libusocket.a" ]; then
    check_cmd "a C program links the static library and runs" \
        sh -c "$CC -std=c99 $CFLAGS -Iinclude '$WORK/header.c' '$LIBDIR/libusocket.a' -lpthread -ldl -lm -o '$WORK/header_static' && '$WORK/header_static'"
else
    note_fail "static library $LIBDIR/libusocket.a exists"
fi
# make install PREFIX=...: the header, libusocket.so.X.Y.Z with its soname
# links, libusocket.a and a usocket.pc that pkg-config finds, and a program
# built from them alone.
PREFIX_DIR=$WORK/prefix
if make --no-print-directory -s install PREFIX="$PREFIX_DIR" > "$WORK/install.out" 2>&1; then
    export PKG_CONFIG_PATH="$PREFIX_DIR/lib/pkgconfig"
    check_cmd "make install PREFIX=...: header, versioned shared library, soname links, static library, usocket.pc" \
        sh -c "cmp include/usocket.h '$PREFIX_DIR/include/usocket.h' &&
               ls '$PREFIX_DIR'/lib/libusocket.so.*.*.* &&
               [ -L '$PREFIX_DIR/lib/libusocket.so.$SONAME_MAJOR' ] && [ -e '$PREFIX_DIR/lib/$SONAME' ] &&
               [ -e '$PREFIX_DIR/lib/libusocket.so' ] && [ -e '$PREFIX_DIR/lib/libusocket.a' ] &&
               pkg-config --exists usocket && [ \"\$(pkg-config --modversion usocket)\" = \"\$(sed -n 's/^version = \"\\(.*\\)\"/\\1/p' Cargo.toml | head -1)\" ]"
    check_cmd "a program built with pkg-config against the installed library runs" \
        sh -c "cd '$WORK' && $CC -std=c99 $CFLAGS header.c \$(pkg-config --cflags --libs usocket) -o installed &&
               readelf -d installed | grep -q 'NEEDED.*$SONAME' &&
               LD_LIBRARY_PATH='$PREFIX_DIR/lib' ./installed"
    check_cmd "a program built against the installed static library runs" \
        sh -c "cd '$WORK' && $CC -std=c99 $CFLAGS header.c \$(pkg-config --cflags usocket) '$PREFIX_DIR/lib/libusocket.a' \$(pkg-config --libs-only-l --static usocket | sed 's/-lusocket//') -o installed_static &&
               ! readelf -d installed_static | grep -q 'NEEDED.*libusocket' && ./installed_static"
else
    cat "$WORK/install.out"
    note_fail "make install PREFIX=$PREFIX_DIR"
fi

# Every function of the header is called by the tests (or, for the socket
# server, by the examples-c/server_* programs that examples-c/run.sh runs).
functions=$(sed -n 's/^[a-z].*[ *]\(usocket_[a-z_0-9]*\)(.*/\1/p' include/usocket.h | sort -u)
missing=""
for f in $functions; do
    grep -q "\<$f(" tests/c/*.c examples-c/*.c 2>/dev/null || missing="$missing $f"
done
if [ -z "$missing" ]; then
    note_pass "every function of the header is called by a test ($(echo "$functions" | wc -w) functions)"
else
    note_fail "functions of the header that no test calls:$missing"
fi

# ---------------------------------------------------------------------------
# The private namespace for *_netns binaries.
printf 'hosts: files\n' > "$WORK/nsswitch.conf"
cat > "$WORK/hosts" <<'EOF'
127.0.0.1 localhost
::1 localhost ip6-localhost ip6-loopback
127.0.0.1 usocket-multi.test
::1 usocket-multi.test
127.0.0.1 usocket-v4.test
::1 usocket-v6first.test
127.0.0.1 usocket-v6first.test
::1 usocket-v6.test
EOF
netns_ok=0
if unshare -n -m sh -c 'mount --bind "$1" /etc/nsswitch.conf && mount --bind "$2" /etc/hosts && ip link set lo up' \
    sh "$WORK/nsswitch.conf" "$WORK/hosts" > "$WORK/out" 2>&1; then
    netns_ok=1
    note_pass "a private network and mount namespace can be made (unshare -n -m)"
else
    # A failure, not a skip: the unknown-host tests would otherwise vanish
    # from the results. scripts/setup.sh installs util-linux, mount and iproute2.
    sed 's/^/  /' "$WORK/out"
    note_fail "a private network and mount namespace can be made (unshare -n -m, as root, with mount and ip)"
fi

# run_binary LABEL BINARY [wrapper...]: runs one test binary, adds its counts.
run_binary() {
    local label=$1 bin=$2 name
    shift 2
    name=$(basename "$bin")
    local log="$WORK/$label-$name.log" rc result
    case $name in
    *_netns)
        if [ "$netns_ok" != 1 ]; then
            note_fail "$label $name: not run, no private namespace (unknown-host tests never use the real resolver)"
            return
        fi
        USOCKET_TEST_NETNS=1 timeout --kill-after=10 300 unshare -n -m sh -c \
            'mount --bind "$1" /etc/nsswitch.conf && mount --bind "$2" /etc/hosts && ip link set lo up && shift 2 && exec "$@"' \
            sh "$WORK/nsswitch.conf" "$WORK/hosts" "$@" "$bin" > "$log" 2>&1
        rc=$?
        ;;
    *)
        timeout --kill-after=10 300 "$@" "$bin" > "$log" 2>&1
        rc=$?
        ;;
    esac
    # the per-case lines, then the counts
    grep -v '^  test_' "$log" | grep -v '^CHECK-RESULT' | sed "s/^/[$label] /"
    result=$(grep '^CHECK-RESULT' "$log" | tail -1)
    if [ -z "$result" ]; then
        note_fail "$label $name: no result (exit status $rc)"
        return
    fi
    local p f s
    p=$(echo "$result" | sed 's/.*passed=\([0-9]*\).*/\1/')
    f=$(echo "$result" | sed 's/.*failed=\([0-9]*\).*/\1/')
    s=$(echo "$result" | sed 's/.*skipped=\([0-9]*\).*/\1/')
    passed=$((passed + p))
    skipped=$((skipped + s))
    case $name in
    *_netns)
        # Inside the namespace nothing may skip: a skip there means the
        # namespace is not what the cases need.
        [ "$s" -gt 0 ] && note_fail "$label $name: $s cases skipped inside the private namespace"
        ;;
    esac
    if [ "$f" -gt 0 ]; then
        failed=$((failed + f))
        failures="$failures
  $label $name: $(grep '^FAIL ' "$log" | sed 's/^FAIL //; s/ (.*//' | tr '\n' ' ')"
    elif [ "$rc" -ne 0 ]; then
        note_fail "$label $name: exit status $rc"
    fi
}

binaries=""
if [ -n "${CTESTS:-}" ]; then
    for t in $CTESTS; do binaries="$binaries $BIN/$t"; done
else
    for f in "$BIN"/test_*; do
        case $(basename "$f") in *.*) continue ;; esac
        [ -x "$f" ] && binaries="$binaries $f"
    done
fi
if [ -z "$binaries" ]; then
    echo "run.sh: no test binaries in $BIN: run 'make ctests' first" >&2
    exit 2
fi

echo
echo "=== the tests"
t0=$SECONDS
for b in $binaries; do run_binary plain "$b"; done
echo "(plain run: $((SECONDS - t0)) s)"

if [ "${VALGRIND:-1}" != 0 ]; then
    echo
    echo "=== the tests under valgrind"
    if command -v valgrind > /dev/null; then
        t0=$SECONDS
        for b in $binaries; do
            USOCKET_TEST_SLOW=10 USOCKET_TEST_CYCLES=${USOCKET_VALGRIND_CYCLES:-1000} \
                run_binary valgrind "$b" valgrind -q --error-exitcode=99 --leak-check=full \
                --errors-for-leak-kinds=definite,possible --show-leak-kinds=definite,possible
        done
        echo "(valgrind run: $((SECONDS - t0)) s)"
    else
        note_fail "valgrind is installed (apt-get install valgrind, or VALGRIND=0 to skip)"
    fi
fi

echo
if [ -n "$failures" ]; then
    echo "failures:$failures"
fi
[ "$skipped" -gt 0 ] && echo "($skipped skipped)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
