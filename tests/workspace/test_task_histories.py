"""The live task histories integration decides on: complete from a task's start, or absent."""

from __future__ import annotations

from orchestrator.events import RecordedEvent, subjects
from orchestrator.events.catalog import (
    StageStarted,
    TaskCancelled,
    TaskCompleted,
    TaskSubmitted,
)
from orchestrator.events.testing import recorded
from orchestrator.workspace.task_histories import TaskHistories


def submitted(seq: int, task_id: str = "task_a") -> RecordedEvent:
    event = TaskSubmitted(task_id=task_id, requirement="x", priority=5)
    return recorded(event, seq)


def started(seq: int, task_id: str = "task_a") -> RecordedEvent:
    return recorded(StageStarted(task_id=task_id, stage="analysis", agent="claude"), seq)


def test_history_from_submission_through_a_sequence() -> None:
    histories = TaskHistories()
    histories.apply(submitted(3))
    histories.apply(started(7))
    subject = subjects.task("task_a")
    history = histories.history(subject, through=7)
    assert history is not None
    assert [r.seq for r in history] == [3, 7]
    assert histories.history(subject, through=8) is None  # not there yet: read it back
    history.append(started(9))  # a copy: the caller cannot corrupt the kept history
    assert [r.seq for r in histories.history(subject, through=7) or []] == [3, 7]


def test_a_task_whose_start_was_not_seen_is_not_kept() -> None:
    histories = TaskHistories()
    histories.apply(started(7))
    assert histories.history(subjects.task("task_a"), through=7) is None


def test_finished_and_cancelled_tasks_are_dropped_and_not_rebuilt() -> None:
    histories = TaskHistories()
    for task_id, end in (
        ("task_a", TaskCompleted(task_id="task_a")),
        ("task_b", TaskCancelled(task_id="task_b")),
    ):
        histories.apply(submitted(1, task_id))
        histories.apply(recorded(end, 2))
        histories.apply(started(3, task_id))  # a late event does not start a partial history
        assert histories.history(subjects.task(task_id), through=1) is None


def test_the_oldest_task_is_evicted_past_the_limit() -> None:
    histories = TaskHistories(limit=2)
    for n, task_id in enumerate(("task_a", "task_b", "task_c"), start=1):
        histories.apply(submitted(n, task_id))
    assert histories.history(subjects.task("task_a"), through=1) is None
    histories.apply(started(9, "task_a"))  # evicted: its later events are not kept either
    assert histories.history(subjects.task("task_a"), through=1) is None
    assert histories.history(subjects.task("task_c"), through=3) is not None
