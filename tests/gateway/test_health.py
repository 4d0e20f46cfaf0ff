"""``GET /api/health`` and ``system_health`` frames with every real service running."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import websocket

from tests.harness import System, wait_until


def test_health_reports_every_service_nats_sandbox_and_load(system: System) -> None:
    system.env["HEALTH_INTERVAL"] = "0.5"
    system.start_all()
    body = httpx.get(f"{system.base_url}/api/health", timeout=10).json()
    assert body["status"] == "ok", body
    assert body["nats"]["status"] == "up"
    assert body["nats"]["jetstream"] == "up"
    assert {name: s["status"] for name, s in body["services"].items()} == {
        "gateway": "up",
        "agents": "up",
        "workspace": "up",
        "archive": "up",
    }
    assert "archives_materialised" in body["services"]["archive"]["details"]
    assert body["sandbox"], "the workspace reports its sandbox layers"
    assert set(body["system"]) == {"cpu_usage", "memory_usage", "active_tasks", "queue_length"}
    assert body["security"]["token_required"] is False
    assert {s["restarts"] for s in body["services"].values()} == {0}  # not under a launcher
    assert all(s["started_at"] for s in body["services"].values())
    agents = httpx.get(f"{system.base_url}/api/agents", timeout=10).json()["agents"]
    assert {name: (a["status"], a["replicas"]) for name, a in agents.items()} == {
        "claude": ("idle", 1),
        "codex": ("idle", 1),
        "claude2": ("idle", 1),
        "ide": ("idle", 1),
    }

    ws = websocket.create_connection(f"{system.ws_url}/ws", timeout=10)
    try:
        frames: list[dict[str, Any]] = []
        deadline = time.monotonic() + 15
        while len(frames) < 2 and time.monotonic() < deadline:
            frame = json.loads(ws.recv())
            if frame["type"] == "system_health":
                frames.append(frame)
    finally:
        ws.close()
    assert len(frames) == 2, "system_health arrives every HEALTH_INTERVAL"
    for frame in frames:
        assert set(frame) == {"type", "cpu_usage", "memory_usage", "active_tasks", "queue_length"}
        assert "event_seq" not in frame  # not persisted, not replayed

    # With a service down, health says so (and still answers 200).
    archive = next(p for p in system.processes if p.service == "archive")
    archive.stop()

    def archive_down() -> dict[str, Any] | None:
        body: dict[str, Any] = httpx.get(f"{system.base_url}/api/health", timeout=10).json()
        return body if body["services"]["archive"]["status"] == "down" else None

    body = wait_until(archive_down, "health to show the archive down", timeout=30, interval=0.5)
    assert body["status"] == "degraded"


def test_with_no_agents_replica_alive_agents_are_offline_and_a_requirement_waits_for_one(
    gateway_system: System,
) -> None:
    base = gateway_system.base_url
    agents = httpx.get(f"{base}/api/agents", timeout=10).json()["agents"]
    assert {name: (a["status"], a["replicas"]) for name, a in agents.items()} == dict.fromkeys(
        ("claude", "codex", "claude2", "ide"), ("offline", 0)
    )

    response = httpx.post(
        f"{base}/api/requirements", json={"requirement": "Print hello", "priority": 3}, timeout=10
    )
    assert response.status_code == 200, response.text
    submitted = response.json()
    assert submitted["status"] == "created"
    assert submitted["estimated_completion"].startswith("waiting for an agent")
    task = httpx.get(f"{base}/api/tasks/{submitted['task_id']}", timeout=10).json()
    assert task["status"] == "created"  # recorded and queued for the first replica that comes
