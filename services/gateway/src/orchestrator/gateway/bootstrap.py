"""The gateway's composition root: its NATS connection and everything built on it.

Also the one way a route waits for the read models: :meth:`Gateway.caught_up_to` for its own
write (a stream sequence it holds), :meth:`Gateway.wait_until` for a state another service
brings about; both are the projection's follower waking the route, never polling.

Built once in the app's lifespan and handed to routes through the ``GatewayDep`` dependency;
nothing connects at import time, so tests build as many gateways as they like.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore
from pydantic import ValidationError

from orchestrator.events import EventStore, Follower, RecordedEvent, subjects
from orchestrator.events.catalog import ExecutionOutput
from orchestrator.events.connection import files_store, settings_bucket, snapshots_store
from orchestrator.events.error_codes import ErrorCode
from orchestrator.events.failures import carry_on
from orchestrator.events.messages import GatewayDetails, ModelOutput
from orchestrator.events.service import Parts, Runtime
from orchestrator.events.settings_document import SettingsReader

from . import errors
from .execution_output import LiveOutput, OutputCursor
from .health_monitor import HealthMonitor
from .projections import ReadModels, ws_messages
from .ratelimit_store import SharedWindows, open_bucket
from .read_after import RecordingStore
from .settings import GatewaySettings
from .snapshot_prefetch import Prefetch
from .snapshots import SnapshotStore, SnapshotWriter
from .system_health import SystemHealthBroadcaster
from .ws_hub import LiveHub

log = logging.getLogger(__name__)


@dataclass
class Gateway:
    settings: GatewaySettings
    nc: NATS
    js: JetStreamContext
    store: EventStore
    files: ObjectStore
    settings_kv: KeyValue
    settings_reader: SettingsReader
    models: ReadModels
    hub: LiveHub
    health: HealthMonitor
    rate_windows: SharedWindows
    instance: str
    snapshots: SnapshotWriter
    follower: Follower | None = None
    _parts: Parts = field(default_factory=Parts)

    @classmethod
    async def open(cls, settings: GatewaySettings, *, prefetch: Prefetch | None = None) -> Gateway:
        opened = time.perf_counter()
        runtime = await Runtime.open("gateway", settings)
        js = runtime.js
        settings_kv = await settings_bucket(js, settings)
        snapshots = SnapshotStore(
            js, await snapshots_store(js, settings), max_payload=runtime.nc.max_payload
        )
        connected = time.perf_counter()
        restored = await snapshots.load(prefetch)
        loaded = time.perf_counter()
        gateway = cls(
            settings=settings,
            nc=runtime.nc,
            js=js,
            store=RecordingStore(js),
            files=await files_store(js, settings),
            settings_kv=settings_kv,
            settings_reader=SettingsReader(settings_kv),
            models=restored.models if restored else ReadModels(),
            hub=LiveHub(),
            health=HealthMonitor(runtime.nc),
            rate_windows=SharedWindows(runtime.nc, await open_bucket(runtime.nc, js, settings)),
            instance=runtime.instance,
            snapshots=SnapshotWriter(
                snapshots,
                lambda: gateway.models,
                every=settings.gateway_snapshot_every,
                interval=settings.gateway_snapshot_interval,
                written_seq=restored.seq if restored else 0,
            ),
        )
        await gateway._start(runtime, start_seq=restored.seq + 1 if restored else 1)
        done = time.perf_counter()
        age = process_age()
        log.info(
            "open at #%d, %.3fs after the process started: %.3fs before opening (interpreter, "
            "imports, app), connected in %.3fs, read models %s in %.3fs, the rest (replaying the "
            "events after them) in %.3fs",
            gateway.last_seq,
            age,
            age - (done - opened),
            connected - opened,
            "restored" if restored else "not restored",
            loaded - connected,
            done - loaded,
        )
        return gateway

    async def _start(self, runtime: Runtime, start_seq: int) -> None:
        parts = self._parts
        await parts.start(self.health)
        follower = Follower(self.js, subjects.EVENTS_ALL, self._apply, start_seq=start_seq)
        self.follower = await parts.start(follower)
        parts.started(runtime.heartbeat(self._heartbeat_details).stop)
        await _caught_up_while_progressing(follower)
        self.snapshots.start(follower)
        parts.started(self.snapshots.stop)
        system_health = SystemHealthBroadcaster(
            self.hub.publish, self.models.tasks, self.settings.health_interval
        )
        system_health.start()
        parts.started(system_health.stop)
        parts.started((await ModelOutputRelay.start(self.nc, self.hub)).stop)
        await parts.start(LiveOutput(self.js, self._output_batch))

    def _output_batch(self, recorded: RecordedEvent) -> None:
        """A batch of a run's output (the output stream): counted, and to /ws as line frames
        (without ``event_seq``: not a domain event, not replayed by ``?since=``)."""
        event = recorded.event
        if not isinstance(event, ExecutionOutput):
            return
        self.models.executions.output_seen(event)
        for frame in OutputCursor(event.execution_id, event.first_line).batch(recorded):
            self.hub.publish(frame)

    def _apply(self, recorded: RecordedEvent) -> None:
        self.models.apply(recorded)
        self.snapshots.applied()
        for frame in ws_messages(recorded):
            self.hub.publish({**frame, "event_seq": recorded.seq})

    def _heartbeat_details(self) -> GatewayDetails:
        return GatewayDetails(ws_clients=self.hub.clients, projection_seq=self.last_seq)

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
                ErrorCode.SERVICE_UNAVAILABLE,
                "The request was accepted and will be processed, but is not visible yet: do not "
                "resend it; poll for it by the id in details",
                503,
                {**accepted, "accepted": True},
            ) from None

    async def wait_until(
        self, condition: Callable[[], bool], *, timeout: float | None = None
    ) -> bool:
        """Wait until ``condition()`` holds of the read models (another service's write); False
        when it did not within ``timeout`` (default ``GATEWAY_REQUEST_TIMEOUT``)."""
        if self.follower is None:
            return condition()
        try:
            await self.follower.wait_until(
                condition, timeout=timeout or self.settings.gateway_request_timeout
            )
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Stop every part, the last started first, then drain the connection."""
        await self._parts.stop()
        # Nothing the gateway holds is lost undrained: every write was awaited by its route.
        with suppress(asyncio.CancelledError), carry_on(log, "draining the NATS connection"):
            await self.nc.drain()


class ModelOutputRelay:
    """Model tokens (core NATS ``live.output.*``, not persisted) to WebSocket clients."""

    def __init__(self, sub: Any) -> None:
        self._sub = sub

    @classmethod
    async def start(cls, nc: NATS, hub: LiveHub) -> ModelOutputRelay:
        async def relay(msg: Msg) -> None:
            try:
                output = ModelOutput.model_validate_json(msg.data)
            except ValidationError as exc:
                log.warning("unreadable model output on %s: %s", msg.subject, exc.errors()[:1])
                return
            hub.publish(output.frame())

        return cls(await nc.subscribe(subjects.MODEL_OUTPUT_ALL, cb=relay))

    async def stop(self) -> None:
        with carry_on(log, "unsubscribing from model output"):
            await self._sub.unsubscribe()


async def get_gateway(request: Request) -> Gateway:
    """``async``: FastAPI runs a plain function dependency in its thread pool, a thread hand-off
    on every request for a lookup."""
    gateway: Gateway = request.app.state.gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


CATCH_UP_STALL = 30.0
"""Seconds the start's replay may go without applying an event before the start gives up."""


def process_age() -> float:
    """Seconds since this process started, to the kernel's clock tick (Linux: its start time in
    ``/proc/self/stat`` against the boot clock; psutil's ``create_time`` rounds the boot time to
    a second); NaN elsewhere."""
    try:
        with open("/proc/self/stat", "rb") as stat:
            started_ticks = int(stat.read().rsplit(b")", 1)[1].split()[19])
        return time.clock_gettime(time.CLOCK_BOOTTIME) - started_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return float("nan")


async def _caught_up_while_progressing(follower: Follower) -> None:
    """Wait for the start's replay, however long the history: a million events without a
    snapshot take minutes on a small machine, and a fixed bound would fail every start (and
    every restart) of such a gateway. Only a replay that stops moving gives up."""
    reached = follower.last_seq
    while True:
        try:
            await follower.wait_caught_up(timeout=CATCH_UP_STALL)
            return
        except TimeoutError:
            if follower.last_seq == reached:
                raise
            log.info("replaying the event stream: at #%d", follower.last_seq)
            reached = follower.last_seq
