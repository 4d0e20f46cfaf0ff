"""Handling ``ResetRequested``: archive the workspace at one exact version of its subject.

The handler takes the workspace (files and version ``S``, kept current by a follower of
``events.workspace``, so a reset costs one round trip, not a replay) and appends
``WorkspaceArchived`` with ``expected_last_seq=S``. If anything was written meanwhile the append
is refused (``ConcurrencyConflict``) and the handler catches up and tries again, so a file
written during a reset is either in the archive (written before ``S``) or in the new workspace
(after the archive event): never lost, never in both. The event id is derived from the request
id and the state is checked for an archive of that request first, so a redelivered request
records nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from orchestrator.events import (
    ConcurrencyConflict,
    Delivery,
    EventStore,
    Follower,
    RecordedEvent,
    subjects,
)
from orchestrator.events.catalog import ArchiveMaterialised, ResetRequested, WorkspaceArchived

from .archive_writer import ArchiveWriter
from .domain import WorkspaceState, archive_for
from .errors import WorkspaceKeptChanging

log = logging.getLogger(__name__)


def archived_event_id(request_id: str) -> str:
    return f"archived_{request_id}"


class WorkspaceTracker:
    """The workspace state, folded incrementally by a follower of ``events.workspace``."""

    def __init__(self, store: EventStore, follower: Follower, state: WorkspaceState) -> None:
        self.store = store
        self.follower = follower
        self.state = state

    async def current(self, timeout: float = 30.0) -> WorkspaceState:
        """The state as of the subject's last event right now (read-your-writes)."""
        last = await self.store.last_seq(subjects.WORKSPACE)
        await self.follower.wait_for(last, timeout=timeout)
        return self.state


class ResetHandler:
    def __init__(
        self,
        store: EventStore,
        workspace: WorkspaceTracker,
        materialiser: ArchiveWriter,
        *,
        max_attempts: int = 20,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.workspace = workspace
        self.materialiser = materialiser
        self.max_attempts = max_attempts
        self.clock = clock

    async def __call__(self, recorded: RecordedEvent, delivery: Delivery) -> None:
        event = recorded.event
        if not isinstance(event, ResetRequested):
            return
        archived = await self.reset(event.request_id, causation_id=recorded.id)
        await self.materialise(archived, causation_id=recorded.id)

    async def materialise(self, archived: WorkspaceArchived, *, causation_id: str) -> None:
        """Write the archive to disk now and say so, so the reset's answer can wait for it."""
        await self.materialiser.materialise(archived)
        await self.store.append(
            subjects.archive(archived.archive_name),
            ArchiveMaterialised(
                archive_name=archived.archive_name,
                archive_path=archived.archive_path,
                files=len(archived.files),
            ),
            event_id=f"materialised_{archived.archive_name}",
            correlation_id=archived.request_id,
            causation_id=causation_id,
        )

    async def reset(self, request_id: str, *, causation_id: str | None = None) -> WorkspaceArchived:
        for _ in range(self.max_attempts):
            state = await self.workspace.current()
            done = state.archived_requests.get(request_id)
            if done is not None:
                return done
            archived = archive_for(state, request_id, self.clock())
            version = state.version
            try:
                await self.store.append(
                    subjects.WORKSPACE,
                    archived,
                    expected_last_seq=version,
                    event_id=archived_event_id(request_id),
                    correlation_id=request_id,
                    causation_id=causation_id,
                )
            except ConcurrencyConflict:
                log.info("reset %s: workspace changed while archiving; again", request_id)
                continue
            log.info(
                "reset %s: archived %d files as %s at workspace version %d",
                request_id,
                len(archived.files),
                archived.archive_name,
                version,
            )
            return archived
        # The workspace never stood still long enough; redelivery tries again after a backoff.
        raise WorkspaceKeptChanging(request_id, self.max_attempts)
