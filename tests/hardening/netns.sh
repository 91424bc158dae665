#!/bin/sh
# netns.sh COMMAND [ARG...]: runs COMMAND in a private network and mount
# namespace of its own (unshare -n -m, root needed) with only the loopback
# interface up, /etc/nsswitch.conf bind-mounted to "hosts: files" and
# /etc/hosts to loopback names only (and dualstack.usocket.test: ::1, then 127.0.0.1), so a name look-up can never reach the
# real resolver. Sets USOCKET_HARDENING_NETNS=1, which the fault runners
# require before they run the unknown-host faults.
set -eu
dir=$(mktemp -d "${TMPDIR:-/tmp}/usocket-hardening-ns.XXXXXX")
trap 'rm -rf "$dir"' EXIT
chmod 755 "$dir"
printf 'hosts: files\n' > "$dir/nsswitch.conf"
# dualstack.usocket.test: one name with an IPv6 and an IPv4 address, ::1
# listed first (the get-host-by-name faults).
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n::1 dualstack.usocket.test\n127.0.0.1 dualstack.usocket.test\n' > "$dir/hosts"
chmod 644 "$dir/nsswitch.conf" "$dir/hosts"
USOCKET_HARDENING_NETNS=1 unshare -n -m sh -c '
  mount --bind "$1" /etc/nsswitch.conf &&
  mount --bind "$2" /etc/hosts &&
  ip link set lo up &&
  shift 2 && exec "$@"' sh "$dir/nsswitch.conf" "$dir/hosts" "$@"
