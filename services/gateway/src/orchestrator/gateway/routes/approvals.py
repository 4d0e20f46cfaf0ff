"""Steering a task: approve the gate it waits at, or send it back with feedback.

``POST /api/tasks/{task_id}/approve`` lets a task waiting at a gate go on (``plan``: to
implementation; ``changes``: to integration). ``POST /api/tasks/{task_id}/feedback`` with
``{"message": ...}`` sends a waiting task back (``plan``: the analyst revises the plan;
``changes``: the implementer does another round), at most the settings' ``max_feedback_rounds``
times per gate; on a completed task it submits a follow-up requirement to the same project
that carries the message and ``follows`` the task. Both are appends expecting the task's
version, so of two racing answers exactly one is recorded and the other gets 409.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from orchestrator.events.catalog import ApprovalGranted, FeedbackGiven
from orchestrator.events.catalog.base import Event
from orchestrator.events.error_codes import ErrorCode

from .. import errors
from ..bootstrap import GatewayDep
from ..jsontypes import NonBlank
from ..params import TaskId
from ..projections.tasks import TaskView
from .requirements import RequirementIn, RequirementOut, submit
from .tasks import control, task_or_404

router = APIRouter(tags=["tasks"])

MAX_FEEDBACK_CHARS = 10_000
FOLLOW_UP_REQUIREMENT_CHARS = 4_000
"""How much of the original requirement a follow-up quotes."""


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: NonBlank = Field(max_length=MAX_FEEDBACK_CHARS)


def _not_waiting(task: TaskView, action: str) -> errors.ApiError:
    return errors.ApiError(
        ErrorCode.CONFLICT,
        f"Task {task.id} is {task.status}, not awaiting approval: nothing to {action}",
        409,
        {"task_id": task.id, "status": task.status},
    )


@router.post(
    "/api/tasks/{task_id}/approve",
    responses=errors.responses(404, 409),
    summary="Approve the gate a task waits at",
)
async def approve_task(task_id: TaskId, gateway: GatewayDep) -> dict[str, Any]:
    answered: list[str] = []

    def make(task: TaskView) -> Event | None:
        if task.status != "awaiting_approval" or task.approval is None:
            raise _not_waiting(task, "approve")
        answered[:] = [task.approval["gate"]]  # the gate of the version appended against
        return ApprovalGranted(
            task_id=task.id, gate=task.approval["gate"], round=task.approval["round"]
        )

    task = await control(gateway, task_id, make)
    return {"task_id": task_id, "status": task.status, "approved": answered[0]}


@router.post(
    "/api/tasks/{task_id}/feedback",
    responses=errors.responses(404, 409),
    summary="Send a waiting task back with feedback, or follow up on a completed one",
)
async def task_feedback(task_id: TaskId, body: FeedbackIn, gateway: GatewayDep) -> dict[str, Any]:
    task = task_or_404(gateway, task_id)
    if task.status == "completed":
        follow_up = await submit(gateway, _follow_up(task, body.message), follows=task.id)
        return {
            "task_id": task_id,
            "status": task.status,
            "follow_up": follow_up.model_dump(mode="json"),
        }
    limit = (await gateway.settings_reader.read()).document.max_feedback_rounds
    answered: list[str] = []

    def make(task: TaskView) -> Event | None:
        if task.status != "awaiting_approval" or task.approval is None:
            raise _not_waiting(task, "give feedback on")
        gate = task.approval["gate"]
        answered[:] = [gate]
        given = sum(1 for a in task.approvals if a["gate"] == gate and a["status"] == "revise")
        if given >= limit:
            raise errors.ApiError(
                ErrorCode.CONFLICT,
                f"Task {task.id} had {given} round(s) of feedback at the {gate} gate, the most "
                "allowed (max_feedback_rounds): approve or cancel it",
                409,
                {"task_id": task.id, "status": task.status, "gate": gate},
            )
        return FeedbackGiven(
            task_id=task.id, gate=gate, round=task.approval["round"], message=body.message
        )

    task = await control(gateway, task_id, make)
    return {"task_id": task_id, "status": task.status, "revising": answered[0]}


def _follow_up(task: TaskView, message: str) -> RequirementIn:
    """A new requirement on the same project: the feedback, with what it is feedback on."""
    quoted = task.requirement[:FOLLOW_UP_REQUIREMENT_CHARS]
    return RequirementIn(
        requirement=(
            f"{message}\n\n(Feedback on the result of the previous requirement, task {task.id}: "
            f'"{quoted}". The project already holds that work; change it as asked.)'
        ),
        priority=task.priority,
        metadata=dict(task.metadata),
    )


__all__ = ["RequirementOut", "router"]
