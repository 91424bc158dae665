#!/bin/sh
# Runs usocket's own test suite against usocket-cffi/compat (tests/usocket-suite.lisp)
# in a private network and mount namespace, so that its tests meet what
# they expect without the internet and without the real resolver:
#  - /etc/nsswitch.conf is "hosts: files" (ns-host-not-found-error.1 looks up "xxx");
#  - /etc/hosts also names common-lisp.net as 192.0.2.1 (TEST-NET-1), so that
#    the suite's load-time (get-host-by-name "common-lisp.net") resolves from
#    files; the tests that would talk to it are excluded (see the .lisp);
#  - 1.2.3.4 and 192.0.2.0/24 have "unreachable" routes (socket-failure.2
#    expects timeout-error or host-unreachable-error);
#  - CAP_NET_BIND_SERVICE is dropped (operation-not-permitted-error.1 binds port 81).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/usocket-cffi-suite.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
printf 'hosts: files\n' > "$tmp/nsswitch.conf"
{ cat /etc/hosts; printf '192.0.2.1 common-lisp.net\n'; } > "$tmp/hosts"
mkdir "$tmp/cache"
cat > "$tmp/inner.sh" <<INNER
set -eu
mount --bind "$tmp/nsswitch.conf" /etc/nsswitch.conf
mount --bind "$tmp/hosts" /etc/hosts
ip link set lo up
ip route add unreachable 1.2.3.4
ip route add unreachable 192.0.2.0/24
exec env USOCKET_SUITE_CACHE="$tmp/cache/" setpriv --bounding-set=-net_bind_service \
  sbcl --noinform --non-interactive --no-userinit --no-sysinit \
  --load "$here/tests/usocket-suite.lisp"
INNER
unshare -n -m sh "$tmp/inner.sh"
