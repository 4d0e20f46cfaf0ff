"""The frames a task event becomes (a pure function of it): ``task_update`` and
``agent_status``, ``validation_checks``, and ``approval_requested`` / ``approval_resolved`` for a
task stopping at, and going on from, an approval gate.

A ``task_update`` that follows a model stage's outcome carries the task's spend so far
(``cost_usd``, ``None`` when a model has no price, and ``tokens``), recorded on the event itself
so a replay sends what the live feed sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.events import RecordedEvent
from orchestrator.events.catalog import (
    GATE_STAGE,
    STAGE_AGENT,
    ApprovalGranted,
    ApprovalRequested,
    ChecksRecorded,
    ChecksRequested,
    FeedbackGiven,
    Spend,
    Stage,
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

from .tasks import PROGRESS_AT_END, PROGRESS_AT_START, timestamp

Frame = dict[str, Any]


def _update(event: Any, at: str, **fields: Any) -> Frame:
    spent: Spend | None = getattr(event, "spent", None)
    if spent is not None:
        fields |= {"cost_usd": spent.cost_usd, "tokens": spent.tokens}
    return {"type": "task_update", "task_id": event.task_id, **fields, "timestamp": at}


def _stage_update(
    event: Any,
    at: str,
    stage: Stage,
    progress: dict[str, int],
    *,
    status: str = "in_progress",
    agent: str | None = None,
    **fields: Any,
) -> Frame:
    """A ``task_update`` at ``stage``: its agent (by default the stage's) and the progress the
    ``progress`` table (``PROGRESS_AT_START`` or ``PROGRESS_AT_END``) gives it."""
    return _update(
        event,
        at,
        status=status,
        agent=agent or STAGE_AGENT[stage],
        stage=stage,
        progress=progress[stage],
        **fields,
    )


def _agent(name: str, status: str, task: str | None, at: str) -> Frame:
    return {
        "type": "agent_status",
        "agent": name,
        "status": status,
        "current_task": task,
        "timestamp": at,
    }


def _submitted(event: TaskSubmitted, at: str) -> list[Frame]:
    return [_update(event, at, status="created", agent=None, stage=None, progress=0)]


def _stage_started(event: StageStarted, at: str) -> list[Frame]:
    return [
        _stage_update(
            event, at, event.stage, PROGRESS_AT_START, agent=event.agent, round=event.round
        ),
        _agent(event.agent, "active", event.task_id, at),
    ]


def _stage_completed(event: StageCompleted, at: str) -> list[Frame]:
    return [
        _stage_update(
            event,
            at,
            event.stage,
            PROGRESS_AT_END,
            agent=event.agent,
            round=event.round,
            summary=event.summary,
        ),
        _agent(event.agent, "idle", None, at),
    ]


def _validation_failed(event: ValidationFailed, at: str) -> list[Frame]:
    # Back to implementation's start, still shown as the validator's stage.
    validator = STAGE_AGENT["validation"]
    return [
        _update(
            event,
            at,
            status="in_progress",
            agent=validator,
            stage="validation",
            progress=PROGRESS_AT_START["implementation"],
            round=event.round,
            findings=list(event.findings),
        ),
        _agent(validator, "idle", None, at),
    ]


def _checks(event: ChecksRequested | ChecksRecorded, at: str, **fields: Any) -> Frame:
    """``validation_checks``: the sandbox running a round's candidate files, then its outcome."""
    return {
        "type": "validation_checks",
        "task_id": event.task_id,
        "round": event.round,
        **fields,
        "timestamp": at,
    }


def _checks_requested(event: ChecksRequested, at: str) -> list[Frame]:
    return [_checks(event, at, status="running", files=len(event.files))]


def _checks_recorded(event: ChecksRecorded, at: str) -> list[Frame]:
    checks = [c.model_dump(mode="json") for c in event.checks]
    return [_checks(event, at, status="recorded", checks=checks)]


def _stage_failed(event: StageFailed, at: str) -> list[Frame]:
    return [_agent(event.agent, "idle", None, at)]


def _approval(event: Any, kind: str, at: str, **fields: Any) -> Frame:
    return {
        "type": kind,
        "task_id": event.task_id,
        "gate": event.gate,
        "round": event.round,
        **fields,
        "timestamp": at,
    }


def _approval_requested(event: ApprovalRequested, at: str) -> list[Frame]:
    stage = GATE_STAGE[event.gate]
    return [
        _stage_update(
            event, at, stage, PROGRESS_AT_END, status="awaiting_approval", gate=event.gate
        ),
        _approval(
            event,
            "approval_requested",
            at,
            summary=event.summary,
            timeout_s=event.timeout_s,
        ),
    ]


def _approval_granted(event: ApprovalGranted, at: str) -> list[Frame]:
    return [
        _approval(event, "approval_resolved", at, decision="approved"),
        _update(event, at, status="in_progress", stage=GATE_STAGE[event.gate], gate=event.gate),
    ]


def _feedback_given(event: FeedbackGiven, at: str) -> list[Frame]:
    return [
        _approval(event, "approval_resolved", at, decision="feedback", message=event.message),
        _update(event, at, status="in_progress", stage=GATE_STAGE[event.gate], gate=event.gate),
    ]


def _task_failed(event: TaskFailed, at: str) -> list[Frame]:
    return [
        _stage_update(
            event,
            at,
            event.stage,
            PROGRESS_AT_START,
            status="failed",
            error={"code": event.code, "message": event.message},
        )
    ]


def _task_retried(event: TaskRetried, at: str) -> list[Frame]:
    return [_stage_update(event, at, event.stage, PROGRESS_AT_START)]


def _task_cancelled(event: TaskCancelled, at: str) -> list[Frame]:
    return [_update(event, at, status="cancelled", agent=None, stage=None, progress=event.progress)]


def _task_completed(event: TaskCompleted, at: str) -> list[Frame]:
    return [_update(event, at, status="completed", agent="ide", stage="integration", progress=100)]


_FRAMES: dict[type[Any], Callable[[Any, str], list[Frame]]] = {
    TaskSubmitted: _submitted,
    StageStarted: _stage_started,
    StageCompleted: _stage_completed,
    ValidationFailed: _validation_failed,
    ChecksRequested: _checks_requested,
    ChecksRecorded: _checks_recorded,
    StageFailed: _stage_failed,
    TaskFailed: _task_failed,
    TaskRetried: _task_retried,
    TaskCancelled: _task_cancelled,
    TaskCompleted: _task_completed,
    ApprovalRequested: _approval_requested,
    ApprovalGranted: _approval_granted,
    FeedbackGiven: _feedback_given,
}


def ws_messages(recorded: RecordedEvent) -> list[Frame]:
    """The frames of one task event."""
    build = _FRAMES.get(type(recorded.event))
    if build is None:
        return []
    return build(recorded.event, timestamp(recorded.envelope.occurred_at))
