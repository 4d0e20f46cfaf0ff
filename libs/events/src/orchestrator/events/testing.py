"""Helpers for tests of code that folds events: recorded events without a NATS server.

Shipped with the package (as structlog ships ``structlog.testing``) so every service's tests build
``RecordedEvent`` values the same way, on the subject the event really lives on.
"""

from __future__ import annotations

from . import subjects
from .catalog import Event, FileDeleted, FileWritten, ResetRequested, WorkspaceArchived
from .envelope import Envelope, RecordedEvent


def subject_of(event: Event) -> str:
    """The subject ``event`` is appended to in the running system."""
    if isinstance(event, FileWritten | FileDeleted | WorkspaceArchived):
        return subjects.WORKSPACE
    if isinstance(event, ResetRequested):
        return subjects.reset(event.request_id)
    for field, subject in (
        ("task_id", subjects.task),
        ("execution_id", subjects.execution),
        ("archive_name", subjects.archive),
    ):
        value = getattr(event, field, None)
        if isinstance(value, str):
            return subject(value)
    return subjects.SETTINGS


def recorded(event: Event, seq: int = 1, *, subject: str | None = None) -> RecordedEvent:
    """``event`` as read back at stream sequence ``seq``."""
    return RecordedEvent(
        envelope=Envelope.wrap(event), subject=subject or subject_of(event), seq=seq
    )


def history(*events: Event, start: int = 1) -> list[RecordedEvent]:
    """``events`` as consecutive stream sequences from ``start``."""
    return [recorded(event, start + i) for i, event in enumerate(events)]


__all__ = ["history", "recorded", "subject_of"]
