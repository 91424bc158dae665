"""usocket's condition classes as Python exceptions.

Every exception the binding raises for a failure of the core is an instance
of :class:`SocketError` (a subclass of :class:`OSError`), of the class named
after usocket's condition in CamelCase (``connection-refused-error`` ->
:class:`ConnectionRefusedError`). Each class is also a subclass of the
matching built-in exception, so ``except TimeoutError``,
``except ConnectionRefusedError`` or ``except BrokenPipeError`` catch what
Python programmers expect; the name-service classes are also
:class:`socket.gaierror`, and :class:`InvalidArgumentError` is also a
:class:`ValueError`.

Each exception carries the core's message (``.strerror``, ``str(e)``), the
errno behind it (``.errno``, ``None`` if none), the core's status code
(``.code``) and usocket's condition name (``.condition``).
"""

from __future__ import annotations

import builtins
import errno as _errno
import socket as _socket
from typing import Dict, Optional, Type

from . import _constants as _C
from . import _ffi

__all__ = [
    "SocketError",
    "InvalidArgumentError",
    "InvalidHandleError",
    "WrongKindError",
    "InternalError",
    "UnknownError",
    "AddressInUseError",
    "AddressNotAvailableError",
    "BadFileDescriptorError",
    "ConnectionRefusedError",
    "ConnectionAbortedError",
    "ConnectionResetError",
    "NoBuffersError",
    "OperationNotSupportedError",
    "OperationNotPermittedError",
    "ProtocolNotSupportedError",
    "SocketTypeNotSupportedError",
    "NetworkUnreachableError",
    "NetworkDownError",
    "NetworkResetError",
    "HostDownError",
    "HostUnreachableError",
    "ShutdownError",
    "TimeoutError",
    "InvalidSocketError",
    "NsCondition",
    "NsError",
    "NsHostNotFoundError",
    "NsTryAgainCondition",
    "NsNoRecoveryError",
    "NsUnknownError",
    "InvalidSocketStreamError",
    "PathNotFoundError",
    "exception_class",
    "condition_classes",
]


class SocketError(OSError):
    """The root of usocket's exceptions (usocket's ``socket-error``).

    ``SocketError(message, errno=None, code=None)``; the binding fills
    ``code`` (the core's status code) and ``condition`` (usocket's name).
    """

    #: usocket's condition name for the class.
    condition: str = "socket-error"
    #: The core's status code for the class (0 for the abstract ones).
    code: int = 0
    #: On a :class:`TimeoutError` of a whole write (a stream's write or
    #: flush): how many bytes went out before the send timeout; else None.
    written: Optional[int] = None

    def __init__(self, message: str = "", errno: Optional[int] = None, code: Optional[int] = None) -> None:
        if errno:
            super().__init__(errno, message)
        else:
            super().__init__(message)
            self.strerror = message
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        """The core's message."""
        return self.strerror or ""


def _cls(name: str, condition: str, code: int, *bases: type, doc: str = "") -> Type[SocketError]:
    cls = type(name, bases, {"condition": condition, "code": code, "__doc__": doc or f"usocket's ``{condition}``."})
    cls.__module__ = "usocket"
    return cls  # type: ignore[return-value]


SocketError.__module__ = "usocket"

# The hierarchy, in the order of the core's codes (src/error.rs).
InvalidArgumentError = _cls(
    "InvalidArgumentError", "invalid-argument-error", _C.USOCKET_ERR_INVALID_ARGUMENT, SocketError, ValueError,
    doc="A bad argument: a NUL in a host, a port out of range, an unknown option (also ValueError).",
)
InvalidHandleError = _cls(
    "InvalidHandleError", "invalid-handle-error", _C.USOCKET_ERR_INVALID_HANDLE, SocketError,
    doc="The socket (or wait list) is closed, or was closed during the call.",
)
WrongKindError = _cls(
    "WrongKindError", "wrong-kind-error", _C.USOCKET_ERR_WRONG_KIND, SocketError,
    doc="A call on the wrong kind of socket: a stream call on a datagram socket and so on.",
)
InternalError = _cls("InternalError", "internal-error", _C.USOCKET_ERR_INTERNAL, SocketError, doc="A bug in the core.")
UnknownError = _cls(
    "UnknownError", "unknown-error", _C.USOCKET_ERR_UNKNOWN, SocketError,
    doc="An OS error with no more precise class; see ``.errno``.",
)
AddressInUseError = _cls("AddressInUseError", "address-in-use-error", _C.USOCKET_ERR_ADDRESS_IN_USE, SocketError)
AddressNotAvailableError = _cls("AddressNotAvailableError", "address-not-available-error", _C.USOCKET_ERR_ADDRESS_NOT_AVAILABLE, SocketError)
BadFileDescriptorError = _cls("BadFileDescriptorError", "bad-file-descriptor-error", _C.USOCKET_ERR_BAD_FILE_DESCRIPTOR, SocketError)
ConnectionRefusedError = _cls(
    "ConnectionRefusedError", "connection-refused-error", _C.USOCKET_ERR_CONNECTION_REFUSED, SocketError, builtins.ConnectionRefusedError
)
ConnectionAbortedError = _cls(
    "ConnectionAbortedError", "connection-aborted-error", _C.USOCKET_ERR_CONNECTION_ABORTED, SocketError, builtins.ConnectionAbortedError
)
ConnectionResetError = _cls(
    "ConnectionResetError", "connection-reset-error", _C.USOCKET_ERR_CONNECTION_RESET, SocketError, builtins.ConnectionResetError
)
NoBuffersError = _cls("NoBuffersError", "no-buffers-error", _C.USOCKET_ERR_NO_BUFFERS, SocketError)
OperationNotSupportedError = _cls("OperationNotSupportedError", "operation-not-supported-error", _C.USOCKET_ERR_OPERATION_NOT_SUPPORTED, SocketError)
OperationNotPermittedError = _cls(
    "OperationNotPermittedError", "operation-not-permitted-error", _C.USOCKET_ERR_OPERATION_NOT_PERMITTED, SocketError, builtins.PermissionError
)
ProtocolNotSupportedError = _cls("ProtocolNotSupportedError", "protocol-not-supported-error", _C.USOCKET_ERR_PROTOCOL_NOT_SUPPORTED, SocketError)
SocketTypeNotSupportedError = _cls(
    "SocketTypeNotSupportedError", "socket-type-not-supported-error", _C.USOCKET_ERR_SOCKET_TYPE_NOT_SUPPORTED, SocketError
)
NetworkUnreachableError = _cls("NetworkUnreachableError", "network-unreachable-error", _C.USOCKET_ERR_NETWORK_UNREACHABLE, SocketError)
NetworkDownError = _cls("NetworkDownError", "network-down-error", _C.USOCKET_ERR_NETWORK_DOWN, SocketError)
NetworkResetError = _cls("NetworkResetError", "network-reset-error", _C.USOCKET_ERR_NETWORK_RESET, SocketError)
HostDownError = _cls("HostDownError", "host-down-error", _C.USOCKET_ERR_HOST_DOWN, SocketError)
HostUnreachableError = _cls("HostUnreachableError", "host-unreachable-error", _C.USOCKET_ERR_HOST_UNREACHABLE, SocketError)
ShutdownError = _cls(
    "ShutdownError", "shutdown-error", _C.USOCKET_ERR_SHUTDOWN, SocketError, builtins.BrokenPipeError,
    doc="Writing after the connection was shut down or the peer went away (also BrokenPipeError).",
)
TimeoutError = _cls("TimeoutError", "timeout-error", _C.USOCKET_ERR_TIMEOUT, SocketError, builtins.TimeoutError)
InvalidSocketError = _cls("InvalidSocketError", "invalid-socket-error", _C.USOCKET_ERR_INVALID_SOCKET, SocketError)
NsCondition = _cls(
    "NsCondition", "ns-condition", 0, SocketError, _socket.gaierror,
    doc="usocket's ``ns-condition``: a name-service outcome (also socket.gaierror).",
)
NsError = _cls("NsError", "ns-error", 0, NsCondition, doc="usocket's ``ns-error``.")
NsHostNotFoundError = _cls("NsHostNotFoundError", "ns-host-not-found-error", _C.USOCKET_ERR_NS_HOST_NOT_FOUND, NsError)
NsTryAgainCondition = _cls(
    "NsTryAgainCondition", "ns-try-again-condition", _C.USOCKET_ERR_NS_TRY_AGAIN, NsCondition,
    doc="The name service failed for now; trying again may work.",
)
NsNoRecoveryError = _cls("NsNoRecoveryError", "ns-no-recovery-error", _C.USOCKET_ERR_NS_NO_RECOVERY, NsError)
NsUnknownError = _cls("NsUnknownError", "ns-unknown-error", _C.USOCKET_ERR_NS_UNKNOWN, NsError)
InvalidSocketStreamError = _cls("InvalidSocketStreamError", "invalid-socket-stream-error", _C.USOCKET_ERR_INVALID_SOCKET_STREAM, SocketError)

PathNotFoundError = _cls(
    "PathNotFoundError", "unknown-error", _C.USOCKET_ERR_UNKNOWN, UnknownError, builtins.FileNotFoundError,
    doc="A Unix-domain socket path that does not exist (ENOENT): usocket's ``unknown-error``, "
    "also Python's FileNotFoundError.",
)

_BY_CODE: Dict[int, Type[SocketError]] = {}
_BY_NAME: Dict[str, Type[SocketError]] = {}
for _c in list(globals().values()):
    if isinstance(_c, type) and issubclass(_c, SocketError) and _c not in (SocketError, PathNotFoundError):
        _BY_NAME[_c.condition] = _c
        if _c.code:
            _BY_CODE[_c.code] = _c


def condition_classes() -> Dict[str, Type[SocketError]]:
    """usocket condition name -> exception class, for every class defined here."""
    return dict(_BY_NAME)


def exception_class(code: int) -> Type[SocketError]:
    """The exception class for a core status code (a new code gets a class named after it)."""
    cls = _BY_CODE.get(code)
    if cls is not None:
        return cls
    name = _ffi.error_name(code)
    cls = _BY_NAME.get(name)
    if cls is None:
        camel = "".join(part.capitalize() for part in name.split("-"))
        cls = _cls(camel, name, code, SocketError)
        _BY_NAME[name] = cls
    _BY_CODE[code] = cls
    return cls


_last_error = _ffi.lib.usocket_last_error
_last_os_error = _ffi.lib.usocket_last_os_error
_last_message = _ffi.lib.usocket_last_error_message


def last_error(rc: int, context: Optional[str] = None) -> SocketError:
    """The exception for status ``rc`` that the calling thread just got from the core.

    Must run on the thread that made the failing call, before its next call.
    """
    code = _last_error()
    if code == rc:
        errno = _last_os_error() or None
        raw_message = _last_message()
        message = raw_message.decode("utf-8", "replace") if raw_message else ""
    else:  # the core did not record this failure: say what we know
        errno = None
        message = ""
    cls = exception_class(rc)
    if cls is UnknownError and errno == _errno.ENOENT:
        cls = PathNotFoundError
    if not message:
        message = cls.condition
    if context:
        message = f"{context}: {message}"
    return cls(message, errno, rc)


def check(rc: int, context: Optional[str] = None) -> None:
    """Raise the exception for a negative status code; do nothing for 0."""
    if rc:
        raise last_error(rc, context)
