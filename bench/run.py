#!/usr/bin/env python3
"""The usocket-core benchmark runner (Python 3 standard library only).

    bench/run.py [QUICK=1] [--runs N] [--only GROUP,...] [--runtimes RT,...] [--cpu N] [--no-profile]
                 [--budget SECONDS] [--wait-quiet SECONDS] [--publish DIR] [--allow-failures]

--publish DIR also copies report.md and the charts to DIR (for instance a
directory the README links to; bench/results/ itself is ignored by git).

--wait-quiet S waits up to S seconds (before building) for the 1-minute load
average to fall below 0.3, since other work on this 2-CPU machine moves the
figures by tens of percent; the load averages at start and end are written
into the report either way.

Builds the C benchmark programs of bench/c/ with plain `cc -O2`, runs every
measured program in a child process of its own (its own session, a time
limit, stdin from /dev/null), pinned with `taskset -c CPU` so that the
client and its forked or threaded peer share one CPU, and writes

    bench/results/results.json   every figure: all runs, median, min, max, ratios
    bench/results/report.md      one table per measure, targets, profile
    bench/results/*.svg          charts (report.py draws them)

Each figure is the median of RUNS process runs (5; QUICK=1: 2), the compared
programs of a measure alternating run by run (A B C, then C B A, ...).
Rows whose program is missing or fails are recorded as "unavailable" or
"failed" with the reason; the runner goes on and writes the whole report.

Exit status:
  0  every measured program that could run ran cleanly (missed performance
     targets are reported, never an error; "unavailable" rows, such as a
     call the library does not export yet, are not failures);
  1  the benchmark code itself is broken (a C program does not compile, a
     raw-C baseline fails, the report cannot be written);
  2  a measured implementation crashed, failed or hit its time limit in at
     least one process run (the library from C, a binding, the Python
     stdlib or usocket 0.8.3 rows). Expected failures are not counted: a row
     the plan marks as expected to fail (usocket's select() past descriptor
     1023, FINDINGS.md) is reported as "failed (expected)". --allow-failures
     turns 2 into 0 (the report is the same).
A run that exits non-zero does not --publish. To check the failure path,
USOCKET_BENCH_FAULT=ROW-ID[,ROW-ID...] makes those rows crash (SIGSEGV)
instead of running, e.g.
    USOCKET_BENCH_FAULT=accept/c/lib bench/run.sh QUICK=1 --only accept   # exits 2

Groups (for --only): rtt, bulk, local, udp, wait, accept, server, mem, profile.
Runtimes (for --runtimes, which keeps only their rows): c, python, lisp (SBCL),
lisp-ecl, lisp-clisp. The Lisps besides SBCL run RUNS_OTHER_LISP process runs
a figure (3; QUICK=1: 1), after a warm-up that loads each implementation once
(a cold compile is not timed).
"""

import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.path.join(HERE, "build")
RESULTS = os.path.join(HERE, "results")
LIBDIR = os.path.join(ROOT, "target", "release")
LIBSO = os.path.join(LIBDIR, "libusocket.so")
HEADER = os.path.join(ROOT, "include", "usocket.h")
PY_BENCH = os.path.join(ROOT, "bindings", "python", "bench_python.py")
LISP_BENCH_DIR = os.path.join(ROOT, "bindings", "lisp", "bench")

sys.path.insert(0, HERE)
import adapters  # noqa: E402  (command lines of the Python and Lisp bench scripts)


# --------------------------------------------------------------------------
# settings

def parse_args(argv):
    opts = {"quick": os.environ.get("QUICK", "") not in ("", "0"), "runs": None, "only": None,
            "cpu": 0, "profile": True, "budget": None, "wait_quiet": 0.0, "publish": None,
            "allow_failures": False, "runtimes": None}
    it = iter(argv)
    for a in it:
        if a.upper().startswith("QUICK="):
            opts["quick"] = a.split("=", 1)[1] not in ("", "0")
        elif a == "--quick":
            opts["quick"] = True
        elif a == "--runs":
            opts["runs"] = int(next(it))
        elif a == "--only":
            opts["only"] = set(next(it).split(","))
        elif a == "--runtimes":
            opts["runtimes"] = set(next(it).split(","))
        elif a == "--cpu":
            opts["cpu"] = int(next(it))
        elif a == "--no-profile":
            opts["profile"] = False
        elif a == "--budget":
            opts["budget"] = float(next(it))
        elif a == "--publish":
            opts["publish"] = next(it)
        elif a == "--allow-failures":
            opts["allow_failures"] = True
        elif a == "--wait-quiet":
            opts["wait_quiet"] = float(next(it))
        elif a in ("-h", "--help"):
            print(__doc__)
            sys.exit(0)
        else:
            sys.exit("run.py: unknown argument %r (see --help)" % a)
    return opts


def settings(quick):
    """Work per process run. QUICK keeps every measure and N, with less work."""
    if quick:
        return dict(quick=True, runs=2, rtt_s=0.1, script_rtt_s=0.1, udp_s=0.1, bulk_bytes=256 << 20, wait_s=0.05,
                    accept=4000, accept_rounds=2, rps_s=0.2, rps_warm=0.1, srv_mem_clients=5000,
                    mem_count=10000, script_paired=False, budget=160.0, grace=40.0, profile_min=0,
                    other_lisp_runs=1, other_lisp_budget=75.0, other_lisp_wait_ns=(10, 10000))
    return dict(quick=False, runs=5, rtt_s=0.5, script_rtt_s=0.3, udp_s=0.5, bulk_bytes=2 << 30, wait_s=0.15,
                accept=4000, accept_rounds=5, rps_s=0.6, rps_warm=0.2, srv_mem_clients=5000,
                mem_count=10000, script_paired=True, budget=545.0, grace=30.0, profile_min=40,
                other_lisp_runs=3, other_lisp_budget=300.0, other_lisp_wait_ns=(10, 100, 1000, 10000))


WAIT_NS = [10, 100, 1000, 10000]
# the runtimes measured by a script (a binding against its own baseline)
SCRIPT_RUNTIMES = ("python",) + adapters.LISP_RUNTIMES
SERVER_CLIENTS = [1, 100, 1000]


# --------------------------------------------------------------------------
# child processes

def run_child(cmd, timeout, env=None):
    """Run cmd in its own session with a time limit. Returns (record, stderr_tail).
    record: the last JSON object printed on stdout, with a "status"."""
    t0 = time.monotonic()
    try:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True, env=env, cwd=ROOT)
    except OSError as e:
        return {"status": "failed", "reason": "cannot start %s: %s" % (cmd[0], e)}, ""
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        out, err = p.communicate()
        return ({"status": "failed", "reason": "time limit of %.0f s exceeded" % timeout,
                 "wall_s": time.monotonic() - t0}, tail(err))
    finally:
        try:  # nothing of the run may outlive it (forked peers, SBCL threads)
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
    wall = time.monotonic() - t0
    rec = None
    for line in reversed(out.decode("utf-8", "replace").splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                rec = json.loads(line)
                break
            except ValueError:
                continue
    if rec is None:
        why = "exit status %s, no JSON result line" % p.returncode
        if p.returncode and p.returncode < 0:
            why = "killed by signal %d, no JSON result line" % -p.returncode
        return {"status": "failed", "reason": why + stderr_gist(err), "wall_s": wall}, tail(err)
    rec = adapters.normalize(rec)
    if rec.get("status") == "ok" and p.returncode != 0:
        rec = {"status": "failed", "reason": "exit status %d after a result line" % p.returncode}
    rec["wall_s"] = wall
    return rec, tail(err)


def stderr_gist(err):
    """The informative part of a crashed child's stderr: its first lines (an
    SBCL error message comes before the backtrace) and its last line."""
    s = err.decode("utf-8", "replace") if isinstance(err, bytes) else (err or "")
    lines = [l.strip() for l in s.splitlines() if l.strip()]
    if not lines:
        return ""
    head = " | ".join(lines[:4])[:260]
    last = lines[-1][:120]
    return ": " + head + ("" if last in head else " … " + last)


def tail(b, n=2000):
    s = b.decode("utf-8", "replace") if isinstance(b, bytes) else (b or "")
    return s[-n:]


# --------------------------------------------------------------------------
# building the C programs

def sh(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, **kw)


def exported_symbols(lib):
    if not shutil.which("nm"):
        return None
    r = sh(["nm", "-D", "--defined-only", lib])
    if r.returncode != 0:
        return None
    return set(l.split()[-1] for l in r.stdout.splitlines() if l.strip())


def build(log):
    """Compile bench/c/*. Returns dict name -> path or None, and reasons."""
    os.makedirs(BUILD, exist_ok=True)
    cc = os.environ.get("CC", "cc")
    flags = ["-O2", "-Wall", "-Wextra", "-std=gnu11"]
    src = os.path.join(HERE, "c")
    out = {"bench_raw": None, "bench_lib": None, "bench_server": None}
    why = {}
    broken = []

    def compile_(name, extra, libs):
        exe = os.path.join(BUILD, name)
        cmd = [cc] + flags + extra + ["-o", exe, os.path.join(src, name + ".c")] + libs
        try:
            r = sh(cmd)
        except OSError as e:
            log("  build %s: FAILED (%s)" % (name, e))
            return None, "cannot run the C compiler %r: %s" % (cc, e)
        log("  build %s: %s" % (name, "ok" if r.returncode == 0 else "FAILED"))
        if r.returncode != 0:
            return None, (r.stdout[-3000:] or "%s exited with status %d" % (cc, r.returncode))
        if r.stdout.strip():
            log(r.stdout.rstrip())
        return exe, None

    # the peer processes of the Lisp bench off SBCL (raw C, no library)
    exe, err = compile_("bench_peer", ["-pthread"], ["-pthread"])
    out["bench_peer"] = exe
    if err:
        why["bench_peer"] = "compile error: " + err
        broken.append("bench_peer.c does not compile:\n" + err)

    exe, err = compile_("bench_raw", [], [])
    out["bench_raw"] = exe
    if err:
        why["bench_raw"] = "compile error: " + err
        broken.append("bench_raw.c does not compile:\n" + err)

    lib_reason = None
    if not os.path.exists(LIBSO):
        lib_reason = "%s not built (run cargo build --release)" % os.path.relpath(LIBSO, ROOT)
    elif not os.path.exists(HEADER):
        lib_reason = "%s missing" % os.path.relpath(HEADER, ROOT)
    syms = exported_symbols(LIBSO) if not lib_reason else None
    header = open(HEADER).read() if not lib_reason else ""

    libflags = []
    if not lib_reason:
        # link against the build output; if the library has a versioned soname,
        # give the runtime loader a file of that name beside it
        libbuild = os.path.join(BUILD, "lib")
        os.makedirs(libbuild, exist_ok=True)
        soname = None
        r = sh(["objdump", "-p", LIBSO]) if shutil.which("objdump") else None
        if r is not None and r.returncode == 0:
            m = re.search(r"SONAME\s+(\S+)", r.stdout)
            soname = m.group(1) if m else None
        if soname and soname != "libusocket.so" and not os.path.exists(os.path.join(LIBDIR, soname)):
            link = os.path.join(libbuild, soname)
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink(LIBSO, link)
        libflags = ["-L" + LIBDIR, "-lusocket", "-Wl,-rpath," + LIBDIR, "-Wl,-rpath," + libbuild]

    if lib_reason:
        why["bench_lib"] = lib_reason
    else:
        needed = ["usocket_connect", "usocket_wait_list_wait", "usocket_wait_for_input", "usocket_accept"]
        missing = [s for s in needed if syms is not None and s not in syms]
        # the Unix-domain calls of 0.2: measured when the library exports them
        # (declared by bench_lib.c itself if the header does not yet)
        local = ["usocket_connect_local", "usocket_listen_local"]
        local_extra = []
        if all((s in syms) if syms is not None else (s in header) for s in local):
            local_extra = ["-DHAVE_USOCKET_LOCAL"]
            if not all(s in header for s in local):
                local_extra.append("-DUSOCKET_LOCAL_DECLARE")
        else:
            why["lib_local"] = "libusocket does not export usocket_connect_local/usocket_listen_local yet"
        if missing:
            why["bench_lib"] = "libusocket does not export " + ", ".join(missing)
        else:
            exe, err = compile_("bench_lib", ["-I" + os.path.join(ROOT, "include"), "-I" + src] + local_extra,
                                libflags)
            out["bench_lib"] = exe
            if err:
                # the header is the contract (C-API.md): a bench program that does not
                # compile against it is a bench bug unless the header breaks the spec
                why["bench_lib"] = "compile error against include/usocket.h: " + err
                broken.append("bench_lib.c does not compile:\n" + err)

    have_server = (not lib_reason and "usocket_server_new" in header
                   and (syms is None or "usocket_server_new" in syms))
    extra = ["-pthread", "-I" + src]
    libs = ["-pthread"]
    if have_server:
        extra += ["-DHAVE_USOCKET_SERVER", "-I" + os.path.join(ROOT, "include")]
        libs += libflags
    exe, err = compile_("bench_server", extra, libs)
    out["bench_server"] = exe
    if err:
        why["bench_server"] = "compile error: " + err
        broken.append("bench_server.c does not compile:\n" + err)
    if not have_server:
        why["lib_server"] = lib_reason or "libusocket has no usocket_server_new yet"
    return out, why, broken


# --------------------------------------------------------------------------
# the plan: groups of compared programs

RUNTIMES = {
    "c": ("C", "raw", "lib"),
    "python": ("Python", "stdlib", "binding"),
    "lisp": ("Lisp (SBCL)", "usocket", "binding"),
    "lisp-ecl": ("Lisp (ECL)", "usocket", "binding"),
    "lisp-clisp": ("Lisp (CLISP)", "usocket", "binding"),
}
LABELS = {
    ("c", "raw"): "raw C syscalls",
    ("c", "lib"): "libusocket from C",
    ("python", "stdlib"): "Python stdlib socket",
    ("python", "binding"): "Python binding (ctypes)",
    ("lisp", "usocket"): "usocket 0.8.3 on SBCL",
    ("lisp", "binding"): "Lisp binding (usocket-cffi)",
    ("lisp-ecl", "usocket"): "usocket 0.8.3 on ECL",
    ("lisp-ecl", "binding"): "Lisp binding on ECL",
    ("lisp-clisp", "usocket"): "usocket 0.8.3 on CLISP",
    ("lisp-clisp", "binding"): "Lisp binding on CLISP",
}


class Row:
    def __init__(self, group, measure, param, runtime, impl, label, cmd, timeout, baseline=None,
                 reason=None, unit=None, better="lower", expected_failure=None):
        self.group, self.measure, self.param = group, measure, param
        self.expected_failure = expected_failure  # why this row may fail (documented), or None
        self.runtime, self.impl, self.label = runtime, impl, label
        self.cmd, self.timeout, self.baseline, self.reason = cmd, timeout, baseline, reason
        self.unit, self.better = unit, better
        self.runs, self.failures, self.status, self.extra = [], [], None, {}
        self.cpu_runs = []
        self.max_runs = None  # fewer process runs than the run's (the Lisps besides SBCL)
        self.id = "%s/%s/%s/%s" % (measure, param, runtime, impl) if param != "" else \
            "%s/%s/%s" % (measure, runtime, impl)


def taskset(cpu, cmd):
    return ["taskset", "-c", str(cpu)] + cmd if shutil.which("taskset") else cmd


def make_plan(S, exes, why, cpu):
    groups = []  # (group name, title, [rows])
    raw, lib, srv = exes.get("bench_raw"), exes.get("bench_lib"), exes.get("bench_server")

    def c_rows(group, measure, param, raw_args, lib_args, unit, better, timeout, paired_args=None):
        rows = []
        base_id = None
        for impl, exe, args in (("raw", raw, raw_args), ("lib", lib, lib_args)):
            r = Row(group, measure, param, "c", impl, LABELS[("c", impl)],
                    taskset(cpu, [exe] + args) if exe else None, timeout,
                    baseline=base_id, unit=unit, better=better,
                    reason=None if exe else why.get("bench_" + impl, "not built"))
            if impl == "raw":
                base_id = r.id
            rows.append(r)
        if paired_args:
            rows.append(Row(group, measure, param, "c", "paired",
                            "libusocket ÷ raw, paired in one process",
                            taskset(cpu, [lib] + paired_args) if lib else None, timeout,
                            reason=None if lib else why.get("bench_lib", "not built"), unit="ratio",
                            better="lower" if better == "lower" else "higher"))
        return rows

    def other_rows(group, measure, param, runtime, unit, better, timeout, paired=False, **p):
        if runtime in adapters.OTHER_LISPS and S["quick"] and measure in ("rtt", "udp"):
            p["warmup"] = 200  # QUICK off SBCL: CLISP's native UDP takes 0.4 ms a round trip
        rows = []
        base_id = None
        for impl in RUNTIMES[runtime][1:]:
            cmd, reason = adapters.command(runtime, measure, impl, p)
            r = Row(group, measure, param, runtime, impl, LABELS[(runtime, impl)],
                    taskset(cpu, cmd) if cmd else None, timeout, baseline=base_id,
                    reason=reason, unit=unit, better=better)
            if base_id is None:
                base_id = r.id
            rows.append(r)
        if paired and S["script_paired"] and runtime in adapters.LISP_RUNTIMES:
            # the Lisp script's own paired check: both implementations in one image
            cmd, reason = adapters.command(runtime, "paired-" + measure, "both", p)
            rows.append(Row(group, measure, param, runtime, "paired", "Lisp binding ÷ usocket, paired in one image"
                            + ("" if runtime == "lisp" else " (%s)" % adapters.OTHER_LISPS[runtime][2]),
                            taskset(cpu, cmd) if cmd else None, timeout, reason=reason, unit="ratio",
                            better=better))
        return rows

    # TCP echo round trips
    for size in (1, 64):
        rows = c_rows("rtt", "rtt", size, ["rtt", "--size", str(size), "--seconds", str(S["rtt_s"]),
                                            "--iters", "2000000"],
                      ["rtt", "--size", str(size), "--seconds", str(S["rtt_s"]), "--iters", "2000000"],
                      "us", "lower", 60,
                      ["paired-rtt", "--size", str(size), "--seconds", str(S["rtt_s"]), "--iters", "2000000"])
        for rt in SCRIPT_RUNTIMES:
            rows += other_rows("rtt", "rtt", size, rt, "us", "lower", 120, paired=(size == 1),
                               size=size, seconds=S["script_rtt_s"])
        groups.append(("rtt", "TCP echo round trip, %d B" % size, rows))

    # bulk receive
    b = S["bulk_bytes"]
    rows = c_rows("bulk", "bulk", "", ["bulk", "--bytes", str(b)], ["bulk", "--bytes", str(b)],
                  "GB/s", "higher", 120, ["paired-bulk", "--bytes", str(b)])
    for rt in SCRIPT_RUNTIMES:
        rows += other_rows("bulk", "bulk", "", rt, "GB/s", "higher", 180, bytes=b)
    groups.append(("bulk", "TCP bulk receive, %s in 64 KiB reads" % human_bytes(b), rows))

    # Unix-domain stream sockets (C only): round trip with usocket_connect_local,
    # bulk receive on a usocket_listen_local listener, against raw AF_UNIX
    rows = c_rows("local", "local_rtt", 1,
                  ["local-rtt", "--size", "1", "--seconds", str(S["rtt_s"]), "--iters", "2000000"],
                  ["local-rtt", "--size", "1", "--seconds", str(S["rtt_s"]), "--iters", "2000000"],
                  "us", "lower", 60,
                  ["paired-local-rtt", "--size", "1", "--seconds", str(S["rtt_s"]), "--iters", "2000000"])
    groups.append(("local", "Unix-domain stream echo round trip, 1 B", rows))
    rows = c_rows("local", "local_bulk", "", ["local-bulk", "--bytes", str(b)], ["local-bulk", "--bytes", str(b)],
                  "GB/s", "higher", 120, ["paired-local-bulk", "--bytes", str(b)])
    groups.append(("local", "Unix-domain stream bulk receive, %s in 64 KiB reads" % human_bytes(b), rows))

    # UDP request/response
    rows = c_rows("udp", "udp", 64, ["udp", "--size", "64", "--seconds", str(S["udp_s"]), "--iters", "2000000"],
                  ["udp", "--size", "64", "--seconds", str(S["udp_s"]), "--iters", "2000000"], "us", "lower", 60,
                  ["paired-udp", "--size", "64", "--seconds", str(S["udp_s"]), "--iters", "2000000"])
    for rt in SCRIPT_RUNTIMES:
        rows += other_rows("udp", "udp", 64, rt, "us", "lower", 120, paired=True, size=64,
                           seconds=S["script_rtt_s"])
    groups.append(("udp", "UDP request/response, 64 B", rows))

    # waiting: N idle + 1 ready
    for n in WAIT_NS:
        rows = []
        common = ["--n", str(n), "--seconds", str(S["wait_s"]), "--iters", "200000"]
        r_poll = Row("wait", "wait", n, "c", "raw-poll", "raw poll (C)",
                     taskset(cpu, [raw, "wait-poll"] + common) if raw else None, 60,
                     reason=None if raw else why.get("bench_raw"), unit="us")
        r_epoll = Row("wait", "wait", n, "c", "raw-epoll", "raw epoll (C)",
                      taskset(cpu, [raw, "wait-epoll"] + common) if raw else None, 60,
                      reason=None if raw else why.get("bench_raw"), unit="us")
        r_lw = Row("wait", "wait", n, "c", "lib-wait", "usocket_wait_for_input (C)",
                   taskset(cpu, [lib, "wait"] + common) if lib else None, 60, baseline=r_poll.id,
                   reason=None if lib else why.get("bench_lib"), unit="us")
        r_ll = Row("wait", "wait", n, "c", "lib-wait-list", "usocket_wait_list_wait (C)",
                   taskset(cpu, [lib, "wait-list"] + common) if lib else None, 60, baseline=r_epoll.id,
                   reason=None if lib else why.get("bench_lib"), unit="us")
        rows += [r_poll, r_epoll, r_lw, r_ll]
        for rt in SCRIPT_RUNTIMES:
            if rt in adapters.OTHER_LISPS and n not in S["other_lisp_wait_ns"]:
                continue
            for method, label, base_method in adapters.WAIT_METHODS[rt]:
                cmd, reason = adapters.command(rt, "wait", method, dict(n=n, seconds=S["wait_s"],
                                                                        quick=S["quick"]))
                base_id = None
                if base_method:
                    base_id = "wait/%d/%s/%s" % (n, rt, base_method)
                rows.append(Row("wait", "wait", n, rt, method, label, taskset(cpu, cmd) if cmd else None,
                                150, baseline=base_id, reason=reason, unit="us",
                                expected_failure=adapters.expected_failure(rt, "wait", method, dict(n=n))))
        groups.append(("wait", "wait, %d idle + 1 ready" % n, rows))

    # accept drain
    a = S["accept"]
    ar = ["--count", str(a), "--rounds", str(S["accept_rounds"])]
    rows = c_rows("accept", "accept", "", ["accept"] + ar, ["accept"] + ar, "conn/s", "higher", 60,
                  ["paired-accept"] + ar)
    for rt in SCRIPT_RUNTIMES:
        rows += other_rows("accept", "accept", "", rt, "conn/s", "higher", 120, count=a, rounds=S["accept_rounds"])
    groups.append(("accept", "accept drain of %d queued connections" % a, rows))

    # the socket server
    for nc in SERVER_CLIENTS:
        rows = []
        base = Row("server", "server_rps", nc, "c", "c-threads", "C thread-per-connection server",
                   taskset(cpu, [srv, "rps", "--server", "c", "--clients", str(nc), "--seconds",
                                 str(S["rps_s"]), "--warmup", str(S["rps_warm"])]) if srv else None,
                   60, reason=None if srv else why.get("bench_server"), unit="req/s", better="higher")
        has_lib = srv and "lib_server" not in why
        rows += [base, Row("server", "server_rps", nc, "c", "lib-server", "usocket_server (multi-threaded)",
                           taskset(cpu, [srv, "rps", "--server", "lib", "--clients", str(nc), "--seconds",
                                         str(S["rps_s"]), "--warmup", str(S["rps_warm"])]) if has_lib else None,
                           60, baseline=base.id, reason=None if has_lib else why.get("lib_server"),
                           unit="req/s", better="higher")]
        groups.append(("server", "echo server, %d client%s" % (nc, "s" if nc > 1 else ""), rows))
    nc = S["srv_mem_clients"]
    base = Row("server", "server_mem", nc, "c", "c-threads", "C thread-per-connection server",
               taskset(cpu, [srv, "mem", "--server", "c", "--clients", str(nc)]) if srv else None, 120,
               reason=None if srv else why.get("bench_server"), unit="B/conn")
    has_lib = srv and "lib_server" not in why
    groups.append(("server", "server memory, %d idle clients" % nc, [
        base, Row("server", "server_mem", nc, "c", "lib-server", "usocket_server (multi-threaded)",
                  taskset(cpu, [srv, "mem", "--server", "lib", "--clients", str(nc)]) if has_lib else None,
                  120, baseline=base.id, reason=None if has_lib else why.get("lib_server"), unit="B/conn")]))

    # memory per open socket in the core
    m = S["mem_count"]
    rows = c_rows("mem", "mem", m, ["mem", "--count", str(m)], ["mem", "--count", str(m)],
                  "B/socket", "lower", 120)
    rows[1].baseline = None  # a raw descriptor costs ~nothing in user space: shown, not a ratio
    groups.append(("mem", "peak memory per open TCP socket, %d sockets" % m, rows))
    # the cheap C-only groups first, the long wait groups last: if the time
    # budget runs out, what is left is skipped (and reported as such)
    order = {"rtt": 0, "bulk": 1, "local": 2, "udp": 2, "accept": 3, "server": 4, "mem": 5, "wait": 6}
    groups.sort(key=lambda g: order.get(g[0], 9))
    # The Lisps besides SBCL: their rows in groups of their own (same titles),
    # run after all the others with a budget of their own (main), so they
    # never take time from the rows that were there before them
    late = []
    for i, (gname, title, rows) in enumerate(groups):
        mine = [r for r in rows if r.runtime in adapters.OTHER_LISPS]
        if mine:
            for r in mine:
                r.max_runs = S["other_lisp_runs"]
            groups[i] = (gname, title, [r for r in rows if r.runtime not in adapters.OTHER_LISPS])
            late.append((gname, title, mine))
    return [g for g in groups if g[2]] + late


def human_bytes(b):
    if b >= 1 << 30 and b % (1 << 30) == 0:
        return "%d GiB" % (b >> 30)
    return "%d MiB" % (b >> 20)


# --------------------------------------------------------------------------
# running

def execute(groups, runs, budget_end, log, hard_end=None):
    """Run every group runs times, alternating the order of its rows. No
    program starts after budget_end; none runs past hard_end (its time limit
    is cut to what is left, and a program stopped by that cut, not by its own
    limit, is "skipped", not "failed": the run was out of time, the program
    was not broken)."""
    env = dict(os.environ)
    env["USOCKET_LIBRARY"] = env.get("USOCKET_LIBRARY") or LIBSO
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    fault_rows = set(x for x in os.environ.get("USOCKET_BENCH_FAULT", "").split(",") if x)
    for gname, title, rows in groups:
        for r in rows:
            if r.cmd is None:
                r.status = "unavailable"
        t_group = time.monotonic()
        for k in range(runs):
            order = rows if k % 2 == 0 else list(reversed(rows))
            for r in order:
                if r.cmd is None or r.status in ("unavailable", "skipped"):
                    continue
                if r.max_runs is not None and len(r.runs) + len(r.failures) >= r.max_runs:
                    continue
                if len(r.failures) >= 2 and not r.runs:
                    continue  # failed twice with no success: stop spending time on it
                if time.monotonic() > budget_end:
                    if r.status is None:
                        r.status, r.reason = "skipped", "time budget of the run exhausted"
                    continue
                limit = r.timeout
                if hard_end is not None and hard_end - time.monotonic() < limit:
                    limit = max(1.0, hard_end - time.monotonic())
                cmd = r.cmd
                if r.id in fault_rows:  # self-check of the failure path: this row crashes (SIGSEGV)
                    cmd = ["sh", "-c", "echo 'injected fault (USOCKET_BENCH_FAULT)' >&2; kill -SEGV $$"]
                rec, err = run_child(cmd, limit, env)
                st = rec.get("status", "failed")
                if limit < r.timeout and st == "failed" and "time limit" in rec.get("reason", "") \
                        and rec.get("wall_s", 0) >= limit - 0.5:
                    if not r.runs:
                        r.status, r.reason = "skipped", "stopped at the run's hard time limit"
                    continue
                if st == "ok" and isinstance(rec.get("value"), (int, float)):
                    r.runs.append(float(rec["value"]))
                    if isinstance(rec.get("cpu_us"), (int, float)):
                        r.cpu_runs.append(float(rec["cpu_us"]))
                    r.extra = {k2: v for k2, v in rec.items()
                               if k2 not in ("status", "value", "measure", "impl")}
                    if rec.get("unit") and not r.unit:
                        r.unit = rec["unit"]
                elif st == "unavailable":
                    r.status, r.reason = "unavailable", rec.get("reason", "unavailable")
                else:
                    reason = rec.get("reason") or rec.get("error") or "no value in %r" % rec
                    r.failures.append(reason)
                    if err.strip():
                        r.extra["stderr_tail"] = err[-800:]
        for r in rows:
            if r.runs:
                r.status = "ok"
            elif r.status is None:
                r.status = "failed"
                r.reason = r.failures[0] if r.failures else "did not run"
            log("  %-28s %-34s %-11s %s" % (title[:28], r.label[:34], r.status,
                                          fmt_num(statistics.median(r.runs)) + " " + (r.unit or "")
                                          if r.runs else (r.reason or "")[:70]))
        log("  (%s: %.1f s)" % (title, time.monotonic() - t_group))


def fmt_num(v):
    if v is None:
        return "-"
    a = abs(v)
    if a >= 1000:
        return "{:,.0f}".format(v)
    if a >= 100:
        return "%.1f" % v
    if a >= 10:
        return "%.2f" % v
    return "%.3g" % v


# --------------------------------------------------------------------------
# figures, ratios, targets

def figures(groups):
    out = []
    for gname, title, rows in groups:
        for r in rows:
            f = {"id": r.id, "group": gname, "title": title, "measure": r.measure, "param": r.param,
                 "runtime": r.runtime, "impl": r.impl, "label": r.label, "unit": r.unit,
                 "better": r.better, "baseline": r.baseline, "status": r.status,
                 "reason": r.reason if r.status != "ok" else None,
                 "failures": r.failures, "runs": r.runs, "n_runs": len(r.runs),
                 "command": " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c
                                     for c in r.cmd) if r.cmd else None,
                 "extra": r.extra, "expected_failure": r.expected_failure,
                 "cpu_us": statistics.median(r.cpu_runs) if r.cpu_runs else None}
            if r.runs:
                f.update(median=statistics.median(r.runs), min=min(r.runs), max=max(r.runs))
            else:
                f.update(median=None, min=None, max=None)
            out.append(f)
    byid = {f["id"]: f for f in out}
    for f in out:
        f["ratio"] = ratio(f, byid.get(f["baseline"]))
        rawc = raw_c_equivalent(f)
        f["ratio_vs_raw_c"] = ratio(f, byid.get(rawc)) if rawc and rawc != f["id"] and f["unit"] != "ratio" \
            else None
        f["is_baseline"] = any(g["baseline"] == f["id"] for g in out)
    return out


def raw_c_equivalent(f):
    if f["measure"] in ("rtt", "bulk", "udp", "accept", "local_rtt", "local_bulk"):
        p = "%s/%s/c/raw" % (f["measure"], f["param"]) if f["param"] != "" else "%s/c/raw" % f["measure"]
        return p
    if f["measure"] == "wait":
        return "wait/%s/c/raw-epoll" % f["param"]
    return None


def ratio(f, base):
    if not base or f.get("median") is None or base.get("median") in (None, 0):
        return None
    return f["median"] / base["median"]


def targets(figs):
    """The targets of issues 2, 3, 4, 5, 6 and 10 (0.2), each with its achieved ratio."""
    byid = {f["id"]: f for f in figs}
    T = []

    def add(issue, what, fid, base_id, op, thr, note=""):
        f, b = byid.get(fid), byid.get(base_id)
        r = ratio(f, b) if f and b else None
        if r is None:
            st = "n/a"
            why = []
            for x, nm in ((f, fid), (b, base_id)):
                if x is None:
                    why.append("%s not measured" % nm)
                elif x["status"] != "ok":
                    why.append("%s: %s" % (x["label"], x["status"]))
            note = (note + " " if note else "") + "; ".join(why)
        else:
            st = "met" if (r <= thr if op == "<=" else r >= thr) else "missed"
        pf = None
        if fid.endswith("/c/lib") and base_id.endswith("/c/raw"):
            pf = byid.get(re.sub(r"/c/lib$", "/c/paired", fid))
        elif fid.endswith("/lisp/binding") and base_id.endswith("/lisp/usocket"):
            pf = byid.get(re.sub(r"/lisp/binding$", "/lisp/paired", fid))
        paired = pf["median"] if pf and pf.get("median") is not None else None
        for t in T:
            if t["target"] == what:  # the same target in several issues: one row
                if issue not in t["issues"]:
                    t["issues"].append(issue)
                return
        T.append({"issue": issue, "issues": [issue], "target": what, "figure": fid, "against": base_id, "op": op,
                  "threshold": thr, "ratio": r, "status": st, "note": note, "paired": paired,
                  "paired_status": None if paired is None else
                  ("met" if (paired <= thr if op == "<=" else paired >= thr) else "missed")})

    # version 0.2 (issue 10, Speed): the C rows; report.py shows these first
    add(10, "C lib accept drain ≥ 0.97× raw C", "accept/c/lib", "accept/c/raw", ">=", 0.97)
    add(10, "C lib Unix-domain round trip 1 B ≤ 1.03× raw C", "local_rtt/1/c/lib", "local_rtt/1/c/raw", "<=", 1.03)
    add(10, "C lib Unix-domain bulk receive ≥ 0.98× raw C", "local_bulk/c/lib", "local_bulk/c/raw", ">=", 0.98)
    for i in (2, 6, 10):
        add(i, "C lib TCP round trip 1 B ≤ 1.03× raw C", "rtt/1/c/lib", "rtt/1/c/raw", "<=", 1.03)
        add(i, "C lib TCP round trip 64 B ≤ 1.03× raw C", "rtt/64/c/lib", "rtt/64/c/raw", "<=", 1.03)
        if i != 10:
            add(i, "C lib UDP round trip 64 B ≤ 1.03× raw C", "udp/64/c/lib", "udp/64/c/raw", "<=", 1.03)
        add(i, "C lib bulk receive ≥ 0.98× raw C", "bulk/c/lib", "bulk/c/raw", ">=", 0.98)
        if i != 10:
            add(i, "C lib accept drain within 1.03× raw C (rate ≥ 0.971×)", "accept/c/lib", "accept/c/raw",
                ">=", 1 / 1.03)
    for n in WAIT_NS:
        add(2, "C wait list ≤ 2× raw epoll, N=%d" % n, "wait/%d/c/lib-wait-list" % n,
            "wait/%d/c/raw-epoll" % n, "<=", 2.0)
    add(2, "C wait list flat in N: t(10000)/t(10) ≤ 1.5", "wait/10000/c/lib-wait-list",
        "wait/10/c/lib-wait-list", "<=", 1.5)
    for nc in SERVER_CLIENTS:
        add(3, "server echo req/s ≥ 0.9× C thread-per-connection, %d client%s" % (nc, "s" * (nc > 1)),
            "server_rps/%d/c/lib-server" % nc, "server_rps/%d/c/c-threads" % nc, ">=", 0.9)
    for i in (4, 6):
        add(i, "Python binding TCP round trip 1 B ≤ 1.00× stdlib", "rtt/1/python/binding",
            "rtt/1/python/stdlib", "<=", 1.0)
        if i == 6:
            add(i, "Python binding TCP round trip 64 B ≤ 1.00× stdlib", "rtt/64/python/binding",
                "rtt/64/python/stdlib", "<=", 1.0)
        add(i, "Python binding bulk receive ≥ 1.00× stdlib", "bulk/python/binding", "bulk/python/stdlib",
            ">=", 1.0)
        add(i, "Python binding UDP round trip ≤ 1.00× stdlib", "udp/64/python/binding",
            "udp/64/python/stdlib", "<=", 1.0)
    add(4, "Python binding accept drain (report only; ratio ≥ 1 is faster)", "accept/python/binding",
        "accept/python/stdlib", ">=", 0.0)
    add(5, "Lisp binding TCP round trip 1 B ≤ 1.05× raw C", "rtt/1/lisp/binding", "rtt/1/c/raw", "<=", 1.05)
    add(5, "Lisp binding bulk receive ≥ 0.95× raw C", "bulk/lisp/binding", "bulk/c/raw", ">=", 0.95)
    add(5, "Lisp binding UDP round trip ≤ 1.15× raw C", "udp/64/lisp/binding", "udp/64/c/raw", "<=", 1.15)
    for i in (5, 6):
        add(i, "Lisp binding round trip 1 B ≥ 1.15× faster than usocket (≤ 0.870×)", "rtt/1/lisp/binding",
            "rtt/1/lisp/usocket", "<=", 1 / 1.15)
        if i == 6:
            add(i, "Lisp binding round trip 64 B ≥ 1.15× faster than usocket (≤ 0.870×)",
                "rtt/64/lisp/binding", "rtt/64/lisp/usocket", "<=", 1 / 1.15)
        add(i, "Lisp binding bulk ≥ 1.15× usocket", "bulk/lisp/binding", "bulk/lisp/usocket", ">=", 1.15)
        add(i, "Lisp binding UDP ≥ 1.15× faster than usocket (≤ 0.870×)", "udp/64/lisp/binding",
            "udp/64/lisp/usocket", "<=", 1 / 1.15)
    lw = adapters.WAIT_PAIRS["lisp"]
    add(5, "Lisp binding wait list flat in N: t(10000)/t(10) ≤ 1.5", "wait/10000/lisp/%s" % lw[0],
        "wait/10/lisp/%s" % lw[0], "<=", 1.5)
    add(5, "Lisp binding wait-for-input, list of 1000 vs usocket (report; usocket 6.7 ms)",
        "wait/1000/lisp/%s" % adapters.WAIT_PAIRS["lisp_list"][0],
        "wait/1000/lisp/%s" % adapters.WAIT_PAIRS["lisp_list"][1], "<=", 1.0)
    add(5, "Lisp binding accept drain ≥ usocket (report)", "accept/lisp/binding", "accept/lisp/usocket",
        ">=", 1.0)
    pw = adapters.WAIT_PAIRS["python"]
    for n in WAIT_NS:
        add(6 if n != 10000 else 4, "Python binding wait list, N=%d ≤ 1.0× selectors" % n,
            "wait/%d/python/%s" % (n, pw[0]), "wait/%d/python/%s" % (n, pw[1]), "<=", 1.0)
    for n in WAIT_NS:
        add(6, "Python binding wait_for_input, N=%d ≤ 1.0× select.select" % n,
            "wait/%d/python/binding-wait" % n, "wait/%d/python/select" % n, "<=", 1.0,
            "select.select cannot take descriptors ≥ 1024" if n >= 1000 else "")
    add(6, "Python binding wait list flat in N: t(10000)/t(10) ≤ 1.5 (report)", "wait/10000/python/%s" % pw[0],
        "wait/10/python/%s" % pw[0], "<=", 1.5)
    add(6, "Lisp binding wait list flat in N: t(10000)/t(10) ≤ 1.5", "wait/10000/lisp/%s" % lw[0],
        "wait/10/lisp/%s" % lw[0], "<=", 1.5)
    T.sort(key=lambda t: min(t["issues"]))
    return T


# --------------------------------------------------------------------------
# machine

def machine():
    info = {"hostname": platform.node(), "kernel": platform.release(), "arch": platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version()}
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                info["memory_gib"] = round(int(line.split()[1]) / 1048576, 1)
    except OSError:
        pass
    for prog, args in (("sbcl", ["--version"]), ("cc", ["--version"]), ("rustc", ["--version"])):
        if shutil.which(prog):
            r = sh([prog] + args)
            info[prog] = r.stdout.splitlines()[0].strip() if r.stdout else "?"
    try:
        import resource
        info["nofile"] = list(resource.getrlimit(resource.RLIMIT_NOFILE))
    except Exception:
        pass
    r = sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]) if shutil.which("git") else None
    info["git"] = r.stdout.strip() if r is not None and r.returncode == 0 else "(no commit)"
    return info


# --------------------------------------------------------------------------

def loadavg():
    try:
        return [float(x) for x in open("/proc/loadavg").read().split()[:3]]
    except (OSError, ValueError):
        return None


def wait_quiet(limit, log):
    t_end = time.monotonic() + limit
    la = loadavg()
    if la is None or la[0] < 0.3:
        return la
    log("waiting up to %.0f s for the machine to be quiet (load %.2f)" % (limit, la[0]))
    while time.monotonic() < t_end:
        time.sleep(5)
        la = loadavg()
        if la is None or la[0] < 0.3:
            break
    return la


def main(argv):
    o = parse_args(argv)
    S = settings(o["quick"])
    runs = o["runs"] or S["runs"]
    budget = o["budget"] or S["budget"]
    t_start = time.monotonic()
    budget_end = t_start + budget

    def log(s):
        print(s, flush=True)

    if o["wait_quiet"] > 0:
        wait_quiet(o["wait_quiet"], log)
        t_start = time.monotonic()
        budget_end = t_start + budget
    load_start = loadavg()
    log("usocket-core benchmarks (%s): %d process runs per figure, pinned to CPU %d; load average %s"
        % ("QUICK" if o["quick"] else "full", runs, o["cpu"], load_start))
    os.makedirs(RESULTS, exist_ok=True)
    exes, why, broken = build(log)
    groups = make_plan(S, exes, why, o["cpu"])
    if o["only"]:
        groups = [g for g in groups if g[0] in o["only"]]
    if o["runtimes"]:
        groups = [(g, t, [r for r in rows if r.runtime in o["runtimes"]]) for g, t, rows in groups]
        groups = [g for g in groups if g[2]]
    # the Lisps besides SBCL: load each implementation once, untimed (a cold
    # ASDF compile of the binding on ECL takes about a minute), and give their
    # rows time of their own in the budget
    others = sorted(set(r.runtime for g in groups for r in g[2]
                        if r.runtime in adapters.OTHER_LISPS and r.cmd))
    for rt in others:
        env = dict(os.environ)
        env["USOCKET_LIBRARY"] = env.get("USOCKET_LIBRARY") or LIBSO
        for impl in RUNTIMES[rt][1:]:
            cmd, reason = adapters.command(rt, "load", impl, {})
            if not cmd:
                continue
            t0 = time.monotonic()
            rec, err = run_child(taskset(o["cpu"], cmd), 300, env)
            log("  warm-up %s %s: %s in %.1f s" % (rt, impl, rec.get("status"), time.monotonic() - t0)
                + ("" if rec.get("status") == "ok" else ": " + str(rec.get("reason"))[:200]))
    acc = None
    if (not o["only"] or o["only"] & {"accept", "profile"}) and (not o["runtimes"] or "c" in o["runtimes"]) \
            and exes.get("bench_raw") and exes.get("bench_lib") \
            and shutil.which("valgrind"):
        # the deterministic figure of the accept target (a few seconds): every run has it
        import profile_ops
        try:
            acc = profile_ops.accept_instructions(exes["bench_raw"], exes["bench_lib"],
                                                  pin=["taskset", "-c", str(o["cpu"])] if shutil.which("taskset") else [])
            for mode in ("impls", "close_each"):
                log("  accept%s, instructions per accept (callgrind): raw C %s, libusocket %s; allocator calls %s"
                    % (" (each closed at once)" if mode == "close_each" else "", acc[mode]["raw"]["per_accept"],
                       acc[mode]["lib"]["per_accept"], acc[mode]["lib"]["allocs_per_accept"]))
        except Exception as e:
            acc = {"error": "%s: %s" % (type(e).__name__, str(e)[:300]), "command": profile_ops.accept_command()}
    main = [g for g in groups if not any(r.runtime in adapters.OTHER_LISPS for r in g[2])]
    late = [g for g in groups if g not in main]
    execute(main, runs, budget_end, log, hard_end=budget_end + S["grace"])

    prof = None
    remaining = budget_end - time.monotonic() + 25
    if o["runtimes"] and "c" not in o["runtimes"]:
        pass  # the profile measures C only
    elif o["profile"] and not o["quick"] and (not o["only"] or "profile" in o["only"]) \
            and remaining < S["profile_min"]:
        prof = {"error": "skipped: only %.0f s left of the run's time budget" % remaining, "markdown": []}
    elif o["profile"] and not o["quick"] and (not o["only"] or "profile" in o["only"]):
        import profile_ops
        log("profile (strace -c, callgrind): %.0f s left in the budget" % remaining)
        try:
            prof = profile_ops.run(exes, o["cpu"], remaining, log, accept=acc is None)
        except Exception as e:  # a profile is a bonus; its failure is reported
            prof = {"error": "%s: %s" % (type(e).__name__, e)}

    if late:
        # after everything that was there before them (the profile too), on a
        # budget of their own plus what the others left unused
        budget_end += S["other_lisp_budget"] * len(others) / len(adapters.OTHER_LISPS)
        log("the Lisps besides SBCL (%s): %.0f s left in their budget"
            % (", ".join(others), budget_end - time.monotonic()))
        execute(late, runs, budget_end, log, hard_end=budget_end + S["grace"])
    figs = figures(groups)
    for f in figs:
        if is_c_baseline(f) and (f["status"] == "failed" or f["failures"]):
            broken.append("baseline %s failed: %s" % (f["id"], f["reason"] or f["failures"][0]))
    impl_failed = implementation_failures(figs)

    res = {"meta": dict(machine(), date=datetime.datetime.now(datetime.timezone.utc)
                        .strftime("%Y-%m-%d %H:%M UTC"), quick=o["quick"], runs=runs, cpu=o["cpu"],
                        pinning="every process run under `taskset -c %d`: the measured client and its "
                                "forked or threaded peer share one CPU, so the figures are per-call "
                                "costs without cross-CPU wake-ups" % o["cpu"],
                        settings=S, wall_s=round(time.monotonic() - t_start, 1), build_problems=why,
                        load_start=load_start, load_end=loadavg()),
           "figures": figs, "targets": targets(figs), "profile": prof, "broken": broken,
           "implementation_failures": impl_failed, "accept_instructions": acc}
    path = os.path.join(RESULTS, "results.json")
    with open(path + ".tmp", "w") as fh:
        json.dump(res, fh, indent=1, sort_keys=False)
    os.replace(path + ".tmp", path)
    try:
        import report
        report.write_all(res, RESULTS)
    except Exception as e:
        import traceback
        traceback.print_exc()
        broken.append("report generation failed: %s" % e)
    if o["publish"] and not broken and (not impl_failed or o["allow_failures"]):
        dest = os.path.abspath(o["publish"])
        os.makedirs(dest, exist_ok=True)
        for name in os.listdir(RESULTS):
            if name.endswith(".svg") or name == "report.md":
                shutil.copy(os.path.join(RESULTS, name), os.path.join(dest, name))
        log("published report.md and charts to %s" % dest)
    log("wrote %s, report.md and charts in %.0f s" % (os.path.relpath(path, ROOT), time.monotonic() - t_start))
    met = sum(1 for t in res["targets"] if t["status"] == "met")
    missed = [t for t in res["targets"] if t["status"] == "missed"]
    na = sum(1 for t in res["targets"] if t["status"] == "n/a")
    log("targets: %d met, %d missed, %d not measurable" % (met, len(missed), na))
    seen = set()
    for t in missed:
        if t["target"] not in seen:
            seen.add(t["target"])
            log("  missed: %s (ratio %.3f)" % (t["target"], t["ratio"]))
    expected = [f for f in figs if f.get("expected_failure") and (f["status"] == "failed" or f["failures"])]
    for f in expected:
        log("  failed as expected: %s (%s): %s" % (f["id"], f["label"], f["expected_failure"]))
    if impl_failed:
        log("MEASURED IMPLEMENTATIONS FAILED (crash, error or time limit)%s:"
            % (" — allowed by --allow-failures" if o["allow_failures"] else ""))
        for line in impl_failed:
            log("  " + line)
    if broken:
        log("BENCHMARK CODE BROKEN:")
        for b in broken:
            log("  " + b.replace("\n", "\n    "))
        return 1
    if impl_failed and not o["allow_failures"]:
        return 2
    return 0


def is_c_baseline(f):
    return f["runtime"] == "c" and f["impl"] in ("raw", "raw-poll", "raw-epoll", "c-threads")


def implementation_failures(figs):
    """One line per row of a measured implementation (not a raw-C baseline,
    which is bench code) that failed in at least one process run and was not
    expected to. A row that is "unavailable" (not built, a call the library
    does not export yet) or "skipped" (time budget) did not fail."""
    out = []
    for f in figs:
        if is_c_baseline(f) or f.get("expected_failure"):
            continue
        if f["status"] == "failed" or f["failures"]:
            why = f["reason"] if f["status"] == "failed" else f["failures"][0]
            n = len(f["failures"])
            out.append("%s (%s): %s%s" % (f["id"], f["label"], "failed" if f["status"] == "failed" else
                                          "%d of %d runs failed" % (n, n + f["n_runs"]),
                                          ": " + (why or "")[:300].replace("\n", " ")))
    return out


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
