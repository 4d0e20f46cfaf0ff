"""Audit: a secret given to the system never comes back out of it.

Canary keys go in every way a key can: the agents' environment (``ANTHROPIC_API_KEY`` /
``OPENAI_API_KEY``), ``POST /api/settings`` (both provider keys, an agent's own key, and a base
URL with ``user:password@``). Then the real system runs a task to completion, tasks whose
provider answers 401 and 500 with the key echoed in its error text, a task whose base URL carries
credentials, and a workspace file that prints its whole environment. No canary may appear in any
event, dead letter, service log, ``/ws`` frame or API response body seen meanwhile.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import websockets
from nats.js import JetStreamContext
from nats.js.errors import APIError

from orchestrator.events import EventStore, subjects
from tests.fakes import Error, FakeLLM, Text
from tests.harness import System, eventually
from tests.pipeline.conftest import FAST_ENV, GOOD_FILES, happy
from tests.workspace.conftest import SANDBOX_UID, collect_stream, jetstream_of, write_file

ENV_ANTHROPIC = "sk-ant-ENVCANARY-aaaa-0123456789abcdef"
ENV_OPENAI = "sk-ENVCANARY-oooo-0123456789abcdef"
KV_ANTHROPIC = "sk-ant-KVCANARY-aaaa-0123456789abcdef"
KV_OPENAI = "sk-KVCANARY-oooo-0123456789abcdef"
KV_AGENT = "sk-AGENTCANARY-cccc-0123456789abcdef"
URL_PASSWORD = "URLCANARYpw0123456789abcdef"
CANARIES = (ENV_ANTHROPIC, ENV_OPENAI, KV_ANTHROPIC, KV_OPENAI, KV_AGENT, URL_PASSWORD)

PRINT_ENV = b"""import os
if __name__ == "__main__":
    for name, value in sorted(os.environ.items()):
        print(f"ENV {name}={value}")
    print("ENV-DONE")
"""


class Seen:
    """Every response body the test fetched, so the audit can search them all."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.bodies: list[str] = []

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await self.http.request(method, path, **kwargs)
        self.bodies.append(f"{method} {path} -> {response.status_code}\n{response.text}")
        return response

    async def get(self, path: str) -> Any:
        response = await self.request("GET", path)
        assert response.status_code == 200, response.text
        return response.json()

    async def submit(self, requirement: str) -> str:
        response = await self.request(
            "POST", "/api/requirements", json={"requirement": requirement}
        )
        assert response.status_code == 200, response.text
        task_id: str = response.json()["task_id"]
        return task_id

    async def wait_task(self, task_id: str, status: str) -> dict[str, Any]:
        async def check() -> dict[str, Any] | None:
            task: dict[str, Any] = await self.get(f"/api/tasks/{task_id}")
            return task if task["status"] == status else None

        result: dict[str, Any] = await eventually(check, f"{task_id} {status}")
        return result


async def collect_frames(url: str, frames: list[str], stop: asyncio.Event) -> None:
    async with websockets.connect(url, max_size=None) as ws:
        while not stop.is_set():
            try:
                frames.append(str(await asyncio.wait_for(ws.recv(), timeout=0.5)))
            except TimeoutError:
                continue


async def test_no_canary_key_leaves_the_system(system: System) -> None:
    with FakeLLM() as fake:
        system.env.update(
            {
                **fake.env(anthropic_key=ENV_ANTHROPIC, openai_key=ENV_OPENAI),
                **FAST_ENV,
                "SANDBOX_UID": str(SANDBOX_UID),
                "SANDBOX_GID": str(SANDBOX_UID),
                "RATE_LIMIT_FILES": "100000",
                "EXEC_TIMEOUT": "20",
            }
        )
        fake.answer_with(happy)
        await asyncio.to_thread(system.start_all, ("gateway", "agents", "workspace"))
        frames: list[str] = []
        stop = asyncio.Event()
        collector = asyncio.create_task(collect_frames(f"{system.ws_url}/ws", frames, stop))
        async with httpx.AsyncClient(base_url=system.base_url, timeout=30) as http:
            seen = Seen(http)
            await _keys_through_settings(seen)
            tasks = await _tasks_that_meet_the_keys(seen, fake)
            async with jetstream_of(system) as js:
                frames.extend(await _print_the_environment(system, js, seen))
                # Let the frames of all of it reach the WebSocket client.
                await asyncio.sleep(1.5)
                stop.set()
                await collector
                await _read_every_view(seen, tasks)
                store = EventStore(js)
                events = [e.envelope.model_dump_json() for e in await store.read("events.>")]
                dead = await _raw_stream(js, subjects.DEAD_LETTER_STREAM)

        assert events and frames and seen.bodies
        logs = {p.name: p.read_text(errors="replace") for p in system.logs.glob("*.log")}
        assert logs
        places: dict[str, list[str]] = {
            "event": events,
            "dead letter": dead,
            "ws frame": frames,
            "api response": seen.bodies,
            **{f"log {name}": [text] for name, text in logs.items()},
        }
        leaks = [
            f"{canary} in {where}: ...{_around(text, canary)}"
            for where, texts in places.items()
            for text in texts
            for canary in CANARIES
            if canary in text
        ]
        assert not leaks, "\n\n".join(leaks)


async def _keys_through_settings(seen: Seen) -> None:
    """Both provider keys and an agent's own key through ``POST /api/settings``."""
    saved = await seen.request(
        "POST",
        "/api/settings",
        json={
            "anthropic_api_key": KV_ANTHROPIC,
            "openai_api_key": KV_OPENAI,
            "agents": {"codex": {"api_key": KV_AGENT}},
        },
    )
    assert saved.status_code == 200, saved.text
    # A bad value next to a key: the 400 must not echo the key either.
    bad = await seen.request(
        "POST", "/api/settings", json={"openai_api_key": KV_OPENAI + " with space"}
    )
    assert bad.status_code == 400


async def _tasks_that_meet_the_keys(seen: Seen, fake: FakeLLM) -> tuple[str, ...]:
    """Tasks that complete, meet a provider echoing the key in its errors, and call a base URL
    with a password: their ids."""

    async def keys_in_use() -> bool:
        return {r.api_key for r in fake.requests} >= {KV_ANTHROPIC, KV_AGENT}

    # 1. A task that completes, with the keys from settings.
    done = await seen.submit("print hello world")
    await seen.wait_task(done, "completed")
    assert await keys_in_use(), {r.api_key for r in fake.requests}

    # 2. The provider rejects the key and echoes it in its error text.
    fake.anthropic.push(Error(401, f"Incorrect API key provided: {KV_ANTHROPIC}"))
    rejected = await seen.submit("print hello again")
    failed = await seen.wait_task(rejected, "failed")
    assert "401" in json.dumps(failed), failed

    # 3. The provider fails with 500 (every retry), echoing the key.
    fake.anthropic.push(*[Error(500, f"boom for key {KV_ANTHROPIC}")] * 3)
    broken = await seen.submit("print hello a third time")
    await seen.wait_task(broken, "failed")

    # 3b. The implementer's stream breaks midway with an error that echoes its key: the
    # stage fails (the SDK alone retries) and the error text goes nowhere.
    fake.openai.push(Text(json.dumps(GOOD_FILES), stream_error=f"stream broke for key {KV_AGENT}"))
    midway = await seen.submit("print hello, with a stream that breaks")
    failed = await seen.wait_task(midway, "failed")
    assert failed["error"]["code"] == "AGENT_UNAVAILABLE", failed

    # 4. A base URL with credentials for the analyst.
    with_creds = fake.url.replace("http://", f"http://user:{URL_PASSWORD}@")
    saved = await seen.request(
        "POST", "/api/settings", json={"agents": {"claude": {"base_url": with_creds}}}
    )
    assert saved.status_code == 200, saved.text

    async def heartbeat_has_it() -> bool:
        agents = await seen.get("/api/health")
        return "***@" in json.dumps(agents)

    await eventually(heartbeat_has_it, "agents heartbeat shows the new base URL")
    via_url = await seen.submit("print hello via a URL with a password")
    await eventually(lambda: _settled(seen, via_url), f"{via_url} ran its analysis", timeout=60)
    return done, rejected, broken, midway, via_url


async def _print_the_environment(system: System, js: JetStreamContext, seen: Seen) -> list[str]:
    """5. A workspace file that prints its whole environment, run: its output frames."""
    await write_file(js, "print_env.py", PRINT_ENV)

    async def listed() -> bool:
        files = (await seen.get("/api/workspace/files"))["files"]
        return any(f["path"] == "workspace/print_env.py" for f in files)

    await eventually(listed, "print_env.py listed")
    run = await seen.request("POST", "/api/workspace/run/print_env.py")
    assert run.status_code == 200, run.text
    execution_id = run.json()["execution_id"]

    async def finished() -> Any:
        body = await seen.get(f"/api/workspace/executions/{execution_id}")
        return body if body["status"] not in ("requested", "running") else None

    await eventually(finished, "the env printer finished")
    output = await collect_stream(f"{system.ws_url}/ws/execution/{execution_id}")
    lines = [f.get("output", "") for f in output]
    assert "ENV-DONE" in lines and any(x.startswith("ENV PATH=") for x in lines), lines
    return [json.dumps(frame) for frame in output]


async def _read_every_view(seen: Seen, tasks: tuple[str, ...]) -> None:
    """Every read the API offers of what happened, into ``seen``."""
    for path in ("/api/tasks", "/api/agents", "/api/health", "/api/settings"):
        await seen.get(path)
    for task_id in tasks:
        await seen.get(f"/api/tasks/{task_id}")
        await seen.get(f"/api/tasks/{task_id}/events")
    await seen.get("/api/workspace/executions")


async def _settled(seen: Seen, task_id: str) -> bool:
    task = await seen.get(f"/api/tasks/{task_id}")
    return bool(task["status"] in ("failed", "completed"))


async def _raw_stream(js: Any, stream: str) -> list[str]:
    """Every message of ``stream`` as text (headers and data), however it was written."""
    info = await js.stream_info(stream)
    texts = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            msg = await js.get_msg(stream, seq)
        except APIError:  # a deleted sequence (not found)
            continue
        texts.append(f"{msg.headers!r} {msg.data!r}")
    return texts


def _around(text: str, needle: str) -> str:
    at = text.find(needle)
    return text[max(0, at - 200) : at + 60]
