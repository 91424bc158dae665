#!/usr/bin/env python3
"""Puts the latest full benchmark run into the top-level README.

Reads docs/bench/report.md (written by `bench/run.sh --publish docs/bench`)
and replaces what stands between the README's markers
`<!-- bench:start -->` and `<!-- bench:end -->` with the report's date,
machine, targets table and links to the charts. `make bench` runs it after
a full run; a QUICK run leaves the README alone.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPORT = os.path.join(ROOT, "docs", "bench", "report.md")
README = os.path.join(ROOT, "README.md")
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def section(report: str) -> str:
    head = [line for line in report.splitlines()[:12] if line.startswith("- **")]
    keep = [line for line in head if line.startswith(("- **Date", "- **Machine", "- **Pinning", "- **Whole run"))]
    m = re.search(r"^## Targets\n(.*?)(?=^## )", report, flags=re.S | re.M)
    table = m.group(1).strip() if m else "(no targets table in the report)"
    charts = [n for n in ("roundtrip.svg", "throughput.svg", "server.svg", "wait.svg")
              if os.path.exists(os.path.join(ROOT, "docs", "bench", n))]
    out = ["Latest full run (`make bench`), from [docs/bench/report.md](docs/bench/report.md):", ""]
    out += keep + ["", table, ""]
    out += ["![%s](docs/bench/%s)" % (n[:-4], n) for n in charts]
    return "\n".join(out)


def main() -> int:
    if not os.path.exists(REPORT):
        print("update_readme: no %s; run `make bench` first" % os.path.relpath(REPORT, ROOT), file=sys.stderr)
        return 1
    with open(REPORT, encoding="utf-8") as f:
        report = f.read()
    with open(README, encoding="utf-8") as f:
        readme = f.read()
    if START not in readme or END not in readme:
        print("update_readme: README.md has no bench markers", file=sys.stderr)
        return 1
    before, rest = readme.split(START, 1)
    _, after = rest.split(END, 1)
    new = before + START + "\n" + section(report) + "\n" + END + after
    with open(README, "w", encoding="utf-8") as f:
        f.write(new)
    print("update_readme: README.md now shows the run of %s" % (re.search(r"\*\*Date:\*\* ([^\n]*)", report) or [None, "?"])[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
