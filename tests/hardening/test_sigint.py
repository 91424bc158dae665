"""SIGINT (Ctrl-C) during blocking calls on Python's main thread (issue 7).

A helper thread waits until the kernel says the main thread is blocked in
the call's system call (/proc/self/task/TID/syscall), then sends SIGINT to
the process; KeyboardInterrupt must be raised within 200 ms of the signal,
and the socket must still work afterwards where that makes sense.
(bindings/python/tests/test_interrupt.py covers the same ground with its
own timing; this one is the hardening suite's, blocked-state based.)
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

import usocket

from conftest import SYS, pair, record, wait_blocked

LIMIT = 0.200
LO4 = "127.0.0.1"
# (0.2: a sliced call waits in the core's poll before its own system call.)
POLLS = {SYS["poll"], SYS["ppoll"]}


@pytest.fixture
def default_sigint():
    old = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def interrupted_within(call, syscalls, name=None):
    """Run call() on the main thread, SIGINT it once blocked; seconds it took to raise."""
    main_tid = threading.main_thread().native_id
    box = {}

    def interrupter():
        box["blocked"] = wait_blocked(main_tid, syscalls)
        box["sent"] = time.monotonic()
        os.kill(os.getpid(), signal.SIGINT)

    t = threading.Thread(target=interrupter, daemon=True)
    t.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            try:
                call()
            finally:
                box["raised"] = time.monotonic()
    finally:
        t.join(10)
    assert box["blocked"], f"the call never blocked in {syscalls}"
    took = box["raised"] - box["sent"]
    record(f"python SIGINT during {name or 'a call'}: KeyboardInterrupt {took * 1000:.2f} ms after the signal")
    assert took < LIMIT, f"KeyboardInterrupt came {took * 1000:.1f} ms after SIGINT"
    return took


def test_sigint_during_read(default_sigint):
    c, a, listener = pair()
    try:
        interrupted_within(lambda: a.raw.read(1), {SYS["recvfrom"]} | POLLS, name="read")
        c.raw.write(b"z")
        assert a.raw.read(1) == b"z"  # still usable
    finally:
        for s in (c, a, listener):
            s.close()


def test_sigint_during_read_with_a_timeout(default_sigint):
    c, a, listener = pair()
    try:
        a.set_option("receive_timeout", 30)
        interrupted_within(lambda: a.raw.read(1), {SYS["recvfrom"]} | POLLS, name="read with a 30 s timeout")
        assert a.option("receive_timeout") == 30.0
    finally:
        for s in (c, a, listener):
            s.close()


def test_sigint_during_accept(default_sigint):
    with usocket.socket_listen(LO4, 0) as listener:
        interrupted_within(listener.accept, {SYS["accept4"], SYS["accept"]} | POLLS, name="accept")


def test_sigint_during_receive(default_sigint):
    with usocket.socket_connect(None, None, protocol="datagram", local_host=LO4) as u:
        interrupted_within(u.receive, {SYS["recvfrom"]} | POLLS, name="receive")


def test_sigint_during_wait(default_sigint):
    c, a, listener = pair()
    try:
        interrupted_within(lambda: usocket.wait_for_input([a]), POLLS, name="wait_for_input")
    finally:
        for s in (c, a, listener):
            s.close()


def test_sigint_during_wait_list_wait(default_sigint):
    c, a, listener = pair()
    try:
        with usocket.WaitList([a]) as wl:
            interrupted_within(lambda: wl.wait(None), {SYS["epoll_wait"], SYS["epoll_pwait"]}, name="WaitList.wait")
    finally:
        for s in (c, a, listener):
            s.close()


def test_sigint_during_write_to_a_full_buffer(default_sigint):
    c, a, listener = pair()
    try:
        data = bytes(32 << 20)
        interrupted_within(lambda: c.raw.write(data), {SYS["sendto"]} | POLLS, name="a write to a full buffer")
    finally:
        for s in (c, a, listener):
            s.close()
