"""Cancel abandons the in-flight model call; retry resumes from the failed stage only."""

from __future__ import annotations

import json
import threading
import time

from tests.fakes import Error, RecordedRequest, Reply, Text
from tests.harness import wait_until

from .conftest import GOOD_FILES, Live, answer, calls, stage_of


def test_cancel_abandons_the_streaming_model_call(live: Live) -> None:
    api, fake = live.api, live.fake

    def slow_implementation(request: RecordedRequest) -> Reply:
        if stage_of(request) == "implementation":
            # ~40 s of streaming if nobody hangs up.
            return Text(json.dumps(GOOD_FILES), chunk_size=1, chunk_delay=0.4)
        return answer(stage_of(request))

    fake.openai.responder = slow_implementation
    task_id = api.submit("hello")["task_id"]
    wait_until(lambda: fake.in_flight == 1, what="implementation streaming")
    response = api.http.post(f"/api/tasks/{task_id}/cancel")
    assert response.status_code == 200, response.text
    assert response.json() == {"task_id": task_id, "status": "cancelled"}

    # The agents replica hung up on the provider: the stream ends long before its 40 s.
    wait_until(lambda: fake.in_flight == 0, timeout=10, what="stream abandoned")
    time.sleep(1.0)
    task = api.task(task_id)
    assert task["status"] == "cancelled"
    # Cancelled during implementation: the task keeps the progress it had reached.
    assert task["progress"] == 25
    cancelled = [
        e
        for e in api.http.get(f"/api/tasks/{task_id}/events").json()["events"]
        if e["type"] == "TaskCancelled"
    ]
    assert cancelled[-1]["data"]["progress"] == 25
    types = api.types(task_id)
    assert types[-1] == "TaskCancelled"
    assert "StageCompleted" not in types[types.index("TaskCancelled") :]
    assert calls(fake, task_id, "validation") == []
    assert api.http.get("/api/agents").json()["agents"]["codex"]["status"] == "idle"
    # Cancelling again is harmless; a finished task cannot be cancelled.
    assert api.http.post(f"/api/tasks/{task_id}/cancel").status_code == 200
    missing = api.http.post("/api/tasks/task_nope/cancel")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "TASK_NOT_FOUND"


def test_retry_resumes_from_the_failed_stage_without_rerunning_completed_ones(live: Live) -> None:
    api, fake = live.api, live.fake
    provider_up = threading.Event()

    def flaky(request: RecordedRequest) -> Reply:
        if stage_of(request) == "implementation" and not provider_up.is_set():
            return Error(500)
        return answer(stage_of(request))

    fake.openai.responder = flaky
    task_id = api.submit("hello")["task_id"]
    failed = api.wait(task_id, lambda t: t["status"] == "failed")
    assert failed["error"]["stage"] == "implementation"
    not_failed = api.http.post("/api/tasks/task_nope/retry")
    assert not_failed.status_code == 404

    provider_up.set()
    response = api.http.post(f"/api/tasks/{task_id}/retry")
    assert response.status_code == 200, response.text
    assert response.json()["stage"] == "implementation"
    task = api.wait(task_id)
    assert task["error"] is None and task["progress"] == 100
    assert len(calls(fake, task_id, "analysis")) == 1  # not run again
    assert len(calls(fake, task_id, "implementation")) == 2 + 1  # 1 try + 1 SDK retry, then 1
    assert len(calls(fake, task_id, "validation")) == 1
    types = api.types(task_id)
    assert types.count("TaskRetried") == 1 and types[-1] == "TaskCompleted"
    # A completed task is not retried.
    again = api.http.post(f"/api/tasks/{task_id}/retry")
    assert again.status_code == 409 and again.json()["error"]["code"] == "CONFLICT"
