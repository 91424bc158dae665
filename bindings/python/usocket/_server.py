"""usocket's socket-server: the core's server, its handlers on Python threads.

``socket_server`` makes the core's server (``usocket_server_new`` with no C
handlers, or ``usocket_server_new_local`` for a Unix-domain path), so the
listening socket, its backlog and its accept policy (transient accept errors
retried, descriptor exhaustion backed off) are the core's. The binding only
asks the core for the next client (``usocket_server_next``) or datagram
(``usocket_server_next_datagram``, answered with ``usocket_server_reply``)
and runs the handlers: on the calling thread or, with ``in_new_thread=True``,
on a daemon thread; with ``multi_threading=True`` each TCP client gets a
daemon thread of its own, without it the clients are served one at a time.
Handlers run on threads that Python made, so nothing calls into the
interpreter from a foreign thread, and interpreter exit (which stops every
server first, see ``_stop_all``) cannot abort the process.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from ctypes import POINTER, byref, c_size_t, c_uint8, c_uint64, cast, string_at
from typing import Any, Callable, Optional, Sequence, Tuple

from ._constants import (
    USOCKET_ERR_INVALID_ARGUMENT,
    USOCKET_ERR_INVALID_HANDLE,
    USOCKET_ERR_SHUTDOWN,
    USOCKET_ERR_TIMEOUT,
    USOCKET_FAMILY_LOCAL,
    USOCKET_MAX_TIMEOUT_MS,
    USOCKET_SERVER_DEFAULT_TIMEOUT_MS,
    USOCKET_STREAM,
)
from ._ffi import Address, ServerOptions, TcpHandler, UdpHandler, lib
from ._socket import (
    MAX_DATAGRAM_PACKET_SIZE,
    SLICE_MS,
    STREAM,
    StreamSocket,
    _is_path,
    _size_arg,
    element_type_arg,
    format_address,
    opt_host_arg,
    path_arg,
    port_arg,
    protocol_arg,
)
from .errors import InvalidArgumentError, SocketError, last_error

_PU8 = POINTER(c_uint8)
# NULL handlers: the binding serves through usocket_server_next*, not callbacks
_NO_TCP = TcpHandler()
_NO_UDP = UdpHandler()

log = logging.getLogger("usocket.server")

_tls = threading.local()
_servers: "weakref.WeakSet[Server]" = weakref.WeakSet()
_servers_lock = threading.Lock()


def remote_host() -> Optional[str]:
    """usocket's ``*remote-host*``: the client's address while a handler runs, else None."""
    return getattr(_tls, "host", None)


def remote_port() -> Optional[int]:
    """usocket's ``*remote-port*``: the client's port while a handler runs, else None."""
    return getattr(_tls, "port", None)


def current_server() -> Optional["Server"]:
    """The :class:`Server` whose handler (or loop) runs on this thread, else None."""
    return getattr(_tls, "server", None)


class Server:
    """A running (or stopped) ``socket_server``.

    ``.local_name``, ``.local_address``, ``.local_port`` say where it
    listens (``.local_path`` for a Unix-domain server); ``.thread`` is its
    thread with ``in_new_thread=True`` (else ``None``); ``.stop()`` stops it
    (from any thread, a handler included) and is idempotent; ``with`` stops
    it on exit.
    """

    _core_close = staticmethod(lib.usocket_close)

    def __init__(
        self,
        handle: int,
        protocol: int,
        handler: Callable[..., Any],
        args: Tuple[Any, ...],
        element_type: type,
        multi_threading: bool,
        max_buffer_size: int,
        timeout_ms: int,
        local_path: Optional[str] = None,
    ) -> None:
        self.handle = handle
        self._h = c_uint64(handle)
        self._protocol = protocol
        self.handler = handler
        self.args = args
        self.element_type = element_type
        self.multi_threading = multi_threading
        self.max_buffer_size = max_buffer_size
        self.timeout_ms = timeout_ms
        self.thread: Optional[threading.Thread] = None
        self.local_path = local_path
        self._lock = threading.Lock()
        self._freed = False
        if local_path is None:
            a = Address()
            rc = lib.usocket_local_name(self._h, byref(a))
            if rc:
                e = last_error(rc)
                self._free()
                raise e
            self.local_name: Tuple[Any, Any] = (format_address(a), a.port)
        else:
            self.local_name = (local_path, None)
        self._stopping = threading.Event()
        self._done = threading.Event()
        with _servers_lock:
            _servers.add(self)

    @property
    def protocol(self) -> str:
        return "stream" if self._protocol == USOCKET_STREAM else "datagram"

    @property
    def local_address(self) -> Any:
        return self.local_name[0]

    @property
    def local_port(self) -> Any:
        return self.local_name[1]

    @property
    def running(self) -> bool:
        return not self._done.is_set() and not self._stopping.is_set()

    def __repr__(self) -> str:
        host, port = self.local_name
        where = repr(host) if self.local_path is not None else f"{host}:{port}"
        state = "running" if self.running else "stopped"
        return f"<usocket.Server {self.protocol} {where} {state}>"

    # -- stopping

    def _free(self) -> None:
        with self._lock:
            if self._freed:
                return
            self._freed = True
        self._core_close(self._h)

    def stop(self, timeout: Optional[float] = 5.0) -> None:
        """Stop serving: the core closes the listening socket (new clients are
        refused) and the loop ends; wait up to ``timeout`` seconds for it.
        Running handlers finish on their own."""
        self._stopping.set()
        with self._lock:
            if not self._freed:
                lib.usocket_server_stop(self._h)
        t = self.thread
        if t is not None and t is not threading.current_thread() and t.is_alive():
            t.join(timeout)

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait until the serving loop has ended; True if it has."""
        return self._done.wait(timeout)

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __del__(self) -> None:
        if not getattr(self, "_freed", True):
            try:
                self._free()
            except Exception:
                pass

    # -- serving

    def serve(self) -> None:
        """Serve on the calling thread until stopped (or interrupted)."""
        previous = getattr(_tls, "server", None)
        _tls.server = self
        try:
            if self._protocol == USOCKET_STREAM:
                self._serve_tcp()
            else:
                self._serve_udp()
        finally:
            _tls.server = previous
            self._stopping.set()
            lib.usocket_server_stop(self._h)
            self._free()
            self._done.set()

    def _ended(self, rc: int) -> bool:
        """After a failed next call: True when the server was stopped."""
        if rc in (USOCKET_ERR_SHUTDOWN, USOCKET_ERR_INVALID_HANDLE) or self._stopping.is_set():
            return True
        e = last_error(rc)
        log.error("usocket: socket_server %r ends: %s", self, e)
        raise e

    def _serve_tcp(self) -> None:
        h = self._h
        next_client = lib.usocket_server_next
        client = c_uint64()
        pclient = byref(client)
        peer = Address()
        ppeer = byref(peer)
        main = threading.current_thread() is threading.main_thread()
        # On the main thread one wait lasts a slice, so that Ctrl-C is seen;
        # elsewhere until a client comes or the server is stopped.
        step = SLICE_MS if main else -1
        while not self._stopping.is_set():
            rc = next_client(h, step, pclient, ppeer)
            if rc == USOCKET_ERR_TIMEOUT:
                continue
            if rc:
                if self._ended(rc):
                    return
                continue
            s = StreamSocket(client.value, self.element_type, peer.family == USOCKET_FAMILY_LOCAL)
            if peer.family == USOCKET_FAMILY_LOCAL:
                where: Tuple[Any, Any] = (None, None)
            else:
                where = (format_address(peer), peer.port)
            if self.multi_threading:
                t = threading.Thread(
                    target=self._serve_client, args=(s, where), name="usocket-client", daemon=True
                )
                try:
                    t.start()
                except RuntimeError:  # can't start new thread
                    log.exception("usocket: socket_server could not start a client thread")
                    s.close()
            else:
                self._serve_client(s, where)

    def _serve_client(self, client: StreamSocket, where: Tuple[Any, Any]) -> None:
        saved = (getattr(_tls, "host", None), getattr(_tls, "port", None), getattr(_tls, "server", None))
        host, port = where
        try:
            _tls.host, _tls.port, _tls.server = host, port, self
            try:
                self.handler(client.stream, *self.args)
            except Exception:
                log.exception("usocket: socket_server handler %r failed for client %s:%s", self.handler, host, port)
        finally:
            _tls.host, _tls.port, _tls.server = saved
            try:
                client.close()
            except Exception:
                log.debug("usocket: closing a client after its handler", exc_info=True)

    def _serve_udp(self) -> None:
        h = self._h
        next_datagram = lib.usocket_server_next_datagram
        reply_to = lib.usocket_server_reply
        size = self.max_buffer_size
        buf = (c_uint8 * size)()
        n = c_size_t()
        pn = byref(n)
        peer = Address()
        ppeer = byref(peer)
        wait = self.timeout_ms
        if threading.current_thread() is threading.main_thread():
            step = SLICE_MS if wait < 0 or wait > SLICE_MS else wait
        else:
            step = wait
        while not self._stopping.is_set():
            rc = next_datagram(h, step, buf, size, pn, ppeer)
            if rc == USOCKET_ERR_TIMEOUT:
                continue
            if rc:
                if self._ended(rc):
                    return
                continue
            data = string_at(buf, n.value)
            host, port = format_address(peer), peer.port
            saved = (getattr(_tls, "host", None), getattr(_tls, "port", None))
            _tls.host, _tls.port = host, port
            try:
                reply = self.handler(data, *self.args)
                if reply:
                    if isinstance(reply, str):
                        raise TypeError("a UDP handler returns bytes, not str (encode it first)")
                    out = bytes(reply)
                    rc = reply_to(h, cast(out, _PU8), len(out), ppeer)
                    if rc:
                        e = last_error(rc)
                        if self._stopping.is_set():
                            return
                        raise e
            except Exception:
                if self._stopping.is_set():
                    return
                log.exception("usocket: socket_server handler %r failed for client %s:%s", self.handler, host, port)
            finally:
                _tls.host, _tls.port = saved


def _udp_timeout_ms(timeout: Any) -> int:
    """The UDP server's timeout (seconds) as the core takes it: one wait for a
    datagram, in ms; None for the core's default. Negative or larger than
    USOCKET_MAX_TIMEOUT_MS: InvalidArgumentError, as in every runtime."""
    if timeout is None:
        return USOCKET_SERVER_DEFAULT_TIMEOUT_MS
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, not {type(timeout).__name__}")
    if timeout != timeout or timeout < 0 or timeout * 1000.0 > USOCKET_MAX_TIMEOUT_MS:
        raise InvalidArgumentError(
            f"timeout must be from 0 to {USOCKET_MAX_TIMEOUT_MS / 1000.0} seconds, not {timeout}",
            None,
            USOCKET_ERR_INVALID_ARGUMENT,
        )
    ms = int(timeout * 1000.0)
    return ms + 1 if ms < timeout * 1000.0 else ms


def socket_server(
    host: Any,
    port: Any = None,
    handler: Optional[Callable[..., Any]] = None,
    args: Sequence[Any] = (),
    *,
    in_new_thread: bool = False,
    protocol: Any = "stream",
    timeout: Optional[float] = 1,
    max_buffer_size: int = MAX_DATAGRAM_PACKET_SIZE,
    element_type: Any = bytes,
    reuse_address: bool = True,
    multi_threading: bool = False,
) -> Server:
    """usocket's ``socket-server``.

    TCP (``protocol="stream"``): ``handler(stream, *args)`` for each client,
    ``stream`` being the client's ``.stream`` (``element_type`` bytes or str);
    the server flushes and closes it when the handler returns. With
    ``multi_threading`` each client has a thread of its own; without it the
    clients are served one at a time, in the order they came.

    UDP (``protocol="datagram"``): ``handler(data, *args)`` for each datagram
    (``data`` is bytes of at most ``max_buffer_size``); what it returns
    (bytes, or None/empty for no reply) is sent back to the sender.
    ``timeout`` (seconds) is how long one wait for a datagram lasts before
    the loop looks whether it was stopped; it never ends the server.

    A ``host`` that is an ``os.PathLike`` serves a Unix-domain stream socket
    at that path (``port`` is then ignored and may be left out:
    ``socket_server(path, handler=h)``; ``@name`` is an abstract name).

    During a handler, :func:`remote_host` and :func:`remote_port` give the
    client's address (None for a Unix-domain client). An exception in a
    handler is logged (logger ``usocket.server``) and the server goes on.

    With ``in_new_thread=True`` the server runs on a daemon thread and the
    :class:`Server` is returned at once; otherwise it serves on the calling
    thread until stopped (:func:`current_server` ``().stop()`` from a
    handler) or interrupted (Ctrl-C), then returns the stopped Server.
    Binding errors (address in use, ...) are raised here, before serving.
    """
    if not callable(handler):
        raise TypeError(f"socket_server: handler must be callable, not {type(handler).__name__}")
    if isinstance(args, (str, bytes)) or not isinstance(args, (tuple, list)):
        raise TypeError(f"socket_server: args must be a tuple or list, not {type(args).__name__}")
    proto = protocol_arg(protocol)
    et = element_type_arg(element_type)
    size = _size_arg(max_buffer_size, "max_buffer_size", 1)
    timeout_ms = _udp_timeout_ms(timeout)
    local = _is_path(host)
    opts = ServerOptions()
    lib.usocket_server_options_init(byref(opts))
    opts.protocol = proto
    opts.reuse_address = bool(reuse_address)
    opts.multi_threading = bool(multi_threading)
    opts.timeout_ms = timeout_ms
    opts.max_buffer_size = size
    out = c_uint64()
    if local:
        if proto != STREAM:
            raise InvalidArgumentError(
                "socket_server: a Unix-domain server serves streams only (protocol='stream')",
                None,
                USOCKET_ERR_INVALID_ARGUMENT,
            )
        path = path_arg(host, "host")
        rc = lib.usocket_server_new_local(path, byref(opts), _NO_TCP, None, byref(out))
        where: Optional[str] = path.decode("utf-8")
    else:
        hb = opt_host_arg(host)
        pt = port_arg(port, allow_none=True)
        rc = lib.usocket_server_new(hb, pt, byref(opts), _NO_TCP, _NO_UDP, None, byref(out))
        where = None
    if rc:
        raise last_error(rc)
    server = Server(out.value, proto, handler, tuple(args), et, bool(multi_threading), size, timeout_ms, where)
    if in_new_thread:
        name = f"usocket-server-{server.local_port if where is None else where}"
        t = threading.Thread(target=server.serve, name=name, daemon=True)
        server.thread = t
        t.start()
        return server
    server.serve()
    return server


def _stop_all() -> None:
    """At interpreter exit: stop every server and give its loop a moment to end."""
    with _servers_lock:
        servers = list(_servers)
    for s in servers:
        try:
            s.stop(timeout=0)
        except Exception:
            pass
    for s in servers:
        t = s.thread
        if t is not None and t is not threading.current_thread() and t.is_alive():
            t.join(1.0)


atexit.register(_stop_all)
