"""Response models take what a newer gateway adds and tolerate what an older one lacks."""

from __future__ import annotations

from orchestrator_client import Frame, Task, TaskUpdate
from orchestrator_client._frames import parse_frame


def test_a_field_the_client_does_not_know_is_kept_not_refused() -> None:
    task = Task.model_validate(
        {
            "id": "task_1",
            "requirement": "r",
            "status": "completed",
            "priority": 5,
            "created_at": "2025-06-22T10:30:00Z",
            "budget_usd": 2.5,  # a field from a newer gateway
        }
    )
    assert task.done and task.model_extra == {"budget_usd": 2.5}
    assert task.files == [] and task.error is None  # fields an older gateway lacks


def test_frames_parse_by_type_and_an_unknown_type_stays_a_frame() -> None:
    update = parse_frame(
        {"type": "task_update", "task_id": "t", "status": "created", "event_seq": 3}
    )
    assert isinstance(update, TaskUpdate) and update.event_seq == 3
    other = parse_frame({"type": "budget_exceeded", "task_id": "t"})
    assert type(other) is Frame and other.model_extra == {"task_id": "t"}
