"""Read model of executions, rebuilt from the event stream (to be filled in)."""

from __future__ import annotations

from typing import Any

from orchestrator.events import RecordedEvent


class ExecutionsView:
    def apply(self, recorded: RecordedEvent) -> None:
        return None


def ws_messages(recorded: RecordedEvent) -> list[dict[str, Any]]:
    return []
