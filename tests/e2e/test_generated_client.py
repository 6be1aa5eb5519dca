"""A Python client generated from openapi.yaml by a standard generator works against the daemon."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from tests.e2e.daemon import Daemon
from vectra.rest.app import SPEC_PATH

# No formatter post-hooks: generation needs neither the network nor ruff's opinion. The generator has no YAML
# body type: policy documents in YAML are sent as raw bytes (README, "Generated clients").
GENERATOR_CONFIG = """\
project_name_override: vectra-client
package_name_override: vectra_client
post_hooks: []
content_type_overrides:
  application/yaml: application/octet-stream
  text/yaml: application/octet-stream
"""


@pytest.fixture(scope="module")
def generated_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    generator = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent))
    assert generator, "openapi-python-client is a development dependency"
    folder = tmp_path_factory.mktemp("client")
    (folder / "config.yaml").write_text(GENERATOR_CONFIG)
    run = subprocess.run(
        [generator, "generate", "--path", str(SPEC_PATH), "--output-path", str(folder / "out"),
         "--config", str(folder / "config.yaml")],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Warning" not in run.stdout + run.stderr, run.stdout + run.stderr
    sys.path.insert(0, str(folder / "out"))
    try:
        yield importlib.import_module("vectra_client")
    finally:
        sys.path.remove(str(folder / "out"))
        for name in [n for n in sys.modules if n == "vectra_client" or n.startswith("vectra_client.")]:
            del sys.modules[name]


def test_register_token_list_and_get_with_the_generated_client(generated_client: ModuleType, daemon: Daemon) -> None:
    models = importlib.import_module("vectra_client.models")
    agents = SimpleNamespace(**{
        name: importlib.import_module(f"vectra_client.api.agents.{name}")
        for name in ("register_agent", "list_agents", "get_agent")
    })
    tokens = SimpleNamespace(issue_token=importlib.import_module("vectra_client.api.tokens.issue_token"))

    admin = generated_client.AuthenticatedClient(base_url=daemon.url, token=daemon.admin_token)
    created = agents.register_agent.sync(
        client=admin,
        body=models.RegisterAgentRequest(name="billing-agent", owner_id="team-finance",
                                         client_secret="my-strong-secret"),
    )
    assert isinstance(created, models.RegisterAgentResponse), created
    assert created.name == "billing-agent" and created.client_secret == "my-strong-secret"

    anonymous = generated_client.Client(base_url=daemon.url)
    # TokenRequest is "exactly one of clientSecret and assertion" (a oneOf): the generator types its body as Any
    issued = tokens.issue_token.sync(
        client=anonymous, body={"agentId": str(created.id), "clientSecret": "my-strong-secret"}
    )
    assert isinstance(issued, models.TokenResponse), issued
    refused = tokens.issue_token.sync(
        client=anonymous, body={"agentId": str(created.id), "clientSecret": "wrong-secret!"}
    )
    assert isinstance(refused, models.Problem) and refused.status == 401

    page = agents.list_agents.sync(client=admin, page=1, page_size=100)
    assert isinstance(page, models.AgentPage), page
    assert str(created.id) in [str(a.id) for a in page.items] and page.total_count >= 1

    as_agent = generated_client.AuthenticatedClient(base_url=daemon.url, token=issued.token)
    agent = agents.get_agent.sync(client=as_agent, agent_id=created.id)
    assert isinstance(agent, models.Agent), agent
    assert agent.status == models.AgentStatus.ACTIVE and agent.owner_id == "team-finance"
    assert agent.trust_score == 0.5 and agent.roles == [models.Role.AGENT]
    forbidden = agents.list_agents.sync(client=as_agent)
    assert isinstance(forbidden, models.Problem) and forbidden.status == 403
