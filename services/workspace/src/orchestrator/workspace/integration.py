"""The integration stage (agent "ide"): pure decisions over a task's events, no I/O.

Integration runs after validation passed (``StageCompleted(stage="validation")``), or, for a task
with the ``changes`` approval gate, once a person approved the changes
(``ApprovalGranted(gate="changes")``), or when a failed task is retried at integration
(``TaskRetried(stage="integration")``). It writes the latest
implementation's files into the workspace under ``implementation/`` (and deletes the files it
deleted), unless someone changed one of them since the task read the project, and completes the
task.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.events import RecordedEvent
from orchestrator.events.catalog import (
    ApprovalGranted,
    FeedbackGiven,
    FileRef,
    StageCompleted,
    StageFailed,
    StageStarted,
    TaskCancelled,
    TaskCompleted,
    TaskFailed,
    TaskRetried,
    TaskSubmitted,
)
from orchestrator.events.paths import safe_relative_path
from orchestrator.events.runnables import Runtimes, inspect_file
from orchestrator.events.workspace_files import in_workspace

AGENT = "ide"
STAGE = "integration"


@dataclass(frozen=True)
class Integrate:
    """Integration is due: ``started`` says whether StageStarted is already recorded (resume)."""

    task_id: str
    trigger_seq: int
    round: int
    files: tuple[FileRef, ...]
    started: bool
    completed: tuple[FileRef, ...] | None = None
    """Set when StageCompleted(integration) is recorded but TaskCompleted is not (resume)."""
    failed: StageFailed | None = None
    """Set when StageFailed(integration) is recorded but TaskFailed is not (resume)."""
    deleted: tuple[str, ...] = ()
    """Project files the implementation deleted."""
    base: tuple[FileRef, ...] = ()
    """The project as the task found it (what it changed against)."""


TRIGGER_TYPES = frozenset({"StageCompleted", "ApprovalGranted", "TaskRetried"})
"""The event types :func:`is_trigger` can accept (its worker acknowledges any other unread)."""


def is_trigger(recorded: RecordedEvent) -> bool:
    """Whether ``recorded`` can make integration due (which one does depends on the task's
    gates: see :func:`decide`)."""
    event = recorded.event
    return (
        (isinstance(event, StageCompleted) and event.stage == "validation")
        or (isinstance(event, ApprovalGranted) and event.gate == "changes")
        or (isinstance(event, TaskRetried) and event.stage == STAGE)
    )


def _triggers(event: object, gated: bool) -> bool:
    if isinstance(event, StageCompleted) and event.stage == "validation":
        return not gated  # with the changes gate, the approval is what lets it go on
    return isinstance(event, ApprovalGranted | TaskRetried)


def decide(events: list[RecordedEvent]) -> Integrate | None:
    """What integration must do now for the task made of ``events``, or None."""
    trigger: RecordedEvent | None = None
    started = False
    done = False
    completed: tuple[FileRef, ...] | None = None
    failed: StageFailed | None = None
    implementation: tuple[FileRef, ...] = ()
    deleted: tuple[str, ...] = ()
    base: tuple[FileRef, ...] = ()
    impl_round = 1
    task_id = ""
    gated = False
    for recorded in events:
        event = recorded.event
        task_id = getattr(event, "task_id", task_id)
        if isinstance(event, TaskCancelled | TaskCompleted):
            return None
        if isinstance(event, TaskSubmitted):
            base = event.project
            gated = "changes" in event.approval
        if isinstance(event, FeedbackGiven) and event.gate == "changes":
            trigger = None  # sent back: a new round comes first
        if isinstance(event, StageCompleted) and event.stage == "implementation":
            implementation, deleted = event.files, event.deleted
            impl_round = event.round
        if is_trigger(recorded) and _triggers(event, gated):
            trigger, started, done, completed, failed = recorded, False, False, None, None
        elif trigger is not None:
            if isinstance(event, StageStarted) and event.stage == STAGE:
                started = True
            elif isinstance(event, StageCompleted) and event.stage == STAGE:
                completed = event.files
            elif isinstance(event, StageFailed) and event.stage == STAGE:
                failed = event
            elif isinstance(event, TaskFailed):
                done = True
    if trigger is None or done:
        return None
    return Integrate(
        task_id,
        trigger.seq,
        impl_round,
        implementation,
        started,
        completed,
        failed,
        deleted,
        base,
    )


def conflicts(plan: Integrate, current: dict[str, str]) -> list[str]:
    """Project files the task changes that someone else changed since the task read them.

    ``current`` is workspace path -> digest now. A file is in conflict when it is neither as the
    task found it nor already as the task leaves it (a resumed integration): writing it would
    silently undo a person's edit or another task's change.
    """
    found = {ref.path: ref.digest for ref in plan.base}
    clashes = []
    for ref in plan.files:
        now = current.get(workspace_path(ref.path))
        if now not in (found.get(ref.path), ref.digest):
            clashes.append(ref.path)
    for path in plan.deleted:
        now = current.get(workspace_path(path))
        if now is not None and now != found.get(path):
            clashes.append(path)
    return clashes


def workspace_path(implementation_path: str) -> str:
    """Where an implementation file lands in the workspace; :class:`UnsafePath` if it cannot."""
    return in_workspace(safe_relative_path(implementation_path.removeprefix("./")))


def workspace_refs(files: tuple[FileRef, ...]) -> tuple[FileRef, ...]:
    return tuple(FileRef(path=workspace_path(f.path), digest=f.digest, size=f.size) for f in files)


def completion_detail(
    refs: tuple[FileRef, ...], contents: dict[str, bytes], runtimes: Runtimes
) -> dict[str, object]:
    """The runnable metadata of each integrated file, for StageCompleted.detail."""
    described = []
    for ref in refs:
        found = inspect_file(ref.path, contents.get(ref.path, b""), runtimes=runtimes)
        described.append(
            {
                "path": "workspace/" + ref.path,
                "runnable": found.runnable,
                "kind": found.kind,
                **found.metadata(),
            }
        )
    return {"files": described}


def summary(refs: tuple[FileRef, ...], deleted: tuple[str, ...] = ()) -> str:
    names = ", ".join("workspace/" + r.path for r in refs[:5])
    more = f" and {len(refs) - 5} more" if len(refs) > 5 else ""
    text = f"Integrated {len(refs)} file(s) into the workspace: {names}{more}"
    if deleted:
        text += f"; deleted {len(deleted)}: " + ", ".join(workspace_path(p) for p in deleted[:5])
    return text


__all__ = [
    "AGENT",
    "STAGE",
    "Integrate",
    "completion_detail",
    "conflicts",
    "decide",
    "is_trigger",
    "summary",
    "workspace_path",
    "workspace_refs",
]
