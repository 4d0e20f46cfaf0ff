"""One real system for every client and CLI test: nats-server, the four services, the fake LLM.

Starting the services costs seconds of CPU, so the tests of this package share one system (and
one fake); each test scripts the fake afresh and works on its own tasks. A test that kills the
gateway starts another on the same port before it ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orchestrator.launcher.nats_server import free_port
from orchestrator.launcher.supervisor import ServiceProcess
from orchestrator_client import Client
from tests.fakes import FakeLLM
from tests.harness import System, wait_until
from tests.pipeline.conftest import FAST_ENV, happy

SERVICES = ("gateway", "agents", "workspace", "archive")
TOKEN = "client-tests-token-0123456789"  # the guarded gateway's


@pytest.fixture(scope="package")
def fake() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture(autouse=True)
def _happy_fake(fake: FakeLLM) -> None:
    fake.anthropic.queue.clear()
    fake.openai.queue.clear()
    fake.answer_with(happy)


@pytest.fixture(scope="package")
def system(tmp_path_factory: pytest.TempPathFactory, fake: FakeLLM) -> Iterator[System]:
    system = System(root=tmp_path_factory.mktemp("clients"))
    system.start_nats()
    system.env.update({**fake.env(), **FAST_ENV})
    try:
        system.start_all(SERVICES)
        yield system
    finally:
        system.stop()


@pytest.fixture
def client(system: System) -> Iterator[Client]:
    with Client(system.base_url, timeout=30) as c:
        yield c


def start_gateway(system: System, name: str, port: int, **env: str) -> ServiceProcess:
    """Another gateway process of the same system on ``port``, once its health route answers."""
    process = system.start("gateway", log_name=name, GATEWAY_PORT=str(port), **env)
    token = env.get("GATEWAY_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    def healthy() -> bool:
        if not process.running():
            raise RuntimeError(f"{name} exited:\n{system.log(name)}")
        health = httpx.get(f"http://127.0.0.1:{port}/api/health", headers=headers, timeout=2)
        return health.status_code == 200 and health.json()["services"]["agents"]["status"] == "up"

    wait_until(healthy, lambda: f"{name} to answer:\n{system.log(name)}", timeout=30)
    return process


@pytest.fixture(scope="package")
def guarded(system: System) -> Iterator[str]:
    """A second gateway wanting ``TOKEN``, with an archive budget of 2 a minute: its URL."""
    port = free_port()
    process = start_gateway(
        system, "gateway-guarded", port, GATEWAY_TOKEN=TOKEN, RATE_LIMIT_ARCHIVE="2"
    )
    yield f"http://127.0.0.1:{port}"
    process.stop(timeout=10)


def workspace_file(system: System, relative: str) -> Path:
    return system.data_dir / "workspace" / relative
