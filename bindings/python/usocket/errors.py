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
import socket as _socket
from typing import Dict, Optional, Type

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
    "InvalidArgumentError", "invalid-argument-error", -1, SocketError, ValueError,
    doc="A bad argument: a NUL in a host, a port out of range, an unknown option (also ValueError).",
)
InvalidHandleError = _cls(
    "InvalidHandleError", "invalid-handle-error", -2, SocketError,
    doc="The socket (or wait list) is closed, or was closed during the call.",
)
WrongKindError = _cls(
    "WrongKindError", "wrong-kind-error", -3, SocketError,
    doc="A call on the wrong kind of socket: a stream call on a datagram socket and so on.",
)
InternalError = _cls("InternalError", "internal-error", -4, SocketError, doc="A bug in the core.")
UnknownError = _cls(
    "UnknownError", "unknown-error", -5, SocketError,
    doc="An OS error with no more precise class; see ``.errno``.",
)
AddressInUseError = _cls("AddressInUseError", "address-in-use-error", -6, SocketError)
AddressNotAvailableError = _cls("AddressNotAvailableError", "address-not-available-error", -7, SocketError)
BadFileDescriptorError = _cls("BadFileDescriptorError", "bad-file-descriptor-error", -8, SocketError)
ConnectionRefusedError = _cls(
    "ConnectionRefusedError", "connection-refused-error", -9, SocketError, builtins.ConnectionRefusedError
)
ConnectionAbortedError = _cls(
    "ConnectionAbortedError", "connection-aborted-error", -10, SocketError, builtins.ConnectionAbortedError
)
ConnectionResetError = _cls(
    "ConnectionResetError", "connection-reset-error", -11, SocketError, builtins.ConnectionResetError
)
NoBuffersError = _cls("NoBuffersError", "no-buffers-error", -12, SocketError)
OperationNotSupportedError = _cls("OperationNotSupportedError", "operation-not-supported-error", -13, SocketError)
OperationNotPermittedError = _cls(
    "OperationNotPermittedError", "operation-not-permitted-error", -14, SocketError, builtins.PermissionError
)
ProtocolNotSupportedError = _cls("ProtocolNotSupportedError", "protocol-not-supported-error", -15, SocketError)
SocketTypeNotSupportedError = _cls(
    "SocketTypeNotSupportedError", "socket-type-not-supported-error", -16, SocketError
)
NetworkUnreachableError = _cls("NetworkUnreachableError", "network-unreachable-error", -17, SocketError)
NetworkDownError = _cls("NetworkDownError", "network-down-error", -18, SocketError)
NetworkResetError = _cls("NetworkResetError", "network-reset-error", -19, SocketError)
HostDownError = _cls("HostDownError", "host-down-error", -20, SocketError)
HostUnreachableError = _cls("HostUnreachableError", "host-unreachable-error", -21, SocketError)
ShutdownError = _cls(
    "ShutdownError", "shutdown-error", -22, SocketError, builtins.BrokenPipeError,
    doc="Writing after the connection was shut down or the peer went away (also BrokenPipeError).",
)
TimeoutError = _cls("TimeoutError", "timeout-error", -23, SocketError, builtins.TimeoutError)
InvalidSocketError = _cls("InvalidSocketError", "invalid-socket-error", -24, SocketError)
NsCondition = _cls(
    "NsCondition", "ns-condition", 0, SocketError, _socket.gaierror,
    doc="usocket's ``ns-condition``: a name-service outcome (also socket.gaierror).",
)
NsError = _cls("NsError", "ns-error", 0, NsCondition, doc="usocket's ``ns-error``.")
NsHostNotFoundError = _cls("NsHostNotFoundError", "ns-host-not-found-error", -25, NsError)
NsTryAgainCondition = _cls(
    "NsTryAgainCondition", "ns-try-again-condition", -26, NsCondition,
    doc="The name service failed for now; trying again may work.",
)
NsNoRecoveryError = _cls("NsNoRecoveryError", "ns-no-recovery-error", -27, NsError)
NsUnknownError = _cls("NsUnknownError", "ns-unknown-error", -28, NsError)
InvalidSocketStreamError = _cls("InvalidSocketStreamError", "invalid-socket-stream-error", -29, SocketError)

_BY_CODE: Dict[int, Type[SocketError]] = {}
_BY_NAME: Dict[str, Type[SocketError]] = {}
for _c in list(globals().values()):
    if isinstance(_c, type) and issubclass(_c, SocketError) and _c is not SocketError:
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
    if not message:
        message = cls.condition
    if context:
        message = f"{context}: {message}"
    return cls(message, errno, rc)


def check(rc: int, context: Optional[str] = None) -> None:
    """Raise the exception for a negative status code; do nothing for 0."""
    if rc:
        raise last_error(rc, context)
