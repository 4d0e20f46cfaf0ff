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


async def append_ms(js: JetStreamContext, events: Sequence[Event], samples: int) -> float:
    """Median ms of a sequential ``EventStore.append`` of ``events``, cycled (the first cycle
    warms up)."""
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
    store = EventStore(js, stream=SCRATCH_STREAM)
    timings: list[float] = []
    cycle = 0
    while len(timings) < samples + len(events):
        subject = f"bench.scratch.c{cycle}"
        last = 0
        for event in events:
            started = time.perf_counter()
            last = await store.append(subject, event, expected_last_seq=last)
            timings.append((time.perf_counter() - started) * 1000)
        cycle += 1
    return statistics.median(timings[len(events) :])


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


async def rtt_ms(nc: NATS, url: str, samples: int, size: int = 256) -> float:
    """Median ms of a core-NATS request/reply to an echo subscriber in another process."""
    ctx = multiprocessing.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Event()
    process = ctx.Process(target=_echo, args=(url, ready, stop), daemon=True)
    process.start()
    try:
        await asyncio.to_thread(ready.get, True, 60)
        body = b"x" * size
        for _ in range(20):  # warm up
            await nc.request(ECHO_SUBJECT, body, timeout=5)
        timings = []
        for _ in range(samples):
            started = time.perf_counter()
            await nc.request(ECHO_SUBJECT, body, timeout=5)
            timings.append((time.perf_counter() - started) * 1000)
        return statistics.median(timings)
    finally:
        stop.set()
        await asyncio.to_thread(process.join, 10)


@dataclass(frozen=True)
class Floor:
    task_id: str
    appends: int
    workspace_appends: int
    """Of ``appends``, those on ``events.workspace`` (integration's file events)."""
    hops: tuple[Hop, ...]
    append_ms: float
    rtt_ms: float

    @property
    def ms(self) -> float:
        return self.appends * self.append_ms + len(self.hops) * self.rtt_ms


async def measure(
    nc: NATS,
    url: str,
    task_id: str,
    task_events: list[dict[str, Any]],
    samples: int,
) -> Floor:
    """The floor of the task ``task_id`` whose history is ``task_events`` (from the events API)."""
    js = nc.jetstream(timeout=10)
    workspace = [as_json(r) for r in await EventStore(js).read(subjects.WORKSPACE)]
    path = critical_path(task_events, workspace)
    own = {int(e["seq"]) for e in task_events}
    return Floor(
        task_id=task_id,
        appends=len(path),
        workspace_appends=sum(1 for e in path if int(e["seq"]) not in own),
        hops=tuple(hops(path)),
        append_ms=await append_ms(js, [typed(e) for e in path], samples),
        rtt_ms=await rtt_ms(nc, url, samples),
    )


def report(floor: Floor, added_p50: dict[int, float]) -> None:
    """Print the floor beside each concurrency level's added p50."""
    n = len(floor.hops)
    print(
        f"floor of one task (concurrency 1, {floor.task_id}): {floor.appends} appends "
        f"({floor.appends - floor.workspace_appends} on its subject, {floor.workspace_appends} "
        f"on events.workspace) x {floor.append_ms:.2f} ms + {n} hops x {floor.rtt_ms:.2f} ms "
        f"core-NATS round trip (to another process) = {floor.ms:.1f} ms"
    )
    print("  hops: " + ", ".join(f"{h.source}->{h.target} ({h.event})" for h in floor.hops))
    print(
        "  added p50 / floor: "
        + "   ".join(f"conc {c}: {a / floor.ms:.2f}x" for c, a in added_p50.items())
    )
