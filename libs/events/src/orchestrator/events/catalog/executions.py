"""Events of one run of a workspace file; subject ``events.exec.<execution_id>``.

``ExecutionRequested`` (gateway) -> ``ExecutionStarted`` | ``ExecutionRejected`` (workspace) ->
``ExecutionOutput``* -> ``ExecutionFinished``. ``ExecutionStopRequested`` (gateway) stops a run.
"""

from __future__ import annotations

from typing import Literal

from .base import Event


class ExecutionRequested(Event):
    type: Literal["ExecutionRequested"] = "ExecutionRequested"
    execution_id: str
    path: str


class ExecutionStarted(Event):
    type: Literal["ExecutionStarted"] = "ExecutionStarted"
    execution_id: str
    path: str
    command: str
    pid: int
    port: int | None = None
    sandbox: tuple[str, ...] = ()
    kind: str = "python_script"
    """What ran (``orchestrator.events.runnables.Kind``); runs recorded before there were
    languages in it say ``script``, ``server``, ``tests`` or ``site``."""
    preview_url: str | None = None
    """Where the user reaches a web server the run started (a relay into its sandbox)."""
    instance: str | None = None
    """The workspace service instance running it: it alone can stop it."""


class ExecutionOutput(Event):
    """A batch of output lines, in order; ``first_line`` numbers the first of them."""

    type: Literal["ExecutionOutput"] = "ExecutionOutput"
    execution_id: str
    first_line: int
    lines: tuple[str, ...]


class ExecutionFinished(Event):
    type: Literal["ExecutionFinished"] = "ExecutionFinished"
    execution_id: str
    status: Literal["completed", "failed", "stopped", "timed_out"]
    exit_code: int | None
    duration_s: float
    truncated: bool = False
    reason: str | None = None


class ExecutionRejected(Event):
    type: Literal["ExecutionRejected"] = "ExecutionRejected"
    execution_id: str
    code: str
    message: str


class ExecutionStopRequested(Event):
    type: Literal["ExecutionStopRequested"] = "ExecutionStopRequested"
    execution_id: str
