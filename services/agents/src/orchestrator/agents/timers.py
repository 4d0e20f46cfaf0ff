"""Approval deadlines: a gate left unanswered past its ``approval_timeout_s`` cancels the task.

The clock is recorded: ``ApprovalDeadline`` (on ``events.timer.<task_id>``, appended before the
``ApprovalRequested`` it guards) says when. A durable consumer of the timer subjects gets each
deadline; one not yet due is handed back to the server with a delay (``Deferred``), so no
process holds it in memory or in a worker slot, and a restart of anything changes nothing: the
server redelivers it when it is due. A due deadline cancels the task if, and only if, it still
waits at that gate and round (approved, answered or cancelled meanwhile: nothing to do).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from orchestrator.events import ConcurrencyConflict, EventStore, RecordedEvent, subjects
from orchestrator.events.catalog import GATE_STAGE, ApprovalDeadline, TaskCancelled
from orchestrator.events.worker import Deferred, Delivery

from .domain import fold

log = logging.getLogger(__name__)

PROGRESS_AT_GATE = {"plan": 25, "changes": 75}
"""How far a task waiting at each gate has got (the analysis, or validation, is done)."""


class ApprovalDeadlines:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    async def __call__(self, recorded: RecordedEvent, delivery: Delivery) -> None:
        deadline = recorded.event
        if not isinstance(deadline, ApprovalDeadline):
            return
        remaining = (deadline.due_at - datetime.now(UTC)).total_seconds()
        if remaining > 0:
            raise Deferred(remaining)
        subject = subjects.task(deadline.task_id)
        events, version = await self.store.load(subject)
        state = fold(events)
        if state.terminal or state.awaiting != (deadline.gate, deadline.round):
            return
        waited = (deadline.due_at - recorded.envelope.occurred_at).total_seconds()
        try:
            await self.store.append(
                subject,
                TaskCancelled(
                    task_id=deadline.task_id,
                    reason=(
                        f"no answer at the {deadline.gate} approval gate within "
                        f"{waited:.0f}s (approval_timeout_s)"
                    ),
                    progress=PROGRESS_AT_GATE[deadline.gate],
                ),
                expected_last_seq=version,
                event_id=f"timeout-{deadline.task_id}-{deadline.gate}-{deadline.round}",
                correlation_id=deadline.task_id,
                causation_id=recorded.id,
            )
        except ConcurrencyConflict:
            # Answered at the last moment: decide again on what is recorded now.
            raise Deferred(0.1) from None
        log.info(
            "task %s cancelled: its %s gate (after %s) timed out",
            deadline.task_id,
            deadline.gate,
            GATE_STAGE[deadline.gate],
        )
