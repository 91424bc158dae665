"""socket_server: TCP and UDP, in a new thread or not, multi-threading, errors, stopping."""

from __future__ import annotations

import logging
import threading

import pytest

import usocket

from conftest import run_python


def echo_line(stream):
    line = stream.readline()
    stream.write(line)


def talk(port, data, element_type=bytes):
    with usocket.socket_connect("127.0.0.1", port, element_type=element_type, timeout=10) as c:
        c.stream.write(data)
        c.stream.flush()
        return c.stream.readline()


def test_tcp_server_in_new_thread():
    with usocket.socket_server("127.0.0.1", 0, echo_line, in_new_thread=True) as server:
        assert isinstance(server, usocket.Server)
        assert server.local_address == "127.0.0.1" and server.local_port > 0
        assert server.local_name == ("127.0.0.1", server.local_port)
        assert isinstance(server.thread, threading.Thread) and server.thread.is_alive()
        assert server.running
        for i in range(5):
            assert talk(server.local_port, b"hello %d\n" % i) == b"hello %d\n" % i
    assert not server.thread.is_alive()
    assert not server.running
    with pytest.raises(usocket.ConnectionRefusedError):
        usocket.socket_connect("127.0.0.1", server.local_port)


def test_tcp_server_text_and_args():
    def handler(stream, prefix, suffix):
        stream.write(prefix + stream.readline().strip() + suffix + "\n")

    with usocket.socket_server(
        "127.0.0.1", 0, handler, ("<", ">"), in_new_thread=True, element_type=str
    ) as server:
        assert talk(server.local_port, "ßtraße\n", str) == "<ßtraße>\n"


def test_tcp_server_remote_host_and_port():
    seen = []

    def handler(stream):
        seen.append((usocket.remote_host(), usocket.remote_port(), usocket.current_server()))
        stream.write(b"ok\n")

    with usocket.socket_server("127.0.0.1", 0, handler, in_new_thread=True) as server:
        with usocket.socket_connect("127.0.0.1", server.local_port, timeout=10) as c:
            assert c.stream.readline() == b"ok\n"
            assert seen == [("127.0.0.1", c.local_port, server)]
    assert usocket.remote_host() is None and usocket.remote_port() is None


def test_tcp_handler_exception_is_logged_and_the_server_goes_on(caplog):
    def handler(stream):
        line = stream.readline()
        if line == b"boom\n":
            raise RuntimeError("handler failure on purpose")
        stream.write(line)

    with caplog.at_level(logging.ERROR, logger="usocket.server"):
        with usocket.socket_server("127.0.0.1", 0, handler, in_new_thread=True) as server:
            assert talk(server.local_port, b"boom\n") == b""  # closed without a reply
            assert talk(server.local_port, b"still there\n") == b"still there\n"
    assert any("handler failure on purpose" in r.getMessage() or
               (r.exc_info and "handler failure on purpose" in str(r.exc_info[1])) for r in caplog.records)


def test_tcp_multi_threading_serves_others_while_one_blocks():
    release = threading.Event()
    entered = threading.Event()

    def handler(stream):
        line = stream.readline()
        if line == b"block\n":
            entered.set()
            release.wait(10)
        stream.write(line)

    with usocket.socket_server("127.0.0.1", 0, handler, in_new_thread=True, multi_threading=True) as server:
        blocker = usocket.socket_connect("127.0.0.1", server.local_port, timeout=10)
        try:
            blocker.stream.write(b"block\n")
            blocker.stream.flush()
            assert entered.wait(5)
            # other clients are served while the first handler is stuck
            for i in range(10):
                assert talk(server.local_port, b"%d\n" % i) == b"%d\n" % i
            release.set()
            assert blocker.stream.readline() == b"block\n"
        finally:
            release.set()
            blocker.close()


def _overlapping_clients(multi_threading):
    """Client A connects and its handler blocks until released; client B
    connects and sends while A is being served. Returns the handlers' log
    of ("start"|"end", name) and whether B's handler began while A's ran."""
    log = []
    lock = threading.Lock()
    a_started = threading.Event()
    b_started = threading.Event()
    release_a = threading.Event()

    def handler(stream):
        name = stream.readline().strip().decode()
        with lock:
            log.append(("start", name))
        if name == "A":
            a_started.set()
            release_a.wait(10)
        else:
            b_started.set()
        stream.write(name.encode() + b" done\n")
        stream.flush()
        with lock:
            log.append(("end", name))

    with usocket.socket_server(
        "127.0.0.1", 0, handler, in_new_thread=True, multi_threading=multi_threading
    ) as server:
        port = server.local_port
        with usocket.socket_connect("127.0.0.1", port, timeout=10) as ca:
            ca.raw.write(b"A\n")
            assert a_started.wait(10)
            with usocket.socket_connect("127.0.0.1", port, timeout=10) as cb:
                cb.raw.write(b"B\n")  # B is connected and has sent while A is served
                # B's handler must not start while A's runs (sequential), or
                # must (multi-threaded): wait for it, bounded either way
                overlapped = b_started.wait(1.0)
                release_a.set()
                assert ca.stream.readline() == b"A done\n"
                assert cb.stream.readline() == b"B done\n"
    return log, overlapped


def test_tcp_server_without_multi_threading_serves_one_client_at_a_time():
    log, overlapped = _overlapping_clients(multi_threading=False)
    assert not overlapped, "B was served while A's handler still ran"
    assert log == [("start", "A"), ("end", "A"), ("start", "B"), ("end", "B")]


def test_tcp_server_with_multi_threading_serves_overlapping_clients():
    """The control of the test above: the same clients do overlap here."""
    log, overlapped = _overlapping_clients(multi_threading=True)
    assert overlapped
    assert log.index(("start", "B")) < log.index(("end", "A"))


def test_udp_server_timeout_is_checked_and_passed_to_the_core():
    for bad in (-1, -0.001, (usocket.errors._C.USOCKET_MAX_TIMEOUT_MS + 1) / 1000.0, float("inf"), float("nan")):
        with pytest.raises(usocket.InvalidArgumentError):
            usocket.socket_server("127.0.0.1", 0, lambda d: d, protocol="datagram", timeout=bad)
    with pytest.raises(TypeError):
        usocket.socket_server("127.0.0.1", 0, lambda d: d, protocol="datagram", timeout="1")
    # a short timeout only makes the loop look more often: the server goes on
    with usocket.socket_server(
        "127.0.0.1", 0, lambda d: b"re:" + d, protocol="datagram", timeout=0.01, in_new_thread=True
    ) as server:
        assert server.timeout_ms == 10
        with usocket.socket_connect("127.0.0.1", server.local_port, protocol="datagram", timeout=5) as c:
            for i in range(3):
                c.send(b"%d" % i)
                assert c.receive()[0] == b"re:%d" % i
                # longer than the timeout between datagrams: still served
                assert not server.wait(0.03)


def test_stop_ends_a_server_waiting_for_a_client_promptly():
    import time

    server = usocket.socket_server("127.0.0.1", 0, echo_line, in_new_thread=True)
    port = server.local_port
    t0 = time.monotonic()
    server.stop()
    assert server.wait(2) and time.monotonic() - t0 < 1.0
    assert not server.thread.is_alive()
    with pytest.raises(usocket.ConnectionRefusedError):
        usocket.socket_connect("127.0.0.1", port)


def test_server_in_the_calling_thread_stopped_by_its_handler():
    port_box = {}

    def handler(stream):
        stream.write(b"last\n")
        usocket.current_server().stop()

    # a client thread: connects once the port is known
    ready = threading.Event()
    result = {}

    def client():
        ready.wait(10)
        result["line"] = talk(port_box["port"], b"x\n")

    t = threading.Thread(target=client)
    t.start()

    orig_init = usocket.Server.__init__

    def init(self, *a, **k):
        orig_init(self, *a, **k)
        port_box["port"] = self.local_port
        ready.set()

    usocket.Server.__init__ = init
    try:
        server = usocket.socket_server("127.0.0.1", 0, handler)
    finally:
        usocket.Server.__init__ = orig_init
    t.join(10)
    assert result["line"] == b"last\n"
    assert isinstance(server, usocket.Server) and not server.running
    assert server.thread is None


def test_udp_server_replies_to_the_sender():
    def handler(data, tag):
        assert usocket.remote_host() == "127.0.0.1"
        return tag + data.upper() + b":%d" % usocket.remote_port()

    with usocket.socket_server("127.0.0.1", 0, handler, (b"#",), in_new_thread=True, protocol="datagram") as server:
        assert server.protocol == "datagram"
        with usocket.socket_connect("127.0.0.1", server.local_port, protocol="datagram", timeout=5) as c:
            for word in (b"abc", b"def"):
                c.send(word)
                data, host, port = c.receive()
                assert data == b"#" + word.upper() + b":%d" % c.local_port
                assert (host, port) == ("127.0.0.1", server.local_port)


def test_udp_server_no_reply_and_errors_logged(caplog):
    def handler(data):
        if data == b"boom":
            raise ValueError("udp handler failure on purpose")
        if data == b"quiet":
            return None
        return data

    with caplog.at_level(logging.ERROR, logger="usocket.server"):
        with usocket.socket_server(
            "127.0.0.1", 0, handler, in_new_thread=True, protocol="datagram", timeout=0.1, max_buffer_size=16
        ) as server:
            with usocket.socket_connect("127.0.0.1", server.local_port, protocol="datagram", timeout=0.3) as c:
                c.send(b"boom")
                c.send(b"quiet")
                c.send(b"0123456789abcdefXYZ")  # cut to max_buffer_size
                assert c.receive()[0] == b"0123456789abcdef"
                with pytest.raises(usocket.TimeoutError):
                    c.receive()
    assert any(r.exc_info and "udp handler failure on purpose" in str(r.exc_info[1]) for r in caplog.records)


def test_stop_is_idempotent_and_wait():
    server = usocket.socket_server("127.0.0.1", 0, echo_line, in_new_thread=True)
    server.stop()
    server.stop()
    assert server.wait(5)
    assert "stopped" in repr(server)


def test_server_bind_errors_are_raised_at_once():
    with usocket.socket_listen("127.0.0.1", 0) as taken:
        with pytest.raises(usocket.AddressInUseError):
            usocket.socket_server("127.0.0.1", taken.local_port, echo_line, in_new_thread=True, reuse_address=False)
    with pytest.raises(TypeError):
        usocket.socket_server("127.0.0.1", 0, "not callable", in_new_thread=True)
    with pytest.raises(TypeError):
        usocket.socket_server("127.0.0.1", 0, echo_line, "not a tuple", in_new_thread=True)
    with pytest.raises(usocket.InvalidArgumentError):
        usocket.socket_server("127.0.0.1", 0, echo_line, in_new_thread=True, protocol="carrier-pigeon")


@pytest.mark.allow_leaks
def test_interpreter_exit_with_running_servers_is_clean():
    """Servers with handlers still running at exit: no abort, no traceback, exit 0."""
    code = r"""
import threading, usocket, sys
stuck = threading.Event()
def slow(stream):
    stuck.set()
    stream.readline()              # never answered: the client below keeps it open
def udp(data):
    return data
tcp = usocket.socket_server("127.0.0.1", 0, slow, in_new_thread=True, multi_threading=True)
usp = usocket.socket_server("127.0.0.1", 0, udp, in_new_thread=True, protocol="datagram", timeout=0.05)
clients = [usocket.socket_connect("127.0.0.1", tcp.local_port) for _ in range(5)]
for c in clients:
    c.stream.write(b"partial")
    c.stream.flush()
stuck.wait(5)
d = usocket.socket_connect("127.0.0.1", usp.local_port, protocol="datagram", timeout=5)
d.send(b"x"); assert d.receive()[0] == b"x"
print("exiting", flush=True)
"""
    for _ in range(3):
        r = run_python(code, timeout=60)
        assert r.returncode == 0, r.stderr
        assert "exiting" in r.stdout
        assert "Fatal Python error" not in r.stderr and "Traceback" not in r.stderr, r.stderr
