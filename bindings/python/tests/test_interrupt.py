"""Blocking calls give way: Ctrl-C (SIGINT) within 200 ms, close from another thread."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

import usocket

from conftest import main_thread_in, thread_in, wait_until

LIMIT = 0.2  # seconds from SIGINT to KeyboardInterrupt

# The innermost Python function of each blocking call while it is in the core.
BLOCKED_IN = {
    "readinto", "read", "accept", "receive", "receive_into", "_receive_local", "_in_core", "write", "_write_rest",
    "wait_for_input", "wait", "_serve_tcp", "_serve_udp",
}


@pytest.fixture
def sigint_default():
    old = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def interrupt_main_when_blocked(box):
    """A thread that sends SIGINT to this process once the main thread is blocked."""

    def run():
        assert main_thread_in(BLOCKED_IN, timeout=5)
        time.sleep(0.15)  # well inside the core call, past the first slice
        box["sent"] = time.monotonic()
        os.kill(os.getpid(), signal.SIGINT)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def check_interrupted(fn):
    box = {}
    t = interrupt_main_when_blocked(box)
    with pytest.raises(KeyboardInterrupt):
        fn()
    elapsed = time.monotonic() - box["sent"]
    t.join(5)
    assert elapsed < LIMIT, f"KeyboardInterrupt came {elapsed * 1000:.0f} ms after SIGINT"
    return elapsed


def test_sigint_during_stream_read(sigint_default, pair):
    c, a = pair
    check_interrupted(lambda: a.stream.read(1))
    # the socket is still usable afterwards
    c.raw.write(b"after")
    assert a.stream.read(5) == b"after"


def test_sigint_during_text_readline(sigint_default, text_pair):
    c, a = text_pair
    check_interrupted(a.stream.readline)


def test_sigint_during_read_with_a_long_timeout(sigint_default, pair):
    c, a = pair
    a.set_option("receive_timeout", 30)
    check_interrupted(lambda: a.raw.read(1))
    assert a.option("receive_timeout") == 30.0


def test_sigint_during_accept(sigint_default, listener):
    check_interrupted(listener.accept)


def test_sigint_during_receive(sigint_default, udp_server):
    check_interrupted(udp_server.receive)


def test_sigint_during_receive_into(sigint_default, udp_server):
    check_interrupted(lambda: udp_server.receive_into(bytearray(10)))


def test_sigint_during_wait_for_input(sigint_default, pair):
    c, a = pair
    check_interrupted(lambda: usocket.wait_for_input([a]))


def test_sigint_during_wait_list_wait(sigint_default, pair):
    c, a = pair
    with usocket.WaitList([a]) as wl:
        check_interrupted(lambda: wl.wait(60))


def test_sigint_during_server_in_the_calling_thread(sigint_default):
    port = {}

    def handler(stream):
        pass

    # socket_server blocks in accept on the main thread
    box = {}
    t = interrupt_main_when_blocked(box)
    with pytest.raises(KeyboardInterrupt):
        usocket.socket_server("127.0.0.1", 0, handler)
    assert time.monotonic() - box["sent"] < LIMIT
    t.join(5)
    assert not port


def _close_later(sock, blocked_names, in_main):
    def run():
        if in_main:
            assert main_thread_in(blocked_names, timeout=5)
        time.sleep(0.1)
        sock.close()

    t = threading.Thread(target=run)
    t.start()
    return t


def test_close_from_another_thread_during_read_on_main(pair):
    c, a = pair
    t = _close_later(a, BLOCKED_IN, True)
    t0 = time.monotonic()
    with pytest.raises(usocket.InvalidHandleError) as info:
        a.stream.read(1)
    assert time.monotonic() - t0 < 2
    assert "closed" in str(info.value)
    t.join(5)


def test_close_from_main_during_read_on_a_thread(pair):
    """An unsliced blocking read in a worker thread is woken by the core."""
    c, a = pair
    box = {}
    started = threading.Event()

    def reader():
        started.set()
        try:
            a.raw.read(1)
        except Exception as e:
            box["e"] = e
        box["t"] = time.monotonic()

    t = threading.Thread(target=reader)
    t.start()
    started.wait(5)
    # in the core's read, or about to be: a close wakes it or fails it either way
    assert thread_in(t, BLOCKED_IN)
    t0 = time.monotonic()
    a.close()
    t.join(5)
    assert not t.is_alive()
    assert isinstance(box["e"], usocket.InvalidHandleError)
    assert box["t"] - t0 < 0.5


def test_close_during_accept_on_a_thread(listener):
    box = {}
    started = threading.Event()

    def acceptor():
        started.set()
        try:
            listener.accept()
        except Exception as e:
            box["e"] = e

    t = threading.Thread(target=acceptor)
    t.start()
    started.wait(5)
    assert thread_in(t, BLOCKED_IN)
    listener.close()
    t.join(5)
    assert not t.is_alive()
    assert isinstance(box["e"], usocket.InvalidHandleError)


def test_close_during_receive_on_a_thread(udp_server):
    box = {}
    started = threading.Event()

    def receiver():
        started.set()
        try:
            udp_server.receive()
        except Exception as e:
            box["e"] = e

    t = threading.Thread(target=receiver)
    t.start()
    started.wait(5)
    assert thread_in(t, BLOCKED_IN)
    udp_server.close()
    t.join(5)
    assert not t.is_alive()
    assert isinstance(box["e"], usocket.InvalidHandleError)


def test_sigint_during_a_blocked_write(sigint_default, pair):
    """The peer reads nothing: the write fills the buffers and blocks."""
    c, a = pair
    c.set_option("send_buffer", 65536)
    data = b"w" * (32 << 20)
    check_interrupted(lambda: c.raw.write(data))


def _partial_write_times_out(c):
    """A write larger than the buffers, to a peer that reads nothing, with a
    send timeout of 0.3 s: TimeoutError with .written, 0.3 s from the start."""
    c.set_option("send_buffer", 65536)
    c.set_option("send_timeout", 0.3)
    data = b"t" * (32 << 20)
    t0 = time.monotonic()
    with pytest.raises(usocket.TimeoutError) as info:
        c.raw.write(data)  # part of it fits, then the timeout
    elapsed = time.monotonic() - t0
    assert 0 < info.value.written < len(data)
    assert isinstance(info.value, TimeoutError)
    assert 0.28 <= elapsed < 1.5, elapsed
    t0 = time.monotonic()
    with pytest.raises(usocket.TimeoutError) as info:
        c.raw.write(data)  # nothing fits any more
    assert info.value.written == 0
    assert 0.28 <= time.monotonic() - t0 < 1.5
    assert c.option("send_timeout") == 0.3


def test_partial_write_timeout_raises_on_the_main_thread(pair):
    c, a = pair
    _partial_write_times_out(c)


def test_partial_write_timeout_raises_on_another_thread(pair):
    c, a = pair
    box = {}

    def run():
        try:
            _partial_write_times_out(c)
        except BaseException as e:  # reported below
            box["e"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join(30)
    assert not t.is_alive()
    if "e" in box:
        raise box["e"]


def test_large_write_on_the_main_thread_with_a_slow_reader(pair):
    c, a = pair
    c.set_option("send_buffer", 65536)
    payload = bytes(range(256)) * (16 << 12)  # 16 MiB
    expected = payload + payload[:100000]
    got = []

    def reader():
        buf = bytearray(1 << 16)
        total = 0
        while total < len(expected):
            k = a.raw.readinto(buf)
            if not k:
                break
            got.append(bytes(buf[:k]))
            total += k

    t = threading.Thread(target=reader)
    t.start()
    assert c.raw.write(payload) == len(payload)
    assert c.raw.write(memoryview(bytearray(payload[:100000]))) == 100000
    t.join(30)
    assert b"".join(got) == expected


def test_close_wakes_a_write_blocked_on_another_thread(pair):
    """The peer reads nothing: a writer thread blocks; close() from here wakes it."""
    c, a = pair
    c.set_option("send_buffer", 65536)
    box = {}
    started = threading.Event()

    def writer():
        started.set()
        try:
            c.stream.write(b"b" * (32 << 20))
            c.stream.flush()
        except Exception as e:
            box["e"] = e

    t = threading.Thread(target=writer)
    t.start()
    started.wait(5)
    assert wait_until(lambda: c.raw._writer != 0, timeout=5)
    time.sleep(0.05)
    t0 = time.monotonic()
    c.close()
    t.join(5)
    assert not t.is_alive()
    assert time.monotonic() - t0 < 2
    assert isinstance(box.get("e"), (usocket.InvalidHandleError, ValueError))
    assert c.closed


def test_sigint_during_local_datagram_receive(sigint_default, tmp_path):
    with usocket.socket_connect(None, protocol="datagram", local_host=tmp_path / "i.dgram") as d:
        check_interrupted(d.receive)


def test_sigint_during_local_accept(sigint_default, tmp_path):
    with usocket.socket_listen(tmp_path / "i.sock") as ls:
        check_interrupted(ls.accept)
