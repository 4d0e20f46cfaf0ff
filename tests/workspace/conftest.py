"""A gateway and a workspace service (with their NATS) shared by the tests of a module, with
short sandbox limits so attacks and timeouts resolve in seconds."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from orchestrator.events import EventStore, subjects
from orchestrator.events.catalog import Event, FileWritten
from orchestrator.events.connection import files_store, provision
from orchestrator.events.nats_settings import NatsSettings
from orchestrator.workspace.sandbox import landlock
from tests.harness import System, eventually, running

requires_bwrap = pytest.mark.skipif(
    shutil.which("bwrap") is None,
    reason="bubblewrap is not installed here (apt-get install bubblewrap; .ci/run installs it)",
)
requires_landlock = pytest.mark.skipif(
    landlock.abi_version() < 1,
    reason="this kernel has no Landlock (5.13+, enabled at boot): the Landlock mode cannot run",
)
# Every sandbox mode the battery runs against (CI has both).
SANDBOX_MODES = [
    pytest.param("bwrap", marks=requires_bwrap, id="bwrap"),
    pytest.param("landlock", marks=requires_landlock, id="landlock"),
]

CANARY = "sk-ant-CANARY-must-never-leak-0123456789"

# A sandbox uid of this test session alone: "no sandbox process left" and RLIMIT_NPROC then count
# only what these tests started, even while another session runs code on the same machine.
SANDBOX_UID = 62000 + os.getpid() % 3000

TEST_ENV = {
    "SANDBOX_UID": str(SANDBOX_UID),
    "SANDBOX_GID": str(SANDBOX_UID),
    "RATE_LIMIT_FILES": "100000",
    "SANDBOX_CPU_SECONDS": "3",
    "SANDBOX_PROCESSES": "48",
    "SANDBOX_TMP_BYTES": str(16 << 20),
    "SANDBOX_SHM_BYTES": str(16 << 20),
    "SANDBOX_WORK_BYTES": str(16 << 20),
    "EXEC_TIMEOUT": "10",
    "CHECK_SERVER_STARTUP": "6",
    "WORKER_BACKOFF": "[0.2, 0.5, 1.0]",
    "EXEC_SERVER_LIFETIME": "60",
    "EXEC_MAX_OUTPUT_BYTES": "200000",
    "EXEC_MAX_OUTPUT_LINES": "2000",
    # Secrets in the service's own environment: executed code must never see them.
    "ANTHROPIC_API_KEY": CANARY,
    "OPENAI_API_KEY": CANARY,
}


@pytest.fixture(scope="module")
def ws_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with running(
        tmp_path_factory.mktemp("workspace"), ("gateway", "workspace"), TEST_ENV
    ) as system:
        yield system


def system_in_mode(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    extra: dict[str, str] | None = None,
) -> Iterator[System]:
    """A module's system in the sandbox mode of its parameter (one of SANDBOX_MODES)."""
    env = {**TEST_ENV, "SANDBOX_MODE": request.param, **(extra or {})}
    root = tmp_path_factory.mktemp(f"workspace-{request.param}")
    with running(root, ("gateway", "workspace"), env) as system:
        yield system


@contextlib.asynccontextmanager
async def jetstream_of(system: System) -> AsyncIterator[JetStreamContext]:
    """A JetStream context on ``system``'s NATS, the streams provisioned."""
    assert system.nats is not None
    client: NATS = await nats.connect(system.nats.url)
    js = client.jetstream(timeout=10)
    await provision(js, NatsSettings())
    try:
        yield js
    finally:
        await client.close()


@pytest.fixture
async def wjs(ws_system: System) -> AsyncIterator[JetStreamContext]:
    async with jetstream_of(ws_system) as js:
        yield js


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
    digest, _ = await write_file_at(js, path, data)
    return digest


async def write_file_at(js: JetStreamContext, path: str, data: bytes) -> tuple[str, int]:
    """:func:`write_file`, telling also the stream sequence of its event."""
    digest = await put_content(js, data)
    seq = await EventStore(js).append(
        subjects.WORKSPACE, FileWritten(path=path, digest=digest, size=len(data), source="api")
    )
    return digest, seq


async def append_in_order(store: EventStore, subject: str, *events: Event) -> int:
    """Append ``events`` to an empty ``subject`` one after the other, each expecting the one
    before (as the pipeline writes a task); the last one's sequence."""
    version = 0
    for event in events:
        version = await store.append(subject, event, expected_last_seq=version)
    return version


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


# The seed's example program: a FastAPI hello world, runnable with a preview on port 8000.
HELLO_API = b"""from fastapi import FastAPI
import uvicorn

app = FastAPI()


@app.get("/")
def root():
    return {"message": "Hello World"}


if __name__ == "__main__":
    print("Starting server on port 8000...")
    uvicorn.run(app, host="127.0.0.1", port=8000)
"""


FINAL = {"completed", "failed", "stopped", "timed_out", "rejected"}


async def start_run(system: System, js: JetStreamContext, path: str, content: bytes) -> Any:
    """Write ``path`` into the workspace, wait until it is listed, run it; the run's answer."""
    digest = await write_file(js, path, content)
    await wait_listed(system, "workspace/" + path, digest)
    response = await api(system, "POST", f"/api/workspace/run/{path}")
    assert response.status_code == 200, response.text
    return response.json()


async def wait_finished(system: System, execution_id: str, timeout: float = 60) -> Any:
    async def check() -> Any:
        body = (await api(system, "GET", f"/api/workspace/executions/{execution_id}")).json()
        return body if body["status"] in FINAL else None

    return await eventually(check, timeout=timeout, interval=0.2, what=f"{execution_id} finished")


async def collect_stream(url: str, timeout: float = 60) -> list[dict[str, Any]]:
    """Every frame of an execution stream until the server closes it."""
    import json

    import websockets

    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout), websockets.connect(url, max_size=None) as ws:
        async for message in ws:
            frames.append(json.loads(message))
    return frames


async def run_output(system: System, execution_id: str) -> tuple[list[str], dict[str, Any]]:
    """The output lines and the final frame of a run, from its stream."""
    frames = await collect_stream(f"{system.ws_url}/ws/execution/{execution_id}")
    lines = [f["output"] for f in frames if f["type"] == "execution_output"]
    final = frames[-1] if frames else {}
    return lines, final


def sandbox_processes(uid: int = SANDBOX_UID) -> list[int]:
    """Processes still running as the sandbox uid."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("Uid:") and int(line.split()[1]) == uid:
                found.append(int(entry.name))
    return found
