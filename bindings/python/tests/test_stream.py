"""TCP: connect, listen, accept, streams (binary and text), shutdown, close, names, options."""

from __future__ import annotations

import asyncio
import gc
import io
import os
import selectors
import threading

import pytest

import usocket


def test_connect_accept_and_names(listener):
    port = listener.local_port
    assert isinstance(listener, usocket.StreamServerSocket)
    assert listener.local_name == ("127.0.0.1", port)
    assert listener.local_address == "127.0.0.1"
    with usocket.socket_connect("127.0.0.1", port) as c:
        assert isinstance(c, usocket.StreamSocket)
        with listener.accept() as a:
            assert isinstance(a, usocket.StreamSocket)
            assert c.peer_name == ("127.0.0.1", port)
            assert c.peer_address == "127.0.0.1" and c.peer_port == port
            assert a.peer_name == c.local_name
            assert a.local_port == port
            assert a.peer_port == c.local_port
            assert "StreamSocket" in repr(a) and str(port) in repr(a)


def test_binary_stream_round_trip(pair):
    c, a = pair
    assert isinstance(c.stream, io.BufferedIOBase)
    assert c.stream is c.stream
    c.stream.write(b"hello\nworld\n")
    c.stream.flush()
    assert a.stream.readline() == b"hello\n"
    assert a.stream.read(6) == b"world\n"
    a.stream.write(bytearray(b"back"))
    a.stream.write(memoryview(b"--"))
    a.stream.flush()
    assert c.stream.read(6) == b"back--"


def test_binary_iteration_and_eof(pair):
    c, a = pair
    lines = [b"line %d\n" % i for i in range(100)]
    c.stream.writelines(lines)
    c.shutdown("output")  # flushes, then FIN
    assert list(a.stream) == lines
    assert a.stream.read() == b""


def test_text_stream(text_pair):
    c, a = text_pair
    assert isinstance(c.stream, io.TextIOWrapper)
    print("héllo wörld", file=c.stream)
    c.stream.write("ünïcödé ✓ 𝄞\nlast")
    c.stream.flush()
    assert a.stream.readline() == "héllo wörld\n"
    assert a.stream.readline() == "ünïcödé ✓ 𝄞\n"
    c.close()
    assert a.stream.read() == "last"


def test_text_multibyte_split_across_writes(text_pair):
    c, a = text_pair
    data = "€".encode("utf-8")
    raw = c.raw  # bypass the encoder: one character in two TCP writes
    raw.write(data[:1])
    raw.write(data[1:] + b"\n")
    assert a.stream.readline() == "€\n"


def test_text_iteration(text_pair):
    c, a = text_pair
    for i in range(50):
        c.stream.write(f"{i}\n")
    c.stream.flush()
    c.shutdown("output")
    assert [int(x) for x in a.stream] == list(range(50))


def test_large_transfer_read_and_readinto(pair):
    c, a = pair
    size = 8 << 20
    payload = os.urandom(1 << 16) * (size >> 16)
    errors = []

    def send():
        try:
            c.stream.write(payload)
            c.stream.flush()
            c.shutdown("output")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    t = threading.Thread(target=send)
    t.start()
    first = a.stream.read(3 << 20)  # a large read
    buf = bytearray(1 << 16)
    chunks = [first]
    while True:
        n = a.stream.readinto(buf)
        if not n:
            break
        chunks.append(bytes(buf[:n]))
    t.join(30)
    assert not errors
    assert len(first) == 3 << 20
    assert b"".join(chunks) == payload


def test_raw_readinto_is_the_callers_buffer(pair):
    c, a = pair
    c.raw.write(b"abcdef")
    buf = bytearray(b"........")
    n = a.raw.readinto(memoryview(buf)[2:])
    assert (n, bytes(buf)) == (6, b"..abcdef")
    assert a.raw.readinto(bytearray()) == 0
    with pytest.raises(TypeError):
        a.raw.readinto(b"read-only")


def test_raw_read_and_readall(pair):
    c, a = pair
    c.raw.write(b"x" * 100)
    assert a.raw.read(10) == b"x" * 10
    assert a.raw.read(0) == b""
    c.raw.write(b"tail")
    c.close()
    assert a.raw.readall() == b"x" * 90 + b"tail"
    assert a.raw.read(5) == b""


def test_closing_the_stream_closes_the_socket(pair):
    c, a = pair
    c.stream.write(b"bye")
    c.stream.close()  # flushes first
    assert c.closed
    assert a.stream.read() == b"bye"


def test_close_is_idempotent_and_flushes(pair):
    c, a = pair
    c.stream.write(b"pending")
    c.close()
    c.close()
    assert c.fileno() == -1
    assert a.stream.read() == b"pending"


def test_del_closes_the_handle(listener):
    before = usocket.open_handles()
    c = usocket.socket_connect("127.0.0.1", listener.local_port)
    a = listener.accept()
    c.stream.flush()  # with a stream: it must not keep the socket alive
    assert usocket.open_handles() == before + 2
    with pytest.warns(ResourceWarning):
        del c, a
        gc.collect()
    assert usocket.open_handles() == before


def test_context_managers(listener):
    with usocket.socket_connect("127.0.0.1", listener.local_port) as c:
        with listener.accept() as a:
            pass
    assert c.closed and a.closed


def test_fileno_with_selectors(pair):
    c, a = pair
    fd = a.fileno()
    assert isinstance(fd, int) and fd >= 0
    with selectors.DefaultSelector() as sel:
        sel.register(a, selectors.EVENT_READ)
        assert sel.select(0) == []
        c.raw.write(b"!")
        events = sel.select(5)
        assert [key.fileobj for key, _ in events] == [a]
    assert a.raw.read(1) == b"!"


def test_fileno_with_asyncio_add_reader(pair):
    c, a = pair

    async def main():
        loop = asyncio.get_running_loop()
        got = loop.create_future()
        loop.add_reader(a.fileno(), lambda: got.done() or got.set_result(a.raw.read(10)))
        try:
            c.raw.write(b"async")
            return await asyncio.wait_for(got, 5)
        finally:
            loop.remove_reader(a.fileno())

    assert asyncio.run(main()) == b"async"


def test_shutdown_input_output_both(pair):
    c, a = pair
    c.shutdown("output")
    assert a.stream.read() == b""
    a.stream.write(b"still open")
    a.stream.flush()
    assert c.raw.read(100) == b"still open"
    c.shutdown("input")
    a.shutdown("both")
    with pytest.raises(usocket.InvalidArgumentError):
        c.shutdown("sideways")


def test_input_available(pair):
    c, a = pair
    assert a.input_available() is False
    c.raw.write(b"x")
    # (the remaining time is never None with a timeout: check what is ready)
    ready, remaining = usocket.wait_for_input(a, timeout=5, ready_only=True)
    assert ready == [a] and a.state == "read" and 0 < remaining <= 5
    assert a.input_available() is True


def test_options(pair):
    c, a = pair
    assert c.option("tcp_nodelay") is True
    c.set_option("tcp_nodelay", False)
    assert c.option("tcp_nodelay") is False
    assert c.option("tcp-no-delay") is False  # usocket's spelling
    assert c.option("receive_timeout") is None
    c.set_option("receive_timeout", 2.5)
    assert c.option("receive_timeout") == 2.5
    c.set_option("receive_timeout", None)
    assert c.option("receive_timeout") is None
    c.set_option("send_timeout", 1)
    assert c.option("send_timeout") == 1.0
    c.set_option("keepalive", True)
    assert c.option("keep_alive") is True
    c.set_option("receive_buffer", 65536)
    assert c.option("receive_buffer") >= 65536
    c.set_option("send_buffer", 65536)
    assert c.option("send_buffer") >= 65536
    assert isinstance(c.option("reuse_address"), bool)
    assert isinstance(c.option("broadcast"), bool)
    assert set(usocket.OPTION_NAMES) >= {"receive_timeout", "tcp_nodelay", "send_buffer"}


def test_connect_nodelay_false_and_timeout(listener):
    with usocket.socket_connect("127.0.0.1", listener.local_port, nodelay=False, timeout=3) as c:
        with listener.accept():
            assert c.option("tcp_nodelay") is False
            assert c.option("receive_timeout") == 3.0


def test_read_timeout_on_another_thread(pair):
    c, a = pair
    a.set_option("receive_timeout", 0.2)
    result = {}

    def reader():
        t0 = usocket._socket._monotonic()
        try:
            a.raw.read(1)
        except usocket.TimeoutError as e:
            result["e"] = e
        result["t"] = usocket._socket._monotonic() - t0

    t = threading.Thread(target=reader)
    t.start()
    t.join(10)
    assert isinstance(result["e"], TimeoutError)
    assert 0.15 <= result["t"] < 2.0


def test_read_timeout_on_the_main_thread_is_kept(pair):
    # On the main thread reads wait in slices; the user's timeout still holds.
    c, a = pair
    a.set_option("receive_timeout", 0.3)
    t0 = usocket._socket._monotonic()
    with pytest.raises(usocket.TimeoutError) as info:
        a.stream.read(1)
    elapsed = usocket._socket._monotonic() - t0
    assert 0.28 <= elapsed < 0.6, elapsed
    assert isinstance(info.value, TimeoutError)
    assert a.option("receive_timeout") == 0.3
    # and data that comes in time is read
    c.raw.write(b"z")
    assert a.raw.read(1) == b"z"


def test_accept_timeout():
    with usocket.socket_listen("127.0.0.1", 0) as ls:
        ls.set_option("receive_timeout", 0.15)
        t0 = usocket._socket._monotonic()
        with pytest.raises(usocket.TimeoutError):
            ls.accept()
        assert 0.13 <= usocket._socket._monotonic() - t0 < 1.0


def test_accept_element_type(listener):
    with usocket.socket_connect("127.0.0.1", listener.local_port) as c:
        with listener.accept(element_type=str) as a:
            assert a.element_type is str
            c.raw.write("ß\n".encode())
            assert a.stream.readline() == "ß\n"


def test_listener_element_type_is_inherited():
    with usocket.socket_listen("127.0.0.1", 0, element_type=str, reuse_address=True, backlog=16) as ls:
        assert ls.option("reuse_address") is True
        with usocket.socket_connect("127.0.0.1", ls.local_port) as c, ls.accept() as a:
            assert a.element_type is str and c.element_type is bytes


def test_connect_with_local_port(listener):
    with usocket.socket_listen("127.0.0.1", 0) as probe:
        free = probe.local_port
    with usocket.socket_connect("127.0.0.1", listener.local_port, local_host="127.0.0.1", local_port=free) as c:
        with listener.accept() as a:
            assert c.local_port == free
            assert a.peer_port == free


def test_ipv6_loopback():
    try:
        ls = usocket.socket_listen("::1", 0)
    except usocket.SocketError as e:
        pytest.skip(f"no IPv6 loopback here: {e}")
    with ls:
        with usocket.socket_connect("::1", ls.local_port) as c, ls.accept() as a:
            assert c.peer_name == ("::1", ls.local_port)
            assert a.local_address == "::1"
            c.raw.write(b"six")
            assert a.raw.read(3) == b"six"
        with usocket.socket_connect("[::1]", ls.local_port) as c2, ls.accept():
            assert c2.peer_address == "::1"


def test_from_handle_wraps_a_core_handle(listener):
    c = usocket.socket_connect("127.0.0.1", listener.local_port)
    a = listener.accept()
    try:
        other = usocket.from_handle(a.handle)
        assert type(other) is usocket.StreamSocket
        assert other.peer_name == a.peer_name
        other._c.closed = True  # `a` owns the handle
        assert type(usocket.from_handle(listener.handle)) is usocket.StreamServerSocket
    finally:
        c.close()
        a.close()


def test_usocket_style_functions(listener):
    c = usocket.socket_connect("127.0.0.1", listener.local_port)
    a = usocket.socket_accept(listener)
    usocket.socket_stream(c).write(b"q")
    usocket.socket_stream(c).flush()
    assert usocket.socket_stream(a).read(1) == b"q"
    usocket.socket_shutdown(c, "output")
    usocket.socket_close(c)
    usocket.socket_close(a)
    assert c.closed and a.closed
    assert c.socket is c
