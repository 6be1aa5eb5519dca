"""Webhook deliveries to real local receivers: what arrives, how it is signed, retries, timeouts, shutdown."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from vectra.config import Settings
from vectra.services.webhooks import Webhooks, verify_signature

pytestmark = pytest.mark.anyio

SECRET = "whsec-0123456789abcdef"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes


class Receiver:
    """An HTTP receiver on a free port, served by this test's event loop. It records every request and answers with
    the next of ``statuses`` (the last one repeating; a 3xx points elsewhere), or, when ``hang``, not at all."""

    def __init__(self, *statuses: int, hang: bool = False) -> None:
        self.requests: list[Received] = []
        self.waiting = 0  # requests held open by a hanging receiver
        self._statuses = list(statuses or (200,))
        self._hang = hang
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/hook"

    async def start(self) -> Receiver:
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()
        return self

    async def stop(self) -> None:
        self._release.set()
        await self._runner.cleanup()

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(request.body) for request in self.requests]

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append(Received(request.path, {k.lower(): v for k, v in request.headers.items()},
                                      await request.read()))
        if self._hang:
            self.waiting += 1
            await self._release.wait()
            self.waiting -= 1
        status = self._statuses.pop(0) if len(self._statuses) > 1 else self._statuses[0]
        headers = {"Location": "/elsewhere"} if 300 <= status < 400 else None
        return web.Response(status=status, text="ok", headers=headers)


Receive = Callable[..., Awaitable[Receiver]]
Make = Callable[..., Webhooks]


@pytest.fixture
async def receive() -> AsyncIterator[Receive]:
    """Start receivers (``await receive(500, 200)``, ``await receive(hang=True)``); all stopped after the test."""
    started: list[Receiver] = []

    async def start(*statuses: int, hang: bool = False) -> Receiver:
        receiver = await Receiver(*statuses, hang=hang).start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        await receiver.stop()


@pytest.fixture
async def make_webhooks() -> AsyncIterator[Make]:
    """Senders with the secret and a tiny backoff unless told otherwise; closed without grace after the test."""
    made: list[Webhooks] = []

    def make(url: str | None, **options: Any) -> Webhooks:
        options.setdefault("backoff", 0.01)
        webhooks = Webhooks(url, SECRET if url else None, **options)
        made.append(webhooks)
        return webhooks

    yield make
    for webhooks in made:
        await webhooks.close(grace=0)


async def until(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def failures(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "vectra.webhooks" and r.levelno >= logging.WARNING]


async def test_a_published_event_arrives_once_with_its_id_type_time_and_data(receive: Receive,
                                                                             make_webhooks: Make) -> None:
    receiver = await receive()
    webhooks = make_webhooks(receiver.url)
    webhooks.publish("hitl.requested", {"hitlId": "h-1", "agentId": "a-1", "risk": 0.91})
    await until(lambda: webhooks.delivered == 1)
    await webhooks.close()

    [request] = receiver.requests
    body = json.loads(request.body)
    assert set(body) == {"id", "type", "createdAt", "data"}
    assert body["type"] == "hitl.requested"
    assert body["data"] == {"hitlId": "h-1", "agentId": "a-1", "risk": 0.91}
    assert str(uuid.UUID(body["id"])) == body["id"]
    assert body["createdAt"].endswith("Z")
    assert abs(datetime.fromisoformat(body["createdAt"]) - datetime.now(UTC)) < timedelta(minutes=1)
    assert request.headers["content-type"] == "application/json"
    assert request.headers["vectra-event"] == "hitl.requested"
    assert request.headers["vectra-delivery"] == body["id"]
    assert (webhooks.delivered, webhooks.failed) == (1, 0)


async def test_the_signature_verifies_with_the_secret_only_for_the_body_sent_and_only_while_fresh(
        receive: Receive, make_webhooks: Make) -> None:
    receiver = await receive()
    webhooks = make_webhooks(receiver.url)
    webhooks.publish("hitl.decided", {"hitlId": "h-1", "decision": "approved"})
    await until(lambda: webhooks.delivered == 1)

    [request] = receiver.requests
    header = request.headers["vectra-signature"]
    sent_at = int(header.split(",")[0].removeprefix("t="))
    assert verify_signature(SECRET, header, request.body)
    assert not verify_signature("whsec-another-secret-0000", header, request.body)
    assert not verify_signature(SECRET, header, request.body.replace(b"approved", b"rejected"))
    assert not verify_signature(SECRET, header, request.body, now=sent_at + 301)
    assert verify_signature(SECRET, header, request.body, now=sent_at + 299)


async def test_a_receiver_failing_twice_gets_a_third_attempt_of_the_same_delivery(receive: Receive,
                                                                                  make_webhooks: Make) -> None:
    receiver = await receive(500, 500, 200)
    webhooks = make_webhooks(receiver.url)
    webhooks.publish("hitl.requested", {"hitlId": "h-1"})
    await until(lambda: webhooks.delivered == 1)

    assert len(receiver.requests) == 3
    assert len({request.headers["vectra-delivery"] for request in receiver.requests}) == 1
    assert len({request.body for request in receiver.requests}) == 1
    assert all(verify_signature(SECRET, r.headers["vectra-signature"], r.body) for r in receiver.requests)
    assert (webhooks.delivered, webhooks.failed) == (1, 0)


async def test_a_receiver_that_always_fails_gets_max_attempts_then_the_failure_is_logged(
        receive: Receive, make_webhooks: Make, caplog: pytest.LogCaptureFixture) -> None:
    receiver = await receive(503)
    webhooks = make_webhooks(receiver.url, max_attempts=3)
    webhooks.publish("hitl.expired", {"hitlId": "h-1"})
    await until(lambda: webhooks.failed == 1)
    await webhooks.close()

    assert len(receiver.requests) == 3
    assert webhooks.delivered == 0
    [record] = failures(caplog)
    assert record.levelno == logging.ERROR
    delivery = receiver.bodies()[0]["id"]
    assert (record.webhook_event, record.delivery_id, record.attempts, record.error) == (  # type: ignore[attr-defined]
        "hitl.expired", delivery, 3, "HTTP 503")
    assert all(SECRET not in str(r.__dict__) for r in caplog.records)


async def test_settings_give_the_url_secret_attempts_and_backoff(receive: Receive) -> None:
    receiver = await receive(500)
    webhooks = Webhooks.from_settings(Settings(webhook_url=receiver.url, webhook_secret=SECRET,
                                               webhook_max_attempts=2, webhook_backoff_seconds=0.01))
    webhooks.publish("hitl.requested", {"hitlId": "h-1"})
    await until(lambda: webhooks.failed == 1)
    await webhooks.close()

    assert len(receiver.requests) == 2
    assert verify_signature(SECRET, receiver.requests[0].headers["vectra-signature"], receiver.requests[0].body)


async def test_a_redirect_is_a_failed_attempt_and_is_not_followed(receive: Receive, make_webhooks: Make) -> None:
    receiver = await receive(302)
    webhooks = make_webhooks(receiver.url, max_attempts=2)
    webhooks.publish("hitl.requested", {"hitlId": "h-1"})
    await until(lambda: webhooks.failed == 1)

    assert [request.path for request in receiver.requests] == ["/hook", "/hook"]


async def test_a_hanging_receiver_holds_up_neither_publish_nor_other_deliveries_and_times_out(
        receive: Receive, make_webhooks: Make, caplog: pytest.LogCaptureFixture) -> None:
    hanging, healthy = await receive(hang=True), await receive()
    stuck = make_webhooks(hanging.url, timeout=1.0, max_attempts=2)
    other = make_webhooks(healthy.url)

    stuck.publish("hitl.requested", {"hitlId": "h-1"})
    assert (stuck.delivered, stuck.failed) == (0, 0)  # publish returned without waiting for the receiver
    await until(lambda: hanging.waiting == 1)
    other.publish("hitl.requested", {"hitlId": "h-2"})
    await until(lambda: other.delivered == 1)
    assert healthy.bodies()[0]["data"] == {"hitlId": "h-2"}

    await until(lambda: stuck.failed == 1)
    assert len(hanging.requests) == 2
    [record] = failures(caplog)
    assert "Timeout" in record.error  # type: ignore[attr-defined]


async def test_without_a_url_publish_does_nothing(make_webhooks: Make) -> None:
    for webhooks in (Webhooks.from_settings(Settings()), make_webhooks(None)):
        tasks = asyncio.all_tasks()
        webhooks.publish("hitl.requested", {"hitlId": "h-1"})
        assert asyncio.all_tasks() == tasks  # no sender started, so nothing can be sent
        await webhooks.close()
        assert (webhooks.delivered, webhooks.failed) == (0, 0)


async def test_close_delivers_what_is_queued_in_the_order_published(receive: Receive, make_webhooks: Make) -> None:
    receiver = await receive(500, 200)
    webhooks = make_webhooks(receiver.url)
    for number in range(5):
        webhooks.publish(f"event.{number}", {"number": number})
    await webhooks.close()

    assert (webhooks.delivered, webhooks.failed) == (5, 0)
    assert [body["type"] for body in receiver.bodies()] == ["event.0", "event.0", "event.1", "event.2", "event.3",
                                                            "event.4"]


async def test_close_drops_what_it_cannot_deliver_within_its_grace(
        receive: Receive, make_webhooks: Make, caplog: pytest.LogCaptureFixture) -> None:
    hanging = await receive(hang=True)
    webhooks = make_webhooks(hanging.url, timeout=60)
    webhooks.publish("hitl.requested", {"hitlId": "h-1"})
    webhooks.publish("hitl.requested", {"hitlId": "h-2"})
    await until(lambda: hanging.waiting == 1)
    await webhooks.close(grace=0.1)

    assert (webhooks.delivered, webhooks.failed) == (0, 2)
    assert [record.dropped for record in failures(caplog)] == [2]  # type: ignore[attr-defined]
    webhooks.publish("hitl.requested", {"hitlId": "h-3"})  # after close: dropped, counted, logged
    assert webhooks.failed == 3
    assert len(failures(caplog)) == 2


async def test_a_full_queue_drops_the_new_delivery_and_counts_it_failed(
        receive: Receive, make_webhooks: Make, caplog: pytest.LogCaptureFixture) -> None:
    hanging = await receive(hang=True)
    webhooks = make_webhooks(hanging.url, timeout=60, max_queued=2)
    webhooks.publish("event.0", {})
    await until(lambda: hanging.waiting == 1)  # event.0 is out of the queue, being tried
    for number in (1, 2, 3):
        webhooks.publish(f"event.{number}", {})

    assert webhooks.failed == 1
    [record] = failures(caplog)
    assert record.webhook_event == "event.3"  # type: ignore[attr-defined]
    assert "2 deliveries already queued" in record.getMessage()


async def test_data_that_is_not_json_is_dropped_and_logged_instead_of_raising(
        receive: Receive, make_webhooks: Make, caplog: pytest.LogCaptureFixture) -> None:
    receiver = await receive()
    webhooks = make_webhooks(receiver.url)
    webhooks.publish("hitl.requested", {"when": datetime.now(UTC)})
    webhooks.publish("hitl.requested", {"risk": float("nan")})
    await webhooks.close()

    assert (webhooks.delivered, webhooks.failed, receiver.requests) == (0, 2, [])
    assert len(failures(caplog)) == 2
