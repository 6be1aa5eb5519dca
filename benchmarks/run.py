"""``make bench``: every benchmark of the project, one after the other, each printing its own ratios.

Run: ``.venv/bin/python benchmarks/run.py [--quick]``. A benchmark is a ``bench_*.py`` module beside this file
with a ``main()`` that parses ``sys.argv`` and returns an exit code.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failed = 0
    for path in sorted(HERE.glob("bench_*.py")):
        print(f"\n=== {path.stem} ===", flush=True)
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        failed |= int(module.main() or 0)
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
