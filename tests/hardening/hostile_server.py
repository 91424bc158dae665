"""The Python server the hostile-peer driver attacks: usocket.socket_server,
TCP with multi_threading (echo: what a client sends comes back, until it
closes) and UDP (a datagram of 0 bytes is answered b"empty", any other is
echoed), both on threads of their own (in_new_thread=True).

    python3 tests/hardening/hostile_server.py

Prints "READY <tcp-port> <udp-port>", serves until stdin reaches end of
file, then stops both servers and exits 0. Same protocol as
hostile_server.c and hostile-server.lisp.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import conftest  # noqa: E402,F401  (puts the binding on sys.path)

import usocket  # noqa: E402


def echo(stream) -> None:
    try:
        while True:
            data = stream.read1(4096)
            if not data:
                return
            stream.write(data)
            stream.flush()
    except (usocket.ConnectionResetError, usocket.ShutdownError):
        return  # the hostile clients that reset or go away mid-request


def udp(data: bytes) -> bytes:
    return data if data else b"empty"


def main() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    tcp_server = usocket.socket_server("127.0.0.1", 0, echo, in_new_thread=True, multi_threading=True)
    udp_server = usocket.socket_server("127.0.0.1", 0, udp, in_new_thread=True, protocol="datagram")
    print(f"READY {tcp_server.local_port} {udp_server.local_port}", flush=True)
    while sys.stdin.buffer.read(4096):
        pass
    tcp_server.stop()
    udp_server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
