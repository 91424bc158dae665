#!/usr/bin/env python3
"""Benchmarks of the Python binding against Python's own socket/selectors.

Usage:

    python3 bindings/python/bench_python.py MEASURE --impl IMPL [options]

Prints exactly one JSON line on stdout (the last line), the runner's record:

    {"status": "ok", "value": <number>, "unit": "<unit>", "measure": ..., "impl": ..., ...}
    {"status": "failed" | "unavailable", "reason": "...", ...}

and exits 0 when the status is "ok", 1 otherwise.

Measures (each with ``--impl binding`` or ``--impl stdlib``):

  rtt     TCP echo round trip, client side only: write SIZE bytes, read them
          back, against a C echo peer (bench_echo_peer.c, plain system calls,
          built with cc at bench time; $CC overrides cc), the same for every
          impl. --size B (1), --seconds S (0.5), --iters N (cap, 2000000).
          value: microseconds per round trip (unit "us"); also "per_second".
          --api bytes (default): binding StreamSocket.raw (unbuffered io)
          write + read; stdlib sendall + recv. --api into: readinto /
          recv_into into a preallocated buffer. --impl floor: the bare
          ctypes calls usocket_write + usocket_read in a loop (no binding
          code around them), the floor the binding's overhead sits on.
  bulk    TCP bulk receive of --bytes N (2 GiB) in 64 KiB reads (--read-size).
          The sender is a forked child using the stdlib's sendall for both
          impls, so only the receiving side differs.
          value: GB/s (10^9 bytes per second, unit "GB/s").
          binding: StreamSocket.raw.readinto (--api raw, the default: the
          caller's buffer goes to usocket_read, as recv_into's does) or
          StreamSocket.stream.readinto (--api stream: io's buffered reader,
          which fills the whole 64 KiB per call); stdlib: recv_into.
  udp     UDP request/response of --size B (64) bytes, --seconds S, --iters N,
          client side only, against the C echo peer (as rtt).
          value: microseconds per round trip (unit "us").
          --api bytes (default): binding connected DatagramSocket send +
          receive (which also returns the sender, as usocket's does); stdlib
          connected socket send + recv. --api into: receive_into /
          recv_into. --impl floor: bare ctypes usocket_send + usocket_receive.
  wait    --n N idle UDP sockets plus 1 ready one, waited on repeatedly for
          --seconds S (0.25) or --iters N. value: microseconds per wait (unit "us").
          --impl binding-waitlist (= binding): usocket.WaitList.wait;
          binding-wait: usocket.wait_for_input on the list;
          selectors (= stdlib): selectors.DefaultSelector.select;
          select: select.select ("unavailable" past FD_SETSIZE descriptors).
  accept  --count K (4000) connections made and queued first (stdlib clients),
          then timed: accepting all K. value: connections per second (unit "conn/s").

  compare every measure above for every impl, each in a process of its own,
          --runs R (5) times; prints the medians and the ratios binding /
          stdlib (rates: stdlib / binding is not used, the ratio is binding
          / stdlib of the value, so > 1 is slower for times and faster for
          rates) and, last, one JSON line with them. Run it pinned:
          ``taskset -c 0 python3 bindings/python/bench_python.py compare``.

Common options: --cpu C pins this process and its children to CPU C
(os.sched_setaffinity) — the runner may instead run the whole command
under ``taskset``.

The binding is imported from this directory (the repository's package and
its build output) unless it is installed; USOCKET_LIBRARY overrides the
library as usual.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import select
import selectors
import signal
import socket
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

UNITS = {"rtt": "us", "bulk": "GB/s", "udp": "us", "wait": "us", "accept": "conn/s"}


def emit(rec, code=0):
    sys.stdout.write(json.dumps(rec) + "\n")
    sys.stdout.flush()
    return code


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = need + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= want


def fork_child(fn):
    """Run fn() in a forked child that exits when it returns (or on error)."""
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            fn()
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    return pid


def reap(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        os.waitpid(pid, 0)
    except OSError:
        pass


def timed_loop(step, seconds, iters):
    """Call step() in batches until `seconds` passed or `iters` calls; (calls, elapsed)."""
    batch = 64
    done = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while done < iters:
        for _ in range(batch):
            step()
        done += batch
        if time.perf_counter() >= deadline:
            break
    return done, time.perf_counter() - t0


# ---------------------------------------------------------------- the C echo peer

PEER_SOURCE = os.path.join(HERE, "bench_echo_peer.c")


def echo_peer_binary():
    """Build bench_echo_peer.c with cc (once per source version) and return its path."""
    import hashlib
    import subprocess
    import tempfile

    with open(PEER_SOURCE, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    out = os.path.join(tempfile.gettempdir(), f"usocket-bench-echo-peer-{digest}")
    if not os.path.exists(out):
        cc = os.environ.get("CC", "cc")
        tmp = f"{out}.{os.getpid()}"
        subprocess.run([cc, "-O2", "-o", tmp, PEER_SOURCE], check=True)
        os.replace(tmp, out)
    return out


def start_echo_peer(kind):
    """Start the C echo peer ("tcp" or "udp"); (process, port)."""
    import subprocess

    proc = subprocess.Popen([echo_peer_binary(), kind], stdout=subprocess.PIPE)
    line = proc.stdout.readline()
    if not line.strip():
        proc.kill()
        proc.wait()
        raise RuntimeError(f"the {kind} echo peer did not start")
    return proc, int(line)


def stop_echo_peer(proc):
    try:
        proc.wait(timeout=5)
    except Exception:
        proc.kill()
        proc.wait()
    proc.stdout.close()


# ---------------------------------------------------------------- rtt


def _floor_calls():
    """The bare ctypes calls: usocket_write/usocket_read, _send/_receive, no argtypes."""
    from ctypes import byref, c_size_t, create_string_buffer

    from usocket import _ffi

    return _ffi, byref, c_size_t, create_string_buffer


def make_rtt(impl, size, api="bytes"):
    """(step, close) of one TCP round trip with impl, against a C echo peer of its own."""
    msg = b"x" * size
    into = api == "into"
    proc, port = start_echo_peer("tcp")
    if impl == "stdlib":
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sendall = s.sendall
        if into:
            buf = bytearray(size)
            mv = memoryview(buf)
            recv_into = s.recv_into

            def step():
                sendall(msg)
                got = recv_into(mv)
                while got < size:
                    got += recv_into(mv[got:])

        else:
            recv = s.recv

            def step():
                sendall(msg)
                got = len(recv(size))
                while got < size:
                    got += len(recv(size - got))

    elif impl == "floor":
        import usocket

        _ffi, byref, c_size_t, create_string_buffer = _floor_calls()
        s = usocket.socket_connect("127.0.0.1", port)
        h = s._h
        w = _ffi.raw["usocket_write"]
        r = _ffi.raw["usocket_read"]
        buf = create_string_buffer(65536)
        nw = c_size_t()
        nr = c_size_t()
        pw = byref(nw)
        pr = byref(nr)

        def step():
            w(h, msg, size, pw)
            r(h, buf, size, pr)
            got = nr.value
            while got < size:
                r(h, buf, size - got, pr)
                got += nr.value

    else:
        import usocket

        s = usocket.socket_connect("127.0.0.1", port)
        raw = s.raw
        write = raw.write
        if into:
            buf = bytearray(size)
            mv = memoryview(buf)
            readinto = raw.readinto

            def step():
                write(msg)
                got = readinto(mv)
                while got < size:
                    got += readinto(mv[got:])

        else:
            read = raw.read

            def step():
                write(msg)
                got = len(read(size))
                while got < size:
                    got += len(read(size - got))

    def close():
        s.close()
        stop_echo_peer(proc)

    return step, close


def bench_rtt(impl, size, seconds, iters, api="bytes"):
    """Client side only: every impl talks to the same C echo peer."""
    step, close = make_rtt(impl, size, api)
    try:
        for _ in range(200):  # warm up
            step()
        n, t = timed_loop(step, seconds, iters)
    finally:
        close()
    us = t / n * 1e6
    return {"value": us, "per_second": n / t, "iters": n, "seconds": t, "api": api, "peer": "C"}


# ---------------------------------------------------------------- bulk


def bench_bulk(impl, total, read_size, api="raw"):
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    port = ls.getsockname()[1]

    def sender():
        c, _ = ls.accept()
        chunk = b"\x5a" * (1 << 20)
        mv = memoryview(chunk)
        left = total
        while left > 0:
            k = min(left, len(chunk))
            c.sendall(mv[:k])
            left -= k
        c.close()

    pid = fork_child(sender)
    ls.close()
    buf = bytearray(read_size)
    mv = memoryview(buf)
    got = 0
    try:
        if impl == "stdlib":
            s = socket.create_connection(("127.0.0.1", port))
            recv_into = s.recv_into
            t0 = time.perf_counter()
            while True:
                n = recv_into(mv)
                if not n:
                    break
                got += n
            t = time.perf_counter() - t0
        else:
            import usocket

            s = usocket.socket_connect("127.0.0.1", port)
            readinto = s.stream.readinto if api == "stream" else s.raw.readinto
            t0 = time.perf_counter()
            while True:
                n = readinto(mv)
                if not n:
                    break
                got += n
            t = time.perf_counter() - t0
        s.close()
    finally:
        reap(pid)
    if got != total:
        raise RuntimeError(f"received {got} bytes of {total}")
    return {"value": got / t / 1e9, "bytes": got, "seconds": t, "read_size": read_size, "api": api}


# ---------------------------------------------------------------- udp


def make_udp(impl, size, api="bytes"):
    """(step, close) of one UDP round trip with impl, against a C echo peer of its own."""
    msg = b"u" * size
    into = api == "into"
    proc, port = start_echo_peer("udp")
    if impl == "stdlib":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(("127.0.0.1", port))
        send = s.send
        if into:
            buf = bytearray(65536)
            recv_into = s.recv_into

            def step():
                send(msg)
                recv_into(buf)

        else:
            recv = s.recv

            def step():
                send(msg)
                recv(65536)

        def stop():
            s.send(b"")

    elif impl == "floor":
        import usocket

        _ffi, byref, c_size_t, create_string_buffer = _floor_calls()
        s = usocket.socket_connect("127.0.0.1", port, protocol="datagram")
        h = s._h
        snd = _ffi.raw["usocket_send"]
        rcv = _ffi.raw["usocket_receive"]
        buf = create_string_buffer(65536)
        n1 = c_size_t()
        n2 = c_size_t()
        p1 = byref(n1)
        p2 = byref(n2)

        def step():
            snd(h, msg, size, None, 0, p1)
            rcv(h, buf, 65536, p2, None)

        def stop():
            s.send(b"")

    else:
        import usocket

        s = usocket.socket_connect("127.0.0.1", port, protocol="datagram")
        send = s.send
        if into:
            buf = bytearray(65536)
            receive_into = s.receive_into

            def step():
                send(msg)
                receive_into(buf)

        else:
            receive = s.receive

            def step():
                send(msg)
                receive()

        def stop():
            s.send(b"")

    def close():
        try:
            stop()
        finally:
            s.close()
            stop_echo_peer(proc)

    return step, close


def bench_udp(impl, size, seconds, iters, api="bytes"):
    """Client side only: every impl talks to the same C echo peer."""
    step, close = make_udp(impl, size, api)
    try:
        for _ in range(200):
            step()
        n, t = timed_loop(step, seconds, iters)
    finally:
        close()
    return {"value": t / n * 1e6, "per_second": n / t, "iters": n, "seconds": t, "api": api, "peer": "C"}


def interleaved(measure, impls, size, rounds=40, batch=500, api="bytes"):
    """The round trips of several impls in one process, in alternating
    batches, so that the load of a shared machine falls on all of them
    alike: {impl: median microseconds of a round trip over the batches}."""
    import statistics

    make = make_rtt if measure == "rtt" else make_udp
    made = {impl: make(impl, size, api) for impl in impls}
    times = {impl: [] for impl in impls}
    cpu = {impl: [] for impl in impls}
    try:
        for step, _ in made.values():
            for _ in range(200):
                step()
        clock = time.perf_counter
        tclock = time.thread_time
        for _ in range(rounds):
            for impl, (step, _) in made.items():
                c0 = tclock()
                t0 = clock()
                for _ in range(batch):
                    step()
                times[impl].append((clock() - t0) / batch * 1e6)
                cpu[impl].append((tclock() - c0) / batch * 1e6)
    finally:
        for _, close in made.values():
            close()
    return (
        {impl: statistics.median(v) for impl, v in times.items()},
        {impl: statistics.median(v) for impl, v in cpu.items()},
    )


# ---------------------------------------------------------------- wait


def bench_wait(impl, n, seconds, iters):
    if not raise_fd_limit(n + 8):
        raise RuntimeError(f"cannot raise the descriptor limit to {n + 72}")
    impl = {"binding": "binding-waitlist", "stdlib": "selectors"}.get(impl, impl)
    if impl in ("select", "selectors"):
        idle = []
        for _ in range(n):
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind(("127.0.0.1", 0))
            idle.append(u)
        ready = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        ready.bind(("127.0.0.1", 0))
        poke = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        poke.sendto(b"!", ready.getsockname())
        socks = idle + [ready]
        if impl == "select":
            if max(x.fileno() for x in socks) >= 1024:
                return {"status": "unavailable", "reason": "select.select cannot take descriptors >= 1024 (FD_SETSIZE)"}
            sel_ = select.select

            def step():
                r, _, _ = sel_(socks, [], [], 1.0)
                assert r

        else:
            sel = selectors.DefaultSelector()
            for x in socks:
                sel.register(x, selectors.EVENT_READ)
            sel_select = sel.select

            def step():
                evs = sel_select(1.0)
                assert evs

    else:
        import usocket

        idle = [usocket.socket_connect(None, None, protocol="datagram", local_host="127.0.0.1") for _ in range(n)]
        ready = usocket.socket_connect(None, None, protocol="datagram", local_host="127.0.0.1")
        poke = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        poke.sendto(b"!", ("127.0.0.1", ready.local_port))
        socks = idle + [ready]
        if impl == "binding-waitlist":
            wl = usocket.WaitList(socks)
            wl_wait = wl.wait

            def step():
                r, _ = wl_wait(1.0)
                assert r

        elif impl == "binding-wait":
            wfi = usocket.wait_for_input

            def step():
                r, _ = wfi(socks, 1.0, True)
                assert r

        else:
            raise SystemExit(f"unknown wait impl {impl!r}")
    # make sure the datagram has arrived
    for _ in range(3):
        step()
    count = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while count < iters:
        step()
        count += 1
        if count % 8 == 0 and time.perf_counter() >= deadline:
            break
    t = time.perf_counter() - t0
    return {"value": t / count * 1e6, "iters": count, "seconds": t, "n": n, "impl_detail": impl}


# ---------------------------------------------------------------- accept


def bench_accept(impl, count):
    if not raise_fd_limit(2 * count + 16):
        raise RuntimeError(f"cannot raise the descriptor limit to {2 * count + 80}")
    if impl == "stdlib":
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(count)
        port = ls.getsockname()[1]
        accept = ls.accept
    else:
        import usocket

        ls = usocket.socket_listen("127.0.0.1", 0, backlog=count)
        port = ls.local_port
        accept = ls.accept
    clients = []
    for _ in range(count):
        c = socket.socket()
        c.connect(("127.0.0.1", port))
        clients.append(c)
    got = []
    t0 = time.perf_counter()
    for _ in range(count):
        got.append(accept())
    t = time.perf_counter() - t0
    for g in got:
        (g[0] if isinstance(g, tuple) else g).close()
    for c in clients:
        c.close()
    ls.close()
    return {"value": count / t, "count": count, "seconds": t}


# ---------------------------------------------------------------- compare

COMPARISONS = [
    # (label, measure, extra args, impls, the goal: (kind, bound))
    ("TCP round trip, 1 B", "rtt", ["--size", "1"], ["stdlib", "binding", "floor"], ("time", 1.10)),
    ("UDP round trip, 64 B", "udp", ["--size", "64"], ["stdlib", "binding", "floor"], ("time", 1.10)),
    ("bulk receive, 64 KiB reads", "bulk", ["--bytes", str(1 << 30)], ["stdlib", "binding"], ("rate", 0.95)),
    ("wait, 10,000 idle + 1 ready", "wait", ["--n", "10000"], ["selectors", "binding-waitlist"], ("time", 1.2)),
]


def compare(runs, cpu):
    import statistics
    import subprocess

    results = {}
    lines = []
    for label, measure, extra, impls, (kind, bound) in COMPARISONS:
        med = {}
        if measure in ("rtt", "udp"):
            # one process, the impls in alternating batches (see interleaved)
            size = int(extra[extra.index("--size") + 1])
            if cpu is not None:
                os.sched_setaffinity(0, {cpu})
            walls = {impl: [] for impl in impls}
            cpus = {impl: [] for impl in impls}
            for _ in range(runs):
                wall, cput = interleaved(measure, impls, size)
                for impl in impls:
                    walls[impl].append(wall[impl])
                    cpus[impl].append(cput[impl])
            med = {impl: statistics.median(v) for impl, v in walls.items()}
            cpu_med = {impl: statistics.median(v) for impl, v in cpus.items()}
            extra_note = "; client CPU per round trip " + ", ".join(f"{i} {cpu_med[i]:.3f} us" for i in impls)
        else:
            extra_note = ""
        for impl in impls if not med else ():
            values = []
            for _ in range(runs):
                cmd = [sys.executable, os.path.abspath(__file__), measure, "--impl", impl] + extra
                if cpu is not None:
                    cmd += ["--cpu", str(cpu)]
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
                rec = json.loads(r.stdout.strip().splitlines()[-1]) if r.stdout.strip() else {}
                if rec.get("status") != "ok":
                    raise RuntimeError(f"{measure} {impl}: {rec.get('reason') or r.stderr[-500:]}")
                values.append(rec["value"])
            med[impl] = statistics.median(values)
        base = med[impls[0]]
        ours = med[impls[1]]
        ratio = ours / base
        ok = ratio <= bound if kind == "time" else ratio >= bound
        unit = UNITS[measure]
        row = f"{label}: {impls[0]} {base:.3f} {unit}, {impls[1]} {ours:.3f} {unit}"
        if len(impls) > 2:
            row += f", {impls[2]} {med[impls[2]]:.3f} {unit}"
        row += f"; ratio {ratio:.3f} (goal {'<=' if kind == 'time' else '>='} {bound}) {'ok' if ok else 'MISSED'}"
        row += extra_note
        lines.append(row)
        print(row, file=sys.stderr, flush=True)
        results[label] = {"medians": med, "ratio": ratio, "goal": bound, "kind": kind, "met": ok}
    return {"status": "ok", "value": sum(1 for r in results.values() if r["met"]), "unit": "goals met",
            "of": len(results), "results": results, "runs": runs}


# ---------------------------------------------------------------- main


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("measure", choices=sorted(UNITS) + ["compare"])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--impl", default="binding")
    p.add_argument("--size", type=int, default=None)
    p.add_argument("--seconds", type=float, default=None)
    p.add_argument("--iters", type=int, default=2_000_000)
    p.add_argument("--bytes", type=int, default=2 << 30)
    p.add_argument("--read-size", type=int, default=65536)
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--count", type=int, default=4000)
    p.add_argument("--cpu", type=int, default=None)
    p.add_argument("--api", choices=("bytes", "into", "raw", "stream"), default=None)
    a = p.parse_args(argv)
    if a.measure == "compare":
        try:
            return emit(compare(a.runs, a.cpu))
        except Exception as e:
            traceback.print_exc()
            return emit({"status": "failed", "measure": "compare", "reason": f"{type(e).__name__}: {e}"}, 1)
    base = {"measure": a.measure, "impl": a.impl, "unit": UNITS[a.measure], "python": sys.version.split()[0]}
    valid = {"binding", "stdlib"}
    if a.measure in ("rtt", "udp"):
        valid |= {"floor"}
    if a.measure == "wait":
        valid |= {"select", "selectors", "binding-wait", "binding-waitlist"}
    if a.impl not in valid:
        return emit(dict(base, status="failed", reason=f"unknown impl {a.impl!r} for {a.measure}"), 2)
    if a.cpu is not None:
        os.sched_setaffinity(0, {a.cpu})
    try:
        if a.measure == "rtt":
            size = a.size or 1
            rec = bench_rtt(a.impl, size, a.seconds or 0.5, a.iters, a.api or "bytes")
            rec["size"] = size
        elif a.measure == "bulk":
            rec = bench_bulk(a.impl, a.bytes, a.read_size, "stream" if a.api == "stream" else "raw")
        elif a.measure == "udp":
            size = a.size or 64
            rec = bench_udp(a.impl, size, a.seconds or 0.5, a.iters, a.api or "bytes")
            rec["size"] = size
        elif a.measure == "wait":
            rec = bench_wait(a.impl, a.n, a.seconds or 0.25, a.iters)
        else:
            rec = bench_accept(a.impl, a.count)
    except Exception as e:  # report, don't crash without a record
        traceback.print_exc()
        return emit(dict(base, status="failed", reason=f"{type(e).__name__}: {e}"), 1)
    rec = dict(base, **rec)
    rec.setdefault("status", "ok")
    if a.impl.startswith("binding") or a.impl == "floor":
        try:
            import usocket

            rec["library"] = usocket.library_path
        except Exception:
            pass
    return emit(rec, 0 if rec["status"] == "ok" else 1)


if __name__ == "__main__":
    sys.exit(main())
