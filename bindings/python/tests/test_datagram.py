"""UDP: connected and unconnected datagram sockets."""

from __future__ import annotations

import threading

import pytest

import usocket


def test_unconnected_send_and_receive(udp_server):
    port = udp_server.local_port
    assert isinstance(udp_server, usocket.DatagramSocket)
    assert udp_server.local_address == "127.0.0.1"
    with usocket.socket_connect(None, None, protocol="datagram", local_host="127.0.0.1") as client:
        assert client.send(b"ping", "127.0.0.1", port) == 4
        data, host, sport = udp_server.receive()
        assert (data, host, sport) == (b"ping", "127.0.0.1", client.local_port)
        assert udp_server.send(b"pong", host, sport) == 4
        assert client.receive(100) == (b"pong", "127.0.0.1", port)


def test_connected_send_and_receive(udp_server):
    port = udp_server.local_port
    with usocket.socket_connect("127.0.0.1", port, protocol="datagram") as c:
        assert c.peer_name == ("127.0.0.1", port)
        assert c.send(bytearray(b"abc")) == 3
        assert c.send(memoryview(b"xyzw")[1:]) == 3
        assert udp_server.receive()[0] == b"abc"
        assert udp_server.receive()[0] == b"yzw"
        udp_server.send(b"back", "127.0.0.1", c.local_port)
        data, host, p = c.receive()
        assert (data, host, p) == (b"back", "127.0.0.1", port)


def test_receive_into(udp_server):
    with usocket.socket_connect("127.0.0.1", udp_server.local_port, protocol="datagram") as c:
        c.send(b"into the buffer")
        buf = bytearray(64)
        n, host, port = udp_server.receive_into(buf)
        assert (bytes(buf[:n]), host, port) == (b"into the buffer", "127.0.0.1", c.local_port)
        c.send(b"0123456789")
        view = memoryview(bytearray(20))
        n, _, _ = udp_server.receive_into(view[5:])
        assert n == 10 and view[5:15].tobytes() == b"0123456789"


def test_truncation_and_empty_and_max_size(udp_server):
    with usocket.socket_connect("127.0.0.1", udp_server.local_port, protocol="datagram") as c:
        c.send(b"0123456789")
        assert udp_server.receive(4)[0] == b"0123"  # the rest is dropped
        c.send(b"")
        assert udp_server.receive()[0] == b""
        big = bytes(range(256)) * 255 + b"x" * (usocket.MAX_DATAGRAM_PACKET_SIZE - 65280)
        assert len(big) == usocket.MAX_DATAGRAM_PACKET_SIZE
        c.set_option("send_buffer", 1 << 20)
        udp_server.set_option("receive_buffer", 1 << 20)
        assert c.send(big) == len(big)
        assert udp_server.receive()[0] == big
        with pytest.raises(usocket.SocketError):
            c.send(big + b"!")


def test_receive_timeout(udp_server):
    udp_server.set_option("receive_timeout", 0.1)
    with pytest.raises(usocket.TimeoutError):
        udp_server.receive()
    buf = bytearray(10)
    with pytest.raises(TimeoutError):
        udp_server.receive_into(buf)


def test_receive_timeout_from_connect():
    with usocket.socket_connect(None, None, protocol="datagram", local_host="127.0.0.1", timeout=0.1) as s:
        assert s.option("receive_timeout") == 0.1
        with pytest.raises(usocket.TimeoutError):
            s.receive()


def test_many_datagrams_from_threads(udp_server):
    port = udp_server.local_port
    udp_server.set_option("receive_buffer", 1 << 20)
    count = 200

    def sender(k):
        with usocket.socket_connect("127.0.0.1", port, protocol="datagram") as c:
            for i in range(count):
                c.send(b"%d:%d" % (k, i))

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    udp_server.set_option("receive_timeout", 2)
    got = set()
    for _ in range(4 * count):
        got.add(udp_server.receive()[0])
    assert len(got) == 4 * count


def test_broadcast_option(udp_server):
    udp_server.set_option("broadcast", True)
    assert udp_server.option("broadcast") is True


def test_datagram_socket_functions(udp_server):
    with usocket.socket_connect("127.0.0.1", udp_server.local_port, protocol="datagram") as c:
        assert usocket.socket_send(c, b"fn") == 2
        assert usocket.socket_receive(udp_server)[0] == b"fn"


def test_wrong_kind_on_datagram(udp_server):
    with pytest.raises(usocket.WrongKindError) as info:
        udp_server.set_option("tcp_nodelay", True)
    assert info.value.code == -3
    # a stream call on a datagram handle
    fake = usocket.StreamSocket(udp_server.handle)
    try:
        with pytest.raises(usocket.WrongKindError):
            fake.raw.read(1)
    finally:
        fake._c.closed = True  # udp_server owns the handle


def test_ipv6_datagrams():
    try:
        srv = usocket.socket_connect(None, None, protocol="datagram", local_host="::1")
    except usocket.SocketError as e:
        pytest.skip(f"no IPv6 loopback here: {e}")
    with srv:
        port = srv.local_port
        assert srv.local_name == ("::1", port)
        # unconnected, to an IPv6 destination
        with usocket.socket_connect(None, None, protocol="datagram", local_host="::1") as u:
            assert u.send(b"six", "::1", port) == 3
            assert srv.receive() == (b"six", "::1", u.local_port)
            srv.send(b"back", "::1", u.local_port)
            assert u.receive() == (b"back", "::1", port)
        # connected, with the bracketed form
        with usocket.socket_connect("[::1]", port, protocol="datagram") as c:
            assert c.peer_name == ("::1", port)
            c.send(b"connected")
            data, host, cport = srv.receive()
            assert (data, host, cport) == (b"connected", "::1", c.local_port)
            srv.send(b"reply", host, cport)
            buf = bytearray(16)
            assert c.receive_into(buf) == (5, "::1", port)
            assert bytes(buf[:5]) == b"reply"
