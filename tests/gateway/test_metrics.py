"""``/metrics`` as Prometheus reads it (parsed with the library's own parser), and the probes."""

from __future__ import annotations

from pathlib import Path

import httpx
from nats.aio.client import Client as NATS
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.events.catalog import (
    ExecutionFinished,
    ExecutionRequested,
    ExecutionStarted,
    StageCompleted,
    StageStarted,
    TaskSubmitted,
    Usage,
)
from orchestrator.events.testing import history
from orchestrator.gateway.health_monitor import HealthMonitor
from orchestrator.gateway.metrics import Snapshot, render
from orchestrator.gateway.projections import ReadModels
from tests.harness import System, wait_until

TOKEN = "metrics-test-token-0123456789abcdef"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_report_tasks_stage_durations_usage_executions_and_queues() -> None:
    models = ReadModels()
    for item in history(
        TaskSubmitted(task_id="task_1", requirement="r", priority=5),
        TaskSubmitted(task_id="task_2", requirement="r", priority=5),
        StageStarted(task_id="task_1", stage="analysis", agent="claude", provider="anthropic"),
        StageCompleted(
            task_id="task_1",
            stage="analysis",
            agent="claude",
            summary="ok",
            usage=Usage(input_tokens=10, output_tokens=5, cost_usd=0.25),
        ),
        StageStarted(task_id="task_1", stage="implementation", agent="codex", provider="openai"),
        ExecutionRequested(execution_id="exec_1", path="a.py"),
        ExecutionStarted(execution_id="exec_1", path="a.py", command="python a.py", pid=1),
        ExecutionFinished(execution_id="exec_1", status="failed", exit_code=1, duration_s=0.1),
    ):
        models.apply(item)
    snapshot = Snapshot(
        models=models,
        health=HealthMonitor(NATS()),  # never started: no heartbeat seen
        ws_clients=3,
        pending={"agents": 7, "archive": 0},
    )

    got = samples(render(snapshot).decode())

    assert got[("orchestrator_tasks", (("status", "in_progress"),))] == 1
    assert got[("orchestrator_tasks", (("status", "created"),))] == 1
    assert got[("orchestrator_tasks", (("status", "completed"),))] == 0
    assert got[("orchestrator_stage_duration_seconds_count", (("agent", "claude"),))] == 1
    assert ("orchestrator_stage_duration_seconds_count", (("agent", "codex"),)) not in got
    by = (("agent", "claude"), ("provider", "anthropic"))
    assert got[("orchestrator_tokens_total", (by[0], ("direction", "input"), by[1]))] == 10
    assert got[("orchestrator_tokens_total", (by[0], ("direction", "output"), by[1]))] == 5
    assert got[("orchestrator_cost_usd_total", by)] == 0.25
    assert got[("orchestrator_executions", (("status", "failed"),))] == 1
    assert got[("orchestrator_websocket_clients", ())] == 3
    assert got[("orchestrator_consumer_pending", (("consumer", "agents"),))] == 7
    assert got[("orchestrator_service_restarts", (("service", "agents"),))] == 0
    assert got[("orchestrator_service_instances", (("service", "gateway"),))] == 0


def test_probes_answer_without_token_or_rate_limit_and_readyz_follows_nats(
    tmp_path: Path,
) -> None:
    system = System(root=tmp_path, env={"RATE_LIMIT_FILES": "1", "RATE_LIMIT_ARCHIVE": "1"})
    system.start_nats()
    try:
        system.start("gateway", GATEWAY_TOKEN=TOKEN)
        system.start("archive")  # its durable consumer's pending count is scraped from JetStream
        base = system.base_url
        wait_until(lambda: _answers(f"{base}/healthz"), timeout=30)  # a probe needs no token
        for _ in range(30):  # far past any rate limit
            assert httpx.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}
            assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
        ready = httpx.get(f"{base}/readyz", timeout=5).json()
        assert ready["projections_caught_up"] is True and ready["nats_connected"] is True

        assert httpx.get(f"{base}/metrics", timeout=5).status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        scraped = httpx.get(f"{base}/metrics", headers=auth, timeout=10)
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain")
        archive_up = ("orchestrator_service_instances", (("service", "archive"),))
        got = wait_until(
            lambda: (
                g
                if (g := samples(httpx.get(f"{base}/metrics", headers=auth, timeout=10).text))
                and g.get(archive_up) == 1
                else None
            ),
            "the archive service to heartbeat (its durable consumer exists by then)",
        )
        assert got[("orchestrator_service_instances", (("service", "gateway"),))] == 1
        assert got[("orchestrator_consumer_pending", (("consumer", "archive"),))] == 0
        assert got[("orchestrator_tasks", (("status", "created"),))] == 0

        assert system.nats is not None
        system.nats.stop()
        wait_until(
            lambda: httpx.get(f"{base}/readyz", timeout=5).status_code == 503,
            "readyz 503 with NATS down",
            timeout=20,
            interval=0.2,
        )
        assert httpx.get(f"{base}/readyz", timeout=5).json()["nats_connected"] is False
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200  # alive all the same
        system.start_nats()
        wait_until(
            lambda: httpx.get(f"{base}/readyz", timeout=5).status_code == 200,
            "readyz 200 with NATS back",
            timeout=30,
            interval=0.2,
        )
        assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
    finally:
        system.stop()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
