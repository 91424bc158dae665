#!/bin/bash
# The Unix-domain server example (server_local): its own self-check, then
# socat, a client no one here wrote, against it in --serve mode on a socket
# file and on an abstract name; and the other way round, our
# local_echo_client against socat's own UNIX-LISTEN and ABSTRACT-LISTEN
# servers (socat writes exact-length abstract addresses, as we do).
# Run by examples-c/run.sh; exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
B=build/examples
make -s --no-print-directory $B/server_local $B/local_echo_client
command -v socat >/dev/null || { echo "server_local: socat is missing (run scripts/setup.sh)"; exit 1; }

tmp=$(mktemp -d)
SRV_PID=""
BG_PID=""
cleanup() {
  [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null || true
  [ -n "$BG_PID" ] && kill "$BG_PID" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "server_local: FAILED: $*"; exit 1; }
ok() { echo "server_local: ok: $*"; }

# listening PATH: is a socket bound at PATH (a file, or @name in /proc/net/unix)?
listening() {
  case $1 in
    @*) grep -q " @${1#@}\$" /proc/net/unix ;;
    *) [ -S "$1" ] ;;
  esac
}

# wait_listening PATH PID: until PATH is bound (PID must stay alive), 10 s at most.
wait_listening() {
  local i
  for i in $(seq 1 1000); do
    listening "$1" && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.01
  done
  return 1
}

timeout 60 "$B/server_local" || fail "self-check"

# start PATH: server_local --serve PATH with its stdin on a pipe we hold.
start() {
  mkfifo "$tmp/in"
  "$B/server_local" --serve "$1" <"$tmp/in" >"$tmp/out" 2>"$tmp/log" &
  SRV_PID=$!
  exec 3>"$tmp/in"
  rm -f "$tmp/in"
  wait_listening "$1" "$SRV_PID" || fail "server_local --serve $1 did not start: $(cat "$tmp/log")"
  [ "$(head -1 "$tmp/out")" = "$1" ] || fail "server_local printed $(head -1 "$tmp/out")"
}

stop() {
  exec 3>&-
  local i
  for i in $(seq 1 1000); do
    kill -0 "$SRV_PID" 2>/dev/null || break
    sleep 0.01
  done
  kill -0 "$SRV_PID" 2>/dev/null && fail "server_local did not stop when asked"
  wait "$SRV_PID" || fail "server_local exited with $?: $(cat "$tmp/log")"
  SRV_PID=""
}

# socat_client ADDRESS INPUT: runs socat (its pid is what the server must
# report) and checks the greeting and the echo.
socat_client() {
  printf '%s' "$2" >"$tmp/sin"
  socat -t 5 -T 20 - "$1" <"$tmp/sin" >"$tmp/sout" 2>"$tmp/serr" &
  local spid=$!
  wait "$spid" || fail "socat $1: $(cat "$tmp/serr")"
  local want="you are pid $spid uid $(id -u) gid $(id -g)"
  [ "$(head -1 "$tmp/sout")" = "$want" ] || fail "socat $1 was told '$(head -1 "$tmp/sout")', not '$want'"
  [ "$(tail -n +2 "$tmp/sout")" = "$2" ] || fail "socat $1: the echo differs: $(tail -n +2 "$tmp/sout" | head -c 200)"
}

# On a socket file.
sock=$tmp/whoami.sock
start "$sock"
socat_client "UNIX-CONNECT:$sock" "over a socket file"
head -c 200000 /dev/urandom | base64 >"$tmp/payload"
socat_client "UNIX-CONNECT:$sock" "$(cat "$tmp/payload")"
ok "socat UNIX-CONNECT: told its pid, uid and gid; 270 kB echoed"
stop
[ ! -e "$sock" ] || fail "$sock is still there after the server stopped"
ok "the socket file is gone once the server stopped"

# A stale file where the server wants to be (a crashed server's): replaced.
python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$sock"
[ -S "$sock" ] || fail "no stale socket file made"
start "$sock"
socat_client "UNIX-CONNECT:$sock" "after a stale file"
ok "a stale socket file was replaced"
# A live server in the way: address-in-use-error, and the first one still serves.
if "$B/server_local" --serve "$sock" </dev/null >/dev/null 2>"$tmp/log2"; then
  fail "a second server on a live socket started"
fi
grep -q 'address-in-use-error' "$tmp/log2" || fail "a second server said: $(cat "$tmp/log2")"
socat_client "UNIX-CONNECT:$sock" "still here"
ok "a live server is never replaced: $(grep -o 'address-in-use-error' "$tmp/log2")"
stop

# On an abstract name: socat's ABSTRACT-CONNECT reaches our @name.
name=usocket-example-$$
start "@$name"
socat_client "ABSTRACT-CONNECT:$name" "over the abstract namespace"
ok "socat ABSTRACT-CONNECT:$name reaches our @$name"
stop

# And the other way round: our client against socat's servers.
socat ABSTRACT-LISTEN:"$name" EXEC:cat 2>"$tmp/slog" &
BG_PID=$!
wait_listening "@$name" "$BG_PID" || fail "socat ABSTRACT-LISTEN did not start: $(cat "$tmp/slog")"
got=$(timeout 20 "$B/local_echo_client" "@$name" "to socat, abstractly") || fail "local_echo_client @$name: $got"
[ "$(echo "$got" | sed -n 's/^received: //p')" = "to socat, abstractly" ] || fail "local_echo_client @$name got: $got"
wait "$BG_PID" || true
BG_PID=""
ok "our @$name reaches socat's ABSTRACT-LISTEN:$name"
socat UNIX-LISTEN:"$tmp/socat.sock" EXEC:cat 2>"$tmp/slog" &
BG_PID=$!
wait_listening "$tmp/socat.sock" "$BG_PID" || fail "socat UNIX-LISTEN did not start: $(cat "$tmp/slog")"
got=$(timeout 20 "$B/local_echo_client" "$tmp/socat.sock" "to socat, on a file") || fail "local_echo_client: $got"
[ "$(echo "$got" | sed -n 's/^received: //p')" = "to socat, on a file" ] || fail "local_echo_client got: $got"
wait "$BG_PID" || true
BG_PID=""
ok "local_echo_client reaches socat's UNIX-LISTEN"

echo "server_local: all passed"
