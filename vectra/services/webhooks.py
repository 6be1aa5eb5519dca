"""HITL events sent to the operator's webhook: signed, retried, and never in the caller's way.

``publish`` serialises the event and queues it; one background task, started on the first publish, delivers the
queue in order with its own httpx client. Each attempt is signed afresh (Stripe's scheme: ``Vectra-Signature:
t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``) and bounded by ``timeout`` in all; a 2xx is
success, anything else is retried after ``backoff * 2**attempt`` seconds (±20% jitter) until ``max_attempts``.
Deliveries wait behind the one being tried, so a dead receiver delays the ones after it, and past ``max_queued``
new ones are dropped. Every delivery ends counted in ``delivered`` or ``failed``. docs/webhooks.md has the body
and how a receiver checks the signature.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from vectra import __version__
from vectra.config import Settings
from vectra.domain.audit import record_time

__all__ = ["Webhooks", "sign", "verify_signature"]

log = logging.getLogger("vectra.webhooks")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Vectra-Signature`` value for ``body`` sent at ``timestamp`` (Unix seconds): ``t=<timestamp>,v1=<hex>``."""
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def verify_signature(secret: str, header: str, body: bytes, *, tolerance_seconds: int = 300,
                     now: float | None = None) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` at a time within ``tolerance_seconds`` of ``now``.

    Any one of several ``v1=`` values may match (a receiver may list signatures for more than one secret). A
    malformed header is false, never an error.
    """
    fields = [item.partition("=") for item in header.split(",")]
    stamps = [value.strip() for key, _, value in fields if key.strip() == "t"]
    signatures = [value.strip().encode(errors="replace") for key, _, value in fields if key.strip() == "v1"]
    if len(stamps) != 1 or not _TIMESTAMP.fullmatch(stamps[0]) or not signatures:
        return False
    timestamp = int(stamps[0])
    if abs((time.time() if now is None else now) - timestamp) > tolerance_seconds:
        return False
    expected = _digest(secret, timestamp, body).encode()
    return any(hmac.compare_digest(expected, signature) for signature in signatures)


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class _Delivery:
    id: str
    event: str
    body: bytes


class Webhooks:
    """The daemon's webhook sender; ``delivered`` and ``failed`` count deliveries (not attempts) since start."""

    def __init__(self, url: str | None, secret: str | None, *, timeout: float = 5.0, max_attempts: int = 5,
                 backoff: float = 1.0, max_queued: int = 10_000) -> None:
        if url and not secret:
            raise ValueError("a webhook URL needs a secret to sign its deliveries")
        self._url = url or ""
        self._secret = secret or ""
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._queue: asyncio.Queue[_Delivery] = asyncio.Queue(maxsize=max_queued)
        self._worker: asyncio.Task[None] | None = None
        self._unfinished = 0  # queued or being tried
        self._closed = False
        self.delivered = 0
        self.failed = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> Webhooks:
        """The sender configured by ``webhook_*`` settings (one that sends nothing when no URL is set)."""
        return cls(settings.webhook_url, settings.webhook_secret, timeout=settings.webhook_timeout_seconds,
                   max_attempts=settings.webhook_max_attempts, backoff=settings.webhook_backoff_seconds)

    def publish(self, event: str, data: Mapping[str, Any]) -> None:
        """Queue one delivery and return at once; never raises, never waits (no-op when no URL is configured).
        Called from the event loop."""
        if not self._url:
            return
        delivery_id = str(uuid.uuid4())
        if self._closed:
            self._drop(event, delivery_id, "webhooks are closed")
            return
        try:
            loop = asyncio.get_running_loop()
            created = record_time(datetime.now(UTC))  # the audit records' own format
            body = json.dumps({"id": delivery_id, "type": event, "createdAt": created, "data": dict(data)},
                              separators=(",", ":"), allow_nan=False).encode()
            self._queue.put_nowait(_Delivery(delivery_id, event, body))
        except asyncio.QueueFull:
            self._drop(event, delivery_id, f"{self._queue.maxsize} deliveries already queued")
            return
        except (RuntimeError, TypeError, ValueError) as exc:  # no running loop; data that isn't JSON
            self._drop(event, delivery_id, _describe(exc))
            return
        self._unfinished += 1
        if self._worker is None:
            self._worker = loop.create_task(self._run(), name="vectra-webhooks")

    async def close(self, grace: float = 5.0) -> None:
        """Stop: try to deliver what is queued for at most `grace` seconds, then drop the rest (logged)."""
        self._closed = True
        worker, self._worker = self._worker, None
        if worker is None:
            return
        try:
            async with asyncio.timeout(grace):
                await self._queue.join()
        except TimeoutError:
            pass
        worker.cancel()
        await asyncio.wait([worker])
        if self._unfinished:
            self.failed += self._unfinished
            log.error("webhooks closed with %d deliveries undelivered, dropped", self._unfinished,
                      extra={"dropped": self._unfinished})
            self._unfinished = 0

    def _drop(self, event: str, delivery_id: str, reason: str) -> None:
        self.failed += 1
        log.error("webhook delivery dropped: %s", reason, extra={"webhook_event": event, "delivery_id": delivery_id})

    async def _run(self) -> None:
        async with httpx.AsyncClient(trust_env=False, timeout=self._timeout, follow_redirects=False) as client:
            while True:
                delivery = await self._queue.get()
                await self._deliver(client, delivery)
                self._unfinished -= 1
                self._queue.task_done()

    async def _deliver(self, client: httpx.AsyncClient, delivery: _Delivery) -> None:
        error = ""
        for attempt in range(self._max_attempts):
            if attempt:
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1) * random.uniform(0.8, 1.2))
            error = await self._attempt(client, delivery)
            if not error:
                self.delivered += 1
                return
        self.failed += 1
        log.error("webhook delivery failed after %d attempts: %s", self._max_attempts, error,
                  extra={"webhook_event": delivery.event, "delivery_id": delivery.id,
                         "attempts": self._max_attempts, "error": error})

    async def _attempt(self, client: httpx.AsyncClient, delivery: _Delivery) -> str:
        """One POST: an empty string when the receiver took it (2xx), else what went wrong."""
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"Vectra-Webhooks/{__version__}",
            "Vectra-Event": delivery.event,
            "Vectra-Delivery": delivery.id,
            "Vectra-Signature": sign(self._secret, int(time.time()), delivery.body),
        }
        try:
            # the client's timeout bounds each phase; this bounds the whole attempt (a receiver dripping bytes)
            async with asyncio.timeout(self._timeout):
                response = await client.post(self._url, content=delivery.body, headers=headers)
        except Exception as exc:  # whatever failed, the attempt did; the next may not
            return _describe(exc)
        return "" if response.is_success else f"HTTP {response.status_code}"


def _describe(exc: BaseException) -> str:
    """The exception's type and message, for a log line (httpx's and asyncio's timeouts have no message)."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
