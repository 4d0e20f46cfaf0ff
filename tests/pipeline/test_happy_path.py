"""A requirement goes all the way: four stages, files in the workspace, every update live."""

from __future__ import annotations

from typing import Any

from tests.fakes import ANTHROPIC, OPENAI
from tests.harness import wait_until

from .conftest import Live, calls, recorded_frames, workspace_file


def test_requirement_completes_with_four_stages_files_and_live_updates(live: Live) -> None:
    system, api = live.system, live.api
    with recorded_frames(system) as frames:
        submitted = api.submit("print hello world", priority=7, metadata={"user_id": "u1"})
        assert submitted["status"] == "created"
        assert submitted["agents_assigned"] == ["claude", "codex", "claude2", "ide"]
        assert submitted["estimated_completion"]
        task_id = submitted["task_id"]

        _check_the_record(live, task_id)
        _check_the_model_calls(live, task_id)
        # The WebSocket saw every task_update, in stream order, ending in completed.
        wait_until(
            lambda: any(
                f.get("type") == "task_update" and f.get("status") == "completed" for f in frames
            ),
            what="completed frame",
        )
    _check_the_frames(live, task_id, frames)
    agents = api.http.get("/api/agents").json()["agents"]
    assert set(agents) == {"claude", "codex", "claude2", "ide"}
    assert agents["codex"]["status"] == "idle" and agents["codex"]["last_activity"]
    assert agents["claude"]["specialization"] == "Strategic analysis and architecture"


def _check_the_record(live: Live, task_id: str) -> None:
    """The task, its files on disk and its events: four stages, each completed once."""
    system, api = live.system, live.api
    task = api.wait(task_id)
    assert task["progress"] == 100 and task["priority"] == 7
    assert all(
        task["results"][stage]
        for stage in ("analysis", "implementation", "validation", "integration")
    )
    assert task["results"]["analysis"] == "A script that prints hello world."
    assert [f["path"] for f in task["files"]] == ["implementation/hello_world.py"]
    assert set(task["usage"]) >= {"analysis", "implementation", "validation"}
    assert task["usage"]["analysis"]["input_tokens"] > 0
    assert task["cost_usd"] > 0
    assert task["agents"] == {
        "analyst": "claude",
        "implementer": "codex",
        "validator": "claude2",
        "integrator": "ide",
    }
    on_disk = workspace_file(system, "implementation/hello_world.py")
    wait_until(on_disk.exists, what=str(on_disk))
    assert on_disk.read_text() == "print('Hello, World!')\n"

    types = api.types(task_id)
    assert types[0] == "TaskSubmitted" and types[-1] == "TaskCompleted"
    for stage in ("analysis", "implementation", "validation", "integration"):
        assert (
            sum(
                1
                for e in api.events(task_id)
                if e["type"] == "StageCompleted" and e["data"]["stage"] == stage
            )
            == 1
        )


def _check_the_model_calls(live: Live, task_id: str) -> None:
    fake = live.fake
    # One model call per model stage, each with the key from the environment.
    assert len(calls(fake, task_id, "analysis")) == 1
    assert len(calls(fake, task_id, "implementation")) == 1
    assert len(calls(fake, task_id, "validation")) == 1
    mine = calls(fake, task_id)
    assert {r.api_key for r in mine if r.endpoint == ANTHROPIC} == {"sk-ant-test"}
    assert {r.api_key for r in mine if r.endpoint == OPENAI} == {"sk-test"}
    assert all(r.stream for r in mine)


def _check_the_frames(live: Live, task_id: str, frames: list[dict[str, Any]]) -> None:
    """Every frame of the task, in stream order, one per event it shows."""
    api = live.api
    updates = [f for f in frames if f.get("type") == "task_update" and f["task_id"] == task_id]
    seqs = [f["event_seq"] for f in updates]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    statuses = [(f["status"], f["stage"], f["progress"]) for f in updates]
    assert statuses == [
        ("created", None, 0),
        ("in_progress", "analysis", 0),
        ("in_progress", "analysis", 25),
        ("in_progress", "implementation", 25),
        ("in_progress", "implementation", 50),
        ("in_progress", "validation", 50),
        ("in_progress", "validation", 75),
        ("in_progress", "integration", 75),
        ("in_progress", "integration", 100),
        ("completed", "integration", 100),
    ]
    task_events = [e for e in api.events(task_id)]
    checks_events = ("ChecksRequested", "ChecksRecorded")
    expected_seqs = [
        e["seq"] for e in task_events if e["type"] not in ("StageFailed", *checks_events)
    ]
    assert seqs == expected_seqs
    # The sandbox's part of validation has frames of its own, one per event.
    checks_frames = [
        f for f in frames if f.get("type") == "validation_checks" and f["task_id"] == task_id
    ]
    assert [f["event_seq"] for f in checks_frames] == [
        e["seq"] for e in task_events if e["type"] in checks_events
    ]
    assert [f["status"] for f in checks_frames] == ["running", "recorded"]
    assert any(f.get("type") == "agent_status" and f["agent"] == "codex" for f in frames)
    outputs = [f for f in frames if f.get("type") == "model_output" and f["task_id"] == task_id]
    assert {f["stage"] for f in outputs} == {"analysis", "implementation", "validation"}


def test_an_idempotency_key_returns_the_same_task_never_a_second(live: Live) -> None:
    api = live.api
    headers = {"Idempotency-Key": "order-42"}
    body = {"requirement": "idempotent hello", "priority": 3}
    first = api.http.post("/api/requirements", json=body, headers=headers)
    again = api.http.post("/api/requirements", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    task_id = first.json()["task_id"]
    assert api.types(task_id).count("TaskSubmitted") == 1
    listed = [
        t
        for t in api.http.get("/api/tasks").json()["tasks"]
        if t["requirement"] == body["requirement"]
    ]
    assert len(listed) == 1
    other = api.http.post(
        "/api/requirements", json={"requirement": "something else"}, headers=headers
    )
    assert other.status_code == 409 and other.json()["error"]["code"] == "CONFLICT"
    api.wait(task_id)


def test_bad_submissions_and_unknown_tasks_get_the_error_envelope(live: Live) -> None:
    http = live.api.http
    for body, field in [
        ({}, "requirement"),
        ({"requirement": ""}, "requirement"),
        ({"requirement": "   "}, "requirement"),
        ({"requirement": 5}, "requirement"),
        ({"requirement": "x", "priority": 11}, "priority"),
        ({"requirement": "x", "priority": 0}, "priority"),
        ({"requirement": "x", "priority": "high"}, "priority"),
        ({"requirement": "x", "metadata": []}, "metadata"),
    ]:
        response = http.post("/api/requirements", json=body)
        assert response.status_code == 400, (body, response.text)
        error = response.json()["error"]
        assert error["code"] == "INVALID_REQUEST" and error["details"]["field"] == field, body
    # priority defaults to the settings document's default_priority (5)
    assert live.api.submit("defaults")["priority"] == 5
    for path in ("/api/tasks/task_missing", "/api/tasks/task_missing/events", "/api/tasks/a.b"):
        response = http.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "TASK_NOT_FOUND"
