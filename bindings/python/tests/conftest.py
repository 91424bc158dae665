"""Shared fixtures: loopback listeners and connected pairs, a leak check."""

from __future__ import annotations

import gc
import os
import resource
import sys
import threading
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PACKAGE_ROOT = HERE.parent
REPO_ROOT = PACKAGE_ROOT.parent.parent
if str(PACKAGE_ROOT) not in sys.path:
    sys.path.insert(0, str(PACKAGE_ROOT))

import usocket  # noqa: E402


def pytest_report_header(config):
    return f"usocket binding {usocket.__version__}, core {usocket.core_version()} from {usocket.library_path}"


@pytest.fixture
def listener():
    s = usocket.socket_listen("127.0.0.1", 0)
    yield s
    s.close()


@pytest.fixture
def pair(listener):
    """(client, server-side) connected stream sockets."""
    c = usocket.socket_connect("127.0.0.1", listener.local_port)
    a = listener.accept()
    yield c, a
    c.close()
    a.close()


@pytest.fixture
def text_pair(listener):
    c = usocket.socket_connect("127.0.0.1", listener.local_port, element_type=str)
    a = listener.accept(element_type=str)
    yield c, a
    c.close()
    a.close()


@pytest.fixture
def udp_server():
    """An unconnected datagram socket bound to 127.0.0.1 (a free port)."""
    s = usocket.socket_connect(None, None, protocol="datagram", local_host="127.0.0.1")
    yield s
    s.close()


@pytest.fixture
def fd_limit():
    """Raise the soft descriptor limit for tests with thousands of sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 16384)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    yield want
    gc.collect()
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def wait_until(predicate, timeout=5.0, interval=0.005):
    """Poll a condition that has no event to wait on; bounded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def main_thread_in(func_names, timeout=5.0):
    """Wait until the main thread's innermost Python frame is one of func_names of the usocket package."""
    ident = threading.main_thread().ident
    package = str(PACKAGE_ROOT / "usocket")

    def there():
        f = sys._current_frames().get(ident)
        return f is not None and f.f_code.co_name in func_names and f.f_code.co_filename.startswith(package)

    return wait_until(there, timeout, 0.002)


def thread_in(thread, func_names, timeout=5.0):
    """Wait until the thread's innermost Python frame is one of func_names of the usocket package
    (it is then in, or about to enter, that function's core call)."""
    package = str(PACKAGE_ROOT / "usocket")

    def there():
        f = sys._current_frames().get(thread.ident)
        return f is not None and f.f_code.co_name in func_names and f.f_code.co_filename.startswith(package)

    return wait_until(there, timeout, 0.002)


@pytest.fixture(autouse=True)
def no_leaked_handles(request):
    """Every test closes what it opens (servers' client threads get a moment)."""
    if "allow_leaks" in request.keywords:
        yield
        return
    gc.collect()
    before = usocket.open_handles()
    yield
    gc.collect()
    ok = wait_until(lambda: usocket.open_handles() <= before, timeout=3.0, interval=0.01)
    assert ok, f"core handles leaked: {usocket.open_handles()} open, {before} before the test"


def pytest_configure(config):
    config.addinivalue_line("markers", "allow_leaks: the test may leave core handles open")


def run_python(code, *, env=None, timeout=60, cwd=None):
    """Run a Python snippet in a child interpreter with this package importable."""
    import subprocess

    e = dict(os.environ)
    e["PYTHONPATH"] = str(PACKAGE_ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    if env:
        e.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=e, cwd=cwd
    )
