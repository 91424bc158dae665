#!/bin/bash
# Runs the random C ABI driver inside a private network namespace. A run fails
# on a crash, a hang, a leaked handle or any USOCKET_ERR_INTERNAL.
#   fuzz/run.sh            a short seeded slice (the test command runs this)
#   fuzz/run.sh long [N]   1,000,000 calls (or N) over many seeds
set -eu
cd "$(dirname "$0")/.."
mode=${1:-short}
mkdir -p build
cc -O1 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude fuzz/driver.c \
   -Ltarget/release -Wl,-rpath,"$PWD/target/release" -lusocket -lpthread -o build/fuzz-driver
for tool in unshare mount ip; do
  command -v "$tool" >/dev/null || { echo "fuzz: FAILED: $tool is missing (scripts/setup.sh installs util-linux, mount, iproute2)"; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "hosts: files" > "$tmp/nsswitch.conf"
in_ns() {
  unshare -n -m sh -c "mount --bind $tmp/nsswitch.conf /etc/nsswitch.conf && ip link set lo up && exec \"\$@\"" sh "$@"
}
fails=0; runs=0
run() {
  runs=$((runs + 1))
  if ! in_ns "$@"; then fails=$((fails + 1)); echo "fuzz: FAILED: $*"; fi
}
if [ "$mode" = long ]; then
  total=${2:-1000000}; per=50000
  for ((seed = 1; seed * per <= total; seed++)); do run build/fuzz-driver "$seed" "$per"; done
else
  for seed in 11 12 13; do run build/fuzz-driver "$seed" 15000; done
  # Once under valgrind's memcheck: any invalid access or leak in the library fails it.
  # No valgrind is a failure, not a skip (scripts/setup.sh installs it).
  if command -v valgrind >/dev/null; then
    run valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
        build/fuzz-driver 14 1500
  else
    runs=$((runs + 1)); fails=$((fails + 1))
    echo "fuzz: FAILED: valgrind is not installed (scripts/setup.sh installs it), so the memcheck run cannot run"
  fi
fi
echo "fuzz: $((runs - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
