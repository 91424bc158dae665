#!/bin/bash
# The socket-server examples: their own self-checks, then real clients no one
# here wrote (nc, socat, curl; installed by scripts/setup.sh) against each
# example in --serve mode. Exits non-zero on the first failure.
#
#   examples-c/server_clients.sh      (after `cargo build --release`)
set -euo pipefail
cd "$(dirname "$0")/.."
B=build/examples
EXAMPLES="server_echo server_hello server_udp_echo server_http"
make -s --no-print-directory $(for e in $EXAMPLES; do echo "$B/$e"; done)
for tool in nc socat curl; do
  command -v "$tool" >/dev/null || { echo "server_clients: $tool is missing (run scripts/setup.sh)"; exit 1; }
done

tmp=$(mktemp -d)
SRV_PID=""
cleanup() {
  [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "server_clients: FAILED: $*"; exit 1; }
ok() { echo "server_clients: ok: $*"; }

# --- the examples' own clients ---------------------------------------------
for e in $EXAMPLES; do
  timeout 60 "$B/$e" || fail "$e self-check"
done

# --- real clients -----------------------------------------------------------
# start NAME: runs NAME --serve with its stdin on a pipe we hold; sets PORT.
# Closing the pipe (stop) makes the example stop its server and exit.
start() {
  mkfifo "$tmp/in"
  "$B/$1" --serve <"$tmp/in" >"$tmp/port" 2>"$tmp/log" &
  SRV_PID=$!
  exec 3>"$tmp/in"
  rm -f "$tmp/in"
  # The example prints its port once it listens; wait for that line.
  local waited=0
  until [ -s "$tmp/port" ]; do
    kill -0 "$SRV_PID" 2>/dev/null || fail "$1 did not start: $(cat "$tmp/log")"
    waited=$((waited + 1)); [ $waited -lt 1000 ] || fail "$1 printed no port"
    sleep 0.01
  done
  PORT=$(head -1 "$tmp/port")
  CURRENT=$1
}

stop() {
  exec 3>&-
  local waited=0
  while kill -0 "$SRV_PID" 2>/dev/null; do
    waited=$((waited + 1)); [ $waited -lt 1000 ] || fail "$CURRENT did not stop when asked"
    sleep 0.01
  done
  wait "$SRV_PID" || fail "$CURRENT exited with $?: $(cat "$tmp/log")"
  SRV_PID=""
  ok "$CURRENT stopped cleanly"
}

# TCP echo: a large random payload through nc and through socat.
head -c 300000 /dev/urandom | base64 >"$tmp/payload"
start server_echo
timeout 20 nc -N 127.0.0.1 "$PORT" <"$tmp/payload" >"$tmp/out" || fail "nc to server_echo"
cmp -s "$tmp/payload" "$tmp/out" || fail "nc: the echo differs ($(wc -c <"$tmp/out") bytes back)"
ok "nc: $(wc -c <"$tmp/payload") bytes echoed"
timeout 20 socat -t 5 - "TCP:127.0.0.1:$PORT" <"$tmp/payload" >"$tmp/out" || fail "socat to server_echo"
cmp -s "$tmp/payload" "$tmp/out" || fail "socat: the echo differs"
ok "socat: echoed"
# Several nc clients at once (one thread per client).
for i in 1 2 3 4 5 6 7 8; do
  (printf 'client %s\n' "$i" | timeout 20 nc -N 127.0.0.1 "$PORT" >"$tmp/par.$i") &
done
wait_jobs=$(jobs -p | grep -v "^$SRV_PID\$" || true)
for j in $wait_jobs; do wait "$j" || fail "a parallel nc client failed"; done
for i in 1 2 3 4 5 6 7 8; do
  [ "$(cat "$tmp/par.$i")" = "client $i" ] || fail "parallel client $i got '$(cat "$tmp/par.$i")'"
done
ok "8 parallel nc clients"
stop

# Line-based hello service.
start server_hello
got=$(printf 'Ada\nGrace\nquit\nnever answered\n' | timeout 20 nc -N 127.0.0.1 "$PORT")
[ "$got" = $'hello, Ada\nhello, Grace\nbye' ] || fail "nc to server_hello got: $got"
ok "nc: hello service"
got=$(printf 'Linus\r\nquit\r\n' | timeout 20 socat -t 5 - "TCP:127.0.0.1:$PORT")
[ "$got" = $'hello, Linus\nbye' ] || fail "socat to server_hello got: $got"
ok "socat: hello service (CR LF)"
# "shutdown" stops the server from inside its handler: the example exits.
got=$(printf 'shutdown\n' | timeout 20 nc -N 127.0.0.1 "$PORT")
[ "$got" = "stopping" ] || fail "shutdown got: $got"
if timeout 5 nc -z 127.0.0.1 "$PORT"; then fail "server_hello still accepts after shutdown"; fi
ok "shutdown from inside a handler refuses new clients"
stop

# UDP echo.
start server_udp_echo
got=$(printf 'ping over udp' | timeout 20 socat -t 2 - "UDP:127.0.0.1:$PORT")
[ "$got" = "ping over udp" ] || fail "socat UDP got: $got"
ok "socat: UDP echo"
got=$(printf 'nc datagram\n' | timeout 20 nc -u -w 1 127.0.0.1 "$PORT")
[ "$got" = "nc datagram" ] || fail "nc -u got: $got"
ok "nc -u: UDP echo"
stop

# HTTP/1.0 with curl.
start server_http
got=$(timeout 20 curl -sS --http1.0 "http://127.0.0.1:$PORT/")
[ "$got" = "hello from usocket" ] || fail "curl / got: $got"
got=$(timeout 20 curl -sS --http1.0 "http://127.0.0.1:$PORT/echo/usocket-core")
[ "$got" = "usocket-core" ] || fail "curl /echo got: $got"
code=$(timeout 20 curl -sS --http1.0 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/missing")
[ "$code" = 404 ] || fail "curl /missing gave $code"
code=$(timeout 20 curl -sS --http1.0 -o /dev/null -w '%{http_code}' -X DELETE "http://127.0.0.1:$PORT/")
[ "$code" = 405 ] || fail "curl DELETE gave $code"
head=$(timeout 20 curl -sS --http1.0 -D - -o /dev/null "http://127.0.0.1:$PORT/")
grep -q '^HTTP/1.0 200 OK' <<<"$head" || fail "curl: status line: $head"
grep -qi '^Content-Length: 19' <<<"$head" || fail "curl: headers: $head"
# The address the handler was given is the client's.
got=$(timeout 20 curl -sS --http1.0 --local-port 40000-40999 "http://127.0.0.1:$PORT/peer")
set -- $got
[ "$1" = 127.0.0.1 ] && [ "$2" -ge 40000 ] && [ "$2" -le 40999 ] || fail "curl /peer got: $got"
# Many at once.
urls=(); for i in $(seq 1 40); do urls+=("http://127.0.0.1:$PORT/echo/n$i"); done
got=$(timeout 30 curl -sS --no-progress-meter --http1.0 --parallel --parallel-max 20 "${urls[@]}" | sort | tr '\n' ' ')
want=$(for i in $(seq 1 40); do echo "n$i"; done | sort | tr '\n' ' ')
[ "$got" = "$want" ] || fail "curl --parallel got: $got"
ok "curl: HTTP/1.0 (/, /echo, 404, 405, headers, peer address, 40 parallel)"
stop

echo "server_clients: all passed"
