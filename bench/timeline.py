"""Where one task's time goes: a per-step timeline at concurrency 1.

    python -m bench.timeline [--tasks 20]

Runs the same system as :mod:`bench.pipeline` (real nats-server, gateway, agents, workspace; a
fake LLM answering instantly, here in this process so its request times share our clock), submits
tasks one at a time, then reads every event back and prints, for each step of a task in order,
the median gap from the previous step's end to this step's start (for an event: its
``occurred_at``, when the writer built it) and how long the step itself took (for an event:
from ``occurred_at`` to the server's stored timestamp). "LLM request" rows are the times the
fake received each model call; "POST" and "ws completed" are the client's view.

``--files N`` has the implementer write N files of new content in every task (the default
answer writes one file, the same in every task, whose bytes are stored once and found after):
what storing a task's files and integrating them costs as they grow.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import nats
import websockets
from nats.js import api

from orchestrator.events import subjects
from orchestrator.events.envelope import decode
from tests.fakes import FakeLLM, RecordedRequest, Reply, Text
from tests.harness import System
from tests.pipeline.conftest import stage_of

from .pipeline import instant

Row = tuple[str, float, float]  # label, started (epoch s), ended (epoch s)


def new_files(count: int) -> Callable[[RecordedRequest], Reply]:
    """``instant``, but the implementation writes ``count`` files whose bytes no task wrote."""
    answers = itertools.count()

    def answer(request: RecordedRequest) -> Reply:
        if stage_of(request) != "implementation":
            return instant(request)
        n = next(answers)
        files = [
            {"path": f"part_{i}.py", "content": f"# answer {n}\nVALUE = {n * count + i}\n"}
            for i in range(count)
        ]
        return Text(json.dumps({"summary": f"{count} parts", "files": files}), chunk_size=1 << 20)

    return answer


async def run(tasks: int, files: int | None = None) -> dict[str, list[tuple[float, float]]]:
    with FakeLLM() as fake, tempfile.TemporaryDirectory() as tmp:
        fake.anthropic.responder = instant
        fake.openai.responder = instant if files is None else new_files(files)
        system = System(root=Path(tmp) / "system")
        server = system.start_nats()
        system.env.update(
            {
                "ANTHROPIC_BASE_URL": fake.anthropic_base_url,
                "OPENAI_BASE_URL": fake.openai_base_url,
                "ANTHROPIC_API_KEY": "sk-ant-bench",
                "OPENAI_API_KEY": "sk-bench",
                "RATE_LIMIT_REQUIREMENTS": "1000000",
                "AGENTS_STREAM_OUTPUT": "true",
                "LOG_LEVEL": "WARNING",
            }
        )
        try:
            system.start_all(("gateway", "agents", "workspace"))
            client = await _submit_one_by_one(system, tasks)
            rows = await _events(server.url, client)
        finally:
            system.stop()
        for request in fake.requests:
            for task_id, (start, _, done) in client.items():
                if start <= request.at <= done:
                    rows[task_id].append(("LLM request", request.at, request.at))
    steps: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for task_id, task_rows in rows.items():
        start, posted, done = client[task_id]
        ordered = [("POST", start, posted), *sorted(task_rows, key=lambda r: r[1])]
        ordered.append(("ws completed", done, done))
        previous_end = start
        for index, (label, began, ended) in enumerate(ordered):
            gap = (began - previous_end) * 1000 if index else 0.0
            steps[f"{index:02d} {label}"].append((gap, (ended - began) * 1000))
            previous_end = start if label == "POST" else ended  # the POST spans the append
        steps["total"].append((0.0, (done - start) * 1000))
    return steps


async def _submit_one_by_one(system: System, tasks: int) -> dict[str, tuple[float, float, float]]:
    http = httpx.AsyncClient(base_url=system.base_url, timeout=60)
    ws = await websockets.connect(f"{system.ws_url}/ws", max_size=None)
    done: dict[str, asyncio.Future[float]] = defaultdict(
        lambda: asyncio.get_running_loop().create_future()
    )

    async def listen() -> None:
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("type") == "task_update" and frame.get("status") == "completed":
                future = done[frame["task_id"]]
                if not future.done():
                    future.set_result(time.time())

    listener = asyncio.create_task(listen())
    client: dict[str, tuple[float, float, float]] = {}
    try:
        for i in range(tasks + 4):  # the first four warm up
            start = time.time()
            response = await http.post("/api/requirements", json={"requirement": f"bench {i}"})
            posted = time.time()
            response.raise_for_status()
            task_id = response.json()["task_id"]
            finished = await asyncio.wait_for(done[task_id], 60)
            if i >= 4:
                client[task_id] = (start, posted, finished)
    finally:
        listener.cancel()
        await ws.close()
        await http.aclose()
    return client


async def _events(url: str, client: dict[str, Any]) -> dict[str, list[Row]]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        total = (await js.stream_info(subjects.EVENTS_STREAM)).state.messages
        await js.add_consumer(
            subjects.EVENTS_STREAM,
            api.ConsumerConfig(
                name="timeline",
                ack_policy=api.AckPolicy.NONE,
                filter_subject="events.>",
                mem_storage=True,
            ),
        )
        sub = await js.pull_subscribe_bind("timeline", stream=subjects.EVENTS_STREAM)
        rows: dict[str, list[Row]] = defaultdict(list)
        seen = 0
        while seen < total:
            for msg in await sub.fetch(500, timeout=5):
                seen += 1
                meta = msg.metadata
                recorded = decode(
                    msg.data, dict(msg.headers or {}), msg.subject, meta.sequence.stream
                )
                task_id = getattr(recorded.event, "task_id", None)
                if task_id not in client:
                    continue
                stage = getattr(recorded.event, "stage", None)
                label = recorded.envelope.type + (f"({stage})" if stage else "")
                created = recorded.envelope.occurred_at.timestamp()
                rows[task_id].append((label, created, meta.timestamp.timestamp()))
        return rows
    finally:
        await nc.close()


def report(steps: dict[str, list[tuple[float, float]]]) -> None:
    print(f"{'step':<40} {'gap before':>10} {'took':>8}   (medians, ms)")
    for name in sorted(steps):
        gaps = [g for g, _ in steps[name]]
        took = [t for _, t in steps[name]]
        print(f"{name:<40} {statistics.median(gaps):>10.1f} {statistics.median(took):>8.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--files", type=int, default=None, help="new files per task")
    args = parser.parse_args()
    report(asyncio.run(run(args.tasks, args.files)))
