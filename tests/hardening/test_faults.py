"""The Python runner of the shared fault table (faults.tsv).

Every fault whose `python` column says `run` is provoked through the
binding's public API (or, for the raw-handle faults, its own FFI layer and
status mapping, as the table's header explains) and must raise the
exception whose usocket condition name is the table's `expected`: the
exception's ``.condition`` and its class, ``errors.condition_classes()``.
`end-of-file` means a read returned b"". The `n/a` rows check the reason
given where it can be checked. Unknown-host faults run only inside the
private namespace of netns.sh (run.sh runs this file there).
"""

from __future__ import annotations

import time
from ctypes import c_uint64

import pytest

import usocket
from usocket import errors

from conftest import dead_port, in_private_namespace, linger0, pair, read_table

EOF = object()
UNKNOWN = "no-such-host.invalid"
LO4 = "127.0.0.1"
ROWS = read_table()


def outcome(fn) -> str:
    """usocket's condition name for what fn() raised; "ok" or "end-of-file" if nothing."""
    try:
        r = fn()
    except usocket.SocketError as e:
        name = e.condition
        cls = errors.condition_classes().get(name)
        if cls is None or type(e) is not cls:
            return f"{type(e).__name__} (condition {name!r} but not its class)"
        return name
    except Exception as e:  # a non-usocket exception is reported by its class
        return f"{type(e).__module__}.{type(e).__name__}: {e}"
    return "end-of-file" if r is EOF else "ok"


def closing(*socks):
    for s in socks:
        try:
            s.close()
        except Exception:
            pass


def read1(sock):
    data = sock.raw.read(1)
    return EOF if data == b"" else data


def udp(local_port=0, timeout=None):
    return usocket.socket_connect(None, None, protocol="datagram", local_host=LO4, local_port=local_port,
                                  timeout=timeout)


# ------------------------------------------------------------------ faults

def f_connect_refused():
    c = usocket.socket_connect(LO4, dead_port(), connect_timeout=2)
    c.close()


def f_connect_refused_ipv6():
    c = usocket.socket_connect("::1", dead_port("::1"), connect_timeout=2)
    c.close()


def f_connect_timeout_full_backlog():
    listener = usocket.socket_listen(LO4, 0, backlog=0, reuse_address=True)
    first = usocket.socket_connect(LO4, listener.local_port, connect_timeout=2)
    t0 = time.monotonic()
    try:
        c = usocket.socket_connect(LO4, listener.local_port, connect_timeout=0.2)
        c.close()
    except usocket.TimeoutError:
        took = time.monotonic() - t0
        assert 0.18 <= took <= 0.4, f"the connect timed out after {took * 1000:.0f} ms, not ~200"
        raise
    finally:
        closing(first, listener)


def f_read_timeout():
    c, a, listener = pair()
    c.set_option("receive_timeout", 0.1)
    t0 = time.monotonic()
    try:
        return read1(c)
    except usocket.TimeoutError:
        took = time.monotonic() - t0
        assert 0.09 <= took <= 0.2, f"timed out after {took * 1000:.0f} ms, not ~100"
        raise
    finally:
        closing(c, a, listener)


def f_accept_timeout():
    listener = usocket.socket_listen(LO4, 0)
    listener.set_option("receive_timeout", 0.1)
    try:
        closing(listener.accept())
    finally:
        listener.close()


def f_receive_timeout():
    u = udp(timeout=0.1)
    try:
        u.receive()
    finally:
        u.close()


def reset_pair():
    """A client whose peer was closed with a RST, once the RST has arrived."""
    c, a, listener = pair()
    listener.close()
    linger0(a)
    a.close()
    ready, _ = usocket.wait_for_input([c], 2, ready_only=True)
    assert ready, "the RST did not arrive within 2 s"
    return c


def f_reset_by_peer_read():
    c = reset_pair()
    try:
        return read1(c)
    finally:
        c.close()


def f_write_after_peer_reset():
    c = reset_pair()
    try:
        c.raw.write(b"x")
    finally:
        c.close()


def f_write_after_reset_reported():
    c = reset_pair()
    try:
        with pytest.raises(usocket.ConnectionResetError):
            c.raw.write(b"x")
        c.raw.write(b"y")
    finally:
        c.close()


def f_write_after_shutdown_output():
    c, a, listener = pair()
    try:
        c.shutdown("output")
        c.raw.write(b"x")
    finally:
        closing(c, a, listener)


def f_eof_read():
    c, a, listener = pair()
    a.close()
    try:
        return read1(c)
    finally:
        closing(c, listener)


def f_datagram_refused():
    gone = udp()
    port = gone.local_port
    gone.close()
    u = usocket.socket_connect(LO4, port, protocol="datagram", timeout=2)
    try:
        u.send(b"ping")
        u.receive()
    finally:
        u.close()


def f_unknown_host_connect():
    closing(usocket.socket_connect(UNKNOWN, 80, connect_timeout=2))


def f_unknown_host_resolve():
    usocket.get_hosts_by_name(UNKNOWN)


def f_unknown_host_send():
    u = udp()
    try:
        u.send(b"x", UNKNOWN, 9)
    finally:
        u.close()


def f_unknown_local_host():
    closing(usocket.socket_listen(UNKNOWN, 0))


def f_empty_host():
    closing(usocket.socket_connect("", dead_port(), connect_timeout=2))


def f_nul_in_host():
    # A live listener on the port: a host cut at the NUL would connect.
    listener = usocket.socket_listen(LO4, 0)
    try:
        closing(usocket.socket_connect("127.0.0.1\0.example", listener.local_port, connect_timeout=2))
    finally:
        listener.close()


def f_invalid_utf8_host():
    closing(usocket.socket_connect("\udcff", 80, connect_timeout=2))


def f_port_out_of_range():
    closing(usocket.socket_connect(LO4, 70000, connect_timeout=2))


def f_port_negative():
    closing(usocket.socket_connect(LO4, -1, connect_timeout=2))


def f_address_in_use_tcp():
    listener = usocket.socket_listen(LO4, 0)
    try:
        closing(usocket.socket_listen(LO4, listener.local_port))
    finally:
        listener.close()


def f_address_in_use_udp():
    u = udp()
    try:
        closing(udp(local_port=u.local_port))
    finally:
        u.close()


def f_local_port_in_use():
    listener = usocket.socket_listen(LO4, 0)
    port = listener.local_port
    try:
        closing(usocket.socket_connect(LO4, port, local_host=LO4, local_port=port, connect_timeout=2))
    finally:
        listener.close()


def f_address_not_available():
    closing(usocket.socket_listen("192.0.2.1", 0))


def f_local_host_family_mismatch():
    listener = usocket.socket_listen(LO4, 0)
    try:
        closing(usocket.socket_connect(LO4, listener.local_port, local_host="::1", connect_timeout=2))
    finally:
        listener.close()


def f_use_after_close():
    listener = usocket.socket_listen(LO4, 0)
    listener.close()
    return listener.local_name


def f_stale_handle():
    u = udp()
    h = u.handle
    u.close()
    closing(usocket.from_handle(h))


def f_zero_handle():
    closing(usocket.from_handle(0))


def f_double_close():
    listener = usocket.socket_listen(LO4, 0)
    h = listener.handle
    listener.close()
    listener.close()  # the binding's close is idempotent: no exception
    errors.check(usocket._ffi.lib.usocket_close(c_uint64(h)))


def f_double_free_wait_list():
    wl = usocket.WaitList()
    h = wl.handle
    wl.close()
    wl.close()  # idempotent
    errors.check(usocket._ffi.lib.usocket_wait_list_free(c_uint64(h)))


def f_wait_on_closed_socket():
    l1 = usocket.socket_listen(LO4, 0)
    l2 = usocket.socket_listen(LO4, 0)
    l1.close()
    try:
        usocket.wait_for_input([l2, l1], 0.1)
    finally:
        l2.close()


def f_wait_list_add_closed():
    listener = usocket.socket_listen(LO4, 0)
    listener.close()
    with usocket.WaitList() as wl:
        wl.add(listener)


def f_wait_on_freed_wait_list():
    wl = usocket.WaitList()
    wl.close()
    wl.wait(0.1)


def f_wrong_kind_nodelay_datagram():
    u = udp()
    try:
        u.set_option("tcp_nodelay", True)
    finally:
        u.close()


def f_wrong_kind_peer_name_listener():
    listener = usocket.socket_listen(LO4, 0)
    try:
        return listener.peer_name
    finally:
        listener.close()


def f_wrong_kind_wait_list_as_socket():
    with usocket.WaitList() as wl:
        usocket.from_handle(wl.handle)


def f_datagram_too_large():
    r = udp()
    u = usocket.socket_connect(LO4, r.local_port, protocol="datagram")
    try:
        u.send(bytes(usocket.MAX_DATAGRAM_PACKET_SIZE + 1))
    finally:
        closing(u, r)


def f_send_unconnected_no_host():
    u = udp()
    try:
        u.send(b"x")
    finally:
        u.close()


def f_bad_option():
    u = udp()
    try:
        return u.option("no_such_option")
    finally:
        u.close()


def f_bad_option_value():
    u = udp()
    try:
        u.set_option("receive_buffer", 0)
    finally:
        u.close()


def f_negative_timeout_option():
    u = udp()
    try:
        u.set_option("receive_timeout", -1)
    finally:
        u.close()


def f_shutdown_bad_direction():
    c, a, listener = pair()
    try:
        c.shutdown("sideways")
    finally:
        closing(c, a, listener)


def f_negative_backlog():
    closing(usocket.socket_listen(LO4, 0, backlog=-1))


def f_wait_forever_on_nothing():
    usocket.wait_for_input([], None)


FAULTS = {name[2:].replace("_", "-"): fn for name, fn in globals().items() if name.startswith("f_")}


# ------------------------------------------------------------------ n/a claims

def na_read_after_close():
    c, a, listener = pair()
    c.stream  # the stream exists, as in any program that used the socket
    c.close()
    try:
        with pytest.raises(ValueError):
            c.stream.read(1)
    finally:
        closing(a, listener)


def lacks(cls, *names):
    def check():
        for n in names:
            assert not hasattr(cls, n), f"{cls.__name__} has {n}: the fault can be expressed; run it"
    return check


NA_CHECKS = {
    "read-after-close": na_read_after_close,
    "wrong-kind-read-datagram": lacks(usocket.DatagramSocket, "stream", "read", "raw"),
    "wrong-kind-accept-stream": lacks(usocket.StreamSocket, "accept"),
    "wrong-kind-send-stream": lacks(usocket.StreamSocket, "send", "socket_send"),
    "wrong-kind-receive-listener": lacks(usocket.StreamServerSocket, "receive", "socket_receive"),
    "wrong-kind-write-listener": lacks(usocket.StreamServerSocket, "stream", "write", "raw"),
    "wrong-kind-shutdown-listener": lacks(usocket.StreamServerSocket, "shutdown"),
}


# ------------------------------------------------------------------ tests

RUN = [r for r in ROWS if r["python"] == "run"]
NA = [r for r in ROWS if r["python"].startswith("n/a")]


def test_table_and_runner_agree():
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)), "duplicate fault ids"
    assert len(ROWS) >= 30
    for r in ROWS:
        assert r["python"] == "run" or r["python"].startswith("n/a: "), r
    missing = [r["id"] for r in RUN if r["id"] not in FAULTS]
    extra = [i for i in FAULTS if i not in {r["id"] for r in RUN}]
    assert not missing, f"faults the Python runner does not implement: {missing}"
    assert not extra, f"Python faults not marked run in the table: {extra}"


@pytest.mark.parametrize("row", RUN, ids=[r["id"] for r in RUN])
def test_fault(row):
    if row["needs"] == "netns" and not in_private_namespace():
        pytest.fail("not inside the private namespace (tests/hardening/netns.sh): "
                    "refusing to ask the real resolver")
    got = outcome(FAULTS[row["id"]])
    assert got == row["expected"], f"{row['id']}: expected {row['expected']}, got {got} ({row['description']})"


@pytest.mark.parametrize("row", NA, ids=[r["id"] for r in NA])
def test_not_applicable(row):
    check = NA_CHECKS.get(row["id"])
    if check is not None:
        check()
