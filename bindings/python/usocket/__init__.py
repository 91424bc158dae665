"""usocket: usocket's socket API for Python, over the usocket-core C library.

    import usocket

    with usocket.socket_connect("127.0.0.1", 7, element_type=str) as s:
        s.stream.write("hello\\n")
        s.stream.flush()
        print(s.stream.readline())

Names follow usocket's (Common Lisp) API in Python's case: ``socket_connect``,
``socket_listen``, ``wait_for_input``, ``WaitList``, ``socket_server``,
``get_host_by_name``... Timeouts are seconds. Errors are exceptions under
:class:`SocketError` (an :class:`OSError`), one class per usocket condition.

Unix-domain sockets: pass an ``os.PathLike`` (``pathlib.Path``) as the host
of ``socket_connect``, ``socket_listen`` or ``socket_server``; a path starting
with ``@`` is Linux's abstract namespace.

The core library is found through the ``USOCKET_LIBRARY`` environment
variable (a full path), then inside this package, then in the repository's
``target/release``, then on the system's library path.
"""

from __future__ import annotations

from . import errors
from ._ffi import open_handles
from ._ffi import version as core_version
from ._ffi import lib as _lib
from ._server import Server, current_server, remote_host, remote_port, socket_server
from ._socket import (
    AUTO_PORT,
    LOCAL_PATH_MAX,
    MAX_DATAGRAM_PACKET_SIZE,
    OPTION_NAMES,
    SLICE_MS,
    PeerCredentials,
    WILDCARD_HOST,
    DatagramSocket,
    SocketIO,
    StreamServerSocket,
    StreamSocket,
    Usocket,
    from_handle,
    get_host_by_name,
    get_hosts_by_name,
    get_random_host_by_name,
    socket_connect,
    socket_listen,
)
from ._wait import WaitList, add_waiter, make_wait_list, remove_all_waiters, remove_waiter, wait_for_input
from .errors import (
    AddressInUseError,
    AddressNotAvailableError,
    BadFileDescriptorError,
    ConnectionAbortedError,
    ConnectionRefusedError,
    ConnectionResetError,
    HostDownError,
    HostUnreachableError,
    InternalError,
    InvalidArgumentError,
    InvalidHandleError,
    InvalidSocketError,
    InvalidSocketStreamError,
    NetworkDownError,
    NetworkResetError,
    NetworkUnreachableError,
    NoBuffersError,
    NsCondition,
    NsError,
    NsHostNotFoundError,
    NsNoRecoveryError,
    NsTryAgainCondition,
    NsUnknownError,
    OperationNotPermittedError,
    OperationNotSupportedError,
    PathNotFoundError,
    ProtocolNotSupportedError,
    ShutdownError,
    SocketError,
    SocketTypeNotSupportedError,
    TimeoutError,
    UnknownError,
    WrongKindError,
)

__version__ = "0.2.0"

#: The path of the core library this module loaded.
library_path: str = _lib.path

#: usocket's class name for the base socket class.
Socket = Usocket


def socket_close(sock: Usocket) -> None:
    """usocket's ``socket-close``."""
    sock.close()


def socket_accept(sock: StreamServerSocket, element_type: object = None) -> StreamSocket:
    """usocket's ``socket-accept``."""
    return sock.accept(element_type)


def socket_shutdown(sock: StreamSocket, direction: str = "both") -> None:
    """usocket's ``socket-shutdown``."""
    sock.shutdown(direction)


def socket_stream(sock: StreamSocket):  # type: ignore[no-untyped-def]
    """usocket's ``socket-stream``."""
    return sock.stream


def socket_send(sock: DatagramSocket, data: object, host: object = None, port: object = None) -> int:
    """usocket's ``socket-send``."""
    return sock.send(data, host, port)


def socket_receive(sock: DatagramSocket, size: int = MAX_DATAGRAM_PACKET_SIZE):  # type: ignore[no-untyped-def]
    """usocket's ``socket-receive``."""
    return sock.receive(size)


__all__ = [
    # sockets
    "socket_connect",
    "socket_listen",
    "socket_accept",
    "socket_close",
    "socket_shutdown",
    "socket_stream",
    "socket_send",
    "socket_receive",
    "Usocket",
    "Socket",
    "StreamSocket",
    "StreamServerSocket",
    "DatagramSocket",
    "SocketIO",
    "from_handle",
    # waiting
    "wait_for_input",
    "WaitList",
    "make_wait_list",
    "add_waiter",
    "remove_waiter",
    "remove_all_waiters",
    # servers
    "socket_server",
    "Server",
    "remote_host",
    "remote_port",
    "current_server",
    # names
    "get_host_by_name",
    "get_hosts_by_name",
    "get_random_host_by_name",
    # constants and info
    "WILDCARD_HOST",
    "AUTO_PORT",
    "MAX_DATAGRAM_PACKET_SIZE",
    "LOCAL_PATH_MAX",
    "OPTION_NAMES",
    "PeerCredentials",
    "SLICE_MS",
    "core_version",
    "open_handles",
    "library_path",
    # errors: the module, and every exception class it exports
    "errors",
    *(name for name in errors.__all__ if name[0].isupper()),
]
