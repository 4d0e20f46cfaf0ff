"""Read models the gateway answers from, each rebuilt from the event stream.

One :class:`~orchestrator.events.Follower` on ``events.>`` feeds every read model in stream
order, then the live hub, so a WebSocket client never sees an event before a REST read reflects it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestrator.events import RecordedEvent

from . import archives, executions, task_frames, workspace
from .archives import ArchivesView
from .executions import ExecutionsView
from .plain import Plain
from .tasks import TaskBoard
from .usage import UsageLedger
from .workspace import WorkspaceView


@dataclass
class ReadModels:
    tasks: TaskBoard = field(default_factory=TaskBoard)
    workspace: WorkspaceView = field(default_factory=WorkspaceView)
    executions: ExecutionsView = field(default_factory=ExecutionsView)
    archives: ArchivesView = field(default_factory=ArchivesView)
    usage: UsageLedger = field(default_factory=UsageLedger)

    def apply(self, recorded: RecordedEvent) -> None:
        self.tasks.apply(recorded)
        self.usage.apply(recorded)
        self.workspace.apply(recorded)
        self.executions.apply(recorded)
        self.archives.apply(recorded)

    def snapshot(self, blobs: list[bytes] | None = None) -> Plain:
        """Every read model as plain data (JSON-encodable, nothing decodes into code); the
        ended tasks' compressed details go to ``blobs`` (inlined without it)."""
        return {
            "tasks": self.tasks.snapshot(blobs),
            "workspace": self.workspace.snapshot(),
            "executions": self.executions.snapshot(),
            "archives": self.archives.snapshot(),
            "usage": self.usage.snapshot(),
        }

    @classmethod
    def restore(cls, plain: Plain, blobs: bytes = b"") -> ReadModels:
        """Read models holding what :meth:`snapshot` returned (``blobs``: what it appended,
        joined); KeyError/TypeError/ValueError when ``plain`` is not such a snapshot."""
        models = cls()
        models.tasks.restore(plain["tasks"], blobs)
        models.workspace.restore(plain["workspace"])
        models.executions.restore(plain["executions"])
        models.archives.restore(plain["archives"])
        models.usage.restore(plain["usage"])
        return models


def ws_messages(recorded: RecordedEvent) -> list[dict[str, Any]]:
    """The WebSocket frames an event becomes: a pure function of the event, so a replay for a
    reconnecting client sends exactly what the live feed sent."""
    return [
        *task_frames.ws_messages(recorded),
        *executions.ws_messages(recorded),
        *workspace.ws_messages(recorded),
        *archives.ws_messages(recorded),
    ]
