"""Read model of executions, rebuilt from ``events.exec.>``; and their WebSocket frames.

Output lines are not kept here (a run may print up to its cap, and there may be many runs): they
are in the ``OUTPUT`` stream, read on demand (:mod:`orchestrator.gateway.execution_output`);
this only counts them, as batches are appended (:meth:`ExecutionsView.output_seen`) and as the
finished run says. ``ExecutionOutput`` events in the domain stream (histories recorded before the
output stream) still count and still make frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orchestrator.events import RecordedEvent
from orchestrator.events.catalog import (
    ExecutionFinished,
    ExecutionOutput,
    ExecutionRejected,
    ExecutionRequested,
    ExecutionStarted,
    ExecutionStopRequested,
)

from .plain import Plain, moment, parse_moment

FINAL = {"completed", "failed", "stopped", "timed_out", "rejected"}


@dataclass
class ExecutionRecord:
    execution_id: str
    path: str
    requested_at: datetime
    status: str = "requested"
    command: str | None = None
    process_id: int | None = None
    port: int | None = None
    preview_url: str | None = None
    sandbox: tuple[str, ...] = ()
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    duration_s: float | None = None
    truncated: bool = False
    lines: int = 0
    stop_requested: bool = False
    error: dict[str, str] | None = None
    reason: str | None = None

    @property
    def done(self) -> bool:
        return self.status in FINAL

    def snapshot(self) -> Plain:
        return {
            **vars(self),
            "requested_at": self.requested_at.isoformat(),
            "started_at": moment(self.started_at),
            "finished_at": moment(self.finished_at),
            "sandbox": list(self.sandbox),
        }

    @classmethod
    def restore(cls, plain: Plain) -> ExecutionRecord:
        return cls(
            **{
                **plain,
                "requested_at": datetime.fromisoformat(plain["requested_at"]),
                "started_at": parse_moment(plain["started_at"]),
                "finished_at": parse_moment(plain["finished_at"]),
                "sandbox": tuple(plain["sandbox"]),
            }
        )

    def to_api(self) -> dict[str, Any]:
        return {
            "execution_id": self.execution_id,
            "path": "workspace/" + self.path.removeprefix("workspace/"),
            "status": self.status,
            "command": self.command,
            "process_id": self.process_id,
            "port": self.port,
            "preview_url": self.preview_url,
            "sandbox": list(self.sandbox),
            "requested_at": self.requested_at.isoformat(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "exit_code": self.exit_code,
            "duration_s": self.duration_s,
            "truncated": self.truncated,
            "output_lines": self.lines,
            "stop_requested": self.stop_requested,
            "error": self.error,
            "reason": self.reason,
        }


@dataclass
class ExecutionsView:
    executions: dict[str, ExecutionRecord] = field(default_factory=dict)

    def get(self, execution_id: str) -> ExecutionRecord | None:
        return self.executions.get(execution_id)

    def decided(self, execution_id: str) -> bool:
        """Whether the workspace service started or rejected the run (or it already ended)."""
        record = self.executions.get(execution_id)
        return record is not None and record.status != "requested"

    def listing(self) -> list[ExecutionRecord]:
        return sorted(self.executions.values(), key=lambda r: r.requested_at, reverse=True)

    def apply(self, recorded: RecordedEvent) -> None:
        event = recorded.event
        at = recorded.envelope.occurred_at
        if isinstance(event, ExecutionRequested):
            self.executions[event.execution_id] = ExecutionRecord(
                execution_id=event.execution_id, path=event.path, requested_at=at
            )
            return
        record = self.executions.get(getattr(event, "execution_id", ""))
        if record is None:
            return
        if isinstance(event, ExecutionStarted):
            record.status = "running"
            record.command = event.command
            record.process_id = event.pid
            record.port = event.port
            record.preview_url = event.preview_url
            record.sandbox = event.sandbox
            record.started_at = at
        elif isinstance(event, ExecutionOutput):
            record.lines = max(record.lines, event.first_line + len(event.lines) - 1)
        elif isinstance(event, ExecutionFinished):
            if event.output_lines is not None:
                record.lines = event.output_lines
            record.status = event.status
            record.exit_code = event.exit_code
            record.duration_s = event.duration_s
            record.truncated = event.truncated
            record.finished_at = at
            record.reason = event.reason
        elif isinstance(event, ExecutionRejected):
            record.status = "rejected"
            record.error = {"code": event.code, "message": event.message}
            record.finished_at = at
        elif isinstance(event, ExecutionStopRequested):
            record.stop_requested = True

    def output_seen(self, event: ExecutionOutput) -> None:
        """A batch appended to the output stream (while the run goes on: its line count)."""
        record = self.executions.get(event.execution_id)
        if record is not None and not record.done:
            record.lines = max(record.lines, event.first_line + len(event.lines) - 1)

    def snapshot(self) -> Plain:
        return {"executions": [r.snapshot() for r in self.executions.values()]}

    def restore(self, plain: Plain) -> None:
        records = map(ExecutionRecord.restore, plain["executions"])
        self.executions = {r.execution_id: r for r in records}


def ws_messages(recorded: RecordedEvent) -> list[dict[str, Any]]:
    """Frames for /ws and /ws/execution/{id}: one ``execution_output`` per line (the contract's
    shape plus its line number), then ``execution_finished`` with the exit code."""
    event = recorded.event
    at = recorded.envelope.occurred_at.isoformat()
    if isinstance(event, ExecutionOutput):
        return [
            {
                "type": "execution_output",
                "execution_id": event.execution_id,
                "output": line,
                "timestamp": at,
                "line": event.first_line + i,
            }
            for i, line in enumerate(event.lines)
        ]
    if isinstance(event, ExecutionStarted):
        return [
            {
                "type": "execution_started",
                "execution_id": event.execution_id,
                "path": "workspace/" + event.path,
                "command": event.command,
                "process_id": event.pid,
                "port": event.port,
                "preview_url": event.preview_url,
                "timestamp": at,
            }
        ]
    if isinstance(event, ExecutionFinished):
        return [
            {
                "type": "execution_finished",
                "execution_id": event.execution_id,
                "status": event.status,
                "exit_code": event.exit_code,
                "duration_s": event.duration_s,
                "truncated": event.truncated,
                "timestamp": at,
            }
        ]
    if isinstance(event, ExecutionRejected):
        return [
            {
                "type": "execution_finished",
                "execution_id": event.execution_id,
                "status": "rejected",
                "exit_code": None,
                "error": {"code": event.code, "message": event.message},
                "timestamp": at,
            }
        ]
    return []
