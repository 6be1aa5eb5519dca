"""Starting the daemon: a TOML file with its precedence, and settings or paths it can't use (one line, exit 2)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import grpc
import httpx
import jwt
import pytest

from tests.e2e.daemon import ADMIN_TOKEN, JWT_SECRET, Daemon, free_port, wait_until

pytestmark = pytest.mark.e2e


def _environment(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECTRA_") or k == "VECTRA_PURE_PYTHON"}
    env.update(variables)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vectra", "serve", *args], env=env, capture_output=True,
                          text=True, timeout=60)


def test_a_toml_file_configures_the_daemon_below_variables_and_flags(tmp_path: Path) -> None:
    rest_port, grpc_port, ignored_port = free_port(), free_port(), free_port()
    config = tmp_path / "vectra.toml"
    config.write_text(
        f'[vectra]\nrest_port = {ignored_port}\ngrpc_port = {ignored_port}\njwt_issuer = "issuer-from-toml"\n'
        f'data_dir = "{tmp_path / "ignored"}"\n'
    )
    env = _environment(VECTRA_REST_PORT=str(rest_port), VECTRA_ADMIN_TOKEN=ADMIN_TOKEN,
                       VECTRA_JWT_SECRET=JWT_SECRET, VECTRA_DATA_DIR=str(tmp_path / "ignored-too"))
    process = subprocess.Popen(
        [sys.executable, "-m", "vectra", "serve", "--config", str(config), "--grpc-port", str(grpc_port),
         "--data-dir", str(tmp_path / "data")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{rest_port}"
        wait_until(lambda: httpx.get(f"{url}/health", timeout=1).status_code == 200, timeout=30)
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        created = httpx.post(f"{url}/agents", headers=admin, json={"name": "toml", "ownerId": "team"}).json()
        token = httpx.post(f"{url}/tokens", json={"agentId": created["id"], "clientSecret": created["clientSecret"]})
        claims = jwt.decode(token.json()["token"], options={"verify_signature": False})
        assert claims["iss"] == "issuer-from-toml"  # from the file: nothing else names it
        assert (tmp_path / "data" / "vectra.db").exists()  # the flag beat the variable and the file
        assert not (tmp_path / "ignored").exists() and not (tmp_path / "ignored-too").exists()
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:  # the flag beat the file
            grpc.channel_ready_future(channel).result(timeout=5)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr.decode()


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('rest_port = "abc"', "rest_port must be a whole number"),
        ("rest_port = true", "rest_port must be a whole number, not a boolean"),
        ("surprise = 1", "unknown settings ['surprise']"),
    ],
)
def test_a_badly_typed_toml_value_stops_the_daemon_with_exit_2(tmp_path: Path, toml: str, message: str) -> None:
    config = tmp_path / "vectra.toml"
    config.write_text(toml + "\n")
    done = _run(["--config", str(config)], _environment(VECTRA_DATA_DIR=str(tmp_path / "data")))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("vectra: configuration error: ") and message in lines[0]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("source", ["flag", "variable"])
def test_a_badly_typed_port_from_a_flag_or_variable_stops_the_daemon_with_exit_2(tmp_path: Path, source: str) -> None:
    args = ["--rest-port", "http"] if source == "flag" else []
    env = _environment(VECTRA_DATA_DIR=str(tmp_path / "data"))
    if source == "variable":
        env["VECTRA_REST_PORT"] = "http"
    done = _run(args, env)
    assert done.returncode == 2
    assert done.stderr.startswith("vectra: configuration error: rest_port must be a whole number")


def _unusable_paths(tmp_path: Path) -> dict[str, list[str]]:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    (tmp_path / "a-directory").mkdir()
    return {
        "data dir is a file": ["--data-dir", str(a_file)],
        "data dir below a file": ["--data-dir", str(a_file / "data")],
        "database is a directory": ["--data-dir", str(tmp_path / "data"),
                                    "--database-url", f"sqlite:///{tmp_path / 'a-directory'}"],
    }


def _assert_cannot_start(done: subprocess.CompletedProcess[str], reason: str) -> None:
    """Exit 2, every line JSON, and the last error says why in one line."""
    assert done.returncode == 2, done.stderr
    entries = [json.loads(line) for line in done.stderr.splitlines()]
    errors = [e for e in entries if e["level"] == "error"]
    assert errors and errors[-1]["message"].startswith("cannot start: ") and reason in errors[-1]["message"]
    assert not any("exception" in e for e in entries)


@pytest.mark.parametrize(
    ("case", "reason"),
    [("data dir is a file", "is not a directory"), ("data dir below a file", "is not a directory"),
     ("database is a directory", "can't open the database")],
)
def test_an_unusable_data_path_is_one_json_line_and_exit_2(tmp_path: Path, case: str, reason: str) -> None:
    args = _unusable_paths(tmp_path)[case]
    done = _run([*args, "--rest-port", str(free_port()), "--grpc-port", str(free_port())], _environment())
    _assert_cannot_start(done, reason)


@pytest.mark.parametrize("taken", ["--rest-port", "--grpc-port"])
def test_a_port_another_daemon_serves_is_a_json_error_and_exit_2(
    tmp_path: Path, make_daemon: Callable[..., Daemon], taken: str,
) -> None:
    """Not shared: gRPC's default SO_REUSEPORT would let a second daemon bind the first one's port and take
    some of its connections."""
    running = make_daemon()
    ports = {"--rest-port": str(free_port()), "--grpc-port": str(free_port())}
    ports[taken] = str(running.rest_port if taken == "--rest-port" else running.grpc_port)
    done = _run(["--data-dir", str(tmp_path / "second"), *[x for pair in ports.items() for x in pair]],
                _environment())
    _assert_cannot_start(done, "port " + ports[taken])


@pytest.mark.parametrize("taken", ["--rest-port", "--grpc-port"])
def test_a_port_in_use_is_a_json_error_and_exit_2(tmp_path: Path, taken: str) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        ports = {"--rest-port": str(free_port()), "--grpc-port": str(free_port())}
        ports[taken] = str(holder.getsockname()[1])
        done = _run(["--data-dir", str(tmp_path / "data"), *[x for pair in ports.items() for x in pair]],
                    _environment())
    _assert_cannot_start(done, "port " + ports[taken])
