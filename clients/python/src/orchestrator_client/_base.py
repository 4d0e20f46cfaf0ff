"""What ``Client`` and ``AsyncClient`` share besides the operations: configuration, the
translation of transport failures, and the pure decisions of ``follow``, ``wait`` and ``run``."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from ._config import Config
from ._exceptions import ConnectionFailed
from ._frames import ExecutionFinished, Frame, TaskUpdate
from ._models import TERMINAL_STATUSES, Execution, RunResult

DEFAULT_POLL_INTERVAL = 0.25


class ClientBase:
    def __init__(
        self,
        base_url: str | None = None,
        *,
        token: str | None = None,
        timeout: float | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._config = Config.resolve(base_url, token, timeout, environ)

    @property
    def base_url(self) -> str:
        return self._config.base_url

    def _unreachable(self, exc: httpx.TransportError) -> ConnectionFailed:
        return ConnectionFailed(self._config.base_url, describe(exc))


def describe(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "connection refused" if "refused" in str(exc).lower() else "cannot connect"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return type(exc).__name__


def ends_task(frame: Frame, task_id: str, after: int | None = None) -> bool:
    """This frame says the task reached a final state (completed, failed or cancelled).

    With ``after`` (the task's version when following began), a final state replayed from
    before it (a failure since retried) does not count.
    """
    if after is not None and frame.event_seq is not None and frame.event_seq < after:
        return False
    return (
        isinstance(frame, TaskUpdate)
        and frame.task_id == task_id
        and frame.status in TERMINAL_STATUSES
    )


def concerns_task(frame: Frame, task_id: str) -> bool:
    return getattr(frame, "task_id", None) == task_id


def ends_execution(frame: Frame) -> bool:
    return isinstance(frame, ExecutionFinished)


def run_result(
    execution_id: str, finished: ExecutionFinished | None, lines: int, record: Execution | None
) -> RunResult:
    """How a run ended: from its ``execution_finished`` frame, else from the execution record."""
    if finished is not None:
        return RunResult(
            execution_id=execution_id,
            status=finished.status,
            exit_code=finished.exit_code,
            duration_s=finished.duration_s,
            truncated=finished.truncated,
            lines=lines,
            error=finished.error,
        )
    assert record is not None
    return RunResult(
        execution_id=execution_id,
        status=record.status,
        exit_code=record.exit_code,
        duration_s=record.duration_s,
        truncated=record.truncated,
        lines=lines,
        error=record.error,
    )
