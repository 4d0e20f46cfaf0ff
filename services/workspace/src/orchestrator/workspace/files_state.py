"""The workspace's current files, folded from ``events.workspace``: pure state, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.events import RecordedEvent
from orchestrator.events.catalog import FileDeleted, FileRef, FileWritten, WorkspaceArchived
from orchestrator.events.files import UnsafePath, safe_relative_path


@dataclass
class WorkspaceFiles:
    """Path -> file, as of event ``version`` (the last sequence folded in)."""

    files: dict[str, FileRef] = field(default_factory=dict)
    version: int = 0
    refused: list[str] = field(default_factory=list)

    def apply(self, recorded: RecordedEvent) -> None:
        event = recorded.event
        self.version = recorded.seq
        if isinstance(event, FileWritten):
            try:
                path = safe_relative_path(event.path)
            except UnsafePath:
                # Never materialised: a path that could escape the workspace.
                self.refused.append(event.path)
                return
            self.files[path] = FileRef(path=path, digest=event.digest, size=event.size)
        elif isinstance(event, FileDeleted):
            self.files.pop(event.path, None)
        elif isinstance(event, WorkspaceArchived):
            self.files.clear()
