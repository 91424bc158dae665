"""Socket objects, their streams, connect/listen and name resolution."""

from __future__ import annotations

import io
import ipaddress
import math
import os
import random
import threading
import time
import warnings
from ctypes import byref, c_bool, c_char, c_int32, c_int64, c_size_t, c_uint32, c_uint64, create_string_buffer, pointer
from typing import Any, List, NamedTuple, Optional, Tuple, Union

from . import _ffi
from ._ffi import Address, ConnectOptions, ListenOptions, lib
from .errors import InvalidArgumentError, SocketError, last_error

# ---------------------------------------------------------------- constants

from ._constants import (  # noqa: E402  (the header's values, generated)
    USOCKET_DATAGRAM,
    USOCKET_DEFAULT_BACKLOG,
    USOCKET_ERR_INVALID_ARGUMENT,
    USOCKET_ERR_INVALID_HANDLE,
    USOCKET_ERR_NS_HOST_NOT_FOUND,
    USOCKET_ERR_TIMEOUT,
    USOCKET_FAMILY_LOCAL,
    USOCKET_INTERRUPT_SLICE_MS,
    USOCKET_KIND_DATAGRAM,
    USOCKET_KIND_STREAM,
    USOCKET_KIND_STREAM_SERVER,
    USOCKET_LOCAL_PATH_MAX,
    USOCKET_MAX_DATAGRAM_PACKET_SIZE,
    USOCKET_MAX_TIMEOUT_MS,
    USOCKET_OPT_BROADCAST,
    USOCKET_OPT_KEEPALIVE,
    USOCKET_OPT_RECEIVE_BUFFER,
    USOCKET_OPT_RECEIVE_TIMEOUT,
    USOCKET_OPT_REUSE_ADDRESS,
    USOCKET_OPT_SEND_BUFFER,
    USOCKET_OPT_SEND_TIMEOUT,
    USOCKET_OPT_TCP_NODELAY,
    USOCKET_SHUT_BOTH,
    USOCKET_SHUT_INPUT,
    USOCKET_SHUT_OUTPUT,
    USOCKET_STREAM,
)

#: usocket's ``*wildcard-host*``: every local IPv4 interface.
WILDCARD_HOST = "0.0.0.0"
#: usocket's ``*auto-port*``: let the OS pick a free port.
AUTO_PORT = 0
#: usocket's ``+max-datagram-packet-size+``.
MAX_DATAGRAM_PACKET_SIZE = USOCKET_MAX_DATAGRAM_PACKET_SIZE
#: The longest Unix-domain socket path (without its NUL) that fits ``sun_path``.
LOCAL_PATH_MAX = USOCKET_LOCAL_PATH_MAX

STREAM = USOCKET_STREAM
DATAGRAM = USOCKET_DATAGRAM

_ERR_INVALID_HANDLE = USOCKET_ERR_INVALID_HANDLE
_ERR_TIMEOUT = USOCKET_ERR_TIMEOUT

_KIND_STREAM = USOCKET_KIND_STREAM
_KIND_STREAM_SERVER = USOCKET_KIND_STREAM_SERVER
_KIND_DATAGRAM = USOCKET_KIND_DATAGRAM

_OPT_RECEIVE_TIMEOUT = USOCKET_OPT_RECEIVE_TIMEOUT
_OPT_SEND_TIMEOUT = USOCKET_OPT_SEND_TIMEOUT

#: Longest a blocking call stays inside the core before
#: Python gets a chance to run signal handlers (Ctrl-C), in milliseconds:
#: the header's ``USOCKET_INTERRUPT_SLICE_MS``.
SLICE_MS = USOCKET_INTERRUPT_SLICE_MS

_INT31 = (1 << 31) - 1

_raw_read_for = _ffi.raw["usocket_read_for"]
_raw_write_some = _ffi.raw["usocket_write_some"]
_raw_send = _ffi.raw["usocket_send"]
_raw_receive_for = _ffi.raw["usocket_receive_for"]
_raw_accept_for = _ffi.raw["usocket_accept_for"]
_raw_send_local = _ffi.raw["usocket_send_local"]
_raw_receive_local = _ffi.raw["usocket_receive_local"]
_from_buffer = c_char.from_buffer
_get_ident = threading.get_ident
_monotonic = time.monotonic
_ceil = math.ceil
_MAIN_IDENT = threading.main_thread().ident
_RAW_MAX = _ffi.RAW_MAX_LEN


def _after_fork_in_child() -> None:
    global _MAIN_IDENT
    _MAIN_IDENT = threading.main_thread().ident


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

# Receive buffers (ctypes char arrays) shared by every socket: a call pops
# one, so concurrent calls never share a buffer; at most _POOL_MAX are kept,
# none larger than _POOL_KEEP bytes.
_buffers: List[Any] = []
_POOL_MAX = 16
_POOL_KEEP = 1 << 18
_MIN_BUFFER = 65536


# ---------------------------------------------------------------- argument checks


def host_arg(host: Any, what: str = "host") -> bytes:
    """A host argument as the core wants it: UTF-8 bytes without NUL.

    Accepts a str (dotted quad, IPv6 literal or name), an ``ipaddress``
    address, or 4 or 16 octets (bytes, bytearray, tuple or list of ints), as
    usocket accepts octet vectors.
    """
    if isinstance(host, str):
        text = host
    elif isinstance(host, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        text = str(host)
    elif isinstance(host, (bytes, bytearray, tuple, list)) and len(host) in (4, 16):
        try:
            text = str(ipaddress.ip_address(bytes(host)))
        except (ValueError, TypeError):
            raise InvalidArgumentError(f"{what} {host!r} is not 4 or 16 octets", None, USOCKET_ERR_INVALID_ARGUMENT) from None
    else:
        raise TypeError(f"{what} must be a str (a name or an address), not {type(host).__name__}")
    if "\0" in text:
        raise InvalidArgumentError(f"{what} {text!r} contains a NUL character", None, USOCKET_ERR_INVALID_ARGUMENT)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidArgumentError(f"{what} {text!r} is not valid Unicode: {e}", None, USOCKET_ERR_INVALID_ARGUMENT) from None


def path_arg(path: Any, what: str = "path") -> bytes:
    """An ``os.PathLike`` (or str/bytes) Unix-domain socket path as UTF-8 bytes.

    A path whose text starts with ``@`` names Linux's abstract namespace.
    """
    try:
        text = os.fspath(path)
    except TypeError:
        raise TypeError(f"{what} must be a str or os.PathLike, not {type(path).__name__}") from None
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidArgumentError(f"{what} {text!r} is not UTF-8: {e}", None, USOCKET_ERR_INVALID_ARGUMENT) from None
    if not text:
        raise InvalidArgumentError(f"{what} is empty", None, USOCKET_ERR_INVALID_ARGUMENT)
    if "\0" in text:
        raise InvalidArgumentError(f"{what} {text!r} contains a NUL character", None, USOCKET_ERR_INVALID_ARGUMENT)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidArgumentError(f"{what} {text!r} is not valid Unicode: {e}", None, USOCKET_ERR_INVALID_ARGUMENT) from None


def opt_host_arg(host: Any, what: str = "host") -> Optional[bytes]:
    return None if host is None else host_arg(host, what)


def port_arg(port: Any, what: str = "port", allow_none: bool = False) -> int:
    if port is None:
        if allow_none:
            return 0
        raise TypeError(f"{what} must be an int from 0 to 65535, not None")
    if not isinstance(port, int) or isinstance(port, bool):
        try:
            port = port.__index__()
        except AttributeError:
            raise TypeError(f"{what} must be an int from 0 to 65535, not {type(port).__name__}") from None
    if not 0 <= port <= 65535:
        raise InvalidArgumentError(f"{what} {port} is out of range: ports are 0 to 65535", None, USOCKET_ERR_INVALID_ARGUMENT)
    return port


def seconds_to_ms(seconds: Any, what: str = "timeout") -> int:
    """Seconds (int or float, None for none) as whole milliseconds, rounded up; None -> 0."""
    if seconds is None:
        return 0
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        try:
            seconds = float(seconds)
        except (TypeError, ValueError):
            raise TypeError(f"{what} must be a number of seconds or None, not {type(seconds).__name__}") from None
    if seconds != seconds:  # NaN
        raise InvalidArgumentError(f"{what} must be a number of seconds, not NaN", None, USOCKET_ERR_INVALID_ARGUMENT)
    if seconds < 0:
        raise InvalidArgumentError(f"{what} must not be negative, got {seconds}", None, USOCKET_ERR_INVALID_ARGUMENT)
    if seconds == math.inf:
        return 0
    return min(int(math.ceil(seconds * 1000.0)), _INT31)


def ms_to_seconds(ms: int) -> Optional[float]:
    return None if ms <= 0 else ms / 1000.0


def protocol_arg(protocol: Any) -> int:
    if protocol in ("stream", ":stream", "tcp", STREAM) and not isinstance(protocol, bool):
        return STREAM
    if protocol in ("datagram", ":datagram", "udp", DATAGRAM) and not isinstance(protocol, bool):
        return DATAGRAM
    raise InvalidArgumentError(f"protocol must be 'stream' or 'datagram', not {protocol!r}", None, USOCKET_ERR_INVALID_ARGUMENT)


def element_type_arg(element_type: Any) -> type:
    if element_type is bytes or element_type in ("bytes", "binary", "octet", "(unsigned-byte 8)"):
        return bytes
    if element_type is str or element_type in ("str", "text", "character"):
        return str
    raise InvalidArgumentError(f"element_type must be bytes or str, not {element_type!r}", None, USOCKET_ERR_INVALID_ARGUMENT)


def _size_arg(size: Any, what: str, minimum: int = 0) -> int:
    if not isinstance(size, int) or isinstance(size, bool):
        try:
            size = size.__index__()
        except AttributeError:
            raise TypeError(f"{what} must be an int, not {type(size).__name__}") from None
    if size < minimum:
        raise InvalidArgumentError(f"{what} must be at least {minimum}, got {size}", None, USOCKET_ERR_INVALID_ARGUMENT)
    return size


# ---------------------------------------------------------------- addresses

_address_cache: dict = {}


def format_address(a: Address) -> str:
    """The text form of a ``usocket_address``'s IP, as the core writes it."""
    key = bytes(a)[:17]
    text = _address_cache.get(key)
    if text is None:
        buf = create_string_buffer(64)
        rc = lib.usocket_address_format(byref(a), buf, 64)
        if rc:
            raise last_error(rc)
        text = buf.value.decode("ascii")
        if len(_address_cache) >= 4096:
            _address_cache.clear()
        _address_cache[key] = text
    return text


# ---------------------------------------------------------------- options

_OPTIONS = {
    # name: (code, kind)
    "receive_timeout": (USOCKET_OPT_RECEIVE_TIMEOUT, "seconds"),
    "send_timeout": (USOCKET_OPT_SEND_TIMEOUT, "seconds"),
    "tcp_nodelay": (USOCKET_OPT_TCP_NODELAY, "bool"),
    "tcp_no_delay": (USOCKET_OPT_TCP_NODELAY, "bool"),
    "reuse_address": (USOCKET_OPT_REUSE_ADDRESS, "bool"),
    "keepalive": (USOCKET_OPT_KEEPALIVE, "bool"),
    "keep_alive": (USOCKET_OPT_KEEPALIVE, "bool"),
    "broadcast": (USOCKET_OPT_BROADCAST, "bool"),
    "receive_buffer": (USOCKET_OPT_RECEIVE_BUFFER, "int"),
    "send_buffer": (USOCKET_OPT_SEND_BUFFER, "int"),
}

#: The option names ``option``/``set_option`` know (aliases included).
OPTION_NAMES = tuple(sorted(_OPTIONS))


def _option_lookup(name: Any) -> Tuple[int, str]:
    if not isinstance(name, str):
        raise TypeError(f"option name must be a str, not {type(name).__name__}")
    key = name.lstrip(":").replace("-", "_").lower()
    try:
        return _OPTIONS[key]
    except KeyError:
        raise InvalidArgumentError(
            f"unknown socket option {name!r}; known: {', '.join(OPTION_NAMES)}", None, USOCKET_ERR_INVALID_ARGUMENT
        ) from None


# ---------------------------------------------------------------- sockets


class PeerCredentials(NamedTuple):
    """The process at the other end of a Unix-domain stream socket (SO_PEERCRED)."""

    pid: int
    uid: int
    gid: int



class _Core:
    """A core handle and the binding's per-handle state.

    The socket object and its raw stream both hold the _Core (and nothing
    holds the socket but the user), so no reference cycle runs through a
    stream: CPython 3.11's ``io.BufferedRWPair`` hides its reader and writer
    from the garbage collector, and a cycle through it would never be freed.
    The handle is closed by ``close()``, or when the last holder goes.
    """

    __slots__ = (
        "handle", "h", "closed", "fd", "rcv_ms", "rstep", "snd_ms", "untimed_writes", "lock", "owner", "__weakref__",
    )

    _core_close = staticmethod(lib.usocket_close)

    def __init__(self, handle: int) -> None:
        self.handle = handle
        self.h = c_uint64(handle)
        self.closed = False
        self.fd: Optional[int] = None
        # The socket's receive and send timeouts (ms, 0 for none) as the
        # user set them; None until a call needs one (then read from the
        # core once). ``set_option`` keeps them; the binding never changes
        # the socket's own timeouts.
        self.rcv_ms: Optional[int] = None
        self.snd_ms: Optional[int] = None
        # The first slice of a receive-like call: min(rcv_ms, SLICE_MS), or
        # SLICE_MS without a receive timeout; None until rcv_ms is known.
        self.rstep: Optional[int] = None
        # True once snd_ms is known to be 0 (no send timeout): writes' fast path.
        self.untimed_writes = False
        self.lock = threading.Lock()
        self.owner = "socket"

    def error(self, rc: int) -> SocketError:
        e = last_error(rc)
        if rc == _ERR_INVALID_HANDLE and self.closed:
            e.strerror = f"the socket is closed ({e.strerror})"
            e.args = (e.strerror,)
        return e

    def release(self) -> None:
        if self.closed:
            return
        self.closed = True
        rc = self._core_close(self.h)
        if rc and rc != _ERR_INVALID_HANDLE:
            raise last_error(rc)

    def fileno(self) -> int:
        if self.closed:
            return -1
        fd = self.fd
        if fd is None:
            out = c_int32()
            rc = lib.usocket_fd(self.h, byref(out))
            if rc:
                raise self.error(rc)
            fd = self.fd = out.value
        return fd

    def __del__(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            warnings.warn(
                f"unclosed usocket {self.owner} (handle {self.handle:#x})", ResourceWarning, stacklevel=2
            )
        except Exception:
            pass
        try:
            self._core_close(self.h)
        except Exception:
            pass

    # -- the user's timeouts

    def get_ms(self, option: int) -> int:
        v = c_int64()
        rc = lib.usocket_get_option(self.h, option, byref(v))
        if rc:
            raise self.error(rc)
        return v.value

    def load_rcv(self) -> int:
        return self.set_rcv(self.get_ms(_OPT_RECEIVE_TIMEOUT))

    def set_rcv(self, ms: int) -> int:
        self.rcv_ms = ms
        self.rstep = ms if 0 < ms < SLICE_MS else SLICE_MS
        return ms

    def load_snd(self) -> int:
        return self.set_snd(self.get_ms(_OPT_SEND_TIMEOUT))

    def set_snd(self, ms: int) -> int:
        self.snd_ms = ms
        self.untimed_writes = ms <= 0
        return ms

    # -- Ctrl-C: slicing blocking calls
    #
    # Python runs signal handlers only on the main thread, between bytecodes,
    # and the core retries EINTR. So a blocking call goes to the core's
    # bounded calls (usocket_read_for, _accept_for, _receive_for,
    # _receive_local, _write_some) for at most SLICE_MS at a time, and the
    # binding counts the user's timeout from the start of the call. Every
    # thread does the same (a thread other than the main one merely wakes
    # every SLICE_MS while it waits), so the fast path needs no thread test:
    # when data is there the first slice does the whole call, one core call.
    # The socket's own SO_RCVTIMEO/SO_SNDTIMEO are never touched.

    def first_step(self) -> int:
        """The first slice of a receive-like call (ms)."""
        step = self.rstep
        if step is None:
            self.load_rcv()
            step = self.rstep
        return step  # type: ignore[return-value]

    def sliced(self, rc: int, first: int, call: Any) -> int:
        """After a first slice of ``first`` ms that timed out (so the call
        began ``first`` ms ago): ``call(step)`` again in slices until it does
        something else or the receive timeout, counted from the start of
        the call, has passed; the last status. The timeout is read from the
        core again here (C code may have set it), off the fast path."""
        if rc != _ERR_TIMEOUT:
            return rc
        start = _monotonic() - first / 1000.0
        user = self.load_rcv()
        while rc == _ERR_TIMEOUT:
            step = SLICE_MS
            if user > 0:
                left = user - (_monotonic() - start) * 1000.0
                if left <= 0:
                    break
                if left < SLICE_MS:
                    step = int(_ceil(left))
            rc = call(step)
        return rc


class Usocket:
    """usocket's ``usocket``: the base of every socket class.

    ``.state`` is ``None`` or ``"read"``, set by :func:`wait_for_input` and
    :meth:`WaitList.wait`. ``close()`` is idempotent; the socket is also a
    context manager, and the garbage collector closes a forgotten one (with a
    ResourceWarning) as a safety net.
    """

    def __init__(self, handle: int, element_type: type = bytes, local: bool = False) -> None:
        self._c = _Core(handle)
        self._c.owner = type(self).__name__
        self._handle = handle
        self._h = self._c.h
        self._element_type = element_type
        #: A Unix-domain socket (``local_path``/``peer_path``), not an IP one.
        self._local = local
        self.state: Optional[str] = None

    # -- identity

    @property
    def handle(self) -> int:
        """The core's handle (a ``usocket_t``), for C code in the same process."""
        return self._handle

    @property
    def closed(self) -> bool:
        return self._c.closed

    @property
    def _closed(self) -> bool:
        return self._c.closed

    @property
    def socket(self) -> "Usocket":
        """usocket's ``socket`` accessor: here, the object itself."""
        return self

    def fileno(self) -> int:
        """The OS descriptor, owned by the core (for selectors/asyncio); -1 once closed."""
        return self._c.fileno()

    def __repr__(self) -> str:
        cls = type(self).__name__
        if self._c.closed:
            return f"<usocket.{cls} handle={self._handle:#x} closed>"
        parts = [f"handle={self._handle:#x}"]
        if self._local:
            for what in ("local", "peer"):
                try:
                    path = getattr(self, what + "_path")
                except Exception:
                    continue
                if path:
                    parts.append(f"{what}={path!r}")
            return f"<usocket.{cls} {' '.join(parts)}>"
        try:
            host, port = self.local_name
            parts.append(f"local={_hostport(host, port)}")
        except Exception:
            pass
        if not isinstance(self, StreamServerSocket):
            try:
                host, port = self.peer_name
                parts.append(f"peer={_hostport(host, port)}")
            except Exception:
                pass
        return f"<usocket.{cls} {' '.join(parts)}>"

    def _error(self, rc: int) -> SocketError:
        return self._c.error(rc)

    # -- closing

    def _flush_before_close(self) -> None:
        pass

    def close(self) -> None:
        """Close the socket (and its stream). Closing again does nothing.

        Wakes any call blocked on the socket in another thread, which then
        raises :class:`InvalidHandleError`.
        """
        if self._c.closed:
            return
        try:
            self._flush_before_close()
        finally:
            self._c.release()

    def __enter__(self) -> "Usocket":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- names

    def _name(self, fn: Any) -> Tuple[str, int]:
        a = Address()
        rc = fn(self._h, byref(a))
        if rc:
            raise self._error(rc)
        return format_address(a), a.port

    @property
    def local_name(self) -> Tuple[str, int]:
        """``(address, port)`` of this end (usocket's get-local-name)."""
        return self._name(lib.usocket_local_name)

    @property
    def peer_name(self) -> Tuple[str, int]:
        """``(address, port)`` of the other end (usocket's get-peer-name)."""
        return self._name(lib.usocket_peer_name)

    @property
    def local_address(self) -> str:
        return self.local_name[0]

    @property
    def local_port(self) -> int:
        return self.local_name[1]

    @property
    def peer_address(self) -> str:
        return self.peer_name[0]

    @property
    def peer_port(self) -> int:
        return self.peer_name[1]

    # -- Unix-domain sockets

    @property
    def is_local(self) -> bool:
        """True for a Unix-domain socket."""
        return self._local

    def _path(self, fn: Any) -> str:
        cap = LOCAL_PATH_MAX + 1
        n = c_size_t()
        for _ in range(3):
            buf = create_string_buffer(cap)
            rc = fn(self._h, buf, cap, byref(n))
            if not rc:
                return buf.raw[: n.value].decode("utf-8", "surrogateescape")
            if rc != USOCKET_ERR_INVALID_ARGUMENT or n.value + 1 <= cap:
                raise self._error(rc)
            cap = n.value + 1
        raise self._error(rc)

    @property
    def local_path(self) -> str:
        """The path this Unix-domain socket is bound to ("@name" for an
        abstract name, "" when unnamed); WrongKindError on an IP socket."""
        return self._path(lib.usocket_local_path)

    @property
    def peer_path(self) -> str:
        """The path of the other end of a Unix-domain socket ("" when unnamed)."""
        return self._path(lib.usocket_peer_path)

    @property
    def peer_credentials(self) -> "PeerCredentials":
        """The peer process's ``(pid, uid, gid)`` (SO_PEERCRED) on a connected
        Unix-domain stream socket."""
        pid = c_int32()
        uid = c_uint32()
        gid = c_uint32()
        rc = lib.usocket_peer_credentials(self._h, byref(pid), byref(uid), byref(gid))
        if rc:
            raise self._error(rc)
        return PeerCredentials(pid.value, uid.value, gid.value)

    # -- options

    def option(self, name: str) -> Any:
        """usocket's ``socket-option``, by snake-case name.

        ``receive_timeout``/``send_timeout`` in seconds (``None`` for none),
        ``tcp_nodelay``, ``reuse_address``, ``keepalive``, ``broadcast`` as
        bools, ``receive_buffer``/``send_buffer`` in bytes.
        """
        code, kind = _option_lookup(name)
        v = c_int64()
        rc = lib.usocket_get_option(self._h, code, byref(v))
        if rc:
            raise self._error(rc)
        value = v.value
        if kind == "seconds":
            return ms_to_seconds(value)
        if kind == "bool":
            return bool(value)
        return value

    def set_option(self, name: str, value: Any) -> None:
        """Set an option by name (see :meth:`option`)."""
        code, kind = _option_lookup(name)
        if kind == "seconds":
            v = seconds_to_ms(value, name)
        elif kind == "bool":
            v = 1 if value else 0
        else:
            v = _size_arg(value, name, 1)
        c = self._c
        rc = lib.usocket_set_option(self._h, code, v)
        if rc:
            raise self._error(rc)
        if code == _OPT_RECEIVE_TIMEOUT:
            c.set_rcv(v)
        elif code == _OPT_SEND_TIMEOUT:
            c.set_snd(v)

    # -- misc

    def input_available(self) -> bool:
        """usocket's ``listen``: true when a read (accept, receive) would not block."""
        out = c_bool()
        rc = lib.usocket_input_available(self._h, byref(out))
        if rc:
            raise self._error(rc)
        return bool(out.value)


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# ---------------------------------------------------------------- stream sockets


class SocketIO(io.RawIOBase):
    """The raw binary stream of a :class:`StreamSocket`.

    ``readinto`` hands the caller's buffer to ``usocket_read_for`` (no copy);
    ``write`` hands the caller's bytes to ``usocket_write_some`` until it has written them
    all. Closing it closes the socket.
    """

    def __init__(self, sock: "StreamSocket") -> None:
        super().__init__()
        self._sock = sock._c  # the core state, not the socket object (see _Core)
        self._h = sock._h
        self._rpool = [pointer(c_size_t())]
        self._wpool = [pointer(c_size_t())]
        # 1 while a thread is inside a core write call (see StreamSocket.close).
        self._writer = 0

    @property
    def name(self) -> int:
        return self._sock.fileno()

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._sock.fileno()

    def readinto(self, b: Any) -> int:  # type: ignore[override]
        """Read what is there (at least one byte; 0 at end of file) into ``b``, with no copy."""
        try:
            p = byref(_from_buffer(b))
        except (TypeError, ValueError):
            return self._readinto_slow(b)
        t = type(b)
        n = b.nbytes if t is memoryview else len(b) if t is bytearray else memoryview(b).nbytes
        if n > _RAW_MAX:
            n = _RAW_MAX
        pool = self._rpool
        out = pool.pop() if pool else pointer(c_size_t())
        step = self._sock.rstep
        if step is None:
            step = self._sock.first_step()
        rc = _raw_read_for(self._h, p, n, step, out)
        if rc:
            self._again(rc, p, n, out, step)
        k = out[0]
        pool.append(out)
        return k

    def _again(self, rc: int, p: Any, n: int, out: Any, first: int) -> None:
        """After a first slice that failed: the next slices, or raise."""
        h = self._h

        def _in_core(step: int) -> int:
            return _raw_read_for(h, p, n, step, out)

        rc = self._sock.sliced(rc, first, _in_core)
        if rc:
            raise self._sock.error(rc)

    def _readinto_slow(self, b: Any) -> int:
        m = memoryview(b)
        if m.readonly:
            raise TypeError(f"readinto needs a writable buffer, not a read-only {type(b).__name__}")
        if m.nbytes == 0:
            return 0
        if not m.c_contiguous:
            raise TypeError("readinto needs a contiguous buffer")
        return self.readinto(m.cast("B"))

    def read(self, size: Optional[int] = -1) -> bytes:  # type: ignore[override]
        """Read at most ``size`` bytes (at least one; b"" at end of file); -1: to end of file."""
        if type(size) is int and 0 < size <= _MIN_BUFFER:
            # the fast path: a pooled buffer (every pooled one holds _MIN_BUFFER)
            bufs = _buffers
            buf = bufs.pop() if bufs else (c_char * _MIN_BUFFER)()
            pool = self._rpool
            out = pool.pop() if pool else pointer(c_size_t())
            step = self._sock.rstep
            if step is None:
                step = self._sock.first_step()
            rc = _raw_read_for(self._h, buf, size, step, out)
            if rc:
                try:
                    self._again(rc, buf, size, out, step)
                except BaseException:
                    bufs.append(buf)
                    raise
            data: bytes = buf[: out[0]]  # type: ignore[assignment]
            if len(bufs) < _POOL_MAX:
                bufs.append(buf)
            pool.append(out)
            return data
        if size is None or size < 0:
            return self.readall()
        if size == 0:
            return b""
        n = size if size < _RAW_MAX else _RAW_MAX
        bufs = _buffers
        buf = bufs.pop() if bufs else None
        if buf is None or len(buf) < n:
            buf = (c_char * (n if n > _MIN_BUFFER else _MIN_BUFFER))()
        pool = self._rpool
        out = pool.pop() if pool else pointer(c_size_t())
        step = self._sock.rstep
        if step is None:
            step = self._sock.first_step()
        try:
            rc = _raw_read_for(self._h, buf, n, step, out)
            if rc:
                self._again(rc, buf, n, out, step)
            data = buf[: out[0]]
        finally:
            if len(bufs) < _POOL_MAX and len(buf) <= _POOL_KEEP:
                bufs.append(buf)
        pool.append(out)
        return data

    def readall(self) -> bytes:
        """Read to end of file."""
        chunks: List[bytes] = []
        while True:
            data = self.read(65536)
            if not data:
                return b"".join(chunks)
            chunks.append(data)

    def write(self, b: Any) -> int:  # type: ignore[override]
        """Write all of ``b`` and return its length, or raise.

        Through ``usocket_write_some``, in slices of at most SLICE_MS (on the
        main thread Ctrl-C is handled between them), bounded by what is left
        of the send timeout. A send timeout raises :class:`TimeoutError` on
        every thread, even after part of ``b`` went out; its ``.written``
        says how much did.
        """
        if type(b) is bytes and self._sock.untimed_writes:
            # the fast path: bytes, no send timeout; one core call when it fits
            n = len(b)
            if n <= _RAW_MAX:
                pool = self._wpool
                out = pool.pop() if pool else pointer(c_size_t())
                self._writer = 1
                rc = _raw_write_some(self._h, b, n, SLICE_MS, out)
                self._writer = 0
                if not rc and out[0] == n:
                    pool.append(out)
                    return n
                done = 0 if rc else out[0]
                pool.append(out)
                return self._write_rest(b, b, n, done, rc, 0, 0.0)
        if type(b) is bytes:
            p: Any = b
            n = len(b)
        else:
            m = b if type(b) is memoryview else memoryview(b)
            n = m.nbytes
            if n == 0:
                return 0
            if m.readonly:
                p = m.tobytes()
            else:
                try:
                    p = byref(_from_buffer(m))
                except TypeError:
                    p = m.tobytes()
        c = self._sock
        user = c.snd_ms
        if user is None:
            user = c.load_snd()
        if user:
            start = _monotonic()
            step = user if user < SLICE_MS else SLICE_MS
        else:
            start = 0.0
            step = SLICE_MS
        pool = self._wpool
        out = pool.pop() if pool else pointer(c_size_t())
        if n <= _RAW_MAX:
            self._writer = 1
            rc = _raw_write_some(self._h, p, n, step, out)
            self._writer = 0
            if not rc and out[0] == n:
                pool.append(out)
                return n
            done = 0 if rc else out[0]
        else:
            rc = 0
            done = 0
        pool.append(out)
        return self._write_rest(b, p, n, done, rc, user, start)

    def _write_rest(self, b: Any, p: Any, n: int, done: int, rc: int, user: int, start: float) -> int:
        """The rest of a write that did not go in one call, in calls of
        usocket_write_some (SLICE_MS at most each), keeping the
        socket's send timeout (``user`` ms, from ``start``)."""
        c = self._sock
        h = self._h
        if rc == _ERR_TIMEOUT or done:
            # blocking from here on: read the send timeout again (C code may have set it)
            fresh = c.load_snd()
            if fresh > 0 and user <= 0:
                start = _monotonic()
            user = fresh
        view: Optional[memoryview] = None
        base = 0
        at = 0  # where p points, in b
        out = pointer(c_size_t())
        while True:
            if rc:
                if rc != _ERR_TIMEOUT:
                    raise c.error(rc)
                if user > 0 and (_monotonic() - start) * 1000.0 >= user:
                    e = c.error(rc)
                    e.written = done  # type: ignore[attr-defined]
                    raise e
                # a slice without room: Python looks at signals (main thread), then on
            elif done >= n:
                return n
            if done != at:
                at = done
                if view is None:
                    view = memoryview(p if type(p) is bytes else b)
                    if view.format != "B" or view.ndim != 1:
                        view = view.cast("B")
                    if view.readonly:  # copy what is left once, to point into it
                        view = memoryview(bytearray(view[done:]))
                        base = done
                p = byref(_from_buffer(view[done - base :]))
            k = n - done if n - done <= _RAW_MAX else _RAW_MAX
            step = SLICE_MS
            if user > 0:
                left = user - (_monotonic() - start) * 1000.0
                if left < SLICE_MS:
                    step = int(_ceil(left)) if left > 0 else 0
            self._writer = 1
            rc = _raw_write_some(h, p, k, step, out)
            self._writer = 0
            if not rc:
                done += out[0]

    def close(self) -> None:
        if self.closed:
            return
        try:
            super().close()
        finally:
            self._sock.release()


class StreamSocket(Usocket):
    """usocket's ``stream-usocket``: a connected TCP socket.

    ``.stream`` is a standard ``io`` object over it: a buffered binary
    stream (``io.BufferedRWPair``) for ``element_type=bytes``, an
    ``io.TextIOWrapper`` (UTF-8) for ``element_type=str``. Call ``flush()``
    to send what was written; closing the stream closes the socket.
    """

    #: Buffer size of ``.stream``.
    buffer_size = io.DEFAULT_BUFFER_SIZE

    def __init__(self, handle: int, element_type: type = bytes, local: bool = False) -> None:
        super().__init__(handle, element_type, local)
        self._stream: Optional[Union[io.BufferedRWPair, io.TextIOWrapper]] = None
        self._raw: Optional[SocketIO] = None

    @property
    def element_type(self) -> type:
        return self._element_type

    @property
    def raw(self) -> SocketIO:
        """The socket's unbuffered binary stream (an ``io.RawIOBase``), under ``.stream``.

        ``raw.readinto(buf)`` reads what is there (at least one byte, 0 at end
        of file) straight into ``buf``; ``raw.write(b)`` writes all of ``b``.
        Mixing it with ``.stream`` skips what ``.stream`` has buffered.
        """
        r = self._raw
        if r is None:
            with self._c.lock:
                r = self._raw
                if r is None:
                    if self._closed:
                        raise self._closed_error()
                    r = self._raw = SocketIO(self)
        return r

    @property
    def stream(self) -> Any:
        """The socket's ``io`` stream (made on first use, then the same object)."""
        s = self._stream
        if s is None:
            with self._c.lock:
                s = self._stream
                if s is None:
                    if self._closed:
                        raise self._closed_error()
                    raw = self._raw
                    if raw is None:
                        raw = self._raw = SocketIO(self)
                    s = io.BufferedRWPair(raw, raw, self.buffer_size)
                    if self._element_type is str:
                        s = io.TextIOWrapper(s, encoding="utf-8", errors="strict")  # type: ignore[arg-type]
                    self._stream = s
        return s

    def _closed_error(self) -> SocketError:
        from .errors import InvalidHandleError

        return InvalidHandleError("the socket is closed", None, _ERR_INVALID_HANDLE)

    def _flush_before_close(self) -> None:
        # Closing the stream flushes it, marks it closed for its users and
        # releases the handle (through the raw stream). When another thread
        # is blocked in a core write (it holds the stream's write lock, so a
        # flush would wait for it forever), release the handle first to wake
        # it; what is still buffered is then lost, as that write's data is.
        s = self._stream
        raw = self._raw
        # (the closing thread is not inside a write of its own: it is here)
        writer = raw._writer if raw is not None else 0
        if writer:
            self._c.release()
            try:
                if s is not None:
                    s.close()
                elif raw is not None:
                    raw.close()
            except (SocketError, ValueError):
                pass
            return
        if s is not None:
            s.close()
        elif raw is not None:
            raw.close()

    def shutdown(self, direction: str = "both") -> None:
        """usocket's ``socket-shutdown``: ``"input"``, ``"output"`` or ``"both"``.

        Flushes the stream before shutting down output.
        """
        how = {
            "input": USOCKET_SHUT_INPUT,
            "output": USOCKET_SHUT_OUTPUT,
            "both": USOCKET_SHUT_BOTH,
            "io": USOCKET_SHUT_BOTH,
            "read": USOCKET_SHUT_INPUT,
            "write": USOCKET_SHUT_OUTPUT,
        }.get(
            direction.lstrip(":").lower() if isinstance(direction, str) else direction  # type: ignore[arg-type]
        )
        if how is None:
            raise InvalidArgumentError(
                f"shutdown direction must be 'input', 'output' or 'both', not {direction!r}", None, USOCKET_ERR_INVALID_ARGUMENT
            )
        if how & USOCKET_SHUT_OUTPUT:
            s = self._stream
            if s is not None and not s.closed:
                s.flush()
        rc = lib.usocket_shutdown(self._h, how)
        if rc:
            raise self._error(rc)


class StreamServerSocket(Usocket):
    """usocket's ``stream-server-usocket``: a listening TCP socket."""

    @property
    def element_type(self) -> type:
        return self._element_type

    def accept(self, element_type: Any = None) -> StreamSocket:
        """usocket's ``socket-accept``: wait for a client and return its socket.

        ``element_type`` defaults to the listener's. Honours the listener's
        receive timeout (:class:`TimeoutError`).
        """
        et = self._element_type if element_type is None else element_type_arg(element_type)
        c = self._c
        out = c_uint64()
        p = byref(out)
        h = self._h
        first = c.rstep
        if first is None:
            first = c.first_step()
        rc = _raw_accept_for(h, first, p, None)
        if rc == _ERR_TIMEOUT:

            def _in_core(step: int) -> int:
                return _raw_accept_for(h, step, p, None)

            rc = c.sliced(rc, first, _in_core)
        if rc:
            raise self._error(rc)
        return StreamSocket(out.value, et, self._local)


def _new_dgram_scratch() -> Tuple[Any, Any, Any, Any]:
    a = Address()
    out = c_size_t()
    return (a, byref(a), out, pointer(out))


class DatagramSocket(Usocket):
    """usocket's ``datagram-usocket``: a UDP socket, connected or not, or a
    Unix-domain datagram socket (``is_local``: senders and destinations are
    paths, and a sender's port is ``None``)."""

    def __init__(
        self, handle: int, element_type: type = bytes, connected: Optional[bool] = None, local: bool = False
    ) -> None:
        super().__init__(handle, bytes, local)
        # Connected (to one peer, which is then every datagram's sender)?
        # None: find out on the first receive.
        self._connected = connected
        self._peer_cache: Any = None  # None: not known yet, False: unconnected, else (host, port)
        # per-call ctypes objects (popped, so concurrent calls never share one)
        self._scratch: List[Tuple[Any, Any, Any, Any]] = []
        # the last sender, formatted: (raw address bytes, host, port)
        self._last_from: Tuple[bytes, str, int] = (b"", "", 0)
        # the last destination host, encoded: (host object, bytes)
        self._last_host: Tuple[Any, Optional[bytes]] = (None, None)
        # out-parameters of the fast paths (popped: concurrent calls never share one)
        self._outs: List[Any] = []

    def send(self, data: Any, host: Any = None, port: Any = None) -> int:
        """usocket's ``socket-send``: send one datagram; returns the bytes sent.

        ``host``/``port`` are for an unconnected socket; leave them out on a
        connected one. On a Unix-domain socket ``host`` is the destination's
        path (str or ``os.PathLike``) and ``port`` is ignored.
        """
        if host is None and port is None and type(data) is bytes and not self._local:
            # the fast path: bytes on a connected IP socket, one core call
            n = len(data)
            if n <= _RAW_MAX:
                outs = self._outs
                out = outs.pop() if outs else pointer(c_size_t())
                rc = _raw_send(self._h, data, n, None, 0, out)
                k = out[0]
                outs.append(out)
                if rc:
                    raise self._error(rc)
                return k  # type: ignore[no-any-return]
        if host is None:
            if port is not None and not self._local:
                raise InvalidArgumentError("send: a port without a host", None, USOCKET_ERR_INVALID_ARGUMENT)
            hb = None
            pt = 0
        else:
            last = self._last_host
            if host is last[0]:
                hb = last[1]
            else:
                hb = path_arg(host, "host") if self._local else host_arg(host)
                self._last_host = (host, hb)
            if self._local:
                pt = 0
            else:
                pt = port if type(port) is int and 0 <= port <= 65535 else port_arg(port)
        if type(data) is bytes:
            p: Any = data
            n = len(data)
        else:
            if isinstance(data, str):
                raise TypeError("send needs bytes-like data, not str (encode it first)")
            m = data if type(data) is memoryview else memoryview(data)
            n = m.nbytes
            if m.readonly or n == 0:
                p = m.tobytes()
            else:
                p = byref(_from_buffer(m))
        if n > _RAW_MAX:
            raise InvalidArgumentError(f"a datagram of {n} bytes is too long", None, USOCKET_ERR_INVALID_ARGUMENT)
        scratch = self._scratch
        item = scratch.pop() if scratch else _new_dgram_scratch()
        if self._local:
            rc = _raw_send_local(self._h, p, n, hb, item[3])
        else:
            rc = _raw_send(self._h, p, n, hb, pt, item[3])
        scratch.append(item)
        if rc:
            raise self._error(rc)
        return item[2].value

    def _peer(self) -> Any:
        """A connected socket's peer (every datagram's sender), or False if unconnected."""
        p = self._peer_cache
        if p is not None:
            return p
        conn = self._connected
        if conn is False or self._local:
            p = False
        else:
            try:
                p = self.peer_name
            except SocketError:
                if conn:
                    raise
                p = False
        self._peer_cache = p
        return p

    def _sender(self, a: Any) -> Tuple[str, int]:
        key = bytes(a)
        last = self._last_from
        if key == last[0]:
            return last[1], last[2]
        host = format_address(a)
        port = a.port
        self._last_from = (key, host, port)
        return host, port

    def _receive_again(self, rc: int, first: int, p: Any, n: int, pout: Any, pa: Any) -> None:
        """After a first receive that failed: the next slices, or raise."""
        h = self._h

        def _in_core(step: int) -> int:
            return _raw_receive_for(h, p, n, step, pout, pa)

        rc = self._c.sliced(rc, first, _in_core)
        if rc:
            raise self._error(rc)

    def _receive_local(self, p: Any, n: int) -> Tuple[int, Any, Any]:
        c = self._c
        h = self._h
        got = c_size_t()
        pgot = byref(got)
        cap = LOCAL_PATH_MAX + 1
        frm = create_string_buffer(cap)
        flen = c_size_t()
        pflen = byref(flen)
        first = c.first_step()
        rc = _raw_receive_local(h, p, n, first, pgot, frm, cap, pflen)
        if rc == _ERR_TIMEOUT:

            def _in_core(step: int) -> int:
                return _raw_receive_local(h, p, n, step, pgot, frm, cap, pflen)

            rc = c.sliced(rc, first, _in_core)
        if rc:
            raise self._error(rc)
        k = flen.value if flen.value < cap else cap - 1
        return got.value, frm.raw[:k].decode("utf-8", "surrogateescape"), None

    def receive(self, size: int = MAX_DATAGRAM_PACKET_SIZE) -> Tuple[bytes, str, int]:
        """usocket's ``socket-receive``: ``(data, host, port)`` of one datagram.

        A datagram longer than ``size`` is cut to ``size`` bytes. Blocks up to
        the socket's receive timeout (:class:`TimeoutError`). On a
        Unix-domain socket ``host`` is the sender's path ("" if unnamed) and
        ``port`` is ``None``.
        """
        peer = self._peer_cache
        if peer and type(size) is int and 0 < size <= _MIN_BUFFER:
            # the fast path: a connected IP socket whose peer is known (every
            # datagram's sender), a pooled buffer, one core call
            bufs = _buffers
            buf = bufs.pop() if bufs else (c_char * _MIN_BUFFER)()
            outs = self._outs
            out = outs.pop() if outs else pointer(c_size_t())
            step = self._c.rstep
            if step is None:
                step = self._c.first_step()
            rc = _raw_receive_for(self._h, buf, size, step, out, None)
            if rc:
                try:
                    self._receive_again(rc, step, buf, size, out, None)
                except BaseException:
                    bufs.append(buf)
                    raise
            data: bytes = buf[: out[0]]  # type: ignore[assignment]
            if len(bufs) < _POOL_MAX:
                bufs.append(buf)
            outs.append(out)
            return data, peer[0], peer[1]
        if type(size) is not int or size < 1:
            size = _size_arg(size, "size", 1)
        if size > _RAW_MAX:
            size = _RAW_MAX
        pool = _buffers
        buf = pool.pop() if pool else None
        if buf is None or len(buf) < size:
            buf = (c_char * (size if size > _MIN_BUFFER else _MIN_BUFFER))()
        if self._local:
            try:
                k, host, port = self._receive_local(buf, size)
                return buf[:k], host, port  # type: ignore[return-value]
            finally:
                if len(pool) < _POOL_MAX and len(buf) <= _POOL_KEEP:
                    pool.append(buf)
        scratch = self._scratch
        item = scratch.pop() if scratch else _new_dgram_scratch()
        peer = self._peer_cache
        if peer is None:
            peer = self._peer()
        pa = item[1] if peer is False else None
        try:
            first = self._c.rstep
            if first is None:
                first = self._c.first_step()
            rc = _raw_receive_for(self._h, buf, size, first, item[3], pa)
            if rc:
                self._receive_again(rc, first, buf, size, item[3], pa)
            if peer is False:
                peer = self._sender(item[0])
            data = buf[: item[2].value]
        finally:
            scratch.append(item)
            if len(pool) < _POOL_MAX and len(buf) <= _POOL_KEEP:
                pool.append(buf)
        return data, peer[0], peer[1]

    def receive_into(self, buffer: Any) -> Tuple[int, str, int]:
        """Receive one datagram into a writable buffer: ``(nbytes, host, port)``."""
        try:
            p = byref(_from_buffer(buffer))
        except (TypeError, ValueError):
            m = memoryview(buffer)
            if m.readonly:
                raise TypeError(
                    f"receive_into needs a writable buffer, not a read-only {type(buffer).__name__}"
                ) from None
            if m.nbytes == 0:
                raise InvalidArgumentError("receive_into needs a buffer of at least one byte", None, USOCKET_ERR_INVALID_ARGUMENT) from None
            raise TypeError("receive_into needs a contiguous buffer") from None
        t = type(buffer)
        n = buffer.nbytes if t is memoryview else len(buffer) if t is bytearray else memoryview(buffer).nbytes
        if n > _RAW_MAX:
            n = _RAW_MAX
        if self._local:
            return self._receive_local(p, n)
        scratch = self._scratch
        item = scratch.pop() if scratch else _new_dgram_scratch()
        peer = self._peer_cache
        if peer is None:
            peer = self._peer()
        pa = item[1] if peer is False else None
        try:
            first = self._c.rstep
            if first is None:
                first = self._c.first_step()
            rc = _raw_receive_for(self._h, p, n, first, item[3], pa)
            if rc:
                self._receive_again(rc, first, p, n, item[3], pa)
            if peer is False:
                peer = self._sender(item[0])
            return item[2].value, peer[0], peer[1]
        finally:
            scratch.append(item)

    # usocket calls them socket-send / socket-receive
    socket_send = send
    socket_receive = receive


_KIND_CLASSES = {
    _KIND_STREAM: StreamSocket,
    _KIND_STREAM_SERVER: StreamServerSocket,
    _KIND_DATAGRAM: DatagramSocket,
}


def from_handle(handle: int, element_type: Any = bytes) -> Usocket:
    """Wrap a core handle made elsewhere (by C code in this process) in a socket object.

    The object owns the handle from then on: closing it closes the handle.
    """
    h = c_uint64(handle)
    kind = c_int32()
    rc = lib.usocket_kind(h, byref(kind))
    if rc:
        raise last_error(rc)
    # a Unix-domain socket has a path (maybe ""), an IP socket WRONG_KIND
    n = c_size_t()
    buf = create_string_buffer(LOCAL_PATH_MAX + 1)
    local = lib.has("usocket_local_path") and lib.usocket_local_path(h, buf, LOCAL_PATH_MAX + 1, byref(n)) == 0
    return _KIND_CLASSES[kind.value](handle, element_type_arg(element_type), local=local)


def _is_path(host: Any) -> bool:
    return isinstance(host, os.PathLike)


# ---------------------------------------------------------------- connect, listen


def socket_connect(
    host: Any,
    port: Any = None,
    *,
    protocol: Any = "stream",
    element_type: Any = bytes,
    timeout: Optional[float] = None,
    connect_timeout: Optional[float] = None,
    nodelay: Any = True,
    local_host: Any = None,
    local_port: Any = None,
) -> Any:
    """usocket's ``socket-connect``.

    ``protocol="stream"`` returns a :class:`StreamSocket` connected to
    ``host``:``port``; ``protocol="datagram"`` a :class:`DatagramSocket`,
    connected, or with ``host=None`` unconnected and bound to
    ``local_host``:``local_port``. ``timeout`` (seconds) is the receive
    timeout and also bounds the connect; ``connect_timeout`` bounds the
    connect alone. ``nodelay`` sets TCP_NODELAY (``"if_supported"`` counts
    as true).

    Unix-domain sockets: a ``host`` that is an ``os.PathLike``
    (``pathlib.Path``) connects to that path (``port`` is then optional and
    ignored; a path starting with ``@`` is an abstract name). A
    ``local_host`` that is an ``os.PathLike`` binds the socket to that path
    first; with ``host=None`` and ``protocol="datagram"`` it gives an
    unconnected local datagram socket bound there.
    """
    proto = protocol_arg(protocol)
    et = element_type_arg(element_type)
    opts = ConnectOptions()
    lib.usocket_connect_options_init(byref(opts))
    opts.protocol = proto
    opts.timeout_ms = seconds_to_ms(timeout, "timeout")
    opts.connect_timeout_ms = seconds_to_ms(connect_timeout, "connect_timeout")
    opts.nodelay = bool(nodelay)
    out = c_uint64()
    if _is_path(host) or (host is None and _is_path(local_host)):
        if host is None and proto == STREAM:
            raise TypeError("socket_connect: a stream socket needs a path to connect to")
        hb = None if host is None else path_arg(host, "host")
        opts.local_host = None if local_host is None else path_arg(local_host, "local_host")
        rc = lib.usocket_connect_local(hb, byref(opts), byref(out))
        if rc:
            raise last_error(rc)
        if proto == STREAM:
            return StreamSocket(out.value, et, True)
        return DatagramSocket(out.value, connected=hb is not None, local=True)
    lh = opt_host_arg(local_host, "local_host")
    opts.local_host = lh
    opts.local_port = port_arg(local_port, "local_port", allow_none=True)
    if host is None:
        if proto == STREAM:
            raise TypeError("socket_connect: a stream socket needs a host to connect to")
        if port not in (None, 0):
            raise InvalidArgumentError("socket_connect: a port without a host", None, USOCKET_ERR_INVALID_ARGUMENT)
        hb = None
        pt = 0
    else:
        hb = host_arg(host)
        pt = port_arg(port)
    rc = lib.usocket_connect(hb, pt, byref(opts), byref(out))
    if rc:
        raise last_error(rc)
    if proto == STREAM:
        return StreamSocket(out.value, et)
    return DatagramSocket(out.value, connected=hb is not None)


def socket_listen(
    host: Any,
    port: Any = None,
    *,
    reuse_address: bool = False,
    backlog: int = USOCKET_DEFAULT_BACKLOG,
    element_type: Any = bytes,
) -> StreamServerSocket:
    """usocket's ``socket-listen``: a :class:`StreamServerSocket` on ``host``:``port``.

    ``host`` ``None``, ``""`` or ``"0.0.0.0"`` listen on every IPv4
    interface, ``"::"`` on every interface; port 0 (:data:`AUTO_PORT`) picks a
    free port (see ``.local_port``). A ``host`` that is an ``os.PathLike``
    listens on that Unix-domain path (``port`` ignored; ``@name`` is an
    abstract name); ``reuse_address`` then replaces a stale socket file.
    """
    local = _is_path(host)
    hb = path_arg(host, "host") if local else opt_host_arg(host)
    pt = 0 if local else port_arg(port, allow_none=True)
    et = element_type_arg(element_type)
    backlog = _size_arg(backlog, "backlog", 0)
    opts = ListenOptions()
    lib.usocket_listen_options_init(byref(opts))
    opts.reuse_address = bool(reuse_address)
    opts.backlog = min(backlog, _INT31)
    out = c_uint64()
    if local:
        rc = lib.usocket_listen_local(hb, byref(opts), byref(out))
    else:
        rc = lib.usocket_listen(hb, pt, byref(opts), byref(out))
    if rc:
        raise last_error(rc)
    return StreamServerSocket(out.value, et, local)


# ---------------------------------------------------------------- names


def get_hosts_by_name(name: str) -> List[str]:
    """usocket's ``get-hosts-by-name``: every address of ``name``, as strings."""
    hb = host_arg(name, "name")
    cap = 16
    while True:
        arr = (Address * cap)()
        count = c_size_t()
        rc = lib.usocket_resolve(hb, arr, cap, byref(count))
        if rc:
            raise last_error(rc)
        if count.value <= cap:
            return [format_address(arr[i]) for i in range(count.value)]
        cap = count.value


def get_host_by_name(name: str) -> str:
    """usocket's ``get-host-by-name``: the first IPv4 address of ``name``, else
    its first IPv6 address (usocket 0.8.9's rule, the core's
    ``usocket_host_by_name``)."""
    hb = host_arg(name, "name")
    a = Address()
    rc = lib.usocket_host_by_name(hb, byref(a))
    if rc:
        raise last_error(rc)
    return format_address(a)


def get_random_host_by_name(name: str) -> str:
    """usocket's ``get-random-host-by-name``: one address of ``name``, chosen at random."""
    hosts = get_hosts_by_name(name)
    if not hosts:
        from .errors import NsHostNotFoundError

        raise NsHostNotFoundError(f"{name!r} has no address", None, USOCKET_ERR_NS_HOST_NOT_FOUND)
    return random.choice(hosts)


SocketLike = Union[StreamSocket, StreamServerSocket, DatagramSocket]
