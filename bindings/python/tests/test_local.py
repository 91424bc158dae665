"""Unix-domain sockets: an os.PathLike host, stream and datagram, file paths
in temporary directories and abstract names ("@...") with unique suffixes."""

from __future__ import annotations

import os
import pathlib
import stat
import threading
import uuid

import pytest

import usocket
from usocket import _constants as C


def abstract(tag="t"):
    return pathlib.PurePosixPath(f"@usocket-py-{tag}-{os.getpid()}-{uuid.uuid4().hex}")


@pytest.fixture
def sock_path(tmp_path):
    return tmp_path / "s.sock"


@pytest.fixture(params=["file", "abstract"])
def any_path(request, tmp_path):
    if request.param == "file":
        return tmp_path / "any.sock"
    return abstract(request.param)


def test_stream_round_trip_paths_and_credentials(any_path):
    with usocket.socket_listen(any_path) as ls:
        assert isinstance(ls, usocket.StreamServerSocket) and ls.is_local
        assert ls.local_path == str(any_path)
        if not str(any_path).startswith("@"):
            assert stat.S_ISSOCK(os.stat(any_path).st_mode)
        with usocket.socket_connect(any_path) as c, ls.accept() as a:
            assert c.is_local and a.is_local
            assert c.peer_path == str(any_path)
            assert a.local_path == str(any_path)
            assert c.local_path == "" and a.peer_path == ""  # the client is unnamed
            c.stream.write(b"over a local socket\n")
            c.stream.flush()
            assert a.stream.readline() == b"over a local socket\n"
            a.raw.write(b"back")
            assert c.raw.read(4) == b"back"
            me = (os.getpid(), os.getuid(), os.getgid())
            assert tuple(c.peer_credentials) == me and tuple(a.peer_credentials) == me
            creds = a.peer_credentials
            assert isinstance(creds, usocket.PeerCredentials)
            assert (creds.pid, creds.uid, creds.gid) == me
            assert "local=" in repr(a) or "peer=" in repr(a)
            c.shutdown("output")
            assert a.stream.read() == b""


def test_port_is_optional_and_ignored(sock_path):
    with usocket.socket_listen(sock_path, 12345) as ls:
        with usocket.socket_connect(sock_path, 54321) as c, ls.accept() as a:
            c.raw.write(b"p")
            assert a.raw.read(1) == b"p"


def test_closing_the_listener_removes_its_file(sock_path):
    ls = usocket.socket_listen(sock_path)
    assert sock_path.exists()
    ls.close()
    assert not sock_path.exists()


def test_text_streams_and_element_type(sock_path):
    with usocket.socket_listen(sock_path, element_type=str) as ls:
        with usocket.socket_connect(sock_path, element_type=str) as c, ls.accept() as a:
            print("größe ✓", file=c.stream, flush=True)
            assert a.stream.readline() == "größe ✓\n"


def test_ip_calls_on_a_local_socket_and_path_calls_on_an_ip_socket(sock_path, pair):
    with usocket.socket_listen(sock_path) as ls:
        with usocket.socket_connect(sock_path) as c, ls.accept() as a:
            with pytest.raises(usocket.WrongKindError):
                c.local_name
            with pytest.raises(usocket.WrongKindError):
                a.peer_name
    ipc, _ = pair
    with pytest.raises(usocket.WrongKindError):
        ipc.local_path
    with pytest.raises(usocket.WrongKindError):
        ipc.peer_path
    with pytest.raises(usocket.WrongKindError):
        ipc.peer_credentials


def test_a_missing_path_and_a_stale_socket_file(tmp_path):
    missing = tmp_path / "nobody"
    with pytest.raises(usocket.SocketError) as info:
        usocket.socket_connect(missing)
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, usocket.UnknownError)
    # a stale socket file: nobody accepts on it
    stale = tmp_path / "stale.sock"
    import socket as stdlib_socket

    raw = stdlib_socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
    raw.bind(str(stale))
    raw.close()  # the file stays
    with pytest.raises(usocket.ConnectionRefusedError):
        usocket.socket_connect(stale)
    with pytest.raises(usocket.AddressInUseError):
        usocket.socket_listen(stale)
    with usocket.socket_listen(stale, reuse_address=True) as ls:  # replaces the stale file
        with usocket.socket_connect(stale) as c, ls.accept():
            assert c.peer_path == str(stale)
    # never a live socket, never another kind of file
    with usocket.socket_listen(stale, reuse_address=True):
        with pytest.raises(usocket.AddressInUseError):
            usocket.socket_listen(stale, reuse_address=True)
    regular = tmp_path / "regular"
    regular.write_text("not a socket")
    with pytest.raises(usocket.AddressInUseError):
        usocket.socket_listen(regular, reuse_address=True)
    assert regular.read_text() == "not a socket"


def test_bad_paths(tmp_path):
    with pytest.raises(usocket.InvalidArgumentError):
        usocket.socket_listen(tmp_path / ("x" * (C.USOCKET_LOCAL_PATH_MAX + 1)))
    with pytest.raises(usocket.InvalidArgumentError):
        usocket.socket_connect(pathlib.PurePosixPath("/tmp/nul\0here"))

    class Empty(os.PathLike):
        def __fspath__(self):
            return ""

    with pytest.raises(usocket.InvalidArgumentError):
        usocket.socket_listen(Empty())

    class NotUtf8(os.PathLike):
        def __fspath__(self):
            return b"/tmp/\xff\xfe"

    with pytest.raises(usocket.InvalidArgumentError):
        usocket.socket_connect(NotUtf8())

    class Broken(os.PathLike):
        def __fspath__(self):
            return 42

    with pytest.raises(TypeError):
        usocket.socket_connect(Broken())
    with pytest.raises(TypeError):
        usocket.socket_connect(None, protocol="stream", local_host=tmp_path / "x")


def test_the_longest_path_fits(tmp_path):
    name = "@" + "a" * (C.USOCKET_LOCAL_PATH_MAX - 1)
    with usocket.socket_listen(pathlib.PurePosixPath(name)) as ls:
        assert ls.local_path == name
        with usocket.socket_connect(pathlib.PurePosixPath(name)) as c, ls.accept():
            assert c.peer_path == name


def test_abstract_names_are_exact():
    """"@x" is the abstract name x of exactly that length: the stdlib reaches it."""
    import socket as stdlib_socket

    name = abstract("exact")
    with usocket.socket_listen(name) as ls:
        raw = stdlib_socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
        try:
            raw.connect("\0" + str(name)[1:])
            with ls.accept() as a:
                raw.sendall(b"stdlib")
                assert a.raw.read(6) == b"stdlib"
        finally:
            raw.close()


def test_wait_for_input_and_wait_list_on_local_sockets(sock_path):
    with usocket.socket_listen(sock_path) as ls:
        ready, _ = usocket.wait_for_input([ls], timeout=0, ready_only=True)
        assert ready == []
        with usocket.socket_connect(sock_path) as c:
            ready, _ = usocket.wait_for_input([ls], timeout=5, ready_only=True)
            assert ready == [ls]
            with ls.accept() as a, usocket.WaitList([a]) as wl:
                assert wl.wait(0)[0] == []
                c.raw.write(b"w")
                assert wl.wait(5)[0] == [a]


def test_receive_timeout_on_a_local_stream(sock_path):
    with usocket.socket_listen(sock_path) as ls:
        with usocket.socket_connect(sock_path, timeout=0.2) as c, ls.accept():
            assert c.option("receive_timeout") == 0.2
            with pytest.raises(usocket.TimeoutError):
                c.raw.read(1)


def test_datagrams_between_bound_sockets(tmp_path):
    pa, pb = tmp_path / "a.dgram", tmp_path / "b.dgram"
    with usocket.socket_connect(None, protocol="datagram", local_host=pa) as a, usocket.socket_connect(
        None, protocol="datagram", local_host=pb
    ) as b:
        assert isinstance(a, usocket.DatagramSocket) and a.is_local
        assert a.local_path == str(pa)
        assert a.send(b"one", pb) == 3
        assert b.receive() == (b"one", str(pa), None)
        b.send(b"two", str(pa))  # a str destination on a local socket is a path
        buf = bytearray(10)
        assert a.receive_into(buf) == (3, str(pb), None)
        assert bytes(buf[:3]) == b"two"
        # cut to the size asked for; the rest dropped
        a.send(b"0123456789", pb)
        assert b.receive(4) == (b"0123", str(pa), None)
    assert not pa.exists() and not pb.exists()


def test_connected_datagram_socket_and_abstract_names():
    server_name = abstract("dg")
    with usocket.socket_connect(None, protocol="datagram", local_host=server_name) as srv:
        with usocket.socket_connect(server_name, protocol="datagram") as c:
            assert c.peer_path == str(server_name)
            c.send(b"hello")
            data, sender, port = srv.receive()
            assert data == b"hello" and port is None
            assert sender == c.local_path  # an unnamed client: "" (or its autobound name)


def test_local_datagram_receive_timeout_and_interrupting_close(tmp_path):
    with usocket.socket_connect(None, protocol="datagram", local_host=tmp_path / "t.dgram") as d:
        d.set_option("receive_timeout", 0.15)
        with pytest.raises(usocket.TimeoutError):
            d.receive()
        box = {}

        def on_a_thread():
            try:
                box["r"] = d.receive()
            except Exception as e:  # reported below
                box["e"] = e

        d.set_option("receive_timeout", 0.15)
        t = threading.Thread(target=on_a_thread)
        t.start()
        t.join(5)
        assert isinstance(box.get("e"), usocket.TimeoutError)


def test_local_socket_server(any_path):
    seen = []

    def handler(stream, tag):
        seen.append((tag, usocket.remote_host(), usocket.remote_port()))
        stream.write(stream.readline().upper())

    with usocket.socket_server(any_path, handler=handler, args=("x",), in_new_thread=True, multi_threading=True) as srv:
        assert srv.local_path == str(any_path)
        for i in range(3):
            with usocket.socket_connect(any_path) as c:
                c.stream.write(b"hello %d\n" % i)
                c.stream.flush()
                assert c.stream.readline() == b"HELLO %d\n" % i
    assert srv.wait(5)
    assert seen == [("x", None, None)] * 3
    if not str(any_path).startswith("@"):
        assert not pathlib.Path(any_path).exists()


def test_local_socket_server_rejects_datagrams(sock_path):
    with pytest.raises(usocket.InvalidArgumentError):
        usocket.socket_server(sock_path, handler=lambda d: d, protocol="datagram")


def test_from_handle_knows_a_local_socket(sock_path):
    with usocket.socket_listen(sock_path) as ls:
        other = usocket.from_handle(ls.handle)
        try:
            assert other.is_local and other.local_path == str(sock_path)
        finally:
            other._c.closed = True  # `ls` owns the handle
