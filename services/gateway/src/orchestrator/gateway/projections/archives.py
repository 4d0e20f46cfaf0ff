"""Read model of archives, rebuilt from ``WorkspaceArchived`` events on ``events.workspace``.

It also answers "has the reset I asked for happened yet?" (:meth:`ArchivesView.on_disk`): the
reset route waits until it holds for its request id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator.events import RecordedEvent
from orchestrator.events.catalog import ArchiveMaterialised, FileRef, WorkspaceArchived

from .plain import Plain, file_refs, plain_refs


@dataclass(frozen=True)
class Archive:
    name: str
    path: str
    created: datetime
    files: tuple[FileRef, ...]
    request_id: str
    seq: int

    @property
    def size(self) -> int:
        return sum(ref.size for ref in self.files)

    def snapshot(self) -> Plain:
        return {
            "name": self.name,
            "path": self.path,
            "created": self.created.isoformat(),
            "files": plain_refs(self.files),
            "request_id": self.request_id,
            "seq": self.seq,
        }

    @classmethod
    def restore(cls, plain: Plain) -> Archive:
        return cls(
            name=plain["name"],
            path=plain["path"],
            created=datetime.fromisoformat(plain["created"]),
            files=file_refs(plain["files"]),
            request_id=plain["request_id"],
            seq=plain["seq"],
        )

    def find(self, filename: str) -> FileRef | None:
        """A file by its archived path, or by its base name when that names exactly one file."""
        for ref in self.files:
            if ref.path == filename:
                return ref
        by_name = [ref for ref in self.files if ref.path.rsplit("/", 1)[-1] == filename]
        return by_name[0] if len(by_name) == 1 else None


def human_size(size: int) -> str:
    """``15.2KB`` as the contract writes sizes."""
    if size < 1024:
        return f"{size}B"
    value = float(size)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1024
        if value < 1024 or unit == "TB":
            break
    return f"{value:.1f}{unit}"


class ArchivesView:
    def __init__(self) -> None:
        self.by_name: dict[str, Archive] = {}
        self.by_request: dict[str, Archive] = {}
        self.materialised: set[str] = set()

    def apply(self, recorded: RecordedEvent) -> None:
        event = recorded.event
        if isinstance(event, ArchiveMaterialised):
            self.materialised.add(event.archive_name)
            return
        if not isinstance(event, WorkspaceArchived):
            return
        archive = Archive(
            name=event.archive_name,
            path=event.archive_path,
            created=recorded.envelope.occurred_at,
            files=event.files,
            request_id=event.request_id,
            seq=recorded.seq,
        )
        self.by_name[archive.name] = archive
        self.by_request[archive.request_id] = archive

    def snapshot(self) -> Plain:
        return {
            "by_name": [a.snapshot() for a in self.by_name.values()],
            "by_request": [a.snapshot() for a in self.by_request.values()],
            "materialised": sorted(self.materialised),
        }

    def restore(self, plain: Plain) -> None:
        by_name = [Archive.restore(a) for a in plain["by_name"]]
        self.by_name = {a.name: a for a in by_name}
        self.by_request = {a.request_id: a for a in map(Archive.restore, plain["by_request"])}
        self.materialised = set(plain["materialised"])

    def newest_first(self) -> list[Archive]:
        return sorted(self.by_name.values(), key=lambda a: a.seq, reverse=True)

    def on_disk(self, request_id: str) -> bool:
        """Whether the reset asked for as ``request_id`` is recorded and written to disk."""
        archive = self.by_request.get(request_id)
        return archive is not None and archive.name in self.materialised


def ws_messages(recorded: RecordedEvent) -> list[dict[str, Any]]:
    """An added frame type, ``workspace_archived``, so a UI can refresh its lists."""
    event = recorded.event
    if not isinstance(event, WorkspaceArchived):
        return []
    return [
        {
            "type": "workspace_archived",
            "archive_name": event.archive_name,
            "archive_path": event.archive_path,
            "files_archived": len(event.files),
        }
    ]
