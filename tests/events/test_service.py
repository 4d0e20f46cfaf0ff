"""The lifecycle pieces every composition root shares (libs/events/service.py)."""

from __future__ import annotations

import asyncio

from orchestrator.events.service import Parts, cancelling


class Recorder:
    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    async def start(self) -> None:
        self.log.append(f"start {self.name}")

    async def stop(self) -> None:
        self.log.append(f"stop {self.name}")


async def test_parts_are_stopped_last_started_first() -> None:
    log: list[str] = []
    parts = Parts()
    first = await parts.start(Recorder("first", log))

    async def stop_second() -> None:
        log.append("stop second, its own way")

    await parts.start(Recorder("second", log), stop=stop_second)
    parts.started(Recorder("running", log).stop)

    await parts.stop()
    await parts.stop()  # a second stop stops nothing twice

    assert first.name == "first"
    assert log == [
        "start first",
        "start second",
        "stop running",
        "stop second, its own way",
        "stop first",
    ]


async def test_cancelling_ends_a_background_task() -> None:
    task = asyncio.create_task(asyncio.Event().wait())

    await cancelling(task)()

    assert task.cancelled()
