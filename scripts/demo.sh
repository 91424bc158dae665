#!/bin/bash
# The demo (`make demo`, after the build and the examples): the C echo
# server of examples-c on a free port, and three clients talking to it over
# the same library: the C example client, Python (bindings/python, ctypes)
# and Common Lisp (bindings/lisp, SBCL + CFFI). Prints each exchange, stops
# the server, and exits non-zero if anything failed. A binding is skipped
# only when its directory is missing.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
B=$ROOT/build/examples
LIB=$ROOT/target/release/libusocket.so
WORK=$(mktemp -d "${TMPDIR:-/tmp}/usocket-demo.XXXXXX")
SERVER_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2> /dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

failures=0
fail() { failures=$((failures + 1)); echo "demo: FAILED: $*"; }

if [ ! -e "$LIB" ]; then
    echo "demo: $LIB is missing: run 'make demo' (or cargo build --release first)"
    exit 2
fi
if [ ! -x "$B/echo_server" ] || [ ! -x "$B/echo_client" ]; then
    make --no-print-directory examples || exit 2
fi
# Both bindings find the library through USOCKET_LIBRARY.
export USOCKET_LIBRARY=$LIB
# The C programs find it through their rpath, or here if the build did not
# make the libusocket.so.MAJOR link the soname asks for.
SONAME=$(readelf -d "$LIB" 2> /dev/null | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
if [ -n "$SONAME" ] && [ ! -e "$(dirname "$LIB")/$SONAME" ]; then
    mkdir -p "$WORK/lib"
    ln -s "$LIB" "$WORK/lib/$SONAME"
    export LD_LIBRARY_PATH="$WORK/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

echo "usocket-core demo: one echo server in C, clients in C, Python and Lisp"
echo

# --- the server -------------------------------------------------------------
"$B/echo_server" 0 > "$WORK/server.out" 2> "$WORK/server.err" &
SERVER_PID=$!
PORT=""
for _ in $(seq 1 500); do
    PORT=$(sed -n 's/^listening on [^ ]*:\([0-9][0-9]*\)$/\1/p' "$WORK/server.out" | head -1)
    [ -n "$PORT" ] && break
    kill -0 "$SERVER_PID" 2> /dev/null || break
    sleep 0.01
done
if [ -z "$PORT" ]; then
    echo "demo: the echo server did not start:"
    cat "$WORK/server.out" "$WORK/server.err"
    exit 1
fi
echo "[server] build/examples/echo_server listening on 127.0.0.1:$PORT"

# --- C ----------------------------------------------------------------------
echo
echo "[C client] build/examples/echo_client $PORT \"hello from C\""
if out=$(timeout 20 "$B/echo_client" "$PORT" "hello from C" 2>&1); then
    echo "$out" | sed 's/^/  /'
else
    echo "$out" | sed 's/^/  /'
    fail "the C client"
fi

# --- Python -----------------------------------------------------------------
echo
if [ -d bindings/python ]; then
    echo "[Python client] usocket.socket_connect (bindings/python)"
    if out=$(PYTHONPATH=$ROOT/bindings/python timeout 60 python3 - "$PORT" 2>&1 <<'EOF'
import sys
import usocket

message = b"hello from Python"
sock = usocket.socket_connect("127.0.0.1", int(sys.argv[1]), timeout=5.0)
with sock:
    sock.stream.write(message)
    sock.stream.flush()
    echo = sock.stream.read(len(message))
    print("  sent:     %s" % message.decode())
    print("  received: %s" % echo.decode())
    print("  (local %s:%d, peer %s:%d)" % (sock.local_address, sock.local_port, sock.peer_address, sock.peer_port))
sys.exit(0 if echo == message else 1)
EOF
    ); then
        echo "$out"
    else
        echo "$out" | sed 's/^/  /'
        fail "the Python client"
    fi
else
    echo "[Python client] skipped: bindings/python is missing"
fi

# --- Common Lisp --------------------------------------------------------------
echo
if [ -d bindings/lisp ]; then
    echo "[Lisp client] usocket-cffi:socket-connect (bindings/lisp, SBCL)"
    if ! command -v sbcl > /dev/null; then
        echo "  sbcl is not installed (run scripts/setup.sh)"
        fail "the Lisp client"
    elif out=$(timeout 180 sbcl --noinform --non-interactive --no-userinit --no-sysinit \
        --eval '(require :asdf)' \
        --eval "(asdf:load-asd (truename \"$ROOT/bindings/lisp/usocket-cffi.asd\"))" \
        --eval '(handler-bind ((warning (function muffle-warning))) (asdf:load-system :usocket-cffi))' \
        --eval "(defparameter cl-user::*port* $PORT)" \
        --eval '
(let* ((message "hello from Lisp")
       (socket (usocket-cffi:socket-connect "127.0.0.1" cl-user::*port* :element-type (quote character)))
       (stream (usocket-cffi:socket-stream socket)))
  (unwind-protect
       (progn
         (write-line message stream)
         (force-output stream)
         (let ((echo (read-line stream)))
           (format t "  sent:     ~a~%  received: ~a~%" message echo)
           (unless (string= echo message)
             (sb-ext:exit :code 1 :abort t))))
    (usocket-cffi:socket-close socket)))' 2>&1); then
        echo "$out" | grep -E '^  (sent|received):' || { echo "$out" | tail -20 | sed 's/^/  /'; fail "the Lisp client printed no exchange"; }
    else
        echo "$out" | tail -30 | sed 's/^/  /'
        fail "the Lisp client"
    fi
else
    echo "[Lisp client] skipped: bindings/lisp is missing"
fi

# --- stop -------------------------------------------------------------------
echo
kill "$SERVER_PID" 2> /dev/null
wait "$SERVER_PID" 2> /dev/null
SERVER_PID=""
echo "[server] stopped; what it saw:"
sed 's/^/  /' "$WORK/server.out"
if [ -s "$WORK/server.err" ]; then
    sed 's/^/  error: /' "$WORK/server.err"
    fail "the server reported errors"
fi

echo
if [ "$failures" -eq 0 ]; then
    echo "demo: all exchanges succeeded"
else
    echo "demo: $failures failed"
fi
[ "$failures" -eq 0 ]
