"""The binding never changes a socket's timeouts behind its user's back.

Blocking calls on the main thread are sliced through the core's bounded
calls (usocket_read_for, _accept_for, _receive_for, _receive_local,
_write_some), so what C reads with usocket_get_option is, at any moment
(before, during and after a blocked call), exactly what the Python user set.
Timeouts count from the start of each call.
"""

from __future__ import annotations

import ctypes
import threading
import time

import pytest

import usocket
from usocket import _constants as C
from usocket import _ffi

from conftest import main_thread_in

# The innermost Python function of each blocking call while it is in the core.
BLOCKED_IN = {"readinto", "read", "accept", "receive", "receive_into", "_receive_local", "_in_core", "write", "_write_rest"}

_get_option = ctypes.CDLL(_ffi.lib.path).usocket_get_option  # a C caller of our own: its own argtypes
_get_option.argtypes = [ctypes.c_uint64, ctypes.c_int32, ctypes.POINTER(ctypes.c_int64)]
_get_option.restype = ctypes.c_int32


def c_option(sock, option):
    """What C code in this process reads for the socket's option."""
    v = ctypes.c_int64(-12345)
    rc = _get_option(sock.handle, option, ctypes.byref(v))
    assert rc == C.USOCKET_OK, usocket.errors.exception_class(rc)
    return v.value


def watch_while_main_blocked(sock, option, unblock, samples=5):
    """From a thread: once the main thread is blocked in the core, read the
    option from C a few times (slices pass between them), then unblock()."""
    box = {"seen": []}

    def run():
        try:
            assert main_thread_in(BLOCKED_IN, timeout=5), "the main thread never blocked"
            for _ in range(samples):
                box["seen"].append(c_option(sock, option))
                # let at least one slice of the main thread's call pass
                time.sleep(C.USOCKET_INTERRUPT_SLICE_MS / 1000.0)
                assert main_thread_in(BLOCKED_IN, timeout=5)
        finally:
            unblock()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, box


@pytest.mark.parametrize("user", [None, 30, 0.02])
def test_receive_timeout_during_a_blocked_read_on_the_main_thread(pair, user):
    c, a = pair
    want = 0 if user is None else int(user * 1000)
    if user is not None:
        a.set_option("receive_timeout", user)
    assert c_option(a, C.USOCKET_OPT_RECEIVE_TIMEOUT) == want
    if user is not None and user < 0.1:
        # a short timeout: the read ends on it, on time, and C saw no change
        t0 = time.monotonic()
        with pytest.raises(usocket.TimeoutError):
            a.raw.read(1)
        assert time.monotonic() - t0 < 0.5
        assert c_option(a, C.USOCKET_OPT_RECEIVE_TIMEOUT) == want
        return
    t, box = watch_while_main_blocked(a, C.USOCKET_OPT_RECEIVE_TIMEOUT, lambda: c.raw.write(b"!"))
    assert a.raw.read(1) == b"!"
    t.join(10)
    assert box["seen"] == [want] * 5
    assert c_option(a, C.USOCKET_OPT_RECEIVE_TIMEOUT) == want
    assert a.option("receive_timeout") == (None if user is None else user)


def test_receive_timeout_during_a_blocked_accept_and_of_the_accepted(listener):
    t, box = watch_while_main_blocked(
        listener, C.USOCKET_OPT_RECEIVE_TIMEOUT, lambda: usocket.socket_connect("127.0.0.1", listener.local_port).close()
    )
    a = listener.accept()
    t.join(10)
    with a:
        assert box["seen"] == [0] * 5
        # the accepted socket inherits nothing the binding set (it set nothing)
        assert c_option(a, C.USOCKET_OPT_RECEIVE_TIMEOUT) == 0
        assert c_option(listener, C.USOCKET_OPT_RECEIVE_TIMEOUT) == 0


def test_receive_timeout_during_a_blocked_receive(udp_server):
    udp_server.set_option("receive_timeout", 20)
    port = udp_server.local_port

    def poke():
        with usocket.socket_connect("127.0.0.1", port, protocol="datagram") as u:
            u.send(b"d")

    t, box = watch_while_main_blocked(udp_server, C.USOCKET_OPT_RECEIVE_TIMEOUT, poke)
    data, host, _ = udp_server.receive()
    t.join(10)
    assert (data, host) == (b"d", "127.0.0.1")
    assert box["seen"] == [20000] * 5


@pytest.mark.parametrize("user", [None, 20])
def test_send_timeout_during_a_blocked_write(pair, user):
    c, a = pair
    c.set_option("send_buffer", 65536)
    want = 0
    if user is not None:
        c.set_option("send_timeout", user)
        want = user * 1000
    size = 32 << 20
    got = []

    def drain():
        total = 0
        buf = bytearray(1 << 16)
        while total < size:
            k = a.raw.readinto(buf)
            if not k:
                break
            total += k
        got.append(total)

    readers = []

    def unblock():
        r = threading.Thread(target=drain, daemon=True)
        r.start()
        readers.append(r)

    t, box = watch_while_main_blocked(c, C.USOCKET_OPT_SEND_TIMEOUT, unblock)
    assert c.raw.write(b"w" * size) == size
    t.join(10)
    readers[0].join(30)
    assert got == [size]
    assert box["seen"] == [want] * 5
    assert c_option(c, C.USOCKET_OPT_SEND_TIMEOUT) == want


def test_a_timeout_counts_from_the_start_of_the_call(pair):
    """Each call has the whole timeout, however many slices it takes."""
    c, a = pair
    a.set_option("receive_timeout", 0.25)
    for _ in range(2):
        t0 = time.monotonic()
        with pytest.raises(usocket.TimeoutError):
            a.raw.read(1)
        assert 0.24 <= time.monotonic() - t0 < 0.6


def test_a_timeout_set_from_c_is_what_python_reads(pair):
    c, a = pair
    set_option = ctypes.CDLL(_ffi.lib.path).usocket_set_option
    set_option.argtypes = [ctypes.c_uint64, ctypes.c_int32, ctypes.c_int64]
    set_option.restype = ctypes.c_int32
    assert set_option(a.handle, C.USOCKET_OPT_RECEIVE_TIMEOUT, 1500) == C.USOCKET_OK
    assert a.option("receive_timeout") == 1.5
