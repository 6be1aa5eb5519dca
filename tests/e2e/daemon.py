"""Start the real daemon as a subprocess on free ports with its own data directory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import grpc
import httpx

from vectra.grpc.generated.vectra.v1 import agents_pb2_grpc, policies_pb2_grpc, tokens_pb2_grpc

ADMIN_TOKEN = "test-operator-token-0123456789abcdef"
JWT_SECRET = "test-signing-key-0123456789abcdef-0123456789"
SERVE = (sys.executable, "-m", "vectra", "serve")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Poll ``condition`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = condition()
            if result:
                return result
        except Exception as exc:  # not ready yet
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout}s (last error: {last_error!r})")


def clean_env(**variables: str) -> dict[str, str]:
    """This process's environment without its VECTRA_* settings (but the choice of core), plus ``variables``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECTRA_") or k == "VECTRA_PURE_PYTHON"}
    return env | variables


def run_vectra(*args: str, timeout: float = 30, **variables: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m vectra <args>`` to its end with VECTRA_* ``variables``."""
    return subprocess.run([sys.executable, "-m", "vectra", *args], env=clean_env(**variables), capture_output=True,
                          text=True, timeout=timeout)


class Daemon:
    """One ``vectra serve`` process. ``env`` adds or overrides VECTRA_* settings."""

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str] | None = None,
        admin_token: str | None = ADMIN_TOKEN,
        command: Sequence[str] = SERVE,
    ):
        self.data_dir = data_dir
        self.command = list(command)
        self.rest_port = free_port()
        self.grpc_port = free_port()
        self.extra_env = dict(env or {})
        self.admin_token = admin_token
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-daemon.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def start(self) -> Daemon:
        env = clean_env()
        env.update({
            "VECTRA_DATA_DIR": str(self.data_dir),
            "VECTRA_REST_PORT": str(self.rest_port),
            "VECTRA_GRPC_PORT": str(self.grpc_port),
            "VECTRA_JWT_SECRET": JWT_SECRET,
            "VECTRA_UPSTREAM_ALLOW_CIDRS": "127.0.0.0/8",
        })
        if self.admin_token:
            env["VECTRA_ADMIN_TOKEN"] = self.admin_token
        env.update(self.extra_env)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(self._ready, timeout=30)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"daemon did not start:\n{self.log()}") from None
        return self

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"daemon exited with {self.process.returncode}:\n{self.log()}")
        if httpx.get(f"{self.url}/health", timeout=1).status_code != 200:
            return False
        with grpc.insecure_channel(self.grpc_target) as channel:
            grpc.channel_ready_future(channel).result(timeout=1)
        return True

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        """Stop the daemon with ``sig`` and return its exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # clients ------------------------------------------------------------------------------------
    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)

    def admin(self) -> httpx.Client:
        return self.client(self.admin_token)

    def channel(self) -> grpc.Channel:
        return grpc.insecure_channel(self.grpc_target)

    # the reference flow's first steps ----------------------------------------------------------
    def register_agent(self, name: str = "billing-agent", owner_id: str = "team-finance", **fields: Any) -> dict:
        """Register an agent as the operator; the 201 body ``{id, name, clientSecret}``."""
        with self.admin() as admin:
            return register_agent(admin, name, owner_id, **fields)

    def token_for(self, agent: dict) -> str:
        """A token for an agent as returned by :meth:`register_agent`."""
        with self.client() as client:
            answer = client.post("/tokens", json={"agentId": agent["id"], "clientSecret": agent["clientSecret"]})
        assert answer.status_code == 200, answer.text
        return answer.json()["token"]


def register_agent(admin: httpx.Client, name: str = "billing-agent", owner_id: str = "team-finance",
                   **fields: Any) -> dict:
    """Register an agent through an admin client of any daemon; the 201 body ``{id, name, clientSecret}``."""
    answer = admin.post("/agents", json={"name": name, "ownerId": owner_id, **fields})
    assert answer.status_code == 201, answer.text
    return answer.json()


class Stubs(NamedTuple):
    """The generated clients of Vectra's gRPC services, on one channel."""

    agents: agents_pb2_grpc.AgentServiceStub
    tokens: tokens_pb2_grpc.TokenServiceStub
    policies: policies_pb2_grpc.PolicyServiceStub

    @classmethod
    def on(cls, channel: grpc.Channel) -> Stubs:
        return cls(
            agents_pb2_grpc.AgentServiceStub(channel),
            tokens_pb2_grpc.TokenServiceStub(channel),
            policies_pb2_grpc.PolicyServiceStub(channel),
        )


def bearer(token: str) -> tuple[tuple[str, str]]:
    """gRPC call metadata carrying a token, as REST's ``Authorization`` header."""
    return (("authorization", f"Bearer {token}"),)
