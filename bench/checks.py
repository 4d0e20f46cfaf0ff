"""What validation's checks cost per task, beside running the same files by hand in the sandbox.

    python -m bench.checks [--tasks 10]

A candidate project (a module, its two pytest tests, a script entry point) is checked ``--tasks``
times both ways, in the same run, on the same sandbox:

- by hand: this process runs :class:`~orchestrator.workspace.check_runner.CheckRunner` directly
  (the tests and the smoke run in the sandbox, no events);
- the system: a real nats-server and workspace service; a ``ChecksRequested`` is appended to a
  task's subject and the time is taken until its ``ChecksRecorded`` is stored.

The difference is what recording the request, handing it out through the durable consumer and
recording the outcome add to running the code itself.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import nats

from orchestrator.events import EventStore, subjects
from orchestrator.events.catalog import (
    ChecksRecorded,
    ChecksRequested,
    FileRef,
    RunPlan,
    TaskSubmitted,
)
from orchestrator.events.connection import files_store, provision
from orchestrator.events.nats_settings import NatsSettings
from orchestrator.events.objects import put_content
from orchestrator.workspace.check_runner import CheckRunner
from orchestrator.workspace.dependency_cache import DependencyCache
from orchestrator.workspace.runtimes import this_machine
from orchestrator.workspace.sandbox.probe import probe
from orchestrator.workspace.settings import WorkspaceSettings
from tests.harness import System

PROJECT = {
    "calc.py": b"def add(a, b):\n    return a + b\n\n\nif __name__ == '__main__':\n"
    b"    print(add(2, 3))\n",
    "test_calc.py": b"from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\n"
    b"def test_zero():\n    assert add(0, 0) == 0\n",
}
PLAN = RunPlan(test_command="python -m pytest -q", entry_point="calc.py", kind="script")


def _ms(values: list[float]) -> str:
    return f"p50 {statistics.median(values) * 1000:7.1f} ms   max {max(values) * 1000:7.1f} ms"


async def main(tasks: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-checks-"))
    system = System(root=root)
    system.start_nats()
    assert system.nats is not None
    try:
        system.start("workspace")
        nc = await nats.connect(system.nats.url)
        js = nc.jetstream(timeout=10)
        await provision(js, NatsSettings())
        files = await files_store(js, NatsSettings())
        store = EventStore(js)
        refs = tuple(
            [
                FileRef(path=path, digest=await put_content(files, data), size=len(data))
                for path, data in PROJECT.items()
            ]
        )
        settings = WorkspaceSettings(data_dir=root / "by-hand")
        profile = probe(settings)
        deps = DependencyCache.configured(settings, profile.stage_root)
        _, runtimes = this_machine(settings)
        runner = CheckRunner(
            settings, profile, store, js=js, files=files, deps=deps, runtimes=runtimes
        )
        by_hand: list[float] = []
        through: list[float] = []
        await asyncio.sleep(3)  # the workspace service's own start
        for i in range(tasks):
            started = time.perf_counter()
            outcome = await runner.run(refs, PLAN)
            by_hand.append(time.perf_counter() - started)
            assert all(c.status == "passed" for c in outcome), outcome
            subject = subjects.task(f"task_bench{i:027d}")
            task_id = subjects.token_of(subject, 2)
            await store.append(subject, TaskSubmitted(task_id=task_id, requirement="r", priority=5))
            started = time.perf_counter()
            await store.append(
                subject, ChecksRequested(task_id=task_id, round=1, files=refs, plan=PLAN)
            )
            while True:
                events = await store.read(subject)
                recorded = [e.event for e in events if isinstance(e.event, ChecksRecorded)]
                if recorded:
                    through.append(time.perf_counter() - started)
                    assert all(c.status == "passed" for c in recorded[0].checks)
                    break
                await asyncio.sleep(0.01)
        await nc.close()
    finally:
        system.stop()
    added = statistics.median(through) - statistics.median(by_hand)
    print(f"validation checks (pytest + smoke run), {tasks} tasks, sandbox {profile.mode}")
    print(f"  by hand in the sandbox   {_ms(by_hand)}")
    print(f"  through the system       {_ms(through)}")
    print(
        f"  added by the system      {added * 1000:7.1f} ms per task "
        f"(ratio {statistics.median(through) / statistics.median(by_hand):.2f})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10)
    asyncio.run(main(parser.parse_args().tasks))
