"""Picks the evaluator at import: the compiled ``_evaluator_c`` when it is built, else the pure-Python twin.

``VECTRA_PURE_PYTHON=1`` forces the twin. :data:`IMPLEMENTATION` says which one is loaded.
"""

from __future__ import annotations

from types import ModuleType

from . import _evaluator_py
from ._twins import load

__all__ = ["IMPLEMENTATION", "Evaluator", "PolicyRequest", "prepare_request", "select"]

_impl, IMPLEMENTATION = load("_evaluator_c", _evaluator_py)

Evaluator = _impl.Evaluator
PolicyRequest = _impl.PolicyRequest
prepare_request = _impl.prepare_request


def select(name: str | None) -> tuple[ModuleType, str]:
    """The evaluator module called ``name`` (``"cython"``/``"python"``), or the one loaded when ``None``."""
    if name is None or name == IMPLEMENTATION:
        return _impl, IMPLEMENTATION
    if name == "python":
        return _evaluator_py, "python"
    if name == "cython":
        from . import _evaluator_c  # ImportError when it is not built

        return _evaluator_c, "cython"
    raise ValueError(f"unknown implementation {name!r}")
