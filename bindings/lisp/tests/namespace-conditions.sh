#!/bin/sh
# Provokes, in a private network and mount namespace, the conditions that
# loopback alone cannot: an unknown host (the resolver reads only a
# "hosts: files" nsswitch.conf: the real resolver is never asked), no route
# to a network, an unreachable route, binding port 81 without the
# CAP_NET_BIND_SERVICE capability, and a
# resolver that can only fail for now (pointed at 127.0.0.1 inside a
# namespace with no other network); and names with addresses of both
# families (from a private /etc/hosts), for the resolver's order. Prints "ok <condition-class>" lines;
# exits non-zero if a check failed.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/usocket-cffi-ns.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
printf 'hosts: files\n' > "$tmp/nsswitch.files"
printf 'hosts: dns\n' > "$tmp/nsswitch.dns"
printf 'nameserver 127.0.0.1\n' > "$tmp/resolv.conf"
# Names with several addresses of both families, for get-hosts-by-name's order.
{ cat /etc/hosts
  printf '127.0.0.3 dual.test\n::1 dual.test\n127.0.0.2 dual.test\n'
  printf '::1 six.test\n'; } > "$tmp/hosts"
cat > "$tmp/inner.sh" <<INNER
set -eu
mount --bind "$tmp/nsswitch.files" /etc/nsswitch.conf
mount --bind "$tmp/hosts" /etc/hosts
ip link set lo up
ip route add unreachable 198.51.100.0/24
run() {
  mode=\$1; shift
  "\$@" sbcl --noinform --non-interactive --no-userinit --no-sysinit \
    --eval '(require :asdf)' \
    --eval '(push #p"$here/" asdf:*central-registry*)' \
    --eval '(asdf:load-system "usocket-cffi")' \
    --load "$here/tests/namespace-conditions.lisp" \
    --eval "(namespace-conditions:run \$mode)" > "$tmp/out" 2>&1 || rc=\$?
  grep -v '^;' "$tmp/out" | grep -v '^\$' || true
}
rc=0
run :files
run :unprivileged setpriv --bounding-set=-net_bind_service
mount --bind "$tmp/nsswitch.dns" /etc/nsswitch.conf
mount --bind "$tmp/resolv.conf" /etc/resolv.conf
run :try-again
exit \$rc
INNER
unshare -n -m sh "$tmp/inner.sh"
