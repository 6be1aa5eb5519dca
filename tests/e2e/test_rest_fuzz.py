"""Property-based fuzzing of the whole management API from ``openapi.yaml`` (issue 6), with schemathesis, against
the real daemon, as an admin, a reviewer and an agent in turn.

For every operation schemathesis sends its examples, its coverage cases (each boundary of each schema, missing and
extra fields, wrong types, methods the path does not serve) and hypothesis-generated requests, valid and invalid,
then runs every check it has: no 5xx; the status, content type, headers and body are the ones the spec documents;
invalid input is refused with a 4xx and valid input is not; a 405 names in ``Allow`` what the path serves; a
protected operation refuses a request without credentials. On top of those, :func:`refusals_change_nothing`: a
request answered with a 4xx leaves the database as it was: agents (status, trust, roles, policy), policies and
every version, HITL requests and their decisions, sessions. The audit log may gain the refusal's own record,
nothing else.
Two checks are narrowed, each to let one documented answer through (:func:`valid_input_is_accepted`,
:func:`created_resources_are_found`); a workflow test follows the spec's links as the admin.

A module fixture sets up something real for the paths with ids to hit: agents of each role, spare agents to
revoke and delete, a policy assigned and one not, calls parked for review through the proxy to a real local
upstream, and sessions of the agent with a call in each (some for the admin to complete, some for the reviewer to
interrupt). Half the generated ids are swapped for one of those (chosen by the generated value itself, so a replay
makes the same choice); the others stay random and meet 404s.

``/proxy/{url}`` is left out: it forwards to whatever URL it is given, and its abuse (SSRF, smuggling, oversized
input) is tested by the proxy's own tests. The examples are derandomized, so that both cores of ``make test`` see
the same requests and a failure in one run is the same failure in the next; the CLI (``schemathesis run
openapi.yaml --checks all``) explores further when wanted.
"""

from __future__ import annotations

import itertools
import os
import re
import sqlite3
import zlib
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.specs.openapi.checks import ensure_resource_availability, positive_data_acceptance

from tests.e2e.daemon import Daemon, register_agent
from tests.e2e.proxy_agents import Agent
from tests.integration.upstream import UpstreamServer
from vectra.domain.errors import InvalidInput
from vectra.rest.app import SPEC_PATH
from vectra.services.inputs import check_policy_name, parse_session_id, parse_uuid

pytestmark = pytest.mark.e2e

ROLES = ("admin", "reviewer", "agent")
#: generated requests per operation and caller, besides its examples and coverage cases; more for a long run
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
CONFIG = schemathesis.Config.from_dict({
    "generation": {"mode": "all", "max-examples": EXAMPLES, "deterministic": True, "database": "none",
                   "with-security-parameters": False},
    # the workflows follow the spec's own links and the Location headers; links guessed from field names take
    # ids from any field of any answer (a null ``agentId`` of an audit record becomes the id ``None``)
    "phases": {"stateful": {"inference": {"algorithms": ["location-headers"]}, "generation": {"mode": "positive"}}},
})
SCHEMA = schemathesis.openapi.from_path(SPEC_PATH, config=CONFIG).exclude(path_regex="^/proxy/")

# Where the spec's schema is open on purpose, so that schema-valid input can still be refused, with a 400 whose
# pointer says where: a policy document is checked by the policy compiler (its errors point into the document),
# /simulate's URL must have a host, a public key must decode to an Ed25519 key, metadata keys keep to their
# pattern and a period's `from` is not after its `to`, which no schema states exactly (openapi.yaml says each).
# Such a 400 is the documented answer; any other refusal of valid input is still a failure.
_CHECKED_PAST_THE_SCHEMA = {
    "PUT /policies/{name}": ("",),
    "POST /simulate": ("agent.policy", "request.url"),
    "POST /agents": ("publicKey", "metadata", "ownerId"),
    "POST /sessions": ("metadata",),
    "POST /replay": ("policy.document", "from"),
    "GET /compliance": ("from",),
    "PATCH /agents/{agentId}": ("metadata",),
    "POST /registrations": ("publicKey", "metadata"),
}
# What the audit log may gain from a refused request: records of the refusal itself (``hitl.replay_refused``).
_REFUSAL_RECORD = re.compile(r"[._]\w*refused$")


@dataclass
class World:
    """The daemon and what exists in it: a token per role, and the ids each role's requests are aimed at."""

    daemon: Daemon
    tokens: dict[str, str]
    targets: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def aimed(self, role: str, operation: str, parameter: str) -> list[str]:
        return self.targets.get((role, f"{operation}:{parameter}")) or self.targets.get((role, parameter), [])


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """The module's daemon, its long polls cut short: ``GET /hitl/{id}?wait=`` is fuzzed up to an hour."""
    running = Daemon(tmp_path_factory.mktemp("vectra") / "data", env={"VECTRA_HITL_MAX_WAIT_SECONDS": "0.1"}).start()
    yield running
    assert running.stop() == 0, running.log()


@pytest.fixture(scope="module")
def world(daemon: Daemon, upstream: UpstreamServer) -> Iterator[World]:
    with daemon.admin() as admin:
        agent = Agent(daemon, admin)  # under a policy of its own: DELETE denied, anything under /review parked
        reviewer = register_agent(admin, "fuzz-reviewer", roles=["reviewer"])
        spares = [register_agent(admin, f"fuzz-spare-{n}")["id"] for n in range(3)]
        doomed = [register_agent(admin, f"fuzz-doomed-{n}")["id"] for n in range(2)]
        quarantined = [_quarantined(daemon, admin, upstream) for _ in range(2)]
        free = "fuzz-unassigned"
        assert admin.put(f"/policies/{free}", json={"default": "Allow"}).status_code == 201
        parked = []
        for n in range(8):
            answer = agent.call("POST", f"{upstream.base}/review/item-{n}", content=b"{}")
            assert answer.status_code == 202, answer.text
            parked.append(answer.json()["id"])
        policy = admin.get(f"/agents/{agent.id}").json()["policyName"]
        sessions = [_session(agent, upstream) for _ in range(6)]
    tokens = {"admin": daemon.admin_token, "reviewer": daemon.token_for(reviewer), "agent": agent.token}
    policies = [policy, free]
    targets = {
        ("admin", "agentId"): spares,
        ("admin", "DELETE /agents/{agentId}:agentId"): doomed,
        ("admin", "POST /agents/{agentId}/lift-quarantine:agentId"): quarantined,
        ("admin", "id"): parked[:2],
        ("admin", "POST /hitl/{id}/deny:id"): parked[2:4],
        ("reviewer", "agentId"): [reviewer["id"], *spares],
        ("reviewer", "id"): parked[4:6],
        ("reviewer", "POST /hitl/{id}/deny:id"): parked[6:],
        ("agent", "agentId"): [agent.id, spares[0]],
        ("agent", "id"): parked,
        ("admin", "sessionId"): sessions[:2],
        ("admin", "POST /sessions/{sessionId}/complete:sessionId"): sessions[2:3],
        ("reviewer", "sessionId"): sessions[3:4],
        ("reviewer", "POST /sessions/{sessionId}/interrupt:sessionId"): sessions[4:5],
        ("agent", "sessionId"): sessions[5:],
    }
    for role in ROLES:
        targets[(role, "name")] = targets[(role, "policyName")] = policies
    yield World(daemon, tokens, targets)
    agent.client.close()


def _session(agent: Agent, upstream: UpstreamServer) -> str:
    """A session of the agent, with a call in it (for its audit trail, compliance export and replay)."""
    begun = agent.client.post("/sessions", json={"agentId": agent.id})
    assert begun.status_code == 201, begun.text
    session = begun.json()["id"]
    assert agent.call("GET", f"{upstream.base}/in-session", headers={"Vectra-Session": session}).status_code == 200
    return session


def _quarantined(daemon: Daemon, admin: httpx.Client, upstream: UpstreamServer) -> str:
    """An agent its own denied calls have quarantined (five DELETEs take trust below the floor)."""
    agent = Agent(daemon, admin)
    with agent.client:
        while admin.get(f"/agents/{agent.id}").json()["status"] == "Active":
            assert agent.call("DELETE", f"{upstream.base}/x").status_code == 403
    return agent.id


# -- the state a refusal must leave alone ------------------------------------------------------------------------

@dataclass(frozen=True)
class Stored:
    """What the database holds, but for the audit log, of which only the last record is kept (to see the log
    grow, and that nothing before it was rewritten)."""

    rows: dict[str, list[tuple[Any, ...]]]
    last_audit: tuple[int, str]


_TABLES = {
    # every column but last_seen_at: that is the sighting of an authenticated caller, whatever it asked
    "agents": "SELECT id, name, owner_id, status, policy_name, trust_score, roles, secret_hash, created_at, realm_id, "
              "version, description, metadata, capabilities, public_key, did, scope_realms, capability_bits, "
              "search_text, governance, parent_agent_id, shadow_policy FROM agents ORDER BY id",
    "capability_bits": "SELECT * FROM capability_bits ORDER BY name",
    "realms": "SELECT * FROM realms ORDER BY id",
    "registrations": "SELECT * FROM registrations ORDER BY id",
    "used_assertions": "SELECT * FROM used_assertions ORDER BY agent_id, jti",
    "policies": "SELECT * FROM policies ORDER BY name",
    "policy_versions": "SELECT * FROM policy_versions ORDER BY name, version",
    "pending_requests": "SELECT * FROM pending_requests ORDER BY id",
    "sessions": "SELECT * FROM sessions ORDER BY id",
}


def stored(database: Path) -> Stored:
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        rows = {table: conn.execute(query).fetchall() for table, query in _TABLES.items()}
        last = conn.execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone() or (0, "")
    return Stored(rows, last)


def refusals_change_nothing(before: Stored, database: Path) -> schemathesis.CheckFunction:
    def refusal_changes_nothing(ctx: schemathesis.CheckContext, response: schemathesis.Response,
                                case: schemathesis.Case) -> None:
        if not 400 <= response.status_code < 500:
            return
        after = stored(database)
        changed = sorted(table for table in _TABLES if after.rows[table] != before.rows[table])
        assert not changed, f"a {response.status_code} changed {', '.join(changed)}"
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
            kept = conn.execute("SELECT hash FROM audit_log WHERE id = ?", [before.last_audit[0]]).fetchone()
            added = [action for (action,) in conn.execute("SELECT action FROM audit_log WHERE id > ? ORDER BY id",
                                                          [before.last_audit[0]])]
        assert before.last_audit[0] == 0 or kept == (before.last_audit[1],), "an audit record was rewritten"
        wrong = [action for action in added if not _REFUSAL_RECORD.search(action)]
        assert not wrong, f"a {response.status_code} was audited as {wrong}"

    return refusal_changes_nothing


def valid_input_is_accepted(ctx: schemathesis.CheckContext, response: schemathesis.Response,
                            case: schemathesis.Case) -> bool | None:
    """schemathesis's ``positive_data_acceptance``, but for the documented 400s of ``_CHECKED_PAST_THE_SCHEMA``."""
    prefixes = _CHECKED_PAST_THE_SCHEMA.get(case.operation.label)
    if prefixes and response.status_code == 400 and case.meta is not None and case.meta.generation.mode.is_positive:
        pointer = response.json().get("pointer")
        assert isinstance(pointer, str) and pointer.startswith(prefixes), \
            f"valid input refused, not by the checks the schema leaves open: {response.text}"
        return None
    return positive_data_acceptance(ctx, response, case)


def created_resources_are_found(ctx: schemathesis.CheckContext, response: schemathesis.Response,
                                case: schemathesis.Case) -> bool | None:
    """schemathesis's ``ensure_resource_availability``, but for a 404 that names a field of the input
    (``pointer: policyName``): that is the policy the body names not existing, as openapi.yaml documents, not the
    agent of the URL, just created, missing."""
    if response.status_code == 404 and "pointer" in response.json():
        return None
    return ensure_resource_availability(ctx, response, case)


load_all_checks()
_WRAPPED = (positive_data_acceptance, ensure_resource_availability)
CHECKS_RUN = [check for check in CHECKS.get_all() if check not in _WRAPPED]
OUR_CHECKS = [valid_input_is_accepted, created_resources_are_found]


# -- aiming ids at what exists -----------------------------------------------------------------------------------

def _valid(parameter: str, value: object) -> bool:
    """Whether the services take ``value`` for a policy name, a session id or another id."""
    try:
        if parameter.endswith(("name", "Name")):
            check_policy_name(value, parameter)
        elif parameter == "sessionId":
            parse_session_id(value)
        else:
            parse_uuid(parameter, value)
    except InvalidInput:
        return False
    return True


def aim(case: schemathesis.Case, world: World, role: str) -> None:
    """Swap half the valid ids of the path (and of an ``agentId`` filter, and a body's ``policyName``) for ones
    that exist. An invalid value is left as it is: it may be what the case is about."""
    body = case.body if isinstance(case.body, dict) else None
    for parameters in (case.path_parameters, case.query, body):
        for parameter, value in list((parameters or {}).items()):
            known = world.aimed(role, case.operation.label, parameter)
            if parameters is body and parameter not in ("policyName", "agentId", "sessionId"):
                continue  # a body's ``name`` is the realm's or agent's own, not a policy's
            if not known or not _valid(parameter, value):
                continue
            pick = zlib.crc32(value.encode())
            if pick % 2 == 0:
                parameters[parameter] = known[pick // 2 % len(known)]


@pytest.mark.parametrize("role", ROLES)
@SCHEMA.parametrize()
def test_every_answer_is_documented_and_a_refusal_changes_nothing(
    case: schemathesis.Case, world: World, role: str
) -> None:
    aim(case, world, role)
    database = world.daemon.data_dir / "vectra.db"
    before = stored(database)
    headers = {"Authorization": f"Bearer {world.tokens[role]}"}
    response = case.call(base_url=world.daemon.url, headers=headers, timeout=30)
    case.validate_response(response, checks=CHECKS_RUN, headers=headers,
                           additional_checks=[*OUR_CHECKS, refusals_change_nothing(before, database)])


_FRESH = itertools.count()


def independent_of_history(case: schemathesis.Case) -> None:
    """The workflow replays its examples on a daemon that keeps what earlier ones made, and hypothesis needs each
    call's answer (so the links it opens) to be the same on every replay: a slug gets a fresh suffix (a taken one
    is a 409), and references to realms and keys, which may or may not exist yet, are left out."""
    body = case.body if isinstance(case.body, dict) else None
    if body is None:
        return
    if isinstance(body.get("slug"), str):
        body["slug"] = f"{body['slug'][:50]}-{next(_FRESH)}"
    for reference in ("realm", "scopeRealms", "publicKey"):
        body.pop(reference, None)


def test_workflows_follow_the_links_and_keep_to_the_spec(world: World) -> None:
    """schemathesis's stateful phase, as the admin: chains of calls whose ids come from earlier answers (an agent
    registered, then read, assigned, revoked, deleted; a policy put, then read and listed), each answer checked as
    above, and the checks that need a history among them (a resource just created is there; a deleted one is
    gone)."""
    database = world.daemon.data_dir / "vectra.db"
    headers = {"Authorization": f"Bearer {world.tokens['admin']}"}

    class Workflow(SCHEMA.as_state_machine()):  # type: ignore[misc]
        before: Stored

        def before_call(self, case: schemathesis.Case) -> None:
            independent_of_history(case)
            self.before = stored(database)

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"base_url": world.daemon.url, "headers": headers, "timeout": 30}

        def validate_response(self, response: schemathesis.Response, case: schemathesis.Case,
                              additional_checks: list[schemathesis.CheckFunction] | None = None,
                              **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS_RUN, headers=headers, recorder=self.recorder,
                                   transport_kwargs=kwargs,
                                   additional_checks=[*OUR_CHECKS, refusals_change_nothing(self.before, database)])

    Workflow.run(settings=hypothesis.settings(
        max_examples=25, stateful_step_count=6, deadline=None, derandomize=True, database=None,
        suppress_health_check=list(hypothesis.HealthCheck), phases=[hypothesis.Phase.generate],
    ))
