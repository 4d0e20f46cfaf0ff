"""Read model of archives, rebuilt from ``WorkspaceArchived`` events on ``events.workspace``.

It also answers "has the reset I asked for happened yet?": the reset route waits on
:meth:`ArchivesView.wait_for_request` for the archive carrying its request id.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator.events import RecordedEvent
from orchestrator.events.catalog import ArchiveMaterialised, FileRef, WorkspaceArchived


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
        self._waiters: dict[str, asyncio.Event] = {}

    def apply(self, recorded: RecordedEvent) -> None:
        event = recorded.event
        if isinstance(event, ArchiveMaterialised):
            self.materialised.add(event.archive_name)
            self._wake(f"disk:{event.archive_name}")
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
        self._wake(archive.request_id)

    def _wake(self, key: str) -> None:
        waiter = self._waiters.pop(key, None)
        if waiter is not None:
            waiter.set()

    async def _wait(self, key: str, done: bool, timeout: float) -> None:
        if done:
            return
        waiter = self._waiters.setdefault(key, asyncio.Event())
        try:
            await asyncio.wait_for(waiter.wait(), timeout)
        finally:
            if not waiter.is_set():
                self._waiters.pop(key, None)

    def newest_first(self) -> list[Archive]:
        return sorted(self.by_name.values(), key=lambda a: a.seq, reverse=True)

    async def wait_for_request(self, request_id: str, timeout: float) -> Archive:
        """The archive made for ``request_id`` once recorded and written to disk.

        TimeoutError when either takes longer than ``timeout`` seconds.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        await self._wait(request_id, request_id in self.by_request, timeout)
        archive = self.by_request[request_id]
        await self._wait(
            f"disk:{archive.name}",
            archive.name in self.materialised,
            max(deadline - loop.time(), 0.001),
        )
        return archive


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
