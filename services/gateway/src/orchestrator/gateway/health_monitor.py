"""Who is up: the latest heartbeat from each service instance."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client as NATS

from orchestrator.events import subjects
from orchestrator.events.health import HEARTBEAT_INTERVAL, HeartbeatListener
from orchestrator.events.messages import AgentsDetails, Heartbeat, WorkspaceDetails
from orchestrator.events.runnables import OPTIONAL_RUNTIMES, Runtimes

log = logging.getLogger(__name__)

SERVICES = ("gateway", "agents", "workspace", "archive")
AGENT_SERVICE = {"claude": "agents", "codex": "agents", "claude2": "agents", "ide": "workspace"}
"""The service whose replicas run each agent (``ide`` is the workspace's integration stage)."""


@dataclass
class Seen:
    beat: Heartbeat
    at: float


class HealthMonitor:
    def __init__(self, nc: NATS, stale_after: float = HEARTBEAT_INTERVAL * 3) -> None:
        self.stale_after = stale_after
        self._seen: dict[str, Seen] = {}
        self._listener = HeartbeatListener(nc, subjects.HEARTBEAT_ALL, self._on_beat)

    async def start(self) -> None:
        await self._listener.start()

    async def stop(self) -> None:
        await self._listener.stop()

    def _on_beat(self, beat: Heartbeat) -> None:
        self._seen[beat.instance] = Seen(beat, time.monotonic())

    def instances(self, service: str) -> list[Heartbeat]:
        now = time.monotonic()
        return [
            s.beat
            for s in self._seen.values()
            if s.beat.service == service and now - s.at <= self.stale_after
        ]

    def agent_replicas(self) -> dict[str, int]:
        """Live instances that run each agent: 0 means nobody has heartbeated within
        ``stale_after`` and the agent is offline."""
        live = {service: len(self.instances(service)) for service in set(AGENT_SERVICE.values())}
        return {agent: live[service] for agent, service in AGENT_SERVICE.items()}

    def agents(self) -> list[AgentsDetails]:
        """What each live agents instance says of itself."""
        return [
            beat.details
            for beat in self.instances("agents")
            if isinstance(beat.details, AgentsDetails)
        ]

    def runtimes(self) -> Runtimes:
        """What the machines that run code lack, as their workspace instances report: a run
        may land on any of them, so one lacking a runtime makes it missing; with none up,
        nobody can say, so every optional runtime is."""
        live = [
            beat.details
            for beat in self.instances("workspace")
            if isinstance(beat.details, WorkspaceDetails)
        ]
        if not live:
            unknown = "no workspace service is up to say whether it has {}"
            return Runtimes({name: unknown.format(name) for name in OPTIONAL_RUNTIMES})
        missing: dict[str, str] = {}
        for details in live:
            for name, why in details.missing_runtimes().items():
                missing.setdefault(name, why)
        return Runtimes(missing)

    def restarts(self, service: str) -> int:
        """The launcher's restart count of ``service``, as its latest instances said, stale ones
        included: a service given up on is down and still shows how often it was restarted."""
        return max(
            (s.beat.restarts for s in self._seen.values() if s.beat.service == service), default=0
        )

    def report(self) -> dict[str, Any]:
        services = {}
        for service in SERVICES:
            live = self.instances(service)
            started = [b.started_at for b in live if b.started_at is not None]
            services[service] = {
                "status": "up" if live else "down",
                "instances": len(live),
                "restarts": self.restarts(service),
                "started_at": min(started).isoformat() if started else None,
                "details": live[0].shown() if live else {},
            }
        return services
