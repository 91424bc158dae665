"""wait_for_input and WaitList, including 1,500 sockets (descriptors past 1024)."""

from __future__ import annotations

import threading
import time

import pytest

import usocket

from conftest import main_thread_in


def test_wait_for_input_single_socket(pair):
    c, a = pair
    got, remaining = usocket.wait_for_input(a, timeout=0)
    assert got is a and a.state is None and remaining == 0.0
    c.raw.write(b"x")
    got, remaining = usocket.wait_for_input(a, timeout=5)
    assert got is a and a.state == "read"
    assert 0 < remaining <= 5
    ready, _ = usocket.wait_for_input(a, timeout=5, ready_only=True)
    assert ready == [a]


def test_wait_for_input_list_and_ready_only(listener):
    clients = [usocket.socket_connect("127.0.0.1", listener.local_port) for _ in range(4)]
    servers = [listener.accept() for _ in range(4)]
    try:
        socks = list(servers)
        got, remaining = usocket.wait_for_input(socks, timeout=0.05)
        assert got is socks
        assert all(s.state is None for s in socks)
        assert remaining == 0.0
        clients[1].raw.write(b"1")
        clients[3].raw.write(b"3")
        assert usocket.wait_for_input(servers[3], timeout=5, ready_only=True)[0]
        ready, remaining = usocket.wait_for_input(socks, timeout=5, ready_only=True)
        if len(ready) < 2:  # the second byte may trail on another CPU
            ready, remaining = usocket.wait_for_input(socks, timeout=5, ready_only=True)
        assert ready == [servers[1], servers[3]]
        assert [s.state for s in socks] == [None, "read", None, "read"]
        assert remaining is not None and remaining > 0
        # without a timeout: remaining is None
        got, remaining = usocket.wait_for_input(socks)
        assert remaining is None
    finally:
        for s in clients + servers:
            s.close()


def test_wait_for_input_server_socket_and_eof(listener):
    got, _ = usocket.wait_for_input([listener], timeout=0)
    assert listener.state is None
    c = usocket.socket_connect("127.0.0.1", listener.local_port)
    try:
        ready, _ = usocket.wait_for_input([listener], timeout=5, ready_only=True)
        assert ready == [listener] and listener.state == "read"
        a = listener.accept()
        c.close()  # end of file counts as input
        ready, _ = usocket.wait_for_input([a], timeout=5, ready_only=True)
        assert ready == [a]
        assert a.raw.read(1) == b""
        a.close()
    finally:
        c.close()


def test_wait_for_input_datagram(udp_server):
    assert usocket.wait_for_input(udp_server, timeout=0, ready_only=True)[0] == []
    with usocket.socket_connect("127.0.0.1", udp_server.local_port, protocol="datagram") as c:
        c.send(b"d")
        assert usocket.wait_for_input(udp_server, timeout=5, ready_only=True)[0] == [udp_server]


def test_wait_for_input_timeout_and_remaining(pair):
    c, a = pair
    t0 = time.monotonic()
    got, remaining = usocket.wait_for_input([a], timeout=0.25)
    elapsed = time.monotonic() - t0
    assert 0.24 <= elapsed < 1.0
    assert remaining == 0.0 and a.state is None


def test_wait_for_input_on_a_closed_socket(pair):
    c, a = pair
    a.close()
    with pytest.raises(usocket.InvalidHandleError) as info:
        usocket.wait_for_input([c, a], timeout=0)
    assert "closed" in str(info.value)


def test_wait_for_input_empty_list():
    got, remaining = usocket.wait_for_input([], timeout=0.01)
    assert got == [] and remaining == 0.0
    with pytest.raises(usocket.InvalidArgumentError):
        usocket.wait_for_input([])


def test_wait_list_basics(listener):
    c = usocket.socket_connect("127.0.0.1", listener.local_port)
    a = listener.accept()
    wl = usocket.WaitList([a])
    try:
        assert len(wl) == 1 and a in wl and listener not in wl
        assert wl.wait(0) == ([], 0.0)
        wl.add(listener)
        wl.add(listener)  # twice: harmless
        assert len(wl) == 2
        c.raw.write(b"!")
        ready, remaining = wl.wait(5)
        assert ready == [a] and a.state == "read" and remaining > 0
        assert a.raw.read(1) == b"!"
        c2 = usocket.socket_connect("127.0.0.1", listener.local_port)
        ready, _ = wl.wait(5)
        assert ready == [listener] and listener.state == "read"
        assert a.state is None  # no longer ready
        a2 = listener.accept()
        wl.remove(listener)
        wl.remove(listener)  # not there: harmless
        assert listener not in wl and listener.state is None
        ready, remaining = wl.wait(0.05)
        assert ready == []
        assert remaining == 0.0
        # a socket closed while in the list leaves it by itself
        wl.add(a2)
        c2.raw.write(b"?")
        a2.close()
        assert wl.wait(0.05)[0] == []
        assert a2 not in wl and len(wl) == 1
        wl.clear()
        assert len(wl) == 0
        c2.close()
    finally:
        wl.close()
        wl.close()
        c.close()
        a.close()


def test_wait_list_is_accepted_by_wait_for_input(pair):
    c, a = pair
    with usocket.WaitList([a]) as wl:
        c.raw.write(b"w")
        ready, _ = usocket.wait_for_input(wl, timeout=5, ready_only=True)
        assert ready == [a]
        everything, _ = usocket.wait_for_input(wl, timeout=5)
        assert everything == [a]
    assert wl.closed


def test_wait_list_usocket_functions(pair):
    c, a = pair
    wl = usocket.make_wait_list()
    try:
        assert usocket.add_waiter(wl, a) is wl
        c.raw.write(b".")
        assert wl.wait(5)[0] == [a]
        usocket.remove_waiter(wl, a)
        assert wl.wait(0)[0] == []
        usocket.add_waiter(wl, c)
        usocket.remove_all_waiters(wl)
        assert len(wl) == 0
    finally:
        wl.close()


def test_wait_list_closed_from_another_thread(pair):
    c, a = pair
    wl = usocket.WaitList([a])
    box = {}

    def waiter():
        try:
            wl.wait(None)
        except Exception as e:
            box["e"] = e

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.1)  # let it block; the close must wake it either way
    wl.close()
    t.join(5)
    assert not t.is_alive()
    assert isinstance(box.get("e"), usocket.InvalidHandleError)


def test_wait_for_input_1500_sockets(fd_limit, listener):
    """1,500 sockets (descriptors well past FD_SETSIZE), a few ready."""
    n = 1500
    listener.close()
    ls = usocket.socket_listen("127.0.0.1", 0, backlog=2048)
    clients, servers = [], []
    try:
        for _ in range(n):
            clients.append(usocket.socket_connect("127.0.0.1", ls.local_port))
            servers.append(ls.accept())
        assert max(s.fileno() for s in servers) >= 1024
        got, _ = usocket.wait_for_input(servers, timeout=0)
        assert all(s.state is None for s in servers)
        picks = [0, 7, 1023, 1024, n - 1]
        for i in picks:
            clients[i].raw.write(b"r")
        expected = [servers[i] for i in picks]
        ready = []
        for _ in range(50):  # bounded: until all five bytes have arrived
            ready, remaining = usocket.wait_for_input(servers, timeout=5, ready_only=True)
            if len(ready) == len(picks):
                break
            usocket.wait_for_input(expected, timeout=0.05)
        assert ready == expected
        assert [i for i, s in enumerate(servers) if s.state == "read"] == picks
        got, _ = usocket.wait_for_input(servers, timeout=5)
        assert got is servers
        # the same through a wait list
        with usocket.WaitList(servers) as wl:
            r, _ = wl.wait(5)
            seen = set(r)
            for _ in range(10):
                if len(seen) == len(picks):
                    break
                seen |= set(wl.wait(0.05)[0])
            assert seen == set(expected)
            for s in expected:
                assert s.raw.read(1) == b"r"
            assert wl.wait(0)[0] == []
    finally:
        for s in clients + servers:
            s.close()
        ls.close()


def test_wait_is_interruptible_on_the_main_thread_by_close(pair):
    """A wait on the main thread returns when another thread closes a socket."""
    c, a = pair

    def closer():
        assert main_thread_in({"wait_for_input"})
        time.sleep(0.05)
        a.close()

    t = threading.Thread(target=closer)
    t.start()
    with pytest.raises(usocket.InvalidHandleError):
        usocket.wait_for_input([a], timeout=10)
    t.join(5)
