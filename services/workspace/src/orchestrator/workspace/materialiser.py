"""Keeps ``DATA_DIR/workspace`` equal to the workspace the event stream describes.

At start it replays ``events.workspace`` into memory, then reconciles the disk with it in one
pass (writing what is missing or different, removing what should not be there), so a restart, an
emptied disk or a new host all end up with the same files. After that every new event is written
through as it arrives. Contents come from the object store by digest and are verified.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from nats.js import JetStreamContext
from nats.js.object_store import ObjectStore

from orchestrator.events import Follower, RecordedEvent, subjects
from orchestrator.events.catalog import FileDeleted, FileWritten, WorkspaceArchived
from orchestrator.events.objects import ContentMissing, fetch_content
from orchestrator.events.paths import UnsafePath, safe_relative_path
from orchestrator.events.store import EventStore
from orchestrator.events.workspace_files import WorkspaceFiles

from . import disk

log = logging.getLogger(__name__)


class Materialiser:
    def __init__(
        self, js: JetStreamContext, files: ObjectStore, store: EventStore, root: Path
    ) -> None:
        self.follower = Follower(js, subjects.WORKSPACE, self.apply, poll_timeout=1.0)
        self.js = js
        self.files = files
        self.store = store
        self.root = root
        self.state = WorkspaceFiles()
        self._lock = asyncio.Lock()
        self._synced = False

    async def start(self, timeout: float = 60.0) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        await self.follower.start()
        await self.follower.wait_caught_up(timeout)
        await self.sync()

    async def stop(self) -> None:
        await self.follower.stop()

    async def apply(self, recorded: RecordedEvent) -> None:
        async with self._lock:
            self.state.apply(recorded)
            if self._synced:
                await self._write_through(recorded)

    async def _write_through(self, recorded: RecordedEvent) -> None:
        event = recorded.event
        try:
            if isinstance(event, FileWritten):
                path = safe_relative_path(event.path)
                if disk.digest_on_disk(self.root, path) != event.digest:
                    data = await fetch_content(self.js, self.files, event.digest)
                    await asyncio.to_thread(disk.write_file, self.root, path, data)
            elif isinstance(event, FileDeleted):
                await asyncio.to_thread(disk.remove_file, self.root, safe_relative_path(event.path))
            elif isinstance(event, WorkspaceArchived):
                await self._reconcile()
        except (UnsafePath, ContentMissing, OSError) as exc:
            log.error("workspace event #%d not materialised: %s", recorded.seq, exc)

    async def sync(self) -> None:
        async with self._lock:
            await self._reconcile()
            self._synced = True
        log.info(
            "workspace materialised at version %d: %d files",
            self.state.version,
            len(self.state.files),
        )

    async def _reconcile(self) -> None:
        wanted = {path: file.ref for path, file in self.state.files.items()}
        for stray in disk.files_on_disk(self.root) - set(wanted):
            await asyncio.to_thread(disk.remove_entry, self.root, stray)
        for path, ref in wanted.items():
            if disk.digest_on_disk(self.root, path) == ref.digest:
                continue
            try:
                data = await fetch_content(self.js, self.files, ref.digest)
                await asyncio.to_thread(disk.write_file, self.root, path, data)
            except (ContentMissing, OSError) as exc:
                log.error("could not materialise %s: %s", path, exc)
        await asyncio.to_thread(disk.remove_empty_dirs, self.root)

    async def wait_current(self, timeout: float = 10.0) -> None:
        """Wait until everything appended to the workspace so far is on disk."""
        last = await self.store.last_seq(subjects.WORKSPACE)
        if last:
            await self.follower.wait_for(last, timeout)
