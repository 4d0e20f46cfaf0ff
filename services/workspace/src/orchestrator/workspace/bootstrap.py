"""The workspace service's composition root: build every adapter from the runtime, start, stop."""

from __future__ import annotations

import asyncio
import logging

from orchestrator.events import EventStore, subjects
from orchestrator.events.connection import files_store
from orchestrator.events.health import HeartbeatPublisher
from orchestrator.events.messages import SandboxReport, WorkspaceDetails
from orchestrator.events.projection import Follower
from orchestrator.events.service import Runtime, Stop
from orchestrator.events.worker import Worker, WorkerConfig

from .check_runner import CheckRunner
from .checks_handler import ChecksHandler
from .dependency_cache import DependencyCache
from .execution_handler import Executions
from .integration_handler import IntegrationHandler
from .materialiser import Materialiser
from .runtimes import this_machine
from .sandbox.probe import probe
from .settings import WorkspaceSettings
from .task_histories import TaskHistories
from .world import describe as describe_world

log = logging.getLogger(__name__)


async def start(runtime: Runtime) -> Stop:
    settings = WorkspaceSettings()  # a bad value: exit 2 naming it (run_service), as everywhere
    store = EventStore(runtime.js)
    files = await files_store(runtime.js, runtime.nats)
    profile = probe(settings)
    reports, runtimes = this_machine(settings)
    world = await asyncio.to_thread(describe_world, settings, profile)

    materialiser = Materialiser(runtime.js, files, store, settings.workspace_dir)
    await materialiser.start()

    # Live task histories for integration, from now on (tasks already in the stream are read
    # back when they reach integration, as before): no replay of the whole history at start.
    histories = TaskHistories()
    stream = await runtime.js.stream_info(subjects.EVENTS_STREAM)
    follower = Follower(
        runtime.js, subjects.TASK_ALL, histories.apply, start_seq=stream.state.last_seq + 1
    )
    await follower.start()

    integration = Worker(
        runtime.nc,
        runtime.js,
        # A short ack_wait: a delivery lost on the way (a pull that failed and was re-bound)
        # comes back in seconds; a long handler is kept alive by the worker's in_progress.
        WorkerConfig(
            durable=subjects.WORKSPACE_DURABLE,
            filter_subjects=(subjects.TASK_ALL,),
            ack_wait=settings.worker_ack_wait,
            backoff=settings.worker_backoff,
        ),
        IntegrationHandler(
            store, files, materialiser, histories, follower.wait_for, runtimes=runtimes
        ),
    )
    deps = DependencyCache.configured(settings, profile.stage_root)
    executions = Executions(
        settings,
        profile,
        store,
        materialiser,
        instance=runtime.instance,
        deps=deps,
        runtimes=runtimes,
    )
    await executions.start()
    exec_worker = Worker(
        runtime.nc,
        runtime.js,
        WorkerConfig(
            durable=subjects.WORKSPACE_EXEC_DURABLE,
            filter_subjects=(subjects.EXEC_ALL,),
            max_concurrency=16,
            ack_wait=settings.worker_ack_wait,
            backoff=settings.worker_backoff,
        ),
        executions.handle,
    )
    runner = CheckRunner(
        settings, profile, store, js=runtime.js, files=files, deps=deps, runtimes=runtimes
    )
    checks = Worker(
        runtime.nc,
        runtime.js,
        WorkerConfig(
            durable=subjects.WORKSPACE_CHECKS_DURABLE,
            filter_subjects=(subjects.TASK_ALL,),
            max_concurrency=4,
            ack_wait=settings.worker_ack_wait,
            backoff=settings.worker_backoff,
        ),
        ChecksHandler(store, runner),
    )
    await integration.start()
    await exec_worker.start()
    await checks.start()

    def details() -> WorkspaceDetails:
        return WorkspaceDetails(
            sandbox=SandboxReport.model_validate(profile.report()),
            runtimes=reports,
            world=world,
            workspace_version=materialiser.state.version,
            files=len(materialiser.state.files),
            executions_running=executions.running,
        )

    heartbeat = HeartbeatPublisher(runtime.nc, "workspace", runtime.instance, details)
    heartbeat.start()

    async def stop() -> None:
        await checks.stop(grace=2)
        await exec_worker.stop(grace=2)
        await executions.stop()
        await integration.stop()
        await follower.stop()
        await materialiser.stop()
        await heartbeat.stop()

    return stop
