"""Name resolution, constants, the library loader and packaging."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

import usocket

from conftest import PACKAGE_ROOT, REPO_ROOT, run_python


def test_get_host_by_name_literals_and_localhost():
    assert usocket.get_host_by_name("127.0.0.1") == "127.0.0.1"
    assert usocket.get_hosts_by_name("127.0.0.1") == ["127.0.0.1"]
    assert usocket.get_hosts_by_name("::1") == ["::1"]
    hosts = usocket.get_hosts_by_name("localhost")
    assert hosts and set(hosts) <= {"127.0.0.1", "::1"}
    assert usocket.get_host_by_name("localhost") == hosts[0]
    assert usocket.get_random_host_by_name("localhost") in hosts


def test_resolve_bad_input():
    with pytest.raises(TypeError):
        usocket.get_host_by_name(None)
    with pytest.raises(TypeError):
        usocket.get_hosts_by_name(42)


def test_constants_and_info():
    assert usocket.WILDCARD_HOST == "0.0.0.0"
    assert usocket.AUTO_PORT == 0
    assert usocket.MAX_DATAGRAM_PACKET_SIZE == 65507
    major, minor, patch = (int(x) for x in usocket.core_version().split("."))
    assert major >= 0 and minor >= 0 and patch >= 0
    assert os.path.exists(usocket.library_path)
    assert isinstance(usocket.open_handles(), int)
    assert usocket.Socket is usocket.Usocket
    for name in usocket.__all__:
        assert hasattr(usocket, name), name


def test_listen_on_the_wildcard_host():
    for host in (None, "", usocket.WILDCARD_HOST):
        with usocket.socket_listen(host, usocket.AUTO_PORT) as ls:
            assert ls.local_address == "0.0.0.0"
            with usocket.socket_connect("127.0.0.1", ls.local_port) as c, ls.accept():
                assert c.peer_port == ls.local_port


ISOLATED_RESOLVER = r"""
import json, usocket
out = {}
for name in ("no-such-host.invalid", "unknown.example.invalid"):
    try:
        usocket.get_host_by_name(name)
        out[name] = "resolved?!"
    except usocket.SocketError as e:
        out[name] = [type(e).__name__, e.condition, isinstance(e, usocket.NsError), str(e)]
try:
    usocket.socket_connect("no-such-host.invalid", 80)
    out["connect"] = "connected?!"
except usocket.NsHostNotFoundError as e:
    out["connect"] = ["NsHostNotFoundError", e.code]
import socket
try:
    usocket.get_hosts_by_name("nowhere.invalid")
except socket.gaierror as e:
    out["gaierror"] = True
out["localhost"] = usocket.get_hosts_by_name("localhost")
print(json.dumps(out))
"""


def _unshare_available():
    return shutil.which("unshare") and shutil.which("ip") and os.geteuid() == 0


@pytest.mark.skipif(not _unshare_available(), reason="needs unshare, ip and root")
def test_unknown_host_in_an_isolated_network(tmp_path):
    """Unknown names, resolved with no network and /etc/hosts only (never the real resolver)."""
    nss = tmp_path / "nsswitch.conf"
    nss.write_text("hosts: files\n")
    script = tmp_path / "resolve.py"
    script.write_text(ISOLATED_RESOLVER)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PACKAGE_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [
        "unshare", "-n", "-m", "sh", "-c",
        f"mount --bind {nss} /etc/nsswitch.conf && ip link set lo up && exec {sys.executable} {script}",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    if r.returncode != 0 and ("Operation not permitted" in r.stderr or "unshare failed" in r.stderr):
        pytest.skip(f"cannot unshare here: {r.stderr.strip()}")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    for name in ("no-such-host.invalid", "unknown.example.invalid"):
        cls, condition, is_ns, message = out[name]
        assert cls == "NsHostNotFoundError" and condition == "ns-host-not-found-error" and is_ns
        assert name in message
    assert out["connect"] == ["NsHostNotFoundError", -25]
    assert out["gaierror"] is True
    assert "127.0.0.1" in out["localhost"]


# -- loading the library


def test_library_from_the_environment_variable():
    r = run_python(
        "import usocket; print(usocket.library_path)",
        env={"USOCKET_LIBRARY": usocket.library_path},
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == usocket.library_path


def test_bad_environment_variable_is_a_clear_import_error():
    r = run_python("import usocket", env={"USOCKET_LIBRARY": "/nonexistent/libusocket.so"})
    assert r.returncode != 0
    assert "ImportError" in r.stderr and "USOCKET_LIBRARY" in r.stderr and "/nonexistent/libusocket.so" in r.stderr


def test_import_error_lists_what_was_tried(tmp_path):
    """A copy of the package with no library anywhere near it."""
    pkg = tmp_path / "usocket"
    shutil.copytree(PACKAGE_ROOT / "usocket", pkg, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    code = textwrap.dedent(
        """
        import ctypes.util, sys
        ctypes.util.find_library = lambda name: None
        sys.path.insert(0, %r)
        import usocket
        """
        % str(tmp_path)
    )
    env = dict(os.environ)
    env.pop("USOCKET_LIBRARY", None)
    env["LD_LIBRARY_PATH"] = ""
    r = subprocess.run(
        [sys.executable, "-c", code + "print(usocket.library_path)"],
        capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path,
    )
    if r.returncode == 0:
        pytest.skip(f"a system-wide libusocket is installed: {r.stdout.strip()}")
    err = r.stderr
    assert "ImportError" in err and "cannot find the core library" in err
    assert str(pkg / "libusocket.so") in err
    assert "target/release/libusocket.so" in err
    assert "USOCKET_LIBRARY" in err and "cargo build --release" in err


def test_library_inside_the_package_comes_before_the_repository(tmp_path):
    pkg = tmp_path / "usocket"
    shutil.copytree(PACKAGE_ROOT / "usocket", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(usocket.library_path, pkg / "libusocket.so")
    env = dict(os.environ)
    env.pop("USOCKET_LIBRARY", None)
    r = subprocess.run(
        [sys.executable, "-c", "import usocket; print(usocket.library_path)"],
        capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(pkg / "libusocket.so")


def test_every_ctypes_function_has_argtypes_and_restype():
    from usocket import _ffi

    for name, (restype, argtypes) in _ffi.DECLARATIONS.items():
        fn = getattr(_ffi.lib, name)
        if not _ffi.lib.has(name):
            continue
        assert fn.restype is restype, name
        assert list(fn.argtypes) == list(argtypes), name
    for name, fn in _ffi.raw.items():
        assert fn.restype is _ffi.DECLARATIONS[name][0], name


def _can_build_offline():
    check = "import setuptools, wheel, sys; sys.exit(int(setuptools.__version__.split('.')[0]) < 61)"
    return subprocess.run([sys.executable, "-c", check], capture_output=True).returncode == 0


@pytest.mark.skipif(
    not _can_build_offline(),
    reason="setuptools >= 61 and wheel are needed to build the wheel offline",
)
def test_wheel_ships_the_library(tmp_path):
    """`pip wheel` (as `pip install` does) puts the built library inside the package."""
    src = tmp_path / "src"
    shutil.copytree(PACKAGE_ROOT, src, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info", ".pytest_cache", "*.so"))
    env = dict(os.environ, USOCKET_LIBRARY=usocket.library_path)
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(src)],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    import zipfile

    wheels = list((tmp_path / "dist").glob("usocket-*.whl"))
    assert len(wheels) == 1
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert "usocket/libusocket.so" in names and "usocket/py.typed" in names
    assert "usocket/__init__.py" in names


def test_repo_layout():
    assert (REPO_ROOT / "include" / "usocket.h").exists()
    assert (PACKAGE_ROOT / "usocket" / "py.typed").exists()


def test_library_search_order(tmp_path):
    """The documented order, each step shown by the file the process mapped:
    $USOCKET_LIBRARY, then libusocket.so inside the package, then the
    repository's target/release, then the system's library path."""
    repo = tmp_path / "repo"
    pkg = repo / "bindings" / "python" / "usocket"
    shutil.copytree(PACKAGE_ROOT / "usocket", pkg, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    copies = {
        "env": tmp_path / "env" / "libusocket.so",
        "package": pkg / "libusocket.so",
        "repository": repo / "target" / "release" / "libusocket.so",
        "system": tmp_path / "system" / "libusocket.so",
    }
    for path in copies.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(usocket.library_path, path)
    code = textwrap.dedent(
        """
        import sys
        sys.path.insert(0, %r)
        import usocket
        mapped = {line.split()[-1] for line in open("/proc/self/maps") if line.rstrip().endswith("libusocket.so")}
        assert len(mapped) == 1, mapped
        print(mapped.pop())
        """
        % str(pkg.parent)
    )

    def loaded(with_env):
        env = dict(os.environ)
        env.pop("USOCKET_LIBRARY", None)
        if with_env:
            env["USOCKET_LIBRARY"] = str(copies["env"])
        env["LD_LIBRARY_PATH"] = str(copies["system"].parent)
        r = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path
        )
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    assert loaded(True) == str(copies["env"])  # 1. the environment variable wins over everything
    assert loaded(False) == str(copies["package"])  # 2. inside the package
    copies["package"].unlink()
    assert loaded(False) == str(copies["repository"])  # 3. the repository's build output
    copies["repository"].unlink()
    got = loaded(False)  # 4. the system's library path (here LD_LIBRARY_PATH)
    if got != str(copies["system"]):
        pytest.skip(f"a system-wide libusocket came first: {got}")
    assert got == str(copies["system"])


@pytest.mark.skipif(not _unshare_available(), reason="needs unshare, ip and root")
def test_get_host_by_name_prefers_the_first_ipv4_address(tmp_path):
    """usocket 0.8.9's rule (the core's usocket_host_by_name): the first IPv4
    address, else the first IPv6, whatever order the resolver gives; with
    /etc/hosts only, in a private network namespace."""
    nss = tmp_path / "nsswitch.conf"
    nss.write_text("hosts: files\n")
    hosts = tmp_path / "hosts"
    hosts.write_text("::1 dual.test six.test\n127.0.0.1 dual.test\n127.0.0.1 localhost\n")
    script = tmp_path / "rule.py"
    script.write_text(
        "import json, usocket\n"
        "print(json.dumps({n: [usocket.get_host_by_name(n), sorted(usocket.get_hosts_by_name(n))]"
        " for n in ('dual.test', 'six.test')}))\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PACKAGE_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [
        "unshare", "-n", "-m", "sh", "-c",
        f"mount --bind {nss} /etc/nsswitch.conf && mount --bind {hosts} /etc/hosts && ip link set lo up"
        f" && exec {sys.executable} {script}",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    if r.returncode != 0 and ("Operation not permitted" in r.stderr or "unshare failed" in r.stderr):
        pytest.skip(f"cannot unshare here: {r.stderr.strip()}")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["dual.test"] == ["127.0.0.1", ["127.0.0.1", "::1"]]
    assert out["six.test"] == ["::1", ["::1"]]
