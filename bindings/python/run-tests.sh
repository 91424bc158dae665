#!/usr/bin/env bash
# The Python binding's test suite (pytest, real loopback sockets).
#
#   bindings/python/run-tests.sh [pytest arguments...]
#
# Assumes the core is built (`cargo build --release` at the repository root):
# the tests load target/release/libusocket.so, or $USOCKET_LIBRARY. Installs
# pytest with pip when it is missing. Exits non-zero on any failure; the last
# line is pytest's summary. Environment: PYTHON (default python3),
# USOCKET_TEST_TIMEOUT (seconds for the whole run, default 600).
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PY="${PYTHON:-python3}"
LIB="${USOCKET_LIBRARY:-$ROOT/target/release/libusocket.so}"

if [ ! -f "$LIB" ]; then
    echo "run-tests.sh: $LIB not found: build the core first (cargo build --release)" >&2
    exit 2
fi
if ! "$PY" -c 'import sys; assert sys.version_info >= (3, 9)' 2>/dev/null; then
    echo "run-tests.sh: $PY is not Python 3.9 or newer" >&2
    exit 2
fi
PIP_FLAGS="-q --disable-pip-version-check --root-user-action=ignore"
if ! "$PY" -c 'import pytest' 2>/dev/null; then
    echo "run-tests.sh: installing pytest" >&2
    # shellcheck disable=SC2086
    "$PY" -m pip install $PIP_FLAGS pytest >&2 || "$PY" -m pip install -q pytest >&2 || {
        echo "run-tests.sh: cannot install pytest" >&2
        exit 2
    }
fi
# `wheel` lets the packaging test build a wheel offline; the test is skipped without it.
if ! "$PY" -c 'import wheel' 2>/dev/null; then
    # shellcheck disable=SC2086
    "$PY" -m pip install $PIP_FLAGS wheel >/dev/null 2>&1 || true
fi

cd "$HERE" || exit 2
export PYTHONDONTWRITEBYTECODE=1
timeout --kill-after=15 "${USOCKET_TEST_TIMEOUT:-600}" \
    "$PY" -m pytest -q -rfE -p no:cacheprovider -o faulthandler_timeout=120 tests "$@"
rc=$?
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "run-tests.sh: the Python tests did not finish within ${USOCKET_TEST_TIMEOUT:-600} s" >&2
    echo "0 passed, 1 failed"
fi
exit "$rc"
