"""The integration stage (agent "ide"): pure decisions over a task's events, no I/O.

Integration runs after validation passed (``StageCompleted(stage="validation")``) or when a failed
task is retried at integration (``TaskRetried(stage="integration")``). It writes the latest
implementation's files into the workspace under ``implementation/`` and completes the task.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.events import RecordedEvent
from orchestrator.events.catalog import (
    FileRef,
    StageCompleted,
    StageFailed,
    StageStarted,
    TaskCancelled,
    TaskCompleted,
    TaskFailed,
    TaskRetried,
)
from orchestrator.events.files import inspect_file
from orchestrator.events.paths import safe_relative_path

AGENT = "ide"
STAGE = "integration"
PREFIX = "implementation/"


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


def is_trigger(recorded: RecordedEvent) -> bool:
    event = recorded.event
    return (isinstance(event, StageCompleted) and event.stage == "validation") or (
        isinstance(event, TaskRetried) and event.stage == STAGE
    )


def decide(events: list[RecordedEvent]) -> Integrate | None:
    """What integration must do now for the task made of ``events``, or None."""
    trigger: RecordedEvent | None = None
    started = False
    done = False
    completed: tuple[FileRef, ...] | None = None
    failed: StageFailed | None = None
    implementation: tuple[FileRef, ...] = ()
    impl_round = 1
    task_id = ""
    for recorded in events:
        event = recorded.event
        task_id = getattr(event, "task_id", task_id)
        if isinstance(event, TaskCancelled | TaskCompleted):
            return None
        if isinstance(event, StageCompleted) and event.stage == "implementation":
            implementation = event.files
            impl_round = event.round
        if is_trigger(recorded):
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
    return Integrate(task_id, trigger.seq, impl_round, implementation, started, completed, failed)


def workspace_path(implementation_path: str) -> str:
    """Where an implementation file lands in the workspace; :class:`UnsafePath` if it cannot."""
    return PREFIX + safe_relative_path(implementation_path.removeprefix("./"))


def workspace_refs(files: tuple[FileRef, ...]) -> tuple[FileRef, ...]:
    return tuple(FileRef(path=workspace_path(f.path), digest=f.digest, size=f.size) for f in files)


def completion_detail(refs: tuple[FileRef, ...], contents: dict[str, bytes]) -> dict[str, object]:
    """The runnable metadata of each integrated file, for StageCompleted.detail."""
    described = []
    for ref in refs:
        found = inspect_file(ref.path, contents.get(ref.path, b""))
        described.append(
            {
                "path": "workspace/" + ref.path,
                "runnable": found.runnable,
                "kind": found.kind,
                **found.metadata(),
            }
        )
    return {"files": described}


def summary(refs: tuple[FileRef, ...]) -> str:
    names = ", ".join("workspace/" + r.path for r in refs[:5])
    more = f" and {len(refs) - 5} more" if len(refs) > 5 else ""
    return f"Integrated {len(refs)} file(s) into the workspace: {names}{more}"


__all__ = [
    "AGENT",
    "STAGE",
    "Integrate",
    "completion_detail",
    "decide",
    "is_trigger",
    "summary",
    "workspace_path",
    "workspace_refs",
]
