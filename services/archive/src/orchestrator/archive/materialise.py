"""Archives on disk: ``DATA_DIR/completed_archive/<name>/<path>``, rebuilt from the stream.

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
from pathlib import Path, PurePosixPath

from nats.js.errors import NotFoundError
from nats.js.object_store import ObjectStore

from orchestrator.events import RecordedEvent
from orchestrator.events.catalog import FileRef, WorkspaceArchived

log = logging.getLogger(__name__)


class UnsafePath(ValueError):
    pass


def safe_target(root: Path, relative: str) -> Path:
    """``root / relative``, refusing anything that would land outside ``root``."""
    pure = PurePosixPath(relative)
    if pure.is_absolute() or not pure.parts or any(p in ("..", "") for p in pure.parts):
        raise UnsafePath(relative)
    if "\\" in relative or "\x00" in relative:
        raise UnsafePath(relative)
    target = root.joinpath(*pure.parts)
    if not target.resolve().is_relative_to(root.resolve()):
        raise UnsafePath(relative)
    return target


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


class ArchiveMaterialiser:
    def __init__(self, root: Path, files: ObjectStore) -> None:
        self.root = root
        self.files = files
        self.archives: set[str] = set()
        self.missing: list[str] = []

    async def apply(self, recorded: RecordedEvent) -> None:
        event = recorded.event
        if isinstance(event, WorkspaceArchived):
            await self.materialise(event)

    async def materialise(self, archive: WorkspaceArchived) -> None:
        try:
            directory = safe_target(self.root, archive.archive_name)
        except UnsafePath:
            log.error("archive name %r is not a safe directory name; skipped", archive.archive_name)
            return
        await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
        for ref in archive.files:
            try:
                target = safe_target(directory, ref.path)
            except UnsafePath:
                log.error("archive %s: unsafe path %r skipped", archive.archive_name, ref.path)
                continue
            if await asyncio.to_thread(_intact, target, ref):
                continue
            try:
                result = await self.files.get(ref.digest)
            except NotFoundError:
                # The bytes are gone from the object store: nothing can bring them back, and
                # retrying forever would stop every later archive from being written.
                log.error(
                    "archive %s: no bytes for %s (%s)", archive.archive_name, ref.path, ref.digest
                )
                self.missing.append(f"{archive.archive_name}/{ref.path}")
                continue
            await asyncio.to_thread(_write_atomically, target, result.data or b"")
        self.archives.add(archive.archive_name)
        log.info("archive %s materialised at %s", archive.archive_name, directory)
