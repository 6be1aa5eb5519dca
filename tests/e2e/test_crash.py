"""kill -9 the daemon in the middle of a load of proxied calls, HITL decisions and management changes; restart it
on the same data directory and check that nothing that was acknowledged is lost.

Each round starts (or restarts) the daemon, runs agents calling through the proxy (allowed, denied and parked
calls, each to a URL of its own), a reviewer approving and denying what was parked, and an admin registering
agents, assigning them a policy and putting new versions of it; after a random time the daemon gets SIGKILL.
Once it is up again:

- every proxied call that got an answer has exactly one ``proxy.request`` record, with the decision it was
  answered with; a call whose answer was lost has at most one; the chain verifies;
- a call answered 200 reached the upstream once, a denied one never;
- every request answered 202 is there: Pending, or in the state a decision answered 200 put it in (a decision
  whose answer was lost leaves it Pending or decided); a parked call reached the upstream at most once, and an
  approval whose replay was cut short by the kill is never replayed (docs/hitl.md: at most once);
- every agent registered (201), policy assigned (200) and policy version put is there.

The kill points come from a seed printed at the start (``VECTRA_CRASH_SEED`` replays one; ``VECTRA_CRASH_ROUNDS``
sets the number of kills, 4 by default).
"""

from __future__ import annotations

import functools
import os
import queue
import random
import signal
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.daemon import Daemon
from tests.e2e.faults import arrived, assert_chain_valid, marked_url, records_by_url, whole_audit
from tests.e2e.proxy_agents import Agent, governed
from tests.integration.upstream import UpstreamServer

pytestmark = pytest.mark.e2e

ROUNDS = int(os.environ.get("VECTRA_CRASH_ROUNDS", "4"))
_AGENTS_PER_CALLER = 3  # a caller moves to its next agent when one is quarantined
_DECISION_BY_STATUS = {200: "Allow", 202: "Hitl", 403: "Deny"}
_STATE_BY_VERB = {"approve": "Approved", "deny": "Denied"}


@dataclass
class Call:
    url: str
    status: int | None  # None: no answer came (the daemon was killed first)
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def query(self) -> str:
        return self.url.split("?", 1)[1]


@dataclass
class Ledger:
    """What the clients were told, over all rounds."""

    calls: list[Call] = field(default_factory=list)
    parked: dict[str, str] = field(default_factory=dict)  # pending id -> its URL
    decisions: dict[str, tuple[str, int | None]] = field(default_factory=dict)  # pending id -> (verb, status)
    agents: list[str] = field(default_factory=list)  # registered, 201
    assignments: dict[str, str] = field(default_factory=dict)  # agent id -> policy, 200
    policy_versions: dict[str, int] = field(default_factory=dict)  # policy -> highest version answered
    unreplayed: dict[str, int] = field(default_factory=dict)  # approved, replay cut short -> upstream arrivals


def _revision(name: str, number: int) -> dict[str, Any]:
    """The governed policy, its deny rule's reason carrying ``number`` (so each put is a new version)."""
    document = governed(name)
    document["rules"][0]["reason"] = f"deletes are not allowed (revision {number})"
    return document


def _calling(agents: list[Agent], upstream: UpstreamServer, rng: random.Random, ledger: Ledger,
             reviews: queue.Queue[str], stop: threading.Event) -> None:
    """Calls of the first agent; once its trust has fallen below the floor (denials and escalations cost trust),
    of the next."""
    for agent in agents:
        while not stop.is_set():
            draw = rng.random()
            method, path = ("DELETE", "/item") if draw < 0.1 else ("POST", "/review/item") if draw < 0.3 \
                else ("GET", "/item")
            url = marked_url(upstream, path)
            try:
                answer = agent.call(method, url)
            except httpx.HTTPError:
                ledger.calls.append(Call(url, None))
                return
            ledger.calls.append(Call(url, answer.status_code, answer.json()))
            if answer.status_code == 202:
                ledger.parked[answer.json()["id"]] = url
                reviews.put(answer.json()["id"])
            elif answer.json().get("reason") == "quarantined":
                break


def _reviewing(daemon: Daemon, rng: random.Random, ledger: Ledger, reviews: queue.Queue[str],
               stop: threading.Event) -> None:
    with daemon.admin() as reviewer:
        while not stop.is_set():
            try:
                pending_id = reviews.get(timeout=0.05)
            except queue.Empty:
                continue
            verb = "approve" if rng.random() < 0.85 else "deny"
            ledger.decisions[pending_id] = (verb, None)
            try:
                answer = reviewer.post(f"/hitl/{pending_id}/{verb}", json={})
            except httpx.HTTPError:
                return
            ledger.decisions[pending_id] = (verb, answer.status_code)


def _managing(daemon: Daemon, round_number: int, policy: str, ledger: Ledger, stop: threading.Event) -> None:
    step = 0
    registered: str | None = None
    with daemon.admin() as admin:
        while not stop.is_set():
            step += 1
            try:
                if step % 3 == 1:
                    answer = admin.post("/agents", json={"name": f"crash-{round_number}-{step}", "ownerId": "team"})
                    assert answer.status_code == 201, answer.text
                    registered = answer.json()["id"]
                    ledger.agents.append(registered)
                elif step % 3 == 2 and registered is not None:
                    answer = admin.put(f"/agents/{registered}/policy", json={"policyName": policy})
                    assert answer.status_code == 200, answer.text
                    ledger.assignments[registered] = policy
                else:
                    answer = admin.put(f"/policies/{policy}", json=_revision(policy, round_number * 10_000 + step))
                    assert answer.status_code in (200, 201), answer.text
                    ledger.policy_versions[policy] = max(ledger.policy_versions.get(policy, 0),
                                                         answer.json()["version"])
            except httpx.HTTPError:
                return


def _load_then_kill(daemon: Daemon, upstream: UpstreamServer, rng: random.Random, round_number: int,
                    ledger: Ledger) -> None:
    """Two callers (each with agents to spare), a reviewer and an admin at work; SIGKILL after a random time."""
    policy = f"crash-shared-{round_number}"
    with daemon.admin() as admin:
        assert admin.put(f"/policies/{policy}", json=_revision(policy, 0)).status_code == 201
        agents = [Agent(daemon, admin) for _ in range(_AGENTS_PER_CALLER * 2)]
    stop = threading.Event()
    reviews: queue.Queue[str] = queue.Queue()
    work: list[Callable[[], None]] = [
        *(functools.partial(_calling, agents[n::2], upstream, random.Random(rng.random()), ledger, reviews, stop)
          for n in range(2)),
        functools.partial(_reviewing, daemon, random.Random(rng.random()), ledger, reviews, stop),
        functools.partial(_managing, daemon, round_number, policy, ledger, stop),
    ]
    failures: list[BaseException] = []

    def running(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as exc:  # an unexpected answer: the test fails with it, after the kill
            failures.append(exc)

    threads = [threading.Thread(target=running, args=(job,), daemon=True) for job in work]
    for thread in threads:
        thread.start()
    kill_after = rng.uniform(0.3, 2.5)
    stop.wait(kill_after)
    assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    for agent in agents:
        agent.client.close()
    if failures:
        raise failures[0]
    print(f"round {round_number}: killed after {kill_after:.2f}s; {len(ledger.calls)} calls, "
          f"{len(ledger.parked)} parked, {len(ledger.decisions)} decisions, {len(ledger.agents)} agents so far; "
          f"{Counter((c.status, c.body.get('reason')) for c in ledger.calls).most_common(8)}")


def _assert_calls_recorded(admin: httpx.Client, ledger: Ledger, upstream: UpstreamServer) -> None:
    records = whole_audit(admin)
    by_decision = records_by_url(records)
    by_url = Counter(record["url"] for record in records if record["action"] == "proxy.request")
    reached = arrived(upstream)
    for call in ledger.calls:
        if call.status is None:
            assert by_url[call.url] <= 1, call
            continue
        if call.status == 403 and "rule" not in call.body:  # refused before the policy: quarantined
            assert call.body.get("reason") == "quarantined", call
            assert by_url[call.url] <= 1, call
            continue
        assert call.status in _DECISION_BY_STATUS, call
        decision = _DECISION_BY_STATUS[call.status]
        assert by_decision[(call.url, decision)] == 1 and by_url[call.url] == 1, (call, by_url[call.url])
        if call.status == 200:
            assert reached[call.query] == 1, call
        elif call.status == 403:
            assert reached[call.query] == 0, call


def _assert_hitl_intact(admin: httpx.Client, ledger: Ledger, upstream: UpstreamServer) -> None:
    reached = arrived(upstream)
    for pending_id, url in ledger.parked.items():
        answer = admin.get(f"/hitl/{pending_id}")
        assert answer.status_code == 200, answer.text
        state, response = answer.json()["status"], answer.json().get("response")
        verb, status = ledger.decisions.get(pending_id, (None, None))
        arrivals = reached[url.split("?", 1)[1]]
        assert arrivals <= 1, (pending_id, arrivals)  # replayed at most once, and never before an approval
        if verb is None or status == 409:  # undecided, or refused (its agent quarantined meanwhile)
            assert state == "Pending", (pending_id, state)
        elif status is None:  # the decision's answer was lost: made or not
            assert state in ("Pending", _STATE_BY_VERB[verb]), (pending_id, verb, state)
        else:
            assert status == 200, (pending_id, verb, status)
            assert state == _STATE_BY_VERB[verb], (pending_id, verb, state)
        if state in ("Pending", "Denied"):
            assert arrivals == 0, (pending_id, state)
        elif state == "Approved" and status == 200:
            assert response is not None and arrivals == 1, (pending_id, response, arrivals)
        elif state == "Approved" and response is None:
            # approved, then killed before its replay was recorded: it stays so and is never replayed again
            assert ledger.unreplayed.setdefault(pending_id, arrivals) == arrivals, pending_id
            assert admin.post(f"/hitl/{pending_id}/approve", json={}).status_code == 409


def _assert_management_kept(admin: httpx.Client, ledger: Ledger) -> None:
    for agent_id in ledger.agents:
        answer = admin.get(f"/agents/{agent_id}")
        assert answer.status_code == 200, (agent_id, answer.text)
        if agent_id in ledger.assignments:
            assert answer.json()["policyName"] == ledger.assignments[agent_id], agent_id
    for policy, version in ledger.policy_versions.items():
        assert admin.get(f"/policies/{policy}").json()["version"] >= version, policy
        versions = admin.get(f"/policies/{policy}/versions", params={"pageSize": 100}).json()
        assert version in {item["version"] for item in versions["items"]}, (policy, version)


def test_kill_9_under_load_loses_nothing_that_was_acknowledged(tmp_path: Path, upstream: UpstreamServer) -> None:
    seed = int(os.environ.get("VECTRA_CRASH_SEED", random.randrange(2**32)))
    print(f"crash test seed: {seed} (VECTRA_CRASH_SEED={seed} replays these kill points)")
    rng = random.Random(seed)
    ledger = Ledger()
    daemon = Daemon(tmp_path / "data")
    try:
        for round_number in range(ROUNDS + 1):
            daemon.start()
            with daemon.admin() as admin:
                assert_chain_valid(admin)
                _assert_calls_recorded(admin, ledger, upstream)
                _assert_hitl_intact(admin, ledger, upstream)
                _assert_management_kept(admin, ledger)
            if round_number < ROUNDS:
                _load_then_kill(daemon, upstream, rng, round_number, ledger)
        answered = [call for call in ledger.calls if call.status is not None]
        assert answered and ledger.decisions and ledger.agents, "the load did nothing before the kills"
        print(f"approved, replay cut short by a kill (never replayed again): {len(ledger.unreplayed)}")
    finally:
        daemon.stop()
