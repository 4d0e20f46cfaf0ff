"""Events of a task's life; subject ``events.task.<task_id>``.

``TaskSubmitted → StageStarted → StageCompleted → … → TaskCompleted``, or
``StageFailed → TaskFailed``, or ``TaskCancelled``; ``ValidationFailed`` sends the work back to
implementation for another round; ``TaskRetried`` restarts a failed task from its failed stage.

A task with an approval gate stops after analysis (``plan``) or after validation (``changes``)
with ``ApprovalRequested`` and waits, holding nothing but its events, for ``ApprovalGranted``
(it goes on) or ``FeedbackGiven`` (the analyst or the implementer revises, and it waits again).
An ``ApprovalDeadline`` on the task's timer subject is the recorded clock of a gate's timeout.
"""

from __future__ import annotations

from datetime import datetime
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


Gate = Literal["plan", "changes"]
"""Where a task may wait for a person: after analysis (the plan) or before integration (the
changes to be written)."""
GATE_STAGE: dict[Gate, Stage] = {"plan": "analysis", "changes": "validation"}
"""The stage whose completion opens each gate."""


def add_costs(a: float | None, b: float | None) -> float | None:
    """A sum of costs; one with an unknown part (``None``: a model without a price) is unknown."""
    return None if a is None or b is None else round(a + b, 6)


class Usage(Record):
    """What one stage's model calls consumed."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0
    """None: a call's model has no price, so the cost is unknown (never counted as 0)."""
    provider: str | None = None
    model: str | None = None
    calls: int = 0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class Spend(Record):
    """What a task has consumed so far: tokens, and dollars (None: some call's price is
    unknown, so the total is too)."""

    tokens: int = 0
    cost_usd: float | None = 0.0

    def plus(self, usage: Usage) -> Spend:
        return Spend(
            tokens=self.tokens + usage.tokens, cost_usd=add_costs(self.cost_usd, usage.cost_usd)
        )


class Budget(Record):
    """A task's spending limit: either or both. ``None`` fields do not limit."""

    max_cost_usd: float | None = Field(default=None, gt=0)
    max_tokens: int | None = Field(default=None, gt=0)


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
    outside_version: int | None = None
    """As of ``workspace_version``, the sequence of the last workspace event that changed the
    files outside the project (0: none ever did), so a reader holding the workspace's events up
    to it need read no further. None (an event from before it was recorded): read up to
    ``workspace_version``."""
    budget: Budget | None = None
    approval: tuple[Gate, ...] = ()
    """The gates the task stops at for a person's approval."""
    approval_timeout_s: float | None = None
    """An unanswered gate cancels the task after this long (None: it waits for ever)."""
    follows: str | None = None
    """The task this one is feedback on (a follow-up to the same project)."""


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
    spent: Spend | None = None
    """The task's spend including this stage (model stages; None for integration)."""


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
    spent: Spend | None = None


class StageFailed(Event):
    type: Literal["StageFailed"] = "StageFailed"
    task_id: str
    stage: Stage
    agent: AgentName
    round: int = 1
    code: str
    message: str
    usage: Usage = Usage()
    """What the stage's model calls consumed before it failed."""
    spent: Spend | None = None


class ApprovalRequested(Event):
    """The task waits at ``gate`` for a person: approve, give feedback, or cancel."""

    type: Literal["ApprovalRequested"] = "ApprovalRequested"
    task_id: str
    gate: Gate
    round: int
    """The plan's revision (1, then one more per feedback) or the implementation round."""
    summary: str = ""
    timeout_s: float | None = None


class ApprovalGranted(Event):
    type: Literal["ApprovalGranted"] = "ApprovalGranted"
    task_id: str
    gate: Gate
    round: int


class FeedbackGiven(Event):
    """A person's answer to a gate: revise with this message (the analyst for ``plan``, the
    implementer for ``changes``), then ask again."""

    type: Literal["FeedbackGiven"] = "FeedbackGiven"
    task_id: str
    gate: Gate
    round: int
    message: str


class ApprovalDeadline(Event):
    """The recorded clock of a gate's timeout, on ``events.timer.<task_id>``: at ``due_at``,
    if the task still waits at this gate and round, it is cancelled."""

    type: Literal["ApprovalDeadline"] = "ApprovalDeadline"
    task_id: str
    gate: Gate
    round: int
    due_at: datetime


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


TASK_END_TYPES = frozenset(
    str(kind.model_fields["type"].default) for kind in (TaskCompleted, TaskFailed, TaskCancelled)
)
"""The types of the events that end a task. Nothing is due on a task whose last event is one
of them: a failed task retried has ``TaskRetried`` after it, and that is its own trigger."""


class TaskRetried(Event):
    type: Literal["TaskRetried"] = "TaskRetried"
    task_id: str
    stage: Stage
    budget: Budget | None = None
    """A new budget for the task from here on (None: the one it had)."""
