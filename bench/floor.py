"""The floor under one task's latency: its appends and cross-process hops, each at measured cost.

A task is one chain of steps, each waiting for the one before, so every event it records is on
its critical path. The path is read back from a real task: its history (``GET
/api/tasks/{id}/events``) merged, by stream sequence, with the ``FileWritten``/``FileDeleted``
events integration appended to ``events.workspace`` for it. Each event is one append.

A hop is a hand-off between processes through NATS: an event delivered to a handler that
writes the next step. Each event's writer follows from the catalog (:func:`writer`), and the
path's events are taken in order:

- the next event has another writer: its writer consumed this one (gateway→agents on
  ``TaskSubmitted``, agents→workspace on ``ChecksRequested``, workspace→agents on
  ``ChecksRecorded``, agents→workspace on validation's ``StageCompleted``);
- the same writer, but the next event's ``causation_id`` is this event's id: a new delivery to
  the same service, so a hop all the same (agents→agents on analysis's and implementation's
  ``StageCompleted``; the agents name the event they handled as every append's cause, so events
  of one handler run share their cause, and a new run names the event it was handed);
- the last event is consumed by the gateway, which sends the ``completed`` frame.

Events of one handler run (a stage's ``StageStarted`` and its outcome, integration's
``StageStarted``, ``FileWritten``... and ``TaskCompleted``) are no hop. A one-round task has
seven: gateway→agents, agents→agents twice, agents→workspace (checks), workspace→agents,
agents→workspace (integration), workspace→gateway (the frame).

The floor is ``appends * append_ms + hops * rtt_ms``, with both costs measured in the same run on
the same nats-server:

- ``append_ms``: the median of sequential :meth:`EventStore.append` calls re-appending the path's
  own events, cycled, each subject's appends expecting the last sequence like the services' do,
  to a scratch stream of its own (``BENCH_SCRATCH``: file storage, fsynced like ``EVENTS``, but
  no service follows it, so nothing reacts to the copies);
- ``rtt_ms``: the median core-NATS request/reply round trip (``nc.request``) to a subscriber in
  another process that echoes the body back: the least a delivery to another process costs.

Both are sampled again after every system run (:class:`Meter`); the floor quoted is at their
medians over the samples, with the lowest and highest floor of a single sample beside it.

It is a floor, not a model: a hop through a durable consumer is one delivery plus the handler's
own reads (the task's version, the settings document), and the HTTP request that submits the
task is not counted at all.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError

from orchestrator.events import EventStore, subjects
from orchestrator.events.catalog.base import Event
from orchestrator.events.envelope import Envelope

SCRATCH_STREAM = "BENCH_SCRATCH"
SCRATCH_SUBJECTS = "bench.scratch.>"
ECHO_SUBJECT = "bench.echo"

GATEWAY_WRITES = frozenset({"TaskSubmitted", "TaskCancelled", "TaskRetried"})
WORKSPACE_WRITES = frozenset({"ChecksRecorded", "FileWritten", "FileDeleted", "TaskCompleted"})


def writer(event: dict[str, Any]) -> str:
    """The service that appends an event of this type (and stage), per the catalog."""
    kind = event["type"]
    if kind in GATEWAY_WRITES:
        return "gateway"
    if kind in WORKSPACE_WRITES or event["data"].get("stage") == "integration":
        return "workspace"
    return "agents"


@dataclass(frozen=True)
class Hop:
    source: str
    target: str
    event: str
    """The event handed over, with its stage when it has one."""


def label(event: dict[str, Any]) -> str:
    stage = event["data"].get("stage")
    return f"{event['type']}({stage})" if stage else str(event["type"])


def critical_path(
    task_events: Iterable[dict[str, Any]], workspace_events: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A task's events and its workspace events in stream order (each: ``seq``, ``id``, ``type``,
    ``causation_id``, ``data``, as ``GET /api/tasks/{id}/events`` gives them)."""
    task_id = None
    events = list(task_events)
    if events:
        task_id = events[0]["data"].get("task_id")
    own = [e for e in workspace_events if e["data"].get("task_id") == task_id]
    return sorted([*events, *own], key=lambda e: int(e["seq"]))


def hops(path: Sequence[dict[str, Any]]) -> list[Hop]:
    """The hand-offs between processes along ``path`` (see the module docstring)."""
    found = [
        Hop(writer(this), writer(following), label(this))
        for this, following in pairwise(path)
        if writer(this) != writer(following) or following.get("causation_id") == this["id"]
    ]
    if path and writer(path[-1]) != "gateway":
        found.append(Hop(writer(path[-1]), "gateway", label(path[-1])))
    return found


def as_json(recorded: Any) -> dict[str, Any]:
    """A :class:`RecordedEvent` in the shape of the events API."""
    return {
        "seq": recorded.seq,
        "id": recorded.id,
        "type": recorded.envelope.type,
        "causation_id": recorded.envelope.causation_id,
        "data": recorded.event.model_dump(mode="json"),
    }


def typed(event: dict[str, Any]) -> Event:
    """The catalog event an events-API entry carries."""
    return Envelope.model_validate({"type": event["type"], "data": event["data"]}).data


def _echo(url: str, ready: Any, stop: Any) -> None:
    """In its own process: answer every request on ``ECHO_SUBJECT`` with its own body."""

    async def main() -> None:
        nc = await nats.connect(url)

        async def respond(msg: Any) -> None:
            await msg.respond(msg.data)

        await nc.subscribe(ECHO_SUBJECT, cb=respond)
        await nc.flush()
        ready.put(True)
        await asyncio.to_thread(stop.wait)
        await nc.close()

    asyncio.run(main())


class Meter:
    """Times the floor's two costs, each a median of ``samples``, whenever :meth:`sample` is
    called (the pipeline bench calls it after every system run, so the costs are measured as
    often, and under the same conditions, as the latencies they are set against)."""

    def __init__(self, nc: NATS, url: str, events: Sequence[Event], samples: int) -> None:
        self.nc = nc
        self.url = url
        self.events = list(events)
        self.samples = samples
        self.append_ms: list[float] = []
        self.rtt_ms: list[float] = []
        self._store = EventStore(nc.jetstream(timeout=10), stream=SCRATCH_STREAM)
        self._cycle = 0
        ctx = multiprocessing.get_context("spawn")
        self._ready, self._stop = ctx.Queue(), ctx.Event()
        self._echo = ctx.Process(target=_echo, args=(url, self._ready, self._stop), daemon=True)

    async def __aenter__(self) -> Meter:
        js = self._store.js
        try:
            await js.stream_info(SCRATCH_STREAM)
        except NotFoundError:
            await js.add_stream(
                api.StreamConfig(
                    name=SCRATCH_STREAM,
                    subjects=[SCRATCH_SUBJECTS],
                    storage=api.StorageType.FILE,
                    num_replicas=1,
                )
            )
        self._echo.start()
        await asyncio.to_thread(self._ready.get, True, 60)
        await self._appends(len(self.events))  # warm up both
        await self._round_trips(20)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        await asyncio.to_thread(self._echo.join, 10)

    async def sample(self) -> None:
        self.append_ms.append(statistics.median(await self._appends(self.samples)))
        self.rtt_ms.append(statistics.median(await self._round_trips(self.samples)))

    async def _appends(self, count: int) -> list[float]:
        """Sequential appends of the path's events, cycled, one scratch subject per cycle."""
        timings: list[float] = []
        while len(timings) < count:
            subject = f"bench.scratch.c{self._cycle}"
            self._cycle += 1
            last = 0
            for event in self.events[: count - len(timings)]:
                started = time.perf_counter()
                last = await self._store.append(subject, event, expected_last_seq=last)
                timings.append((time.perf_counter() - started) * 1000)
        return timings

    async def _round_trips(self, count: int, size: int = 256) -> list[float]:
        body = b"x" * size
        timings = []
        for _ in range(count):
            started = time.perf_counter()
            await self.nc.request(ECHO_SUBJECT, body, timeout=5)
            timings.append((time.perf_counter() - started) * 1000)
        return timings


@dataclass(frozen=True)
class CriticalPath:
    """One task's critical path: how many appends (of which on ``events.workspace``), the hops
    and the events themselves (to re-append when timing an append)."""

    task_id: str
    events: tuple[Event, ...]
    workspace_appends: int
    hops: tuple[Hop, ...]

    @property
    def appends(self) -> int:
        return len(self.events)


async def path_of(
    js: JetStreamContext, task_id: str, task_events: list[dict[str, Any]]
) -> CriticalPath:
    """The critical path of ``task_id``, whose history is ``task_events`` (from the events API)."""
    workspace = [as_json(r) for r in await EventStore(js).read(subjects.WORKSPACE)]
    path = critical_path(task_events, workspace)
    own = {int(e["seq"]) for e in task_events}
    return CriticalPath(
        task_id=task_id,
        events=tuple(typed(e) for e in path),
        workspace_appends=sum(1 for e in path if int(e["seq"]) not in own),
        hops=tuple(hops(path)),
    )


@dataclass(frozen=True)
class Floor:
    path: CriticalPath
    append_ms: tuple[float, ...]
    """The median append latency of each sample."""
    rtt_ms: tuple[float, ...]
    """The median round trip of each sample."""

    def of(self, append_ms: float, rtt_ms: float) -> float:
        return self.path.appends * append_ms + len(self.path.hops) * rtt_ms

    @property
    def ms(self) -> float:
        """The floor at the median costs over the samples."""
        return self.of(statistics.median(self.append_ms), statistics.median(self.rtt_ms))

    @property
    def spread(self) -> tuple[float, float]:
        """The lowest and highest floor of one sample."""
        each = [self.of(a, r) for a, r in zip(self.append_ms, self.rtt_ms, strict=True)]
        return min(each), max(each)


def _range(values: Sequence[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


def report(floor: Floor, added_p50: dict[int, float]) -> None:
    """Print the floor beside each concurrency level's added p50."""
    path = floor.path
    n = len(path.hops)
    low, high = floor.spread
    print(
        f"floor of one task (concurrency 1, {path.task_id}): {path.appends} appends "
        f"({path.appends - path.workspace_appends} on its subject, {path.workspace_appends} "
        f"on events.workspace) x {statistics.median(floor.append_ms):.2f} ms + {n} hops x "
        f"{statistics.median(floor.rtt_ms):.2f} ms core-NATS round trip (to another process) "
        f"= {floor.ms:.1f} ms"
    )
    print(
        f"  medians of {len(floor.append_ms)} samples, one after each system run: append "
        f"{_range(floor.append_ms)} ms, round trip {_range(floor.rtt_ms)} ms, "
        f"floor {low:.1f}-{high:.1f} ms"
    )
    print("  hops: " + ", ".join(f"{h.source}->{h.target} ({h.event})" for h in path.hops))
    print(
        "  added p50 / floor: "
        + "   ".join(f"conc {c}: {a / floor.ms:.2f}x" for c, a in added_p50.items())
    )
