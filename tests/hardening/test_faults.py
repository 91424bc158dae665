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

import atexit
import collections
import ctypes
import errno
import inspect
import os
import select
import shutil
import socket as stdlib_socket
import subprocess
import sys
import tempfile
import threading
import time
from ctypes import byref, c_size_t, c_uint64
from pathlib import Path

import pytest

import usocket
from usocket import errors

from conftest import BINDING, dead_port, in_private_namespace, linger0, pair, read_table, thread_syscall

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
        if cls is None or not (type(e) is cls or (isinstance(e, cls) and isinstance(e, FileNotFoundError))):
            # (a subclass only as the local-connect-missing mapping: usocket's
            # class that is also Python's FileNotFoundError)
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


def adopted(cls, sock, **kw):
    """A socket object of class cls over sock's handle: a handle of the wrong
    kind given to a socket object, as from_handle gives one made elsewhere."""
    return cls(sock.handle, **kw)


def f_wrong_kind_read_datagram():
    u = udp()
    w = adopted(usocket.StreamSocket, u)
    try:
        return read1(w)
    finally:
        closing(w, u)


def f_wrong_kind_accept_stream():
    c, a, listener = pair()
    w = adopted(usocket.StreamServerSocket, c)
    try:
        closing(w.accept())
    finally:
        closing(w, c, a, listener)


def f_wrong_kind_send_stream():
    c, a, listener = pair()
    w = adopted(usocket.DatagramSocket, c, connected=True)
    try:
        w.send(b"x")
    finally:
        closing(w, c, a, listener)


def f_wrong_kind_receive_listener():
    listener = usocket.socket_listen(LO4, 0)
    w = adopted(usocket.DatagramSocket, listener)
    try:
        w.receive()
    finally:
        closing(w, listener)


def f_wrong_kind_write_listener():
    listener = usocket.socket_listen(LO4, 0)
    w = adopted(usocket.StreamSocket, listener)
    try:
        w.raw.write(b"x")
    finally:
        closing(w, listener)


def f_wrong_kind_shutdown_listener():
    listener = usocket.socket_listen(LO4, 0)
    w = adopted(usocket.StreamSocket, listener)
    try:
        w.shutdown("both")
    finally:
        closing(w, listener)


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


# ------------------------------------------------------------------ version 0.2

DUAL = "dualstack.usocket.test"  # ::1 first, then 127.0.0.1, in netns.sh's hosts file
LOCAL_DIR = tempfile.mkdtemp(prefix="usocket-hardening-local.")
atexit.register(shutil.rmtree, LOCAL_DIR, True)


def send_timeout_partial(on_thread, how="raw"):
    """A whole write of 8 MiB to a peer that never reads: timeout-error after part went out
    (how: "raw", c.raw.write; "stream", c.stream.write then flush)."""
    c, a, listener = pair()
    data = bytes(8 << 20)
    box = {}
    done = threading.Event()
    try:
        c.set_option("send_buffer", 4096)
        a.set_option("receive_buffer", 4096)
        c.set_option("send_timeout", 0.2)

        def write():
            t0 = time.monotonic()
            try:
                if how == "raw":
                    box["n"] = c.raw.write(data)
                else:
                    box["n"] = c.stream.write(data)
                    c.stream.flush()
            except BaseException as e:  # noqa: B902 - handed to the main thread
                box["e"] = e
            box["took"] = time.monotonic() - t0
            done.set()

        def watchdog():  # closing wakes a write that never times out
            if not done.wait(5):
                box["fired"] = True
                c.close()

        dog = threading.Thread(target=watchdog)
        dog.start()
        if on_thread:
            t = threading.Thread(target=write)
            t.start()
            t.join(10)
        else:
            write()
        dog.join(10)
        got_part = bool(usocket.wait_for_input([a], 0, ready_only=True)[0])
    finally:
        closing(c, a, listener)
    assert not box.get("fired"), f"the write was still blocked after 5 s (closed then: {box.get('e')!r})"
    assert got_part, "setup: nothing reached the peer, so no part of the data went out"
    e = box.get("e")
    if e is None:
        raise AssertionError(f"{how} write returned {box.get('n')} of {len(data)} bytes instead of raising "
                             f"timeout-error")
    if isinstance(e, usocket.TimeoutError):
        assert 0.18 <= box["took"] <= 2.0, f"timed out after {box['took'] * 1000:.0f} ms, not ~200"
        written = getattr(e, "written", None)
        assert written is None or 0 < written < len(data), f".written is {written!r}"
    raise e


def send_timeout_partial_both(on_thread):
    """raw.write, then (on a second pair) .stream.write + flush: both timeout-error."""
    try:
        send_timeout_partial(on_thread, "raw")
    except usocket.TimeoutError:
        pass
    send_timeout_partial(on_thread, "stream")


def f_send_timeout_partial():
    send_timeout_partial_both(False)


def f_send_timeout_partial_thread():
    send_timeout_partial_both(True)


def f_host_by_name_ipv4_first():
    hosts = usocket.get_hosts_by_name(DUAL)
    assert hosts[:1] == ["::1"] and "127.0.0.1" in hosts, (
        f"setup: the resolver gives {hosts}, not ::1 first and 127.0.0.1 after it; the fault cannot tell")
    got = usocket.get_host_by_name(DUAL)
    assert got == "127.0.0.1", f"wrong result: get_host_by_name gave {got!r}, not '127.0.0.1'"


def main_thread_syscalls(fn):
    """fn() on this (the main) thread while another thread samples the system
    call this thread is in, every half millisecond: (fn's value, Counter)."""
    tid = threading.get_native_id()
    counts = collections.Counter()
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            counts[thread_syscall(tid)] += 1
            time.sleep(0.0005)

    t = threading.Thread(target=sample)
    t.start()
    try:
        r = fn()
    finally:
        stop.set()
        t.join()
    counts.pop(-1, None)
    return r, counts


def f_wait_timeout_on_nothing():
    lib = usocket._ffi.lib
    n = c_size_t()
    rc, core = main_thread_syscalls(lambda: lib.usocket_wait_for_input(None, 0, 200, None, byref(n), None))
    assert rc == 0 and core, f"setup: the core's own wait on nothing gave {rc}, samples {dict(core)}"
    t0 = time.monotonic()
    (ready, _left), mine = main_thread_syscalls(lambda: usocket.wait_for_input([], 0.2, ready_only=True))
    took = time.monotonic() - t0
    assert ready == [] and 0.18 <= took <= 0.4, f"wrong result: {ready!r} after {took * 1000:.0f} ms"
    want = core.most_common(1)[0][0]
    got = mine.most_common(1)[0][0] if mine else None
    assert got == want, (f"the wait sat in system call {got} ({dict(mine)}), not {want}, the one of the core's "
                         f"wait on nothing: the binding does not ask the core")


def udp_server_with_timeout(timeout):
    srv = usocket.socket_server(LO4, 0, lambda d: d, protocol="datagram", timeout=timeout, in_new_thread=True)
    srv.stop()
    srv.wait(5)


def f_udp_server_timeout_negative():
    udp_server_with_timeout(-1)


def f_udp_server_timeout_too_large():
    udp_server_with_timeout(2147484)


def udp_echo(u, data):
    u.send(data)
    try:
        got = u.receive()[0]
    except usocket.TimeoutError:
        raise AssertionError(f"no reply to {data!r} within 2 s") from None
    assert got == data, f"reply {got!r} to {data!r}"


def f_udp_server_timeout_keeps_serving():
    srv = usocket.socket_server(LO4, 0, lambda d: d, protocol="datagram", timeout=0.05, in_new_thread=True)
    try:
        u = usocket.socket_connect(LO4, srv.local_port, protocol="datagram", timeout=2)
        try:
            udp_echo(u, b"a")
            ready, _ = usocket.wait_for_input([u], 0.3, ready_only=True)  # idle: six timeouts of 50 ms
            assert not ready, "something arrived while the client sent nothing"
            udp_echo(u, b"b")
        finally:
            u.close()
    finally:
        srv.stop()
        assert srv.wait(5), "the server did not end within 5 s of its stop"


def greet(stream):
    stream.write(b"hi\n")


def f_server_accept_reset():
    srv = usocket.socket_server(LO4, 0, greet, in_new_thread=True)
    try:
        c1 = usocket.socket_connect(LO4, srv.local_port, connect_timeout=2)
        linger0(c1)
        c1.close()  # RST while it waits in the accept queue
        c2 = usocket.socket_connect(LO4, srv.local_port, connect_timeout=2, timeout=2)
        try:
            try:
                line = c2.stream.readline()
            except usocket.TimeoutError:
                raise AssertionError("the second client was not served within 2 s") from None
            assert line == b"hi\n", f"the second client got {line!r}"
        finally:
            c2.close()
    finally:
        srv.stop()
        srv.wait(5)


EMFILE_CHILD = r"""
import errno, os, resource, sys, time
sys.path.insert(0, sys.argv[1])
import usocket
srv = usocket.socket_server("127.0.0.1", 0, lambda s: s.write(b"hi\n"), in_new_thread=True)
print(srv.local_port, flush=True)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
fds = []
while len(fds) < 200:
    try:
        fds.append(os.open("/dev/null", os.O_RDONLY))
    except OSError as e:
        assert e.errno == errno.EMFILE, e
        break
assert len(fds) < 200
print("full", flush=True)
sys.stdin.readline()  # the client has connected
cpu0 = time.process_time()
time.sleep(0.3)  # out of descriptors for 300 ms
cpu = time.process_time() - cpu0
for fd in fds:
    os.close(fd)
print(f"freed {cpu * 1000:.0f}", flush=True)
sys.stdin.readline()
srv.stop()
"""


def readline_within(fd, seconds):
    """One line from descriptor fd, or AssertionError when none comes within seconds."""
    deadline = time.monotonic() + seconds
    buf = b""
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"the child said nothing more within {seconds} s (so far {buf!r})")
        ch = os.read(fd, 1)
        if not ch:
            break
        buf += ch
    return buf.decode()


def f_server_accept_emfile():
    child = subprocess.Popen([sys.executable, "-c", EMFILE_CHILD, str(BINDING)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, bufsize=0)
    out = child.stdout.fileno()
    try:
        line = readline_within(out, 20)
        assert line.strip().isdigit(), f"setup: the child said {line!r}, not its server's port (its stderr is above)"
        port = int(line)
        line = readline_within(out, 10)
        assert line.strip() == "full", f"setup: the child said {line!r}, not that its descriptors are used up"
        c = usocket.socket_connect(LO4, port, connect_timeout=2, timeout=3)
        try:
            child.stdin.write(b"go\n")
            freed = readline_within(out, 10).split()
            t0 = time.monotonic()
            try:
                line = c.stream.readline()
            except usocket.TimeoutError:
                raise AssertionError("the client was not served within 3 s of the descriptors' free") from None
            took = time.monotonic() - t0
        finally:
            c.close()
        assert freed[:1] == ["freed"], f"setup: the child said {freed}"
        assert line == b"hi\n", f"the client got {line!r}"
        assert int(freed[1]) <= 150, f"the child used {freed[1]} ms of CPU in 300 ms out of descriptors (a busy loop)"
        assert took <= 2.5, f"served {took * 1000:.0f} ms after the free"
    finally:
        try:
            child.stdin.write(b"done\n")
            child.stdin.close()
        except OSError:
            pass
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        child.stdout.close()


def local(name):
    p = Path(LOCAL_DIR) / name
    if os.path.lexists(p):
        os.unlink(p)
    return p


def make_stale(path):
    s = stdlib_socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()  # Python never removes the file: a stale socket file


def make_regular(path):
    path.write_text("keep")


def local_serves(listener, path):
    c = usocket.socket_connect(path, None, connect_timeout=2)
    try:
        ready, _ = usocket.wait_for_input([listener], 2, ready_only=True)
        if not ready:
            return False
        listener.accept().close()
        return True
    finally:
        c.close()


def f_local_path_too_long():
    p = Path(LOCAL_DIR + "/" + "x" * (108 - len(LOCAL_DIR) - 1))
    assert len(str(p)) == 108
    try:
        closing(usocket.socket_listen(p, None))
    except usocket.InvalidArgumentError:
        pass
    else:
        raise AssertionError("listen on a 108-byte path succeeded")
    closing(usocket.socket_connect(p, None, connect_timeout=2))


def f_local_stale_no_reuse():
    p = local("stale.sock")
    make_stale(p)
    try:
        closing(usocket.socket_listen(p, None))
    finally:
        os.unlink(p)


def f_local_stale_reuse():
    p = local("stale.sock")
    make_stale(p)
    try:
        listener = usocket.socket_listen(p, None, reuse_address=True)
    except BaseException:
        os.unlink(p)
        raise
    try:
        assert local_serves(listener, p), "the new listener does not accept"
    finally:
        listener.close()
    assert not os.path.lexists(p), "closing the listener left its file"


def f_local_live_reuse():
    p = local("live.sock")
    live = usocket.socket_listen(p, None)
    try:
        try:
            closing(usocket.socket_listen(p, None, reuse_address=True))
        except usocket.AddressInUseError:
            assert local_serves(live, p), "address-in-use, but the live listener no longer accepts"
            raise
    finally:
        live.close()


def f_local_connect_missing():
    p = local("missing.sock")
    try:
        closing(usocket.socket_connect(p, None, connect_timeout=2))
    except usocket.SocketError as e:
        assert isinstance(e, FileNotFoundError), f"{type(e).__name__} ({e.condition}) is not a FileNotFoundError"
        assert e.errno == errno.ENOENT, f"errno {e.errno}, not ENOENT"
        raise


def f_local_connect_stale():
    p = local("stale.sock")
    make_stale(p)
    try:
        closing(usocket.socket_connect(p, None, connect_timeout=2))
    finally:
        os.unlink(p)


def f_local_regular_file_listen():
    p = local("file")
    make_regular(p)
    try:
        got = []
        for reuse in (False, True):
            try:
                closing(usocket.socket_listen(p, None, reuse_address=reuse))
                got.append(None)
            except usocket.SocketError as e:
                got.append(e)
        assert p.read_text() == "keep", "the regular file was changed"
        names = [e.condition if e else "ok" for e in got]
        assert names[0] == names[1], f"{names[0]} without reuse_address, {names[1]} with it"
        if got[0]:
            raise got[0]
    finally:
        if os.path.lexists(p):
            os.unlink(p)


def f_local_regular_file_connect():
    p = local("file")
    make_regular(p)
    try:
        closing(usocket.socket_connect(p, None, connect_timeout=2))
    finally:
        os.unlink(p)


def f_peer_credentials_tcp():
    c, a, listener = pair()
    try:
        return c.peer_credentials
    finally:
        closing(c, a, listener)


def f_local_path_tcp():
    c, a, listener = pair()
    try:
        return c.local_path
    finally:
        closing(c, a, listener)


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


def na_null_out_pointer():
    # The binding's calls take Python objects and return their results:
    # no public function has a parameter for an out-pointer, and a ctypes
    # NULL pointer where the C API takes a pointer (the host) is refused by
    # the binding (TypeError) before any core call.
    for name in dir(usocket):
        fn = getattr(usocket, name)
        if name.startswith("_") or not callable(fn) or isinstance(fn, type):
            continue
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            continue
        for p in params.values():
            assert p.name not in ("out", "result", "ptr", "pointer"), f"usocket.{name} has a parameter {p.name}"
    with pytest.raises(TypeError):
        usocket.socket_connect(ctypes.c_char_p(None), 80)


def na_huge_length():
    # No Python buffer can claim more than PTRDIFF_MAX (sys.maxsize) bytes,
    # and a read asked for more than that is cut to what a buffer holds (or
    # refused by Python itself).
    assert sys.maxsize == 2**63 - 1
    with pytest.raises(OverflowError):
        bytearray(sys.maxsize + 1)

    class Huge:
        def __len__(self):
            return sys.maxsize + 1

    with pytest.raises(OverflowError):
        len(Huge())
    c, a, listener = pair()
    try:
        a.raw.write(b"x")
        try:
            got = c.raw.read(2**64)
        except (OverflowError, ValueError, MemoryError):
            return  # refused in Python, before any buffer is handed to the core
        assert got == b"x", f"a read of 2**64 bytes gave {got!r}"
    finally:
        closing(c, a, listener)


def na_ipv6_only():
    for name in ("ipv6_only", "IPV6_ONLY", "ipv6_only_p"):
        assert not hasattr(usocket, name), f"usocket.{name} exists: the fault can be expressed; run it"


def lacks(cls, *names):
    def check():
        for n in names:
            assert not hasattr(cls, n), f"{cls.__name__} has {n}: the fault can be expressed; run it"
    return check


NA_CHECKS = {
    "read-after-close": na_read_after_close,
    "null-out-pointer": na_null_out_pointer,
    "huge-length": na_huge_length,
    "host-by-name-ipv6-only": na_ipv6_only,
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
    # Every n/a claim of this runner is checked: a claim without a check
    # would pass whatever the binding does.
    check = NA_CHECKS.get(row["id"])
    assert check is not None, f"{row['id']}: no check of its n/a reason ({row['python']})"
    check()
