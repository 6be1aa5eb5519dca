"""Build the Cython half of policy_core.

Every ``policy_core/_*_c.pyx`` is compiled. When no C compiler is available the build
does not fail: the pure-Python twins serve instead, and the build says so.
"""

from __future__ import annotations

import glob
import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext


class _OptionalBuildExt(build_ext):
    """Compile the extensions if possible; fall back to the pure-Python twins if not."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler, missing headers: the twins still work
            self._warn(exc)

    def build_extension(self, ext) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._warn(exc)

    @staticmethod
    def _warn(exc: Exception) -> None:
        sys.stderr.write(
            f"\nWARNING: policy_core's compiled core could not be built ({exc}).\n"
            "Vectra will run on the pure-Python twins (policy_core.IMPLEMENTATION == 'python').\n\n"
        )


def _extensions() -> list:
    if os.environ.get("VECTRA_PURE_PYTHON") == "1":
        return []
    sources = sorted(glob.glob("policy_core/_*_c.pyx"))
    if not sources:
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        sys.stderr.write("WARNING: Cython is not installed; building without the compiled core.\n")
        return []
    return cythonize(
        sources,
        compiler_directives={"language_level": "3", "boundscheck": False, "wraparound": False},
        quiet=True,
    )


setup(ext_modules=_extensions(), cmdclass={"build_ext": _OptionalBuildExt})
