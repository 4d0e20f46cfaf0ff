"""The archive service's composition root: build every adapter from the runtime, start, stop."""

from __future__ import annotations

from orchestrator.events.health import HeartbeatPublisher
from orchestrator.events.service import Runtime, Stop


async def start(runtime: Runtime) -> Stop:
    heartbeat = HeartbeatPublisher(runtime.nc, "archive", runtime.instance)
    heartbeat.start()

    async def stop() -> None:
        await heartbeat.stop()

    return stop
