"""``GET /api/health`` and ``system_health`` frames with every real service running."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import websocket

from tests.harness import System


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
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body = httpx.get(f"{system.base_url}/api/health", timeout=10).json()
        if body["services"]["archive"]["status"] == "down":
            break
        time.sleep(0.5)
    assert body["services"]["archive"]["status"] == "down"
    assert body["status"] == "degraded"
