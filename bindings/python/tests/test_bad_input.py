"""Bad input gives a clear exception, never a crash."""

from __future__ import annotations

import pytest

import usocket


@pytest.mark.parametrize("host", [123, 1.5, object(), b"\x01\x02", ["a"]])
def test_wrong_host_types(host):
    with pytest.raises(TypeError, match="host"):
        usocket.socket_connect(host, 80)


@pytest.mark.parametrize("port", ["80", 1.0, object(), [80]])
def test_wrong_port_types(port):
    with pytest.raises(TypeError, match="port"):
        usocket.socket_connect("127.0.0.1", port)


@pytest.mark.parametrize("port", [70000, 65536, -1, 2**64])
def test_port_out_of_range(port):
    with pytest.raises(usocket.InvalidArgumentError, match="port") as info:
        usocket.socket_connect("127.0.0.1", port)
    assert isinstance(info.value, ValueError)
    with pytest.raises(ValueError, match="port"):
        usocket.socket_listen("127.0.0.1", port)


def test_nul_in_host():
    with pytest.raises(usocket.InvalidArgumentError, match="NUL"):
        usocket.socket_connect("127.0.0.1\0evil", 80)
    with pytest.raises(ValueError, match="NUL"):
        usocket.socket_listen("\0", 0)
    with pytest.raises(ValueError, match="NUL"):
        usocket.get_hosts_by_name("local\0host")
    with pytest.raises(ValueError, match="NUL"):
        usocket.socket_connect(None, None, protocol="datagram", local_host="a\0")


def test_unencodable_host():
    with pytest.raises(ValueError):
        usocket.socket_connect("\udcff", 80)


def test_host_as_octets_and_ipaddress(listener):
    import ipaddress

    port = listener.local_port
    for host in ((127, 0, 0, 1), [127, 0, 0, 1], bytes([127, 0, 0, 1]), ipaddress.ip_address("127.0.0.1")):
        with usocket.socket_connect(host, port) as c, listener.accept():
            assert c.peer_address == "127.0.0.1"
    with pytest.raises(usocket.InvalidArgumentError):
        usocket.socket_connect((300, 0, 0, 1), port)


def test_bad_protocol_and_element_type():
    with pytest.raises(usocket.InvalidArgumentError, match="protocol"):
        usocket.socket_connect("127.0.0.1", 80, protocol="raw")
    with pytest.raises(usocket.InvalidArgumentError, match="element_type"):
        usocket.socket_connect("127.0.0.1", 80, element_type=int)
    with pytest.raises(usocket.InvalidArgumentError, match="element_type"):
        usocket.socket_listen("127.0.0.1", 0, element_type="utf-16")


def test_bad_timeouts():
    with pytest.raises(ValueError, match="timeout"):
        usocket.socket_connect("127.0.0.1", 80, timeout=-1)
    with pytest.raises(TypeError, match="timeout"):
        usocket.socket_connect("127.0.0.1", 80, timeout="soon")
    with pytest.raises(ValueError):
        usocket.socket_connect("127.0.0.1", 80, connect_timeout=float("nan"))
    with pytest.raises(ValueError, match="timeout"):
        usocket.wait_for_input([], timeout=-0.5)


def test_stream_connect_needs_a_host():
    with pytest.raises(TypeError, match="host"):
        usocket.socket_connect(None, 80)
    with pytest.raises(usocket.InvalidArgumentError):
        usocket.socket_connect(None, 80, protocol="datagram")


def test_bad_backlog():
    with pytest.raises(usocket.InvalidArgumentError, match="backlog"):
        usocket.socket_listen("127.0.0.1", 0, backlog=-1)
    with pytest.raises(TypeError, match="backlog"):
        usocket.socket_listen("127.0.0.1", 0, backlog="many")


def test_unknown_and_bad_options(pair):
    c, a = pair
    with pytest.raises(usocket.InvalidArgumentError, match="unknown socket option"):
        c.option("so_linger")
    with pytest.raises(TypeError):
        c.option(2)
    with pytest.raises(ValueError):
        c.set_option("receive_timeout", -3)
    with pytest.raises(ValueError):
        c.set_option("receive_buffer", 0)


def test_closed_socket_operations(pair, udp_server):
    c, a = pair
    c.close()
    for op in (
        lambda: c.raw,
        lambda: c.stream,
        lambda: c.shutdown("output"),
        lambda: c.local_name,
        lambda: c.peer_name,
        lambda: c.option("tcp_nodelay"),
        lambda: c.set_option("keepalive", True),
        lambda: c.input_available(),
        lambda: usocket.wait_for_input([c], timeout=0),
    ):
        with pytest.raises(usocket.InvalidHandleError, match="closed"):
            op()
    assert c.fileno() == -1
    udp_server.close()
    with pytest.raises(usocket.InvalidHandleError):
        udp_server.receive()
    with pytest.raises(usocket.InvalidHandleError):
        udp_server.send(b"x", "127.0.0.1", 9)
    with pytest.raises(usocket.InvalidHandleError):
        usocket.WaitList([udp_server])


def test_stream_of_a_closed_socket(pair):
    c, a = pair
    s = a.stream
    a.close()
    with pytest.raises(ValueError):  # io's "I/O operation on closed file"
        s.read(1)


def test_closed_listener_accept(listener):
    listener.close()
    with pytest.raises(usocket.InvalidHandleError):
        listener.accept()


def test_bad_datagram_arguments(udp_server):
    with pytest.raises(TypeError, match="str"):
        udp_server.send("text", "127.0.0.1", 9)
    with pytest.raises(TypeError):
        udp_server.send(12345, "127.0.0.1", 9)
    with pytest.raises(usocket.InvalidArgumentError, match="port"):
        udp_server.send(b"x", "127.0.0.1", 70000)
    with pytest.raises(usocket.InvalidArgumentError):
        udp_server.send(b"x", None, 9)
    with pytest.raises(TypeError, match="writable"):
        udp_server.receive_into(b"read-only")
    with pytest.raises(usocket.InvalidArgumentError):
        udp_server.receive_into(bytearray())
    with pytest.raises(usocket.InvalidArgumentError):
        udp_server.receive(0)
    with pytest.raises(TypeError):
        udp_server.receive("10")


def test_unconnected_send_without_destination(udp_server):
    with pytest.raises(usocket.SocketError):
        udp_server.send(b"nowhere")


def test_wait_for_input_bad_arguments(pair):
    c, a = pair
    with pytest.raises(TypeError):
        usocket.wait_for_input(42)
    with pytest.raises(TypeError):
        usocket.wait_for_input([a, "not a socket"])
    with usocket.WaitList() as wl:
        with pytest.raises(TypeError):
            wl.add("x")
        with pytest.raises(TypeError):
            wl.remove(3)


def test_closed_wait_list():
    wl = usocket.WaitList()
    wl.close()
    with pytest.raises(usocket.InvalidHandleError):
        wl.wait(0)
    with pytest.raises(usocket.InvalidHandleError):
        wl.clear()


def test_shutdown_on_a_listener(listener):
    from usocket import _ffi, errors

    rc = _ffi.lib.usocket_shutdown(listener._h, 3)
    with pytest.raises(usocket.WrongKindError):
        errors.check(rc)
    assert not hasattr(listener, "shutdown")


def test_the_raw_function_table_is_guarded():
    from usocket import _ffi

    for name in _ffi.DECLARATIONS:
        fn = getattr(_ffi.lib, name)
        assert fn.argtypes is not None or fn.__class__.__name__ == "_Missing"
        assert hasattr(fn, "restype")
