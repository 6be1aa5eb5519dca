"""The agent registry's list: every filter and sort of ``GET /agents`` and ``AgentService.ListAgents``, the new
agent fields, and ``PATCH /agents/{id}``, on one daemon whose agents this module alone makes (so the lists are
exact)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
import httpx
import pytest

from tests.e2e.daemon import Daemon, bearer
from tests.e2e.proxy_agents import trust_of
from vectra.grpc.generated.vectra.v1 import agents_pb2, agents_pb2_grpc

SURFACES = ("rest", "grpc")
DENY_ALL = {"name": "deny-all", "default": "Deny", "rules": []}
_STATUS = {"Active": agents_pb2.AGENT_STATUS_ACTIVE, "Revoked": agents_pb2.AGENT_STATUS_REVOKED}


class Registry:
    """The module's realms and agents, by short name (``analyst``, ``billing``, ...)."""

    def __init__(self, daemon: Daemon, admin: httpx.Client) -> None:
        self.daemon = daemon
        self.realms = {slug: self._realm(admin, name, slug) for slug, name in (("eng", "Engineering"),
                                                                               ("ops", "Operations"))}
        self.agents: dict[str, dict[str, Any]] = {}
        self._add(admin, "analyst", "Analyst-GPT4", "team-a", ["api_call", "file_access"], "eng",
                  metadata={"llmProvider": "openai", "llmModel": "gpt-4o"}, version="2.1.0",
                  description="Reads the ledgers")
        self._add(admin, "billing", "billing-bot", "team-b", ["api_call"], "eng")
        self._add(admin, "crawler", "Crawler", "team-a", ["internet_access", "browser_control", "api_call"], "ops")
        self._add(admin, "deploy", "deploy-agent", "team-c", ["code_execution", "system_command"], "ops")
        self._add(admin, "mailer", "mailer", "team-b", ["mail_send"], None)
        assert admin.post(f"/agents/{self.id('deploy')}/revoke").status_code == 200
        # seen, in this order: analyst, crawler, mailer (a token is a sighting)
        self.tokens = {name: daemon.token_for(self.agents[name]) for name in ("analyst", "crawler", "mailer")}
        # the mailer's denied calls lower its trust below everyone's 0.5
        assert admin.put("/policies/deny-all", json=DENY_ALL).status_code == 201
        assert admin.put(f"/agents/{self.id('mailer')}/policy", json={"policyName": "deny-all"}).status_code == 200
        with daemon.client(self.tokens["mailer"]) as mailer:
            for _ in range(3):
                assert mailer.get("/proxy/http://127.0.0.1:9/x").status_code == 403
        assert trust_of(admin, self.id("mailer")) < 0.5

    @staticmethod
    def _realm(admin: httpx.Client, name: str, slug: str) -> dict[str, Any]:
        answer = admin.post("/realms", json={"name": name, "slug": slug})
        assert answer.status_code == 201, answer.text
        return answer.json()

    def _add(self, admin: httpx.Client, key: str, name: str, owner: str, capabilities: list[str],
             realm: str | None, **fields: Any) -> None:
        body = {"name": name, "ownerId": owner, "capabilities": capabilities, **fields}
        if realm:
            body["realm"] = realm
        answer = admin.post("/agents", json=body)
        assert answer.status_code == 201, answer.text
        self.agents[key] = answer.json()

    def id(self, key: str) -> str:
        return self.agents[key]["id"]

    def names(self, ids: list[str]) -> list[str]:
        by_id = {agent["id"]: key for key, agent in self.agents.items()}
        return [by_id[agent_id] for agent_id in ids]


@pytest.fixture(scope="module")
def registry(daemon: Daemon) -> Registry:
    with daemon.admin() as admin:
        return Registry(daemon, admin)


@pytest.fixture(scope="module")
def agent_stub(daemon: Daemon) -> Iterator[agents_pb2_grpc.AgentServiceStub]:
    with daemon.channel() as channel:
        yield agents_pb2_grpc.AgentServiceStub(channel)


def list_page(surface: str, daemon: Daemon, stub: agents_pb2_grpc.AgentServiceStub, **query: Any) -> dict:
    """One page of the list, as ``{ids, totalCount, totalPages, onlineCount}``, whichever surface asked."""
    if surface == "rest":
        params = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in query.items()}
        with daemon.admin() as admin:
            answer = admin.get("/agents", params=params)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        return {"ids": [a["id"] for a in body["items"]], "totalCount": body["totalCount"],
                "totalPages": body["totalPages"], "onlineCount": body["onlineCount"]}
    fields = {_GRPC_NAMES.get(k, k): v for k, v in query.items()}
    if "capabilities" in fields:
        fields["capabilities"] = fields["capabilities"].split(",")
    if "status" in fields:
        fields["status"] = _STATUS[fields["status"]]
    page = stub.ListAgents(agents_pb2.ListAgentsRequest(**fields), metadata=bearer(daemon.admin_token))
    return {"ids": [a.id for a in page.items], "totalCount": page.total_count, "totalPages": page.total_pages,
            "onlineCount": page.online_count}


_GRPC_NAMES = {"ownerId": "owner_id", "sortBy": "sort_by", "sortDir": "sort_dir", "pageSize": "page_size"}


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["analyst", "billing", "crawler", "deploy", "mailer"]),
        ({"q": "bot"}, ["billing"]),
        ({"q": "ANALYST"}, ["analyst"]),
        ({"q": "-"}, ["analyst", "billing", "crawler", "deploy", "mailer"]),  # every id has one
        ({"q": "zzz"}, []),
        ({"status": "Revoked"}, ["deploy"]),
        ({"status": "Active"}, ["analyst", "billing", "crawler", "mailer"]),
        ({"online": True}, ["analyst", "crawler", "mailer"]),
        ({"online": False}, ["billing", "deploy"]),
        ({"realm": "eng"}, ["analyst", "billing"]),
        ({"realm": "no-such-realm"}, []),
        ({"capabilities": "api_call"}, ["analyst", "billing", "crawler"]),
        ({"capabilities": "api_call,file_access"}, ["analyst"]),
        ({"capabilities": "browser_control,api_call,internet_access"}, ["crawler"]),
        ({"capabilities": "api_call,mail_send"}, []),
        ({"capabilities": "api_call,api_call"}, ["analyst", "billing", "crawler"]),  # once is enough
        ({"ownerId": "team-a"}, ["analyst", "crawler"]),
        ({"realm": "ops", "online": True}, ["crawler"]),
        ({"realm": "ops", "capabilities": "api_call", "status": "Active", "ownerId": "team-a"}, ["crawler"]),
        ({"sortBy": "name"}, ["analyst", "billing", "crawler", "deploy", "mailer"]),  # whatever the case
        ({"sortBy": "name", "sortDir": "desc"}, ["mailer", "deploy", "crawler", "billing", "analyst"]),
        ({"sortBy": "registeredAt", "sortDir": "desc"}, ["mailer", "deploy", "crawler", "billing", "analyst"]),
        ({"sortBy": "lastSeen", "sortDir": "desc", "online": True}, ["mailer", "crawler", "analyst"]),
        ({"sortBy": "lastSeen", "online": True}, ["analyst", "crawler", "mailer"]),
    ],
)
def test_each_filter_and_sort_lists_exactly_the_matches_in_order(
    registry: Registry, daemon: Daemon, agent_stub: agents_pb2_grpc.AgentServiceStub, surface: str,
    query: dict, expected: list[str],
) -> None:
    page = list_page(surface, daemon, agent_stub, **query)

    assert registry.names(page["ids"]) == expected
    assert page["totalCount"] == len(expected)
    assert page["onlineCount"] == len(set(expected) & {"analyst", "crawler", "mailer"})


@pytest.mark.parametrize("surface", SURFACES)
def test_a_realm_is_found_by_its_id_as_by_its_slug(
    registry: Registry, daemon: Daemon, agent_stub: agents_pb2_grpc.AgentServiceStub, surface: str,
) -> None:
    by_id = list_page(surface, daemon, agent_stub, realm=registry.realms["ops"]["id"])

    assert registry.names(by_id["ids"]) == ["crawler", "deploy"]


@pytest.mark.parametrize("surface", SURFACES)
def test_never_seen_agents_sort_as_the_oldest_sighting(
    registry: Registry, daemon: Daemon, agent_stub: agents_pb2_grpc.AgentServiceStub, surface: str,
) -> None:
    ascending = registry.names(list_page(surface, daemon, agent_stub, sortBy="lastSeen")["ids"])
    descending = registry.names(list_page(surface, daemon, agent_stub, sortBy="lastSeen", sortDir="desc")["ids"])

    assert set(ascending[:2]) == {"billing", "deploy"} and ascending[2:] == ["analyst", "crawler", "mailer"]
    assert descending[:3] == ["mailer", "crawler", "analyst"] and set(descending[3:]) == {"billing", "deploy"}


@pytest.mark.parametrize("surface", SURFACES)
def test_trust_sorts_the_least_trusted_first_and_ties_by_id(
    registry: Registry, daemon: Daemon, agent_stub: agents_pb2_grpc.AgentServiceStub, surface: str,
) -> None:
    ascending = list_page(surface, daemon, agent_stub, sortBy="trustScore")["ids"]
    descending = list_page(surface, daemon, agent_stub, sortBy="trustScore", sortDir="desc")["ids"]

    assert registry.names(ascending)[0] == "mailer"
    assert ascending[1:] == sorted(ascending[1:])  # the others all hold 0.5: by id
    assert descending == list(reversed(ascending))


@pytest.mark.parametrize("surface", SURFACES)
def test_pages_count_their_pages_and_never_overlap(
    registry: Registry, daemon: Daemon, agent_stub: agents_pb2_grpc.AgentServiceStub, surface: str,
) -> None:
    pages = [list_page(surface, daemon, agent_stub, sortBy="name", page=n, pageSize=2) for n in (1, 2, 3, 4)]

    assert [p["totalPages"] for p in pages] == [3, 3, 3, 3]
    assert [registry.names(p["ids"]) for p in pages] == [["analyst", "billing"], ["crawler", "deploy"],
                                                         ["mailer"], []]


def test_an_agent_shows_its_profile_realm_and_presence(registry: Registry, admin: httpx.Client) -> None:
    analyst = admin.get(f"/agents/{registry.id('analyst')}").json()
    billing = admin.get(f"/agents/{registry.id('billing')}").json()

    assert analyst["capabilities"] == ["file_access", "api_call"]  # in the vocabulary's order
    assert analyst["realm"] == {**registry.realms["eng"], "name": "Engineering", "slug": "eng"}
    assert analyst["metadata"] == {"llmProvider": "openai", "llmModel": "gpt-4o"}
    assert (analyst["version"], analyst["description"]) == ("2.1.0", "Reads the ledgers")
    assert analyst["online"] is True and analyst["lastSeen"] is not None
    assert analyst["registeredAt"] == analyst["createdAt"]
    assert billing["online"] is False and billing["lastSeen"] is None
    assert admin.get(f"/agents/{registry.id('mailer')}").json()["realm"] is None


def test_the_grpc_agent_carries_the_same_profile(registry: Registry, daemon: Daemon,
                                                 agent_stub: agents_pb2_grpc.AgentServiceStub) -> None:
    analyst = agent_stub.GetAgent(agents_pb2.GetAgentRequest(agent_id=registry.id("analyst")),
                                  metadata=bearer(daemon.admin_token))

    assert list(analyst.capabilities) == ["file_access", "api_call"]
    assert (analyst.realm.slug, analyst.realm.name, analyst.realm.id) == ("eng", "Engineering",
                                                                          registry.realms["eng"]["id"])
    assert dict(analyst.metadata) == {"llmProvider": "openai", "llmModel": "gpt-4o"}
    assert analyst.online and analyst.version == "2.1.0"


@pytest.mark.parametrize(
    ("query", "pointer"),
    [
        ("sortBy=size", "sortBy"),
        ("sortDir=up", "sortDir"),
        ("status=Sleeping", "status"),
        ("online=maybe", "online"),
        ("capabilities=teleport", "capabilities must be names of the capability vocabulary"),
        ("capabilities=api_call,,mail_send", "capabilities must be names of the capability vocabulary"),
        ("q=", "q"),
    ],
)
def test_a_bad_filter_is_400_naming_it(registry: Registry, admin: httpx.Client, query: str, pointer: str) -> None:
    answer = admin.get(f"/agents?{query}")

    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"].startswith(pointer)


@pytest.mark.parametrize(
    ("request_fields", "detail"),
    [
        ({"sort_by": "size"}, "sortBy must be one of"),
        ({"capabilities": ["teleport"]}, "capabilities must be names of the capability vocabulary"),
        ({"status": 7}, "status must be one of Active, Quarantined, Revoked"),
    ],
)
def test_a_bad_grpc_filter_is_invalid_argument(registry: Registry, daemon: Daemon,
                                               agent_stub: agents_pb2_grpc.AgentServiceStub,
                                               request_fields: dict, detail: str) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        agent_stub.ListAgents(agents_pb2.ListAgentsRequest(**request_fields), metadata=bearer(daemon.admin_token))

    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details().startswith(detail)


def test_patch_changes_only_what_it_names_and_the_list_follows(registry: Registry, admin: httpx.Client) -> None:
    agent = admin.post("/agents", json={"name": "patched", "ownerId": "team-z", "capabilities": ["api_call"],
                                        "realm": "eng", "version": "1.0"}).json()

    changed = admin.patch(f"/agents/{agent['id']}", json={"capabilities": ["mail_send", "api_call"], "realm": None,
                                                           "metadata": {"llmModel": "o3"}})

    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["capabilities"] == ["api_call", "mail_send"] and body["realm"] is None
    assert (body["version"], body["name"], body["metadata"]) == ("1.0", "patched", {"llmModel": "o3"})
    with_mail = admin.get("/agents", params={"capabilities": "mail_send,api_call"}).json()["items"]
    assert [a["id"] for a in with_mail] == [agent["id"]]
    assert agent["id"] not in [a["id"] for a in admin.get("/agents", params={"realm": "eng"}).json()["items"]]
    updated = [r for r in admin.get("/audit", params={"agentId": agent["id"], "action": "agent.updated"})
               .json()["items"]]
    assert len(updated) == 1 and updated[0]["details"]["capabilities"] == ["api_call", "mail_send"]
    assert admin.delete(f"/agents/{agent['id']}").status_code == 200


def test_patch_over_grpc_changes_only_the_fields_set(registry: Registry, daemon: Daemon,
                                                     agent_stub: agents_pb2_grpc.AgentServiceStub,
                                                     admin: httpx.Client) -> None:
    agent = admin.post("/agents", json={"name": "patched-grpc", "ownerId": "team-z", "realm": "ops",
                                        "description": "kept"}).json()

    changed = agent_stub.UpdateAgent(
        agents_pb2.UpdateAgentRequest(agent_id=agent["id"], capabilities=agents_pb2.StringList(values=["api_call"]),
                                      realm="eng"),
        metadata=bearer(daemon.admin_token))

    assert list(changed.capabilities) == ["api_call"]
    assert changed.realm.slug == "eng" and changed.description == "kept"
    assert admin.delete(f"/agents/{agent['id']}").status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "pointer"),
    [
        ({"capabilities": ["teleport"]}, 400, "capabilities[0]"),
        ({"realm": "no-such-realm"}, 404, "realm"),
        ({"metadata": {"llm model": "x"}}, 400, "metadata keys"),
        ({"metadata": {"k": 1}}, 400, "metadata.k"),
        ({"scopeRealms": ["eng"]}, 400, "scopeRealms"),  # only an admin or reviewer is limited to realms
        ({"colour": "red"}, 400, "colour"),
    ],
)
def test_a_bad_patch_changes_nothing(registry: Registry, admin: httpx.Client, body: dict, status: int,
                                     pointer: str) -> None:
    before = admin.get(f"/agents/{registry.id('billing')}").json()

    answer = admin.patch(f"/agents/{registry.id('billing')}", json=body)

    assert answer.status_code == status, answer.text
    assert answer.json().get("pointer", answer.json()["detail"]).startswith(pointer)
    assert admin.get(f"/agents/{registry.id('billing')}").json() == before


def test_a_vocabulary_of_its_own_is_what_the_daemon_accepts_and_documents(
    make_daemon: Callable[..., Daemon],
) -> None:
    custom = make_daemon(env={"VECTRA_CAPABILITIES": "read_tickets,write_tickets"})
    with custom.admin() as admin, custom.channel() as channel:
        made = admin.post("/agents", json={"name": "t", "ownerId": "o", "capabilities": ["write_tickets"]})
        refused = admin.post("/agents", json={"name": "t", "ownerId": "o", "capabilities": ["api_call"]})
        listed = admin.get("/agents", params={"capabilities": "write_tickets"}).json()["items"]
        spec = admin.get("/open-api/vectra/specifications.json").json()
        with pytest.raises(grpc.RpcError) as grpc_refused:
            agents_pb2_grpc.AgentServiceStub(channel).RegisterAgent(
                agents_pb2.RegisterAgentRequest(name="t", owner_id="o", capabilities=["api_call"]),
                metadata=bearer(custom.admin_token))

    assert made.status_code == 201, made.text
    assert refused.status_code == 400
    assert refused.json()["detail"] == "capabilities[0] must be one of read_tickets, write_tickets"
    assert grpc_refused.value.details() == refused.json()["detail"]
    assert [a["id"] for a in listed] == [made.json()["id"]]
    assert spec["components"]["schemas"]["Capability"]["enum"] == ["read_tickets", "write_tickets"]


@pytest.mark.parametrize("surface", SURFACES)
def test_q_finds_an_agent_by_part_of_its_id_or_did_whatever_the_case(
    registry: Registry, daemon: Daemon, agent_stub: agents_pb2_grpc.AgentServiceStub, admin: httpx.Client,
    surface: str,
) -> None:
    keyed = admin.post("/agents", json={"name": "keyed", "ownerId": "team-k",
                                        "publicKey": "z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw"}).json()
    try:
        by_id = list_page(surface, daemon, agent_stub, q=registry.id("crawler")[9:23].upper())
        by_did = list_page(surface, daemon, agent_stub, q=keyed["did"][8:30].lower())
    finally:
        assert admin.delete(f"/agents/{keyed['id']}").status_code == 200

    assert registry.names(by_id["ids"]) == ["crawler"]
    assert by_did["ids"] == [keyed["id"]]
