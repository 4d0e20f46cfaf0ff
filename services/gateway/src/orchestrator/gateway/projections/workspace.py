"""Read model of the workspace's files, rebuilt from ``events.workspace``.

After ``WorkspaceArchived`` the workspace is empty; a restored file comes back as a new
``FileWritten``. File contents are never held here: they are read from the object store by digest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orchestrator.events import RecordedEvent
from orchestrator.events.catalog import FileDeleted, FileWritten, WorkspaceArchived
from orchestrator.events.paths import safe_relative_path
from orchestrator.events.runnables import Runnable
from orchestrator.events.workspace_files import WorkspaceFile, WorkspaceFiles

from .plain import Plain

API_PREFIX = "workspace/"


def api_path(file: WorkspaceFile) -> str:
    """How the contract names a workspace file: ``workspace/implementation/hello_world.py``."""
    return API_PREFIX + file.path


class AmbiguousName(Exception):
    def __init__(self, name: str, candidates: list[str]) -> None:
        super().__init__(name)
        self.candidates = candidates


@dataclass
class WorkspaceView:
    state: WorkspaceFiles = field(default_factory=WorkspaceFiles)
    metadata: dict[str, Runnable] = field(default_factory=dict)
    """Runnable metadata by content digest: contents never change under a digest."""

    @property
    def files(self) -> dict[str, WorkspaceFile]:
        return self.state.files

    @property
    def version(self) -> int:
        return self.state.version

    def apply(self, recorded: RecordedEvent) -> None:
        self.state.apply(recorded)

    def snapshot(self) -> Plain:
        """The files (the runnable metadata is a cache, recomputed from contents, not kept)."""
        return {
            "files": [
                [f.path, f.digest, f.size, f.written_at.isoformat(), f.task_id, f.source]
                for f in self.files.values()
            ],
            "version": self.state.version,
            "refused": self.state.refused,
            "outside_version": self.state.outside_version,
        }

    def restore(self, plain: Plain) -> None:
        files = (
            WorkspaceFile(path, digest, size, datetime.fromisoformat(at), task_id, source)
            for path, digest, size, at, task_id, source in plain["files"]
        )
        self.state = WorkspaceFiles(
            files={f.path: f for f in files},
            version=plain["version"],
            refused=list(plain["refused"]),
            outside_version=plain["outside_version"],
        )
        self.metadata = {}

    def listing(self) -> list[WorkspaceFile]:
        return [self.files[p] for p in sorted(self.files)]

    def resolve(self, raw: str) -> WorkspaceFile | None:
        """The file ``raw`` names: a workspace path (with or without the ``workspace/`` prefix)
        or a bare file name that is unique. :class:`UnsafePath` for a traversal attempt,
        :class:`AmbiguousName` when a bare name matches several files."""
        path = safe_relative_path(raw)
        if path in self.files:
            return self.files[path]
        if path.startswith(API_PREFIX) and path[len(API_PREFIX) :] in self.files:
            return self.files[path[len(API_PREFIX) :]]
        if "/" in path:
            return None
        matches = [f for f in self.files.values() if f.name == path]
        if len(matches) > 1:
            raise AmbiguousName(path, sorted(api_path(f) for f in matches))
        return matches[0] if matches else None


def ws_messages(recorded: RecordedEvent) -> list[dict[str, Any]]:
    event = recorded.event
    at = recorded.envelope.occurred_at.isoformat()
    if isinstance(event, FileWritten):
        return [
            {
                "type": "workspace_update",
                "action": "written",
                "path": API_PREFIX + event.path,
                "size": event.size,
                "source": event.source,
                "timestamp": at,
            }
        ]
    if isinstance(event, FileDeleted):
        return [
            {
                "type": "workspace_update",
                "action": "deleted",
                "path": API_PREFIX + event.path,
                "timestamp": at,
            }
        ]
    if isinstance(event, WorkspaceArchived):
        return [
            {
                "type": "workspace_update",
                "action": "archived",
                "archive_name": event.archive_name,
                "timestamp": at,
            }
        ]
    return []
