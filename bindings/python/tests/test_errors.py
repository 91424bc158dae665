"""The exception hierarchy: every class, its built-in parent, and real failures."""

from __future__ import annotations

import builtins
import errno
import socket as stdlib_socket
import threading

import pytest

import usocket
from usocket import _ffi, errors

ALL_CODES = list(range(-1, -30, -1))

BUILTIN_PARENTS = {
    "ConnectionRefusedError": builtins.ConnectionRefusedError,
    "ConnectionAbortedError": builtins.ConnectionAbortedError,
    "ConnectionResetError": builtins.ConnectionResetError,
    "TimeoutError": builtins.TimeoutError,
    "ShutdownError": builtins.BrokenPipeError,
    "OperationNotPermittedError": builtins.PermissionError,
    "InvalidArgumentError": ValueError,
    "NsHostNotFoundError": stdlib_socket.gaierror,
    "NsTryAgainCondition": stdlib_socket.gaierror,
    "NsNoRecoveryError": stdlib_socket.gaierror,
    "NsUnknownError": stdlib_socket.gaierror,
}


@pytest.mark.parametrize("code", ALL_CODES)
def test_every_code_has_its_class(code):
    cls = errors.exception_class(code)
    assert issubclass(cls, usocket.SocketError) and issubclass(cls, OSError)
    assert cls.code == code
    name = _ffi.error_name(code)
    assert cls.condition == name
    camel = "".join(part.capitalize() for part in name.split("-"))
    assert cls.__name__ == camel
    assert getattr(usocket, camel) is cls
    assert cls.__module__ == "usocket"
    parent = BUILTIN_PARENTS.get(camel)
    if parent is not None:
        assert issubclass(cls, parent)
    e = cls("a message", errno.EIO, code)
    assert isinstance(e, cls) and e.errno == errno.EIO and e.strerror == "a message"
    assert e.message == "a message" and e.code == code
    assert "a message" in str(e)
    e2 = cls("no errno")
    assert e2.errno is None and str(e2) == "no errno"


def test_name_service_hierarchy():
    assert issubclass(usocket.NsHostNotFoundError, usocket.NsError)
    assert issubclass(usocket.NsNoRecoveryError, usocket.NsError)
    assert issubclass(usocket.NsUnknownError, usocket.NsError)
    assert issubclass(usocket.NsError, usocket.NsCondition)
    assert issubclass(usocket.NsTryAgainCondition, usocket.NsCondition)
    assert not issubclass(usocket.NsTryAgainCondition, usocket.NsError)


def test_an_unknown_code_gets_a_generic_class():
    cls = errors.exception_class(-1000)
    assert cls is usocket.UnknownError  # the core names it "unknown-error"


def test_condition_classes_cover_the_module():
    classes = errors.condition_classes()
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type) and obj is not usocket.SocketError:
            if obj is usocket.PathNotFoundError:  # unknown-error with ENOENT: a refinement
                assert issubclass(obj, classes[obj.condition]) and issubclass(obj, FileNotFoundError)
                continue
            assert classes[obj.condition] is obj


# -- real failures over loopback, each with the core's message and errno


def test_connection_refused():
    with usocket.socket_listen("127.0.0.1", 0) as ls:
        port = ls.local_port
    with pytest.raises(ConnectionRefusedError) as info:
        usocket.socket_connect("127.0.0.1", port)
    e = info.value
    assert isinstance(e, usocket.ConnectionRefusedError)
    assert e.errno == errno.ECONNREFUSED
    assert e.code == -9 and e.condition == "connection-refused-error"
    assert str(port) in str(e)


def test_address_in_use():
    with usocket.socket_listen("127.0.0.1", 0) as ls:
        with pytest.raises(usocket.AddressInUseError) as info:
            usocket.socket_listen("127.0.0.1", ls.local_port)
        assert info.value.errno == errno.EADDRINUSE


def test_address_not_available():
    with pytest.raises(usocket.AddressNotAvailableError) as info:
        usocket.socket_listen("192.0.2.1", 0)  # TEST-NET-1: not an address of this host
    assert info.value.errno == errno.EADDRNOTAVAIL


def test_timeout(pair):
    c, a = pair
    a.set_option("receive_timeout", 0.05)
    with pytest.raises(TimeoutError) as info:
        a.raw.read(1)
    assert isinstance(info.value, usocket.TimeoutError)
    assert info.value.code == -23


def test_invalid_handle_after_close(pair):
    c, a = pair
    a.close()
    with pytest.raises(usocket.InvalidHandleError):
        _ = a.raw
    with pytest.raises(usocket.InvalidHandleError) as info:
        a.option("tcp_nodelay")
    assert "closed" in str(info.value)
    with pytest.raises(usocket.InvalidHandleError):
        _ = a.local_name
    with pytest.raises(usocket.InvalidHandleError):
        a.shutdown("both")


def test_connection_reset(pair):
    c, a = pair
    a.raw.write(b"unread data")
    assert usocket.wait_for_input(c, timeout=5, ready_only=True)[0] == [c]
    c.close()  # closing with unread input sends RST
    with pytest.raises(ConnectionResetError) as info:
        for _ in range(100):
            if not a.raw.read(10):
                pytest.fail("end of file instead of a reset")
    assert isinstance(info.value, usocket.ConnectionResetError)
    assert info.value.errno == errno.ECONNRESET


def test_shutdown_error_writing_to_a_gone_peer(pair):
    c, a = pair
    c.close()
    with pytest.raises((BrokenPipeError, ConnectionResetError)) as info:
        for _ in range(1000):  # the first writes may still be accepted
            a.raw.write(b"x" * 65536)
    # EPIPE (shutdown-error) here; a reset racing it would be connection-reset-error
    assert isinstance(info.value, (usocket.ShutdownError, usocket.ConnectionResetError))


def test_shutdown_error_after_own_shutdown(pair):
    c, a = pair
    c.shutdown("output")
    with pytest.raises(usocket.ShutdownError) as info:
        c.raw.write(b"after shutdown")
    assert info.value.errno == errno.EPIPE


def test_wrong_kind(udp_server):
    with pytest.raises(usocket.WrongKindError):
        udp_server.set_option("tcp_nodelay", True)


def test_invalid_argument_from_the_core(pair):
    c, a = pair
    rc = _ffi.lib.usocket_shutdown(c._h, 99)
    assert rc == -1
    e = errors.last_error(rc)
    assert isinstance(e, usocket.InvalidArgumentError) and isinstance(e, ValueError)
    assert "99" in str(e)


def test_errors_are_per_thread(pair):
    c, a = pair
    rc = _ffi.lib.usocket_shutdown(c._h, 99)
    box = {}

    def other():
        with usocket.socket_listen("127.0.0.1", 0) as ls:
            port = ls.local_port
        try:
            usocket.socket_connect("127.0.0.1", port)
        except usocket.SocketError as e:
            box["e"] = e

    t = threading.Thread(target=other)
    t.start()
    t.join(10)
    assert isinstance(box["e"], usocket.ConnectionRefusedError)
    assert isinstance(errors.last_error(rc), usocket.InvalidArgumentError)


def test_check_helper():
    errors.check(0)
    rc = _ffi.lib.usocket_close(0)
    with pytest.raises(usocket.InvalidHandleError):
        errors.check(rc, "closing nothing")
