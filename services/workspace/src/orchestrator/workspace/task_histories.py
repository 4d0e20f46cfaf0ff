"""Task histories kept live from the stream, so integration need not read a task back.

Reading a task back costs an ephemeral consumer (create, info, fetch, delete: measured ~3 ms of
the ~13 ms integration took per task). A :class:`~orchestrator.events.projection.Follower` on
``events.task.>`` sees every task event in stream order, so the list it keeps for a task is its
complete history up to the follower's position. It may be behind the stream: the handler uses it
only where an append with ``expected_last_seq`` = the history's last sequence follows, so a stale
history is a ConcurrencyConflict and a reload, never a wrong step.

Only tasks whose ``TaskSubmitted`` the follower saw are kept (a task evicted or submitted before
it started has no history here, and the handler reads it back as before); finished or cancelled
tasks are dropped.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable

from orchestrator.events import RecordedEvent
from orchestrator.events.catalog import TaskCancelled, TaskCompleted, TaskSubmitted

DEFAULT_LIMIT = 4096
LIVE_WAIT = 0.5
"""How long a trigger waits for the live histories to reach it before reading the task back."""

WaitFor = Callable[[int, float], Awaitable[None]]


class TaskHistories:
    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._tasks: OrderedDict[str, list[RecordedEvent]] = OrderedDict()

    def apply(self, recorded: RecordedEvent) -> None:
        subject = recorded.subject
        event = recorded.event
        if isinstance(event, TaskSubmitted):
            self._tasks[subject] = [recorded]
            while len(self._tasks) > self.limit:
                self._tasks.popitem(last=False)
            return
        history = self._tasks.get(subject)
        if history is None:
            return  # never saw its start: not complete, so not kept
        if isinstance(event, TaskCompleted | TaskCancelled):
            del self._tasks[subject]
            return
        history.append(recorded)

    def history(self, subject: str, *, through: int) -> list[RecordedEvent] | None:
        """A copy of the task's history if it reaches sequence ``through``, else None."""
        history = self._tasks.get(subject)
        if history is None or history[-1].seq < through:
            return None
        return list(history)


async def live_history(
    histories: TaskHistories | None, wait_for: WaitFor | None, recorded: RecordedEvent
) -> list[RecordedEvent] | None:
    """The task's live history through ``recorded``, or None (then it is read back): what the
    follower behind ``wait_for`` has not reached within :data:`LIVE_WAIT` is not waited for."""
    if histories is None or wait_for is None:
        return None
    try:
        await wait_for(recorded.seq, LIVE_WAIT)
    except TimeoutError:
        return None
    return histories.history(recorded.subject, through=recorded.seq)
