"""The compiled evaluator's enums mirror the codes the compiler emits; a drift would silently misroute fields."""

from __future__ import annotations

import re
from pathlib import Path

from policy_core import compile as compile_module
from policy_core import fields, operators

PYX = Path(fields.__file__).with_name("_evaluator_c.pyx").read_text()


def _pyx_codes(prefix: str) -> dict[str, int]:
    return {name: int(value) for name, value in re.findall(rf"^\s+({prefix}\w+) = (\d+)$", PYX, re.MULTILINE)}


def _python_codes(module: object, prefix: str) -> dict[str, int]:
    return {name: value for name, value in vars(module).items() if name.startswith(prefix) and isinstance(value, int)}


def test_field_codes_of_the_compiled_evaluator_match_the_compiler() -> None:
    assert _pyx_codes("F_") == _python_codes(fields, "F_")


def test_operator_codes_of_the_compiled_evaluator_match_the_compiler() -> None:
    assert _pyx_codes("OP_") == _python_codes(operators, "OP_")


def test_literal_kinds_of_the_compiled_evaluator_match_the_compiler() -> None:
    assert _pyx_codes("LIT_") == _python_codes(compile_module, "LIT_")
