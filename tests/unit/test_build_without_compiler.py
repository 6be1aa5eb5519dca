"""Installing without a C compiler still works: the build warns and the pure-Python twins serve."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _without_pure_python() -> dict[str, str]:
    """The environment less VECTRA_PURE_PYTHON, which would skip the build (and the extension) altogether."""
    return {k: v for k, v in os.environ.items() if k != "VECTRA_PURE_PYTHON"}


def test_build_without_a_compiler_succeeds_and_says_the_twins_will_serve(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--build-lib", str(tmp_path / "lib"),
         "--build-temp", str(tmp_path / "tmp")],
        cwd=ROOT, capture_output=True, text=True, env={**_without_pure_python(), "CC": "false"}, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "could not be built" in result.stderr
    assert "pure-Python twins" in result.stderr
    assert not list((tmp_path / "lib").rglob("*.so"))


def test_a_package_without_the_extension_loads_the_twin(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "policy_core", tmp_path / "policy_core", ignore=shutil.ignore_patterns("*.so", "*.c"))
    # The development install is editable: its import hook would find the built extension in the checkout.
    code = (
        "import sys; sys.meta_path[:] = [f for f in sys.meta_path if not f.__module__.startswith('__editable__')]; "
        "import policy_core; print(policy_core.IMPLEMENTATION, policy_core.__file__)"
    )
    env = _without_pure_python()
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[0] == "python"
    assert out[1].startswith(str(tmp_path))
