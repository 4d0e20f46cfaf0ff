"""Gateway cold start over a long stream: full replay vs a snapshot and a tail, in the same run.

    python -m bench.cold_start [--events 1000000] [--tail 1000]

On the launcher's nats-server (``sync_interval: always``, as ``make run``), the stream is filled
with ``--events - --tail`` domain events of a realistic mix (:func:`domain_events`: full task
lifecycles through the four stages with usage, files written by integration, a validation that
sends a task back, approval gates, cancellations, now and then an execution with output and a
workspace reset), appended straight to the stream. Then, each a real gateway process:

1. **first start**: no snapshot, a full replay; once ready it writes a snapshot (the replay was
   more than ``GATEWAY_SNAPSHOT_EVERY`` events). While it writes, ``/healthz`` is asked in a loop
   and the slowest answer is the pause a client sees; the gateway's own log gives the fork's;
2. ``--tail`` more events are appended, with the gateway stopped;
3. **snapshot + tail**: a new gateway restores the snapshot and replays the tail;
4. **full replay**: the snapshots are deleted and a new gateway replays all ``--events``.

Time to ready is from spawning the process to ``/readyz`` answering 200 (the gateway listens
only once its read models have caught up), so it includes the interpreter's start and imports.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import nats
from nats.js import JetStreamContext
from nats.js.api import PubAck

from orchestrator.events import Envelope, encode
from orchestrator.events.catalog import (
    STAGE_AGENT,
    ApprovalGranted,
    ApprovalRequested,
    ArchiveMaterialised,
    CheckOutcome,
    Event,
    ExecutionFinished,
    ExecutionRequested,
    ExecutionStarted,
    FileRef,
    FileWritten,
    StageCompleted,
    StageStarted,
    TaskCancelled,
    TaskCompleted,
    TaskSubmitted,
    Usage,
    ValidationFailed,
    WorkspaceArchived,
)
from orchestrator.events.connection import provision, snapshots_store
from orchestrator.events.nats_settings import NatsSettings
from orchestrator.events.testing import subject_of
from orchestrator.launcher.nats_server import free_port
from orchestrator.launcher.supervisor import ServiceProcess
from tests.harness import System, wait_until

PROVIDER = {"claude": "anthropic", "codex": "openai", "claude2": "anthropic", "ide": None}
MODEL = {"claude": "claude-sonnet-4", "codex": "gpt-5", "claude2": "claude-sonnet-4", "ide": None}
IN_FLIGHT = 2000
Stage = Literal["analysis", "implementation", "validation", "integration"]


def _digest(i: int, k: int) -> str:
    return f"{i:032x}{k:032x}"


def _stage(task_id: str, stage: Stage, i: int, **done: Any) -> list[Event]:
    agent = STAGE_AGENT[stage]
    provider, model = PROVIDER[agent], MODEL[agent]
    usage = (
        Usage(
            input_tokens=900 + i % 300,
            output_tokens=400 + i % 200,
            cost_usd=round(0.0012 * (1 + i % 7), 6),
            provider=provider,
            model=model,
            calls=1,
        )
        if provider
        else Usage()
    )
    return [
        StageStarted(task_id=task_id, stage=stage, agent=agent, provider=provider, model=model),
        StageCompleted(
            task_id=task_id,
            stage=stage,
            agent=agent,
            summary=f"{stage} of task {i}: done, {40 + i % 50} lines",
            usage=usage,
            **done,
        ),
    ]


def task_events(i: int) -> list[Event]:
    """One task's history: ~13 events, some with a gate, a rejected validation or a cancel."""
    task_id = f"task_{i:032x}"  # as POST /api/requirements issues them
    files = (
        FileRef(path=f"implementation/app_{i}.py", digest=_digest(i, 1), size=1200 + i % 900),
        FileRef(path=f"implementation/test_app_{i}.py", digest=_digest(i, 2), size=600),
    )
    checks = (
        CheckOutcome(name="syntax", status="passed", duration_s=0.02, summary="2 files"),
        CheckOutcome(name="tests", status="passed", duration_s=0.8, summary="3 passed"),
    )
    events: list[Event] = [
        TaskSubmitted(
            task_id=task_id,
            requirement=f"I want a FastAPI server number {i} that serves Hello World",
            priority=i % 10 + 1,
            metadata={"source": "bench"},
            approval=("plan",) if i % 7 == 0 else (),
        )
    ]
    events += _stage(task_id, "analysis", i)
    if i % 7 == 0:
        events += [
            ApprovalRequested(task_id=task_id, gate="plan", round=1, summary="the plan"),
            ApprovalGranted(task_id=task_id, gate="plan", round=1),
        ]
    if i % 13 == 0:
        events += [
            StageStarted(task_id=task_id, stage="implementation", agent="codex"),
            TaskCancelled(task_id=task_id, reason="changed my mind"),
        ]
        return events
    events += _stage(task_id, "implementation", i, files=files)
    if i % 11 == 0:
        events += [
            StageStarted(task_id=task_id, stage="validation", agent="claude2"),
            ValidationFailed(
                task_id=task_id,
                round=1,
                findings=("the test fails",),
                usage=Usage(input_tokens=700, output_tokens=90, cost_usd=0.002, calls=1),
            ),
        ]
        events += _stage(task_id, "implementation", i, files=files, round=2)
    events += _stage(task_id, "validation", i, checks=checks)
    events += _stage(task_id, "integration", i, files=files)
    events += [
        FileWritten(path=f.path, digest=f.digest, size=f.size, task_id=task_id) for f in files
    ]
    events.append(TaskCompleted(task_id=task_id, files=files))
    return events + _after_completion(i, files)


def _after_completion(i: int, files: tuple[FileRef, ...]) -> list[Event]:
    """A run of the first file every 50th task; an archive every 500th."""
    events: list[Event] = []
    if i % 50 == 0:
        run = f"exec_{i:016x}"
        events += [
            ExecutionRequested(execution_id=run, path=files[0].path),
            ExecutionStarted(
                execution_id=run, path=files[0].path, command="python app.py", pid=4000 + i % 999
            ),
            # Its five output lines are in the OUTPUT stream, not in the history replayed here.
            ExecutionFinished(
                execution_id=run,
                status="completed",
                exit_code=0,
                duration_s=0.4,
                output_lines=5,
            ),
        ]
    if i % 500 == 499:
        name = f"archive-{i:07d}"
        events += [
            WorkspaceArchived(
                archive_name=name, archive_path=f"archives/{name}", files=files, request_id=name
            ),
            ArchiveMaterialised(archive_name=name, archive_path=f"archives/{name}", files=2),
        ]
    return events


def domain_events(count: int, start_task: int = 0) -> Iterator[Event]:
    """``count`` events of whole task histories from task ``start_task`` on (the last cut short)."""
    made, i = 0, start_task
    while True:
        for event in task_events(i):
            if made == count:
                return
            yield event
            made += 1
        i += 1


async def append(js: JetStreamContext, events: Iterator[Event]) -> int:
    """Append ``events`` in order, ``IN_FLIGHT`` unacknowledged at once; the last sequence."""
    pending: list[asyncio.Future[PubAck]] = []
    for event in events:
        body, headers = encode(Envelope.wrap(event))
        pending.append(await js.publish_async(subject_of(event), body, headers=headers))
        if len(pending) >= IN_FLIGHT:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)
    info = await js.stream_info("EVENTS")
    return int(info.state.last_seq)


@dataclass
class Start:
    seconds: float
    process: ServiceProcess
    port: int


def start_gateway(system: System, name: str, timeout: float, **env: str) -> Start:
    """A gateway process logging to ``name``, on a port of its own, once ``/readyz`` says 200."""
    port = free_port()
    began = time.perf_counter()
    process = system.start("gateway", log_name=name, GATEWAY_PORT=str(port), **env)

    def ready() -> bool:
        if not process.running():
            raise RuntimeError(f"the gateway exited:\n{system.log(name)}")
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200

    wait_until(
        ready, lambda: f"the gateway ready:\n{system.log(name)}", timeout=timeout, interval=0.01
    )
    return Start(time.perf_counter() - began, process, port)


WRITTEN = re.compile(
    r"snapshot #(\d+) written: (\d+) bytes, event loop paused ([0-9.]+)ms \(fork\), "
    r"encoded in ([0-9.]+)s, uploaded in ([0-9.]+)s"
)


def await_snapshot(system: System, name: str, port: int, timeout: float) -> tuple[str, float]:
    """The gateway's line on its snapshot, and the slowest ``/healthz`` answer meanwhile."""
    slowest = 0.0
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=30) as client:
        while time.monotonic() < deadline:
            found = WRITTEN.search((system.logs / f"{name}.log").read_text(errors="replace"))
            if found:
                return found.group(0), slowest
            began = time.perf_counter()
            client.get(f"http://127.0.0.1:{port}/healthz")
            slowest = max(slowest, time.perf_counter() - began)
            time.sleep(0.005)
    raise TimeoutError(f"no snapshot written in {timeout:.0f}s:\n{system.log(name)}")


async def delete_snapshots(url: str) -> int:
    nc = await nats.connect(url)
    try:
        bucket = await snapshots_store(nc.jetstream(), NatsSettings(nats_url=url))
        infos = await bucket.list()
        for info in infos:
            await bucket.delete(info.name)
        return len(infos)
    finally:
        await nc.close()


async def fill(url: str, count: int, start_task: int) -> tuple[int, int]:
    """Append ``count`` events; (last sequence, the next task number)."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream(timeout=30)
        await provision(js, NatsSettings(nats_url=url))
        events = list(domain_events(count, start_task))
        last = await append(js, iter(events))
        tasks = {getattr(e, "task_id", None) for e in events} - {None}
        return last, start_task + len(tasks)
    finally:
        await nc.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--tail", type=int, default=1_000)
    parser.add_argument("--snapshot-every", type=int, default=50_000)
    parser.add_argument("--timeout", type=float, default=900.0, help="per gateway start")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-cold-start-") as root:
        system = System(root=Path(root), env={"GATEWAY_SNAPSHOT_EVERY": str(args.snapshot_every)})
        system.start_nats()
        assert system.nats is not None
        url = system.nats.url
        try:
            began = time.perf_counter()
            before_tail, next_task = asyncio.run(fill(url, args.events - args.tail, 0))
            filled = time.perf_counter() - began
            print(
                f"stream: {before_tail:,} events appended in {filled:.1f}s "
                f"({before_tail / filled:,.0f}/s)"
            )

            first = start_gateway(system, "gateway-first", args.timeout)
            line, slowest = await_snapshot(system, "gateway-first", first.port, args.timeout)
            found = WRITTEN.search(line)
            assert found is not None
            seq = found.group(1)
            first.process.stop(timeout=15)

            last, _ = asyncio.run(fill(url, args.tail, next_task))
            tail = last - int(seq)

            warm = start_gateway(system, "gateway-snapshot", args.timeout)
            log = system.log("gateway-snapshot")
            restored = _said(log, "restored from snapshot")
            opened = _said(log, "after the process started")
            warm.process.stop(timeout=15)

            deleted = asyncio.run(delete_snapshots(url))
            cold = start_gateway(system, "gateway-replay", args.timeout)
            replayed = "replaying the stream from #1" in system.log("gateway-replay")
            cold.process.stop(timeout=15)
        finally:
            system.stop()

    _report(
        Figures(before_tail, first.seconds, last, warm.seconds, cold.seconds, tail, deleted),
        found.groups(),
        slowest,
        (restored, opened),
        replayed,
    )


def _said(log: str, marker: str) -> str | None:
    """The message of the gateway's first log line holding ``marker`` (its prefix cut off)."""
    return next((line.split(": ", 1)[-1] for line in log.splitlines() if marker in line), None)


@dataclass(frozen=True)
class Figures:
    before_tail: int
    first_s: float
    last: int
    warm_s: float
    cold_s: float
    tail: int
    deleted: int


def _report(
    figures: Figures,
    written: tuple[str | Any, ...],
    slowest: float,
    gateway_said: tuple[str | None, str | None],
    replayed: bool,
) -> None:
    """``gateway_said``: the snapshot start's lines on its restore and on where its start went."""
    seq, size, pause_ms, encode_s, upload_s = written
    restored, opened = gateway_said
    before_tail, last, tail, deleted = (
        figures.before_tail,
        figures.last,
        figures.tail,
        figures.deleted,
    )
    print(f"snapshot: #{int(seq):,}, {int(size) / 1e6:,.1f} MB")
    print(
        f"snapshot write: event loop paused {float(pause_ms):.1f} ms (fork), "
        f"slowest /healthz meanwhile {slowest * 1000:.1f} ms, "
        f"encoded in {float(encode_s):.2f} s (child), uploaded in {float(upload_s):.2f} s"
    )
    print("start                        events  time to ready")
    print(f"first start (full replay) {before_tail:>10,} {figures.first_s:>12.2f} s")
    print(
        f"snapshot + tail           {last:>10,} {figures.warm_s:>12.2f} s"
        f"  (tail {tail:,}{'' if restored else ', SNAPSHOT NOT USED'})"
    )
    if restored:
        print(f"  gateway: {restored}")
        if opened:
            print(f"  gateway: {opened}")
    print(
        f"full replay               {last:>10,} {figures.cold_s:>12.2f} s"
        f"  ({deleted} snapshots deleted{'' if replayed else ', DID NOT REPLAY'})"
    )


if __name__ == "__main__":
    main()
