"""--policies-dir / VECTRA_POLICIES_DIR: policy documents loaded at start, each put only when it changed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.daemon import JWT_SECRET, Daemon, free_port

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"


@pytest.fixture
def policies_dir(tmp_path: Path) -> Path:
    """The shipped examples, plus a JSON policy that names no policy (it is called like its file)."""
    directory = tmp_path / "policies"
    shutil.copytree(EXAMPLES, directory)
    (directory / "ops-readonly.json").write_text(json.dumps({
        "description": "Read-only operations agent",
        "owner": "team-ops",
        "rules": [{"name": "reads", "effect": "Allow",
                   "conditions": [{"field": "input.method", "operator": "in", "value": ["GET", "HEAD"]}]}],
    }))
    (directory / "README.txt").write_text("not a policy: ignored")
    return directory


def refused_start(data_dir: Path, policies: Path) -> subprocess.CompletedProcess[str]:
    """Run ``vectra serve`` expecting it to refuse to start; its exit code and output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECTRA_") or k == "VECTRA_PURE_PYTHON"}
    env.update({
        "VECTRA_DATA_DIR": str(data_dir),
        "VECTRA_POLICIES_DIR": str(policies),
        "VECTRA_REST_PORT": str(free_port()),
        "VECTRA_GRPC_PORT": str(free_port()),
        "VECTRA_JWT_SECRET": JWT_SECRET,
    })
    return subprocess.run([sys.executable, "-m", "vectra", "serve"], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def summaries(daemon: Daemon) -> dict[str, dict]:
    with daemon.admin() as admin:
        answer = admin.get("/policies")
        assert answer.status_code == 200
        return {item["name"]: item for item in answer.json()["items"]}


def test_policies_are_loaded_at_start_and_a_restart_adds_no_version(
    make_daemon: Callable[..., Daemon], policies_dir: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    first = make_daemon(data_dir, env={"VECTRA_POLICIES_DIR": str(policies_dir)})
    loaded = summaries(first)
    assert set(loaded) == {"billing-policy", "research-policy", "capability-policy", "mcp-tool-allowlist",
                           "mcp-approval-required", "ops-readonly"}
    assert all(item["version"] == 1 and item["updatedBy"] == "policies-dir" for item in loaded.values())
    billing = loaded["billing-policy"]
    assert (billing["description"], billing["owner"], billing["default"], billing["ruleCount"]) == (
        "Governs the billing agent", "team-finance", "Deny", 3)
    with first.admin() as admin:
        rules = admin.get("/policies/billing-policy").json()["rules"]
    block = next(rule for rule in rules if rule["name"] == "block-delete")
    assert (block["priority"], block["effect"]) == (100, "Deny")
    assert block["conditions"] == [{"field": "input.method", "operator": "eq", "value": "DELETE"}]
    assert first.stop() == 0

    second = make_daemon(data_dir, env={"VECTRA_POLICIES_DIR": str(policies_dir)})
    assert {name: item["version"] for name, item in summaries(second).items()} == dict.fromkeys(loaded, 1)
    with second.admin() as admin:
        records = admin.get("/audit", params={"pageSize": 100}).json()["items"]
    # the first start stored each policy, and says so; the restart stored nothing and records nothing
    assert sorted((r["action"], r["actor"], r["details"]["name"]) for r in records) == [
        ("policy.put", "policies-dir", name) for name in sorted(loaded)]
    assert second.stop() == 0

    document = json.loads((policies_dir / "ops-readonly.json").read_text())
    document["description"] = "Read-only operations agent, v2"
    (policies_dir / "ops-readonly.json").write_text(json.dumps(document))
    third = make_daemon(data_dir, env={"VECTRA_POLICIES_DIR": str(policies_dir)})
    after = summaries(third)
    assert (after["ops-readonly"]["version"], after["billing-policy"]["version"]) == (2, 1)
    with third.admin() as admin:
        assert admin.get("/policies/ops-readonly", params={"version": 1}).json()["description"] == (
            "Read-only operations agent")


def test_an_invalid_policy_file_stops_the_daemon_with_exit_2_naming_file_and_pointer(
    make_daemon: Callable[..., Daemon], policies_dir: Path, tmp_path: Path
) -> None:
    bad = policies_dir / "zz-broken.yaml"
    bad.write_text(
        "name: broken\nrules:\n  - name: r\n    effect: Allow\n"
        "    conditions:\n      - {field: input.method, operator: equals, value: GET}\n"
    )
    data_dir = tmp_path / "data"
    refused = refused_start(data_dir, policies_dir)
    assert refused.returncode == 2
    assert "Traceback" not in refused.stderr
    lines = [line for line in refused.stderr.splitlines() if str(bad) in line]
    assert lines == [f"vectra: policies dir: {bad}: rules[0].conditions[0].operator: unknown operator 'equals'"]

    # Nothing of the directory was stored: every file is checked before any is put.
    assert summaries(make_daemon(data_dir)) == {}


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("syntax.yaml", "rules: [unclosed", "syntax.yaml: invalid JSON or YAML"),
        ("Bad Name.json", '{"rules": []}', "Bad Name.json: name: must be letters, digits"),
        ("other.yaml", "name: billing-policy\nrules: []\n", "policy 'billing-policy' is also defined by"),
    ],
)
def test_other_bad_files_stop_the_daemon_too(policies_dir: Path, tmp_path: Path, name: str, text: str,
                                             expected: str) -> None:
    (policies_dir / name).write_text(text)
    refused = refused_start(tmp_path / "data", policies_dir)
    assert refused.returncode == 2
    assert expected in refused.stderr and "Traceback" not in refused.stderr


def test_a_missing_policies_dir_stops_the_daemon(tmp_path: Path) -> None:
    refused = refused_start(tmp_path / "data", tmp_path / "nowhere")
    assert refused.returncode == 2
    assert f"vectra: policies dir: {tmp_path / 'nowhere'}: not a directory" in refused.stderr
