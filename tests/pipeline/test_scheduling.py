"""Scheduling: priority then first come first served under contention; replicas share the work
and never both run one stage."""

from __future__ import annotations

import threading
from collections import Counter

from tests.fakes import FakeLLM
from tests.harness import System, wait_until

from .conftest import Api, calls, held


def test_higher_priority_starts_first_when_the_replica_is_busy(
    pipeline: System, api: Api, fake: FakeLLM
) -> None:
    release = threading.Event()
    fake.anthropic.responder = held("blocker", release, stage="analysis")
    pipeline.start_all(("gateway", "agents", "workspace"), AGENTS_MAX_CONCURRENCY="1")
    blocker = api.submit("blocker", priority=5)["task_id"]
    api.wait(blocker, lambda t: t["stage"] == "analysis" and t["status"] == "in_progress")
    queued = [
        (api.submit(f"task {i}", priority=p)["task_id"], p) for i, p in enumerate([1, 9, 5, 9, 3])
    ]
    assert api.http.get("/api/tasks", params={"status": "created"}).json()["tasks"].__len__() == 5
    release.set()
    for task_id, _ in queued:
        api.wait(task_id)

    started = sorted(
        (e["seq"], e["data"]["task_id"])
        for task_id, _ in queued
        for e in api.events(task_id)
        if e["type"] == "StageStarted" and e["data"]["stage"] == "analysis"
    )
    order = [task_id for _, task_id in started]
    by_id = dict(queued)
    assert [by_id[t] for t in order] == [9, 9, 5, 3, 1]
    # Equal priority: first come, first served.
    nines = [t for t, p in queued if p == 9]
    assert order[:2] == nines


def test_two_replicas_share_the_work_and_never_run_a_stage_twice(
    pipeline: System, api: Api, fake: FakeLLM
) -> None:
    pipeline.start_all(("gateway", "workspace"))
    env = {"AGENTS_MAX_CONCURRENCY": "2", "AGENTS_PREFETCH": "2"}
    first = pipeline.start("agents", log_name="agents-1", **env)
    second = pipeline.start("agents", log_name="agents-2", **env)
    pipeline.wait_ready({"gateway": pipeline.processes[0], "agents": first})
    # Both replicas heartbeat before any work is submitted, so both can take some.
    wait_until(
        lambda: api.http.get("/api/health").json()["services"]["agents"]["instances"] == 2,
        timeout=60,
        what="two agents instances",
    )
    assert second.running()
    tasks = [api.submit(f"job {i}")["task_id"] for i in range(8)]
    workers: Counter[str] = Counter()
    for task_id in tasks:
        api.wait(task_id)
        events = api.events(task_id)
        started = Counter(
            (e["data"]["stage"], e["data"]["round"]) for e in events if e["type"] == "StageStarted"
        )
        assert set(started.values()) == {1}, started
        completed = Counter(e["data"]["stage"] for e in events if e["type"] == "StageCompleted")
        assert set(completed.values()) == {1}, completed
        for stage in ("analysis", "implementation", "validation"):
            assert len(calls(fake, task_id, stage)) == 1
        workers.update(
            e["data"]["worker"]
            for e in events
            if e["type"] == "StageStarted" and e["data"]["agent"] != "ide"
        )
    assert len(workers) == 2, workers  # both replicas took stages
