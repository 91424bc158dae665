"""usocket's socket-server, served on Python threads over the core's sockets.

The accept (TCP) or receive (UDP) loop runs on the calling thread or, with
``in_new_thread=True``, on a daemon thread; with ``multi_threading=True``
each TCP client gets a daemon thread of its own. Handlers run on Python
threads that Python made, so nothing calls into the interpreter from a
foreign thread, and interpreter exit (which stops every server first, see
``_stop_all``) cannot abort the process.
"""

from __future__ import annotations

import atexit
import logging
import socket as _stdlib_socket
import threading
import weakref
from typing import Any, Callable, Optional, Sequence, Tuple

from ._socket import (
    MAX_DATAGRAM_PACKET_SIZE,
    STREAM,
    DatagramSocket,
    StreamServerSocket,
    StreamSocket,
    Usocket,
    element_type_arg,
    opt_host_arg,
    port_arg,
    protocol_arg,
    seconds_to_ms,
    socket_connect,
    socket_listen,
    _size_arg,
)
from .errors import InvalidHandleError, SocketError, TimeoutError

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
    listens; ``.thread`` is its thread with ``in_new_thread=True`` (else
    ``None``); ``.stop()`` stops it (from any thread, a handler included)
    and is idempotent; ``with`` stops it on exit.
    """

    def __init__(
        self,
        sock: Usocket,
        handler: Callable[..., Any],
        args: Tuple[Any, ...],
        element_type: type,
        multi_threading: bool,
        max_buffer_size: int,
    ) -> None:
        self.socket = sock
        self.handler = handler
        self.args = args
        self.element_type = element_type
        self.multi_threading = multi_threading
        self.max_buffer_size = max_buffer_size
        self.thread: Optional[threading.Thread] = None
        self.local_name: Tuple[str, int] = sock.local_name
        self._stopping = threading.Event()
        self._done = threading.Event()
        with _servers_lock:
            _servers.add(self)

    @property
    def protocol(self) -> str:
        return "datagram" if isinstance(self.socket, DatagramSocket) else "stream"

    @property
    def local_address(self) -> str:
        return self.local_name[0]

    @property
    def local_port(self) -> int:
        return self.local_name[1]

    @property
    def running(self) -> bool:
        return not self._done.is_set() and not self._stopping.is_set()

    def __repr__(self) -> str:
        host, port = self.local_name
        state = "running" if self.running else "stopped"
        return f"<usocket.Server {self.protocol} {host}:{port} {state}>"

    # -- stopping

    def stop(self, timeout: Optional[float] = 5.0) -> None:
        """Stop serving: close the listening socket (new clients are refused)
        and wait up to ``timeout`` seconds for the loop to end. Running
        handlers finish on their own."""
        self._stopping.set()
        try:
            self.socket.close()
        except SocketError:
            pass
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

    # -- serving

    def serve(self) -> None:
        """Serve on the calling thread until stopped (or interrupted)."""
        previous = getattr(_tls, "server", None)
        _tls.server = self
        try:
            if isinstance(self.socket, StreamServerSocket):
                self._serve_tcp(self.socket)
            else:
                self._serve_udp(self.socket)  # type: ignore[arg-type]
        finally:
            _tls.server = previous
            self._stopping.set()
            try:
                self.socket.close()
            except SocketError:
                pass
            self._done.set()

    def _pause_after_error(self) -> None:
        # e.g. out of descriptors: do not spin
        self._stopping.wait(0.05)

    def _serve_tcp(self, listener: StreamServerSocket) -> None:
        while not self._stopping.is_set():
            try:
                client = listener.accept(self.element_type)
            except TimeoutError:
                continue
            except InvalidHandleError:
                if self._stopping.is_set():
                    return
                raise
            except SocketError:
                if self._stopping.is_set():
                    return
                log.exception("usocket: socket_server on %s:%s could not accept", *self.local_name)
                self._pause_after_error()
                continue
            if self.multi_threading:
                t = threading.Thread(target=self._serve_client, args=(client,), name="usocket-client", daemon=True)
                try:
                    t.start()
                except RuntimeError:  # can't start new thread
                    log.exception("usocket: socket_server could not start a client thread")
                    client.close()
            else:
                self._serve_client(client)

    def _serve_client(self, client: StreamSocket) -> None:
        saved = (getattr(_tls, "host", None), getattr(_tls, "port", None), getattr(_tls, "server", None))
        try:
            try:
                host, port = client.peer_name
            except SocketError:
                host, port = None, None
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

    def _serve_udp(self, sock: DatagramSocket) -> None:
        size = self.max_buffer_size
        while not self._stopping.is_set():
            try:
                data, host, port = sock.receive(size)
            except TimeoutError:
                continue
            except InvalidHandleError:
                if self._stopping.is_set():
                    return
                raise
            except SocketError:
                if self._stopping.is_set():
                    return
                log.exception("usocket: socket_server on %s:%s could not receive", *self.local_name)
                self._pause_after_error()
                continue
            saved = (getattr(_tls, "host", None), getattr(_tls, "port", None))
            _tls.host, _tls.port = host, port
            try:
                reply = self.handler(data, *self.args)
                if reply:
                    sock.send(reply, host, port)
            except Exception:
                if self._stopping.is_set() and sock.closed:
                    return
                log.exception("usocket: socket_server handler %r failed for client %s:%s", self.handler, host, port)
            finally:
                _tls.host, _tls.port = saved


def socket_server(
    host: Any,
    port: Any,
    handler: Callable[..., Any],
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
    ``multi_threading`` each client has a thread of its own.

    UDP (``protocol="datagram"``): ``handler(data, *args)`` for each datagram
    (``data`` is bytes of at most ``max_buffer_size``); what it returns
    (bytes, or None/empty for no reply) is sent back to the sender.
    ``timeout`` is the receive timeout of the UDP loop.

    During a handler, :func:`remote_host` and :func:`remote_port` give the
    client's address. An exception in a handler is logged (logger
    ``usocket.server``) and the server goes on.

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
    opt_host_arg(host)  # type and NUL checks before anything is bound
    pt = port_arg(port, allow_none=True)
    if proto == STREAM:
        sock: Usocket = socket_listen(
            host, pt, reuse_address=reuse_address, backlog=_stdlib_socket.SOMAXCONN, element_type=et
        )
    else:
        seconds_to_ms(timeout, "timeout")
        sock = socket_connect(None, None, protocol="datagram", local_host=host, local_port=pt)
        try:
            sock.set_option("receive_timeout", timeout)
        except BaseException:
            sock.close()
            raise
    server = Server(sock, handler, tuple(args), et, bool(multi_threading), size)
    if in_new_thread:
        t = threading.Thread(target=server.serve, name=f"usocket-server-{server.local_port}", daemon=True)
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
        s._stopping.set()
        try:
            s.socket.close()
        except Exception:
            pass
    for s in servers:
        t = s.thread
        if t is not None and t is not threading.current_thread() and t.is_alive():
            t.join(1.0)


atexit.register(_stop_all)
