"""The ctypes declarations agree with include/usocket.h.

Parses the generated header and fails when one of its functions has no
declaration in usocket._ffi, when a declaration's argument or return types
disagree with the header's, when a struct's layout differs, when a raw
(argtypes-free) call site passes something the header's type cannot take,
or when the binding's constants differ from the header's #defines.
"""

from __future__ import annotations

import ctypes
import os
import re
from pathlib import Path

import pytest

import usocket
from usocket import _ffi, errors

from conftest import REPO_ROOT

HEADER = Path(os.environ.get("USOCKET_HEADER", REPO_ROOT / "include" / "usocket.h"))

SCALARS = {
    "int32_t": ctypes.c_int32,
    "uint32_t": ctypes.c_uint32,
    "int64_t": ctypes.c_int64,
    "uint64_t": ctypes.c_uint64,
    "uint16_t": ctypes.c_uint16,
    "int16_t": ctypes.c_int16,
    "uint8_t": ctypes.c_uint8,
    "int8_t": ctypes.c_int8,
    "size_t": ctypes.c_size_t,
    "bool": ctypes.c_bool,
    "char": ctypes.c_char,
    "int": ctypes.c_int,
}


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return text


class Header:
    def __init__(self, text: str) -> None:
        self.raw = text
        code = strip_comments(text)
        self.defines = {}
        for m in re.finditer(r"^\s*#define\s+(USOCKET_\w+)\s+(.+?)\s*$", code, flags=re.M):
            self.defines[m.group(1)] = m.group(2)
        code = re.sub(r"^\s*#.*$", " ", code, flags=re.M)
        code = code.replace('extern "C" {', " ")
        self.typedefs = {}
        self.structs = {}
        for m in re.finditer(r"typedef\s+struct\s+(\w+)\s*\{(.*?)\}\s*(\w+)\s*;", code, flags=re.S):
            self.structs[m.group(3)] = self.parse_fields(m.group(2))
            self.structs[m.group(1)] = self.structs[m.group(3)]
        code = re.sub(r"typedef\s+struct\s+\w+\s*\{.*?\}\s*\w+\s*;", " ", code, flags=re.S)
        for m in re.finditer(r"struct\s+(\w+)\s*\{(.*?)\}\s*;", code, flags=re.S):
            self.structs[m.group(1)] = self.parse_fields(m.group(2))
        code = re.sub(r"struct\s+\w+\s*\{.*?\}\s*;", " ", code, flags=re.S)
        self.callbacks = {}
        for m in re.finditer(r"typedef\s+([\w\s\*]+?)\s*\(\s*\*\s*(\w+)\s*\)\s*\((.*?)\)\s*;", code, flags=re.S):
            self.callbacks[m.group(2)] = (m.group(1).strip(), self.split_params(m.group(3)))
        code = re.sub(r"typedef\s+[\w\s\*]+?\(\s*\*\s*\w+\s*\)\s*\(.*?\)\s*;", " ", code, flags=re.S)
        for m in re.finditer(r"typedef\s+([\w\s\*]+?)\s+(\w+)\s*;", code):
            self.typedefs[m.group(2)] = m.group(1).strip()
        code = re.sub(r"typedef\s+[^;]*;", " ", code)
        self.functions = {}
        for stmt in code.split(";"):
            stmt = " ".join(stmt.split()).strip().strip("}").strip()
            m = re.match(r"^(.*?)\b(usocket_\w+)\s*\((.*)\)$", stmt, flags=re.S)
            if m:
                self.functions[m.group(2)] = (m.group(1).strip(), self.split_params(m.group(3)))

    @staticmethod
    def parse_fields(body: str):
        fields = []
        for decl in body.split(";"):
            decl = " ".join(decl.split())
            if not decl:
                continue
            m = re.match(r"^(.*?)(\w+)\s*(?:\[(\d+)\])?$", decl)
            assert m, decl
            fields.append((m.group(2), m.group(1).strip(), int(m.group(3)) if m.group(3) else None))
        return fields

    @staticmethod
    def split_params(params: str):
        params = " ".join(params.split())
        if params in ("", "void"):
            return []
        out = []
        for p in params.split(","):
            p = p.strip()
            # drop the parameter name: the last identifier when something precedes it
            m = re.match(r"^(.*?[\w\*\s])\s*\b(\w+)$", p)
            if m and m.group(1).strip() not in ("", "const", "struct") and not m.group(1).strip().endswith("struct"):
                out.append(m.group(1).strip())
            else:
                out.append(p)
        return out


@pytest.fixture(scope="module")
def header() -> Header:
    assert HEADER.exists(), f"{HEADER} is missing: build the core (cargo build --release)"
    return Header(HEADER.read_text())


def normalize(ctype: str):
    """A C type -> (base name, pointer depth, const)."""
    t = ctype.replace("*", " * ")
    words = t.split()
    const = "const" in words
    depth = words.count("*")
    base = [w for w in words if w not in ("const", "struct", "*", "enum")]
    assert len(base) == 1, f"cannot read the C type {ctype!r}"
    return base[0], depth, const


def expected_ctypes(header: Header, ctype: str):
    """The set of ctypes types a declaration may use for this C type."""
    base, depth, const = normalize(ctype)
    while base in header.typedefs and base not in SCALARS:
        b2, d2, _ = normalize(header.typedefs[base])
        base, depth = b2, depth + d2
    if depth == 0:
        if base == "void":
            return {None}
        if base in SCALARS:
            return {SCALARS[base]}
        if base in _ffi.CALLBACKS:
            return {_ffi.CALLBACKS[base]}
        if base in _ffi.STRUCTS:
            return {_ffi.STRUCTS[base]}
        raise AssertionError(f"unknown C type {ctype!r}")
    if depth == 1:
        if base == "char":
            return {ctypes.c_char_p, ctypes.POINTER(ctypes.c_char)} if not const else {ctypes.c_char_p}
        if base == "void":
            return {ctypes.c_void_p}
        if base in SCALARS:
            return {ctypes.POINTER(SCALARS[base])}
        if base in _ffi.STRUCTS:
            return {ctypes.POINTER(_ffi.STRUCTS[base])}
        raise AssertionError(f"unknown C pointer type {ctype!r}")
    raise AssertionError(f"unexpected C type {ctype!r}")


def test_header_parses(header):
    assert len(header.functions) >= 30, sorted(header.functions)
    assert "usocket_read" in header.functions
    assert "usocket_address" in header.structs


def test_every_header_function_is_declared(header):
    missing = sorted(set(header.functions) - set(_ffi.DECLARATIONS))
    assert not missing, f"header functions without a ctypes declaration in usocket._ffi: {missing}"


def test_declared_functions_are_exported(header):
    lib = _ffi.lib
    not_exported = [name for name in header.functions if not lib.has(name)]
    assert not not_exported, f"header functions the loaded library does not export: {not_exported}"


def test_declarations_beyond_the_header_are_known(header):
    # The binding may declare functions of C-API.md before they reach the
    # header (the socket server); nothing else.
    extra = sorted(set(_ffi.DECLARATIONS) - set(header.functions))
    # the Unix-domain calls of C-API.md 0.2, fixed there, may reach the header later
    pending = {
        "usocket_connect_local", "usocket_listen_local", "usocket_local_path", "usocket_peer_path",
        "usocket_peer_credentials", "usocket_send_local", "usocket_receive_local", "usocket_server_new_local",
    }
    unknown = [n for n in extra if not n.startswith("usocket_server_") and n not in pending]
    assert not unknown, f"declared in usocket._ffi but not in the header: {unknown}"


@pytest.mark.parametrize("name", sorted(_ffi.DECLARATIONS))
def test_declaration_matches_header(header, name):
    if name not in header.functions:
        pytest.skip(f"{name} is not in the header yet")
    ret, params = header.functions[name]
    restype, argtypes = _ffi.DECLARATIONS[name]
    assert restype in expected_ctypes(header, ret), f"{name}: restype {restype} vs header {ret!r}"
    assert len(argtypes) == len(params), f"{name}: {len(argtypes)} argtypes vs header {params}"
    for i, (have, want) in enumerate(zip(argtypes, params)):
        assert have in expected_ctypes(header, want), f"{name} argument {i}: {have} vs header {want!r}"
    fn = getattr(_ffi.lib, name)
    if _ffi.lib.has(name):
        assert fn.restype is restype and list(fn.argtypes) == list(argtypes)


@pytest.mark.parametrize("name", sorted(_ffi.RAW_CONVENTIONS))
def test_raw_call_sites_match_header(header, name):
    if name not in header.functions:
        pytest.skip(f"{name} is not in the header yet")
    ret, params = header.functions[name]
    conv = _ffi.RAW_CONVENTIONS[name]
    assert len(conv) == len(params), f"{name}: raw convention {conv} vs header {params}"
    ints = {ctypes.c_int32, ctypes.c_int64, ctypes.c_size_t, ctypes.c_uint16, ctypes.c_uint64}
    for kind, c in zip(conv, params):
        allowed = expected_ctypes(header, c)
        if kind == "handle":
            assert normalize(c)[0] == "usocket_t", f"{name}: {c!r} is not a handle"
        elif kind in ("ptr",):
            assert normalize(c)[1] == 1, f"{name}: {c!r} is not a pointer"
        elif kind == "char_p":
            assert ctypes.c_char_p in allowed, f"{name}: {c!r} is not const char *"
        elif kind == "int31":
            assert allowed & ints and normalize(c)[1] == 0, f"{name}: {c!r} is not an integer"
            t = next(iter(allowed))
            # wider than int: libffi sign-extends the C int; uint16_t: a port,
            # range-checked (0..65535) by usocket._socket.port_arg first
            assert ctypes.sizeof(t) >= ctypes.sizeof(ctypes.c_int) or t is ctypes.c_uint16, (name, c)
        else:
            raise AssertionError(kind)
    # the raw function object returns what the header says
    assert _ffi.raw[name].restype in expected_ctypes(header, ret)


@pytest.mark.parametrize("cb", sorted(_ffi.CALLBACKS))
def test_callback_types_match_header(header, cb):
    if cb not in header.callbacks:
        pytest.skip(f"{cb} is not in the header yet")
    ret, params = header.callbacks[cb]
    proto = _ffi.CALLBACKS[cb]
    assert proto._restype_ in expected_ctypes(header, ret)
    assert len(proto._argtypes_) == len(params)
    for have, want in zip(proto._argtypes_, params):
        assert have in expected_ctypes(header, want), f"{cb}: {have} vs {want!r}"


@pytest.mark.parametrize("struct", sorted(_ffi.STRUCTS))
def test_struct_layout_matches_header(header, struct):
    if struct not in header.structs:
        pytest.skip(f"{struct} is not in the header yet")
    fields = header.structs[struct]
    cls = _ffi.STRUCTS[struct]
    assert [f[0] for f in cls._fields_] == [f[0] for f in fields], struct
    for (fname, ftype), (_hname, htype, count) in zip(cls._fields_, fields):
        if count is not None:
            assert issubclass(ftype, ctypes.Array) and ftype._length_ == count, (struct, fname)
            assert ftype._type_ in expected_ctypes(header, htype), (struct, fname)
        else:
            assert ftype in expected_ctypes(header, htype), (struct, fname, ftype, htype)


def define_int(header, name):
    v = header.defines[name].strip()
    m = re.fullmatch(r"\((\d+)\s*<<\s*(\d+)\)", v)
    if m:
        return int(m.group(1)) << int(m.group(2))
    return int(v.strip("()"))


def test_error_codes_match_header(header):
    codes = {k: define_int(header, k) for k in header.defines if k.startswith("USOCKET_ERR_")}
    assert codes, "no USOCKET_ERR_ codes in the header"
    for name, code in codes.items():
        cls = errors.exception_class(code)
        assert cls.code == code, name
        assert cls.condition == _ffi.error_name(code), (name, cls.condition)
        # the class is one of the predefined ones, not made up on the fly
        assert cls.__name__ in errors.__all__, f"{name} ({code}) has no predefined exception class"


def test_constants_match_header(header):
    assert usocket.MAX_DATAGRAM_PACKET_SIZE == define_int(header, "USOCKET_MAX_DATAGRAM_PACKET_SIZE")
    from usocket import _socket

    assert _socket.STREAM == define_int(header, "USOCKET_STREAM")
    assert _socket.DATAGRAM == define_int(header, "USOCKET_DATAGRAM")
    names = {
        "receive_timeout": "USOCKET_OPT_RECEIVE_TIMEOUT",
        "send_timeout": "USOCKET_OPT_SEND_TIMEOUT",
        "tcp_nodelay": "USOCKET_OPT_TCP_NODELAY",
        "reuse_address": "USOCKET_OPT_REUSE_ADDRESS",
        "keepalive": "USOCKET_OPT_KEEPALIVE",
        "broadcast": "USOCKET_OPT_BROADCAST",
        "receive_buffer": "USOCKET_OPT_RECEIVE_BUFFER",
        "send_buffer": "USOCKET_OPT_SEND_BUFFER",
    }
    for py, c in names.items():
        assert _socket._OPTIONS[py][0] == define_int(header, c), py
    assert _socket._KIND_STREAM == define_int(header, "USOCKET_KIND_STREAM")
    assert _socket._KIND_STREAM_SERVER == define_int(header, "USOCKET_KIND_STREAM_SERVER")
    assert _socket._KIND_DATAGRAM == define_int(header, "USOCKET_KIND_DATAGRAM")


def test_parser_catches_a_mismatch(header):
    """The checker itself: a wrong declaration is caught."""
    ret, params = header.functions["usocket_read"]
    assert ctypes.c_int64 not in expected_ctypes(header, params[2])
    assert ctypes.POINTER(ctypes.c_int32) not in expected_ctypes(header, params[3])
    assert ctypes.c_uint32 not in expected_ctypes(header, params[0])
