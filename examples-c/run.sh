#!/bin/bash
# Runs the C examples against each other on loopback and checks what they
# print; then runs examples-c/server_*.sh, if there are any. Called by
# `make test-examples` after `make examples`; prints "N passed, M failed"
# and exits non-zero on any failure.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
B=$ROOT/build/examples
LIBDIR=$ROOT/target/release
WORK=$(mktemp -d "${TMPDIR:-/tmp}/usocket-examples.XXXXXX")
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2> /dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }

for e in echo_server echo_client udp_exchange wait_loop local_echo_server local_echo_client; do
    if [ ! -x "$B/$e" ]; then
        echo "examples-c/run.sh: $B/$e is missing: building the examples"
        make --no-print-directory examples || exit 2
        break
    fi
done
# The library's soname is libusocket.so.MAJOR; the examples find it through
# their rpath when the build made that link, else through this directory.
SONAME=$(readelf -d "$LIBDIR/libusocket.so" 2> /dev/null | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
if [ -n "$SONAME" ] && [ ! -e "$LIBDIR/$SONAME" ]; then
    mkdir -p "$WORK/lib"
    ln -s "$LIBDIR/libusocket.so" "$WORK/lib/$SONAME"
    export LD_LIBRARY_PATH="$WORK/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

# start_server NAME ARGS...: runs build/examples/NAME in the background,
# waits for its "listening on HOST:PORT" line; sets SERVER_PID and PORT.
start_server() {
    local name=$1 i
    shift
    "$B/$name" "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" &
    SERVER_PID=$!
    PIDS="$PIDS $SERVER_PID"
    PORT=""
    for i in $(seq 1 500); do
        PORT=$(sed -n 's/^listening on [^ ]*:\([0-9][0-9]*\)$/\1/p' "$WORK/$name.out" | head -1)
        [ -n "$PORT" ] && return 0
        kill -0 "$SERVER_PID" 2> /dev/null || break
        sleep 0.01
    done
    echo "  $name did not start:"
    sed 's/^/    /' "$WORK/$name.out" "$WORK/$name.err"
    return 1
}

# wait_exit PID SECONDS: waits for the process to end on its own; its status.
wait_exit() {
    local pid=$1 i
    for i in $(seq 1 $(($2 * 20))); do
        kill -0 "$pid" 2> /dev/null || break
        sleep 0.05
    done
    if kill -0 "$pid" 2> /dev/null; then
        kill "$pid"
        wait "$pid" 2> /dev/null
        return 124
    fi
    wait "$pid"
}

# ---------------------------------------------------------------------------
echo "=== they build with plain cc, as a user would"
for f in examples-c/echo_server.c examples-c/echo_client.c examples-c/udp_exchange.c examples-c/wait_loop.c \
    examples-c/local_echo_server.c examples-c/local_echo_client.c; do
    if ${CC:-cc} -std=c99 -Wall -Wextra -Werror -pedantic -Iinclude -fsyntax-only "$f" 2> "$WORK/cc.err"; then
        ok "$f compiles with cc -std=c99 -Wall -Wextra -Werror -pedantic (no -D_GNU_SOURCE)"
    else
        sed 's/^/    /' "$WORK/cc.err"
        bad "$f compiles with plain cc"
    fi
done

# ---------------------------------------------------------------------------
echo "=== echo_server and echo_client"
if start_server echo_server 0 3; then
    ok "echo_server listens on 127.0.0.1:$PORT"
    out=$("$B/echo_client" "$PORT" "hello from C" 2>&1)
    echo "$out" | sed 's/^/    /'
    if [ "$(echo "$out" | sed -n 's/^received: //p')" = "hello from C" ]; then
        ok "echo_client: the echo came back"
    else
        bad "echo_client: the echo"
    fi
    big=$(head -c 30000 /dev/urandom | base64 -w 0)
    if out=$("$B/echo_client" --host 127.0.0.1 "$PORT" "$big" 2>&1) &&
        [ "$(echo "$out" | sed -n 's/^received: //p')" = "$big" ]; then
        ok "echo_client: a 40 kB message came back whole"
    else
        bad "echo_client: a 40 kB message"
    fi
    # a client that connects and says nothing: the server sees EOF, no echo
    if "$B/echo_client" "$PORT" "" > "$WORK/empty.out" 2>&1; then
        ok "echo_client: an empty message"
    else
        bad "echo_client: an empty message: $(cat "$WORK/empty.out")"
    fi
    # three clients served: the server exits by itself
    if wait_exit "$SERVER_PID" 10; then
        ok "echo_server exits after its 3 clients"
    else
        bad "echo_server exits after its 3 clients"
    fi
    sed 's/^/    /' "$WORK/echo_server.out"
    if [ "$(grep -c 'connected$' "$WORK/echo_server.out")" = 3 ] &&
        grep -q 'done: 12 bytes echoed' "$WORK/echo_server.out" &&
        grep -q '^served 3 clients' "$WORK/echo_server.out"; then
        ok "echo_server reports each client"
    else
        bad "echo_server output"
    fi
    # refused now: the client reports the library's condition and fails
    if "$B/echo_client" "$PORT" "anyone?" > "$WORK/refused.out" 2>&1; then
        bad "echo_client to a closed port should fail"
    elif grep -q 'connection-refused-error' "$WORK/refused.out"; then
        ok "echo_client to a closed port: $(cat "$WORK/refused.out")"
    else
        bad "echo_client to a closed port said: $(cat "$WORK/refused.out")"
    fi
else
    bad "echo_server starts"
fi

# ---------------------------------------------------------------------------
echo "=== udp_exchange"
if timeout 20 "$B/udp_exchange" 0 4 > "$WORK/udp.out" 2>&1; then
    sed 's/^/    /' "$WORK/udp.out"
    if grep -q '^client: received "pong 4"$' "$WORK/udp.out" &&
        grep -q '^server: received "ping 1" from 127.0.0.1:' "$WORK/udp.out" &&
        grep -q 'waiting for more: timeout-error' "$WORK/udp.out"; then
        ok "udp_exchange: 4 pings answered, then a receive timeout"
    else
        bad "udp_exchange output"
    fi
else
    sed 's/^/    /' "$WORK/udp.out"
    bad "udp_exchange exits 0"
fi
# on a port given on the command line
uport=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2> /dev/null || echo 0)
if timeout 20 "$B/udp_exchange" "$uport" 1 > "$WORK/udp2.out" 2>&1 && grep -q "bound to 127.0.0.1:$uport" "$WORK/udp2.out"; then
    ok "udp_exchange on port $uport"
else
    bad "udp_exchange on port $uport: $(cat "$WORK/udp2.out")"
fi

# ---------------------------------------------------------------------------
echo "=== wait_loop: one thread, many clients"
N=20
if start_server wait_loop 0 $((N + 1)); then
    ok "wait_loop listens on 127.0.0.1:$PORT"
    # a slow client first: connected, silent for 2 s
    "$B/echo_client" --pause 2000 "$PORT" "slow one" > "$WORK/slow.out" 2>&1 &
    slow=$!
    PIDS="$PIDS $slow"
    sleep 0.2
    quick=""
    for i in $(seq 1 $N); do
        "$B/echo_client" "$PORT" "client number $i" > "$WORK/quick.$i" 2>&1 &
        quick="$quick $!"
    done
    all_ok=1
    for p in $quick; do wait "$p" || all_ok=0; done
    for i in $(seq 1 $N); do
        [ "$(sed -n 's/^received: //p' "$WORK/quick.$i")" = "client number $i" ] || all_ok=0
    done
    if [ $all_ok = 1 ]; then ok "$N clients at once all got their echo"; else bad "$N clients at once"; fi
    if kill -0 "$slow" 2> /dev/null; then
        ok "they were served while the slow client still waited"
    else
        bad "the quick clients were held up behind the slow one"
    fi
    if wait "$slow" && grep -q '^received: slow one$' "$WORK/slow.out"; then
        ok "the slow client got its echo"
    else
        bad "the slow client: $(cat "$WORK/slow.out")"
    fi
    if wait_exit "$SERVER_PID" 10; then ok "wait_loop exits after $((N + 1)) clients"; else bad "wait_loop exits"; fi
    tail -1 "$WORK/wait_loop.out" | sed 's/^/    /'
    most=$(sed -n 's/.*at most \([0-9]*\) at once$/\1/p' "$WORK/wait_loop.out")
    if [ -n "$most" ] && [ "$most" -ge 2 ] && grep -q "^served $((N + 1)) clients" "$WORK/wait_loop.out"; then
        ok "wait_loop served $((N + 1)) clients, up to $most at once, on one thread"
    else
        bad "wait_loop summary: $(tail -1 "$WORK/wait_loop.out")"
    fi
    if [ -s "$WORK/wait_loop.err" ]; then
        bad "wait_loop reported errors: $(cat "$WORK/wait_loop.err")"
    fi
else
    bad "wait_loop starts"
fi

# ---------------------------------------------------------------------------
echo "=== local_echo_server and local_echo_client: Unix-domain sockets"
# start_local NAME PATH ARGS...: runs NAME in the background until it prints
# "listening on PATH"; sets SERVER_PID.
start_local() {
    local name=$1 path=$2 i
    shift 2
    "$B/$name" "$path" "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" &
    SERVER_PID=$!
    PIDS="$PIDS $SERVER_PID"
    for i in $(seq 1 500); do
        grep -qx "listening on $path" "$WORK/$name.out" && return 0
        kill -0 "$SERVER_PID" 2> /dev/null || break
        sleep 0.01
    done
    echo "  $name did not start:"
    sed 's/^/    /' "$WORK/$name.out" "$WORK/$name.err"
    return 1
}
SOCK=$WORK/echo.sock
if start_local local_echo_server "$SOCK" 4; then
    ok "local_echo_server listens on $SOCK"
    out=$("$B/local_echo_client" "$SOCK" "hello from C, locally" 2>&1)
    echo "$out" | sed 's/^/    /'
    if [ "$(echo "$out" | sed -n 's/^received: //p')" = "hello from C, locally" ]; then
        ok "local_echo_client: the echo came back"
    else
        bad "local_echo_client: the echo"
    fi
    big=$(head -c 60000 /dev/urandom | base64 -w 0)
    if out=$("$B/local_echo_client" "$SOCK" "$big" 2>&1) && [ "$(echo "$out" | sed -n 's/^received: //p')" = "$big" ]; then
        ok "local_echo_client: an 80 kB message came back whole"
    else
        bad "local_echo_client: an 80 kB message"
    fi
    # socat, a client no one here wrote
    if command -v socat > /dev/null; then
        got=$(printf 'via socat' | timeout 20 socat -t 5 - "UNIX-CONNECT:$SOCK" 2>&1)
        if [ "$got" = "via socat" ]; then ok "socat UNIX-CONNECT: echoed"; else bad "socat UNIX-CONNECT got: $got"; fi
    else
        bad "socat is installed (scripts/setup.sh)"
    fi
    # a second server on the live path: address-in-use-error (which stops
    # after probing it, so it takes the place of the server's 4th client)
    if "$B/local_echo_server" "$SOCK" 1 > "$WORK/second.out" 2>&1; then
        bad "a second local_echo_server on a live path started"
    elif grep -q 'address-in-use-error' "$WORK/second.out"; then
        ok "a second server on a live path: $(cat "$WORK/second.out")"
    else
        bad "a second server on a live path said: $(cat "$WORK/second.out")"
    fi
    if wait_exit "$SERVER_PID" 10; then
        ok "local_echo_server exits after its 4 clients"
    else
        bad "local_echo_server exits after its 4 clients"
    fi
    sed 's/^/    /' "$WORK/local_echo_server.out"
    if [ "$(grep -c "^client pid [0-9]* uid $(id -u) connected\$" "$WORK/local_echo_server.out")" = 4 ] &&
        grep -q 'done: 21 bytes echoed' "$WORK/local_echo_server.out" &&
        grep -q '^served 4 clients' "$WORK/local_echo_server.out"; then
        ok "local_echo_server reports each client's pid and uid"
    else
        bad "local_echo_server output"
    fi
    if [ ! -e "$SOCK" ]; then ok "the socket file is gone after the server closed"; else bad "$SOCK outlived its server"; fi
    if "$B/local_echo_client" "$SOCK" "anyone?" > "$WORK/enoent.out" 2>&1; then
        bad "local_echo_client to a missing path should fail"
    elif grep -q 'unknown-error.*errno 2)' "$WORK/enoent.out"; then
        ok "local_echo_client to a missing path: $(cat "$WORK/enoent.out")"
    else
        bad "local_echo_client to a missing path said: $(cat "$WORK/enoent.out")"
    fi
else
    bad "local_echo_server starts"
fi
# A stale socket file (a server that died without closing): refused, then
# replaced by a new server.
if python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$SOCK" && [ -S "$SOCK" ]; then
    if "$B/local_echo_client" "$SOCK" > "$WORK/stale.out" 2>&1; then
        bad "local_echo_client to a stale socket file should fail"
    elif grep -q 'connection-refused-error' "$WORK/stale.out"; then
        ok "local_echo_client to a stale socket file: $(cat "$WORK/stale.out")"
    else
        bad "local_echo_client to a stale socket file said: $(cat "$WORK/stale.out")"
    fi
    if start_local local_echo_server "$SOCK" 1 && out=$("$B/local_echo_client" "$SOCK" "after the stale one" 2>&1) &&
        wait_exit "$SERVER_PID" 10; then
        ok "a server replaced the stale socket file and served"
    else
        bad "a server on a stale socket file: $out"
    fi
else
    bad "making a stale socket file with python3"
fi
# A regular file in the way is never replaced.
printf 'precious' > "$WORK/regular"
if "$B/local_echo_server" "$WORK/regular" 1 > "$WORK/regular.out" 2>&1; then
    bad "local_echo_server on a regular file started"
elif grep -q 'address-in-use-error' "$WORK/regular.out" && [ "$(cat "$WORK/regular")" = precious ]; then
    ok "a regular file in the way: address-in-use-error, the file untouched"
else
    bad "a regular file in the way: $(cat "$WORK/regular.out")"
fi
# The abstract namespace: no file; socat's ABSTRACT-CONNECT reaches @name.
NAME=usocket-examples-$$
if start_local local_echo_server "@$NAME" 2; then
    out=$("$B/local_echo_client" "@$NAME" "abstractly" 2>&1)
    if [ "$(echo "$out" | sed -n 's/^received: //p')" = "abstractly" ]; then
        ok "local_echo_client @$NAME: echoed"
    else
        bad "local_echo_client @$NAME: $out"
    fi
    got=$(printf 'socat, abstractly' | timeout 20 socat -t 5 - "ABSTRACT-CONNECT:$NAME" 2>&1)
    if [ "$got" = "socat, abstractly" ]; then
        ok "socat ABSTRACT-CONNECT:$NAME reaches our @$NAME"
    else
        bad "socat ABSTRACT-CONNECT got: $got"
    fi
    if wait_exit "$SERVER_PID" 10; then ok "local_echo_server @$NAME exits after 2 clients"; else bad "local_echo_server @$NAME exits"; fi
else
    bad "local_echo_server @$NAME starts"
fi

# ---------------------------------------------------------------------------
for script in examples-c/server_*.sh; do
    [ -e "$script" ] || continue
    echo "=== $script"
    if timeout --kill-after=10 240 bash "$script"; then
        ok "$script"
    else
        bad "$script (exit $?)"
    fi
done

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
