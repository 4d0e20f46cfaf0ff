"""Events of a task's life; subject ``events.task.<task_id>``.

``TaskSubmitted → StageStarted → StageCompleted → … → TaskCompleted``, or
``StageFailed → TaskFailed``, or ``TaskCancelled``; ``ValidationFailed`` sends the work back to
implementation for another round; ``TaskRetried`` restarts a failed task from its failed stage.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .base import Event, Record

Stage = Literal["analysis", "implementation", "validation", "integration"]
AgentName = Literal["claude", "codex", "claude2", "ide"]

STAGES: tuple[Stage, ...] = ("analysis", "implementation", "validation", "integration")
STAGE_AGENT: dict[Stage, AgentName] = {
    "analysis": "claude",
    "implementation": "codex",
    "validation": "claude2",
    "integration": "ide",
}
ROLE_AGENT: dict[str, AgentName] = {
    "analyst": "claude",
    "implementer": "codex",
    "validator": "claude2",
    "integrator": "ide",
}


class Usage(Record):
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


class FileRef(Record):
    """A file by content: its workspace-relative path and the sha256 of its bytes."""

    path: str
    digest: str
    size: int


class RunPlan(Record):
    """How the analyst says the project is tested and run (what validation executes)."""

    test_command: str | None = None
    entry_point: str | None = None
    """A project file: the script to run, or the module that starts the server."""
    kind: Literal["script", "server"] | None = None
    port: int | None = None
    health_path: str = "/"


class CheckOutcome(Record):
    """One check that ran (or could not) on a round's candidate files."""

    name: str
    """``tests`` or ``smoke``."""
    status: Literal["passed", "failed", "not_run"]
    duration_s: float = 0.0
    summary: str = ""
    output_tail: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    """For tests: passed/failed/errors/skipped counts and the failing test ids."""


class TaskSubmitted(Event):
    type: Literal["TaskSubmitted"] = "TaskSubmitted"
    task_id: str
    requirement: str
    priority: int
    metadata: dict[str, Any] = Field(default_factory=dict)
    agents: dict[str, AgentName] = Field(default_factory=lambda: dict(ROLE_AGENT))
    idempotency_key: str | None = None
    project: tuple[FileRef, ...] = ()
    """The project the task builds on: the workspace's project files when it was submitted
    (paths relative to the project root). Empty: a new project."""
    workspace_version: int = 0
    """The ``events.workspace`` sequence ``project`` was read at."""


class StageStarted(Event):
    type: Literal["StageStarted"] = "StageStarted"
    task_id: str
    stage: Stage
    agent: AgentName
    round: int = 1
    provider: str | None = None
    model: str | None = None
    worker: str | None = None
    """The service instance that ran it (a replica id), for operators; never a secret."""


class StageCompleted(Event):
    type: Literal["StageCompleted"] = "StageCompleted"
    task_id: str
    stage: Stage
    agent: AgentName
    round: int = 1
    summary: str
    detail: dict[str, Any] = Field(default_factory=dict)
    files: tuple[FileRef, ...] = ()
    """Implementation: the files written (whole content). Integration: the files placed."""
    deleted: tuple[str, ...] = ()
    """Implementation and integration: the project files deleted."""
    usage: Usage = Usage()
    checks: tuple[CheckOutcome, ...] = ()
    """Validation: the checks that ran on the files it passed."""


class ChecksRequested(Event):
    """Validation asks the workspace service to run a round's candidate files in the sandbox."""

    type: Literal["ChecksRequested"] = "ChecksRequested"
    task_id: str
    round: int
    files: tuple[FileRef, ...]
    """The candidate project: the project it built on, with this round's writes and deletes."""
    plan: RunPlan = RunPlan()


class ChecksRecorded(Event):
    """What the sandbox said of a round's candidate files; validation reviews with it."""

    type: Literal["ChecksRecorded"] = "ChecksRecorded"
    task_id: str
    round: int
    checks: tuple[CheckOutcome, ...]


class ValidationFailed(Event):
    """Validation found problems; implementation runs again with the findings."""

    type: Literal["ValidationFailed"] = "ValidationFailed"
    task_id: str
    round: int
    findings: tuple[str, ...]
    usage: Usage = Usage()
    checks: tuple[CheckOutcome, ...] = ()


class StageFailed(Event):
    type: Literal["StageFailed"] = "StageFailed"
    task_id: str
    stage: Stage
    agent: AgentName
    round: int = 1
    code: str
    message: str


class TaskCompleted(Event):
    type: Literal["TaskCompleted"] = "TaskCompleted"
    task_id: str
    files: tuple[FileRef, ...] = ()


class TaskFailed(Event):
    type: Literal["TaskFailed"] = "TaskFailed"
    task_id: str
    stage: Stage
    code: str
    message: str


class TaskCancelled(Event):
    type: Literal["TaskCancelled"] = "TaskCancelled"
    task_id: str
    reason: str = "cancelled by client"
    progress: int = 0
    """How far the task had got when it was cancelled (0, 25, 50, 75)."""


class TaskRetried(Event):
    type: Literal["TaskRetried"] = "TaskRetried"
    task_id: str
    stage: Stage
