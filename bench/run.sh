#!/bin/sh
# The benchmark suite of usocket-core: `bench/run.sh` (full, about 16 minutes with ECL and CLISP)
# or `bench/run.sh QUICK=1` (same report and charts, < 3 minutes).
# Extra arguments go to bench/run.py (see `bench/run.py --help`).
# Assumes `cargo build --release` has run; writes bench/results/.
set -e
here=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-python3}
exec "$PY" "$here/run.py" "$@"
