"""Which evaluator is loaded: the compiled one when built, the twin when forced or missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import policy_core
from tests.policy_impl import COMPILED_AVAILABLE


def _implementation_in_subprocess(**env: str) -> str:
    code = "import policy_core; print(policy_core.IMPLEMENTATION)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
        cwd=Path(__file__).resolve().parents[2],
    )
    return result.stdout.strip()


def test_vectra_pure_python_forces_the_twin():
    assert _implementation_in_subprocess(VECTRA_PURE_PYTHON="1") == "python"


def test_the_compiled_evaluator_is_loaded_when_built():
    expected = "cython" if COMPILED_AVAILABLE and os.environ.get("VECTRA_PURE_PYTHON") != "1" else "python"
    assert expected == policy_core.IMPLEMENTATION


def test_public_api_is_listed():
    for name in (
        "compile_policy",
        "parse_policy",
        "load_document",
        "policy_to_document",
        "PolicyError",
        "RiskScorer",
        "RiskConfig",
        "AgentHistory",
        "TrustConfig",
        "update_trust",
        "hitl_threshold",
        "QUARANTINE_FLOOR",
        "PolicyRequest",
        "prepare_request",
        "Decision",
        "IMPLEMENTATION",
    ):
        assert name in policy_core.__all__
        assert hasattr(policy_core, name)
