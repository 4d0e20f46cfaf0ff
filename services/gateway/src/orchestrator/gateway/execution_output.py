"""An execution's output, read from the ``OUTPUT`` stream when someone asks for it.

The gateway holds no output line: a run's lines are ``ExecutionOutput`` batches on
``output.exec.<execution_id>``, read back on demand (the REST endpoint, ``/ws/execution/{id}``)
and relayed as they are appended (``/ws``). That stream keeps lines for a stated age and size
(``NATS_OUTPUT_MAX_AGE``, ``NATS_OUTPUT_MAX_BYTES``), the oldest dropped first, so a reader may find
lines missing: lines are numbered, so :class:`OutputCursor` sees every gap and says how many
lines were lost (an ``execution_output_lost`` frame, an ``output_lost`` count), never passing a
partial output off as complete. ``ExecutionFinished`` (version 2) gives the number of lines and
the sequence of the last, so the end of the output is known too, even when none is left.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nats.js import JetStreamContext

from orchestrator.events import EventStore, Follower, RecordedEvent, subjects
from orchestrator.events.catalog import ExecutionOutput

log = logging.getLogger(__name__)

Frame = dict[str, Any]


def output_store(js: JetStreamContext) -> EventStore:
    return EventStore(js, stream=subjects.OUTPUT_STREAM)


def line_frame(execution_id: str, line: int, text: str, timestamp: str) -> Frame:
    """The contract's ``execution_output`` frame, plus the line's number."""
    return {
        "type": "execution_output",
        "execution_id": execution_id,
        "output": text,
        "timestamp": timestamp,
        "line": line,
    }


def lost_frame(execution_id: str, first: int, last: int) -> Frame:
    return {
        "type": "execution_output_lost",
        "execution_id": execution_id,
        "output_lost": last - first + 1,
        "first_line": first,
        "last_line": last,
        "reason": "dropped by the output stream's retention (NATS_OUTPUT_MAX_AGE/_BYTES)",
    }


@dataclass
class OutputCursor:
    """Numbers one execution's lines as batches are read: each line once, in order, from
    ``next_line`` on; every gap (lines the stream no longer holds) reported as it is seen."""

    execution_id: str
    next_line: int = 1
    lost: int = 0
    lost_frames: list[Frame] = field(default_factory=list)

    def batch(self, recorded: RecordedEvent) -> list[Frame]:
        event = recorded.event
        if not isinstance(event, ExecutionOutput):
            return []
        at = recorded.envelope.occurred_at.isoformat()
        frames: list[Frame] = []
        if event.first_line > self.next_line:
            frames.append(self._lost(self.next_line, event.first_line - 1))
        for i, text in enumerate(event.lines):
            number = event.first_line + i
            if number >= self.next_line:
                frames.append(line_frame(self.execution_id, number, text, at))
                self.next_line = number + 1
        return frames

    def finish(self, output_lines: int | None) -> list[Frame]:
        """The lost end of the output, once the run has said how many lines it had."""
        if output_lines is None or output_lines < self.next_line:
            return []
        frames = [self._lost(self.next_line, output_lines)]
        self.next_line = output_lines + 1
        return frames

    def _lost(self, first: int, last: int) -> Frame:
        frame = lost_frame(self.execution_id, first, last)
        self.lost += last - first + 1
        self.lost_frames.append(frame)
        return frame


async def read_rest(
    js: JetStreamContext,
    execution_id: str,
    cursor: OutputCursor,
    *,
    after_seq: int = 0,
    until_seq: int | None = None,
) -> list[Frame]:
    """Frames of every batch stored after ``after_seq`` (an output stream sequence), now; only
    up to ``until_seq`` when given."""
    frames: list[Frame] = []
    store = output_store(js)
    for recorded in await store.read(subjects.output(execution_id), start_seq=after_seq + 1):
        if until_seq is not None and recorded.seq > until_seq:
            break
        frames.extend(cursor.batch(recorded))
    return frames


@dataclass
class OutputRead:
    lines: list[Frame]
    lost: int
    lost_ranges: list[Frame]


async def read_output(
    js: JetStreamContext, execution_id: str, *, from_line: int = 1, output_lines: int | None
) -> OutputRead:
    """An execution's output from ``from_line``, as the stream holds it now. ``output_lines``:
    how many lines the run had, once it has finished (None while it runs, or for a run recorded
    before the output stream)."""
    cursor = OutputCursor(execution_id, next_line=from_line)
    frames = await read_rest(js, execution_id, cursor)
    frames.extend(cursor.finish(output_lines))
    lines = [f for f in frames if f["type"] == "execution_output"]
    return OutputRead(lines, cursor.lost, cursor.lost_frames)


class LiveOutput:
    """Follows every run's output as it is appended (from the stream's end when the gateway
    starts): each batch goes to ``on_batch`` (the read model's line count, the /ws frames)."""

    def __init__(self, js: JetStreamContext, on_batch: Callable[[RecordedEvent], None]) -> None:
        self.js = js
        self.on_batch = on_batch
        self.follower: Follower | None = None

    async def start(self) -> None:
        info = await self.js.stream_info(subjects.OUTPUT_STREAM)
        self.follower = Follower(
            self.js,
            subjects.OUTPUT_ALL,
            self.on_batch,
            stream=subjects.OUTPUT_STREAM,
            start_seq=int(info.state.last_seq or 0) + 1,
            poll_timeout=1.0,
        )
        await self.follower.start()

    async def stop(self) -> None:
        if self.follower is not None:
            await self.follower.stop()
