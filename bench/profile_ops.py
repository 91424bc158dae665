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

HERE = os.path.dirname(os.path.abspath(__file__))


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
        ("c-local-rtt1", "C: Unix-domain round trip 1 B", "round trip", 2000, 12000,
         [("raw", "raw C", c(raw, ["local-rtt"] + rt[1:], "")), ("lib", "libusocket", c(lib, ["local-rtt"] + rt[1:], ""))]),
        ("c-local-bulk", "C: Unix-domain bulk receive", "64 KiB read", 512, 2048,
         [("raw", "raw C", c(raw, ["local-bulk", "--seconds", "600"], "bulk")),
          ("lib", "libusocket", c(lib, ["local-bulk", "--seconds", "600"], "bulk"))]),
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


def run(exes, cpu, budget_s, log, runtimes=("c", "python", "lisp"), callgrind_scripts=True, accept=True):
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
    if accept and "c" in runtimes and raw and lib and have_vg:
        # first, as it is the deterministic figure for the accept target of 0.2
        try:
            out["accept"] = accept_instructions(raw, lib, pin=pin)
            log("  profile accept instructions: raw C %s, libusocket %s per accept"
                % (out["accept"]["impls"]["raw"]["per_accept"], out["accept"]["impls"]["lib"]["per_accept"]))
        except Exception as e:
            out["accept"] = {"error": "%s: %s" % (type(e).__name__, str(e)[:300]), "command": accept_command()}
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


# --------------------------------------------------------------------------
# accept: user-space instructions inside one accept call, deterministic

ACCEPT_FN = {"raw": "raw_acc_one", "lib": "lib_acc_one"}
ACCEPT_COUNTS = (500, 2500)


def accept_command(k1=ACCEPT_COUNTS[0], k2=ACCEPT_COUNTS[1]):
    return "python3 bench/profile_ops.py accept --counts %d,%d" % (k1, k2)


def fn_costs(path):
    """Self cost of each function in a callgrind profile (callgrind_annotate's
    "file:function [object]" lines, summed by function)."""
    if not shutil.which("callgrind_annotate"):
        return {}
    r = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", "--auto=no", path],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True, timeout=120)
    out = {}
    for line in r.stdout.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)$", line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        name = re.sub(r"\s*\[[^\]]*\]$", "", m.group(2).strip())
        name = name.split(":", 1)[1] if ":" in name and not name.startswith(("???", "<")) else \
            name.replace("???:", "")
        out[name] = out.get(name, 0) + int(m.group(1).replace(",", ""))
    return out


ALLOC_FNS = ("malloc", "calloc", "realloc", "aligned_alloc", "posix_memalign", "memalign")


def alloc_calls(path):
    """Calls to the C allocator recorded in a callgrind profile (only while
    collecting): the sum of calls= of every call to malloc, calloc, realloc..."""
    names, n, cfn = {}, 0, None
    for line in open(path, errors="replace"):
        m = re.match(r"c?fn=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if m:
            if m.group(2):
                names[m.group(1)] = m.group(2).strip()
            cfn = names.get(m.group(1)) if line.startswith("cfn=") else None
            continue
        if line.startswith("calls=") and cfn in ALLOC_FNS:
            n += int(line.split("=", 1)[1].split()[0])
            cfn = None
    return n


def _accept_count(exe, fn, k, close_each, pin, timeout):
    d = tempfile.mkdtemp(prefix="cg-accept-")
    try:
        out = os.path.join(d, "cg.out")
        cmd = list(pin) + ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                           "--toggle-collect=" + fn, exe, "accept", "--count", str(k), "--rounds", "1",
                           "--close-each", "1" if close_each else "0"]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                           timeout=timeout)
        if r.returncode != 0 or not os.path.exists(out):
            raise RuntimeError("callgrind %s accept --count %d: exit %d %s" % (
                os.path.basename(exe), k, r.returncode, r.stdout[-300:].decode("utf-8", "replace")))
        total = None
        for line in open(out):
            if line.startswith("totals:") or (total is None and line.startswith("summary:")):
                total = int(line.split()[1])
        if not total:
            raise RuntimeError("callgrind collected nothing in %s (inlined?)" % fn)
        return total, alloc_calls(out), fn_costs(out)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def accept_instructions(raw, lib, k1=ACCEPT_COUNTS[0], k2=ACCEPT_COUNTS[1], pin=(), timeout=300):
    """User-space instructions per accept, raw C against the library, counted by
    callgrind only inside the function that accepts one connection
    (--toggle-collect=raw_acc_one / lib_acc_one: accept(2)'s wrapper and,
    for the library, usocket_accept with its registry insert and
    allocations), in one drain of k1 and one of k2 queued connections:
    (I(k2) - I(k1)) / (k2 - k1), so first-call costs cancel. Exact and
    independent of machine load, unlike the wall-clock rates. Two modes:
    "impls", the drain of the timed measure (every accepted connection kept
    open until the end), and "close_each", each closed right after its
    accept (what a library that reuses closed sockets' memory is built for).
    Also the calls to malloc/calloc/realloc per accept."""
    res = {"k1": k1, "k2": k2, "command": accept_command(k1, k2)}
    for mode in ("impls", "close_each"):
        res[mode] = {}
        for impl, exe in (("raw", raw), ("lib", lib)):
            a = _accept_count(exe, ACCEPT_FN[impl], k1, mode == "close_each", pin, timeout)
            b = _accept_count(exe, ACCEPT_FN[impl], k2, mode == "close_each", pin, timeout)
            n = float(k2 - k1)
            fns = {f: (b[2].get(f, 0) - a[2].get(f, 0)) / n for f in set(a[2]) | set(b[2])}
            top = sorted(((v, f) for f, v in fns.items() if v >= 0.5), reverse=True)[:10]
            res[mode][impl] = {"per_accept": round((b[0] - a[0]) / n, 1), "totals": [a[0], b[0]],
                               "allocs_per_accept": round((b[1] - a[1]) / n, 3),
                               "top": [(round(v, 1), f) for v, f in top]}
    res["extra"] = round(res["impls"]["lib"]["per_accept"] - res["impls"]["raw"]["per_accept"], 1)
    return res


def accept_markdown(a):
    if not a:
        return []
    if a.get("error"):
        return ["Accept instructions (callgrind): %s" % a["error"]]
    rows = ["**Accept, user-space instructions per accept** (callgrind, deterministic: only inside the "
            "function that accepts one connection, `--toggle-collect=raw_acc_one` / `lib_acc_one`, "
            "(I(%d) − I(%d)) / %d over one drain each). Reproduce: `%s` (after `bench/run.sh` has built "
            "`bench/build/`)." % (a["k2"], a["k1"], a["k2"] - a["k1"], a["command"]), "",
            "| drain | raw C instr/accept | libusocket instr/accept | extra | allocator calls per accept "
            "(malloc, calloc, realloc), libusocket |", "|---|---|---|---|---|"]
    for mode, title in (("impls", "queued connections kept open (the timed measure)"),
                        ("close_each", "each closed right after its accept (`--close-each 1`)")):
        m = a.get(mode)
        if not m:
            continue
        r, l = m["raw"], m["lib"]
        rows.append("| %s | %s | %s | %s | %s |" % (title, "{:,.1f}".format(r["per_accept"]),
                                                    "{:,.1f}".format(l["per_accept"]),
                                                    "{:+,.1f}".format(l["per_accept"] - r["per_accept"]),
                                                    l.get("allocs_per_accept", "?")))
    lines = ["\n".join(rows)]
    for mode, title in (("impls", "kept open"), ("close_each", "closed each")):
        m = a.get(mode)
        if not m:
            continue
        t = ["| instr/accept | function (libusocket, %s, self cost) |" % title, "|---|---|"]
        for v, n in m["lib"]["top"]:
            t.append("| {:,.1f} | `{}` |".format(v, n[:110]))
        lines.append("\n".join(t))
    return lines


def main(argv):
    """profile_ops.py accept [--counts K1,K2]: instructions per accept, raw C and
    libusocket (bench/build/bench_raw and bench_lib must exist)."""
    if not argv or argv[0] != "accept":
        print(main.__doc__)
        return 2
    k1, k2 = ACCEPT_COUNTS
    if "--counts" in argv:
        k1, k2 = (int(x) for x in argv[argv.index("--counts") + 1].split(","))
    build = os.path.join(HERE, "build")
    raw, lib = os.path.join(build, "bench_raw"), os.path.join(build, "bench_lib")
    if not (os.path.exists(raw) and os.path.exists(lib)):
        print("profile_ops: build the programs first (bench/run.sh --only accept --runs 1)")
        return 1
    a = accept_instructions(raw, lib, k1, k2)
    for mode, title in (("impls", "drain, accepted connections kept open"),
                        ("close_each", "each closed right after its accept (--close-each 1)")):
        r, l = a[mode]["raw"], a[mode]["lib"]
        print("instructions per accept (callgrind, user space, inside the accepting function), %s:" % title)
        print("  raw C       %10.1f   allocator calls %.3f" % (r["per_accept"], r["allocs_per_accept"]))
        print("  libusocket  %10.1f   allocator calls %.3f   (%+.1f instructions)"
              % (l["per_accept"], l["allocs_per_accept"], l["per_accept"] - r["per_accept"]))
        print("  libusocket, by function (self):")
        for v, n in l["top"]:
            print("    %10.1f  %s" % (v, n[:100]))
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(main(sys.argv[1:]))
