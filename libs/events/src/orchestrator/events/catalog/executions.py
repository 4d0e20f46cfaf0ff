"""Events of one run of a workspace file; subject ``events.exec.<execution_id>``.

``ExecutionRequested`` (gateway) -> ``ExecutionStarted`` | ``ExecutionRejected`` (workspace) ->
``ExecutionFinished``. ``ExecutionStopRequested`` (gateway) stops a run.

What the run prints is ``ExecutionOutput`` batches in the ``OUTPUT`` stream
(``output.exec.<execution_id>``), kept for a stated age and size; ``ExecutionFinished`` says how
many lines there were and the output sequence of the last, so a reader knows whether what it
read is all of it. Histories recorded before that have their ``ExecutionOutput`` events in the
domain stream, and still read.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from ..upcasting import Payload, upcaster
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
    output_seq: int | None = None
    """The output stream's sequence of the last line recorded before the start (the install of
    its requirements; 0: none), so a reader puts those lines before the start, as they came.
    ``None`` in runs recorded before the output stream (an optional addition: no new version)."""


class ExecutionOutput(Event):
    """A batch of output lines, in order; ``first_line`` numbers the first of them."""

    type: Literal["ExecutionOutput"] = "ExecutionOutput"
    execution_id: str
    first_line: int
    lines: tuple[str, ...]


class ExecutionFinished(Event):
    """Version 2 adds where the run's output ends: ``output_lines`` lines, the last of them in
    the output stream's message ``output_seq`` (0: the run printed nothing). Both are ``None``
    for a version-1 run, whose output is ``ExecutionOutput`` events in the domain stream."""

    schema_version: ClassVar[int] = 2

    type: Literal["ExecutionFinished"] = "ExecutionFinished"
    execution_id: str
    status: Literal["completed", "failed", "stopped", "timed_out"]
    exit_code: int | None
    duration_s: float
    truncated: bool = False
    reason: str | None = None
    output_lines: int | None = None
    output_seq: int | None = None


@upcaster("ExecutionFinished", 1)
def _finished_v1(data: Payload) -> Payload:
    """A version-1 run recorded its output in the domain stream: no output-stream position."""
    return {**data, "output_lines": None, "output_seq": None}


class ExecutionRejected(Event):
    type: Literal["ExecutionRejected"] = "ExecutionRejected"
    execution_id: str
    code: str
    message: str


class ExecutionStopRequested(Event):
    type: Literal["ExecutionStopRequested"] = "ExecutionStopRequested"
    execution_id: str
