"""Health: 200 Healthy with its database check; a broken database is 503 everywhere, and healthy again when repaired."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.e2e.daemon import Daemon, wait_until
from vectra.grpc.generated.vectra.v1 import agents_pb2, agents_pb2_grpc

pytestmark = pytest.mark.e2e

_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _grpc_health(daemon: Daemon) -> int:
    with daemon.channel() as channel:
        return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status


def test_health_is_200_healthy_with_a_database_check(daemon: Daemon) -> None:
    with daemon.client() as client:
        answer = client.get("/health")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "Healthy"
    assert body["checks"]["database"]["status"] == "Healthy"
    assert body["healthCheckDuration"].count(":") == 2
    assert _grpc_health(daemon) == _SERVING


def _break(database: Path) -> Path:
    """Put a directory where the database file was; the open connection alone would not notice."""
    moved = database.with_name("moved-away.db")
    database.rename(moved)
    database.mkdir()
    return moved


def _repair(database: Path, moved: Path) -> None:
    database.rmdir()
    moved.rename(database)


def test_a_broken_database_is_503_on_rest_unavailable_on_grpc_and_heals(
    make_daemon: Callable[..., Daemon],
) -> None:
    daemon = make_daemon()
    with daemon.admin() as admin:
        assert admin.post("/agents", json={"name": "before", "ownerId": "team"}).status_code == 201
        moved = _break(daemon.data_dir / "vectra.db")

        health = admin.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "Unhealthy"
        assert health.json()["checks"]["database"]["status"] == "Unhealthy"

        for method, path, body in [
            ("GET", "/agents", None),
            ("POST", "/agents", {"name": "during", "ownerId": "team"}),
            ("GET", "/agents/3fa85f64-5717-4562-b3fc-2c963f66afa6", None),
        ]:
            answer = admin.request(method, path, json=body)
            assert answer.status_code == 503, (method, path, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["status"] == 503

        with daemon.channel() as channel:
            stub = agents_pb2_grpc.AgentServiceStub(channel)
            with pytest.raises(grpc.RpcError) as refused:
                stub.ListAgents(agents_pb2.ListAgentsRequest(),
                                metadata=[("authorization", f"Bearer {daemon.admin_token}")], timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        wait_until(lambda: _grpc_health(daemon) == _NOT_SERVING)

        _repair(daemon.data_dir / "vectra.db", moved)
        wait_until(lambda: admin.get("/health").status_code == 200)  # at the next write probe (every 2 s)
        names = [a["name"] for a in admin.get("/agents").json()["items"]]
        assert names == ["before"]  # nothing was written while it was broken, nothing was lost
        wait_until(lambda: _grpc_health(daemon) == _SERVING)
