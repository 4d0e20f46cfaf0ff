"""The workspace service's composition root: build every adapter from the runtime, start, stop."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import partial

from orchestrator.events import EventStore, subjects
from orchestrator.events.connection import files_store
from orchestrator.events.messages import (
    RuntimeReport,
    SandboxReport,
    SandboxWorld,
    WorkspaceDetails,
)
from orchestrator.events.projection import Follower
from orchestrator.events.runnables import Runtimes
from orchestrator.events.service import Parts, Runtime, Stop
from orchestrator.events.worker import Handler, Worker, WorkerConfig

from .check_runner import CheckRunner
from .checks_handler import ChecksHandler
from .dependency_cache import DependencyCache
from .execution_handler import Executions
from .integration import TRIGGER_TYPES
from .integration_handler import IntegrationHandler
from .materialiser import Materialiser
from .runtimes import this_machine
from .sandbox.probe import probe
from .sandbox.profile import SandboxProfile
from .sandboxed_run import sweep_stage_root
from .settings import WorkspaceSettings
from .task_histories import TaskHistories
from .world import describe as describe_world

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Machine:
    """What the workspace finds of this machine at start: its sandbox and its runtimes."""

    profile: SandboxProfile
    reports: dict[str, RuntimeReport]
    runtimes: Runtimes
    world: SandboxWorld

    @classmethod
    async def probe(cls, settings: WorkspaceSettings) -> Machine:
        profile = probe(settings)
        reports, runtimes = this_machine(settings)
        world = await asyncio.to_thread(describe_world, settings, profile)
        return cls(profile, reports, runtimes, world)


async def start(runtime: Runtime) -> Stop:
    settings = WorkspaceSettings()  # a bad value: exit 2 naming it (run_service), as everywhere
    parts = Parts()
    store = EventStore(runtime.js)
    files = await files_store(runtime.js, runtime.nats)
    machine = await Machine.probe(settings)
    swept = await asyncio.to_thread(sweep_stage_root, machine.profile.stage_root)
    if swept:
        log.info("removed %d entries an earlier start left in the stage root", swept)
    workspace = Materialiser(runtime.js, files, store, settings.workspace_dir)
    await parts.start(workspace)
    histories = TaskHistories()
    follower = await parts.start(await _live_histories(runtime, histories))
    deps = DependencyCache.configured(settings, machine.profile.stage_root)
    executions = Executions(
        settings,
        machine.profile,
        store,
        workspace,
        instance=runtime.instance,
        deps=deps,
        runtimes=machine.runtimes,
    )
    await parts.start(executions)
    integration = IntegrationHandler(
        store, files, workspace, histories, follower.wait_for, runtimes=machine.runtimes
    )
    await parts.start(
        _worker(
            runtime,
            settings,
            subjects.WORKSPACE_DURABLE,
            subjects.TASK_ALL,
            integration,
            types=TRIGGER_TYPES,
        )
    )
    exec_worker = _worker(
        runtime,
        settings,
        subjects.WORKSPACE_EXEC_DURABLE,
        subjects.EXEC_ALL,
        executions.handle,
        max_concurrency=16,
    )
    await parts.start(exec_worker, stop=partial(exec_worker.stop, grace=2))
    runner = CheckRunner(
        settings,
        machine.profile,
        store,
        js=runtime.js,
        files=files,
        deps=deps,
        runtimes=machine.runtimes,
    )
    handler = ChecksHandler(store, runner, histories, follower.wait_for)
    checks = _worker(
        runtime,
        settings,
        subjects.WORKSPACE_CHECKS_DURABLE,
        subjects.TASK_ALL,
        handler,
        types=frozenset({"ChecksRequested"}),
    )
    await parts.start(checks, stop=partial(checks.stop, grace=2))
    details = partial(_details, machine, workspace, executions)
    parts.started(runtime.heartbeat(details).stop)
    return parts.stop


async def _live_histories(runtime: Runtime, histories: TaskHistories) -> Follower:
    """Live task histories for integration, from now on (tasks already in the stream are read
    back when they reach integration, as before): no replay of the whole history at start."""
    stream = await runtime.js.stream_info(subjects.EVENTS_STREAM)
    return Follower(
        runtime.js, subjects.TASK_ALL, histories.apply, start_seq=stream.state.last_seq + 1
    )


def _worker(
    runtime: Runtime,
    settings: WorkspaceSettings,
    durable: str,
    subject: str,
    handler: Handler,
    *,
    max_concurrency: int = 4,
    types: frozenset[str] | None = None,
) -> Worker:
    # A short ack_wait: a delivery lost on the way (a pull that failed and was re-bound)
    # comes back in seconds; a long handler is kept alive by the worker's in_progress.
    config = WorkerConfig(
        durable=durable,
        filter_subjects=(subject,),
        ack_wait=settings.worker_ack_wait,
        backoff=settings.worker_backoff,
        max_concurrency=max_concurrency,
        types=types,
    )
    return Worker(runtime.nc, runtime.js, config, handler)


def _details(machine: Machine, workspace: Materialiser, executions: Executions) -> WorkspaceDetails:
    return WorkspaceDetails(
        sandbox=SandboxReport.model_validate(machine.profile.report()),
        runtimes=machine.reports,
        world=machine.world,
        workspace_version=workspace.state.version,
        files=len(workspace.state.files),
        executions_running=executions.running,
    )
