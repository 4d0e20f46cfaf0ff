"""A gateway and a workspace service (with their NATS) shared by the tests of a module, with
short sandbox limits so attacks and timeouts resolve in seconds."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from orchestrator.events import EventStore, subjects
from orchestrator.events.catalog import FileWritten
from orchestrator.events.connection import files_store, provision
from orchestrator.events.settings import NatsSettings
from tests.harness import System

CANARY = "sk-ant-CANARY-must-never-leak-0123456789"

TEST_ENV = {
    "RATE_LIMIT_FILES": "100000",
    "SANDBOX_CPU_SECONDS": "3",
    "SANDBOX_PROCESSES": "48",
    "EXEC_TIMEOUT": "10",
    "EXEC_SERVER_LIFETIME": "60",
    "EXEC_MAX_OUTPUT_BYTES": "200000",
    "EXEC_MAX_OUTPUT_LINES": "2000",
    # Secrets in the service's own environment: executed code must never see them.
    "ANTHROPIC_API_KEY": CANARY,
    "OPENAI_API_KEY": CANARY,
}


@pytest.fixture(scope="module")
def ws_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    system = System(root=tmp_path_factory.mktemp("workspace"), env=dict(TEST_ENV))
    system.start_nats()
    try:
        system.start_all(("gateway", "workspace"))
        yield system
    finally:
        system.stop()


@pytest.fixture
async def wjs(ws_system: System) -> AsyncIterator[JetStreamContext]:
    assert ws_system.nats is not None
    client: NATS = await nats.connect(ws_system.nats.url)
    js = client.jetstream(timeout=10)
    await provision(js, NatsSettings())
    yield js
    await client.close()


@pytest.fixture
def wstore(wjs: JetStreamContext) -> EventStore:
    return EventStore(wjs)


async def put_content(js: JetStreamContext, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    store = await files_store(js, NatsSettings())
    await store.put(digest, data)
    return digest


async def write_file(js: JetStreamContext, path: str, data: bytes) -> str:
    """Write a workspace file the way the system does: bytes by digest, then the event."""
    digest = await put_content(js, data)
    await EventStore(js).append(
        subjects.WORKSPACE, FileWritten(path=path, digest=digest, size=len(data), source="api")
    )
    return digest


async def eventually(
    check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1, what: str = ""
) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if asyncio.iscoroutine(last):
                last = await last
        except (httpx.HTTPError, AssertionError, KeyError, OSError) as exc:
            last = exc
        else:
            if last:
                return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out waiting for {what or check}: last={last!r}")


async def api(system: System, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=system.base_url, timeout=30) as client:
        return await client.request(method, path, **kwargs)


async def listed(system: System) -> dict[str, dict[str, Any]]:
    body = (await api(system, "GET", "/api/workspace/files")).json()
    return {f["path"]: f for f in body["files"]}


async def wait_listed(system: System, api_path: str, digest: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        entry = (await listed(system)).get(api_path)
        return entry if entry and entry["digest"] == digest else None

    result: dict[str, Any] = await eventually(check, what=f"{api_path} listed")
    return result


def workspace_dir(system: System, data_dir: Path | None = None) -> Path:
    return (data_dir or system.data_dir) / "workspace"
