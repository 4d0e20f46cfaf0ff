"""The whole workspace a task was submitted against, folded from ``events.workspace``.

``TaskSubmitted.project`` holds only the project's files (under ``implementation/``); a person
also keeps files elsewhere in the workspace (notes, specs, data), and the analyst must see those
too. They are read from the stream as of the task's ``workspace_version``, the same sequence its
``project`` was read at, so the view is the one the task was submitted against however often it
is read again (a redelivery, another replica). The fold is the shared one
(:class:`~orchestrator.events.workspace_files.WorkspaceFiles`).
"""

from __future__ import annotations

import asyncio

from orchestrator.events import EventStore, subjects
from orchestrator.events.catalog import FileRef
from orchestrator.events.workspace_files import MAX_PROJECT_FILES, WorkspaceFiles, in_project


class WorkspaceView:
    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._folded = WorkspaceFiles()
        self._upto = 0
        """The sequence ``_folded`` stands at: every workspace event up to it is applied."""
        self._lock = asyncio.Lock()

    async def outside_project(self, version: int) -> tuple[FileRef, ...]:
        """The workspace's files outside the project as of ``version``, by workspace path."""
        if version <= 0:
            return ()
        async with self._lock:
            if version < self._upto:  # an older task than the last one read: fold afresh
                self._folded, self._upto = WorkspaceFiles(), 0
            if version > self._upto:
                events = await self.store.read(subjects.WORKSPACE, start_seq=self._upto + 1)
                for recorded in events:
                    if recorded.seq <= version:
                        self._folded.apply(recorded)
                self._upto = version
            files = self._folded.files
            found = [files[path].ref for path in sorted(files) if in_project(path) is None]
        return tuple(found[:MAX_PROJECT_FILES])
