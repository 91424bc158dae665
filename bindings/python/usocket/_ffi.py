"""Loading libusocket and declaring its C functions for ctypes.

Every function of ``include/usocket.h`` is declared in ``DECLARATIONS`` with
its argument and return types (``tests/test_header.py`` checks them against
the header). Those declared function objects are what the binding calls,
except on a handful of hot paths (read, write, send, receive, accept, the
waits) where it calls ``RAW`` function objects for the same symbols: they
carry the same ``restype`` but no ``argtypes``, because ctypes' per-argument
conversion costs more than the system call on loopback (measured: 870 ns
against 330 ns a call). The callers in this package pass those raw functions
only values whose C representation is exact:

* handles as ``ctypes.c_uint64`` objects (never Python ints),
* pointers as ctypes arrays, ``byref()`` objects, ``pointer()`` objects or
  ``bytes`` (which ctypes passes as a pointer to their contents),
* lengths and timeouts as Python ints in ``0 .. 2**31 - 1`` (timeouts also
  ``-1``), which ctypes passes as a C ``int`` that libffi sign-extends to the
  64-bit ``size_t``/``int64_t`` argument register; anything larger is split
  or clamped by the caller first.

``RAW_CONVENTIONS`` lists what each raw call site passes, and the header test
checks that against the header's types as well.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_bool,
    c_char,
    c_char_p,
    c_int32,
    c_int64,
    c_size_t,
    c_uint8,
    c_uint16,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path
from typing import Any, Dict, List, Tuple

LIBRARY_ENV = "USOCKET_LIBRARY"

if sys.platform == "darwin":  # pragma: no cover - not built there yet
    _LIB_NAME = "libusocket.dylib"
elif sys.platform == "win32":  # pragma: no cover
    _LIB_NAME = "usocket.dll"
else:
    _LIB_NAME = "libusocket.so"


# ---------------------------------------------------------------- structs


class Address(Structure):
    """``usocket_address``: family 4 or 6, 16 octets (network order), port (host order)."""

    _fields_ = [
        ("family", c_uint8),
        ("octets", c_uint8 * 16),
        ("port", c_uint16),
    ]


class ConnectOptions(Structure):
    """``usocket_connect_options``."""

    _fields_ = [
        ("protocol", c_int32),
        ("timeout_ms", c_int64),
        ("connect_timeout_ms", c_int64),
        ("nodelay", c_bool),
        ("local_host", c_char_p),
        ("local_port", c_uint16),
    ]


class ListenOptions(Structure):
    """``usocket_listen_options``."""

    _fields_ = [
        ("reuse_address", c_bool),
        ("backlog", c_int32),
    ]


class ServerOptions(Structure):
    """``usocket_server_options`` (the core's socket server)."""

    _fields_ = [
        ("protocol", c_int32),
        ("reuse_address", c_bool),
        ("backlog", c_int32),
        ("multi_threading", c_bool),
        ("timeout_ms", c_int64),
        ("max_buffer_size", c_size_t),
    ]


#: C structs by their header name, for the header test.
STRUCTS: Dict[str, Any] = {
    "usocket_address": Address,
    "usocket_connect_options": ConnectOptions,
    "usocket_listen_options": ListenOptions,
    "usocket_server_options": ServerOptions,
}

TcpHandler = CFUNCTYPE(None, c_void_p, c_uint64, POINTER(Address))
UdpHandler = CFUNCTYPE(
    c_size_t, c_void_p, POINTER(c_uint8), c_size_t, POINTER(Address), POINTER(c_uint8), c_size_t
)

#: Function-pointer typedefs by their header name.
CALLBACKS: Dict[str, Any] = {
    "usocket_tcp_handler": TcpHandler,
    "usocket_udp_handler": UdpHandler,
}

usocket_t = c_uint64
_H = c_uint64
_PH = POINTER(c_uint64)
_PSZ = POINTER(c_size_t)
_PU8 = POINTER(c_uint8)
_PA = POINTER(Address)

# ---------------------------------------------------------------- declarations

#: name -> (restype, argtypes), exactly the header's prototypes.
DECLARATIONS: Dict[str, Tuple[Any, List[Any]]] = {
    # errors and version
    "usocket_last_error": (c_int32, []),
    "usocket_last_os_error": (c_int32, []),
    "usocket_last_error_message": (c_char_p, []),
    "usocket_error_name": (c_char_p, [c_int32]),
    "usocket_version": (c_char_p, []),
    # addresses
    "usocket_address_format": (c_int32, [_PA, POINTER(c_char), c_size_t]),
    "usocket_resolve": (c_int32, [c_char_p, _PA, c_size_t, _PSZ]),
    # creating and closing
    "usocket_connect_options_init": (None, [POINTER(ConnectOptions)]),
    "usocket_connect": (c_int32, [c_char_p, c_uint16, POINTER(ConnectOptions), _PH]),
    "usocket_connect_for": (c_int32, [c_char_p, c_uint16, POINTER(ConnectOptions), c_int64, _PH]),
    "usocket_listen_options_init": (None, [POINTER(ListenOptions)]),
    "usocket_listen": (c_int32, [c_char_p, c_uint16, POINTER(ListenOptions), _PH]),
    "usocket_accept": (c_int32, [_H, _PH]),
    "usocket_accept_from": (c_int32, [_H, _PH, _PA]),
    "usocket_close": (c_int32, [_H]),
    "usocket_shutdown": (c_int32, [_H, c_int32]),
    "usocket_kind": (c_int32, [_H, POINTER(c_int32)]),
    "usocket_fd": (c_int32, [_H, POINTER(c_int32)]),
    # stream I/O
    "usocket_read": (c_int32, [_H, _PU8, c_size_t, _PSZ]),
    "usocket_write": (c_int32, [_H, _PU8, c_size_t, _PSZ]),
    "usocket_write_some": (c_int32, [_H, _PU8, c_size_t, c_int64, _PSZ]),
    "usocket_input_available": (c_int32, [_H, POINTER(c_bool)]),
    # datagram I/O
    "usocket_send": (c_int32, [_H, _PU8, c_size_t, c_char_p, c_uint16, _PSZ]),
    "usocket_receive": (c_int32, [_H, _PU8, c_size_t, _PSZ, _PA]),
    # names and options
    "usocket_local_name": (c_int32, [_H, _PA]),
    "usocket_peer_name": (c_int32, [_H, _PA]),
    "usocket_get_option": (c_int32, [_H, c_int32, POINTER(c_int64)]),
    "usocket_set_option": (c_int32, [_H, c_int32, c_int64]),
    # waiting
    "usocket_wait_for_input": (c_int32, [_PH, c_size_t, c_int64, _PU8, _PSZ, POINTER(c_int64)]),
    "usocket_wait_list_new": (c_int32, [_PH]),
    "usocket_wait_list_add": (c_int32, [_H, _H]),
    "usocket_wait_list_remove": (c_int32, [_H, _H]),
    "usocket_wait_list_clear": (c_int32, [_H]),
    "usocket_wait_list_wait": (c_int32, [_H, c_int64, _PH, c_size_t, _PSZ, POINTER(c_int64)]),
    "usocket_wait_list_free": (c_int32, [_H]),
    "usocket_open_handles": (c_size_t, []),
    # the core's socket server (this binding serves on Python threads; these
    # are declared so that C-level users of the module can reach them)
    "usocket_server_options_init": (None, [POINTER(ServerOptions)]),
    "usocket_server_new": (
        c_int32,
        [c_char_p, c_uint16, POINTER(ServerOptions), TcpHandler, UdpHandler, c_void_p, _PH],
    ),
    "usocket_server_run": (c_int32, [_H]),
    "usocket_server_spawn": (c_int32, [_H]),
    "usocket_server_stop": (c_int32, [_H]),
    "usocket_server_wait": (c_int32, [_H, c_int64]),
    "usocket_server_set_stack_size": (c_int32, [_H, c_size_t]),
    # version 0.2: calls bounded by their own timeout (the binding's slices)
    "usocket_read_for": (c_int32, [_H, _PU8, c_size_t, c_int64, _PSZ]),
    "usocket_accept_for": (c_int32, [_H, c_int64, _PH, _PA]),
    "usocket_receive_for": (c_int32, [_H, _PU8, c_size_t, c_int64, _PSZ, _PA]),
    "usocket_dup_fd": (c_int32, [_H, POINTER(c_int32)]),
    # version 0.2: a server loop on the binding's threads
    "usocket_server_next": (c_int32, [_H, c_int64, _PH, _PA]),
    "usocket_server_next_datagram": (c_int32, [_H, c_int64, _PU8, c_size_t, _PSZ, _PA]),
    "usocket_server_reply": (c_int32, [_H, _PU8, c_size_t, _PA]),
    # version 0.2: get-host-by-name's rule (first IPv4, else first IPv6)
    "usocket_host_by_name": (c_int32, [c_char_p, _PA]),
    # version 0.2: Unix-domain sockets
    "usocket_connect_local": (c_int32, [c_char_p, POINTER(ConnectOptions), _PH]),
    "usocket_listen_local": (c_int32, [c_char_p, POINTER(ListenOptions), _PH]),
    "usocket_local_path": (c_int32, [_H, POINTER(c_char), c_size_t, _PSZ]),
    "usocket_peer_path": (c_int32, [_H, POINTER(c_char), c_size_t, _PSZ]),
    "usocket_peer_credentials": (c_int32, [_H, POINTER(c_int32), POINTER(c_uint32), POINTER(c_uint32)]),
    "usocket_send_local": (c_int32, [_H, _PU8, c_size_t, c_char_p, _PSZ]),
    "usocket_receive_local": (
        c_int32,
        [_H, _PU8, c_size_t, c_int64, _PSZ, POINTER(c_char), c_size_t, _PSZ],
    ),
    "usocket_server_new_local": (
        c_int32,
        [c_char_p, POINTER(ServerOptions), TcpHandler, c_void_p, _PH],
    ),
}

#: What the raw (argtypes-free) call sites pass, per argument:
#: "handle" = a c_uint64 object, "ptr" = any pointer-like ctypes object or
#: bytes, "int31" = a Python int in -1 .. 2**31 - 1, "char_p" = bytes or None.
RAW_CONVENTIONS: Dict[str, List[str]] = {
    "usocket_read": ["handle", "ptr", "int31", "ptr"],
    "usocket_read_for": ["handle", "ptr", "int31", "int31", "ptr"],
    "usocket_receive_for": ["handle", "ptr", "int31", "int31", "ptr", "ptr"],
    "usocket_accept_for": ["handle", "int31", "ptr", "ptr"],
    "usocket_receive_local": ["handle", "ptr", "int31", "int31", "ptr", "ptr", "int31", "ptr"],
    "usocket_send_local": ["handle", "ptr", "int31", "char_p", "ptr"],
    "usocket_write": ["handle", "ptr", "int31", "ptr"],
    "usocket_write_some": ["handle", "ptr", "int31", "int31", "ptr"],
    "usocket_send": ["handle", "ptr", "int31", "char_p", "int31", "ptr"],
    "usocket_receive": ["handle", "ptr", "int31", "ptr", "ptr"],
    "usocket_accept": ["handle", "ptr"],
    "usocket_wait_for_input": ["ptr", "int31", "int31", "ptr", "ptr", "ptr"],
    "usocket_wait_list_wait": ["handle", "int31", "ptr", "int31", "ptr", "ptr"],
}

#: Largest length handed to a raw call in one go (fits a C int).
RAW_MAX_LEN = 1 << 30


class _Missing:
    """Stands in for a function the loaded library does not export."""

    def __init__(self, name: str, path: str) -> None:
        self.__name__ = name
        self._path = path
        self.argtypes: List[Any] = []
        self.restype: Any = None

    def __call__(self, *args: Any) -> Any:
        raise NotImplementedError(
            f"{self.__name__} is not exported by {self._path}; rebuild the core "
            f"(cargo build --release) or point {LIBRARY_ENV} at a newer libusocket"
        )


class Library:
    """The loaded library, its declared functions as attributes, and ``raw``."""

    def __init__(self, cdll: ctypes.CDLL, path: str) -> None:
        self.cdll = cdll
        self.path = path
        self.missing: List[str] = []
        self.raw: Dict[str, Any] = {}
        for name, (restype, argtypes) in DECLARATIONS.items():
            try:
                fn = cdll[name]
            except AttributeError:
                self.missing.append(name)
                setattr(self, name, _Missing(name, path))
                continue
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, name, fn)
        for name in RAW_CONVENTIONS:
            try:
                fn = cdll[name]  # a new function object, separate from the declared one
            except AttributeError:
                missing = self.raw[name] = _Missing(name, path)
                missing.restype = DECLARATIONS[name][0]
                continue
            fn.restype = DECLARATIONS[name][0]
            self.raw[name] = fn

    def has(self, name: str) -> bool:
        return name not in self.missing

    def __getattr__(self, name: str) -> Any:  # the declared functions, set in __init__
        raise AttributeError(f"libusocket has no declared function {name!r}")


def candidate_paths() -> List[Tuple[str, str]]:
    """(where, path) pairs in loading order, without the environment variable."""
    here = Path(__file__).resolve().parent
    out = [("inside the package", str(here / _LIB_NAME))]
    # bindings/python/usocket/_ffi.py -> the repository root is three levels up
    repo = here.parent.parent.parent
    out.append(("the repository's build output", str(repo / "target" / "release" / _LIB_NAME)))
    return out


def load() -> Library:
    tried: List[str] = []
    env = os.environ.get(LIBRARY_ENV)
    if env:
        try:
            return Library(ctypes.CDLL(env), env)
        except OSError as e:
            raise ImportError(
                f"usocket: cannot load the core library named by {LIBRARY_ENV}={env!r}: {e}"
            ) from None
    for where, path in candidate_paths():
        if not os.path.exists(path):
            tried.append(f"  {path} ({where}): not found")
            continue
        try:
            return Library(ctypes.CDLL(path), path)
        except OSError as e:
            tried.append(f"  {path} ({where}): {e}")
    system = ctypes.util.find_library("usocket")
    for name in ([system] if system else []) + [_LIB_NAME]:
        try:
            return Library(ctypes.CDLL(name), name)
        except OSError as e:
            tried.append(f"  {name} (the system's library path): {e}")
    raise ImportError(
        "usocket: cannot find the core library libusocket. Tried:\n"
        + f"  ${LIBRARY_ENV}: not set\n"
        + "\n".join(tried)
        + "\nBuild it with `cargo build --release` in the repository, install the "
        "package with `pip install bindings/python` after that, or set "
        f"{LIBRARY_ENV} to the library's full path."
    )


lib = load()
raw = lib.raw


def version() -> str:
    """The core library's version, "MAJOR.MINOR.PATCH"."""
    return lib.usocket_version().decode("ascii")


def error_name(code: int) -> str:
    """usocket's condition name for a status code."""
    return lib.usocket_error_name(code).decode("ascii", "replace")


def open_handles() -> int:
    """How many core handles are open in this process (for leak checks)."""
    return int(lib.usocket_open_handles())


__all__ = [
    "Address",
    "ConnectOptions",
    "ListenOptions",
    "ServerOptions",
    "TcpHandler",
    "UdpHandler",
    "DECLARATIONS",
    "RAW_CONVENTIONS",
    "RAW_MAX_LEN",
    "lib",
    "raw",
    "version",
    "error_name",
    "open_handles",
]
