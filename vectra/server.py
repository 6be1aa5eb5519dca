"""One process, one event loop: REST (Connexion on uvicorn) and gRPC (grpc.aio) side by side."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import resource
import signal
import sys
from collections.abc import Iterator

import uvicorn
from grpc_health.v1 import health_pb2

from vectra.config import Settings
from vectra.domain.errors import Unavailable
from vectra.forward.client import POOL_SIZE
from vectra.grpc.server import create_grpc_server
from vectra.rest.app import create_app
from vectra.rest.protocol import limited_http_protocol
from vectra.services.context import ServiceContext
from vectra.services.health import check_health
from vectra.services.hitl import sweep_expired
from vectra.services.keyring import load_admin_token, load_data_key, load_keyring
from vectra.services.policies import PolicyFileError, load_policies_dir
from vectra.services.refusals import http_refusal
from vectra.store import SqliteStore
from vectra.store.cipher import FieldCipher, digest_key

__all__ = ["StartupError", "build_context", "serve"]

log = logging.getLogger("vectra.server")
_HEALTH_INTERVAL = 2.0
_OWN_DESCRIPTORS = 64  # the database, logs, the event loops' own, the webhook client
_GC_YOUNG_THRESHOLD = 20_000  # allocations between young collections (CPython's default: 700)
_SERVICE_NAMES = (
    "vectra.v1.AgentService", "vectra.v1.TokenService", "vectra.v1.PolicyService", "vectra.v1.AuditService",
    "vectra.v1.ProxyService", "vectra.v1.HitlService",
)


class StartupError(Exception):
    """The daemon can't start with these settings on this machine (the message says why, in one line)."""


def build_context(settings: Settings) -> ServiceContext:
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        hitl_key = load_data_key(settings.data_dir, settings.hitl_key)
        store = SqliteStore(settings.database_path, FieldCipher(hitl_key), settings.database_synchronous)
        keyring = load_keyring(settings.data_dir, settings.jwt_secret, settings.jwt_previous_secrets)
        admin_token = load_admin_token(settings.data_dir, settings.admin_token)
    except (FileExistsError, NotADirectoryError) as exc:
        raise StartupError(f"data directory {settings.data_dir} is not a directory") from exc
    except OSError as exc:
        raise StartupError(f"data directory {settings.data_dir}: {exc.strerror or exc}") from exc
    except Unavailable as exc:
        raise StartupError(exc.detail) from exc
    except (ValueError, RuntimeError) as exc:  # a damaged key file, a database newer than this Vectra
        raise StartupError(str(exc)) from exc
    return ServiceContext(settings=settings, store=store, keyring=keyring, admin_token=admin_token,
                          digest_key=digest_key(hitl_key))


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon stops both servers itself."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _connections_per_port(settings: Settings) -> int:
    """How many connections each port keeps open at most: ``VECTRA_MAX_CONNECTIONS``, else what the process's
    descriptor limit leaves once the upstream pool and the daemon's own files are set aside, split between REST
    and gRPC. Running out of descriptors would make accepting fail, and uvloop then retries at once, in a loop."""
    if settings.max_connections is not None:
        return settings.max_connections
    soft = _raised_descriptor_limit()
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    budget = (soft - POOL_SIZE - _OWN_DESCRIPTORS) // 2
    if budget < 16:
        log.warning("the descriptor limit leaves too few for clients; raise ulimit -n",
                    extra={"limit": soft, "needed": POOL_SIZE + _OWN_DESCRIPTORS + 32})
    return max(16, budget)


def _raised_descriptor_limit() -> int:
    """The soft descriptor limit, first raised to the hard one (as Go's runtime does): the default soft limit of
    1,024 is far below what a gateway's connections need, and the hard one is the operator's real ceiling."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # not allowed here: keep the soft one
            pass
    return soft


def _settle_heap() -> None:
    """Move what start-up built (the spec, Connexion's routes, the generated protobuf modules) out of the cyclic
    garbage collector's sight, and let it run less often: every proxied call allocates dozens of short-lived
    objects, and with the defaults a collection every few calls walked all of start-up's objects again."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


async def load_policies(ctx: ServiceContext) -> None:
    """Put the policies of ``--policies-dir``. A bad file stops the daemon with one line naming the file and
    where in it the problem is (exit code 2, as for any other configuration error)."""
    directory = ctx.settings.policies_dir
    if directory is None:
        return
    try:
        outcomes = await load_policies_dir(ctx, directory)
    except PolicyFileError as exc:
        print(f"vectra: policies dir: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    log.info(
        "policies loaded",
        extra={"directory": str(directory), "policies": len(outcomes),
               "changed": [o.policy.name for o in outcomes if o.changed]},
    )


async def serve(settings: Settings) -> None:
    ctx = build_context(settings)
    try:
        try:
            await ctx.audit.start()  # first: loading the policies directory appends audit records
        except Unavailable as exc:
            raise StartupError(f"the audit log can't be read: {exc.detail}") from exc
        await load_policies(ctx)
        await _serve_both(ctx, settings)
    finally:
        await ctx.close_forwarder()  # after both servers drained: no call is still using it
        await ctx.refusals.flush()  # the counts of refusals still being coalesced
        await ctx.audit.stop()  # flushes what was accepted
        await ctx.webhooks.close(settings.shutdown_grace_seconds)
        ctx.store.close()
        log.info("stopped")


async def _serve_both(ctx: ServiceContext, settings: Settings) -> None:
    """REST and gRPC until a signal; both drain their in-flight calls before this returns."""
    max_connections = _connections_per_port(settings)
    rest = _Uvicorn(
        uvicorn.Config(
            create_app(ctx),
            host=settings.host,
            port=settings.rest_port,
            log_config=None,
            access_log=False,
            lifespan="off",
            http=limited_http_protocol(
                settings.request_head_timeout_seconds, settings.max_request_head_bytes, max_connections,
                lambda status, cause, peer, path: ctx.refusals.record_soon(http_refusal(status, cause, peer, path)),
            ),
            timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
            server_header=False,
            # the client address is the socket's: X-Forwarded-For is not believed, even from loopback
            proxy_headers=False,
        )
    )
    try:
        grpc_server, grpc_health, grpc_port = create_grpc_server(ctx, f"{settings.host}:{settings.grpc_port}",
                                                                 max_connections)
    except RuntimeError as exc:  # grpc: "Failed to bind to address ..."
        raise StartupError(f"gRPC port {settings.grpc_port}: {exc}") from exc
    await grpc_server.start()

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)

    async def watch_health() -> None:
        while True:
            await ctx.audit.probe()
            status = health_pb2.HealthCheckResponse.SERVING if check_health(ctx).healthy \
                else health_pb2.HealthCheckResponse.NOT_SERVING
            await grpc_health.set("", status)
            for name in _SERVICE_NAMES:
                await grpc_health.set(name, status)
            await asyncio.sleep(_HEALTH_INTERVAL)

    async def stop_on_signal() -> None:
        await stopping.wait()
        log.info("stopping: draining in-flight requests")
        rest.should_exit = True
        await grpc_server.stop(settings.shutdown_grace_seconds)

    _settle_heap()
    health_task = asyncio.create_task(watch_health())
    sweep_task = asyncio.create_task(sweep_expired(ctx), name="vectra-hitl-sweep")
    stop_task = asyncio.create_task(stop_on_signal())
    log.info("grpc listening", extra={"address": f"{settings.host}:{grpc_port}"})
    try:
        await rest.serve()
    except SystemExit as exc:  # uvicorn logs why it could not bind its port, then exits
        raise StartupError(f"REST port {settings.rest_port} can't be used") from exc
    finally:
        stopping.set()
        await stop_task
        for task in (health_task, sweep_task):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
