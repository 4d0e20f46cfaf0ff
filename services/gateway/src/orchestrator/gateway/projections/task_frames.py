"""The ``task_update`` and ``agent_status`` frames a task event becomes (a pure function of it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.events import RecordedEvent
from orchestrator.events.catalog import (
    STAGE_AGENT,
    ChecksRecorded,
    ChecksRequested,
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
    return {"type": "task_update", "task_id": event.task_id, **fields, "timestamp": at}


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
        _update(
            event,
            at,
            status="in_progress",
            agent=event.agent,
            stage=event.stage,
            progress=PROGRESS_AT_START[event.stage],
            round=event.round,
        ),
        _agent(event.agent, "active", event.task_id, at),
    ]


def _stage_completed(event: StageCompleted, at: str) -> list[Frame]:
    return [
        _update(
            event,
            at,
            status="in_progress",
            agent=event.agent,
            stage=event.stage,
            progress=PROGRESS_AT_END[event.stage],
            round=event.round,
            summary=event.summary,
        ),
        _agent(event.agent, "idle", None, at),
    ]


def _validation_failed(event: ValidationFailed, at: str) -> list[Frame]:
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


def _task_failed(event: TaskFailed, at: str) -> list[Frame]:
    return [
        _update(
            event,
            at,
            status="failed",
            agent=STAGE_AGENT[event.stage],
            stage=event.stage,
            progress=PROGRESS_AT_START[event.stage],
            error={"code": event.code, "message": event.message},
        )
    ]


def _task_retried(event: TaskRetried, at: str) -> list[Frame]:
    return [
        _update(
            event,
            at,
            status="in_progress",
            agent=STAGE_AGENT[event.stage],
            stage=event.stage,
            progress=PROGRESS_AT_START[event.stage],
        )
    ]


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
}


def ws_messages(recorded: RecordedEvent) -> list[Frame]:
    """``task_update`` and ``agent_status`` frames of one task event."""
    build = _FRAMES.get(type(recorded.event))
    if build is None:
        return []
    return build(recorded.event, timestamp(recorded.envelope.occurred_at))
