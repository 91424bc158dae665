#!/usr/bin/env python3
"""Writes bench/results/report.md and the SVG charts from results.json.

    bench/report.py [bench/results/results.json]

Standard library only; the SVG is written by hand (plain <rect>, <line>,
<polyline>, <text>), so it renders in any browser and in rsvg-convert.
"""

import json
import math
import os
import sys
from xml.sax.saxutils import escape

HERE = os.path.dirname(os.path.abspath(__file__))

RT_NAME = {"c": "C", "python": "Python", "lisp": "Lisp (SBCL)", "lisp-ecl": "Lisp (ECL)",
           "lisp-clisp": "Lisp (CLISP)"}
RT_COLOR = {"c": "#1f6fb4", "python": "#2e9b3a", "lisp": "#8e44ad"}
BASE_COLOR = "#a8a8a8"
BASELINE_NAME = {"c": "raw C syscalls", "python": "Python stdlib", "lisp": "usocket 0.8.3",
                 "lisp-ecl": "usocket 0.8.3 on ECL", "lisp-clisp": "usocket 0.8.3 on CLISP"}
# the Lisps whose rows are in the per-implementation table (the charts keep C,
# Python and SBCL)
LISPS = ("lisp", "lisp-ecl", "lisp-clisp")
CHART_RUNTIMES = ("c", "python", "lisp")


# --------------------------------------------------------------------------
# number formatting

def fnum(v, unit=None):
    if v is None:
        return "–"
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 10000:
        s = "{:,.0f}".format(v)
    elif a >= 100:
        s = "%.0f" % v
    elif a >= 10:
        s = "%.1f" % v
    elif a >= 1:
        s = "%.2f" % v
    else:
        s = "%.3f" % v
    return s


def fratio(r):
    return "–" if r is None else "%.3f×" % r


UNIT_TEXT = {"us": "µs", "GB/s": "GB/s", "conn/s": "conn/s", "req/s": "req/s", "B/socket": "B/socket",
             "B/conn": "B/conn"}


# --------------------------------------------------------------------------
# SVG

class Svg:
    def __init__(self, w, h):
        self.w, self.h, self.parts = w, h, []

    def add(self, s):
        self.parts.append(s)

    def rect(self, x, y, w, h, fill, extra=""):
        self.add('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" %s/>' % (x, y, w, h, fill, extra))

    def line(self, x1, y1, x2, y2, stroke="#000", width=1, extra=""):
        self.add('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%.2g" %s/>'
                 % (x1, y1, x2, y2, stroke, width, extra))

    def text(self, x, y, s, size=12, anchor="start", fill="#222", weight="normal", extra=""):
        self.add('<text x="%.1f" y="%.1f" font-size="%g" text-anchor="%s" fill="%s" font-weight="%s" %s>%s</text>'
                 % (x, y, size, anchor, fill, weight, extra, escape(s)))

    def render(self):
        return ('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
                'font-family="DejaVu Sans, Helvetica, Arial, sans-serif">\n'
                '<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>\n%s\n</svg>\n'
                % (self.w, self.h, self.w, self.h, self.w, self.h, "\n".join(self.parts)))


def nice_max(v):
    if v <= 0:
        return 1.0
    e = 10 ** math.floor(math.log10(v))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * e >= v:
            return m * e
    return 10 * e


def bar_chart(title, subtitle, ylabel, clusters, legend, width=None, height=440, panels=None):
    """Vertical bars with min–max whiskers. clusters: [(cluster_label, [(group_label, [bar]) ...])];
    bar: dict(label, color, value, lo, hi, note, missing). panels: [(ylabel, clusters)] draws
    side-by-side panels, each with its own y axis."""
    panels = panels or [(ylabel, clusters)]
    sizes = []
    for _, cl in panels:
        ng = sum(len(g) for _, g in cl)
        nb = sum(len(b) for _, gs in cl for _, b in gs)
        sizes.append((ng, nb, len(cl)))
    left, right, top, bottom, gap = 78, 20, 66, 92, 84
    natural = [nb * 46 + ng * 22 + nc * 26 for ng, nb, nc in sizes]
    width = width or max(560, left + right + sum(natural) + gap * (len(panels) - 1))
    avail = width - left - right - gap * (len(panels) - 1)
    svg = Svg(width, height)
    svg.text(left, 24, title, 16, weight="bold")
    if subtitle:
        svg.text(left, 43, subtitle, 11, fill="#555")
    x0 = left
    for (ylab, cl), (ng, nb, nc), nat in zip(panels, sizes, natural):
        pw = avail * nat / float(sum(natural))
        bar_panel(svg, x0, top, pw, height - top - bottom, ylab, cl, ng, nb, nc)
        x0 += pw + gap
    lx, ly = left, height - 26
    for label, color in legend:
        svg.rect(lx, ly - 10, 12, 12, color, 'stroke="#333" stroke-width="0.5"')
        svg.text(lx + 17, ly, label, 11)
        lx += 26 + 6.3 * len(label)
    svg.text(width - right, height - 8, "whiskers: min–max of the process runs", 9, "end", "#666")
    return svg.render()


def bar_panel(svg, left, top, pw, ph, ylabel, clusters, ngroups, nbars, nclusters):
    vals = [b["hi"] if b.get("hi") is not None else b.get("value") for _, gs in clusters for _, bs in gs
            for b in bs if b.get("value") is not None]
    ymax = nice_max(max(vals) * 1.12 if vals else 1.0)

    def Y(v):
        return top + ph - (v / ymax) * ph
    for k in range(6):
        v = ymax * k / 5
        y = Y(v)
        svg.line(left, y, left + pw, y, "#e4e4e4" if k else "#555", 1)
        svg.text(left - 6, y + 4, fnum(v), 11, "end", "#444")
    yl = left - 58
    svg.text(yl, top + ph / 2, ylabel, 12, "middle", extra='transform="rotate(-90 %.1f %.1f)"' % (yl, top + ph / 2))
    unit_w = pw / max(1, nbars + ngroups * 0.5 + nclusters * 0.6)
    bw = unit_w * 0.92
    x = left + unit_w * 0.3
    for clabel, groups in clusters:
        cx0 = x
        for glabel, bars in groups:
            gx0 = x
            for b in bars:
                if b.get("value") is not None:
                    y = Y(b["value"])
                    svg.rect(x, y, bw, top + ph - y, b["color"], 'stroke="#333" stroke-width="0.5"')
                    if b.get("lo") is not None and b.get("hi") is not None and b["hi"] > b["lo"]:
                        xm = x + bw / 2
                        svg.line(xm, Y(b["hi"]), xm, Y(b["lo"]), "#111", 1.2)
                        svg.line(xm - 4, Y(b["hi"]), xm + 4, Y(b["hi"]), "#111", 1.2)
                        svg.line(xm - 4, Y(b["lo"]), xm + 4, Y(b["lo"]), "#111", 1.2)
                    ytxt = min(y, Y(b["hi"]) if b.get("hi") is not None else y) - 4
                    svg.text(x + bw / 2, ytxt, fnum(b["value"]), 10, "middle", "#222")
                    if b.get("note"):
                        svg.text(x + bw / 2, ytxt - 12, b["note"], 10, "middle", "#000", "bold")
                else:
                    svg.text(x + bw / 2, top + ph - 6, b.get("missing") or "n/a", 9, "start", "#a00",
                             extra='transform="rotate(-90 %.1f %.1f)"' % (x + bw / 2 + 3, top + ph - 6))
                x += unit_w
            svg.text((gx0 + x - unit_w + bw) / 2, top + ph + 16, glabel, 11, "middle")
            x += unit_w * 0.5
        if clabel:
            svg.text((cx0 + x - unit_w * 0.5) / 2, top + ph + 34, clabel, 12, "middle", "#000", "bold")
        x += unit_w * 0.6


def loglog_chart(title, subtitle, series, width=1010, height=520):
    """series: [dict(label, color, dash, points=[(n, median, lo, hi)], failed=[n...], note)]."""
    left, top, bottom = 78, 64, 58
    legend_w = 400
    pw, ph = width - left - legend_w - 20, height - top - bottom
    svg = Svg(width, height)
    svg.text(left, 24, title, 16, weight="bold")
    if subtitle:
        svg.text(left, 43, subtitle, 11, fill="#555")
    xs = sorted({p[0] for s in series for p in s["points"]} | {n for s in series for n in s.get("failed", [])})
    if not xs:
        xs = [10, 10000]
    ys = [v for s in series for p in s["points"] for v in (p[1], p[2], p[3]) if v and v > 0]
    y0 = math.floor(math.log10(min(ys))) if ys else -1
    y1 = math.ceil(math.log10(max(ys))) if ys else 4
    if y1 <= y0:
        y1 = y0 + 1
    x0, x1 = math.log10(min(xs)), math.log10(max(xs))
    if x1 <= x0:
        x1 = x0 + 1
    pad = 0.06 * (x1 - x0)

    def X(n):
        return left + (math.log10(n) - x0 + pad) / (x1 - x0 + 2 * pad) * pw

    def Y(v):
        return top + ph - (math.log10(v) - y0) / (y1 - y0) * ph

    svg.rect(left, top, pw, ph, "none", 'stroke="#555" stroke-width="1"')
    for e in range(y0, y1 + 1):
        y = Y(10 ** e)
        svg.line(left, y, left + pw, y, "#dcdcdc", 1)
        svg.text(left - 6, y + 4, fmt_pow(e), 11, "end", "#333")
        if e < y1:
            for m in range(2, 10):
                ym = Y(m * 10 ** e)
                svg.line(left, ym, left + 5, ym, "#999", 0.8)
    for n in xs:
        svg.line(X(n), top, X(n), top + ph, "#e6e6e6", 1)
        svg.text(X(n), top + ph + 18, "{:,}".format(n), 11, "middle")
    svg.text(left + pw / 2, top + ph + 40, "N idle sockets (+1 ready), log scale", 12, "middle")
    svg.text(18, top + ph / 2, "µs per wait call, log scale", 12, "middle",
             extra='transform="rotate(-90 18 %.1f)"' % (top + ph / 2))
    for s in series:
        pts = [(X(n), Y(v)) for n, v, lo, hi in s["points"] if v and v > 0]
        if len(pts) > 1:
            svg.add('<polyline fill="none" stroke="%s" stroke-width="2" %s points="%s"/>'
                    % (s["color"], ('stroke-dasharray="%s"' % s["dash"]) if s.get("dash") else "",
                       " ".join("%.1f,%.1f" % p for p in pts)))
        for n, v, lo, hi in s["points"]:
            if not v or v <= 0:
                continue
            if lo and hi and hi > lo:
                svg.line(X(n), Y(hi), X(n), Y(lo), s["color"], 1)
            marker(svg, s.get("marker", "circle"), X(n), Y(v), s["color"])
        for n in s.get("failed", []):
            xx, yy = X(n), top + 10
            svg.line(xx - 5, yy - 5, xx + 5, yy + 5, s["color"], 2)
            svg.line(xx - 5, yy + 5, xx + 5, yy - 5, s["color"], 2)
    # legend
    lx, ly = left + pw + 18, top + 4
    svg.text(lx, ly, "method", 11, weight="bold")
    ly += 18
    for s in series:
        svg.add('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2" %s/>'
                % (lx, ly - 4, lx + 26, ly - 4, s["color"],
                   ('stroke-dasharray="%s"' % s["dash"]) if s.get("dash") else ""))
        marker(svg, s.get("marker", "circle"), lx + 13, ly - 4, s["color"])
        label = s["label"] + (("  " + s["note"]) if s.get("note") else "")
        svg.text(lx + 32, ly, label, 10.5)
        ly += 17
    svg.text(lx, ly + 8, "× at the top: the method failed at that N", 9.5, fill="#666")
    svg.text(lx, ly + 21, "bars: min–max of the process runs", 9.5, fill="#666")
    return svg.render()


def fmt_pow(e):
    v = 10.0 ** e
    if e >= 0:
        return "{:,}".format(int(v))
    return ("%." + str(-e) + "f") % v


def marker(svg, kind, x, y, color):
    if kind == "square":
        svg.rect(x - 3.5, y - 3.5, 7, 7, color)
    elif kind == "triangle":
        svg.add('<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="%s"/>'
                % (x, y - 4.5, x - 4.5, y + 3.5, x + 4.5, y + 3.5, color))
    elif kind == "diamond":
        svg.add('<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="%s"/>'
                % (x, y - 5, x + 4.5, y, x, y + 5, x - 4.5, y, color))
    else:
        svg.add('<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>' % (x, y, color))


# --------------------------------------------------------------------------
# charts from results

def fig_index(res):
    return {f["id"]: f for f in res["figures"]}


def bar_of(f, color):
    if f is None:
        return {"label": "", "color": color, "value": None, "missing": "not run"}
    if f["status"] != "ok":
        return {"label": f["label"], "color": color, "value": None, "missing": f["status"]}
    note = None
    if f.get("ratio") is not None:
        note = "%.2f×" % f["ratio"]
    return {"label": f["label"], "color": color, "value": f["median"], "lo": f["min"], "hi": f["max"],
            "note": note}


def runtime_pairs(F, fid_fmt, runtimes=("c", "python", "lisp")):
    out = []
    for rt in runtimes:
        base_impl, lib_impl = {"c": ("raw", "lib"), "python": ("stdlib", "binding"),
                               "lisp": ("usocket", "binding")}[rt]
        out.append((RT_NAME[rt], [bar_of(F.get(fid_fmt % (rt, base_impl)), BASE_COLOR),
                                  bar_of(F.get(fid_fmt % (rt, lib_impl)), RT_COLOR[rt])]))
    return out


LEGEND_PAIRS = [("baseline: raw C / Python stdlib / usocket 0.8.3", BASE_COLOR),
                ("libusocket from C", RT_COLOR["c"]), ("Python binding", RT_COLOR["python"]),
                ("Lisp binding", RT_COLOR["lisp"])]


def charts(res, outdir):
    F = fig_index(res)
    meta = res["meta"]
    sub = "%s · %s · median of %d runs, pinned to one CPU · label above a library bar: ratio to its baseline" % (
        meta.get("date", ""), meta.get("cpu_model", "?"), meta.get("runs", 0))
    files = {}
    rt_clusters = [("TCP echo, 1 B", runtime_pairs(F, "rtt/1/%s/%s")),
                   ("TCP echo, 64 B", runtime_pairs(F, "rtt/64/%s/%s")),
                   ("UDP request/response, 64 B", runtime_pairs(F, "udp/64/%s/%s")),
                   ("Unix-domain stream, 1 B", runtime_pairs(F, "local_rtt/1/%s/%s", ("c",)))]
    files["roundtrip.svg"] = bar_chart("Round trip time (lower is better)", sub, "µs per round trip",
                                       rt_clusters, LEGEND_PAIRS)
    bulk_title = next((f["title"] for f in res["figures"] if f["measure"] == "bulk"), "bulk receive")
    files["throughput.svg"] = bar_chart(
        "Throughput (higher is better)", sub, None, None, LEGEND_PAIRS, height=460, panels=[
            ("GB/s", [(bulk_title.replace("TCP bulk receive, ", "bulk receive, "),
                       runtime_pairs(F, "bulk/%s/%s")),
                      ("Unix-domain stream", runtime_pairs(F, "local_bulk/%s/%s", ("c",)))]),
            ("connections accepted per second", [("accept drain of 4000 queued connections",
                                                  runtime_pairs(F, "accept/%s/%s"))])])
    # server
    groups = []
    for nc in (1, 100, 1000):
        groups.append(("%d client%s" % (nc, "s" * (nc > 1)),
                       [bar_of(F.get("server_rps/%d/c/c-threads" % nc), BASE_COLOR),
                        bar_of(F.get("server_rps/%d/c/lib-server" % nc), RT_COLOR["c"])]))
    files["server.svg"] = bar_chart("Echo server, requests per second (higher is better)", sub,
                                    "requests/s", [("", groups)],
                                    [("C thread-per-connection server", BASE_COLOR),
                                     ("usocket_server, multi-threaded", RT_COLOR["c"])], width=860)
    files["wait.svg"] = wait_chart(res, sub)
    for name, svg in files.items():
        with open(os.path.join(outdir, name), "w") as fh:
            fh.write(svg)
    return list(files)


def scale_pairs(groups, k):
    out = []
    for g, bars in groups:
        nb = []
        for b in bars:
            b = dict(b)
            for key in ("value", "lo", "hi"):
                if b.get(key) is not None:
                    b[key] = b[key] * k
            nb.append(b)
        out.append((g, nb))
    return out


WAIT_STYLE = {
    # impl: (color, marker)
    "raw-poll": ("#7f7f7f", "square"), "raw-epoll": ("#111111", "circle"),
    "lib-wait": ("#6aa8e0", "square"), "lib-wait-list": ("#1f6fb4", "circle"),
    "select": ("#c9b458", "square"), "selectors": ("#8c6d1f", "circle"),
    "binding-wait": ("#8fd18f", "triangle"), "binding-waitlist": ("#2e9b3a", "diamond"),
    "usocket-list": ("#e8a0a0", "square"), "usocket-waitlist": ("#c0392b", "circle"),
    "binding-list": ("#c9a0dc", "triangle"), "binding-waitlist@lisp": ("#8e44ad", "diamond"),
}
DASH = {"c": None, "python": "7,4", "lisp": "2,3"}


def wait_series(res):
    series = {}
    for f in res["figures"]:
        if f["measure"] != "wait" or f["runtime"] not in CHART_RUNTIMES:
            continue
        key = (f["runtime"], f["impl"])
        s = series.setdefault(key, {"label": f["label"], "points": [], "failed": [], "runtime": f["runtime"],
                                    "impl": f["impl"]})
        if f["status"] == "ok":
            s["points"].append((int(f["param"]), f["median"], f["min"], f["max"]))
        elif f["status"] in ("failed", "unavailable") and f.get("command"):
            s["failed"].append(int(f["param"]))
    out = []
    for (rt, impl), s in series.items():
        style = WAIT_STYLE.get(impl + "@" + rt) or WAIT_STYLE.get(impl) or ("#555", "circle")
        s["color"], s["marker"], s["dash"] = style[0], style[1], DASH.get(rt)
        if s["failed"]:
            s["note"] = "(failed at N=%s)" % ",".join(str(n) for n in sorted(s["failed"]))
        if not s["points"] and not s["failed"]:
            s["note"] = "(not available)"
        out.append(s)
    return out


def wait_chart(res, sub):
    return loglog_chart("Wait with N idle sockets and 1 ready (lower is better)", sub, wait_series(res))


# --------------------------------------------------------------------------
# Markdown

def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in r) + " |")
    return "\n".join(out)


def row_status(f):
    if f["status"] == "ok":
        extra = ""
        if f.get("failures"):
            extra = " (%d failed run%s)" % (len(f["failures"]), "s" * (len(f["failures"]) > 1))
        return None, extra
    reason = (f.get("reason") or "").splitlines()[0][:160] if f.get("reason") else ""
    return "%s: %s" % (f["status"], reason), ""


def measure_table(figs, with_raw_c=True):
    head = ["runtime", "implementation", "median", "min", "max", "runs", "ratio to its baseline"]
    if with_raw_c:
        head.append("ratio to raw C")
    with_cpu = any(f.get("cpu_us") for f in figs)
    if with_cpu:
        head.append("CPU µs/op")
    rows = []
    for f in figs:
        st, extra = row_status(f)
        if st:
            r = [RT_NAME.get(f["runtime"], f["runtime"]), f["label"], st, "", "", "", ""]
            if with_raw_c:
                r.append("")
            if with_cpu:
                r.append("")
        else:
            is_base = f.get("is_baseline")
            if is_base is None:
                is_base = any(g.get("baseline") == f["id"] for g in figs)
            base = "baseline" if is_base else fratio(f["ratio"])
            r = [RT_NAME.get(f["runtime"], f["runtime"]), f["label"], "**%s**" % fnum(f["median"]),
                 fnum(f["min"]), fnum(f["max"]), "%d%s" % (f["n_runs"], extra), base]
            if with_raw_c:
                r.append(fratio(f.get("ratio_vs_raw_c")) if f.get("ratio_vs_raw_c") and f.get("unit") != "ratio"
                         else "")
            if with_cpu:
                r.append(fnum(f["cpu_us"]) if f.get("cpu_us") else "")
        rows.append(r)
    return md_table(head, rows)


PROFILE_CASE = [
    (r"^rtt/1/c/", "c-rtt1"), (r"^local_rtt/1/c/", "c-local-rtt1"), (r"^local_bulk/c/", "c-local-bulk"), (r"^udp/64/c/", "c-udp64"), (r"^bulk/c/", "c-bulk"), (r"^accept/c/", "c-accept"),
    (r"^wait/\d+/c/lib-wait-list", "c-wait10000"), (r"^rtt/\d+/python/", "python-rtt1"),
    (r"^udp/64/python/", "python-udp64"), (r"^rtt/\d+/lisp/", "lisp-rtt1"), (r"^udp/64/lisp/", "lisp-udp64"),
]


def explanations(res):
    """For each missed target, what the run itself measured about why."""
    import re
    F = fig_index(res)
    P = (res.get("profile") or {}).get("cases", {})
    out = {}
    for t in res["targets"]:
        if t["status"] != "missed" or t["target"] in out:
            continue
        f, b = F.get(t["figure"]), F.get(t["against"])
        parts = []
        unit = UNIT_TEXT.get(f.get("unit"), f.get("unit") or "")
        if f.get("median") is not None and b.get("median") is not None:
            d = f["median"] - b["median"]
            blabel = b["label"] + (" at N=%s" % b["param"] if b["measure"] == "wait" else "")
            parts.append("%s %s vs %s %s for %s (%+.3g %s)" % (fnum(f["median"]), unit, fnum(b["median"]), unit,
                                                             blabel, d, unit))
        if f.get("cpu_us") and b.get("cpu_us"):
            parts.append("CPU time of the measured process %s vs %s µs per operation (%+.0f%%)"
                         % (fnum(f["cpu_us"]), fnum(b["cpu_us"]), (f["cpu_us"] / b["cpu_us"] - 1) * 100))
        if t.get("paired") is not None:
            parts.append("paired in one process: %s (%s)" % (fratio(t["paired"]), t["paired_status"]))
        if b.get("max") and b.get("min") and b["min"] > 0 and f.get("max") and f.get("min"):
            spread = max(b["max"] / b["min"], f["max"] / f["min"]) - 1
            if spread > 0.05:
                parts.append("run-to-run spread up to %.0f%% (min to max)" % (spread * 100))
        key = next((k for rx, k in PROFILE_CASE if re.match(rx, t["figure"])), None)
        case = P.get(key) if key else None
        if case and len(case.get("impls", [])) == 2:
            r, l = case["impls"]
            if r.get("syscalls_total") is not None and l.get("syscalls_total") is not None:
                parts.append("system calls per operation %g (%s) vs %g (%s)" % (
                    r["syscalls_total"], r["label"], l["syscalls_total"], l["label"]))
            if r.get("instructions") is not None and l.get("instructions") is not None:
                parts.append("user-space instructions per operation %s vs %s (%+d, callgrind)" % (
                    "{:,}".format(r["instructions"]), "{:,}".format(l["instructions"]),
                    l["instructions"] - r["instructions"]))
        out[t["target"]] = "; ".join(parts) if parts else "no profile data"
    return out


def target_mark(t, r, status):
    if status == "n/a" or r is None:
        return "n/a"
    if status == "met":
        return "met"
    by = (r / t["threshold"] - 1) * 100 if t["op"] == "<=" else (1 - r / t["threshold"]) * 100
    return "**missed** (%.1f%% %s)" % (by, "over" if t["op"] == "<=" else "under")


def targets_02(res):
    """The targets of version 0.2 (issue 10, Speed): each with the ratio of
    the separate-process medians, the paired in-process ratio, met/missed for
    each, and for accept the deterministic callgrind count."""
    T = [t for t in res["targets"] if 10 in t.get("issues", [t["issue"]])]
    T.sort(key=lambda t: t.get("issues", [t["issue"]])[0] != 10)  # the new targets of 0.2 first
    if not T:
        return []
    acc = res.get("accept_instructions") or (res.get("profile") or {}).get("accept")
    rows = []
    for t in T:
        note = t.get("note") or ""
        if t["figure"].startswith("accept/c/") and acc:
            if acc.get("error"):
                note = (note + "; " if note else "") + "callgrind: " + acc["error"][:80]
            else:
                ir, il = acc["impls"]["raw"]["per_accept"], acc["impls"]["lib"]["per_accept"]
                note = (note + "; " if note else "") + ("user-space instructions per accept (callgrind): raw C "
                                                        "%s, libusocket %s (%+.0f); allocator calls per accept %s"
                                                        % (fnum(ir), fnum(il), il - ir,
                                                           acc["impls"]["lib"].get("allocs_per_accept", "?")))
                ce = acc.get("close_each")
                if ce:
                    note += ("; each closed at once: libusocket %s instructions, %s allocator calls per accept"
                             % (fnum(ce["lib"]["per_accept"]), ce["lib"]["allocs_per_accept"]))
        rows.append([t["target"], fratio(t["ratio"]), target_mark(t, t["ratio"], t["status"]),
                     fratio(t.get("paired")), target_mark(t, t.get("paired"), t.get("paired_status") or "n/a"),
                     note])
    met = sum(1 for t in T if t["status"] == "met")
    pmet = sum(1 for t in T if t.get("paired_status") == "met")
    nm = sum(1 for t in T if t["status"] in ("met", "missed"))
    npm = sum(1 for t in T if t.get("paired_status") in ("met", "missed"))
    out = ["### Version 0.2 targets (issue 10)", "",
           md_table(["target", "ratio (separate processes)", "status", "ratio (paired, one process)",
                     "paired status", "note"], rows), "",
           "%d of %d measured targets met on the separate-process medians, %d of %d on the paired check. "
           "The paired check runs "
           "raw syscalls on the library's own descriptor (`usocket_fd`) and library calls on its handle block "
           "by block in one process, so load from other work on the machine hits both alike: on a busy "
           "machine it is the figure to trust." % (met, nm, pmet, npm)]
    if acc:
        import profile_ops
        out.append("")
        out += profile_ops.accept_markdown(acc)[:1]  # the summary; the functions are in their own section
    elif not acc:
        out.append("")
        out.append("Accept, deterministically (no profile in this run): `python3 bench/profile_ops.py accept` "
                   "counts the user-space instructions inside one accept call, raw C against libusocket.")
    out.append("")
    return out


def markdown(res, chart_files):
    meta = res["meta"]
    L = []
    L.append("# usocket-core benchmarks")
    L.append("")
    L.append("- **Date:** %s%s" % (meta.get("date"), "  (**QUICK run**: fewer iterations; do not quote)"
                                  if meta.get("quick") else ""))
    L.append("- **Machine:** %s, %s CPUs, %s GiB, Linux %s (%s); %s; Python %s; %s"
             % (meta.get("cpu_model", "?"), meta.get("cpus"), meta.get("memory_gib"), meta.get("kernel"),
                meta.get("arch"), meta.get("cc", "cc"), meta.get("python"), meta.get("sbcl", "no SBCL")))
    L.append("- **Tree:** %s · **figures:** median of %d process runs each, with min and max; the "
             "compared programs alternate run by run" % (meta.get("git"), meta.get("runs", 0)))
    L.append("- **Pinning:** %s." % meta.get("pinning"))
    L.append("- **Ratio:** the row's median over its runtime's own baseline (raw C syscalls for the C "
             "library, Python's stdlib for the Python binding, usocket 0.8.3 on the same Lisp (SBCL, ECL, "
             "CLISP) for the Lisp binding). "
             "For times (µs) below 1 is faster; for rates (GB/s, conn/s, req/s) above 1 is faster.")
    L.append("- Whole run: %.0f s. Load average (1, 5, 15 min) at the start %s, at the end %s%s."
             % (meta.get("wall_s", 0), meta.get("load_start"), meta.get("load_end"),
                "" if not meta.get("load_start") or max(meta["load_start"][0], (meta.get("load_end") or [0])[0]) < 0.5
                else " — **other work was running on this 2-CPU machine: expect noise of several percent"
                     " between runs; the paired checks and the per-call CPU times are less affected**"))
    L.append("")
    # targets
    L.append("## Targets")
    L.append("")
    L += targets_02(res)
    L.append("### All targets")
    L.append("")
    trows = []
    for t in res["targets"]:
        r = t["ratio"]
        mark = {"met": "met", "missed": "**missed**", "n/a": "n/a"}[t["status"]]
        by = ""
        if t["status"] == "missed" and r is not None:
            if t["op"] == "<=":
                by = " — %.1f%% over" % ((r / t["threshold"] - 1) * 100)
            else:
                by = " — %.1f%% under" % ((1 - r / t["threshold"]) * 100)
        pr = ""
        if t.get("paired") is not None:
            pr = "%s (%s)" % (fratio(t["paired"]), t["paired_status"])
        trows.append([", ".join(str(i) for i in t.get("issues", [t["issue"]])), t["target"], fratio(r), mark + by, pr, t.get("note") or ""])
    L.append(md_table(["issues", "target", "achieved", "status", "paired check", "note"], trows))
    L.append("")
    L.append("*achieved* is the ratio of the two rows' medians (separate processes, alternating). "
             "*paired check* is the same ratio measured inside one process, the two implementations "
             "alternating block by block, so machine load hits both alike: for C, raw syscalls on the "
             "library's own descriptor (`usocket_fd`) against library calls on its handle, one socket; for "
             "Lisp, usocket 0.8.3 and the binding loaded in one SBCL image, each on its own connection to "
             "identical raw peers.")
    L.append("")
    miss = res.get("explanations") or explanations(res)
    if miss:
        L.append("### What this run measured about the missed targets")
        L.append("")
        L.append("Differences of the medians, the measured process's CPU time, the paired check and the "
                 "profile (system calls and instructions per operation) of the same operation.")
        L.append("")
        for k, v in miss.items():
            L.append("- **%s**: %s" % (k, v))
        L.append("")
    L += lisp_implementations(res)
    # charts
    L.append("## Charts")
    L.append("")
    for name in chart_files:
        L.append("![%s](%s)" % (name[:-4], name))
        L.append("")
    # tables
    by_title = []
    seen = {}
    for f in res["figures"]:
        if f["measure"] == "wait":
            continue
        if f["title"] not in seen:
            seen[f["title"]] = []
            by_title.append(f["title"])
        seen[f["title"]].append(f)
    units = {"us": "µs per operation, lower is better", "GB/s": "GB/s, higher is better",
             "conn/s": "connections accepted per second, higher is better",
             "req/s": "requests per second, higher is better",
             "B/socket": "bytes of peak RSS per open socket, lower is better",
             "B/conn": "bytes of server RSS per idle connection, lower is better"}
    for title in by_title:
        figs = seen[title]
        unit = next((f["unit"] for f in figs if f.get("unit")), "")
        L.append("## %s" % title[0].upper() + title[1:])
        L.append("")
        L.append("Unit: %s." % units.get(unit, unit))
        L.append("")
        raw_c = figs[0]["measure"] in ("rtt", "bulk", "udp", "accept", "local_rtt", "local_bulk")
        L.append(measure_table(figs, with_raw_c=raw_c))
        L.append("")
        if any(f.get("cpu_us") for f in figs):
            L.append("*CPU µs/op*: CPU time of the measured process (its own threads, not its peer's) per "
                     "operation, median over the runs: unlike the wall-clock figures it does not grow when "
                     "other processes take the CPU.")
            L.append("")
        if figs[0]["measure"] == "mem":
            L.append("The raw-C row is the user-space cost of a bare descriptor (the kernel's socket "
                     "memory is not in RSS); the library row adds its handle registry and per-socket state.")
            L.append("")
        if figs[0]["measure"] == "server_mem":
            for f in figs:
                ex = f.get("extra") or {}
                if ex.get("threads"):
                    L.append("- %s: %s threads, RSS %s → %s kB." % (f["label"], ex.get("threads"),
                                                                  ex.get("rss_before_kb"), ex.get("rss_after_kb")))
            L.append("")
    # wait table
    waits = [f for f in res["figures"] if f["measure"] == "wait"]
    if waits:
        L.append("## Wait with N idle sockets and one ready")
        L.append("")
        L.append("µs per wait call (median [min–max]), lower is better; N idle UDP sockets bound to "
                 "127.0.0.1 plus one with a datagram queued, the ready one last; the ratio is against the "
                 "method named in the baseline column. *flat* is t(N=10,000) / t(N=10). On CLISP the "
                 "sockets are TCP connections to a peer process that sent one byte on the last (both "
                 "sides): native usocket 0.8.3 there never reports a datagram socket ready.")
        L.append("")
        ns = sorted({int(f["param"]) for f in waits})
        methods = []
        for f in waits:
            k = (f["runtime"], f["impl"])
            if k not in methods:
                methods.append(k)
        W = {(f["runtime"], f["impl"], int(f["param"])): f for f in waits}
        rows = []
        for rt, impl in methods:
            any_f = next(W[(rt, impl, n)] for n in ns if (rt, impl, n) in W)
            base = any_f.get("baseline")
            base_lbl = "–"
            if base:
                bf = next((x for x in waits if x["id"] == base), None)
                base_lbl = bf["label"] if bf else base
            cells = []
            for n in ns:
                f = W.get((rt, impl, n))
                if f is None:
                    cells.append("")
                elif f["status"] != "ok":
                    cells.append("%s%s: %s" % (f["status"], " (expected)" if f.get("expected_failure") else "",
                                               (f.get("reason") or "")[:80]))
                else:
                    c = "**%s** [%s–%s]" % (fnum(f["median"]), fnum(f["min"]), fnum(f["max"]))
                    if f.get("ratio") is not None:
                        c += " %s" % fratio(f["ratio"])
                    cells.append(c)
            lo, hi = W.get((rt, impl, ns[0])), W.get((rt, impl, ns[-1]))
            flat = "–"
            if lo and hi and lo.get("median") and hi.get("median"):
                flat = "%.2f" % (hi["median"] / lo["median"])
            rows.append([RT_NAME.get(rt, rt), any_f["label"], base_lbl] + cells + [flat])
        L.append(md_table(["runtime", "method", "baseline"] + ["N=%s" % "{:,}".format(n) for n in ns]
                          + ["flat"], rows))
        L.append("")
    # accept, function by function
    acc = res.get("accept_instructions")
    if acc and not acc.get("error"):
        import profile_ops
        L.append("## Accept: where the library's instructions go (callgrind)")
        L.append("")
        L.append("Self cost per accept of each function inside `usocket_accept`, the difference of two drains "
                 "(`%s`)." % acc["command"])
        L.append("")
        for block in profile_ops.accept_markdown(acc)[1:]:
            L.append(block)
            L.append("")
    # profile
    prof = res.get("profile")
    if prof:
        L.append("## Profile: system calls and instructions per operation")
        L.append("")
        if prof.get("error"):
            L.append("Profiling failed: %s" % prof["error"])
        for block in prof.get("markdown", []):
            L.append(block)
            L.append("")
    # failures
    bad = [f for f in res["figures"] if f["status"] != "ok" or f.get("failures")]
    if bad:
        L.append("## Rows that did not run cleanly")
        L.append("")
        L.append("*failed* rows of a measured implementation make `bench/run.sh` exit 2 (the test "
                 "stage fails); *failed (expected)* rows are documented limits of a baseline, run in a "
                 "child process so the report shows what happens; *unavailable* and *skipped* rows did "
                 "not run.")
        L.append("")
        for f in bad:
            st = f["status"]
            if f.get("expected_failure") and (st == "failed" or f.get("failures")):
                st = "failed (expected: %s)" % f["expected_failure"]
            L.append("- `%s` (%s): %s%s" % (f["id"], f["label"], st,
                                           ": " + (f.get("reason") or "") if f["status"] != "ok" else
                                           " with %d failed run(s): %s" % (len(f["failures"]),
                                                                           f["failures"][0][:200])))
        L.append("")
    L.append("Commands: see `command` of each figure in results.json; rerun with `bench/run.sh` "
             "(or `bench/run.sh QUICK=1`).")
    L.append("")
    return "\n".join(L)


LISP_ROWS = [
    ("TCP round trip 1 B", "rtt/1/%s/%s", "µs"),
    ("TCP round trip 64 B", "rtt/64/%s/%s", "µs"),
    ("bulk receive", "bulk/%s/%s", "GB/s"),
    ("UDP round trip 64 B", "udp/64/%s/%s", "µs"),
] + [("wait-for-input, %s, N = %s" % (how, "{:,}".format(n)), "wait/%d/%%s/%%s-%s" % (n, m), "µs")
     for m, how in (("list", "list"), ("waitlist", "wait list")) for n in (10, 100, 1000, 10000)] + [
    ("accept drain", "accept/%s/%s", "conn/s"),
]


def lisp_cell(f):
    if f is None:
        return "–"
    if f["status"] != "ok":
        st = f["status"] + (" (expected)" if f.get("expected_failure") and f["status"] == "failed" else "")
        return "%s: %s" % (st, (f.get("reason") or "").splitlines()[0][:70] if f.get("reason") else "")
    c = "**%s** [%s–%s]" % (fnum(f["median"]), fnum(f["min"]), fnum(f["max"]))
    uns = (f.get("extra") or {}).get("unsupported")
    if uns:
        c += " ¹"
    return c


def lisp_implementations(res):
    """One table per Lisp: usocket-cffi against native usocket 0.8.3 on the
    same implementation, row by row, with the ratio and what it means."""
    F = {f["id"]: f for f in res["figures"]}
    present = [rt for rt in LISPS if any(f["runtime"] == rt for f in res["figures"])]
    if not present:
        return []
    L = ["## The Lisp binding on each implementation", "",
         "usocket-cffi (through `usocket-cffi/compat`, the package USOCKET) against Debian's native "
         "usocket 0.8.3 on the same Lisp, by the same script (`bindings/lisp/bench/bench-lisp.lisp`) in "
         "separate processes, alternating. Values: median [min–max] of the process runs; *ratio* is the "
         "binding's median over usocket's in the row's unit (times: below 1 the binding is faster; rates: "
         "above 1). On SBCL the peers are forks of the image; on ECL and CLISP they are "
         "`bench/build/bench_peer` processes (raw C, the same for both sides).", ""]
    notes = []
    paired_col = False
    for rt in present:
        runs = sorted({f["n_runs"] for f in res["figures"] if f["runtime"] == rt and f["status"] == "ok"})
        L.append("### %s" % RT_NAME.get(rt, rt))
        L.append("")
        rows = []
        for name, fmt, unit in LISP_ROWS:
            b, u = F.get(fmt % (rt, "binding")), F.get(fmt % (rt, "usocket"))
            if b is None and u is None:
                continue
            ratio, verdict = "–", ""
            if b and u and b.get("median") and u.get("median") and b["status"] == "ok" and u["status"] == "ok":
                r = b["median"] / u["median"]
                ratio = fratio(r)
                faster = r < 1 if unit == "µs" else r > 1
                k = 1 / r if unit == "µs" else r
                k = k if faster else 1 / k
                verdict = "same" if k < 1.01 else "%.2f× %s" % (k, "faster" if faster else "slower")
            pf = F.get(fmt.split("%s")[0] + rt + "/paired") if fmt.count("%s") == 2 and "wait" not in fmt else None
            if pf and pf.get("median") is not None and pf["status"] == "ok":
                paired_col = True
                verdict += " (paired: %s)" % fratio(pf["median"])
            for f in (b, u):
                uns = f and (f.get("extra") or {}).get("unsupported")
                if uns and uns not in notes:
                    notes.append(uns)
            rows.append([name, unit, lisp_cell(u), lisp_cell(b), ratio, verdict])
        L.append(md_table(["measure", "unit", "usocket 0.8.3", "usocket-cffi", "ratio", "binding"], rows))
        L.append("")
        L.append("Process runs a figure: %s." % ", ".join(str(n) for n in runs) if runs else "No figure.")
        L.append("")
    if paired_col:
        L.append("*paired*: the same ratio measured inside one image, the two implementations loaded "
                 "together and alternating block by block on two connections to identical peers "
                 "(full runs; round trips only), so machine load hits both alike.")
        L.append("")
    if notes:
        L.append("¹ native usocket said it does not support an argument the script passes, and the "
                 "script went on without it (usocket's CONTINUE restart): %s" % "; ".join(notes))
        L.append("")
    return L


def write_all(res, outdir):
    files = charts(res, outdir)
    with open(os.path.join(outdir, "report.md"), "w") as fh:
        fh.write(markdown(res, files))
    return files


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "results", "results.json")
    with open(path) as fh:
        res = json.load(fh)
    write_all(res, os.path.dirname(os.path.abspath(path)))
    print("wrote", os.path.dirname(path))
