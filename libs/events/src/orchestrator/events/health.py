"""Liveness over core NATS: each service instance announces itself every few seconds.

Heartbeats are not events (nobody needs last minute's heartbeat after a reconnect), so they go on
core subjects; the gateway keeps the latest from each instance and reports who is up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from nats.aio.client import Client as NATS
from pydantic import BaseModel, ConfigDict, Field

from . import subjects

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = 2.0


class Heartbeat(BaseModel):
    model_config = ConfigDict(frozen=True)

    service: str
    instance: str
    sent_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    details: dict[str, Any] = Field(default_factory=dict)


class HeartbeatPublisher:
    def __init__(
        self,
        nc: NATS,
        service: str,
        instance: str,
        details: Callable[[], dict[str, Any]] = dict,
        interval: float = HEARTBEAT_INTERVAL,
    ) -> None:
        self.nc = nc
        self.service = service
        self.instance = instance
        self._details = details
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def beat(self) -> None:
        beat = Heartbeat(service=self.service, instance=self.instance, details=self._details())
        await self.nc.publish(subjects.heartbeat(self.service), beat.model_dump_json().encode())

    async def _run(self) -> None:
        while True:
            try:
                await self.beat()
            except Exception as exc:
                log.debug("heartbeat not sent: %r", exc)
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"heartbeat {self.service}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
