"""One process, one event loop: REST (Connexion on uvicorn) and gRPC (grpc.aio) side by side."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator

import uvicorn
from grpc_health.v1 import health_pb2

from vectra.config import Settings
from vectra.grpc.server import create_grpc_server
from vectra.rest.app import create_app
from vectra.services.context import ServiceContext
from vectra.services.health import check_health
from vectra.services.keyring import load_admin_token, load_keyring
from vectra.store import SqliteStore

__all__ = ["build_context", "serve"]

log = logging.getLogger("vectra.server")
_HEALTH_INTERVAL = 2.0


def build_context(settings: Settings) -> ServiceContext:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(settings.database_path)
    keyring = load_keyring(settings.data_dir, settings.jwt_secret, settings.jwt_previous_secrets)
    admin_token = load_admin_token(settings.data_dir, settings.admin_token)
    return ServiceContext(settings=settings, store=store, keyring=keyring, admin_token=admin_token)


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon stops both servers itself."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(settings: Settings) -> None:
    ctx = build_context(settings)
    await ctx.audit.start()
    rest = _Uvicorn(
        uvicorn.Config(
            create_app(ctx),
            host=settings.host,
            port=settings.rest_port,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
            server_header=False,
        )
    )
    grpc_server, grpc_health, grpc_port = create_grpc_server(ctx, f"{settings.host}:{settings.grpc_port}")
    await grpc_server.start()

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)

    async def watch_health() -> None:
        while True:
            status = health_pb2.HealthCheckResponse.SERVING if check_health(ctx).healthy \
                else health_pb2.HealthCheckResponse.NOT_SERVING
            await grpc_health.set("", status)
            for name in ("vectra.v1.AgentService", "vectra.v1.TokenService", "vectra.v1.AuditService"):
                await grpc_health.set(name, status)
            await asyncio.sleep(_HEALTH_INTERVAL)

    async def stop_on_signal() -> None:
        await stopping.wait()
        log.info("stopping: draining in-flight requests")
        rest.should_exit = True
        await grpc_server.stop(settings.shutdown_grace_seconds)

    health_task = asyncio.create_task(watch_health())
    stop_task = asyncio.create_task(stop_on_signal())
    log.info("grpc listening", extra={"address": f"{settings.host}:{grpc_port}"})
    try:
        await rest.serve()
    finally:
        stopping.set()
        await stop_task
        health_task.cancel()
        await ctx.audit.stop()
        ctx.store.close()
        log.info("stopped")
