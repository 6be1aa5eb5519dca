"""The daemon as an operator meets it: start, stop, documentation, reflection, keys, bootstrap, migrations."""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import socket
import sqlite3
import stat
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import jwt
import yaml
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from tests.e2e.daemon import Daemon, run_vectra, wait_until
from vectra.rest.app import SPEC_PATH
from vectra.store.migrations import SCHEMA_VERSION

IN_FLIGHT = 16


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _connect(daemon: Daemon) -> socket.socket:
    """A connection the daemon has certainly accepted: one keep-alive request has been answered on it."""
    sock = socket.create_connection(("127.0.0.1", daemon.rest_port), timeout=30)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: vectra\r\n\r\n")
    answer = http.client.HTTPResponse(sock)
    answer.begin()
    answer.read()
    assert answer.status == 200
    return sock


def test_sigterm_drains_in_flight_requests_and_exits_0(make_daemon: Callable[..., Daemon]) -> None:
    own = make_daemon(env={"VECTRA_BCRYPT_ROUNDS": "10"})  # the default cost, so that each /tokens call takes a while
    agent = own.register_agent()
    body = json.dumps({"agentId": agent["id"], "clientSecret": agent["clientSecret"]}).encode()
    request = (b"POST /tokens HTTP/1.1\r\nHost: vectra\r\nContent-Type: application/json\r\nConnection: close\r\n"
               b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    connections = [_connect(own) for _ in range(IN_FLIGHT)]
    answers: list[tuple[float, int, bytes]] = []

    def read(sock: socket.socket) -> None:
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        answers.append((time.monotonic(), answer.status, answer.read()))

    for sock in connections:
        sock.sendall(request)  # each /tokens call checks a bcrypt hash off the loop: tens of milliseconds
    readers = [threading.Thread(target=read, args=(sock,)) for sock in connections]
    for reader in readers:
        reader.start()
    # Answered after the /tokens requests were sent on accepted connections, so the daemon has read them.
    assert httpx.get(f"{own.url}/health", timeout=10).status_code == 200
    assert own.process is not None
    signalled = time.monotonic()
    own.process.send_signal(signal.SIGTERM)

    assert own.process.wait(timeout=30) == 0
    for reader in readers:
        reader.join(timeout=30)
    assert len(answers) == IN_FLIGHT
    assert all(status == 200 and json.loads(data)["token"] for _, status, data in answers)
    assert any(at > signalled for at, _, _ in answers), "no request was still in flight at SIGTERM"
    for sock in connections:
        sock.close()


def test_the_vectra_console_script_serves(make_daemon: Callable[..., Daemon]) -> None:
    """``vectra serve`` (the fixtures use ``python -m vectra serve``)."""
    script = shutil.which("vectra", path=str(Path(sys.executable).parent))
    assert script
    own = make_daemon(command=[script, "serve"])

    assert own.register_agent()["name"] == "billing-agent"
    assert own.stop() == 0


def test_swagger_ui_and_the_raw_spec_are_served(daemon: Daemon) -> None:
    with daemon.client(follow_redirects=True) as client:
        ui = client.get("/open-api")
        raw = client.get("/open-api/vectra/specifications.json")

    assert ui.status_code == 200 and ui.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in ui.text.lower()
    assert raw.status_code == 200 and raw.headers["content-type"].startswith("application/json")
    served = raw.json()
    written = yaml.safe_load(SPEC_PATH.read_text())
    assert served["paths"].keys() == written["paths"].keys()
    assert served["info"]["version"] == written["info"]["version"]


def test_grpc_reflection_lists_the_services(daemon: Daemon) -> None:
    with daemon.channel() as channel:
        services = set(ProtoReflectionDescriptorDatabase(channel).get_services())

    assert {"vectra.v1.AgentService", "vectra.v1.TokenService", "grpc.health.v1.Health"} <= services


def test_key_rotation_keeps_old_tokens_valid(make_daemon: Callable[..., Daemon], tmp_path: Path) -> None:
    data_dir = tmp_path / "rotating"
    first = make_daemon(data_dir, env={"VECTRA_JWT_SECRET": ""})
    keys = data_dir / "jwt-keys.json"
    assert keys.exists() and _mode(keys) == 0o600
    agent = first.register_agent()
    old_token = first.token_for(agent)
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    assert first.stop() == 0

    rotated = run_vectra("rotate-key", "--data-dir", str(data_dir))

    assert rotated.returncode == 0, rotated.stderr
    new_kid = rotated.stdout.strip()
    assert new_kid and new_kid != old_kid and _mode(keys) == 0o600
    second = make_daemon(data_dir, env={"VECTRA_JWT_SECRET": ""})
    with second.client(old_token) as client:
        assert client.get(f"/agents/{agent['id']}").status_code == 200
    assert jwt.get_unverified_header(second.token_for(agent))["kid"] == new_kid


def test_a_signing_key_shorter_than_32_bytes_refuses_to_start(tmp_path: Path) -> None:
    refused = run_vectra("serve", VECTRA_JWT_SECRET="k" * 31, VECTRA_DATA_DIR=str(tmp_path / "data"))

    assert refused.returncode == 2
    assert "32 bytes" in refused.stderr and "Traceback" not in refused.stderr


def test_the_admin_token_is_generated_into_the_data_dir(make_daemon: Callable[..., Daemon], tmp_path: Path) -> None:
    data_dir = tmp_path / "bootstrap"
    own = make_daemon(data_dir, admin_token=None)
    path = data_dir / "admin-token"
    assert path.exists() and _mode(path) == 0o600

    printed = run_vectra("admin-token", "--data-dir", str(data_dir))

    assert printed.returncode == 0
    token = printed.stdout.strip()
    assert token == path.read_text().strip() and len(token) >= 32
    with own.client(token) as admin, own.client() as anonymous:
        assert admin.get("/agents").status_code == 200
        assert anonymous.get("/agents").status_code == 401


def test_the_database_is_migrated_to_the_schema_version(daemon: Daemon) -> None:
    with sqlite3.connect(daemon.data_dir / "vectra.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_database_from_a_newer_schema_refuses_to_start(tmp_path: Path) -> None:
    database = tmp_path / "newer.db"
    with sqlite3.connect(database) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")

    refused = run_vectra("serve", VECTRA_DATABASE_URL=f"sqlite:///{database}", VECTRA_DATA_DIR=str(tmp_path / "d"),
                         VECTRA_JWT_SECRET="k" * 32, VECTRA_REST_PORT="0", VECTRA_GRPC_PORT="0")

    assert refused.returncode != 0
    assert f"schema version {SCHEMA_VERSION + 1} is newer" in refused.stderr
    assert "Traceback" not in refused.stderr, "a refusal to start is one clear line, not a traceback"
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1


def test_stopping_twice_is_harmless(make_daemon: Callable[..., Daemon]) -> None:
    own = make_daemon()
    assert own.process is not None
    own.process.send_signal(signal.SIGTERM)
    own.process.send_signal(signal.SIGTERM)
    assert wait_until(lambda: own.process.poll() is not None, timeout=30)
    assert own.process.returncode == 0
