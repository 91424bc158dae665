#!/bin/sh
# Real programs and usocket's own suites, each run twice: on a native usocket
# (the control) and on usocket-cffi/compat. Usage:
#
#   bindings/lisp/tests/programs/run.sh [LISP]      (LISP: sbcl, the default)
#
# Groups (control <-> compat):
#   programs       Hunchentoot, Drakma, cl+ssl (programs.lisp)   Debian's usocket 0.8.3 <-> compat
#   usocket-0.8.3  Debian's usocket test/ (suite.lisp)           Debian's usocket 0.8.3 <-> compat
#   usocket-0.8.9  upstream 0.8.9 tests/ (suite.lisp)            upstream usocket 0.8.9 <-> compat
#
# Prints "PASS|FAIL|SKIP IMPL/TEST [reason]" per test and implementation,
# writes everything (with details) to the results file ($UPR_RESULTS, else
# target/lisp-programs/results-LISP.txt), and ends with compat's
# "N passed, N failed". Exits non-zero if anything fails: compat where the
# control passes, or (on SBCL) the control itself; native usocket's own
# failures on ECL, CLISP and ABCL are listed, not fatal.
#
# Everything runs on loopback inside a network namespace (unshare -n -m, as
# root) in which common-lisp.net is 127.0.0.1 with an HTTP responder on port
# 80, 1.2.3.4 swallows packets, the resolver reads /etc/hosts only, and
# CAP_NET_BIND_SERVICE is dropped for the Lisp processes. Without it
# (not root) the programs still run, usocket's suites are skipped.
#
# Environment: USOCKET_LIBRARY (the core library; else target/release/
# libusocket.so, built with cargo if missing or older than src/), USOCKET_SHARED (the directory
# holding usocket-0.8.9/; else ../shared beside the repository),
# UPR_RESULTS, UPR_CACHE (fasl cache; else target/lisp-programs/cache),
# UPR_NO_NAMESPACE=1 (run as a user without the namespace would).
set -u

LISP=${1:-sbcl}
here=$(cd "$(dirname "$0")" && pwd)
binding=$(cd "$here/../.." && pwd)
root=$(cd "$binding/../.." && pwd)

# ---------------------------------------------------------------- outside
if [ -z "${UPR_INSIDE:-}" ]; then
  started=$(date +%s)

  # The Lisp implementation: its Debian package and how to load a file.
  # (ECL, CLISP and ABCL: add a case here and in lisp_cmd below.)
  case "$LISP" in
    sbcl) lisp_package=sbcl ;;
    ecl) lisp_package=ecl ;;
    clisp) lisp_package=clisp ;;
    abcl) lisp_package="abcl libjna-java"
          CLASSPATH=/usr/share/java/jna.jar${CLASSPATH:+:$CLASSPATH}; export CLASSPATH ;;
    *) echo "run.sh: no support for LISP=$LISP (sbcl, ecl, clisp, abcl)"; echo "0 passed, 1 failed"; exit 2 ;;
  esac

  # Debian packages: the programs, usocket (the control), the test framework,
  # the binding's dependencies, openssl for the certificate, iproute2 for the
  # namespace. Installed only when missing.
  packages="$lisp_package cl-usocket cl-rt cl-hunchentoot cl-drakma cl-plus-ssl cl-cffi
            cl-bordeaux-threads cl-trivial-gray-streams cl-babel openssl iproute2"
  missing=""
  for p in $packages; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    echo "== installing:$missing"
    if [ "$(id -u)" != 0 ]; then
      echo "run.sh: not root, cannot install:$missing"; echo "0 passed, 1 failed"; exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends $missing >/dev/null 2>&1 ||
      { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends $missing >/dev/null; } ||
      { echo "run.sh: apt-get install failed:$missing"; echo "0 passed, 1 failed"; exit 1; }
  fi

  # The core library.
  if [ -z "${USOCKET_LIBRARY:-}" ]; then
    USOCKET_LIBRARY="$root/target/release/libusocket.so"
    # missing, or older than the core's sources (a stale library would fail
    # the binding's newer calls)
    if [ ! -f "$USOCKET_LIBRARY" ] ||
       [ -n "$(cd "$root" && find src Cargo.toml Cargo.lock build.rs -newer "$USOCKET_LIBRARY" 2>/dev/null | head -1)" ]; then
      echo "== building the core: cargo build --release"
      (cd "$root" && cargo build --release) >/dev/null 2>&1 ||
        { echo "run.sh: cargo build --release failed"; echo "0 passed, 1 failed"; exit 1; }
    fi
  fi
  export USOCKET_LIBRARY

  # usocket 0.8.9 (its tests and the native control): ../shared beside the
  # repository; in a git worktree also beside the main checkout.
  if [ -z "${USOCKET_SHARED:-}" ]; then
    for d in "$(git -C "$root" rev-parse --show-toplevel 2>/dev/null)/../shared" \
             "$(cd "$root" && cd "$(git rev-parse --git-common-dir 2>/dev/null)/.." 2>/dev/null && pwd)/../shared"; do
      if [ -d "$d/usocket-0.8.9/tests" ]; then USOCKET_SHARED=$(cd "$d" && pwd); break; fi
    done
  fi
  UPR_USOCKET_089=""
  [ -n "${USOCKET_SHARED:-}" ] && [ -d "$USOCKET_SHARED/usocket-0.8.9/tests" ] &&
    UPR_USOCKET_089="$USOCKET_SHARED/usocket-0.8.9/"
  export UPR_USOCKET_089

  UPR_CACHE=${UPR_CACHE:-$root/target/lisp-programs/cache}
  UPR_RESULTS=${UPR_RESULTS:-$root/target/lisp-programs/results-$LISP.txt}
  mkdir -p "$UPR_CACHE" "$(dirname "$UPR_RESULTS")"
  UPR_TMP=$(mktemp -d /tmp/usocket-programs.XXXXXX)
  export UPR_CACHE UPR_RESULTS UPR_TMP UPR_STARTED=$started
  trap 'rm -rf "$UPR_TMP"' EXIT

  # A throwaway self-signed certificate for the TLS tests.
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
    -keyout "$UPR_TMP/key.pem" -out "$UPR_TMP/cert.pem" >/dev/null 2>&1 ||
    echo "run.sh: openssl could not make a certificate; the TLS tests are skipped"

  if [ -z "${UPR_NO_NAMESPACE:-}" ] && [ "$(id -u)" = 0 ] && unshare -n -m true 2>/dev/null; then
    UPR_INSIDE=namespace unshare -n -m sh "$here/run.sh" "$LISP"
  else
    echo "run.sh: no network namespace (needs root and unshare -n -m): usocket's suites are skipped"
    UPR_INSIDE=plain sh "$here/run.sh" "$LISP"
  fi
  exit $?
fi

# ---------------------------------------------------------------- inside
tmp=$UPR_TMP
web_pid=""
cleanup() { [ -n "$web_pid" ] && kill "$web_pid" 2>/dev/null; }
trap cleanup EXIT
unset UPR_INTERNET UPR_NAMESPACE
drop_bind=""

if [ "$UPR_INSIDE" = namespace ]; then
  printf 'hosts: files\n' > "$tmp/nsswitch.conf"
  { printf '127.0.0.1 common-lisp.net\n'; cat /etc/hosts; } > "$tmp/hosts"
  mount --bind "$tmp/nsswitch.conf" /etc/nsswitch.conf
  mount --bind "$tmp/hosts" /etc/hosts
  ip link set lo up
  # 1.2.3.4 swallows packets (a connect to it times out): a tun device that
  # nobody reads; failing that, an unreachable route.
  if ip tuntap add dev upr0 mode tun 2>/dev/null && ip link set upr0 up &&
     ip route add 1.2.3.4/32 dev upr0 2>/dev/null; then
    :
  else
    ip route add unreachable 1.2.3.4/32
    echo "run.sh: no tun device; 1.2.3.4 is unreachable instead of silent"
  fi
  export UPR_NAMESPACE=1
  if command -v python3 >/dev/null 2>&1; then
    python3 "$here/emulated-web.py" > "$tmp/web.out" 2>&1 &
    web_pid=$!
    i=0
    while [ $i -lt 50 ] && ! grep -q ready "$tmp/web.out" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
    if grep -q ready "$tmp/web.out"; then
      export UPR_INTERNET=emulated
    else
      echo "run.sh: the emulated common-lisp.net did not start: $(cat "$tmp/web.out")"
    fi
  else
    echo "run.sh: no python3 for the emulated common-lisp.net; its tests are skipped"
  fi
  # The Lisp processes run without CAP_NET_BIND_SERVICE (root could bind
  # port 81, which usocket's operation-not-permitted-error.1 expects to fail).
  drop_bind="setpriv --bounding-set=-net_bind_service"
fi

# How to load a file in $LISP (ECL, CLISP, ABCL: add them here and above).
lisp_cmd() {
  case "$LISP" in
    sbcl) echo "sbcl --noinform --non-interactive --no-userinit --no-sysinit --load" ;;
    ecl) echo "ecl -norc --load" ;;
    clisp) echo "clisp -norc -q" ;;
    abcl) echo "abcl --noinform --noinit --batch --load" ;;
  esac
}

results=$tmp/results
: > "$results"

# run GROUP IMPL FILE LIMIT [ENV...]: one Lisp process; its RESULT lines become
# "STATUS IMPL/TEST reason"; a process that ends without DONE is a failure.
run() {
  group=$1 impl=$2 file=$3 limit=$4; shift 4
  out=$tmp/$group.$impl.out
  t0=$(date +%s)
  env UPR_IMPL="$impl" UPR_CACHE="$UPR_CACHE/$impl" UPR_BINDING="$binding/" "$@" \
    timeout -k 5 "$limit" $drop_bind $(lisp_cmd) "$here/$file" > "$out" 2>&1
  rc=$?
  t1=$(date +%s)
  {
    echo "== $group on $impl ($((t1 - t0)) s, exit $rc)"
    grep '^INFO \|^  | ' "$out"
  } >> "$tmp/details"
  sed -n 's/^RESULT \([A-Z]*\) \([^ ]*\)\(.*\)$/\1 \2 '"$group $impl"'\3/p' "$out" |
    while read -r status name g i reason; do
      printf '%s %s/%s%s\n' "$status" "$i" "$name" "${reason:+ $reason}"
      printf '%s\t%s\t%s\t%s\t%s\n' "$g" "$i" "$name" "$status" "$reason" >> "$results"
    done
  if ! grep -q '^DONE ' "$out"; then
    reason="process ended without finishing (exit $rc$([ $rc = 124 ] && echo ", killed after ${limit} s")): $(grep -v '^ *|\|^RESULT\|^INFO' "$out" | grep -v '^;' | tail -3 | tr '\n' ' ' | cut -c1-300)"
    printf 'FAIL %s/%s.process %s\n' "$impl" "$group" "$reason"
    printf '%s\t%s\t%s\t%s\t%s\n' "$group" "$impl" "$group.process" FAIL "$reason" >> "$results"
    { echo "-- last output:"; tail -40 "$out"; } >> "$tmp/details"
  fi
}

skip_group() { # group impl reason
  printf 'SKIP %s/%s %s\n' "$2" "$1" "$3"
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$1" SKIP "$3" >> "$results"
}

: > "$tmp/details"
echo "== programs: Hunchentoot, Drakma, cl+ssl"
# ECL compiles through C and ABCL on the JVM: a cold load of Hunchentoot,
# Drakma and cl+ssl takes minutes there (the fasls are cached in UPR_CACHE).
case "$LISP" in sbcl) plimit=240 ;; clisp) plimit=300 ;; *) plimit=600 ;; esac
run programs native programs.lisp $plimit
run programs compat programs.lisp $plimit

echo "== usocket 0.8.3's suite (Debian's test/)"
if [ -n "${UPR_NAMESPACE:-}" ]; then
  run usocket-0.8.3 native suite.lisp 200 UPR_SUITE=0.8.3
  run usocket-0.8.3 compat suite.lisp 200 UPR_SUITE=0.8.3
else
  skip_group usocket-0.8.3 native "needs run.sh's network namespace (root, unshare -n -m)"
  skip_group usocket-0.8.3 compat "needs run.sh's network namespace (root, unshare -n -m)"
fi

echo "== usocket 0.8.9's suite (upstream tests/)"
if [ -z "$UPR_USOCKET_089" ]; then
  reason="usocket 0.8.9 not found: set USOCKET_SHARED to the directory holding usocket-0.8.9/"
  skip_group usocket-0.8.9 native-0.8.9 "$reason"
  skip_group usocket-0.8.9 compat "$reason"
elif [ -n "${UPR_NAMESPACE:-}" ]; then
  run usocket-0.8.9 native-0.8.9 suite.lisp 200 UPR_SUITE=0.8.9
  run usocket-0.8.9 compat suite.lisp 200 UPR_SUITE=0.8.9
else
  skip_group usocket-0.8.9 native-0.8.9 "needs run.sh's network namespace (root, unshare -n -m)"
  skip_group usocket-0.8.9 compat "needs run.sh's network namespace (root, unshare -n -m)"
fi

# ---------------------------------------------------------------- summary
summary=$tmp/summary
awk -F'\t' -v started="$UPR_STARTED" -v now="$(date +%s)" -v lisp="$LISP" '
  { status[$1 SUBSEP $2 SUBSEP $3] = $4
    if (!(($1 SUBSEP $3) in seen)) { seen[$1 SUBSEP $3] = 1; order[++n] = $1 SUBSEP $3 }
    if ($2 == "compat") { c[$4]++; cg[$1, $4]++ } else { k[$4]++; kg[$1, $4]++; control[$1] = $2 }
    groups[$1] = 1 }
  END {
    regress = 0; control_fail = 0; missing = 0
    for (i = 1; i <= n; i++) {
      split(order[i], p, SUBSEP); g = p[1]; t = p[2]; ctl = control[g]
      cs = status[g, "compat", t]; ks = status[g, ctl, t]
      if (ks == "FAIL") control_fail++
      if (cs == "" && t !~ /\.process$/) { if (ks != "") { missing++; mg[g]++; printf "FAIL compat/%s not reported (its control: %s)\n", t, ks } }
      else if (cs == "FAIL" && ks != "FAIL") regress++
    }
    print ""
    ng = split("programs usocket-0.8.3 usocket-0.8.9", gl, " ")
    for (j = 1; j <= ng; j++) if ((g = gl[j]) in groups)
      printf "%-14s control %-12s %3d passed, %d failed, %d skipped | compat %3d passed, %d failed, %d skipped\n",
        g, control[g], kg[g, "PASS"], kg[g, "FAIL"], kg[g, "SKIP"], cg[g, "PASS"], cg[g, "FAIL"] + mg[g], cg[g, "SKIP"]
    printf "control: %d passed, %d failed, %d skipped\n", k["PASS"], k["FAIL"], k["SKIP"]
    printf "compat: %d passed, %d failed, %d skipped; %d failed where the control did not\n",
      c["PASS"], c["FAIL"] + missing, c["SKIP"], regress + missing
    printf "run time: %d s\n", now - started
    printf "%d passed, %d failed\n", c["PASS"], c["FAIL"] + missing
    # On SBCL the control (native usocket) must pass: a failure there means the
    # harness or the machine is broken. Elsewhere native usocket has failures
    # of its own (issue 12: hangs, raw conditions, broken UDP); they are
    # listed above, and only the failures of compat fail the run.
    if (lisp != "sbcl" && control_fail > 0) {
      printf "(%d failures of native usocket on %s: listed, not fatal off SBCL)\n", control_fail, lisp
      control_fail = 0
    }
    exit (regress + missing + control_fail + c["FAIL"] > 0) ? 1 : 0
  }' "$results" > "$summary"
rc=$?
{
  echo "usocket-cffi program tests ($LISP), $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "== results"
  awk -F'\t' '{ printf "%s %s/%s%s\n", $4, $2, $3, ($5 == "" ? "" : " " $5) }' "$results"
  echo "== details"
  cat "$tmp/details"
  echo "== summary"
  cat "$summary"
} > "$UPR_RESULTS"
echo "(results and details: $UPR_RESULTS)"
cat "$summary"
exit $rc
