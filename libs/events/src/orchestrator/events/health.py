"""Liveness over core NATS: each service instance announces itself every few seconds.

Heartbeats are not events (nobody needs last minute's heartbeat after a reconnect), so they go on
core subjects; the gateway keeps the latest from each instance and reports who is up. Their shape
is :class:`~orchestrator.events.messages.Heartbeat`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from pydantic import ValidationError

from . import subjects
from .failures import carry_on
from .messages import Details, Heartbeat

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = 2.0

RESTARTS_VARIABLE = "ORCHESTRATOR_RESTARTS"
"""Set by the launcher on a service it restarts: how many restarts came before this process."""


def restarts_from_environment(environ: Mapping[str, str] = os.environ) -> int:
    """The supervisor's restart count for this process (0 when it was not restarted)."""
    value = environ.get(RESTARTS_VARIABLE, "")
    return int(value) if value.isdigit() else 0


class HeartbeatPublisher:
    def __init__(
        self,
        nc: NATS,
        service: str,
        instance: str,
        details: Callable[[], Details],
        interval: float = HEARTBEAT_INTERVAL,
        *,
        restarts: int | None = None,
    ) -> None:
        self.nc = nc
        self.started_at = datetime.now(UTC)
        self.restarts = restarts_from_environment() if restarts is None else restarts
        self.service = service
        self.instance = instance
        self._details = details
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def beat(self) -> None:
        beat = Heartbeat(
            service=self.service,
            instance=self.instance,
            started_at=self.started_at,
            restarts=self.restarts,
            details=self._details(),
        )
        await self.nc.publish(subjects.heartbeat(self.service), beat.model_dump_json().encode())

    async def _run(self) -> None:
        try:
            ping = await self.nc.subscribe(subjects.HEARTBEAT_PING, cb=self._on_ping)
        except nats.errors.Error as exc:  # NATS away: the periodic beats still go out
            log.debug("not answering heartbeat pings: %r", exc)
            ping = None
        try:
            await self._beat_forever()
        finally:
            if ping is not None:
                with suppress(nats.errors.Error):
                    await ping.unsubscribe()

    async def _on_ping(self, msg: object) -> None:
        try:
            await self.beat()
        except nats.errors.Error as exc:
            log.debug("heartbeat not sent: %r", exc)

    async def _beat_forever(self) -> None:
        while True:
            try:
                await self.beat()
            except nats.errors.Error as exc:  # NATS away: the next beat tells the gateway
                log.debug("heartbeat not sent: %r", exc)
            except Exception:
                log.exception("heartbeat of %s not built", self.service)
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"heartbeat {self.service}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task


class HeartbeatListener:
    """Hears the heartbeats on ``subject`` (every service's, or one service's) while it runs:
    each one read as a :class:`Heartbeat` and handed to ``on_beat``; an unreadable one is logged
    and dropped. Starting, it asks every service to beat now, so a listener just (re)started
    knows who is up within a round trip instead of a beat interval."""

    def __init__(self, nc: NATS, subject: str, on_beat: Callable[[Heartbeat], None]) -> None:
        self.nc = nc
        self.subject = subject
        self._on_beat = on_beat
        self._sub: Any = None

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(self.subject, cb=self._on_message)
        await self.ping()

    async def ping(self) -> None:
        """Ask every service for a heartbeat now (the periodic ones come anyway)."""
        with carry_on(log, "asking for heartbeats", level=logging.DEBUG):
            await self.nc.publish(subjects.HEARTBEAT_PING, b"")

    async def stop(self) -> None:
        if self._sub is not None:
            with carry_on(log, f"unsubscribing from {self.subject}"):
                await self._sub.unsubscribe()

    async def _on_message(self, msg: Msg) -> None:
        try:
            beat = Heartbeat.model_validate_json(msg.data)
        except ValidationError as exc:
            log.warning("unreadable heartbeat on %s: %s", msg.subject, exc.errors()[:1])
            return
        self._on_beat(beat)
