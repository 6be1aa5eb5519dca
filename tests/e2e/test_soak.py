"""The soak of ``make soak`` (``benchmarks/soak.py``), run short: its checks hold after a few seconds of load too,
and the script stays in working order between soaks."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

_SOAK = Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"


def test_a_short_soak_loses_and_miscounts_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("soak", _SOAK)
    assert spec is not None and spec.loader is not None
    soak = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = soak  # its dataclasses look their module up there
    spec.loader.exec_module(soak)

    code = soak.main(["--duration", "8", "--concurrency", "8", "--agents", "6", "--seed", "7",
                      "--register-every", "2", "--policy-every", "2"])

    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "every check passed" in printed
    figures = re.search(r"(\d+) agents.*proxied calls answered\s+(\d+).*reviews approved/denied (\d+) / (\d+); "
                        r"policy versions (\d+)", printed, re.S)
    assert figures is not None, printed
    agents, served, approved, denied, versions = map(int, figures.groups())
    # the run did each thing its checks are about: calls, both decisions, registrations and policy puts meanwhile
    assert served > 0 and approved > 0 and denied > 0, printed
    assert agents > 6 and versions > 2, printed  # set-up puts two policies and registers six agents
