"""A task's state from its events, and what the agents service does next. No I/O.

The service acts on the message that made a step due and on no other: ``TaskSubmitted`` makes
analysis due, ``StageCompleted(analysis)`` implementation, ``StageCompleted(implementation)`` or
``ValidationFailed`` validation / the next implementation round, ``TaskRetried`` the failed stage,
``StageFailed`` the ``TaskFailed`` that follows it. Every other message is noise to this service.
Because only the holder of that one message runs the step, and every append expects the version
it loaded, two replicas never both record the same step; a replica that crashed leaves the message
unacknowledged, it is delivered again, and the step is re-run from the same state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from orchestrator.events import RecordedEvent
from orchestrator.events.catalog import (
    StageCompleted,
    StageFailed,
    StageStarted,
    TaskCancelled,
    TaskCompleted,
    TaskFailed,
    TaskRetried,
    TaskSubmitted,
    ValidationFailed,
)
from orchestrator.events.catalog.tasks import Stage

LLM_STAGES: tuple[Stage, ...] = ("analysis", "implementation", "validation")
TRIGGER_TYPES = frozenset(
    {"TaskSubmitted", "StageCompleted", "ValidationFailed", "TaskRetried", "StageFailed"}
)
"""Event types that can make a step of this service due; anything else is acknowledged unread."""


def might_concern_us(recorded: RecordedEvent) -> bool:
    """Whether a message can make a step of this service due (checked before loading the task):
    what follows validation, and integration's own failures and retries, are the workspace's."""
    event = recorded.event
    if recorded.envelope.type not in TRIGGER_TYPES or not getattr(event, "task_id", None):
        return False
    if isinstance(event, StageCompleted):
        return event.stage in ("analysis", "implementation")
    if isinstance(event, (StageFailed, TaskRetried)):
        return event.stage in LLM_STAGES
    return True


Status = Literal["created", "in_progress", "completed", "failed", "cancelled"]


@dataclass
class TaskState:
    task_id: str = ""
    requirement: str = ""
    priority: int = 5
    submitted_seq: int = 0
    status: Status = "created"
    version: int = 0
    round: int = 1
    """The implementation round: 1, then one more after each ``ValidationFailed``."""
    rounds_failed: int = 0
    """Validation failures since submission or the last retry (the budget resets on retry)."""
    findings: tuple[str, ...] = ()
    completed: dict[str, StageCompleted] = field(default_factory=dict)
    last_implementation: StageCompleted | None = None
    """The latest implementation's files, kept after a failed validation for the next round."""
    due: tuple[Stage, int] | None = None
    due_since: int = 0
    """Sequence of the event that made ``due`` due: the one message allowed to run it."""
    failed: StageFailed | None = None
    failed_seq: int = 0
    task_failed: bool = False

    @property
    def terminal(self) -> bool:
        return self.status in ("completed", "failed", "cancelled")


def fold(events: list[RecordedEvent]) -> TaskState:
    state = TaskState()
    for recorded in events:
        apply(state, recorded)
    return state


def apply(state: TaskState, recorded: RecordedEvent) -> None:  # noqa: PLR0912 - one branch per event
    event = recorded.event
    state.version = recorded.seq
    if isinstance(event, TaskSubmitted):
        state.task_id = event.task_id
        state.requirement = event.requirement
        state.priority = event.priority
        state.submitted_seq = recorded.seq
        _make_due(state, ("analysis", 1), recorded.seq)
    elif isinstance(event, StageStarted):
        if not state.terminal:
            state.status = "in_progress"
    elif isinstance(event, StageCompleted):
        state.completed[event.stage] = event
        if event.stage == "implementation":
            state.last_implementation = event
        following = {
            "analysis": "implementation",
            "implementation": "validation",
            "validation": "integration",
        }.get(event.stage)
        if following is not None:
            _make_due(state, (following, state.round), recorded.seq)  # type: ignore[arg-type]
        else:
            state.due = None
    elif isinstance(event, ValidationFailed):
        state.round = event.round + 1
        state.rounds_failed += 1
        state.findings = event.findings
        state.completed.pop("implementation", None)
        _make_due(state, ("implementation", state.round), recorded.seq)
    elif isinstance(event, StageFailed):
        state.failed = event
        state.failed_seq = recorded.seq
        state.due = None
    elif isinstance(event, TaskFailed):
        state.status = "failed"
        state.task_failed = True
        state.due = None
    elif isinstance(event, TaskRetried):
        state.status = "in_progress"
        state.failed = None
        state.task_failed = False
        state.rounds_failed = 0
        _make_due(state, (event.stage, state.round), recorded.seq)
    elif isinstance(event, TaskCancelled):
        state.status = "cancelled"
        state.due = None
    elif isinstance(event, TaskCompleted):
        state.status = "completed"
        state.due = None


def _make_due(state: TaskState, step: tuple[Stage, int], seq: int) -> None:
    state.due = step
    state.due_since = seq


@dataclass(frozen=True)
class RunStage:
    stage: Stage
    round: int


@dataclass(frozen=True)
class FailTask:
    failure: StageFailed


Decision = RunStage | FailTask | None


def decide(state: TaskState, trigger_seq: int) -> Decision:
    """What to do on the message at ``trigger_seq``, given the task's state now."""
    if state.status == "cancelled":
        return None
    if (
        state.failed is not None
        and not state.task_failed
        and state.failed_seq == trigger_seq
        and state.failed.stage in LLM_STAGES
    ):
        return FailTask(state.failed)
    if state.terminal or state.due is None or state.due_since != trigger_seq:
        return None
    stage, round_ = state.due
    if stage not in LLM_STAGES:
        return None
    return RunStage(stage, round_)


def validation_outcome(
    passed: bool, state: TaskState, max_rounds: int
) -> Literal["passed", "retry", "exhausted"]:
    """After a validation round: pass, send back to implementation, or give up.

    ``max_rounds`` counts implementation rounds: with 3, validation may fail twice and the third
    round's failure ends the task.
    """
    if passed:
        return "passed"
    return "retry" if state.rounds_failed + 1 < max_rounds else "exhausted"
