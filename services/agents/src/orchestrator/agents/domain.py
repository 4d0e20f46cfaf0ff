"""A task's state from its events, and what the agents service does next. No I/O.

The service acts on the message that made a step due and on no other: ``TaskSubmitted`` makes
analysis due, ``StageCompleted(analysis)`` implementation, ``StageCompleted(implementation)`` or
``ValidationFailed`` validation / the next implementation round, ``ChecksRecorded`` (the sandbox's
outcome for the round) validation's review, ``TaskRetried`` the failed stage, ``StageFailed`` the
``TaskFailed`` that follows it. ``ChecksRequested`` makes nothing due: the task waits, holding no
worker, until the workspace service records the checks. Approval gates work the same way: the
completion that opens a gate (analysis for ``plan``, validation for ``changes``) makes the
``ApprovalRequested`` due, and the task then waits on its events alone; ``ApprovalGranted(plan)``
makes implementation due, ``FeedbackGiven`` makes the analysis (``plan``) or a new
implementation round (``changes``) due. Every other message is noise here.
Because only the holder of that one message runs the step, and every append expects the version
it loaded, two replicas never both record the same step; a replica that crashed leaves the message
unacknowledged, it is delivered again, and the step is re-run from the same state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from orchestrator.events import RecordedEvent
from orchestrator.events.catalog import (
    GATE_STAGE,
    ApprovalGranted,
    ApprovalRequested,
    Budget,
    CheckOutcome,
    ChecksRecorded,
    ChecksRequested,
    FeedbackGiven,
    FileRef,
    Gate,
    StageCompleted,
    StageFailed,
    StageStarted,
    TaskCancelled,
    TaskCompleted,
    TaskFailed,
    TaskRetried,
    TaskSubmitted,
    Usage,
    ValidationFailed,
)
from orchestrator.events.catalog.tasks import Stage

LLM_STAGES: tuple[Stage, ...] = ("analysis", "implementation", "validation")
TRIGGER_TYPES = frozenset(
    {
        "TaskSubmitted",
        "StageCompleted",
        "ValidationFailed",
        "TaskRetried",
        "StageFailed",
        "ChecksRecorded",
        "ApprovalGranted",
        "FeedbackGiven",
    }
)
"""Event types that can make a step of this service due; anything else is acknowledged unread."""


def might_concern_us(recorded: RecordedEvent) -> bool:
    """Whether a message can make a step of this service due (checked before loading the task):
    what follows validation, and integration's own failures and retries, are the workspace's."""
    event = recorded.event
    if recorded.envelope.type not in TRIGGER_TYPES or not getattr(event, "task_id", None):
        return False
    if isinstance(event, StageCompleted):
        return event.stage in LLM_STAGES  # validation's: when it opens the changes gate
    if isinstance(event, (StageFailed, TaskRetried)):
        return event.stage in LLM_STAGES
    if isinstance(event, ApprovalGranted):
        return event.gate == "plan"  # the changes gate lets integration (workspace) go on
    return True


Status = Literal["created", "in_progress", "awaiting_approval", "completed", "failed", "cancelled"]


@dataclass
class TaskState:
    task_id: str = ""
    requirement: str = ""
    priority: int = 5
    metadata: dict[str, Any] = field(default_factory=dict)
    project: tuple[FileRef, ...] = ()
    """The project the task builds on (empty: a new project)."""
    workspace_version: int = 0
    """The ``events.workspace`` sequence ``project`` was read at (the rest of the workspace is
    read as of it too)."""
    outside_version: int | None = None
    """The last workspace change outside the project as of it (None: not recorded)."""
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
    checks_requested: int = 0
    """The round whose checks were asked for (0: none yet)."""
    checks: ChecksRecorded | None = None
    """The sandbox's outcome for the current round, once recorded."""
    failed_checks: tuple[tuple[int, tuple[CheckOutcome, ...]], ...] = ()
    """Each earlier round whose checks failed, with the checks that failed (for the reviewer)."""
    due: tuple[Stage, int] | None = None
    due_since: int = 0
    """Sequence of the event that made ``due`` due: the one message allowed to run it."""
    failed: StageFailed | None = None
    failed_seq: int = 0
    task_failed: bool = False
    budget: Budget | None = None
    usages: list[Usage] = field(default_factory=list)
    """Every recorded stage outcome's usage: what the task has spent."""
    gates: tuple[Gate, ...] = ()
    approval_timeout_s: float | None = None
    plan_round: int = 1
    """The plan's revision: one more after each feedback on it."""
    plan_revisions: tuple[tuple[dict[str, Any], str], ...] = ()
    """Each plan a person sent back, with their feedback (for the analyst's next request)."""
    change_feedback: tuple[str, ...] = ()
    """What a person asked of the changes (for every later implementation round)."""
    gate_due: tuple[Gate, int] | None = None
    gate_due_since: int = 0
    awaiting: tuple[Gate, int] | None = None
    """The gate and round the task waits at for a person."""
    previous_implementation: StageCompleted | None = None
    """The implementation round before the latest, to see whether a round changed anything."""

    @property
    def terminal(self) -> bool:
        return self.status in ("completed", "failed", "cancelled")


def fold(events: list[RecordedEvent]) -> TaskState:
    state = TaskState()
    for recorded in events:
        apply(state, recorded)
    return state


def apply(state: TaskState, recorded: RecordedEvent) -> None:
    state.version = recorded.seq
    step = _STEPS.get(type(recorded.event))
    if step is not None:
        step(state, recorded.event, recorded.seq)


def _submitted(state: TaskState, event: TaskSubmitted, seq: int) -> None:
    state.task_id = event.task_id
    state.requirement = event.requirement
    state.priority = event.priority
    state.metadata = dict(event.metadata)
    state.project = event.project
    state.workspace_version = event.workspace_version
    state.outside_version = event.outside_version
    state.submitted_seq = seq
    state.budget = event.budget
    state.gates = event.approval
    state.approval_timeout_s = event.approval_timeout_s
    _make_due(state, ("analysis", 1), seq)


def _checks_requested(state: TaskState, event: ChecksRequested, seq: int) -> None:
    state.checks_requested = event.round
    state.checks = None
    state.due = None  # the workspace service runs them; ChecksRecorded makes the review due


def _checks_recorded(state: TaskState, event: ChecksRecorded, seq: int) -> None:
    if event.round == state.round and state.checks_requested == event.round:
        state.checks = event
        _make_due(state, ("validation", event.round), seq)


def _stage_started(state: TaskState, event: StageStarted, seq: int) -> None:
    if not state.terminal:
        state.status = "in_progress"


_FOLLOWING: dict[str, Stage] = {
    "analysis": "implementation",
    "implementation": "validation",
    "validation": "integration",
}


_OPENS: dict[str, Gate] = {stage: gate for gate, stage in GATE_STAGE.items()}
"""The gate each stage's completion opens."""


def _stage_completed(state: TaskState, event: StageCompleted, seq: int) -> None:
    state.completed[event.stage] = event
    state.usages.append(event.usage)
    if event.stage == "implementation":
        state.previous_implementation = state.last_implementation
        state.last_implementation = event
    gate = _OPENS.get(event.stage)
    if gate is not None and gate in state.gates:
        state.due = None
        state.gate_due = (gate, state.plan_round if gate == "plan" else state.round)
        state.gate_due_since = seq
        return
    following = _FOLLOWING.get(event.stage)
    if following is not None:
        _make_due(state, (following, state.round), seq)
    else:
        state.due = None


def _approval_requested(state: TaskState, event: ApprovalRequested, seq: int) -> None:
    state.gate_due = None
    if not state.terminal:
        state.status = "awaiting_approval"
        state.awaiting = (event.gate, event.round)


def _approval_granted(state: TaskState, event: ApprovalGranted, seq: int) -> None:
    state.awaiting = None
    if state.terminal:
        return
    state.status = "in_progress"
    if event.gate == "plan":
        _make_due(state, ("implementation", state.round), seq)
    # changes: integration is the workspace service's


def _feedback_given(state: TaskState, event: FeedbackGiven, seq: int) -> None:
    state.awaiting = None
    if state.terminal:
        return
    state.status = "in_progress"
    if event.gate == "plan":
        analysis = state.completed.pop("analysis", None)
        plan = analysis.detail.get("plan") if analysis is not None else None
        revision = (plan if isinstance(plan, dict) else {}, event.message)
        state.plan_revisions = (*state.plan_revisions, revision)
        state.plan_round += 1
        _make_due(state, ("analysis", state.plan_round), seq)
    else:
        state.change_feedback = (*state.change_feedback, event.message)
        state.round += 1
        state.checks = None
        state.completed.pop("implementation", None)
        state.completed.pop("validation", None)
        _make_due(state, ("implementation", state.round), seq)


def _validation_failed(state: TaskState, event: ValidationFailed, seq: int) -> None:
    state.usages.append(event.usage)
    state.round = event.round + 1
    state.rounds_failed += 1
    state.findings = event.findings
    failed = tuple(check for check in event.checks if check.status == "failed")
    if failed:
        state.failed_checks = (*state.failed_checks, (event.round, failed))
    state.checks = None
    state.completed.pop("implementation", None)
    _make_due(state, ("implementation", state.round), seq)


def _stage_failed(state: TaskState, event: StageFailed, seq: int) -> None:
    state.usages.append(event.usage)
    state.failed = event
    state.failed_seq = seq
    state.due = None


def _task_failed(state: TaskState, event: TaskFailed, seq: int) -> None:
    state.status = "failed"
    state.task_failed = True
    state.due = None


def _task_retried(state: TaskState, event: TaskRetried, seq: int) -> None:
    state.status = "in_progress"
    state.failed = None
    state.task_failed = False
    state.rounds_failed = 0
    state.checks, state.checks_requested = None, 0  # a retried validation runs its checks again
    if event.budget is not None:
        state.budget = event.budget
    round_ = state.plan_round if event.stage == "analysis" else state.round
    _make_due(state, (event.stage, round_), seq)


def _task_cancelled(state: TaskState, event: TaskCancelled, seq: int) -> None:
    state.status = "cancelled"
    state.due = None
    state.gate_due = state.awaiting = None


def _task_completed(state: TaskState, event: TaskCompleted, seq: int) -> None:
    state.status = "completed"
    state.due = None
    state.gate_due = state.awaiting = None


_STEPS: dict[type[Any], Callable[[TaskState, Any, int], None]] = {
    TaskSubmitted: _submitted,
    ChecksRequested: _checks_requested,
    ChecksRecorded: _checks_recorded,
    StageStarted: _stage_started,
    StageCompleted: _stage_completed,
    ValidationFailed: _validation_failed,
    StageFailed: _stage_failed,
    TaskFailed: _task_failed,
    TaskRetried: _task_retried,
    TaskCancelled: _task_cancelled,
    TaskCompleted: _task_completed,
    ApprovalRequested: _approval_requested,
    ApprovalGranted: _approval_granted,
    FeedbackGiven: _feedback_given,
}
"""How each event moves a task's state, one step per event type."""


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


@dataclass(frozen=True)
class RequestApproval:
    gate: Gate
    round: int


Decision = RunStage | FailTask | RequestApproval | None


def decide(state: TaskState, trigger_seq: int) -> Decision:
    """What to do on the message at ``trigger_seq``, given the task's state now."""
    if (
        state.failed is not None
        and state.status != "cancelled"
        and not state.task_failed
        and state.failed_seq == trigger_seq
        and state.failed.stage in LLM_STAGES
    ):
        return FailTask(state.failed)
    if state.terminal:
        return None
    if state.gate_due is not None and state.gate_due_since == trigger_seq:
        return RequestApproval(*state.gate_due)
    if state.due is None or state.due_since != trigger_seq or state.due[0] not in LLM_STAGES:
        return None
    return RunStage(*state.due)


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


def repeated_findings(state: TaskState, findings: tuple[str, ...]) -> bool:
    """Validation found exactly what it found the round before: another round would be spent
    on the same problems."""
    return state.round > 1 and bool(findings) and tuple(findings) == tuple(state.findings)


def unchanged_files(state: TaskState) -> bool:
    """The implementer returned the same files (and deletes) as the round before, and the same
    refused operations: an answer that only drops what was refused (a write outside the
    project, a path named twice) is progress, its files are not yet validated."""
    before, latest = state.previous_implementation, state.last_implementation
    return (
        before is not None
        and latest is not None
        and latest.round > before.round
        and set(latest.files) == set(before.files)
        and set(latest.deleted) == set(before.deleted)
        and before.detail.get("problems") == latest.detail.get("problems")
    )


def checks_of(state: TaskState, round_: int) -> ChecksRecorded | None:
    """The recorded checks of ``round_``, if the sandbox has answered for it."""
    checks = state.checks
    return checks if checks is not None and checks.round == round_ else None


def candidate(state: TaskState) -> tuple[dict[str, FileRef], tuple[str, ...]]:
    """The round's candidate project (path -> file): the project the task built on with the
    latest implementation's writes and deletes; and the paths it deleted."""
    files = {ref.path: ref for ref in state.project}
    impl = state.last_implementation
    if impl is None:
        return files, ()
    for ref in impl.files:
        files[ref.path] = ref
    for path in impl.deleted:
        files.pop(path, None)
    return files, impl.deleted
