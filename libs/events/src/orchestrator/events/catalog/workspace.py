"""Events of the workspace's files; subject ``events.workspace``.

The subject's last sequence is the workspace's version: a reset appends ``WorkspaceArchived`` with
the expected last sequence it read, so the archive is exactly the workspace at that point.
"""

from __future__ import annotations

from typing import Literal

from .base import Event
from .tasks import FileRef

FileSource = Literal["agent", "restore", "api", "user"]
"""Who changed a file: an agent's task, a restore from an archive, a direct API write (tests and
tools), or a person editing through ``PUT``/``DELETE /api/workspace/files/...``."""


class FileWritten(Event):
    type: Literal["FileWritten"] = "FileWritten"
    path: str
    digest: str
    size: int
    task_id: str | None = None
    source: FileSource = "agent"
    archive_name: str | None = None


class FileDeleted(Event):
    type: Literal["FileDeleted"] = "FileDeleted"
    path: str
    # Both absent from events recorded before they existed; such a deletion reads as unattributed.
    task_id: str | None = None
    source: FileSource | None = None


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
