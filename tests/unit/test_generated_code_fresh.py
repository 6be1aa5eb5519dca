"""The committed gRPC code is what ``make proto`` makes from proto/ today: a stale copy fails here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "vectra" / "grpc" / "generated"


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_generated_code_matches_the_proto_files(tmp_path: Path) -> None:
    fresh = tmp_path / "generated"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_proto.py"), str(fresh)], check=True, cwd=tmp_path)

    expected, committed = _files(fresh), _files(COMMITTED)
    assert sorted(committed) == sorted(expected), "generated files added or missing: run `make proto`"
    stale = [name for name in expected if committed[name] != expected[name]]
    assert not stale, f"stale generated code in {stale}: run `make proto` and commit the result"
