"""Choosing, at import, between a compiled module and its pure-Python twin: the compiled one when it is built,
unless ``VECTRA_PURE_PYTHON=1`` forces the twin."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

__all__ = ["load"]


def load(compiled: str, twin: ModuleType) -> tuple[ModuleType, str]:
    """(the module, ``"cython"`` or ``"python"``) for the compiled module named ``compiled`` (relative to
    ``policy_core``) and its ``twin``."""
    if os.environ.get("VECTRA_PURE_PYTHON") != "1":
        try:
            return importlib.import_module(f"policy_core.{compiled}"), "cython"
        except ImportError:  # not built: the twin serves
            pass
    return twin, "python"
