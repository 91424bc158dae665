#!/bin/sh
# Installs what building and testing need on a fresh Debian machine (as root).
# Safe to run again: it installs only what is missing.
#
# Rust is not installed from Debian: Debian 12's cargo is 1.63 and the crate
# needs the `rust-version` of Cargo.toml (read from it). When cargo is missing
# or older, this script says what is needed and how to get it (rustup), and
# exits non-zero, rather than letting the build fail later.
set -eu
cd "$(dirname "$0")/.."
# unshare (util-linux), mount and ip (iproute2): the private network namespaces of
# the unknown-host tests (tests/namespace.rs, tests/c/*_netns, fuzz/run.sh);
# valgrind: tests/c/run.sh and fuzz/run.sh run under memcheck. ECL, CLISP and
# ABCL (with JNA) and the programs (Hunchentoot, Drakma, cl+ssl, openssl for
# their certificate) are installed here, before the stages, because ABCL's
# stages run beside the others and two apt-get cannot run at once.
packages="gcc g++ libc6-dev make pkg-config sbcl cl-cffi cl-trivial-gray-streams cl-bordeaux-threads
cl-babel cl-split-sequence cl-usocket cl-rt socat netcat-openbsd curl valgrind iproute2 util-linux mount
strace time
ecl clisp abcl libjna-java cl-hunchentoot cl-drakma cl-plus-ssl openssl"
need=""
for p in $packages; do
  dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
done
if [ -n "$need" ]; then
  echo "setup: installing$need"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq $need >/dev/null
fi

# Rust: at least Cargo.toml's rust-version.
wanted=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' Cargo.toml | head -1)
wanted=${wanted:-1.77}
# rustup's default place, in case this shell's PATH does not have it yet.
[ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ] && PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
have=""
if command -v cargo >/dev/null 2>&1; then
  have=$(cargo --version 2>/dev/null | sed -n 's/^cargo \([0-9][0-9.]*\).*/\1/p')
fi
# version_ge A B: A >= B, comparing MAJOR.MINOR.PATCH numerically.
version_ge() {
  [ "$(printf '%s\n%s\n' "$1" "$2" | sort -t. -k1,1n -k2,2n -k3,3n | head -1)" = "$2" ]
}
if [ -z "$have" ] || ! version_ge "$have" "$wanted"; then
  if [ -z "$have" ]; then
    echo "setup: cargo is not installed; usocket-core needs Rust $wanted or later (Cargo.toml's rust-version)." >&2
  else
    echo "setup: cargo $have ($(command -v cargo)) is older than $wanted, the rust-version usocket-core needs." >&2
  fi
  cat >&2 <<MSG
setup: Debian's cargo package is too old (1.63 in Debian 12); install Rust with rustup instead:
         curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
         . "\$HOME/.cargo/env"        # or add ~/.cargo/bin to PATH
       (with rustup already installed: rustup update stable), then run this script again.
MSG
  exit 1
fi
python3 -c 'import pytest' 2>/dev/null || python3 -m pip install -q pytest
echo "setup: ready (cargo $have)"
