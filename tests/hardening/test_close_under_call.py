"""Close under a blocked call, from Python (issue 7).

For read, write to a full buffer, accept, receive, a plain wait and a wait on
a wait list, one thread blocks in the call and another closes the socket (or,
for the wait list, frees the list) once the kernel says the first is blocked
in the system call (/proc/self/task/TID/syscall). The call must raise
usocket.InvalidHandleError within 100 ms of the close.

Each case runs twice: blocked on a worker thread (one long core call) and
blocked on the main thread (where the binding waits in 50 ms slices so that
Ctrl-C works).
"""

from __future__ import annotations

import threading
import time

import pytest

import usocket

from conftest import SYS, pair, record, wait_blocked

LIMIT = 0.100  # seconds from the close to the exception
LO4 = "127.0.0.1"

# A call blocks in its own system call, or (0.2: the bindings slice blocking
# calls with the core's _for calls, which wait first) in the core's poll.
POLLS = {SYS["poll"], SYS["ppoll"]}
EPOLLS = {SYS["epoll_wait"], SYS["epoll_pwait"]}


class Case:
    """Builds the victim and the blocking call; closes what is left after."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.extra = []
        if kind == "read":
            c, a, listener = pair()
            self.extra = [a, listener]
            self.victim = c
            self.call = lambda: c.raw.read(1)
            self.syscalls = {SYS["recvfrom"]} | POLLS
        elif kind == "write-full-buffer":
            c, a, listener = pair()
            self.extra = [a, listener]
            self.victim = c
            data = bytes(32 << 20)  # far more than the loopback buffers hold; the peer never reads
            self.call = lambda: c.raw.write(data)
            # one long send, or (on the main thread) poll slices between sends
            self.syscalls = {SYS["sendto"]} | POLLS
        elif kind == "accept":
            listener = usocket.socket_listen(LO4, 0)
            self.victim = listener
            self.call = listener.accept
            self.syscalls = {SYS["accept4"], SYS["accept"]} | POLLS
        elif kind == "receive":
            u = usocket.socket_connect(None, None, protocol="datagram", local_host=LO4)
            self.victim = u
            self.call = u.receive
            self.syscalls = {SYS["recvfrom"]} | POLLS
        elif kind == "wait":
            c, a, listener = pair()
            self.extra = [c, listener]
            self.victim = a
            self.call = lambda: usocket.wait_for_input([a])
            self.syscalls = POLLS
        elif kind == "wait-list":
            c, a, listener = pair()
            self.extra = [c, a, listener]
            wl = usocket.WaitList([a])
            self.victim = wl
            self.call = lambda: wl.wait(None)
            self.syscalls = EPOLLS
        else:
            raise ValueError(kind)

    def cleanup(self) -> None:
        for s in [self.victim, *self.extra]:
            try:
                s.close()
            except Exception:
                pass


KINDS = ["read", "write-full-buffer", "accept", "receive", "wait", "wait-list"]


@pytest.mark.parametrize("kind", KINDS)
def test_close_wakes_a_worker_thread(kind):
    case = Case(kind)
    box = {}

    def blocked():
        box["tid"] = threading.get_native_id()
        started.set()
        try:
            case.call()
            box["exc"] = None
        except BaseException as e:
            box["exc"] = e
        box["returned"] = time.monotonic()

    started = threading.Event()
    t = threading.Thread(target=blocked, daemon=True)
    try:
        t.start()
        assert started.wait(5)
        assert wait_blocked(box["tid"], case.syscalls), f"the {kind} never blocked in {case.syscalls}"
        closed = time.monotonic()
        case.victim.close()
        t.join(5)
        assert not t.is_alive(), f"the {kind} did not return within 5 s of the close"
    finally:
        case.cleanup()
        t.join(5)
    took = box["returned"] - closed
    record(f"python close-under-call {kind} (worker thread): returned {took * 1000:.2f} ms after the close")
    assert isinstance(box["exc"], usocket.InvalidHandleError), f"{kind} ended with {box['exc']!r}"
    assert took < LIMIT, f"{kind} returned {took * 1000:.1f} ms after the close"


@pytest.mark.parametrize("kind", KINDS)
def test_close_wakes_the_main_thread(kind):
    case = Case(kind)
    main_tid = threading.main_thread().native_id
    box = {}

    def closer():
        # Closes even if the call never seemed blocked, so the test cannot hang.
        box["blocked"] = wait_blocked(main_tid, case.syscalls)
        box["closed"] = time.monotonic()
        case.victim.close()

    t = threading.Thread(target=closer, daemon=True)
    t.start()
    try:
        with pytest.raises(usocket.InvalidHandleError):
            try:
                case.call()
            finally:
                returned = time.monotonic()
    finally:
        t.join(5)
        case.cleanup()
    assert box["blocked"], f"the {kind} on the main thread never blocked in {case.syscalls}"
    took = returned - box["closed"]
    record(f"python close-under-call {kind} (main thread): returned {took * 1000:.2f} ms after the close")
    assert took < LIMIT, f"{kind} returned {took * 1000:.1f} ms after the close"
