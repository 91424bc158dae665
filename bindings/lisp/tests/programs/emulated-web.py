#!/usr/bin/env python3
"""A stand-in for common-lisp.net's web server, for usocket's suites inside
run.sh's network namespace (where /etc/hosts says common-lisp.net is
127.0.0.1). Listens on port 80 of 127.0.0.1 and ::1; to each connection it
sends nothing until it has read a request head (a blank line), then answers
"HTTP/1.0 200 OK" with a small page and closes. Silent clients are dropped
after 20 s. Writes "ready" on stdout once it listens."""
import socket, sys, threading

PAGE = b"<html><body>common-lisp.net (emulated for usocket's test suite)</body></html>\n"
ANSWER = (b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
          b"Connection: close\r\n\r\n" % len(PAGE)) + PAGE

def serve(conn):
    with conn:
        conn.settimeout(20)
        data = b""
        try:
            while b"\n\n" not in data.replace(b"\r\n", b"\n"):
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            conn.sendall(ANSWER)
        except OSError:
            pass

def listen(family, host):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((host, 80))
    s.listen(64)
    return s

def accept_loop(s):
    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()

def main():
    sockets = [listen(socket.AF_INET, "127.0.0.1")]
    try:
        sockets.append(listen(socket.AF_INET6, "::1"))
    except OSError:
        pass
    for s in sockets[1:]:
        threading.Thread(target=accept_loop, args=(s,), daemon=True).start()
    print("ready", flush=True)
    accept_loop(sockets[0])

if __name__ == "__main__":
    sys.exit(main())
