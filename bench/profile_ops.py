"""System calls and instructions per operation, each runtime's baseline
against the library.

Run by run.py after the timed measures (full run only, within its time
budget). Each program is run twice with different fixed operation counts
(K1 < K2) and the per-op figure is (total(K2) - total(K1)) / (K2 - K1), so
start-up and set-up cancel:

- `strace -c` (the measured process only, not its forked peer): system
  calls per operation, by name;
- `valgrind --tool=callgrind` (hardware counters are not available on this
  VM, so `perf stat` cannot count instructions): user-space instructions per
  operation (of the measured process), and the functions that cost the most.
"""

import os
import re
import shutil
import subprocess
import tempfile
import time

import adapters


def c_cases(raw, lib):
    """(key, title, op, k1, k2, [(impl, label, fn(k) -> argv)])"""
    def c(exe, args, kind):
        def f(k):
            if kind == "bulk":
                return [exe] + args + ["--bytes", str(k * 65536)]
            if kind == "accept":
                return [exe] + args + ["--count", str(k), "--rounds", "1"]
            return [exe] + args + ["--iters", str(k)]
        return f
    rt = ["rtt", "--size", "1", "--warmup", "0", "--seconds", "600"]
    ud = ["udp", "--size", "64", "--warmup", "0", "--seconds", "600"]
    bk = ["bulk", "--seconds", "600"]
    return [
        ("c-rtt1", "C: TCP echo round trip 1 B", "round trip", 2000, 12000,
         [("raw", "raw C", c(raw, rt, "")), ("lib", "libusocket", c(lib, rt, ""))]),
        ("c-udp64", "C: UDP round trip 64 B", "round trip", 2000, 12000,
         [("raw", "raw C", c(raw, ud, "")), ("lib", "libusocket", c(lib, ud, ""))]),
        ("c-bulk", "C: bulk receive", "64 KiB read", 512, 2048,
         [("raw", "raw C", c(raw, bk, "bulk")), ("lib", "libusocket", c(lib, bk, "bulk"))]),
        ("c-accept", "C: accept (drain)", "accept", 500, 2500,
         [("raw", "raw C", c(raw, ["accept"], "accept")), ("lib", "libusocket", c(lib, ["accept"], "accept"))]),
        ("c-wait10000", "C: wait list vs epoll, N=10,000", "call", 2000, 12000,
         [("raw", "raw epoll", c(raw, ["wait-epoll", "--n", "10000", "--seconds", "600"], "")),
          ("lib", "usocket_wait_list_wait", c(lib, ["wait-list", "--n", "10000", "--seconds", "600"], ""))]),
    ]


def script_cases(runtime):
    """Round trips of the Python or Lisp script with a fixed count (if its CLI has one)."""
    out = []
    base, lib = {"python": ("stdlib", "binding"), "lisp": ("usocket", "binding")}[runtime]
    name = {"python": "Python", "lisp": "Lisp"}[runtime]
    for key, title, measure, p in (("rtt1", "TCP echo round trip 1 B", "rtt", dict(size=1, seconds=600)),
                                   ("udp64", "UDP round trip 64 B", "udp", dict(size=64, seconds=600))):
        impls = []
        for impl in (base, lib):
            cmd0, why = adapters.command(runtime, measure, impl, dict(p, iters=1000))
            if not cmd0 or "--iters" not in cmd0:
                continue

            def f(k, impl=impl):
                cmd, _ = adapters.command(runtime, measure, impl, dict(p, iters=k))
                return cmd
            impls.append((impl, adapters.RUNTIME_LABELS[(runtime, impl)], f))
        if len(impls) == 2:
            # the Python script loops in batches of 64: counts that are multiples of it
            out.append(("%s-%s" % (runtime, key), "%s: %s" % (name, title), "round trip", 1280, 6400, impls))
    return out


def strace_counts(cmd, timeout, pin=()):
    with tempfile.NamedTemporaryFile(prefix="strace-", suffix=".txt", delete=False) as fh:
        path = fh.name
    try:
        r = subprocess.run(list(pin) + ["strace", "-c", "-o", path, "--"] + cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise RuntimeError("strace %s: exit %d %s" % (os.path.basename(cmd[0]), r.returncode,
                                                          r.stdout[-300:].decode("utf-8", "replace")))
        counts = {}
        for line in open(path):
            m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?(\w+)\s*$", line)
            if m and m.group(3) != "total":
                counts[m.group(3)] = int(m.group(1))
        return counts
    finally:
        os.unlink(path)


def callgrind(cmd, timeout, want_top, pin=()):
    d = tempfile.mkdtemp(prefix="cg-")
    try:
        p = subprocess.Popen(list(pin) + ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + d + "/cg.%p.out"]
                             + cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        try:
            p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 9)
            p.communicate()
            raise RuntimeError("callgrind: time limit")
        f = os.path.join(d, "cg.%d.out" % p.pid)
        if not os.path.exists(f):
            raise RuntimeError("callgrind wrote no profile for the measured process")
        total = None
        for line in open(f):
            if line.startswith("summary:") or line.startswith("totals:"):
                total = int(line.split()[1])
        top = []
        if want_top and shutil.which("callgrind_annotate"):
            r = subprocess.run(["callgrind_annotate", "--inclusive=no", f], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, universal_newlines=True, timeout=120)
            for line in r.stdout.splitlines():
                m = re.match(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)$", line)
                if m and "PROGRAM TOTALS" not in line:
                    top.append((int(m.group(1).replace(",", "")), m.group(2).strip()))
        return total, top
    finally:
        shutil.rmtree(d, ignore_errors=True)


def per_op(a, b, k1, k2):
    return (b - a) / float(k2 - k1)


def run(exes, cpu, budget_s, log, runtimes=("c", "python", "lisp"), callgrind_scripts=True):
    t_end = time.monotonic() + budget_s
    raw, lib = exes.get("bench_raw"), exes.get("bench_lib")
    out = {"cases": {}, "markdown": []}
    have_strace, have_vg = bool(shutil.which("strace")), bool(shutil.which("valgrind"))
    if not have_strace and not have_vg:
        out["error"] = "neither strace nor valgrind installed"
        return out
    pin = ["taskset", "-c", str(cpu)] if shutil.which("taskset") else []
    env_lib = os.path.join(adapters.ROOT, "target", "release", "libusocket.so")
    os.environ.setdefault("USOCKET_LIBRARY", env_lib)
    cases = []
    if "c" in runtimes and raw and lib:
        cases += c_cases(raw, lib)
    for rt in runtimes:
        if rt != "c":
            cases += script_cases(rt)
    for key, title, op, k1, k2, impls in cases:
        if time.monotonic() > t_end - 15:
            out["cases"][key] = {"title": title, "skipped": "time budget"}
            continue
        case = {"title": title, "op": op, "impls": []}
        script = not key.startswith("c-")
        for impl, label, f in impls:
            c = {"impl": impl, "label": label}
            try:
                if have_strace:
                    s1 = strace_counts(f(k1), 180, pin)
                    s2 = strace_counts(f(k2), 180, pin)
                    c["syscalls"] = {n: round(per_op(s1.get(n, 0), s2.get(n, 0), k1, k2), 3)
                                     for n in set(s1) | set(s2)
                                     if abs(per_op(s1.get(n, 0), s2.get(n, 0), k1, k2)) >= 0.01}
                    c["syscalls_total"] = round(sum(c["syscalls"].values()), 3)
                if have_vg and time.monotonic() < t_end - 15 and "wait" not in key \
                        and (not script or (callgrind_scripts and key.startswith("python-rtt"))):
                    i1, _ = callgrind(f(k1), 300, False, pin)
                    i2, top = callgrind(f(k2), 300, impl in ("lib", "binding"), pin)
                    if i1 and i2:
                        c["instructions"] = round(per_op(i1, i2, k1, k2))
                    c["top"] = top[:12]
            except Exception as e:
                c["error"] = str(e)[:300]
            case["impls"].append(c)
        out["cases"][key] = case
        log("  profile %-36s %s" % (title, "  ".join("%s: %s" % (c["label"], summarize(c)) for c in case["impls"])))
    out["markdown"] = markdown(out)
    return out


def summarize(c):
    if not c:
        return "-"
    if c.get("error"):
        return "error: " + c["error"][:60]
    s = "%s syscalls" % c.get("syscalls_total", "?")
    if "instructions" in c:
        s += ", %s instr" % c["instructions"]
    return s


def fmt_sys(d):
    if not d:
        return "–"
    return ", ".join("%s %g" % (k, v) for k, v in sorted(d.items(), key=lambda kv: -kv[1]))


def markdown(out):
    blocks = []
    rows = ["| operation | baseline: syscalls per op | library: syscalls per op | baseline instr/op | "
            "library instr/op | extra instructions |", "|---|---|---|---|---|---|"]
    for key, case in out["cases"].items():
        if "skipped" in case:
            rows.append("| %s | skipped: %s | | | | |" % (case.get("title", key), case["skipped"]))
            continue
        if len(case["impls"]) != 2:
            continue
        r, l = case["impls"]
        ri, li = r.get("instructions"), l.get("instructions")
        extra = "{:+,}".format(li - ri) if ri is not None and li is not None else "–"
        rows.append("| %s (per %s; %s vs %s) | %s | %s | %s | %s | %s |" % (
            case["title"], case["op"], r["label"], l["label"], r.get("error") or fmt_sys(r.get("syscalls")),
            l.get("error") or fmt_sys(l.get("syscalls")),
            "{:,}".format(ri) if ri is not None else "–", "{:,}".format(li) if li is not None else "–", extra))
    blocks.append("System calls per operation from `strace -c` (the measured process only; the "
                  "difference of two runs with different operation counts, so start-up and set-up cancel) "
                  "and user-space instructions per operation from `valgrind --tool=callgrind` (this VM "
                  "exposes no hardware counters to `perf stat`).")
    blocks.append("\n".join(rows))
    for key, case in out["cases"].items():
        if "impls" not in case:
            continue
        for c in case["impls"]:
            top = c.get("top")
            if not top:
                continue
            lines = ["Top self-cost functions, %s run of *%s* (instructions of the whole larger run, set-up "
                     "included):" % (c["label"], case["title"]), "",
                     "| instructions | function |", "|---|---|"]
            for n, fn in top[:10]:
                fn = re.sub(r"/root/\.cargo/registry/src/[^/]+/", "", fn)
                fn = re.sub(r"^/tmp/python-build[^/]*/", "", fn)
                fn = re.sub(r"\s*\[(?:[^\]]*/)?([^\]/]+)\]$", r"  [\1]", fn)
                lines.append("| {:,} | `{}` |".format(n, fn[:120]))
            blocks.append("\n".join(lines))
    return blocks
