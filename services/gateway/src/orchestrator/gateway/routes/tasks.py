"""Tasks: list, read, history, cancel, retry. Reads come from the task board projection."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from orchestrator.events import ConcurrencyConflict, subjects
from orchestrator.events.catalog import TaskCancelled, TaskRetried
from orchestrator.events.catalog.base import Event
from orchestrator.events.error_codes import ErrorCode
from orchestrator.events.errors import AppendFailed
from orchestrator.events.objects import fetch_content

from .. import errors
from ..bootstrap import Gateway, GatewayDep
from ..params import TASK_ID, TaskId, matches
from ..projections import changes
from ..projections.tasks import STATUSES, TERMINAL, TaskView, timestamp
from ..read_after import ReadAfter
from .requirements import BudgetIn

router = APIRouter(tags=["tasks"])

CONTROL_ATTEMPTS = 5
MAX_PAGE = 1000


def _not_found(task_id: str) -> errors.NotFound:
    return errors.NotFound(
        ErrorCode.TASK_NOT_FOUND, f"Task {task_id} does not exist", task_id=task_id[:200]
    )


def _subject(task_id: str) -> str:
    if not matches(TASK_ID, task_id):  # never issued, so it names no task
        raise _not_found(task_id)
    try:
        return subjects.task(task_id)
    except ValueError:
        raise _not_found(task_id) from None


def task_or_404(gateway: Gateway, task_id: str) -> TaskView:
    _subject(task_id)
    task = gateway.models.tasks.get(task_id)
    if task is None:
        raise _not_found(task_id)
    return task


@router.get("/api/tasks", summary="Get all tasks", dependencies=[ReadAfter])
async def list_tasks(
    gateway: GatewayDep,
    status: Annotated[str | None, Query(pattern="^(" + "|".join(STATUSES) + ")$")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = MAX_PAGE,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,19}$")] = None,
) -> dict[str, Any]:
    """The tasks, newest first, a page at a time: without ``limit`` and ``cursor`` the newest
    1,000; ``next_cursor`` (None on the last page) is the ``cursor`` of the next."""
    page, following = gateway.models.tasks.page(
        status=status, limit=limit, before=int(cursor) if cursor is not None else None
    )
    return {"tasks": page, "next_cursor": str(following) if following is not None else None}


@router.get("/api/tasks/{task_id}", summary="Get task by ID", dependencies=[ReadAfter])
async def get_task(task_id: TaskId, gateway: GatewayDep) -> dict[str, Any]:
    return task_or_404(gateway, task_id).to_json()


@router.get(
    "/api/tasks/{task_id}/events", summary="The task's full event history", dependencies=[ReadAfter]
)
async def task_events(task_id: TaskId, gateway: GatewayDep) -> dict[str, Any]:
    events = await gateway.store.read(_subject(task_id))
    if not events:
        raise _not_found(task_id)
    return {
        "task_id": task_id,
        "events": [
            {
                "seq": r.seq,
                "id": r.id,
                "type": r.envelope.type,
                "occurred_at": timestamp(r.envelope.occurred_at),
                "correlation_id": r.envelope.correlation_id,
                "causation_id": r.envelope.causation_id,
                "schema_version": r.envelope.schema_version,
                "data": r.event.model_dump(mode="json"),
            }
            for r in events
        ],
    }


@router.get(
    "/api/tasks/{task_id}/changes",
    summary="What the task changed in the project",
    dependencies=[ReadAfter],
)
async def task_changes(task_id: TaskId, gateway: GatewayDep) -> dict[str, Any]:
    """The task's changes against the project it started from (its last implementation round),
    and the same for every round: added, modified or deleted, with a unified diff for text."""
    task = task_or_404(gateway, task_id)
    rounds = sorted(task.implementations.items())
    wanted: set[str] = set()
    for _, (writes, deleted) in rounds:
        wanted |= changes.needed(task.project, writes, deleted)
    contents = dict(
        zip(
            sorted(wanted),
            await asyncio.gather(
                *(fetch_content(gateway.js, gateway.files, d) for d in sorted(wanted))
            ),
            strict=True,
        )
    )
    per_round = [
        {"round": r, "changes": changes.changes(task.project, writes, deleted, contents)}
        for r, (writes, deleted) in rounds
    ]
    return {
        "task_id": task_id,
        "changes": per_round[-1]["changes"] if per_round else [],
        "rounds": per_round,
    }


async def control(gateway: Gateway, task_id: str, make: Any) -> TaskView:
    """Append what ``make(task)`` returns, expecting the task's version; re-decide on a race
    (so of two racing writers exactly one appends, and the other decides on what it wrote)."""
    subject = _subject(task_id)
    for _ in range(CONTROL_ATTEMPTS):
        task = task_or_404(gateway, task_id)
        event: Event | None = make(task)
        if event is None:
            return task
        try:
            seq = await gateway.store.append(
                subject, event, expected_last_seq=task.version, correlation_id=task_id
            )
        except ConcurrencyConflict:
            await gateway.caught_up_to(await gateway.store.last_seq(subject))
            continue
        except AppendFailed:
            raise errors.ApiError(
                ErrorCode.SERVICE_UNAVAILABLE, "The event store is unavailable; try again", 503
            ) from None
        await gateway.caught_up_to(seq, accepted={"task_id": task_id})
        return task_or_404(gateway, task_id)
    raise errors.ApiError(ErrorCode.CONFLICT, "The task kept changing; try again", 409)


@router.post("/api/tasks/{task_id}/cancel", summary="Cancel a task")
async def cancel_task(task_id: TaskId, gateway: GatewayDep) -> dict[str, Any]:
    def make(task: TaskView) -> Event | None:
        if task.status == "cancelled":
            return None
        if task.status in TERMINAL:
            raise errors.ApiError(
                ErrorCode.CONFLICT,
                f"Task {task_id} is {task.status} and cannot be cancelled",
                409,
                {"task_id": task_id, "status": task.status},
            )
        return TaskCancelled(task_id=task_id, progress=task.progress)

    task = await control(gateway, task_id, make)
    return {"task_id": task_id, "status": task.status}


class RetryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    budget: BudgetIn | None = None
    """A new budget from here on (a task that ran out of budget is retried with more)."""


@router.post("/api/tasks/{task_id}/retry", summary="Retry a failed task from its failed stage")
async def retry_task(
    task_id: TaskId, gateway: GatewayDep, body: RetryIn | None = None
) -> dict[str, Any]:
    budget = body.budget.budget() if body is not None and body.budget is not None else None

    def make(task: TaskView) -> Event | None:
        if task.status != "failed" or not task.error:
            raise errors.ApiError(
                ErrorCode.CONFLICT,
                f"Task {task_id} is {task.status}; only a failed task can be retried",
                409,
                {"task_id": task_id, "status": task.status},
            )
        resumed.append(task.error["stage"])
        return TaskRetried(task_id=task_id, stage=task.error["stage"], budget=budget)

    # The stage it resumes from, as decided: by the time the view has caught up with the
    # retry, a fast agent may already have finished that stage and moved the task on.
    resumed: list[str] = []
    task = await control(gateway, task_id, make)
    return {"task_id": task_id, "status": task.status, "stage": resumed[-1]}
