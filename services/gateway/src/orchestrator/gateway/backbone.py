"""The gateway's composition root: its NATS connection and everything built on it.

Built once in the app's lifespan and handed to routes through the ``GatewayDep`` dependency;
nothing connects at import time, so tests build as many gateways as they like.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore

from orchestrator.events import EventStore, Follower, RecordedEvent, subjects
from orchestrator.events.connection import connect, files_store, provision, settings_bucket
from orchestrator.events.health import HeartbeatPublisher

from . import errors
from .health_monitor import HealthMonitor
from .live import LiveHub
from .projections import ReadModels, ws_messages
from .settings import GatewaySettings
from .system_health import SystemHealthBroadcaster

log = logging.getLogger(__name__)


@dataclass
class Gateway:
    settings: GatewaySettings
    nc: NATS
    js: JetStreamContext
    store: EventStore
    files: ObjectStore
    settings_kv: KeyValue
    models: ReadModels
    hub: LiveHub
    health: HealthMonitor
    instance: str
    follower: Follower | None = None
    _background: list[Any] = field(default_factory=list)

    @classmethod
    async def open(cls, settings: GatewaySettings) -> Gateway:
        instance = f"gateway-{socket.gethostname()}-{os.getpid()}"
        nc = await connect(settings, instance)
        js = nc.jetstream(timeout=10)
        await provision(js, settings)
        gateway = cls(
            settings=settings,
            nc=nc,
            js=js,
            store=EventStore(js),
            files=await files_store(js, settings),
            settings_kv=await settings_bucket(js, settings),
            models=ReadModels(),
            hub=LiveHub(),
            health=HealthMonitor(nc),
            instance=instance,
        )
        await gateway._start()
        return gateway

    async def _start(self) -> None:
        await self.health.start()
        self.follower = Follower(self.js, subjects.EVENTS_ALL, self._apply)
        await self.follower.start()
        heartbeat = HeartbeatPublisher(self.nc, "gateway", self.instance, self._heartbeat_details)
        heartbeat.start()
        self._background.append(heartbeat)
        await self.follower.wait_caught_up(timeout=60)
        system_health = SystemHealthBroadcaster(
            self.hub.publish, lambda: self.models.tasks, self.settings.health_interval
        )
        system_health.start()
        self._background.append(system_health)
        self._background.append(await ModelOutputRelay.start(self.nc, self.hub))

    def _apply(self, recorded: RecordedEvent) -> None:
        self.models.apply(recorded)
        for frame in ws_messages(recorded):
            self.hub.publish({**frame, "event_seq": recorded.seq})

    def _heartbeat_details(self) -> dict[str, Any]:
        return {"ws_clients": self.hub.clients, "projection_seq": self.last_seq}

    @property
    def last_seq(self) -> int:
        return self.follower.last_seq if self.follower else 0

    async def caught_up_to(self, seq: int, *, accepted: dict[str, Any] | None = None) -> None:
        """Read-your-writes: wait until the read models include the event at ``seq``.

        ``accepted`` names what the write at ``seq`` created (say ``{"task_id": ...}``): when the
        wait times out, the write is recorded all the same and will be processed, so the client
        gets a 503 that says so and carries the id to poll, instead of a bare "retry" that
        would make it submit the same thing twice.
        """
        if self.follower is None:
            return
        try:
            await self.follower.wait_for(seq, timeout=self.settings.gateway_request_timeout)
        except TimeoutError:
            if accepted is None:
                raise
            raise errors.ApiError(
                errors.SERVICE_UNAVAILABLE,
                "The request was accepted and will be processed, but is not visible yet: do not "
                "resend it; poll for it by the id in details",
                503,
                {**accepted, "accepted": True},
            ) from None

    async def close(self) -> None:
        for item in self._background:
            await item.stop()
        if self.follower is not None:
            await self.follower.stop()
        with suppress(Exception):
            await self.health.stop()
        with suppress(asyncio.CancelledError, Exception):
            await self.nc.drain()


class ModelOutputRelay:
    """Model tokens (core NATS ``live.output.*``, not persisted) to WebSocket clients."""

    def __init__(self, sub: Any) -> None:
        self._sub = sub

    @classmethod
    async def start(cls, nc: NATS, hub: LiveHub) -> ModelOutputRelay:
        async def relay(msg: Any) -> None:
            try:
                data = json.loads(msg.data)
            except ValueError:
                return
            if isinstance(data, dict):
                hub.publish({**data, "type": "model_output"})

        return cls(await nc.subscribe(subjects.MODEL_OUTPUT_ALL, cb=relay))

    async def stop(self) -> None:
        with suppress(Exception):
            await self._sub.unsubscribe()


def get_gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(get_gateway)]
