"""Start the real daemon as a subprocess on free ports with its own data directory."""

from __future__ import annotations

import os
import random
import re
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


#: Ports below Linux's ephemeral range (32768-60999): the kernel never hands one of these to an outgoing
#: connection, so a client socket can't take a daemon's port between the pick and the daemon's bind.
_PORTS = range(20000, 32768)
#: The daemon's startup error when one of its ports is taken (``StartupError`` in vectra/server.py).
_PORT_TAKEN = re.compile(r"cannot start: (REST|gRPC) port \d+")
_START_ATTEMPTS = 5


def free_port() -> int:
    """A port that was free just now. Another process (another test worker) may still take it before it is
    used: :meth:`Daemon.start` starts again on new ports when that happens."""
    while True:
        port = random.choice(_PORTS)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


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

    def start(self, timeout: float = 30) -> Daemon:
        """Start and wait until both ports answer. If the daemon could not bind a port (another test's daemon
        took it since it was picked), start again on new ports, a few times."""
        for _ in range(_START_ATTEMPTS):
            if self._start_once(timeout):
                return self
            self.rest_port, self.grpc_port = free_port(), free_port()
        raise RuntimeError(f"daemon found its ports taken {_START_ATTEMPTS} times:\n{self.log()}")

    def _start_once(self, timeout: float) -> bool:
        """True once the daemon answers; False if it exited because one of its ports was taken."""
        env = clean_env()
        env.update({
            "VECTRA_DATA_DIR": str(self.data_dir),
            "VECTRA_REST_PORT": str(self.rest_port),
            "VECTRA_GRPC_PORT": str(self.grpc_port),
            "VECTRA_JWT_SECRET": JWT_SECRET,
            "VECTRA_UPSTREAM_ALLOW_CIDRS": "127.0.0.0/8",
            # bcrypt's least cost: the tests register and sign in some thousand agents, and the cost factor changes
            # nothing but the time (a test that sets its own keeps it)
            "VECTRA_BCRYPT_ROUNDS": "4",
        })
        if self.admin_token:
            env["VECTRA_ADMIN_TOKEN"] = self.admin_token
        env.update(self.extra_env)
        logged_before = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.command, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None:
                this_start = self.log_path.read_bytes()[logged_before:].decode(errors="replace")
                if _PORT_TAKEN.search(this_start):
                    return False
                raise RuntimeError(f"daemon exited with {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"daemon did not start within {timeout}s:\n{self.log()}")
            time.sleep(0.05)
        return True

    def _answers(self) -> bool:
        """Both surfaces answer: REST's health with 200, gRPC's channel ready."""
        try:
            if httpx.get(f"{self.url}/health", timeout=1).status_code != 200:
                return False
            with grpc.insecure_channel(self.grpc_target) as channel:
                grpc.channel_ready_future(channel).result(timeout=1)
        except (httpx.HTTPError, grpc.FutureTimeoutError):
            return False
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
