"""The whole workspace a task was submitted against, folded from ``events.workspace``.

``TaskSubmitted.project`` holds only the project's files (under ``implementation/``); a person
also keeps files elsewhere in the workspace (notes, specs, data), and the analyst must see those
too. They are read from the stream as of the task's ``workspace_version``, the same sequence its
``project`` was read at, so the view is the one the task was submitted against however often it
is read again (a redelivery, another replica). The fold is the shared one
(:class:`~orchestrator.events.workspace_files.WorkspaceFiles`).

Only the events that can change what lies outside the project are kept (a project file's write or
delete cannot), in memory, and the stream is read only past the last sequence already read: tasks
in flight together ask for versions in any order, and an older one is folded again from memory,
not from the stream (before, each such ask read the whole workspace history back). A task that
says where the last outside change before its version was (``TaskSubmitted.outside_version``)
is not read for at all once the view has read that far: the events after it, up to the task's
version, are the project's own (the previous tasks' writes), which the view would read only to
drop.
"""

from __future__ import annotations

import asyncio

from orchestrator.events import EventStore, RecordedEvent, subjects
from orchestrator.events.catalog import FileRef
from orchestrator.events.workspace_files import (
    MAX_PROJECT_FILES,
    WorkspaceFiles,
    changes_outside_project,
    in_project,
)

FEW = 8
"""Workspace events read one request each before a catch-up reads the rest with a consumer."""


class WorkspaceView:
    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._kept: list[RecordedEvent] = []
        """The events read so far that touch the files outside the project, in stream order."""
        self._read_to = 0
        """Every workspace event up to this sequence has been read (and kept if it matters)."""
        self._folded = WorkspaceFiles()
        self._folded_at = 0
        """The sequence ``_folded`` stands at."""
        self._lock = asyncio.Lock()

    async def outside_project(
        self, version: int, outside_version: int | None = None
    ) -> tuple[FileRef, ...]:
        """The workspace's files outside the project as of ``version``, by workspace path;
        ``outside_version``, when known, is the last event before it that changed any."""
        if version <= 0 or outside_version == 0:
            return ()
        async with self._lock:
            if version > self._read_to:
                if outside_version is not None and outside_version <= self._read_to:
                    version = self._read_to  # nothing outside changed in between
                else:
                    await self._read_through(version)
            if version < self._folded_at:  # an older task than the last one asked: fold again
                self._folded, self._folded_at = WorkspaceFiles(), 0
            for recorded in self._kept:
                if self._folded_at < recorded.seq <= version:
                    self._folded.apply(recorded)
            self._folded_at = version
            files = self._folded.files
            found = [files[path].ref for path in sorted(files) if in_project(path) is None]
        return tuple(found[:MAX_PROJECT_FILES])

    async def _read_through(self, version: int) -> None:
        """Read the workspace events up to ``version`` not read yet: one request per event for
        the few a task in flight usually has to catch up on, a reader past :data:`FEW`."""
        for _ in range(FEW):
            seq, recorded = await self.store.next_event(subjects.WORKSPACE, self._read_to)
            if seq == 0 or seq > version:
                self._read_to = version
                return
            if recorded is not None and changes_outside_project(recorded):
                self._kept.append(recorded)
            self._read_to = seq
            if seq == version:  # the next would be past it: no request to find that out
                return
        events = await self.store.read(subjects.WORKSPACE, start_seq=self._read_to + 1)
        self._kept.extend(e for e in events if changes_outside_project(e))
        # ``version`` was read from the stream before, so the read reached it.
        self._read_to = max([version, *(e.seq for e in events[-1:])])
