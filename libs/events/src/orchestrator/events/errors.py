"""Errors of the event backbone.

EventsError
├── ConcurrencyConflict   an append's expected last subject sequence was stale
├── UndecodableEvent      a stored message is not a readable event (set aside, never fatal)
└── AppendFailed          NATS did not take an append even after retrying
"""

from __future__ import annotations


class EventsError(Exception):
    pass


class ConcurrencyConflict(EventsError):
    def __init__(self, subject: str, expected: int, message: str = "") -> None:
        super().__init__(f"{subject}: expected last sequence {expected} is stale {message}".strip())
        self.subject = subject
        self.expected = expected


class UndecodableEvent(EventsError):
    def __init__(self, subject: str, seq: int, reason: str) -> None:
        super().__init__(f"cannot decode event {subject}#{seq}: {reason}")
        self.subject = subject
        self.seq = seq
        self.reason = reason


class AppendFailed(EventsError):
    pass


class ReadIncomplete(EventsError):
    pass
