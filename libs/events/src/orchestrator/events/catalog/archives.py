"""Events of one archive; subject ``events.archive.<name>``.

The archive itself is ``WorkspaceArchived`` on ``events.workspace`` (it must share that subject's
sequence to be exact); what happens to it afterwards is recorded here.
"""

from __future__ import annotations

from typing import Literal

from .base import Event


class ArchiveMaterialised(Event):
    """The archive's files were written under ``completed_archive/<name>/`` on disk."""

    type: Literal["ArchiveMaterialised"] = "ArchiveMaterialised"
    archive_name: str
    archive_path: str
    files: int
