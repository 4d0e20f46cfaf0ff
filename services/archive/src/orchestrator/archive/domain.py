"""The workspace as the archive service sees it, and the decisions of a reset. No I/O here.

The workspace is a fold of ``events.workspace``: ``FileWritten`` puts a file (by digest),
``FileDeleted`` removes one, ``WorkspaceArchived`` moves them all into a named archive and leaves
the workspace empty. A reset archives the files of exactly one version of that subject.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from orchestrator.events import RecordedEvent
from orchestrator.events.catalog import WorkspaceArchived
from orchestrator.events.workspace_files import WorkspaceFile, WorkspaceFiles

from .settings import ARCHIVE_DIR

NAME_PREFIX = "project_"


@dataclass
class WorkspaceState:
    """The workspace's files (the shared fold) and the archives already made of it."""

    workspace: WorkspaceFiles = field(default_factory=WorkspaceFiles)
    archive_names: set[str] = field(default_factory=set)
    archived_requests: dict[str, WorkspaceArchived] = field(default_factory=dict)
    version: int = 0

    @property
    def files(self) -> dict[str, WorkspaceFile]:
        return self.workspace.files

    def apply(self, recorded: RecordedEvent) -> None:
        event = recorded.event
        self.workspace.apply(recorded)
        if isinstance(event, WorkspaceArchived):
            self.archive_names.add(event.archive_name)
            self.archived_requests[event.request_id] = event
        self.version = max(self.version, recorded.seq)

    @classmethod
    def of(cls, events: Iterable[RecordedEvent], version: int = 0) -> WorkspaceState:
        state = cls()
        for recorded in events:
            state.apply(recorded)
        state.version = max(state.version, version)
        return state


def archive_name(now: datetime, taken: set[str]) -> str:
    """``project_YYYYMMDD_HHMMSS`` (UTC), with ``_2``, ``_3``, ... when that second is taken."""
    base = f"{NAME_PREFIX}{now:%Y%m%d_%H%M%S}"
    if base not in taken:
        return base
    n = 2
    while f"{base}_{n}" in taken:
        n += 1
    return f"{base}_{n}"


def archive_for(state: WorkspaceState, request_id: str, now: datetime) -> WorkspaceArchived:
    """The archive a reset records: every current file, under a fresh unique name.

    An empty workspace still gets an (empty) archive: every reset answers with a real
    ``archive_path`` and leaves a trace a person can see in the archive list.
    """
    name = archive_name(now, state.archive_names)
    return WorkspaceArchived(
        archive_name=name,
        archive_path=f"{ARCHIVE_DIR}/{name}",
        files=state.workspace.refs(),
        request_id=request_id,
    )
