"""The archive service's composition root: build every adapter from the runtime, start, stop.

Two parts: a durable worker on ``events.reset.>`` that turns each ``ResetRequested`` into one
``WorkspaceArchived`` (shared by every replica), and a follower of ``events.workspace`` that
materialises every archive on this replica's disk.
"""

from __future__ import annotations

from orchestrator.events import (
    EventStore,
    Follower,
    RecordedEvent,
    Worker,
    WorkerConfig,
    subjects,
)
from orchestrator.events.connection import files_store
from orchestrator.events.messages import ArchiveDetails
from orchestrator.events.service import Parts, Runtime, Stop

from .archive_writer import ArchiveWriter
from .domain import WorkspaceState
from .reset import ResetHandler, WorkspaceTracker
from .settings import ArchiveSettings


async def start(runtime: Runtime, settings: ArchiveSettings | None = None) -> Stop:
    settings = settings or ArchiveSettings()
    parts = Parts()
    store = EventStore(runtime.js)
    materialiser = ArchiveWriter(
        settings.archive_root, runtime.js, await files_store(runtime.js, runtime.nats)
    )
    state = WorkspaceState()

    async def apply(recorded: RecordedEvent) -> None:
        state.apply(recorded)
        await materialiser.apply(recorded)

    follower = await parts.start(Follower(runtime.js, subjects.WORKSPACE, apply))
    tracker = WorkspaceTracker(store, follower, state)
    handler = ResetHandler(store, tracker, materialiser, max_attempts=settings.archive_max_attempts)
    worker = await parts.start(Worker(runtime.nc, runtime.js, RESET_WORKER, handler))

    def details() -> ArchiveDetails:
        return ArchiveDetails(
            archives_materialised=len(materialiser.archives),
            missing_files=len(materialiser.missing),
            running=worker.running,
            queued=worker.queued,
            projection_seq=follower.last_seq,
            workspace_files=len(state.files),
        )

    parts.started(runtime.heartbeat(details).stop)
    return parts.stop


RESET_WORKER = WorkerConfig(
    durable=subjects.ARCHIVE_DURABLE,
    filter_subjects=(subjects.RESET_ALL,),
    max_concurrency=1,
    max_deliver=10,
    ack_wait=5.0,  # a reset takes milliseconds; a lost delivery comes back quickly
    backoff=(0.2, 0.5, 1.0, 2.0, 5.0),
)
