"""Kill things mid-run: the gateway comes back with the same answers, the agents finish the task
without calling a completed stage's model again; a WebSocket client catches up with ?since=."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import websocket

from tests.fakes import RecordedRequest, Reply
from tests.harness import wait_until

from .conftest import Live, answer, calls, held, stage_of, task_of


def test_gateway_restarted_mid_run_serves_the_same_tasks_and_agents(live: Live) -> None:
    system, api, fake = live.system, live.api, live.fake
    release = threading.Event()
    fake.openai.responder = held("second", release, stage="implementation")
    first = api.submit("first")["task_id"]
    api.wait(first)
    second = api.submit("second", priority=8)["task_id"]
    api.wait(second, lambda t: t["stage"] == "implementation" and t["status"] == "in_progress")
    wait_until(lambda: len(calls(fake, second, "implementation")) == 1)

    paths = ["/api/tasks", "/api/agents", f"/api/tasks/{first}", f"/api/tasks/{second}"]
    before = {path: api.http.get(path).content for path in paths}
    assert json.loads(before["/api/agents"])["agents"]["codex"]["current_task"] == second

    live.process("gateway").kill()
    gateway = live.restart("gateway")
    system.wait_ready({"gateway": gateway})
    after = {path: api.http.get(path).content for path in paths}
    for path in paths:
        assert after[path] == before[path], path

    release.set()
    task = api.wait(second)
    assert task["results"]["integration"]


def test_agents_killed_mid_stage_finish_the_task_without_repeating_completed_stages(
    live: Live,
) -> None:
    api, fake = live.api, live.fake
    stuck = threading.Event()  # never set: the first implementation call never answers

    def first_call_hangs(request: RecordedRequest) -> Reply:
        stage = stage_of(request)
        task_id = task_of(request)
        # The request in hand is already recorded: the first one for this task hangs.
        if stage == "implementation" and task_id and len(calls(fake, task_id, stage)) == 1:
            return answer(stage, gate=stuck)
        return answer(stage)

    fake.openai.responder = first_call_hangs
    task_id = api.submit("hello")["task_id"]
    wait_until(lambda: len(calls(fake, task_id, "implementation")) == 1, what="implementation call")

    live.process("agents").kill()  # SIGKILL, mid-stage
    live.restart("agents")

    task = api.wait(task_id)
    assert task["progress"] == 100
    assert len(calls(fake, task_id, "analysis")) == 1  # completed before the kill: not called again
    assert len(calls(fake, task_id, "implementation")) == 2  # the killed call, then the re-run
    assert len(calls(fake, task_id, "validation")) == 1
    events = api.events(task_id)
    impl = [e for e in events if e["data"].get("stage") == "implementation"]
    assert [e["type"] for e in impl] == ["StageStarted", "StageStarted", "StageCompleted"]
    assert impl[0]["data"]["worker"] != impl[1]["data"]["worker"]
    assert sum(1 for e in events if e["type"] == "StageCompleted") == 4


def read_frames(ws: websocket.WebSocket, until: Any, timeout: float = 30.0) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    ws.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            frames.append(json.loads(ws.recv()))
        except websocket.WebSocketTimeoutException:
            continue
        if until(frames):
            return frames
    raise AssertionError(f"frames never matched: {frames}")


def test_websocket_reconnect_with_since_gets_what_it_missed_then_live(live: Live) -> None:
    system, api = live.system, live.api
    first = api.submit("first")["task_id"]
    api.wait(first)
    events = api.events(first)
    since = events[2]["seq"]
    missed = [e["seq"] for e in events if e["seq"] > since and e["type"] != "StageFailed"]

    ws = websocket.create_connection(f"{system.ws_url}/ws?since={since}", timeout=10)
    try:
        replayed = read_frames(
            ws,
            lambda fs: any(
                f.get("type") == "task_update" and f.get("status") == "completed" for f in fs
            ),
        )
        second = api.submit("second")["task_id"]
        live_frames = read_frames(
            ws,
            lambda fs: any(
                f.get("task_id") == second and f.get("status") == "completed" for f in fs
            ),
        )
    finally:
        ws.close()
    # Every task event but StageFailed has a frame: task_update, or validation_checks for the
    # sandbox's part of validation.
    updates = [
        f for f in replayed + live_frames if f.get("type") in ("task_update", "validation_checks")
    ]
    seqs = [f["event_seq"] for f in updates]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)), seqs
    assert [f["event_seq"] for f in updates if f["task_id"] == first] == missed
    second_events = [e["seq"] for e in api.events(second) if e["type"] != "StageFailed"]
    assert [f["event_seq"] for f in updates if f["task_id"] == second] == second_events
    assert all(f["event_seq"] > since for f in replayed if "event_seq" in f)
