"""The reviewer console at ``/console``, in headless Chromium (Debian's, driven by Playwright) against the real daemon,
a real upstream and a real agent: a parked call shows up in the page, is opened, approved or denied there, and the
agent's long poll and the upstream see the outcome. Screenshots are kept in ``test-artifacts/console/``."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from tests.e2e.daemon import Daemon, register_agent
from tests.e2e.proxy_agents import Agent as ProxyAgent
from tests.integration.upstream import UpstreamServer

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
# as root, on a machine without a network: no sandbox, and none of Chromium's own calls home
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
WAIT_MS = 15_000
UPSTREAM_KEY = "Bearer upstream-key-5f2a"
ORDER = {"order": "A-1041", "amount": 129.5, "currency": "EUR", "lines": [{"sku": "kb-2", "qty": 1}]}


def parks_writes(name: str) -> dict[str, Any]:
    """Reads go through; every POST waits for a human."""
    return {
        "name": name,
        "default": "Allow",
        "rules": [{"name": "review-writes", "priority": 10, "effect": "Hitl", "reason": "writes need a human",
                   "conditions": [{"field": "input.method", "operator": "eq", "value": "POST"}]}],
    }


class Agent(ProxyAgent):
    """An agent under :func:`parks_writes`, calling through the gateway with an upstream key of its own."""

    def __init__(self, daemon: Daemon, admin: httpx.Client) -> None:
        super().__init__(daemon, admin, parks_writes("parks-writes"))
        self.name = self.record["name"]

    def park(self, url: str, body: bytes) -> str:
        """POST ``body`` to ``url`` through the gateway: parked (202); the pending request's id."""
        answer = self.client.post(f"/proxy/{url}", content=body, headers={
            "Vectra-Authorization": f"Bearer {self.token}", "Authorization": UPSTREAM_KEY,
            "Content-Type": "application/json"})
        assert answer.status_code == 202, answer.text
        assert answer.headers["location"] == f"/hitl/{answer.json()['id']}"
        return answer.json()["id"]

    def read(self, pending_id: str, wait: float | None = None) -> httpx.Response:
        params = {"wait": wait} if wait is not None else {}
        return self.client.get(f"/hitl/{pending_id}", params=params, headers={"Authorization": f"Bearer {self.token}"})


@pytest.fixture
def agent(daemon: Daemon, admin: httpx.Client) -> Iterator[Agent]:
    made = Agent(daemon, admin)
    yield made
    made.client.close()


@pytest.fixture
def reviewer(daemon: Daemon, admin: httpx.Client) -> dict[str, str]:
    """An agent with the reviewer role: its id, name and token."""
    record = register_agent(admin, f"alice-{uuid.uuid4().hex[:6]}", roles=["reviewer"])
    return {"id": record["id"], "name": record["name"], "token": daemon.token_for(record)}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab (its own sessionStorage); fails the test on a script error or a Content-Security-Policy
    violation."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on("console", lambda message: errors.append(message.text)
              if message.type == "error" and "Content Security Policy" in message.text else None)
    yield opened
    context.close()
    assert not errors, errors


def sign_in(page: Page, daemon: Daemon, token: str) -> None:
    page.goto(f"{daemon.url}/console")
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def queue_row(page: Page, url: str) -> Locator:
    return page.get_by_role("table", name="Waiting for review").get_by_role("row").filter(has_text=url)


def history_row(page: Page, url: str) -> Locator:
    return page.get_by_role("table", name="Recent decisions").get_by_role("row").filter(has_text=url)


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


def arrived(upstream: UpstreamServer, ref: str) -> list[dict[str, Any]]:
    return [seen for seen in upstream.requests if seen["query_string"] == f"ref={ref}"]


# -- deciding in the page ----------------------------------------------------------------------------------------

def test_a_reviewer_approves_a_parked_call_in_the_console_and_the_agent_gets_the_upstreams_answer(
    daemon: Daemon, agent: Agent, reviewer: dict[str, str], upstream: UpstreamServer, page: Page
) -> None:
    ref = uuid.uuid4().hex
    url = f"{upstream.base}/status/201?ref={ref}"
    body = json.dumps(ORDER).encode()
    pending_id = agent.park(url, body)
    digest = agent.read(pending_id).json()["pending"]["digest"]

    with ThreadPoolExecutor(max_workers=1) as pool:
        long_poll = pool.submit(agent.read, pending_id, 30)
        sign_in(page, daemon, reviewer["token"])
        row = queue_row(page, url)
        expect(row).to_contain_text("writes need a human")
        expect(row).to_contain_text("review-writes")
        expect(row).to_contain_text(agent.name)
        expect(row).to_contain_text(re.compile(r"59 min \d\d s"))
        expect(page.get_by_text(re.compile(f"Signed in as {reviewer['name']}"))).to_be_visible()
        screenshot(page, "list.png")

        row.get_by_role("button").click()
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_role("heading", name=f"POST {url}")).to_be_visible()
        expect(dialog.get_by_role("row", name=re.compile("^authorization", re.IGNORECASE))).to_contain_text(
            "[redacted]")
        expect(dialog.locator("#d-body")).to_have_text(json.dumps(ORDER, indent=2))
        expect(dialog.get_by_text(digest)).to_be_visible()
        assert UPSTREAM_KEY not in dialog.inner_text()
        screenshot(page, "detail.png")

        dialog.get_by_label("Comment").fill("Order checked with finance")
        dialog.get_by_role("button", name="Approve and send").click()
        expect(dialog.get_by_role("status")).to_have_text("Approved. The upstream answered 201 Created.")
        expect(dialog.get_by_text("The upstream answered 201.")).to_be_visible()
        screenshot(page, "approved.png")
        settled = long_poll.result(timeout=45)

    assert settled.status_code == 200, settled.text
    document = settled.json()
    assert (document["status"], document["response"]["status"]) == ("Approved", 201)
    assert document["decision"]["by"] == reviewer["id"]
    assert document["decision"]["comment"] == "Order checked with finance"
    [seen] = arrived(upstream, ref)
    assert (seen["method"], seen["body_sha256"]) == ("POST", hashlib.sha256(body).hexdigest())
    assert ["authorization", UPSTREAM_KEY] in seen["headers"]

    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(queue_row(page, url)).to_have_count(0)
    expect(history_row(page, url)).to_contain_text("Approved")
    expect(history_row(page, url)).to_contain_text(reviewer["name"])
    expect(history_row(page, url)).to_contain_text("just now")
    screenshot(page, "decisions.png")


def test_a_reviewer_denies_a_parked_call_with_the_keyboard_and_nothing_reaches_the_upstream(
    daemon: Daemon, agent: Agent, reviewer: dict[str, str], upstream: UpstreamServer, page: Page
) -> None:
    ref = uuid.uuid4().hex
    url = f"{upstream.base}/orders?ref={ref}"
    pending_id = agent.park(url, b"not json {")

    sign_in(page, daemon, reviewer["token"])
    queue_row(page, url).get_by_role("button").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog.locator("#d-body")).to_have_text("not json {")
    expect(dialog).to_contain_text("Text, 10 bytes.")
    dialog.get_by_label("Comment").fill("No orders on Sundays")
    dialog.get_by_role("button", name="Deny").click()
    expect(dialog.get_by_role("status")).to_have_text("Denied. The agent's call is refused.")
    screenshot(page, "denied.png")

    document = agent.read(pending_id).json()
    assert (document["status"], document["decision"]["comment"]) == ("Denied", "No orders on Sundays")
    assert "response" not in document
    assert arrived(upstream, ref) == []
    page.keyboard.press("Escape")
    expect(history_row(page, url)).to_contain_text("Denied")


def test_an_open_request_decided_elsewhere_meanwhile_is_shown_decided(
    daemon: Daemon, agent: Agent, reviewer: dict[str, str], upstream: UpstreamServer, page: Page,
    admin: httpx.Client,
) -> None:
    ref = uuid.uuid4().hex
    url = f"{upstream.base}/orders?ref={ref}"
    pending_id = agent.park(url, bytes(range(250, 256)))
    sign_in(page, daemon, reviewer["token"])
    queue_row(page, url).get_by_role("button").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name=f"POST {url}")).to_be_visible()
    expect(dialog).to_contain_text("Not UTF-8 text: the 6 bytes are shown base64-encoded.")
    expect(dialog.locator("#d-body")).to_have_text(base64.b64encode(bytes(range(250, 256))).decode())

    assert admin.post(f"/hitl/{pending_id}/deny", json={"comment": "duplicate order"}).status_code == 200

    expect(dialog.get_by_role("status")).to_have_text(
        "This request is no longer pending: it was decided elsewhere, or it expired.")
    expect(dialog.get_by_text("Denied by the operator")).to_contain_text("duplicate order")
    expect(dialog.get_by_role("button", name="Approve and send")).to_be_hidden()
    assert arrived(upstream, ref) == []


def test_a_second_decision_is_a_409_problem_naming_the_first(
    agent: Agent, reviewer: dict[str, str], upstream: UpstreamServer, admin: httpx.Client
) -> None:
    """What the console shows when two reviewers decide at once."""
    pending_id = agent.park(f"{upstream.base}/orders?ref={uuid.uuid4().hex}", b"{}")
    assert admin.post(f"/hitl/{pending_id}/deny", json={}).status_code == 200

    answer = admin.post(f"/hitl/{pending_id}/approve", json={})

    assert answer.status_code == 409 and answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == 409
    assert answer.json()["detail"] == f"HITL request {pending_id} was already denied by operator"


# -- signing in ------------------------------------------------------------------------------------------------

def test_a_token_without_the_reviewer_role_is_refused_at_sign_in(daemon: Daemon, agent: Agent, page: Page) -> None:
    sign_in(page, daemon, agent.token)

    expect(page.get_by_role("alert")).to_contain_text(
        "This token may not review requests: listing HITL requests needs the admin or reviewer role.")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("Waiting for review"))).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0
    screenshot(page, "refused.png")

    page.get_by_label("Token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("The gateway did not accept this token")


def test_signing_out_forgets_the_token_and_a_reload_keeps_a_signed_in_tab_signed_in(
    daemon: Daemon, reviewer: dict[str, str], page: Page
) -> None:
    sign_in(page, daemon, reviewer["token"])
    expect(page.get_by_role("heading", name=re.compile("Waiting for review"))).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name=re.compile("Waiting for review"))).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


# -- the files -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "content_type"), [
    ("/console", "text/html; charset=utf-8"),
    ("/console/", "text/html; charset=utf-8"),
    ("/console/index.html", "text/html; charset=utf-8"),
    ("/console/console.js", "text/javascript; charset=utf-8"),
    ("/console/api.js", "text/javascript; charset=utf-8"),
    ("/console/format.js", "text/javascript; charset=utf-8"),
    ("/console/console.css", "text/css; charset=utf-8"),
    ("/console/favicon.svg", "image/svg+xml"),
])
def test_the_console_files_are_served_with_their_type_and_a_strict_policy(
    daemon: Daemon, path: str, content_type: str
) -> None:
    answer = httpx.get(daemon.url + path)

    assert answer.status_code == 200
    assert answer.headers["content-type"] == content_type
    assert answer.headers["cache-control"] == "no-cache"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    policy = answer.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe" not in policy
    again = httpx.get(daemon.url + path, headers={"If-None-Match": answer.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")


@pytest.mark.parametrize("path", [
    "/console/nothing.js", "/console/%2e%2e/openapi.yaml", "/console/..%2Fopenapi.yaml", "/console//index.html",
    "/console/index.html/", "/console/%2Fetc%2Fpasswd",
])
def test_anything_else_under_console_is_a_404_problem(daemon: Daemon, path: str) -> None:
    answer = httpx.get(daemon.url + path)

    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_the_console_is_only_read(daemon: Daemon) -> None:
    answer = httpx.post(f"{daemon.url}/console", content=b"x")

    assert (answer.status_code, answer.headers["allow"]) == (405, "GET, HEAD")
    assert answer.json()["status"] == 405
