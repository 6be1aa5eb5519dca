"""The Policies API over REST, against the real daemon: the reference's examples, versions, validation, roles."""

from __future__ import annotations

import json

import httpx
import pytest
import yaml

from tests.e2e.daemon import Daemon
from tests.e2e.policy_documents import (
    BAD_OPERATOR_POINTER,
    BAD_OPERATOR_POLICY,
    REFERENCE_BILLING_POLICY,
    policy,
)

pytestmark = pytest.mark.e2e

YAML = {"Content-Type": "application/yaml"}


def versions(admin: httpx.Client, name: str) -> list[int]:
    answer = admin.get(f"/policies/{name}/versions")
    assert answer.status_code == 200, answer.text
    return [item["version"] for item in answer.json()["items"]]


def test_reference_billing_policy_is_created_listed_and_read_back_as_in_the_reference(admin: httpx.Client) -> None:
    created = admin.put("/policies/billing-policy", json=REFERENCE_BILLING_POLICY)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/policies/billing-policy"

    listed = admin.get("/policies", params={"page": 1, "pageSize": 25})
    assert listed.status_code == 200
    page = listed.json()
    assert (page["page"], page["pageSize"]) == (1, 25)
    assert page["totalCount"] == len(page["items"]) >= 1
    item = next(i for i in page["items"] if i["name"] == "billing-policy")
    assert {k: item[k] for k in ("name", "description", "owner", "default", "ruleCount")} == {
        "name": "billing-policy",
        "description": "Governs the billing agent",
        "owner": "team-finance",
        "default": "Deny",
        "ruleCount": 1,
    }
    assert item["version"] == 1

    details = admin.get("/policies/billing-policy")
    assert details.status_code == 200
    body = details.json()
    for key, value in REFERENCE_BILLING_POLICY.items():
        assert body[key] == value, key
    assert body["version"] == 1 and body["updatedBy"] == "operator"


def test_policy_put_as_yaml_is_stored_and_read_back_as_json(admin: httpx.Client) -> None:
    text = yaml.safe_dump(policy("yaml-policy", description="from YAML"))
    answer = admin.put("/policies/yaml-policy", content=text, headers=YAML)
    assert answer.status_code == 201, answer.text
    assert admin.get("/policies/yaml-policy").json()["description"] == "from YAML"

    replaced = admin.put("/policies/yaml-policy", content=text.replace("from YAML", "from text/yaml"),
                         headers={"Content-Type": "text/yaml"})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["description"] == "from text/yaml"
    assert replaced.json()["version"] == 2


def test_replacing_a_policy_keeps_every_earlier_version_readable(admin: httpx.Client) -> None:
    for description in ("first", "second", "third"):
        assert admin.put("/policies/history", json=policy("history", description=description)).status_code in (200, 201)
    assert versions(admin, "history") == [3, 2, 1]
    listed = admin.get("/policies/history/versions").json()["items"]
    assert all(v["createdBy"] == "operator" and v["createdAt"].endswith("Z") and v["ruleCount"] == 1 for v in listed)

    assert admin.get("/policies/history").json()["description"] == "third"
    first = admin.get("/policies/history", params={"version": 1}).json()
    assert (first["description"], first["version"], first["current"]) == ("first", 1, False)
    assert admin.get("/policies/history", params={"version": 9}).status_code == 404


def test_an_unchanged_document_adds_no_version_in_json_or_yaml(admin: httpx.Client) -> None:
    document = policy("steady")
    assert admin.put("/policies/steady", json=document).status_code == 201
    again = admin.put("/policies/steady", json=document)
    assert again.status_code == 200 and again.json()["version"] == 1
    as_yaml = admin.put("/policies/steady", content=yaml.safe_dump(document), headers=YAML)
    assert as_yaml.status_code == 200 and as_yaml.json()["version"] == 1
    assert versions(admin, "steady") == [1]


def test_a_document_without_a_name_takes_the_paths_and_a_different_name_is_refused(admin: httpx.Client) -> None:
    document = policy("unused")
    del document["name"]
    assert admin.put("/policies/nameless", json=document).json()["name"] == "nameless"

    refused = admin.put("/policies/nameless", json=policy("another-name"))
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["pointer"] == "name"
    assert versions(admin, "nameless") == [1]


def test_an_invalid_policy_is_refused_with_the_pointer_and_nothing_is_stored(admin: httpx.Client) -> None:
    answer = admin.put("/policies/bad-operator", json=BAD_OPERATOR_POLICY)
    assert answer.status_code == 400
    problem = answer.json()
    assert problem["pointer"] == BAD_OPERATOR_POINTER
    assert problem["detail"] == f"{BAD_OPERATOR_POINTER}: unknown operator 'equals'"
    assert admin.get("/policies/bad-operator").status_code == 404

    as_yaml = admin.put("/policies/bad-operator", content=yaml.safe_dump(BAD_OPERATOR_POLICY), headers=YAML)
    assert as_yaml.status_code == 400 and as_yaml.json()["pointer"] == BAD_OPERATOR_POINTER


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ("", ""),
        ("rules: [unclosed", ""),
        ("- just\n- a list\n", ""),
        ("name: p\nrules:\n  - {name: a, effect: Maybe}\n", "rules[0].effect"),
        ("name: p\nrules:\n  - {name: a, effect: Allow, conditons: []}\n", "rules[0].conditons"),
        ("name: p\nrules:\n  - {name: a, effect: Allow, conditions: [{field: input.nope, operator: eq}]}\n",
         "rules[0].conditions[0].field"),
        ("name: p\nrules:\n  - {name: a, effect: Allow, conditions: [{field: input.path, operator: regex, "
         "value: '(unclosed'}]}\n", "rules[0].conditions[0].value"),
    ],
)
def test_malformed_yaml_documents_answer_400_never_500(admin: httpx.Client, body: str, pointer: str) -> None:
    answer = admin.put("/policies/p", content=body, headers=YAML)
    assert answer.status_code == 400, answer.text
    assert answer.json()["pointer"] == pointer
    assert admin.get("/policies/p").status_code == 404


def test_more_rules_than_the_cap_are_refused(admin: httpx.Client) -> None:
    rules = [{"name": f"r{i}", "effect": "Allow"} for i in range(5001)]
    answer = admin.put("/policies/huge", json={"rules": rules})
    assert answer.status_code == 400 and answer.json()["pointer"] == "rules"


def test_other_content_types_are_refused_with_415(admin: httpx.Client) -> None:
    answer = admin.put("/policies/plain", content="name: plain", headers={"Content-Type": "text/plain"})
    assert answer.status_code == 415
    assert admin.get("/policies/plain").status_code == 404


def test_validate_answers_200_with_the_errors_and_stores_nothing(admin: httpx.Client) -> None:
    invalid = admin.post("/policies/validate", json=BAD_OPERATOR_POLICY)
    assert invalid.status_code == 200
    assert invalid.json() == {
        "valid": False,
        "errors": [{"pointer": BAD_OPERATOR_POINTER, "message": "unknown operator 'equals'"}],
    }
    valid = admin.post("/policies/validate", content=yaml.safe_dump(policy("draft-only")), headers=YAML)
    assert valid.json() == {"valid": True, "errors": []}
    assert admin.get("/policies/draft-only").status_code == 404


def test_a_policy_in_use_cannot_be_deleted_until_its_agents_move_away(daemon: Daemon, admin: httpx.Client) -> None:
    assert admin.put("/policies/in-use", json=policy("in-use")).status_code == 201
    assert admin.put("/policies/elsewhere", json=policy("elsewhere")).status_code == 201
    agent_id = daemon.register_agent("user-of-in-use")["id"]
    assert admin.put(f"/agents/{agent_id}/policy", json={"policyName": "in-use"}).status_code == 200

    refused = admin.delete("/policies/in-use")
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert admin.get("/policies/in-use").status_code == 200

    assert admin.put(f"/agents/{agent_id}/policy", json={"policyName": "elsewhere"}).status_code == 200
    assert admin.delete("/policies/in-use").status_code == 200
    assert admin.get("/policies/in-use").status_code == 404
    assert admin.get("/policies/in-use/versions").status_code == 404
    assert admin.delete("/policies/in-use").status_code == 404


def test_assigning_an_unknown_policy_answers_404_and_keeps_the_agents_policy(
    daemon: Daemon, admin: httpx.Client
) -> None:
    assert admin.put("/policies/known", json=policy("known")).status_code == 201
    agent_id = daemon.register_agent("assignee")["id"]
    assert admin.put(f"/agents/{agent_id}/policy", json={"policyName": "known"}).status_code == 200

    answer = admin.put(f"/agents/{agent_id}/policy", json={"policyName": "no-such-policy"})
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert admin.get(f"/agents/{agent_id}").json()["policyName"] == "known"


def test_a_deleted_and_recreated_policy_starts_a_new_history(admin: httpx.Client) -> None:
    assert admin.put("/policies/phoenix", json=policy("phoenix", description="old")).status_code == 201
    assert admin.put("/policies/phoenix", json=policy("phoenix", description="older")).status_code == 200
    assert admin.delete("/policies/phoenix").status_code == 200
    assert admin.put("/policies/phoenix", json=policy("phoenix", description="new")).status_code == 201
    assert versions(admin, "phoenix") == [1]
    assert admin.get("/policies/phoenix").json()["description"] == "new"


def test_agents_may_not_manage_or_list_policies_and_reviewers_may_only_read(daemon: Daemon,
                                                                           admin: httpx.Client) -> None:
    assert admin.put("/policies/guarded", json=policy("guarded")).status_code == 201
    agent_token = daemon.token_for(daemon.register_agent("plain-agent"))
    reviewer_token = daemon.token_for(daemon.register_agent("a-reviewer", roles=["reviewer"]))

    with daemon.client(agent_token) as agent:
        assert agent.get("/policies").status_code == 403
        assert agent.get("/policies/guarded").status_code == 403
        assert agent.put("/policies/guarded", json=policy("guarded", description="mine")).status_code == 403
        assert agent.delete("/policies/guarded").status_code == 403
        assert agent.post("/policies/validate", json=policy("x")).status_code == 403

    with daemon.client(reviewer_token) as reviewer:
        assert reviewer.get("/policies").status_code == 200
        assert reviewer.get("/policies/guarded").status_code == 200
        assert reviewer.get("/policies/guarded/versions").status_code == 200
        assert reviewer.post("/policies/validate", json=policy("x")).json()["valid"] is True
        assert reviewer.put("/policies/guarded", json=policy("guarded", description="mine")).status_code == 403
        assert reviewer.delete("/policies/guarded").status_code == 403

    with daemon.client() as anonymous:
        assert anonymous.get("/policies").status_code == 401
        assert anonymous.put("/policies/guarded", json=policy("guarded")).status_code == 401

    assert admin.get("/policies/guarded").json()["description"] == "Governs the billing agent"
    assert versions(admin, "guarded") == [1]


def test_bad_names_and_pages_answer_400(admin: httpx.Client) -> None:
    assert admin.get("/policies/has%20space").status_code == 400
    assert admin.put("/policies/-leading-dash", json=policy("-leading-dash")).status_code == 400
    assert admin.get("/policies", params={"pageSize": 0}).status_code == 400
    assert admin.get("/policies", params={"page": "x"}).status_code == 400
    assert admin.get("/policies/x/versions", params={"pageSize": 101}).status_code == 400
    non_object = admin.put("/policies/list-body", content=json.dumps([1, 2]),
                           headers={"Content-Type": "application/json"})
    assert non_object.status_code == 400
