"""The Python soak: N connect/accept/close cycles (default 5,000; run.sh soak:
100,000) through the binding, mixed with refused connects, read and accept
timeouts, resets (SO_LINGER 0) and double closes, every outcome checked.

    python3 tests/hardening/soak.py [N]

After a warm-up (N/10 cycles, at least 500) and gc.collect(), the descriptor
count (/proc/self/fd), the core's open handles and VmRSS are the baseline;
after the N cycles (and gc.collect()) descriptors and handles must be back to
it exactly and VmRSS within 1 MiB. Prints the measurements and
"N passed, M failed" last.
"""

from __future__ import annotations

import gc
import resource
import signal
import sys
import time
from ctypes import c_uint64
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import dead_port, fd_count, linger0, rss_kib  # noqa: E402  (also puts the binding on sys.path)

import usocket  # noqa: E402
from usocket import errors  # noqa: E402

LO4 = "127.0.0.1"


class Soak:
    def __init__(self) -> None:
        self.listener = usocket.socket_listen(LO4, 0, backlog=128, reuse_address=True)
        self.port = self.listener.local_port
        self.idle = usocket.socket_listen(LO4, 0, backlog=1)
        self.idle.set_option("receive_timeout", 0.001)
        self.dead = dead_port()
        self.failures = 0
        self.counts = dict.fromkeys(("clean", "refused", "read timeouts", "resets", "double closes",
                                     "accept timeouts"), 0)

    def fail(self, cycle: int, text: str) -> None:
        self.failures += 1
        if self.failures <= 10:
            print(f"  cycle {cycle}: {text}", flush=True)

    def expect(self, cycle: int, exc: type, fn) -> bool:
        try:
            fn()
        except exc:
            return True
        except Exception as e:
            self.fail(cycle, f"expected {exc.__name__}, got {type(e).__name__}: {e}")
            return False
        self.fail(cycle, f"expected {exc.__name__}, got no error")
        return False

    def connect(self, timeout=5.0):
        c = usocket.socket_connect(LO4, self.port, timeout=timeout, connect_timeout=2)
        return c, self.listener.accept()

    def cycle(self, i: int) -> None:
        # Of every 20 cycles: 12 clean, 2 refused, 1 read timeout, 2 resets,
        # 2 double closes, 1 accept timeout.
        k = i % 20
        if k in (12, 13):
            if self.expect(i, usocket.ConnectionRefusedError,
                           lambda: usocket.socket_connect(LO4, self.dead, connect_timeout=2).close()):
                self.counts["refused"] += 1
        elif k == 14:
            c, s = self.connect(timeout=0.001)
            try:
                if self.expect(i, usocket.TimeoutError, lambda: c.raw.read(1)):
                    self.counts["read timeouts"] += 1
            finally:
                s.close()
                c.close()
        elif k == 15:
            if self.expect(i, usocket.TimeoutError, lambda: self.idle.accept().close()):
                self.counts["accept timeouts"] += 1
        elif k in (16, 17):
            c, s = self.connect()
            linger0(s)
            s.close()
            try:
                if self.expect(i, usocket.ConnectionResetError, lambda: c.raw.read(1)):
                    self.counts["resets"] += 1
            finally:
                c.close()
        elif k in (18, 19):
            c, s = self.connect()
            ok = True
            for sock in (c, s):
                h = sock.handle
                sock.close()
                sock.close()  # idempotent
                ok &= self.expect(i, usocket.InvalidHandleError,
                                  lambda: errors.check(usocket._ffi.lib.usocket_close(c_uint64(h))))
            if ok:
                self.counts["double closes"] += 1
        else:
            c, s = self.connect()
            b = bytes([i & 0xFF])
            c.raw.write(b)
            got = s.raw.read(1)
            if got != b:
                self.fail(i, f"read {got!r}, wrote {b!r}")
            if i & 1:
                c.close()
                s.close()
            else:
                s.close()
                c.close()
            self.counts["clean"] += 1

    def close(self) -> None:
        self.listener.close()
        self.idle.close()


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    warm = max(500, n // 10)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    soak = Soak()
    for i in range(warm):
        soak.cycle(i)
    soak.counts = dict.fromkeys(soak.counts, 0)
    gc.collect()
    fds0, handles0, rss0 = fd_count(), usocket.open_handles(), rss_kib()
    t0 = time.monotonic()
    for i in range(warm, warm + n):
        soak.cycle(i)
    secs = time.monotonic() - t0
    gc.collect()
    fds1, handles1, rss1 = fd_count(), usocket.open_handles(), rss_kib()
    soak.close()
    c = soak.counts
    print(f"soak (Python): {n} cycles in {secs:.1f} s ({n / secs:.0f}/s): "
          + ", ".join(f"{v} {k}" for k, v in c.items()))
    print(f"soak (Python): descriptors {fds0} -> {fds1}, handles {handles0} -> {handles1}, "
          f"VmRSS {rss0} -> {rss1} KiB ({rss1 - rss0:+d} KiB)")
    checks = [
        (soak.failures == 0, "every cycle ended as expected"),
        (fds1 == fds0, "descriptors back to the baseline"),
        (handles1 == handles0, "handles back to the baseline"),
        (rss1 - rss0 <= 1024, "VmRSS within 1 MiB of the baseline"),
    ]
    for ok, text in checks:
        print(f"{'ok  ' if ok else 'FAIL'} {text}")
    if soak.failures:
        print(f"({soak.failures} cycles failed)")
    passed = sum(1 for ok, _ in checks if ok)
    print(f"{passed} passed, {len(checks) - passed} failed", flush=True)
    return 0 if passed == len(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
