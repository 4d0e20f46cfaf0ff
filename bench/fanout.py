"""WebSocket fan-out: one frame to N clients, how late the last ones get it.

    python -m bench.fanout [--clients 100,1000] [--rounds 5] [--processes 4]

The clients run in processes of their own (``--processes``, asyncio connections in each), so the
system is not sharing a process with them. A round is one event appended to the stream (a file
written: the gateway turns it into a ``workspace_update`` frame for every /ws client); each
client notes when the frame arrived, and the figure is how long after the first receipt the
others got it (p50 and p99 over clients, median over rounds).

Baseline, in the same run with the same clients: a bare ``websockets`` server in its own process
that sends one pre-encoded JSON frame to every connection (``websockets.broadcast``), i.e. what
fan-out costs with no event stream, projection or per-client queue.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import nats
import websockets

from orchestrator.events import EventStore, subjects
from orchestrator.events.catalog import FileWritten
from orchestrator.events.connection import provision
from orchestrator.events.nats_settings import NatsSettings
from orchestrator.launcher.nats_server import free_port
from tests.harness import System

MARK = "bench-fanout"


def _clients(url: str, count: int, rounds: int, pipe: Connection) -> None:
    """One client process: ``count`` connections; report each round's receipt times."""

    async def one(received: list[list[float]]) -> None:
        async with websockets.connect(url, max_size=None, open_timeout=60) as ws:
            pipe_ready.release()
            seen = 0
            async for message in ws:
                if MARK in message:
                    received[seen].append(time.time())
                    seen += 1
                    if seen == rounds:
                        return

    async def main() -> None:
        received: list[list[float]] = [[] for _ in range(rounds)]
        tasks = [asyncio.create_task(one(received)) for _ in range(count)]
        for _ in range(count):
            await pipe_ready.acquire()
        pipe.send("connected")
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
        pipe.send(received)

    pipe_ready = asyncio.Semaphore(0)
    asyncio.run(main())


def _broadcaster(port: int, pipe: Connection) -> None:
    """The baseline: a bare websockets server broadcasting a frame when told to."""

    async def main() -> None:
        clients: set[Any] = set()

        async def handler(ws: Any) -> None:
            clients.add(ws)
            try:
                await ws.wait_closed()
            finally:
                clients.discard(ws)

        async with websockets.serve(handler, "127.0.0.1", port, max_size=None):
            pipe.send("listening")
            loop = asyncio.get_running_loop()
            while True:
                command = await loop.run_in_executor(None, pipe.recv)
                if command == "stop":
                    return
                frame = {"type": "workspace_update", "path": f"{MARK}/{command}"}
                websockets.broadcast(clients, json.dumps(frame))

    asyncio.run(main())


def _spread(received: list[list[float]]) -> tuple[float, float]:
    """Median over rounds of (p50, p99) of each receipt after the round's first, in ms."""
    p50s, p99s = [], []
    for times in received:
        first = min(times)
        late = sorted((t - first) * 1000 for t in times)
        p50s.append(late[len(late) // 2])
        p99s.append(late[min(len(late) - 1, int(len(late) * 0.99))])
    return statistics.median(p50s), statistics.median(p99s)


async def _measure(url: str, clients: int, rounds: int, procs: int, publish: Any) -> Any:
    ctx = multiprocessing.get_context("spawn")
    pipes, workers = [], []
    for i in range(procs):
        share = clients // procs + (1 if i < clients % procs else 0)
        parent, child = ctx.Pipe()
        worker = ctx.Process(target=_clients, args=(url, share, rounds, child), daemon=True)
        worker.start()
        pipes.append(parent)
        workers.append(worker)
    for pipe in pipes:
        assert await asyncio.to_thread(pipe.recv) == "connected"
    for r in range(rounds):
        await publish(r)
        await asyncio.sleep(1.0)
    received: list[list[float]] = [[] for _ in range(rounds)]
    for pipe in pipes:
        for r, times in enumerate(await asyncio.to_thread(pipe.recv)):
            received[r].extend(times)
    for worker in workers:
        worker.join(10)
    assert all(len(times) == clients for times in received), [len(t) for t in received]
    return _spread(received)


async def main(levels: list[int], rounds: int, procs: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    system = System(root=root)
    system.start_nats()
    assert system.nats is not None
    system.start_all(("gateway",))
    nc = await nats.connect(system.nats.url)
    js = nc.jetstream(timeout=10)
    await provision(js, NatsSettings())
    store = EventStore(js)
    ctx = multiprocessing.get_context("spawn")
    base_port = free_port()
    parent, child = ctx.Pipe()
    broadcaster = ctx.Process(target=_broadcaster, args=(base_port, child), daemon=True)
    broadcaster.start()
    assert await asyncio.to_thread(parent.recv) == "listening"

    async def publish_event(r: int) -> None:
        await store.append(
            subjects.WORKSPACE,
            FileWritten(path=f"{MARK}/{time.time_ns()}-{r}.txt", digest="0" * 64, size=0),
        )

    async def publish_bare(r: int) -> None:
        parent.send(str(r))

    print(f"WebSocket fan-out, {rounds} rounds per level, clients in {procs} processes")
    print(f"{'clients':>8} | {'baseline p50':>12} {'p99':>8} | {'gateway p50':>11} {'p99':>8}")
    try:
        for clients in levels:
            bare = await _measure(
                f"ws://127.0.0.1:{base_port}/", clients, rounds, procs, publish_bare
            )
            ours = await _measure(f"{system.ws_url}/ws", clients, rounds, procs, publish_event)
            print(
                f"{clients:>8} | {bare[0]:>9.1f} ms {bare[1]:>5.1f} ms |"
                f" {ours[0]:>8.1f} ms {ours[1]:>5.1f} ms"
            )
    finally:
        parent.send("stop")
        broadcaster.join(5)
        await nc.close()
        system.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", default="100,1000")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--processes", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(main([int(c) for c in args.clients.split(",")], args.rounds, args.processes))
