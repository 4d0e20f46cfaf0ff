"""The sandbox's world as the workspace service reports it in its heartbeat: what the models are
told about where their code will run (:func:`.prompts.runtime`).

The agents service never runs code and never reads the workspace's settings; the workspace
service knows its interpreter, packages and network and says so on every beat. The latest beat
that carries a world wins (replicas run the same image). A stage that finds none yet asks every
service for a beat now and waits a moment; if none comes, the prompt says the world is unknown
rather than guessing it.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from nats.aio.client import Client as NATS

from orchestrator.events import subjects
from orchestrator.events.health import HeartbeatListener
from orchestrator.events.messages import Heartbeat, SandboxWorld, WorkspaceDetails

log = logging.getLogger(__name__)


class SandboxWorldSource:
    def __init__(self, nc: NATS) -> None:
        self.world: SandboxWorld | None = None
        self._heard = asyncio.Event()
        self._listener = HeartbeatListener(nc, subjects.heartbeat("workspace"), self._on_beat)

    async def start(self) -> None:
        await self._listener.start()

    async def stop(self) -> None:
        await self._listener.stop()

    def _on_beat(self, beat: Heartbeat) -> None:
        if isinstance(beat.details, WorkspaceDetails) and beat.details.world is not None:
            self.world = beat.details.world
            self._heard.set()

    async def current(self, wait: float) -> SandboxWorld | None:
        """The world last reported; when none has been, ask for beats and wait up to ``wait``."""
        if self.world is None:
            await self._listener.ping()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._heard.wait(), wait)
        return self.world
