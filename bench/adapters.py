"""How the runner calls the Python and Lisp benchmark scripts, and reads them.

The bindings own their scripts (bindings/python/bench_python.py,
bindings/lisp/bench/); this file only turns a (runtime, measure, impl,
params) into their command line, following their documented CLIs, and maps
the JSON line they print onto the runner's record:
{"status": "ok"|"failed"|"unavailable", "value": number, "unit": str, "reason": str}.
A script that is missing gives (None, reason): the row is "unavailable".
"""

import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY_BENCH = os.path.join(ROOT, "bindings", "python", "bench_python.py")
LISP_BENCH_DIR = os.path.join(ROOT, "bindings", "lisp", "bench")

# wait methods per runtime: (impl name, label, the impl it is compared with)
WAIT_METHODS = {
    "python": [
        ("select", "select.select (Python)", None),
        ("selectors", "selectors.DefaultSelector (Python)", None),
        ("binding-wait", "usocket.wait_for_input (Python binding)", "select"),
        ("binding-waitlist", "usocket.WaitList (Python binding)", "selectors"),
    ],
    "lisp": [
        ("usocket-list", "usocket wait-for-input, list (SBCL)", None),
        ("usocket-waitlist", "usocket wait-for-input, wait list (SBCL)", None),
        ("binding-list", "usocket-cffi wait-for-input, list", "usocket-list"),
        ("binding-waitlist", "usocket-cffi wait-for-input, wait list", "usocket-waitlist"),
    ],
    "lisp-ecl": [
        ("usocket-list", "usocket wait-for-input, list (ECL)", None),
        ("usocket-waitlist", "usocket wait-for-input, wait list (ECL)", None),
        ("binding-list", "usocket-cffi wait-for-input, list (ECL)", "usocket-list"),
        ("binding-waitlist", "usocket-cffi wait-for-input, wait list (ECL)", "usocket-waitlist"),
    ],
    # TCP connections, not UDP sockets, for both sides: native usocket 0.8.3 on
    # CLISP never reports a datagram socket ready (bench-lisp.lisp, --sockets)
    "lisp-clisp": [
        ("usocket-list", "usocket wait-for-input, list (CLISP, TCP)", None),
        ("usocket-waitlist", "usocket wait-for-input, wait list (CLISP, TCP)", None),
        ("binding-list", "usocket-cffi wait-for-input, list (CLISP, TCP)", "usocket-list"),
        ("binding-waitlist", "usocket-cffi wait-for-input, wait list (CLISP, TCP)", "usocket-waitlist"),
    ],
}
# The Lisps besides SBCL: runtime -> (executable, arguments before the script, label)
OTHER_LISPS = {
    "lisp-ecl": ("ecl", ["-norc", "--shell"], "ECL"),
    "lisp-clisp": ("clisp", ["-norc", "-q"], "CLISP"),
}
LISP_RUNTIMES = ("lisp",) + tuple(OTHER_LISPS)
PEER = os.path.join(HERE, "build", "bench_peer")
# (binding method, its baseline) used by the targets
WAIT_PAIRS = {
    "python": ("binding-waitlist", "selectors"),
    "lisp": ("binding-waitlist", "usocket-waitlist"),
    "lisp_list": ("binding-list", "usocket-list"),
}


RUNTIME_LABELS = {
    ("python", "stdlib"): "Python stdlib",
    ("python", "binding"): "Python binding",
    ("lisp", "usocket"): "usocket 0.8.3",
    ("lisp", "binding"): "Lisp binding",
    ("lisp-ecl", "usocket"): "usocket 0.8.3 (ECL)",
    ("lisp-ecl", "binding"): "Lisp binding (ECL)",
    ("lisp-clisp", "usocket"): "usocket 0.8.3 (CLISP)",
    ("lisp-clisp", "binding"): "Lisp binding (CLISP)",
}


def python_exe():
    return sys.executable or shutil.which("python3") or "python3"


def command(runtime, measure, impl, p):
    """The command line for one process run, or (None, reason)."""
    if runtime == "python":
        return python_command(measure, impl, p)
    if runtime in LISP_RUNTIMES:
        return lisp_command(measure, impl, p, runtime)
    return None, "unknown runtime %s" % runtime


def python_command(measure, impl, p):
    if not os.path.exists(PY_BENCH):
        return None, "bindings/python/bench_python.py does not exist yet"
    # CLI (its docstring): bench_python.py MEASURE --impl IMPL [--size --seconds --iters --bytes --n --count]
    cmd = [python_exe(), PY_BENCH, measure, "--impl", impl]
    if measure in ("rtt", "udp"):
        cmd += ["--size", str(p["size"]), "--seconds", str(p["seconds"]), "--iters", str(p.get("iters", 2000000))]
    elif measure == "bulk":
        cmd += ["--bytes", str(p["bytes"])]
    elif measure == "wait":
        cmd += ["--n", str(p["n"]), "--seconds", str(p["seconds"]), "--iters", "200000"]
    elif measure == "accept":
        cmd += ["--count", str(p["count"])]
    else:
        return None, "no Python measure %s" % measure
    return cmd, None


LISP_SCRIPT = os.path.join(LISP_BENCH_DIR, "bench-lisp.lisp")


def lisp_command(measure, impl, p, runtime="lisp"):
    if not os.path.exists(LISP_SCRIPT):
        return None, "no Lisp bench script (bindings/lisp/bench/bench-lisp.lisp) yet"
    if runtime == "lisp":
        sbcl = shutil.which("sbcl")
        if not sbcl:
            return None, "sbcl not installed"
        # CLI (its header): sbcl --script bench-lisp.lisp MEASURE IMPL [--key value]...
        cmd = [sbcl, "--script", LISP_SCRIPT, measure, impl]
    else:
        exe, pre, name = OTHER_LISPS[runtime]
        path = shutil.which(exe)
        if not path:
            return None, "%s not installed" % name
        if not os.path.exists(PEER):
            return None, "bench/build/bench_peer not built"
        # CLI (its header): ecl -norc --shell | clisp -norc -q  bench-lisp.lisp MEASURE IMPL ...
        cmd = [path] + pre + [LISP_SCRIPT, measure, impl, "--peer", PEER]
        if runtime == "lisp-clisp" and measure == "wait":
            cmd += ["--sockets", "tcp"]
    if measure == "load":
        return cmd, None
    if measure in ("rtt", "udp", "paired-rtt", "paired-udp"):
        cmd += ["--size", str(p["size"]), "--seconds", str(p["seconds"]), "--iters", str(p.get("iters", 2000000))]
        if "warmup" in p:
            cmd += ["--warmup", str(p["warmup"])]
    elif measure == "bulk":
        cmd += ["--bytes", str(p["bytes"])]
    elif measure == "wait":
        # a wait on a plain list of 1000+ costs milliseconds and the script checks
        # its clock every 16 waits: cap the count so a run stays short
        iters = 200 if impl.endswith("-list") and p["n"] >= 1000 else 200000
        if runtime != "lisp" and p.get("quick") and impl.endswith("-list") and p["n"] >= 1000:
            iters = 40  # QUICK off SBCL: a short look (2 waits a block)
        cmd += ["--n", str(p["n"]), "--seconds", str(p["seconds"]), "--iters", str(iters)]
        if expected_failure(runtime, "wait", impl, p):
            # usocket's select() past descriptor 1023: let it really try (an error or
            # a crash of the image), in this child process, so the report shows what happens
            cmd += ["--force", "1"]
    elif measure == "accept":
        cmd += ["--count", str(p["count"]), "--rounds", str(p.get("rounds", 5))]
    else:
        return None, "no Lisp measure %s" % measure
    return cmd, None


def normalize(rec):
    """Map a script's JSON line onto the runner's record."""
    rec = dict(rec)
    st = rec.get("status")
    if st is None:
        if "error" in rec:
            st = "failed"
        elif "value" in rec:
            st = "ok"
        else:
            st = "failed"
    st = {"error": "failed", "fail": "failed", "crash": "failed", "ok": "ok", "success": "ok"}.get(st, st)
    rec["status"] = st
    if st != "ok" and "reason" not in rec:
        rec["reason"] = rec.get("error") or rec.get("message") or "failed"
    return rec


def expected_failure(runtime, measure, impl, p):
    """Why a row is expected to fail, or None. The only one: usocket 0.8.x
    waits with select(), which cannot take a descriptor past 1023 (on SBCL
    FINDINGS.md: "crash" at 10,000; on ECL and CLISP glibc's fortified FD_SET
    aborts the image: "bit out of range 0 - FD_SETSIZE on fd_set"); lisp_command
    passes --force so the script really tries, in its own child process, and
    the report shows what happened. That is a result about the baseline, not a
    failure of ours."""
    if runtime in LISP_RUNTIMES and measure == "wait" and impl.startswith("usocket") and p.get("n", 0) >= 1000:
        return "usocket's select() past descriptor 1023 (documented; the baseline, in a child process)"
    return None
