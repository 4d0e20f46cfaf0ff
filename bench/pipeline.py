"""Pipeline benchmark: the whole system against a direct in-process pipeline, same SDK calls.

    python -m bench.pipeline [--levels 1,10,100] [--tasks-per-level 20,60,200] [--repeats 3]
                             [--check-tasks 10]

A fake LLM server on loopback answers instantly (tests/fakes), so what is measured is our cost:
for each concurrency level, tasks per second and per-task latency (p50, p99) of

- the baseline: one process making the same calls as the agents (streamed AsyncAnthropic plan,
  streamed AsyncOpenAI files, compile() checks, streamed AsyncAnthropic review) and writing the
  files to disk; no NATS, no services;
- the system: real nats-server, gateway, agents, workspace processes; a task is submitted over
  REST and is done when its ``completed`` task_update arrives on /ws.

"added p50" is the system's p50 latency minus the baseline's.

So that one run can be trusted, each level is measured ``--repeats`` times, a baseline run then a
system run, then again (the system stays up throughout; the warm-up before the first level is not
counted). Every figure is computed per repeat (a ratio and an added p50 from the baseline and
system runs of the same repeat) and the table quotes its median over the repeats; a second table
gives the spread of each, min-max over the repeats.

Beside the tables, what validation's checks cost per task (:mod:`bench.checks`): after the
levels, ``--check-tasks`` tasks whose plan has tests and an entry point go through the pipeline,
each one's checks timed from ``ChecksRequested`` to ``ChecksRecorded`` beside the same candidate
checked by hand in the sandbox. Then the floor (:mod:`bench.floor`): after the warm-up, one task
run by itself, its appends and cross-process hops read from its history; each at its cost
measured on the same nats-server after every system run (median over those samples, and their
spread); and each level's added p50 as a multiple of that floor.

Where a task's time goes at concurrency 1 (medians of 20 tasks on the shared 2-core dev VM, ms;
from the events' occurred_at and their stored timestamps, and the fake's request times):
POST until TaskSubmitted is created ~4 (HTTP, settings read), the whole POST ~7.5; each hop from
one stage's StageCompleted stored to the next StageStarted created ~4-5 (delivery to the
worker ~1-2, the task's version and the settings document read together ~1, the rest is CPU
shared by five processes on two cores); StageStarted stored to the model's request ~4.5 and the
answer to StageCompleted ~4-5 per stage (the baseline pays most of that too); integration from
validation's StageCompleted to TaskCompleted stored ~8 (it was ~18 before integration decided on
a live task history and read a file's bytes with one direct get); the ``completed`` frame ~1.5
after TaskCompleted. Each append is ~0.5 at the server (fsynced, ``sync_interval: always``) and
~1-1.5 round trip; about a dozen per task.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anthropic
import httpx
import nats
import openai
import websockets

from orchestrator.agents import prompts  # the same prompts and schemas the agents send
from orchestrator.agents.providers import Prompt, parse_json
from orchestrator.agents.sdk_adapters import AnthropicChat, OpenAIChat
from orchestrator.agents.static_checks import run_checks
from orchestrator.events.messages import SandboxWorld
from orchestrator.workspace.sandbox.probe import probe
from orchestrator.workspace.settings import WorkspaceSettings
from orchestrator.workspace.world import describe as describe_world
from tests.fakes import FakeLLM, RecordedRequest, Reply, Text
from tests.harness import System
from tests.pipeline.conftest import GOOD_FILES, PLAN, REVIEW_OK, stage_of

from . import checks, floor


async def _ignore(_: str) -> None:
    return None


def instant(request: RecordedRequest) -> Reply:
    """The answer for the request's stage, all at once (one streamed delta)."""
    stage = stage_of(request) or "analysis"
    body = {"analysis": PLAN, "implementation": GOOD_FILES, "validation": REVIEW_OK}
    text = checks.answer(request.text, stage) or json.dumps(body[stage])
    return Text(text, chunk_size=1 << 20)


def serve_fake(ready: Any, stop: Any) -> None:
    """In its own process, so the fake's work does not compete with the client for the GIL."""
    with FakeLLM() as fake:
        fake.anthropic.responder = instant
        fake.openai.responder = instant
        ready.put((fake.anthropic_base_url, fake.openai_base_url))
        stop.wait()


class FakeProcess:
    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._ready = ctx.Queue()
        self._stop = ctx.Event()
        self._process = ctx.Process(target=serve_fake, args=(self._ready, self._stop), daemon=True)
        self.anthropic_base_url = ""
        self.openai_base_url = ""

    def __enter__(self) -> FakeProcess:
        self._process.start()
        self.anthropic_base_url, self.openai_base_url = self._ready.get(timeout=60)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._process.join(10)

    def env(self) -> dict[str, str]:
        return {
            "ANTHROPIC_BASE_URL": self.anthropic_base_url,
            "OPENAI_BASE_URL": self.openai_base_url,
            "ANTHROPIC_API_KEY": "sk-ant-bench",
            "OPENAI_API_KEY": "sk-bench",
        }


class Baseline:
    """The pipeline's model calls and checks, in-process."""

    def __init__(self, fake: FakeProcess, out: Path, world: SandboxWorld) -> None:
        # max_retries=2: the agents service default (AGENTS_LLM_MAX_RETRIES), so both sides
        # treat an overloaded fake alike.
        self.claude = AnthropicChat(
            anthropic.AsyncAnthropic(
                api_key="sk-ant-bench", base_url=fake.anthropic_base_url, max_retries=2
            ),
            "claude-sonnet-4-6",
            8192,
        )
        self.codex = OpenAIChat(
            openai.AsyncOpenAI(api_key="sk-bench", base_url=fake.openai_base_url, max_retries=2),
            "gpt-4.1",
            8192,
            "openai",
        )
        self.out = out
        self.world = world

    async def run(self, i: int) -> None:
        task_id = f"task_baseline{i}"
        plan_c = await self.claude.complete(
            Prompt(
                prompts.analyst(self.world),
                prompts.analysis_prompt(task_id, "x", prompts.project_block([], {})),
                "plan",
                prompts.PLAN_SCHEMA,
            ),
            _ignore,
        )
        plan = parse_json(plan_c.text) or {}
        files_c = await self.codex.complete(
            Prompt(
                prompts.implementer(self.world),
                prompts.implementation_prompt(
                    task_id=task_id, requirement="x", plan=plan, round_=1, findings=(), previous={}
                ),
                "files",
                prompts.FILES_SCHEMA,
            ),
            _ignore,
        )
        files = {
            f["path"]: f["content"].encode() for f in (parse_json(files_c.text) or {})["files"]
        }
        report = run_checks(files)
        assert report.passed
        await self.claude.complete(
            Prompt(
                prompts.VALIDATOR,
                prompts.review_prompt(
                    task_id, "x", plan, {p: d.decode() for p, d in files.items()}, report.summary()
                ),
                "review",
                prompts.REVIEW_SCHEMA,
            ),
            _ignore,
        )
        folder = self.out / task_id
        folder.mkdir(parents=True, exist_ok=True)
        for path, data in files.items():
            (folder / path).write_bytes(data)


class SystemClient:
    """Submit over REST, learn of completion over one WebSocket."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.http = httpx.AsyncClient(base_url=system.base_url, timeout=60)
        self.done: dict[str, asyncio.Future[float]] = {}
        self.early: dict[str, float] = {}
        self._listener: asyncio.Task[None] | None = None

    async def start(self) -> None:
        ws = await websockets.connect(f"{self.system.ws_url}/ws", max_size=None)

        async def listen() -> None:
            async for raw in ws:
                frame = json.loads(raw)
                if frame.get("type") == "task_update" and frame.get("status") in (
                    "completed",
                    "failed",
                ):
                    now = time.perf_counter()
                    fut = self.done.get(frame["task_id"])
                    if fut is not None and not fut.done():
                        fut.set_result(now)
                    else:
                        self.early[frame["task_id"]] = now
                    if frame.get("status") == "failed":
                        print("task failed:", frame)

        self._listener = asyncio.create_task(listen())

    async def run(self, i: int) -> None:
        await self.submit_and_wait(f"bench {i}")

    async def submit_and_wait(self, requirement: str) -> str:
        """Submit a requirement; return its task id once its final frame has arrived."""
        response = await self.http.post("/api/requirements", json={"requirement": requirement})
        response.raise_for_status()
        task_id: str = response.json()["task_id"]
        if task_id in self.early:
            return task_id
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.done[task_id] = fut
        await asyncio.wait_for(fut, 120)
        return task_id

    async def events(self, task_id: str) -> list[dict[str, Any]]:
        response = await self.http.get(f"/api/tasks/{task_id}/events")
        response.raise_for_status()
        events: list[dict[str, Any]] = response.json()["events"]
        return events

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
        await self.http.aclose()


async def measure(
    run: Callable[[int], Awaitable[None]], concurrency: int, total: int
) -> tuple[float, list[float]]:
    semaphore = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(i: int) -> None:
        async with semaphore:
            start = time.perf_counter()
            await run(i)
            latencies.append((time.perf_counter() - start) * 1000)

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(total)))
    return total / (time.perf_counter() - start), latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


FIGURES = (
    "baseline_tps",
    "system_tps",
    "ratio",
    "baseline_p50",
    "baseline_p99",
    "system_p50",
    "system_p99",
    "added_p50",
    "mean_system",
)


def figures(
    baseline: tuple[float, list[float]], system: tuple[float, list[float]]
) -> dict[str, float]:
    """One repeat's figures, from its baseline run and its system run."""
    (b_tps, b_lat), (s_tps, s_lat) = baseline, system
    return {
        "baseline_tps": b_tps,
        "system_tps": s_tps,
        "ratio": s_tps / b_tps,
        "baseline_p50": pct(b_lat, 0.5),
        "baseline_p99": pct(b_lat, 0.99),
        "system_p50": pct(s_lat, 0.5),
        "system_p99": pct(s_lat, 0.99),
        "added_p50": pct(s_lat, 0.5) - pct(b_lat, 0.5),
        "mean_system": statistics.fmean(s_lat),
    }


def summarise(concurrency: int, total: int, repeats: list[dict[str, float]]) -> dict[str, Any]:
    """A level's row: each figure's median over the repeats, and its (min, max) under spread."""
    row: dict[str, Any] = {"concurrency": concurrency, "tasks": total, "repeats": len(repeats)}
    row.update({k: statistics.median(r[k] for r in repeats) for k in FIGURES})
    row["spread"] = {k: (min(r[k] for r in repeats), max(r[k] for r in repeats)) for k in FIGURES}
    return row


async def main(
    levels: list[int],
    totals: list[int],
    repeats: int = 3,
    floor_samples: int = 200,
    check_tasks: int = 10,
) -> tuple[list[dict[str, Any]], floor.Floor, checks.CheckCost | None]:
    rows: list[dict[str, Any]] = []
    cost: checks.CheckCost | None = None
    with FakeProcess() as fake, tempfile.TemporaryDirectory() as tmp:
        # The by-hand checks' settings: the environment's, as the workspace service reads them,
        # writing their copies under the run's own directory.
        settings = WorkspaceSettings(data_dir=Path(tmp) / "by-hand")
        profile = probe(settings)
        world = describe_world(settings, profile)  # what the workspace will report
        baseline = Baseline(fake, Path(tmp) / "baseline", world)
        system = System(root=Path(tmp) / "system")
        server = system.start_nats()
        system.env.update(
            {
                **fake.env(),
                "RATE_LIMIT_REQUIREMENTS": "1000000",
                "AGENTS_MAX_CONCURRENCY": str(max(levels)),
                "AGENTS_PREFETCH": str(max(levels) * 2),
                "AGENTS_STREAM_OUTPUT": "true",
                "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
            }
        )
        client = SystemClient(system)
        nc = await nats.connect(server.url)
        try:
            system.start_all(("gateway", "agents", "workspace"))
            await client.start()
            await measure(baseline.run, 4, 8)  # warm up both
            await measure(client.run, 4, 8)
            alone = await client.submit_and_wait("bench floor")  # the floor's task, by itself
            path = await floor.path_of(nc.jetstream(), alone, await client.events(alone))
            async with floor.Meter(nc, server.url, path.events, floor_samples) as meter:
                for level, total in zip(levels, totals, strict=True):
                    samples = []
                    for _ in range(repeats):
                        b = await measure(baseline.run, level, total)
                        samples.append(figures(b, await measure(client.run, level, total)))
                        await meter.sample()
                    rows.append(summarise(level, total, samples))
            if check_tasks:
                cost = await checks.measure(
                    nc.jetstream(), client.submit_and_wait, settings, profile, check_tasks
                )
        finally:
            await nc.close()
            await client.close()
            system.stop()
    return rows, floor.Floor(path, tuple(meter.append_ms), tuple(meter.rtt_ms)), cost


def report(rows: list[dict[str, Any]]) -> None:
    repeats = rows[0]["repeats"] if rows else 0
    print(f"medians over {repeats} repeats (baseline and system interleaved)")
    print(
        f"{'conc':>4} {'tasks':>5} | {'baseline t/s':>12} {'system t/s':>10} {'ratio':>6} | "
        f"{'base p50':>8} {'base p99':>8} | {'sys p50':>8} {'sys p99':>8} | {'added p50':>9}"
    )
    for r in rows:
        print(
            f"{r['concurrency']:>4} {r['tasks']:>5} | {r['baseline_tps']:>12.1f} "
            f"{r['system_tps']:>10.1f} {r['ratio']:>6.2f} | {r['baseline_p50']:>6.1f}ms "
            f"{r['baseline_p99']:>6.1f}ms | {r['system_p50']:>6.1f}ms {r['system_p99']:>6.1f}ms | "
            f"{r['added_p50']:>7.1f}ms"
        )
    print("aim: ratio >= 0.5 and added p50 < 20 ms (latencies in milliseconds, wall clock)")
    print(f"spread over the {repeats} repeats (min-max)")
    print(
        f"{'conc':>4} {'tasks':>5} | {'baseline t/s':>13} {'system t/s':>13} {'ratio':>11} | "
        f"{'base p50':>13} {'base p99':>13} | {'sys p50':>13} {'sys p99':>13} | {'added p50':>13}"
    )
    for r in rows:
        cell = {
            k: f"{lo:.{2 if k == 'ratio' else 1}f}-{hi:.{2 if k == 'ratio' else 1}f}"
            for k, (lo, hi) in r["spread"].items()
        }
        print(
            f"{r['concurrency']:>4} {r['tasks']:>5} | {cell['baseline_tps']:>13} "
            f"{cell['system_tps']:>13} {cell['ratio']:>11} | {cell['baseline_p50']:>13} "
            f"{cell['baseline_p99']:>13} | {cell['system_p50']:>13} {cell['system_p99']:>13} | "
            f"{cell['added_p50']:>13}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,10,100")
    parser.add_argument("--tasks-per-level", default="20,60,200")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each level and side")
    parser.add_argument(
        "--floor-samples", type=int, default=200, help="appends and round trips timed for the floor"
    )
    parser.add_argument(
        "--check-tasks",
        type=int,
        default=10,
        help="candidates checked (pytest + smoke) by hand and through the system; 0: none",
    )
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    totals = [int(x) for x in args.tasks_per_level.split(",")]
    rows, found, cost = asyncio.run(
        main(levels, totals, args.repeats, args.floor_samples, args.check_tasks)
    )
    report(rows)
    if cost is not None:
        checks.report(cost)
    floor.report(found, {r["concurrency"]: r["added_p50"] for r in rows})
