"""One source for constants: usocket/_constants.py is what gen_constants.py
makes of include/usocket.h, and the binding spells no status code, errno or
option number of its own."""

from __future__ import annotations

import importlib.util
import io
import os
import re
import tokenize
from pathlib import Path

import pytest

import usocket
from usocket import _constants as C

from conftest import PACKAGE_ROOT, REPO_ROOT

HEADER = Path(os.environ.get("USOCKET_HEADER", REPO_ROOT / "include" / "usocket.h"))


def generator():
    spec = importlib.util.spec_from_file_location("gen_constants", PACKAGE_ROOT / "gen_constants.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_committed_constants_are_what_the_header_gives():
    gen = generator()
    want = gen.generate(HEADER)
    have = (PACKAGE_ROOT / "usocket" / "_constants.py").read_text(encoding="utf-8")
    assert have == want, (
        "usocket/_constants.py differs from what include/usocket.h gives: "
        "run `python3 bindings/python/gen_constants.py` and commit the result"
    )


def test_the_generator_reads_every_integer_define():
    text = HEADER.read_text(encoding="utf-8")
    names = set(re.findall(r"^#define[ \t]+(USOCKET_\w+)[ \t]+\S", text, flags=re.M))
    assert names == set(C.ALL)
    assert C.USOCKET_WAIT_MAX == 1 << 20
    for name in (
        "USOCKET_INTERRUPT_SLICE_MS",
        "USOCKET_MAX_TIMEOUT_MS",
        "USOCKET_DEFAULT_BACKLOG",
        "USOCKET_SERVER_DEFAULT_BACKLOG",
        "USOCKET_SERVER_DEFAULT_TIMEOUT_MS",
        "USOCKET_LOCAL_PATH_MAX",
        "USOCKET_FAMILY_LOCAL",
        "USOCKET_FAMILY_IPV4",
        "USOCKET_FAMILY_IPV6",
    ):
        assert name in C.ALL, f"{name} is not in the header"


def test_the_generator_catches_a_changed_header(tmp_path):
    gen = generator()
    text = HEADER.read_text(encoding="utf-8")
    changed = tmp_path / "usocket.h"
    changed.write_text(text.replace("#define USOCKET_INTERRUPT_SLICE_MS 50", "#define USOCKET_INTERRUPT_SLICE_MS 51"))
    assert gen.generate(changed) != gen.generate(HEADER)
    assert "USOCKET_INTERRUPT_SLICE_MS = 51" in gen.generate(changed)


def test_public_constants_come_from_the_header():
    assert usocket.SLICE_MS == C.USOCKET_INTERRUPT_SLICE_MS
    assert usocket.MAX_DATAGRAM_PACKET_SIZE == C.USOCKET_MAX_DATAGRAM_PACKET_SIZE
    assert usocket.LOCAL_PATH_MAX == C.USOCKET_LOCAL_PATH_MAX
    for cls in usocket.errors.condition_classes().values():
        if cls.code:
            assert cls.code in C.ALL.values()


def _sources():
    for path in sorted((PACKAGE_ROOT / "usocket").glob("*.py")):
        if path.name != "_constants.py":
            yield path


@pytest.mark.parametrize("path", list(_sources()), ids=lambda p: p.name)
def test_no_bare_status_or_errno_literals(path):
    """No negative number but -1 (a timeout's "forever", fileno's "closed"),
    -1 never where a status code goes, and no errno number or E* name
    compared by hand except through Python's errno module."""
    text = path.read_text(encoding="utf-8")
    toks = [t for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type not in (tokenize.NL, tokenize.COMMENT)]
    bad = []
    for i in range(1, len(toks)):
        t = toks[i]
        if t.type == tokenize.NUMBER and toks[i - 1].string == "-" and toks[i - 2].type == tokenize.OP:
            if t.string != "1":
                bad.append(f"line {t.start[0]}: -{t.string}")
            else:
                # -1 as the status argument of an exception or compared with a status
                before = "".join(x.string for x in toks[max(0, i - 4) : i - 1])
                if before.endswith("None,") or before.endswith("rc==") or before.endswith("rc!="):
                    bad.append(f"line {t.start[0]}: -1 as a status code")
    for m in re.finditer(r"\.errno\s*[=!]=\s*\d+|\berrno\s*[=!]=\s*\d+", text):
        bad.append(f"errno compared with a number: {m.group(0)!r}")
    assert not bad, f"{path.name}: use usocket._constants (generated from the header): {bad}"
