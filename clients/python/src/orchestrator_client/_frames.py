"""Typed WebSocket frames of ``/ws`` and ``/ws/execution/{id}``.

A frame from a persisted event carries ``event_seq`` (the stream sequence it came from); frames
that are not persisted (``model_output``, ``system_health``) carry none and are never replayed.
A frame type this client does not know parses as the plain :class:`Frame`, its fields kept.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ._models import Model


class Frame(Model):
    type: str
    event_seq: int | None = None
    timestamp: str | None = None


class TaskUpdate(Frame):
    task_id: str
    status: str
    agent: str | None = None
    stage: str | None = None
    progress: int = 0
    round: int | None = None
    summary: str | None = None
    findings: list[str] | None = None
    error: dict[str, Any] | None = None
    cost_usd: float | None = None
    """The task's spend so far, after a model stage (None there: a model has no price)."""
    tokens: int | None = None
    gate: str | None = None


class ApprovalRequested(Frame):
    """A task stopped at a gate and waits for approve or feedback."""

    task_id: str
    gate: str
    round: int = 1
    summary: str = ""
    timeout_s: float | None = None


class ApprovalResolved(Frame):
    task_id: str
    gate: str
    round: int = 1
    decision: str
    """``approved`` or ``feedback``."""
    message: str | None = None


class AgentStatus(Frame):
    agent: str
    status: str
    current_task: str | None = None


class ModelOutput(Frame):
    """Tokens as the model writes them (not persisted: a reconnect does not replay them)."""

    task_id: str
    agent: str | None = None
    stage: str | None = None
    round: int | None = None
    text: str = ""


class SystemHealth(Frame):
    cpu_usage: float | None = None
    memory_usage: float | None = None
    active_tasks: int | None = None
    queue_length: int | None = None


class ExecutionStarted(Frame):
    execution_id: str
    path: str | None = None
    command: str | None = None
    process_id: int | None = None
    port: int | None = None
    preview_url: str | None = None


class ExecutionOutput(Frame):
    execution_id: str
    output: str
    line: int | None = None


class ExecutionOutputLost(Frame):
    """Lines ``first_line``..``last_line`` of a run that the output stream's retention dropped."""

    execution_id: str
    output_lost: int
    first_line: int | None = None
    last_line: int | None = None


class ExecutionFinished(Frame):
    execution_id: str
    status: str
    exit_code: int | None = None
    duration_s: float | None = None
    truncated: bool = False
    error: dict[str, Any] | None = None
    output_lost: int = 0
    """Lines of the run no longer held by the output stream (its retention): 0 when complete."""


FRAME_TYPES: dict[str, type[Frame]] = {
    "task_update": TaskUpdate,
    "agent_status": AgentStatus,
    "approval_requested": ApprovalRequested,
    "approval_resolved": ApprovalResolved,
    "model_output": ModelOutput,
    "system_health": SystemHealth,
    "execution_started": ExecutionStarted,
    "execution_output": ExecutionOutput,
    "execution_output_lost": ExecutionOutputLost,
    "execution_finished": ExecutionFinished,
}


def parse_frame(data: dict[str, Any]) -> Frame:
    """The typed frame of ``data``; a frame that does not fit its type stays a plain Frame."""
    cls = FRAME_TYPES.get(str(data.get("type")), Frame)
    try:
        return cls.model_validate(data)
    except ValidationError:
        return Frame.model_validate({"type": "unknown", **data})
