"""pytest set-up for tests/hardening: the Python binding on sys.path, the
fault table, loopback helpers, and a per-test leak check (core handles and
descriptors back to what they were)."""

from __future__ import annotations

import gc
import os
import socket as _stdlib_socket
import struct
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BINDING = REPO / "bindings" / "python"
if str(BINDING) not in sys.path:
    sys.path.insert(0, str(BINDING))

import usocket  # noqa: E402

TABLE = HERE / "faults.tsv"
COLUMNS = ("id", "expected", "c", "python", "lisp", "needs", "description")


def read_table(path: Path = TABLE):
    """The fault table's rows as dicts (comments and blank lines skipped)."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != len(COLUMNS):
            raise ValueError(f"{path}:{n}: {len(fields)} columns, not {len(COLUMNS)}")
        rows.append(dict(zip(COLUMNS, fields)))
    return rows


def in_private_namespace() -> bool:
    """True inside the namespace netns.sh makes: the resolver reads files only."""
    if os.environ.get("USOCKET_HARDENING_NETNS") != "1":
        return False
    try:
        text = Path("/etc/nsswitch.conf").read_text()
    except OSError:
        return False
    for line in text.splitlines():
        words = line.split()
        if words and words[0] == "hosts:":
            return words[1:] == ["files"]
    return False


def record(text: str) -> None:
    """Keep a measurement for run.sh's summary (the file USOCKET_HARDENING_MEASURE names)."""
    path = os.environ.get("USOCKET_HARDENING_MEASURE")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text + "\n")


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd")) - 1


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def linger0(sock) -> None:
    """Make the next close of a usocket socket send a RST (SO_LINGER 0),
    through a duplicate of the descriptor the core lends."""
    dup = _stdlib_socket.socket(fileno=os.dup(sock.fileno()))
    try:
        dup.setsockopt(_stdlib_socket.SOL_SOCKET, _stdlib_socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        dup.close()


def pair(host="127.0.0.1", **connect_args):
    """(client, accepted, listener)."""
    listener = usocket.socket_listen(host, 0, reuse_address=True)
    try:
        c = usocket.socket_connect(host, listener.local_port, connect_timeout=5, **connect_args)
        a = listener.accept()
    except BaseException:
        listener.close()
        raise
    return c, a, listener


_next_port = [20000 + (os.getpid() % 1200) * 10]


def dead_port(host="127.0.0.1") -> int:
    """A port where nothing listens now, below the ephemeral range (32768-60999),
    so no connect of ours can pick it as its own local port and connect to
    itself (TCP simultaneous open)."""
    for _ in range(2000):
        port = 20000 + (_next_port[0] - 20000) % 12000
        _next_port[0] += 1
        try:
            s = usocket.socket_listen(host, port)
        except usocket.AddressInUseError:
            continue
        s.close()
        return port
    raise RuntimeError("no free port below the ephemeral range")


def thread_syscall(tid: int) -> int:
    """The system call thread `tid` of this process is blocked in, or -1."""
    try:
        text = Path(f"/proc/self/task/{tid}/syscall").read_text()
    except OSError:
        return -1
    if text.startswith("running"):
        return -1
    try:
        return int(text.split()[0])
    except (ValueError, IndexError):
        return -1


# x86-64 system call numbers of the calls a usocket thread blocks in.
SYS = {
    "poll": 7, "sendto": 44, "recvfrom": 45, "accept": 43, "accept4": 288, "epoll_wait": 232,
    "epoll_pwait": 281, "ppoll": 271, "futex": 202, "nanosleep": 35, "clock_nanosleep": 230,
    "read": 0, "write": 1, "select": 23, "pselect6": 270, "wait4": 61,
}
BLOCKING = {SYS[n] for n in ("poll", "sendto", "recvfrom", "accept", "accept4", "epoll_wait", "epoll_pwait", "ppoll")}


def wait_blocked(tid: int, syscalls=BLOCKING, timeout: float = 5.0) -> bool:
    """Wait (bounded) until thread `tid` is blocked in one of `syscalls`.

    There is no event for "this thread is now inside recv"; the kernel's
    /proc/self/task/TID/syscall says it, and is polled every half millisecond.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if thread_syscall(tid) in syscalls:
            return True
        time.sleep(0.0005)
    return False


@pytest.fixture(autouse=True)
def no_leaks(request):
    """Each test leaves the core's handles and the process's descriptors as it found them."""
    if "allow_leaks" in request.keywords:
        yield
        return
    gc.collect()
    handles, fds = usocket.open_handles(), fd_count()
    yield
    deadline = time.monotonic() + 3
    while True:
        gc.collect()
        now_h, now_f = usocket.open_handles(), fd_count()
        if (now_h <= handles and now_f <= fds) or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert now_h <= handles, f"core handles leaked: {now_h} open, {handles} before"
    assert now_f <= fds, f"descriptors leaked: {now_f} open, {fds} before"


def pytest_configure(config):
    config.addinivalue_line("markers", "allow_leaks: the test may leave handles open")
