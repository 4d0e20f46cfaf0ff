"""Who is up: the latest heartbeat from each service instance, and NATS itself."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from pydantic import ValidationError

from orchestrator.events import subjects
from orchestrator.events.health import HEARTBEAT_INTERVAL, Heartbeat

SERVICES = ("gateway", "agents", "workspace", "archive")


@dataclass
class Seen:
    beat: Heartbeat
    at: float


class HealthMonitor:
    def __init__(self, nc: NATS, stale_after: float = HEARTBEAT_INTERVAL * 3) -> None:
        self.nc = nc
        self.stale_after = stale_after
        self._seen: dict[str, Seen] = {}
        self._sub: Any = None

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(subjects.HEARTBEAT_ALL, cb=self._on_beat)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()

    async def _on_beat(self, msg: Msg) -> None:
        try:
            beat = Heartbeat.model_validate_json(msg.data)
        except ValidationError:
            return
        self._seen[beat.instance] = Seen(beat, time.monotonic())

    def instances(self, service: str) -> list[Heartbeat]:
        now = time.monotonic()
        return [
            s.beat
            for s in self._seen.values()
            if s.beat.service == service and now - s.at <= self.stale_after
        ]

    def details(self, service: str) -> list[dict[str, Any]]:
        return [beat.details for beat in self.instances(service)]

    def report(self) -> dict[str, Any]:
        services = {}
        for service in SERVICES:
            live = self.instances(service)
            services[service] = {
                "status": "up" if live else "down",
                "instances": len(live),
                "details": live[0].details if live else {},
            }
        return services
