"""What validation's checks cost per task, beside running the same files by hand in the sandbox.

Part of ``python -m bench.pipeline`` (``--check-tasks``), on the system it started, so both
sides run in the same run on the same sandbox. A requirement whose plan names tests and an entry
point (the pipeline tests' calculator: a module, its pytest test, a script) goes through the
whole pipeline that many times; for each task:

- the system: from the agents' ``ChecksRequested`` to the workspace's ``ChecksRecorded`` (their
  ``occurred_at``): recording the request, handing it out through the durable consumer, writing
  the candidate, running the tests and the smoke run in the sandbox;
- by hand: this process runs :class:`~orchestrator.workspace.check_runner.CheckRunner` directly
  on the same candidate files and plan (read from that ``ChecksRequested``), no events.

The difference is what the system adds to running the code itself.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nats.js import JetStreamContext

from orchestrator.events import EventStore, subjects
from orchestrator.events.catalog import CheckOutcome, ChecksRecorded, ChecksRequested
from orchestrator.events.connection import files_store
from orchestrator.events.nats_settings import NatsSettings
from orchestrator.workspace.check_runner import CheckRunner
from orchestrator.workspace.dependency_cache import DependencyCache
from orchestrator.workspace.runtimes import this_machine
from orchestrator.workspace.sandbox.profile import SandboxProfile
from orchestrator.workspace.settings import WorkspaceSettings
from tests.pipeline.conftest import CALC_PLAN, calc

REQUIREMENT = "bench checks: a calculator with tests"
"""How the fake LLM knows a task of this bench (it answers the plan and files below)."""
FILES = calc("return a + b")


def answer(text: str, stage: str) -> str | None:
    """The fake LLM's answer to a request of this bench's tasks (None: not one of them)."""
    if REQUIREMENT not in text:
        return None
    if stage == "analysis":
        return json.dumps(CALC_PLAN)
    if stage == "implementation":
        return json.dumps(FILES)
    return None  # the review: the pipeline's usual one


@dataclass(frozen=True)
class CheckCost:
    tasks: int
    mode: str
    by_hand: tuple[float, ...]
    """Seconds per task, CheckRunner in this process."""
    through: tuple[float, ...]
    """Seconds per task, ChecksRequested to ChecksRecorded in the system."""


def _passed(checks: tuple[CheckOutcome, ...]) -> None:
    failed = [c for c in checks if c.status != "passed"]
    if failed or not checks:
        raise RuntimeError(f"the bench's checks did not all pass: {checks}")


async def measure(
    js: JetStreamContext,
    submit: Callable[[str], Awaitable[str]],
    settings: WorkspaceSettings,
    profile: SandboxProfile,
    tasks: int,
) -> CheckCost:
    """``submit``: submits a requirement and returns its task id once the task has finished.
    ``settings.data_dir``: where the by-hand runs write their candidate copies."""
    store = EventStore(js)
    files = await files_store(js, NatsSettings())
    deps = DependencyCache.configured(settings, profile.stage_root)
    runner = CheckRunner(
        settings, profile, store, js=js, files=files, deps=deps, runtimes=this_machine(settings)[1]
    )
    by_hand: list[float] = []
    through: list[float] = []
    for _ in range(tasks):
        task_id = await submit(REQUIREMENT)
        events, _ = await store.load(subjects.task(task_id))
        requested = next(e for e in events if isinstance(e.event, ChecksRequested))
        recorded = next(e for e in events if isinstance(e.event, ChecksRecorded))
        assert isinstance(requested.event, ChecksRequested)
        assert isinstance(recorded.event, ChecksRecorded)
        _passed(recorded.event.checks)
        spent = recorded.envelope.occurred_at - requested.envelope.occurred_at
        through.append(spent.total_seconds())

        started = time.perf_counter()
        _passed(await runner.run(requested.event.files, requested.event.plan))
        by_hand.append(time.perf_counter() - started)
    return CheckCost(tasks, profile.mode, tuple(by_hand), tuple(through))


def _ms(values: tuple[float, ...]) -> str:
    return f"p50 {statistics.median(values) * 1000:7.1f} ms   max {max(values) * 1000:7.1f} ms"


def report(cost: CheckCost) -> None:
    hand, system = statistics.median(cost.by_hand), statistics.median(cost.through)
    print(
        f"validation checks per task (pytest + smoke run), {cost.tasks} tasks, sandbox {cost.mode}"
    )
    print(f"  by hand in the sandbox   {_ms(cost.by_hand)}")
    print(f"  through the system       {_ms(cost.through)}")
    added = (system - hand) * 1000
    print(f"  added by the system      {added:7.1f} ms per task (ratio {system / hand:.2f})")
