"""The workspace's current files, folded from ``events.workspace``: one fold for every service.

``FileWritten`` puts a file (by digest) at a path the path policy accepts (any other is refused
and remembered, never applied); ``FileDeleted`` removes one; ``WorkspaceArchived`` empties the
workspace. Pure state, no I/O: the gateway's file list, the workspace service's disk and the
archive service's resets all read the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath

from .catalog import FileDeleted, FileRef, FileWritten, WorkspaceArchived
from .envelope import RecordedEvent
from .paths import UnsafePath, safe_relative_path

PROJECT_DIR = "implementation/"
"""Where the project lives in the workspace (the contract's ``workspace/implementation/...``):
the agents see and change paths relative to it; files elsewhere in the workspace are a person's."""
MAX_PROJECT_FILES = 500


def in_workspace(project_path: str) -> str:
    """The workspace path of a project file."""
    return PROJECT_DIR + project_path


def in_project(workspace_path: str) -> str | None:
    """The project path of a workspace file, or None when it lies outside the project."""
    return (
        workspace_path.removeprefix(PROJECT_DIR) if workspace_path.startswith(PROJECT_DIR) else None
    )


@dataclass(frozen=True, slots=True)
class WorkspaceFile:
    path: str
    """Relative to the workspace: ``implementation/hello_world.py``."""
    digest: str
    size: int
    written_at: datetime
    task_id: str | None
    source: str

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name

    @property
    def ref(self) -> FileRef:
        return FileRef(path=self.path, digest=self.digest, size=self.size)


def changes_outside_project(recorded: RecordedEvent) -> bool:
    """Whether the workspace event can change the files outside the project (a person's notes,
    specs, data): a write or delete of such a path, or an archive, which clears every file."""
    event = recorded.event
    if isinstance(event, FileWritten | FileDeleted):
        return in_project(event.path) is None
    return isinstance(event, WorkspaceArchived)


@dataclass
class WorkspaceFiles:
    """Path -> file, as of event ``version`` (the sequence of the last workspace event)."""

    files: dict[str, WorkspaceFile] = field(default_factory=dict)
    version: int = 0
    refused: list[str] = field(default_factory=list)
    """Paths of ``FileWritten`` events the path policy refused (never materialised)."""
    outside_version: int = 0
    """The sequence of the last event folded that :func:`changes_outside_project` (0: none)."""

    def apply(self, recorded: RecordedEvent) -> bool:
        """Fold one event in; False when it is not a workspace event (nothing changed)."""
        event = recorded.event
        if changes_outside_project(recorded):
            self.outside_version = max(self.outside_version, recorded.seq)
        if isinstance(event, FileWritten):
            try:
                path = safe_relative_path(event.path)
            except UnsafePath:
                self.refused.append(event.path)
            else:
                self.files[path] = WorkspaceFile(
                    path=path,
                    digest=event.digest,
                    size=event.size,
                    written_at=recorded.envelope.occurred_at,
                    task_id=event.task_id,
                    source=event.source,
                )
        elif isinstance(event, FileDeleted):
            self.files.pop(event.path, None)
        elif isinstance(event, WorkspaceArchived):
            self.files.clear()
        else:
            return False
        self.version = max(self.version, recorded.seq)
        return True

    def refs(self) -> tuple[FileRef, ...]:
        """Every current file by content, in path order."""
        return tuple(self.files[path].ref for path in sorted(self.files))

    def project(self) -> tuple[FileRef, ...]:
        """The project's files with paths relative to the project root, in path order."""
        found = []
        for path in sorted(self.files):
            inside = in_project(path)
            if inside is not None:
                file = self.files[path]
                found.append(FileRef(path=inside, digest=file.digest, size=file.size))
        return tuple(found[:MAX_PROJECT_FILES])


__all__ = [
    "PROJECT_DIR",
    "WorkspaceFile",
    "WorkspaceFiles",
    "changes_outside_project",
    "in_project",
    "in_workspace",
]
