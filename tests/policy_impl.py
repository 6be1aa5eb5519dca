"""The ``impl`` fixture: every policy-core test runs against the compiled evaluator and its pure-Python twin.

Use it with ``from tests.policy_impl import impl  # noqa: F401`` in a test module.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

import policy_core
from policy_core import _evaluator_py

COMPILED_AVAILABLE = importlib.util.find_spec("policy_core._evaluator_c") is not None


@dataclass(frozen=True)
class Implementation:
    """One evaluator: ``name`` (``"cython"``/``"python"``) and its module."""

    name: str
    module: ModuleType

    def compile(self, document: Mapping | policy_core.Policy) -> policy_core.CompiledPolicy:
        return policy_core.compile_policy(document, implementation=self.name)

    def decide(self, document: Mapping, request: Any) -> policy_core.Decision:
        return self.compile(document).evaluate(request)

    def request(self, **parts: Any) -> Any:
        return self.module.PolicyRequest.from_parts(
            parts.pop("method", None), parts.pop("url", None), **parts
        )


def implementations() -> list[Any]:
    params = [pytest.param(Implementation("python", _evaluator_py), id="python")]
    if COMPILED_AVAILABLE:
        from policy_core import _evaluator_c

        params.insert(0, pytest.param(Implementation("cython", _evaluator_c), id="cython"))
    else:
        params.insert(
            0, pytest.param(None, id="cython", marks=pytest.mark.skip(reason="extension not built"))
        )
    return params


@pytest.fixture(params=implementations())
def impl(request: pytest.FixtureRequest) -> Implementation:
    return request.param
