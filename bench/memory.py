"""Memory of every service process: idle, after many tasks, after much execution output.

    python -m bench.memory [--tasks 10000] [--output-events 100000] [--runs 100]

The real system (nats-server, gateway, agents, workspace, archive, each its own process; a fake
LLM answering instantly) is started and each process's RSS (psutil) is read three times:

1. idle: every service up, nothing done yet;
2. after one task, run for real through the pipeline (REST, the agents calling the fake,
   validation's checks in the sandbox, integration): what the first task costs once (the model
   SDKs' lazy imports, connection pools, caches), which is not growth with history;
3. after ``--tasks`` more: that task's whole history (its task events and integration's
   ``FileWritten`` on ``events.workspace``) is appended again under a new task id ``--tasks``
   times, straight to the stream with :class:`EventStore`. Each
   copy is appended in one burst (all its events written before any is acknowledged), so by the
   time a service handles its ``TaskSubmitted`` the task has finished and nothing reacts; what
   is measured is what the services keep of finished tasks;
4. after ``--output-events`` events of execution output: ``--runs`` executions, each
   ``ExecutionRequested`` (dated before ``EXEC_REQUEST_TTL``, so no workspace service would start
   it), ``ExecutionStarted`` and ``ExecutionFinished`` in the domain stream and its share of
   ``ExecutionOutput`` (five lines each) in the ``OUTPUT`` stream, as the workspace service
   records them, appended the same way. The gateway follows the output stream live (its /ws
   frames, its line counts) but keeps no line.

Each figure is read once every service has caught up: the gateway's projection at the stream's
last sequence (``/readyz``) and every consumer of the stream (durable and ordered) with nothing
pending, then a second for the last batch to be applied.

The baseline, measured in the same run: for each service, a bare Python process importing what
that service's entry point imports (its ``bootstrap`` or ``app`` and ``orchestrator.events``),
nothing started; the ``imports`` column. The growth columns are (after - before) per 1,000 tasks
(from the figure after one task) and per 10,000 output events. The run also says how many tasks
and executions the gateway's read models hold at the end (from ``/metrics``), and, if any
service appended events of its own in reaction to the copies, how many (a race with the burst;
the figures then include that work).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import nats
import psutil  # type: ignore[import-untyped]
from nats.js import JetStreamContext

from orchestrator.events import Envelope, EventStore, RecordedEvent, subjects
from orchestrator.events.catalog import (
    ExecutionFinished,
    ExecutionOutput,
    ExecutionRequested,
    ExecutionStarted,
)
from orchestrator.events.envelope import new_id, utcnow
from tests.harness import System, eventually

from .pipeline import FakeProcess

SERVICES = ("gateway", "agents", "workspace", "archive")
IMPORTS = {
    "gateway": ("uvicorn", "orchestrator.events.service", "orchestrator.gateway.app"),
    "agents": ("orchestrator.events.service", "orchestrator.agents.bootstrap"),
    "workspace": ("orchestrator.events.service", "orchestrator.workspace.bootstrap"),
    "archive": ("orchestrator.events.service", "orchestrator.archive.bootstrap"),
}
LINES_PER_EVENT = 5
IN_FLIGHT = 32
"""Tasks (or output batches) being appended at once."""
MB = 1024 * 1024


def rss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / MB


def imports_mb(modules: Sequence[str]) -> float:
    """RSS of a bare interpreter once it has imported ``modules``."""
    code = (
        "import importlib, sys\n"
        "for m in sys.argv[1:]: importlib.import_module(m)\n"
        "print('imported', flush=True)\n"
        "sys.stdin.read()\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code, *modules], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    ) as child:
        assert child.stdout is not None and child.stdin is not None
        if child.stdout.readline().strip() != b"imported":
            raise RuntimeError(f"importing {modules} failed")
        figure = rss_mb(child.pid)
        child.stdin.close()
        child.wait(10)
    return figure


@dataclass
class Figures:
    imports: dict[str, float] = field(default_factory=dict)
    idle: dict[str, float] = field(default_factory=dict)
    one_task: dict[str, float] = field(default_factory=dict)
    tasks: dict[str, float] = field(default_factory=dict)
    output: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


async def last_seq(js: JetStreamContext) -> int:
    return int((await js.stream_info(subjects.EVENTS_STREAM)).state.last_seq or 0)


async def caught_up(
    js: JetStreamContext, http: httpx.AsyncClient, timeout: float
) -> tuple[float, str]:
    """Wait until the gateway and every consumer of the stream have seen all of it: the seconds
    it took, and who was the last still busy (a durable consumer's name, or the gateway)."""
    started = time.perf_counter()
    last_busy = "nobody"

    async def all_seen() -> bool:
        nonlocal last_busy
        target = await last_seq(js)
        ready = (await http.get("/readyz")).json()
        consumers = [
            *await js.consumers_info(subjects.EVENTS_STREAM),
            *await js.consumers_info(subjects.OUTPUT_STREAM),
        ]
        busy = [
            c.name or "?" for c in consumers if (c.num_pending or 0) or (c.num_ack_pending or 0)
        ]
        if ready.get("projection_seq", 0) < target:
            busy.append("gateway")
        if busy:
            last_busy = ", ".join(sorted(busy))
        return not busy and await last_seq(js) == target

    await eventually(
        all_seen, "the services caught up with the stream", timeout=timeout, interval=0.5
    )
    await asyncio.sleep(1.0)  # the last batch delivered is applied
    return time.perf_counter() - started, last_busy


async def append_all(
    store: EventStore, bursts: Sequence[Sequence[tuple[str, Envelope]]]
) -> tuple[int, float]:
    """Append each burst's envelopes in order, all at once; ``IN_FLIGHT`` bursts at a time. Output
    batches (``output.exec.*``) go to the output stream; the count returned is of domain events."""
    semaphore = asyncio.Semaphore(IN_FLIGHT)
    started = time.perf_counter()
    outputs = EventStore(store.js, stream=subjects.OUTPUT_STREAM)

    def store_of(subject: str) -> EventStore:
        return outputs if subject.startswith("output.") else store

    async def one(burst: Sequence[tuple[str, Envelope]]) -> None:
        async with semaphore:
            seqs = await asyncio.gather(*(store_of(s).append_envelope(s, e) for s, e in burst))
            if list(seqs) != sorted(seqs):
                raise RuntimeError(f"a burst was stored out of order: {seqs}")

    await asyncio.gather(*(one(b) for b in bursts))
    domain = sum(1 for b in bursts for s, _ in b if not s.startswith("output."))
    return domain, time.perf_counter() - started


def copy_of(template: Sequence[RecordedEvent]) -> list[tuple[str, Envelope]]:
    """A finished task's history again, under a new task id (its causation links kept)."""
    task_id = f"task_{uuid.uuid4().hex}"
    ids: dict[str, str] = {}
    burst = []
    for recorded in template:
        envelope = recorded.envelope
        ids[envelope.id] = new_id()
        subject = subjects.task(task_id) if subjects.is_task(recorded.subject) else recorded.subject
        copy = Envelope(
            id=ids[envelope.id],
            type=envelope.type,
            correlation_id=task_id if envelope.correlation_id else None,
            causation_id=ids.get(envelope.causation_id or ""),
            schema_version=envelope.schema_version,
            data=recorded.event.model_copy(update={"task_id": task_id}),
        )
        burst.append((subject, copy))
    return burst


def executions(total: int, runs: int) -> list[list[tuple[str, Envelope]]]:
    """``runs`` executions with ``total`` output events between them, as bursts to append."""
    expired = utcnow() - timedelta(days=1)
    bursts: list[list[tuple[str, Envelope]]] = []
    for run in range(runs):
        execution_id = f"exec_{uuid.uuid4().hex}"
        subject = subjects.execution(execution_id)
        share = total // runs + (1 if run < total % runs else 0)
        path = f"bench/memory_{run}.py"
        opening = [
            Envelope.wrap(ExecutionRequested(execution_id=execution_id, path=path)).model_copy(
                update={"occurred_at": expired}
            ),
            Envelope.wrap(
                ExecutionStarted(
                    execution_id=execution_id, path=path, command=f"python {path}", pid=1
                )
            ),
        ]
        bursts.append([(subject, e) for e in opening])
        for first in range(0, share, 256):
            batch = []
            for k in range(first, min(share, first + 256)):
                line = k * LINES_PER_EVENT + 1
                lines = tuple(
                    f"{line + i:08d} {execution_id} output line of a run, as a program prints it"
                    for i in range(LINES_PER_EVENT)
                )
                batch.append(
                    Envelope.wrap(
                        ExecutionOutput(execution_id=execution_id, first_line=line, lines=lines)
                    )
                )
            bursts.append([(subjects.output(execution_id), e) for e in batch])
        finished = ExecutionFinished(
            execution_id=execution_id,
            status="completed",
            exit_code=0,
            duration_s=1.0,
            output_lines=share * LINES_PER_EVENT,
        )
        bursts.append([(subject, Envelope.wrap(finished))])
    return bursts


async def run_one_task(http: httpx.AsyncClient, timeout: float = 60) -> str:
    response = await http.post("/api/requirements", json={"requirement": "bench memory"})
    response.raise_for_status()
    task_id: str = response.json()["task_id"]

    async def completed() -> bool:
        status = (await http.get(f"/api/tasks/{task_id}")).json()["status"]
        if status in ("failed", "cancelled"):
            raise RuntimeError(f"the template task {task_id} {status}")
        return bool(status == "completed")

    await eventually(completed, f"the template task {task_id} completed", timeout=timeout)
    return task_id


async def template(store: EventStore, task_id: str) -> list[RecordedEvent]:
    """The task's events and its workspace events, in stream order."""
    own = await store.read(subjects.task(task_id))
    files = [
        r
        for r in await store.read(subjects.WORKSPACE)
        if getattr(r.event, "task_id", None) == task_id
    ]
    return sorted([*own, *files], key=lambda r: r.seq)


async def phase(
    what: str,
    js: JetStreamContext,
    http: httpx.AsyncClient,
    load: Callable[[], Awaitable[tuple[int, float]]],
    figures: Figures,
) -> None:
    before = await last_seq(js)
    appended, seconds = await load()
    waited, last_busy = await caught_up(js, http, timeout=900)
    reacted = await last_seq(js) - before - appended
    figures.notes.append(
        f"{what}: {appended:,} events appended in {seconds:.1f}s, caught up {waited:.1f}s later"
        f" (the last busy: {last_busy})"
        + (f"; the services appended {reacted:,} of their own in reaction" if reacted else "")
    )


METRIC = re.compile(r'^orchestrator_(tasks|executions)\{status="(\w+)"\} ([0-9.e+]+)$', re.M)


async def read_models(http: httpx.AsyncClient) -> dict[str, int]:
    """What the gateway's read models hold, by kind and status (from ``/metrics``)."""
    text = (await http.get("/metrics")).text
    return {f"{kind} {status}": int(float(n)) for kind, status, n in METRIC.findall(text)}


def sample(system: System) -> dict[str, float]:
    found = {p.service: rss_mb(p.pid) for p in system.processes if p.pid is not None}
    assert system.nats is not None and system.nats.pid is not None
    found["nats-server"] = rss_mb(system.nats.pid)
    return found


async def main(tasks: int, output_events: int, runs: int) -> Figures:
    figures = Figures()
    figures.imports = {s: imports_mb(IMPORTS[s]) for s in SERVICES}
    with FakeProcess() as fake, tempfile.TemporaryDirectory() as tmp:
        system = System(root=Path(tmp) / "system")
        server = system.start_nats()
        system.env.update(
            {**fake.env(), "RATE_LIMIT_REQUIREMENTS": "1000000", "LOG_LEVEL": "WARNING"}
        )
        http = httpx.AsyncClient(base_url=system.base_url, timeout=60)
        nc = await nats.connect(server.url)
        try:
            system.start_all(SERVICES)
            js = nc.jetstream(timeout=30)
            store = EventStore(js)
            await caught_up(js, http, timeout=60)
            figures.idle = sample(system)
            history = await template(store, await run_one_task(http))
            await caught_up(js, http, timeout=60)
            figures.one_task = sample(system)

            async def load_tasks() -> tuple[int, float]:
                return await append_all(store, [copy_of(history) for _ in range(tasks)])

            await phase(f"{tasks:,} tasks", js, http, load_tasks, figures)
            figures.tasks = sample(system)

            async def load_output() -> tuple[int, float]:
                return await append_all(store, executions(output_events, runs))

            await phase(
                f"{output_events:,} output events ({subjects.OUTPUT_STREAM} stream), their runs'",
                js,
                http,
                load_output,
                figures,
            )
            figures.output = sample(system)
            info = await js.stream_info(subjects.EVENTS_STREAM)
            out = await js.stream_info(subjects.OUTPUT_STREAM)
            held = await read_models(http)
            figures.notes.append(
                f"stream {subjects.EVENTS_STREAM}: {info.state.messages:,} events, "
                f"{(info.state.bytes or 0) / MB:,.1f} MB; stream {subjects.OUTPUT_STREAM}: "
                f"{out.state.messages:,} output events, {(out.state.bytes or 0) / MB:,.1f} MB; "
                "the gateway holds "
                + ", ".join(f"{count:,} {what}" for what, count in sorted(held.items()))
            )
        finally:
            await nc.close()
            await http.aclose()
            system.stop()
    return figures


def report(figures: Figures, tasks: int, output_events: int) -> None:
    print(
        f"RSS per process, MB; {tasks:,} tasks, {output_events:,} execution output events "
        f"({LINES_PER_EVENT} lines each)"
    )
    print(
        f"{'service':<11} | {'imports':>7} | {'idle':>7} {'1 task':>7} {'tasks':>7} "
        f"{'output':>7} | {'per 1k tasks':>12} {'per 10k output':>14} | {'output/idle':>11}"
    )
    for name in [*SERVICES, "nats-server"]:
        idle, warm = figures.idle[name], figures.one_task[name]
        after_tasks, after_output = figures.tasks[name], figures.output[name]
        per_tasks = (after_tasks - warm) / tasks * 1000 if tasks else 0.0
        per_output = (after_output - after_tasks) / output_events * 10000 if output_events else 0.0
        imports = figures.imports.get(name)
        print(
            f"{name:<11} | {f'{imports:.1f}' if imports else '-':>7} | {idle:>7.1f} {warm:>7.1f} "
            f"{after_tasks:>7.1f} {after_output:>7.1f} | {per_tasks:>12.2f} {per_output:>14.2f} | "
            f"{after_output / idle:>11.2f}"
        )
    for note in figures.notes:
        print(note)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000, help="finished tasks appended")
    parser.add_argument("--output-events", type=int, default=100_000, help="output events")
    parser.add_argument("--runs", type=int, default=100, help="executions the output is spread on")
    args = parser.parse_args()
    report(
        asyncio.run(main(args.tasks, args.output_events, args.runs)), args.tasks, args.output_events
    )
