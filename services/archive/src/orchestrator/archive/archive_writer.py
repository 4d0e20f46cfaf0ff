"""Archives written to disk: ``DATA_DIR/completed_archive/<name>/<path>``, rebuilt from the stream.

A :class:`Follower` replays ``events.workspace`` from the start on every start, and each
``WorkspaceArchived`` is made true on disk: missing or damaged files are written again from the
object store (bytes under the digest). So an empty disk, a restart, or another replica's data
directory all converge on the same tree. Each file is written to a temporary name and renamed,
so a reader (or a second replica sharing the directory) never sees half a file.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import uuid
from pathlib import Path

from nats.js import JetStreamContext
from nats.js.object_store import ObjectStore

from orchestrator.events import RecordedEvent
from orchestrator.events.catalog import FileRef, WorkspaceArchived
from orchestrator.events.objects import ContentMissing, fetch_content
from orchestrator.events.paths import UnsafePath, under

log = logging.getLogger(__name__)


def _intact(path: Path, ref: FileRef) -> bool:
    try:
        if path.stat().st_size != ref.size:
            return False
        return hashlib.sha256(path.read_bytes()).hexdigest() == ref.digest
    except OSError:
        return False


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class ArchiveWriter:
    def __init__(self, root: Path, js: JetStreamContext, files: ObjectStore) -> None:
        self.root = root
        self.js = js
        self.files = files
        self.archives: set[str] = set()
        self.missing: list[str] = []

    async def apply(self, recorded: RecordedEvent) -> None:
        event = recorded.event
        if isinstance(event, WorkspaceArchived):
            await self.materialise(event)

    async def materialise(self, archive: WorkspaceArchived) -> None:
        try:
            directory = under(self.root, archive.archive_name)
        except UnsafePath:
            log.error("archive name %r is not a safe directory name; skipped", archive.archive_name)
            return
        await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
        for ref in archive.files:
            try:
                target = under(directory, ref.path)
            except UnsafePath:
                log.error("archive %s: unsafe path %r skipped", archive.archive_name, ref.path)
                continue
            if await asyncio.to_thread(_intact, target, ref):
                continue
            try:
                data = await fetch_content(self.js, self.files, ref.digest)
            except ContentMissing as exc:
                # The bytes are gone from the object store: nothing can bring them back, and
                # retrying forever would stop every later archive from being written.
                log.error("archive %s: no bytes for %s: %s", archive.archive_name, ref.path, exc)
                self.missing.append(f"{archive.archive_name}/{ref.path}")
                continue
            await asyncio.to_thread(_write_atomically, target, data)
        self.archives.add(archive.archive_name)
        log.info("archive %s materialised at %s", archive.archive_name, directory)
