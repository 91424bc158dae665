"""Build step that puts the core library inside the package.

`pip install bindings/python` (from the repository, after
`cargo build --release`) copies ../../target/release/libusocket.so into the
wheel as usocket/libusocket.so, where the package loads it first (after the
USOCKET_LIBRARY environment variable). Set USOCKET_LIBRARY=/path/to/libusocket.so
at build time to ship another build; set USOCKET_NO_BUNDLE=1 to build a
wheel without the library (it then needs USOCKET_LIBRARY or a system-wide
libusocket at run time).
"""

import os
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = Path(__file__).resolve().parent
LIB_NAME = "libusocket.so"


def find_core_library():
    env = os.environ.get("USOCKET_LIBRARY")
    if env:
        return Path(env)
    for candidate in (
        HERE / "usocket" / LIB_NAME,  # already copied (sdist, or a previous build)
        HERE.parent.parent / "target" / "release" / LIB_NAME,  # the repository's build output
    ):
        if candidate.exists():
            return candidate
    return None


class BuildPyWithCore(build_py):
    def run(self):
        super().run()
        if os.environ.get("USOCKET_NO_BUNDLE"):
            return
        src = find_core_library()
        if src is None or not src.exists():
            raise SystemExit(
                "usocket: cannot find libusocket.so to put inside the package. Build the core "
                "first (`cargo build --release` at the repository root), or set USOCKET_LIBRARY "
                "to its path, or USOCKET_NO_BUNDLE=1 to build without it."
            )
        dest = Path(self.build_lib) / "usocket" / LIB_NAME
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.resolve() != dest.resolve():
            shutil.copyfile(src, dest)
            os.chmod(dest, 0o755)


class BinaryDistribution(Distribution):
    """The wheel holds a native library: tag it for this platform."""

    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildPyWithCore}, distclass=BinaryDistribution)
