"""The agents service's composition root: build every adapter from the runtime, start, stop."""

from __future__ import annotations

import asyncio
from functools import partial

from orchestrator.events import EventStore, subjects
from orchestrator.events.agent_providers import LLM_AGENTS
from orchestrator.events.connection import files_store, settings_bucket
from orchestrator.events.messages import AgentReport, AgentsDetails
from orchestrator.events.service import Parts, Runtime, Stop, cancelling
from orchestrator.events.worker import Worker, WorkerConfig

from .pipeline import WANTED_TYPES, Pipeline
from .providers import Clients
from .sandbox_world import SandboxWorldSource
from .settings import AgentsSettings
from .settings_source import SettingsSource
from .stages import Stages
from .timers import ApprovalDeadlines
from .workspace_view import WorkspaceView


async def start(runtime: Runtime, settings: AgentsSettings | None = None) -> Stop:
    settings = settings or AgentsSettings()
    parts = Parts()
    source = SettingsSource(await settings_bucket(runtime.js, runtime.nats), settings)
    await source.refresh()
    clients = Clients(settings)
    parts.started(clients.close)
    store = EventStore(runtime.js)
    world = await parts.start(SandboxWorldSource(runtime.nc))
    pipeline = Pipeline(
        nc=runtime.nc,
        store=store,
        stages=Stages(await files_store(runtime.js, runtime.nats), WorkspaceView(store), world),
        clients=clients,
        source=source,
        settings=settings,
        instance=runtime.instance,
    )
    await pipeline.listen_for_cancels()
    parts.started(pipeline.stop_listening)
    worker = _task_worker(runtime, settings, pipeline)
    await parts.start(worker, stop=partial(worker.stop, grace=5.0))
    deadlines = _deadline_worker(runtime, settings, pipeline)
    await parts.start(deadlines, stop=partial(deadlines.stop, grace=1.0))
    parts.started(cancelling(asyncio.create_task(source.run(), name="agents settings refresh")))
    details = partial(_details, settings, source, worker)
    parts.started(runtime.heartbeat(details, settings.agents_heartbeat_interval).stop)
    clients.warm_up()  # the replica heartbeats (is up) while the SDKs load in a thread
    return parts.stop


def _task_worker(runtime: Runtime, settings: AgentsSettings, pipeline: Pipeline) -> Worker:
    config = WorkerConfig(
        durable=subjects.AGENTS_DURABLE,
        filter_subjects=(subjects.TASK_ALL,),
        max_concurrency=settings.agents_max_concurrency,
        prefetch=settings.agents_prefetch,
        ack_wait=settings.agents_ack_wait,
        max_ack_pending=max(1000, settings.agents_prefetch * 4),
        types=WANTED_TYPES,
    )
    return Worker(runtime.nc, runtime.js, config, pipeline.handle, order_key=pipeline.order_key)


def _deadline_worker(runtime: Runtime, settings: AgentsSettings, pipeline: Pipeline) -> Worker:
    config = WorkerConfig(
        durable=subjects.AGENTS_TIMERS_DURABLE,
        filter_subjects=(subjects.TIMER_ALL,),
        max_deliver=-1,  # a deadline not yet due is handed back until it is
        ack_wait=settings.agents_ack_wait,
        max_concurrency=4,
        # Every waiting deadline is one unacknowledged message: room for many.
        max_ack_pending=100_000,
    )
    return Worker(runtime.nc, runtime.js, config, ApprovalDeadlines(pipeline.store))


def _details(settings: AgentsSettings, source: SettingsSource, worker: Worker) -> AgentsDetails:
    environment = source.environment
    return AgentsDetails(
        agents={
            agent: AgentReport.model_validate(source.resolve(agent).public())
            for agent in LLM_AGENTS
        },
        env_key_families=tuple(sorted(environment.keys)),
        default_models=dict(environment.models),
        running=worker.running,
        queued=worker.queued,
        max_concurrency=settings.agents_max_concurrency,
    )
