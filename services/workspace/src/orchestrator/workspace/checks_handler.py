"""The checks' consumer: a ``ChecksRequested`` in, at most one ``ChecksRecorded`` out.

Checks are asked for on the task's subject, and handed out through a durable consumer of this
service's own, so one replica takes each request; a replica killed mid-check never acks, the
request is delivered again, and the checks run again (nothing was recorded). The outcome is
appended expecting the task's version as read before running (the live task history when it has
the request, see :mod:`.task_histories`; else read back): if anything was recorded meanwhile
(a cancel, another replica's outcome after a redelivery) the append is refused and the task read
again, so a round never has two outcomes.

A request whose checks fail to run on every delivery (its files missing from the object store,
the service's disk refusing the candidate's copy...) is not left for the dead-letter stream with
its task waiting for ever: on the last delivery its checks are recorded ``not_run``, with why, and
validation goes on from there.
"""

from __future__ import annotations

import logging

from orchestrator.events import ConcurrencyConflict, EventStore, RecordedEvent
from orchestrator.events.catalog import (
    CheckOutcome,
    ChecksRecorded,
    ChecksRequested,
    TaskCancelled,
    TaskCompleted,
    TaskFailed,
)
from orchestrator.events.worker import Delivery

from . import checks
from .check_runner import CheckRunner
from .task_histories import TaskHistories, WaitFor, live_history

log = logging.getLogger(__name__)

ATTEMPTS = 5


def still_wanted(events: list[RecordedEvent], request_seq: int, request: ChecksRequested) -> bool:
    """Whether the request (at ``request_seq``) still waits for its outcome: nothing after it
    ended the task or recorded its round's checks (pure)."""
    for recorded in events:
        if recorded.seq <= request_seq:
            continue
        event = recorded.event
        if isinstance(event, TaskCancelled | TaskCompleted | TaskFailed):
            return False
        if isinstance(event, ChecksRecorded) and event.round == request.round:
            return False
    return True


class ChecksHandler:
    def __init__(
        self,
        store: EventStore,
        runner: CheckRunner,
        histories: TaskHistories | None = None,
        wait_for: WaitFor | None = None,
    ) -> None:
        self.store = store
        self.runner = runner
        self.histories = histories
        self.wait_for = wait_for

    async def __call__(self, recorded: RecordedEvent, delivery: Delivery) -> None:
        request = recorded.event
        if not isinstance(request, ChecksRequested):
            return
        # The live history when it has the request (no read back); a stale one is a conflict
        # on the append below, and the task is read back then.
        live = await live_history(self.histories, self.wait_for, recorded)
        if live is not None:
            events, version = live, live[-1].seq
        elif await self.store.has_ended(recorded.subject):
            return  # no longer wanted, found without reading the task back
        else:
            events, version = await self.store.load(recorded.subject)
        if not still_wanted(events, recorded.seq, request):
            return
        outcomes = await self._outcomes(request, delivery)
        outcome = ChecksRecorded(task_id=request.task_id, round=request.round, checks=outcomes)
        for _ in range(ATTEMPTS):
            try:
                await self.store.append(
                    recorded.subject,
                    outcome,
                    expected_last_seq=version,
                    correlation_id=request.task_id,
                    causation_id=recorded.id,
                )
            except ConcurrencyConflict:
                events, version = await self.store.load(recorded.subject)
                if not still_wanted(events, recorded.seq, request):
                    return
                continue
            summary = ", ".join(f"{c.name} {c.status}" for c in outcomes)
            log.info("task %s round %d checks: %s", request.task_id, request.round, summary)
            return
        raise RuntimeError(f"{request.task_id}: the task kept changing while recording checks")

    async def _outcomes(
        self, request: ChecksRequested, delivery: Delivery
    ) -> tuple[CheckOutcome, ...]:
        try:
            return await self.runner.run(request.files, request.plan)
        except Exception as exc:
            if not delivery.is_last_attempt:
                raise  # redelivered after the worker's backoff
            log.exception(
                "task %s round %d: the checks could not be run; recording them not run",
                request.task_id,
                request.round,
            )
            # The exception's type only: its text is the service's business (paths, digests).
            reason = (
                f"the checks could not be run ({type(exc).__name__} on each of "
                f"{delivery.attempt} attempts; the workspace service's log says why)"
            )
            return (checks.not_run("tests", reason), checks.not_run("smoke", reason))
