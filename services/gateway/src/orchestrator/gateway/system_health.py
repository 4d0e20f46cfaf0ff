"""``system_health`` frames: CPU, memory and the task counts, broadcast to /ws every few seconds.

Not persisted: a health tick is worth nothing after a reconnect, so the frames carry no
``event_seq`` and go straight to the live hub.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import psutil  # type: ignore[import-untyped]

from .projections.tasks import TaskBoard

log = logging.getLogger(__name__)


def health_frame(tasks: TaskBoard) -> dict[str, Any]:
    """One frame, as the contract shows it; ``cpu_percent`` measures since the previous call."""
    return {
        "type": "system_health",
        "cpu_usage": round(float(psutil.cpu_percent(interval=None)), 1),
        "memory_usage": round(float(psutil.virtual_memory().percent), 1),
        "active_tasks": tasks.active_count(),
        "queue_length": tasks.queue_length(),
    }


class SystemHealthBroadcaster:
    def __init__(
        self, publish: Callable[[dict[str, Any]], None], tasks: TaskBoard, interval: float
    ) -> None:
        self._publish = publish
        self._tasks = tasks
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        psutil.cpu_percent(interval=None)  # the first reading is always 0.0: prime it
        self._task = asyncio.create_task(self._run(), name="system_health")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                self._publish(health_frame(self._tasks))
            except Exception:
                log.exception("system_health frame not sent")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
