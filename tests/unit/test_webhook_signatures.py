"""The webhook signature scheme as a receiver in any language would compute it, and its edge cases."""

from __future__ import annotations

import hashlib
import hmac
import logging

import pytest

from vectra.services.webhooks import Webhooks, sign, verify_signature

SECRET = "whsec-0123456789abcdef"
BODY = b'{"id":"d-1","type":"hitl.requested","createdAt":"2026-12-01T12:00:00.000000Z","data":{}}'
NOW = 1_800_000_000


def test_the_signature_is_hmac_sha256_of_the_timestamp_a_dot_and_the_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, NOW, BODY) == f"t={NOW},v1={expected}"


def test_any_one_of_several_v1_values_may_match() -> None:
    good = sign(SECRET, NOW, BODY).split(",")[1]
    other = sign("whsec-another-secret-0000", NOW, BODY).split(",")[1]
    assert verify_signature(SECRET, f"t={NOW}, {other}, {good}", BODY, now=NOW)
    assert not verify_signature(SECRET, f"t={NOW},{other}", BODY, now=NOW)


def test_timestamps_outside_the_tolerance_either_way_are_rejected() -> None:
    header = sign(SECRET, NOW, BODY)
    assert verify_signature(SECRET, header, BODY, now=NOW - 300)
    assert verify_signature(SECRET, header, BODY, now=NOW + 300)
    assert not verify_signature(SECRET, header, BODY, now=NOW - 301)
    assert not verify_signature(SECRET, header, BODY, now=NOW + 301)
    assert verify_signature(SECRET, header, BODY, now=NOW + 3000, tolerance_seconds=3600)


@pytest.mark.parametrize("header", [
    "", "garbage", "v1=abc", f"t={NOW}", "t=,v1=abc", "t=\uff11\uff12\uff13,v1=abc", f"t=-{NOW},v1=abc",
    f"t={NOW},t={NOW},v1=abc", f"t={NOW},v1=é", f"t={NOW},v1=\udc80", f"t={NOW},v0=abc",
])
def test_a_malformed_header_is_rejected_without_an_error(header: str) -> None:
    assert not verify_signature(SECRET, header, BODY, now=NOW)


def test_a_url_without_a_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        Webhooks("http://127.0.0.1:9/hook", None)


def test_publish_outside_an_event_loop_drops_the_delivery_instead_of_raising(caplog: pytest.LogCaptureFixture) -> None:
    webhooks = Webhooks("http://127.0.0.1:9/hook", SECRET)
    webhooks.publish("hitl.requested", {"hitlId": "h-1"})
    assert (webhooks.delivered, webhooks.failed) == (0, 1)
    assert [r.levelno for r in caplog.records if r.name == "vectra.webhooks"] == [logging.ERROR]
