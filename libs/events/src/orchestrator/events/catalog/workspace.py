"""Events of the workspace's files; subject ``events.workspace``.

The subject's last sequence is the workspace's version: a reset appends ``WorkspaceArchived`` with
the expected last sequence it read, so the archive is exactly the workspace at that point.
"""

from __future__ import annotations

from typing import Literal

from .base import Event
from .tasks import FileRef


class FileWritten(Event):
    type: Literal["FileWritten"] = "FileWritten"
    path: str
    digest: str
    size: int
    task_id: str | None = None
    source: Literal["agent", "restore", "api", "user"] = "agent"
    archive_name: str | None = None


class FileDeleted(Event):
    type: Literal["FileDeleted"] = "FileDeleted"
    path: str
    task_id: str | None = None
    source: Literal["agent", "user"] = "agent"


class WorkspaceArchived(Event):
    """The workspace as it stood was moved into an archive and the workspace is now empty."""

    type: Literal["WorkspaceArchived"] = "WorkspaceArchived"
    archive_name: str
    archive_path: str
    files: tuple[FileRef, ...]
    request_id: str


class ResetRequested(Event):
    """A client asked for a reset; subject ``events.reset.<request_id>``."""

    type: Literal["ResetRequested"] = "ResetRequested"
    request_id: str
