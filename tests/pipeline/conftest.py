"""The pipeline under test: real nats-server, real gateway/agents/workspace processes, the real
SDKs talking to the fake LLM server on loopback."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import websocket

from orchestrator.launcher.supervisor import ServiceProcess
from tests.fakes import FakeLLM, RecordedRequest, Reply, Responder, Text
from tests.harness import System, wait_until

TASK_RE = re.compile(r"Task: (task_[0-9a-f]+)")
STAGE_RE = re.compile(r"Stage: (analysis|implementation|validation)")

PLAN = {
    "summary": "A script that prints hello world.",
    "requirements": ["print hello world"],
    "design": "One Python file.",
    "files": [{"path": "hello_world.py", "purpose": "the program"}],
    "run_command": "python hello_world.py",
}
GOOD_FILES = {
    "summary": "wrote the script",
    "files": [{"path": "hello_world.py", "content": "print('Hello, World!')\n"}],
}
BROKEN_FILES = {
    "summary": "wrote the script",
    "files": [{"path": "hello_world.py", "content": "print('Hello, World!'\n"}],
}
REVIEW_OK = {"passed": True, "summary": "looks right", "findings": []}

# A project whose plan names tests and an entry point: validation runs them in the sandbox.
CALC_PLAN = {
    "summary": "A calculator module with tests.",
    "requirements": ["add two numbers"],
    "design": "calc.py with add(); test_calc.py tests it; calc.py prints a sum when run.",
    "files": [
        {"path": "calc.py", "purpose": "the module"},
        {"path": "test_calc.py", "purpose": "its tests"},
    ],
    "run_command": "python calc.py",
    "test_command": "python -m pytest -q",
    "entry_point": "calc.py",
    "entry_kind": "script",
    "port": 0,
    "health_path": "/",
    "read_files": [],
}
TEST_CALC = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"


def calc(body: str) -> dict[str, Any]:
    module = f"def add(a, b):\n    {body}\n\n\nif __name__ == '__main__':\n    print(add(2, 3))\n"
    return {
        "summary": "calculator",
        "files": [
            {"path": "calc.py", "content": module},
            {"path": "test_calc.py", "content": TEST_CALC},
        ],
        "delete": [],
    }


@contextmanager
def recorded_frames(system: System) -> Iterator[list[dict[str, Any]]]:
    """Every ``/ws`` frame while the block runs, read on a thread; the list is kept after it."""
    frames: list[dict[str, Any]] = []
    stop = threading.Event()
    thread = _collect_frames(f"{system.ws_url}/ws", frames, stop)
    try:
        yield frames
    finally:
        stop.set()
        thread.join(5)


def _collect_frames(
    url: str, frames: list[dict[str, Any]], stop: threading.Event
) -> threading.Thread:
    ws = websocket.create_connection(url, timeout=30)

    def run() -> None:
        ws.settimeout(0.2)
        while not stop.is_set():
            try:
                raw = ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except websocket.WebSocketException:
                return
            frames.append(json.loads(raw))
        ws.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def task_of(request: RecordedRequest) -> str | None:
    match = TASK_RE.search(request.text)
    return match.group(1) if match else None


def stage_of(request: RecordedRequest) -> str | None:
    match = STAGE_RE.search(request.text)
    return match.group(1) if match else None


def answer(stage: str | None, **kwargs: Any) -> Text:
    body = {"analysis": PLAN, "implementation": GOOD_FILES, "validation": REVIEW_OK}
    return Text(json.dumps(body.get(stage or "", {})), **kwargs)


def happy(request: RecordedRequest) -> Reply:
    return answer(stage_of(request))


def held(needle: str, release: threading.Event, stage: str | None = None) -> Responder:
    """``happy``, except that the answer to a prompt containing ``needle`` (at ``stage`` only,
    when given) is held until ``release`` is set."""

    def respond(request: RecordedRequest) -> Reply:
        current = stage_of(request)
        if needle in request.text and stage in (None, current):
            return answer(current, gate=release)
        return answer(current)

    return respond


def calls(fake: FakeLLM, task_id: str, stage: str | None = None) -> list[RecordedRequest]:
    return [
        r
        for r in fake.requests
        if task_of(r) == task_id and (stage is None or stage_of(r) == stage)
    ]


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server.answer_with(happy)


FAST_ENV = {
    "RATE_LIMIT_REQUIREMENTS": "100000",
    "AGENTS_ACK_WAIT": "3",
    "AGENTS_LLM_MAX_RETRIES": "1",
    "AGENTS_LLM_TIMEOUT": "20",
    "AGENTS_HEARTBEAT_INTERVAL": "0.5",
    "AGENTS_SETTINGS_REFRESH": "0.5",
    "HEALTH_INTERVAL": "1",
}


@pytest.fixture
def pipeline(system: System, fake: FakeLLM) -> System:
    """The system's env points at the fake; start services with ``system.start_all(...)``."""
    system.env.update({**fake.env(), **FAST_ENV})
    return system


class Api:
    def __init__(self, system: System) -> None:
        self.system = system
        self.http = httpx.Client(base_url=system.base_url, timeout=15)

    def submit(self, requirement: str = "print hello world", **body: Any) -> dict[str, Any]:
        response = self.http.post("/api/requirements", json={"requirement": requirement, **body})
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def task(self, task_id: str) -> dict[str, Any]:
        response = self.http.get(f"/api/tasks/{task_id}")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def events(self, task_id: str) -> list[dict[str, Any]]:
        data = self.http.get(f"/api/tasks/{task_id}/events").json()
        events: list[dict[str, Any]] = data["events"]
        return events

    def types(self, task_id: str) -> list[str]:
        return [e["type"] for e in self.events(task_id)]

    def wait(
        self,
        task_id: str,
        until: Callable[[dict[str, Any]], bool] = lambda t: t["status"] == "completed",
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            response = self.http.get(f"/api/tasks/{task_id}")
            task: dict[str, Any] = response.json() if response.status_code == 200 else {}
            return task if task and until(task) else None

        def said() -> str:
            now = self.http.get(f"/api/tasks/{task_id}").text
            return (
                f"task {task_id} to reach the state, now: {now}\n"
                f"events: {self.types(task_id)}\n{self.system.all_logs()}"
            )

        task: dict[str, Any] = wait_until(reached, said, timeout=timeout)
        return task

    def wait_events(
        self, task_id: str, until: Callable[[list[str]], bool], timeout: float = 60.0
    ) -> list[str]:
        def matched() -> list[str] | None:
            response = self.http.get(f"/api/tasks/{task_id}/events")
            if response.status_code != 200:
                return None
            types = [e["type"] for e in response.json()["events"]]
            return types if until(types) else None

        def said() -> str:
            now = self.types(task_id)
            return f"events of {task_id} to match, now: {now}\n{self.system.all_logs()}"

        types: list[str] = wait_until(matched, said, timeout=timeout)
        return types


@pytest.fixture
def api(pipeline: System) -> Iterator[Api]:
    client = Api(pipeline)
    yield client
    client.http.close()


def workspace_file(system: System, relative: str) -> Path:
    return system.data_dir / "workspace" / relative


# -- one running system shared by the tests that need nothing special -------------------------
# Starting gateway + agents + workspace costs seconds (the SDK imports alone take ~3 s of CPU),
# so tests whose settings are the defaults share one system and one fake; each test scripts the
# fake afresh and works on its own tasks.


@pytest.fixture(scope="session")
def shared_fake() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture(scope="session")
def shared_system(
    tmp_path_factory: pytest.TempPathFactory, shared_fake: FakeLLM
) -> Iterator[System]:
    system = System(root=tmp_path_factory.mktemp("pipeline-shared"))
    system.start_nats()
    system.env.update({**shared_fake.env(), **FAST_ENV})
    try:
        system.start_all(("gateway", "agents", "workspace"))
        yield system
    finally:
        system.stop()


class Live:
    def __init__(self, system: System, fake: FakeLLM) -> None:
        self.system = system
        self.fake = fake
        self.api = Api(system)
        self._restarts = 0

    def process(self, service: str) -> ServiceProcess:
        running = [p for p in self.system.processes if p.service == service and p.running()]
        assert running, f"no {service} running"
        return running[-1]

    def restart(self, service: str) -> ServiceProcess:
        """Start another instance of ``service`` (after a test killed one)."""
        self._restarts += 1
        return self.system.start(service, log_name=f"{service}-restart-{self._restarts}")

    def ensure_running(self) -> None:
        for service in ("gateway", "agents", "workspace"):
            if not any(p.service == service and p.running() for p in self.system.processes):
                self.system.wait_ready({service: self.restart(service)})


@pytest.fixture
def live(shared_system: System, shared_fake: FakeLLM) -> Iterator[Live]:
    for endpoint in (shared_fake.anthropic, shared_fake.openai):
        endpoint.queue.clear()
        endpoint.responder = happy
        endpoint.required_key = None
    session = Live(shared_system, shared_fake)
    session.ensure_running()
    yield session
    session.api.http.close()
    session.ensure_running()
