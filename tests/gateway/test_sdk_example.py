"""The contract's Python SDK example, verbatim, against a running system."""

# ruff: noqa: W293 - the example's blank lines carry indentation, kept as published

from __future__ import annotations

import json
from typing import Any

import websocket

from tests.fakes import FakeLLM
from tests.harness import System, wait_until

# Verbatim from the API reference's "SDK Example (Python)" (its class, exactly as published;
# a string so no formatter ever touches it). Only the usage's base URL differs: tests run on a
# free port, not 8100.
SDK_EXAMPLE = """\
import requests
import websocket

class OrchestratorClient:
    def __init__(self, base_url="http://localhost:8100"):
        self.base_url = base_url
    
    def submit_requirement(self, requirement, priority=5):
        response = requests.post(
            f"{self.base_url}/api/requirements",
            json={"requirement": requirement, "priority": priority}
        )
        return response.json()
    
    def get_task_status(self, task_id):
        response = requests.get(f"{self.base_url}/api/tasks/{task_id}")
        return response.json()
    
    def list_workspace_files(self):
        response = requests.get(f"{self.base_url}/api/workspace/files")
        return response.json()
"""


def test_sdk_example_works_verbatim(gateway_system: System, capsys: object) -> None:
    namespace: dict[str, Any] = {}
    exec(SDK_EXAMPLE, namespace)
    client = namespace["OrchestratorClient"](base_url=gateway_system.base_url)
    task = client.submit_requirement("Create a simple calculator web app")
    print(f"Task created: {task['task_id']}")

    assert task["task_id"].startswith("task_")
    assert task["status"] == "created"
    assert task["agents_assigned"] == ["claude", "codex", "claude2", "ide"]
    status = client.get_task_status(task["task_id"])
    assert status["id"] == task["task_id"]
    assert status["priority"] == 5
    files = client.list_workspace_files()
    assert isinstance(files["files"], list)

    # The example imports websocket-client: its defaults (it sends the URL's own Origin) work.
    ws = websocket.create_connection(f"{gateway_system.ws_url}/ws", timeout=10)
    try:
        frame = json.loads(ws.recv())
        assert "type" in frame
    finally:
        ws.close()


def test_sdk_example_drives_a_whole_task_on_the_full_system(system: System, fake: FakeLLM) -> None:
    """The same client against every service (LLMs faked at the wire): the task completes and
    its file shows up in ``list_workspace_files``."""
    system.env.update(fake.env())
    system.start_all()
    namespace: dict[str, Any] = {}
    exec(SDK_EXAMPLE, namespace)
    client = namespace["OrchestratorClient"](base_url=system.base_url)
    task = client.submit_requirement("Create a simple calculator web app")

    def over() -> dict[str, Any] | None:
        status: dict[str, Any] = client.get_task_status(task["task_id"])
        return status if status["status"] in ("completed", "failed") else None

    status = wait_until(over, "the SDK's task to finish", timeout=60, interval=0.3)
    assert status["status"] == "completed", status
    names = [f["name"] for f in client.list_workspace_files()["files"]]
    assert "hello.py" in names
