"""The CheckStream servicer alone, over a stand-in for ``proxy.check``: the checks of one batch are judged together
(what lets their audit records be committed together), and a check's error is its result or the stream's end.
The daemon's answers, end to end, are in tests/e2e/test_proxy_grpc.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import pytest

from vectra.domain.errors import InvalidInput, Unauthenticated
from vectra.forward import RateDecision
from vectra.grpc.generated.vectra.v1 import proxy_pb2
from vectra.grpc.proxy import ProxyServicer
from vectra.services import proxy

LIMITED = proxy.Checked(None, RateDecision(False, 10, 0, 60, 7))


class Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(code, details)
        self.code, self.details = code, details


class Context:
    """What the servicer uses of a grpc.aio servicer context."""

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", "Bearer agent-token"),)

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise Aborted(code, details)


def batch(*urls: str) -> proxy_pb2.CheckBatch:
    return proxy_pb2.CheckBatch(checks=[proxy_pb2.CheckRequest(method="GET", url=url) for url in urls])


async def _messages(batches: list[proxy_pb2.CheckBatch]) -> AsyncIterator[proxy_pb2.CheckBatch]:
    for message in batches:
        yield message


def run_stream(monkeypatch: pytest.MonkeyPatch, check: Callable[[Any, proxy.ProxyCall], Awaitable[proxy.Checked]],
               batches: list[proxy_pb2.CheckBatch]) -> list[list[proxy_pb2.CheckResponse]]:
    """The results of each batch, with ``check`` standing in for ``proxy.check``."""
    monkeypatch.setattr(proxy, "check", check)

    async def stream() -> list[list[proxy_pb2.CheckResponse]]:
        answers = ProxyServicer(ctx=None).CheckStream(_messages(batches), Context())  # type: ignore[arg-type]
        return [list(answer.results) async for answer in answers]

    return asyncio.run(asyncio.wait_for(stream(), timeout=5))


def test_the_checks_of_a_batch_are_all_in_flight_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    barrier = asyncio.Barrier(8)  # made inside asyncio.run's loop on first use (Python 3.11+)

    async def check(ctx: Any, call: proxy.ProxyCall) -> proxy.Checked:
        await barrier.wait()  # returns only once all 8 of the batch are waiting: one at a time would hang
        return LIMITED

    [results] = run_stream(monkeypatch, check, [batch(*[f"http://example.com/{i}" for i in range(8)])])

    assert [(r.decision.effect, r.retry_after_seconds) for r in results] == [("RateLimited", 7)] * 8


def test_results_keep_the_order_of_the_checks_whatever_order_they_finish_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    finished: list[str] = []

    async def check(ctx: Any, call: proxy.ProxyCall) -> proxy.Checked:
        index = int(call.target.url.rsplit("/", 1)[1])
        await asyncio.sleep(0.01 * (5 - index))  # the last check finishes first
        finished.append(call.target.url)
        if index % 2:
            raise InvalidInput(f"check {index} is bad")
        return LIMITED

    [results] = run_stream(monkeypatch, check, [batch(*[f"http://example.com/{i}" for i in range(5)])])

    assert finished == [f"http://example.com/{i}" for i in reversed(range(5))]
    assert [(r.decision.effect, r.decision.reason) for r in results] == [
        ("RateLimited", "rate limit exceeded"), ("Invalid", "check 1 is bad"), ("RateLimited", "rate limit exceeded"),
        ("Invalid", "check 3 is bad"), ("RateLimited", "rate limit exceeded")]


def test_a_check_that_fails_authentication_ends_the_stream_with_its_status(monkeypatch: pytest.MonkeyPatch) -> None:
    async def check(ctx: Any, call: proxy.ProxyCall) -> proxy.Checked:
        if call.target.url.endswith("/refused"):
            raise Unauthenticated("the token has expired")
        return LIMITED

    with pytest.raises(Aborted) as aborted:
        run_stream(monkeypatch, check, [batch("http://example.com/a", "http://example.com/refused")])

    assert (aborted.value.code, aborted.value.details) == (grpc.StatusCode.UNAUTHENTICATED, "the token has expired")


def test_the_gateway_token_of_the_metadata_goes_with_every_check(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, str]] = []

    async def check(ctx: Any, call: proxy.ProxyCall) -> proxy.Checked:
        seen.append(call.headers[0])
        return LIMITED

    run_stream(monkeypatch, check, [batch("http://example.com/a"), batch("http://example.com/b")])

    assert seen == [("Vectra-Authorization", "Bearer agent-token")] * 2
