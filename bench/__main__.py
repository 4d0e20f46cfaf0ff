"""``python -m bench`` (``make bench``): the event backbone beside raw nats-py, in the same run.

1. Append: ``EventStore.append`` (envelope encode, Nats-Msg-Id, expected last subject sequence)
   vs a plain ``js.publish`` of a body of the same size; sequential (latency per call) and with
   ``--concurrency`` appenders in flight (throughput).
2. Replay: a ``Follower`` replaying ``--replay`` events into a dict vs a raw nats-py ordered
   consumer (``js.subscribe(..., ordered_consumer=True)``) reading the same events, without and
   with a ``json.loads`` of each body (the least a real projection must do).

The server is the launcher's embedded nats-server with ``sync_interval: always``, the same as
``make run``: every append is fsynced before it is acknowledged, for both sides. Defaults keep
the whole run well under two minutes; pass larger sizes for steadier figures.

The other benches run on their own: ``python -m bench.pipeline`` (tasks/s and latency beside the
same SDK calls in one process, validation's checks per task beside the same checks by hand, and
the floor), ``bench.timeline`` (one task step by step), ``bench.fanout`` (/ws fan-out) and
``bench.memory`` (each service's RSS idle, after 10,000 tasks and after 100,000 events of
execution output).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from orchestrator.events import EventStore, Follower, RecordedEvent, encode, subjects
from orchestrator.events.catalog import TaskSubmitted
from orchestrator.events.connection import provision
from orchestrator.events.envelope import Envelope
from orchestrator.events.nats_settings import NatsSettings
from orchestrator.launcher.nats_server import NatsServer, free_port


def event(i: int, size: int) -> TaskSubmitted:
    return TaskSubmitted(task_id=f"t{i}", requirement="x" * size, priority=5)


def body_like(size: int) -> bytes:
    """An encoded envelope of the same size the store appends, for the raw side."""
    body, _ = encode(Envelope.wrap(event(0, size)))
    return body


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def line(name: str, count: int, seconds: float, latencies: list[float] | None = None) -> float:
    rate = count / seconds
    text = f"  {name:<44} {rate:>10,.0f} /s"
    if latencies:
        ms = [x * 1000 for x in latencies]
        text += f"   p50 {statistics.median(ms):6.2f} ms   p99 {percentile(ms, 0.99):6.2f} ms"
    print(text)
    return rate


Call = Callable[[str, int], Awaitable[None]]


def bind(call: Call, prefix: str) -> Callable[[int], Awaitable[None]]:
    return lambda i: call(prefix, i)


async def timed_sequential(
    count: int, call: Callable[[int], Awaitable[Any]]
) -> tuple[float, list[float]]:
    latencies = []
    started = time.perf_counter()
    for i in range(count):
        t = time.perf_counter()
        await call(i)
        latencies.append(time.perf_counter() - t)
    return time.perf_counter() - started, latencies


async def timed_concurrent(
    count: int, concurrency: int, call: Callable[[int], Awaitable[Any]]
) -> float:
    next_index = iter(range(count))

    async def runner() -> None:
        for i in next_index:
            await call(i)

    started = time.perf_counter()
    await asyncio.gather(*(runner() for _ in range(concurrency)))
    return time.perf_counter() - started


async def bench_append(js: JetStreamContext, args: argparse.Namespace) -> None:
    store = EventStore(js)
    body = body_like(args.size)
    print(f"\nappend ({len(body)} B bodies, fsync per write)")

    async def append(prefix: str, i: int) -> None:
        await store.append(subjects.task(f"{prefix}{i}"), event(i, args.size), expected_last_seq=0)

    async def publish(prefix: str, i: int) -> None:
        await js.publish(subjects.task(f"{prefix}{i}"), body)

    async def publish_guarded(prefix: str, i: int) -> None:
        """Raw, but asking the server for the same guarantees: de-duplication, concurrency."""
        headers = {"Nats-Msg-Id": f"{prefix}{i}", "Nats-Expected-Last-Subject-Sequence": "0"}
        await js.publish(subjects.task(f"{prefix}{i}"), body, headers=headers)

    # warm up both paths (pydantic schema build, connection buffers)
    for i in range(20):
        await append("warm_a", i)
        await publish("warm_p", i)
        await publish_guarded("warm_g", i)

    # Interleaved in slices so a busy disk or CPU hurts every side alike.
    sides: dict[str, Call] = {
        "raw js.publish": publish,
        "raw js.publish + msg-id/expected-seq": publish_guarded,
        "EventStore.append": append,
    }
    n, slices = args.appends, 10
    seconds = dict.fromkeys(sides, 0.0)
    latencies: dict[str, list[float]] = {name: [] for name in sides}
    for k in range(slices):
        for j, (name, call) in enumerate(sides.items()):
            prefix = f"seq{j}_{k}_"
            took, lat = await timed_sequential(n // slices, bind(call, prefix))
            seconds[name] += took
            latencies[name] += lat
    rates = {name: line(f"{name}, sequential", n, seconds[name], latencies[name]) for name in sides}
    ours, raw, guarded = (rates[name] for name in ("EventStore.append", *list(sides)[:2]))
    print(f"  ratio sequential append/raw: {ours / raw:.2f}   /raw+headers: {ours / guarded:.2f}")

    c = args.concurrency
    seconds = dict.fromkeys(sides, 0.0)
    for k in range(slices):
        for j, (name, call) in enumerate(sides.items()):
            prefix = f"con{j}_{k}_"
            seconds[name] += await timed_concurrent(n * 2 // slices, c, bind(call, prefix))
    rates = {name: line(f"{name}, {c} concurrent", n * 2, seconds[name]) for name in sides}
    ours, raw, guarded = (rates[name] for name in ("EventStore.append", *list(sides)[:2]))
    print(f"  ratio concurrent append/raw: {ours / raw:.2f}   /raw+headers: {ours / guarded:.2f}")


async def fill(js: JetStreamContext, count: int, size: int, prefix: str) -> int:
    """Store ``count`` real envelopes under ``events.task.<prefix>...``; return the last seq."""
    last = 0
    batch = 256

    async def one(i: int) -> int:
        body, headers = encode(Envelope.wrap(event(i % 5000, size)))  # unique Nats-Msg-Id
        ack = await js.publish(subjects.task(f"{prefix}{i % 5000}"), body, headers=headers)
        return int(ack.seq)

    for start in range(0, count, batch):
        seqs = await asyncio.gather(*(one(i) for i in range(start, min(count, start + batch))))
        last = max(last, *seqs)
    return last


async def replay_follower(js: JetStreamContext, subject_filter: str, count: int) -> float:
    model: dict[str, int] = {}

    def apply(recorded: RecordedEvent) -> None:
        model[recorded.event.task_id] = recorded.seq  # type: ignore[attr-defined]

    applied = 0

    def counting(recorded: RecordedEvent) -> None:
        nonlocal applied
        apply(recorded)
        applied += 1

    follower = Follower(js, subject_filter, counting)
    started = time.perf_counter()
    await follower.start()
    await follower.wait_caught_up(timeout=600)
    elapsed = time.perf_counter() - started
    await follower.stop()
    assert applied == count, (applied, count)
    assert model
    return elapsed


async def replay_raw(js: JetStreamContext, subject_filter: str, count: int, parse: bool) -> float:
    done = asyncio.Event()
    seen = 0
    model: dict[str, int] = {}

    async def on_msg(msg: Any) -> None:
        nonlocal seen
        seen += 1
        if parse:
            data = json.loads(msg.data)
            model[data["data"]["task_id"]] = seen
        if seen == count:
            done.set()

    started = time.perf_counter()
    sub = await js.subscribe(subject_filter, cb=on_msg, ordered_consumer=True)
    await asyncio.wait_for(done.wait(), 600)
    elapsed = time.perf_counter() - started
    await sub.unsubscribe()
    return elapsed


async def bench_replay(js: JetStreamContext, args: argparse.Namespace) -> None:
    n = args.replay
    prefix = "replay_"
    await fill(js, n, args.size, prefix)
    subject_filter = subjects.TASK_ALL
    info = await js.stream_info(subjects.EVENTS_STREAM)
    total = int(info.state.messages)
    print(f"\nreplay of {total:,} events ({args.size} B requirement each) into a projection")
    raw: list[float] = []
    raw_json: list[float] = []
    ours: list[float] = []
    await replay_raw(js, subject_filter, total, parse=False)  # warm the server's caches
    for _ in range(args.rounds):  # interleaved, best of each: the machine may be busy
        raw.append(await replay_raw(js, subject_filter, total, parse=False))
        raw_json.append(await replay_raw(js, subject_filter, total, parse=True))
        ours.append(await replay_follower(js, subject_filter, total))
    raw_rate = line("raw ordered consumer, no decode", total, min(raw))
    raw_json_rate = line("raw ordered consumer + json.loads", total, min(raw_json))
    ours_rate = line("Follower (typed decode) into a dict", total, min(ours))
    print(f"  ratio replay Follower/raw:            {ours_rate / raw_rate:.2f}  (aim >= 0.70)")
    print(f"  ratio replay Follower/raw+json.loads: {ours_rate / raw_json_rate:.2f}")


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="orch-bench-") as tmp:
        server = NatsServer(store_dir=Path(tmp), port=free_port(), monitor_port=free_port())
        server.start()
        try:
            varz = server.varz()
            print(
                f"nats-server {varz['version']}, sync_always="
                f"{varz['jetstream']['config'].get('sync_always')}"
            )
            nc: NATS = await nats.connect(server.url)
            js = nc.jetstream(timeout=30)
            await provision(js, NatsSettings())
            if not args.skip_append:
                await bench_append(js, args)
            await bench_replay(js, args)
            await nc.close()
        finally:
            server.stop()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--appends", type=int, default=1000, help="sequential appends per side")
    parser.add_argument("--concurrency", type=int, default=32, help="appenders in flight")
    parser.add_argument("--replay", type=int, default=20000, help="events to replay")
    parser.add_argument("--size", type=int, default=200, help="requirement text size (bytes)")
    parser.add_argument("--rounds", type=int, default=3, help="replay rounds (best is quoted)")
    parser.add_argument("--skip-append", action="store_true")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
