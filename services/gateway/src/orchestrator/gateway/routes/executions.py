"""Executions: list, inspect, stop, and read one's output, or stream it over a WebSocket.

``/ws/execution/{id}`` replays every output line from the first (or from ``?from_line=``; read
back from the output stream, so a client connecting after the run ended still gets all of it
the stream keeps), then follows live, and ends with an ``execution_finished`` frame carrying the
exit code (and ``output_lost``: lines the output stream's retention dropped, each gap also an
``execution_output_lost`` frame where it falls) before closing.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect

from orchestrator.events import Follower, RecordedEvent, subjects
from orchestrator.events.catalog import (
    ExecutionFinished,
    ExecutionOutput,
    ExecutionRejected,
    ExecutionStarted,
    ExecutionStopRequested,
)
from orchestrator.events.error_codes import ErrorCode

from .. import errors
from ..bootstrap import Gateway, GatewayDep
from ..execution_output import Frame, OutputCursor, OutputRead, read_output, read_rest
from ..params import EXECUTION_ID, ExecutionId, matches
from ..projections.executions import ExecutionRecord, ws_messages
from ..read_after import ReadAfter
from ..security import authorize_websocket

router = APIRouter(tags=["executions"])

WS_NOT_FOUND = 4404


def _get(gateway: Gateway, execution_id: str) -> ExecutionRecord:
    record = gateway.models.executions.get(execution_id)
    if record is None or not matches(EXECUTION_ID, execution_id):
        raise errors.NotFound(
            ErrorCode.EXECUTION_NOT_FOUND,
            f"Execution not found: {execution_id}",
            execution_id=execution_id,
        )
    return record


@router.get("/api/workspace/executions", dependencies=[ReadAfter])
async def list_executions(gateway: GatewayDep) -> dict[str, Any]:
    return {"executions": [r.to_api() for r in gateway.models.executions.listing()]}


@router.get("/api/workspace/executions/{execution_id}", dependencies=[ReadAfter])
async def get_execution(execution_id: ExecutionId, gateway: GatewayDep) -> dict[str, Any]:
    return _get(gateway, execution_id).to_api()


@router.post("/api/workspace/executions/{execution_id}/stop")
async def stop_execution(execution_id: ExecutionId, gateway: GatewayDep) -> dict[str, Any]:
    record = _get(gateway, execution_id)
    if not record.done:
        seq = await gateway.store.append(
            subjects.execution(execution_id),
            ExecutionStopRequested(execution_id=execution_id),
        )
        await gateway.caught_up_to(seq, accepted={"execution_id": execution_id})
        await gateway.wait_until(lambda: record.done)
    return record.to_api()


@router.get("/api/workspace/executions/{execution_id}/output", dependencies=[ReadAfter])
async def execution_output(
    execution_id: ExecutionId,
    gateway: GatewayDep,
    from_line: Annotated[int, Query(ge=1)] = 1,
) -> dict[str, Any]:
    """The lines the output stream holds now, from ``from_line``; ``output_lost`` counts those it
    no longer holds (its retention), and ``complete`` is true only for a finished run of which
    every line is here."""
    record = _get(gateway, execution_id)
    finished_lines = record.lines if record.done else None
    read = await read_output(
        gateway.js, execution_id, from_line=from_line, output_lines=finished_lines
    )
    lines = [{"line": f["line"], "output": f["output"]} for f in read.lines]
    legacy = [] if lines else await _domain_lines(gateway, execution_id, from_line)
    if legacy:  # a run recorded before the output stream: its lines are domain events
        lines = legacy
        read = OutputRead(lines=[], lost=0, lost_ranges=[])
    return {
        "execution_id": execution_id,
        "status": record.status,
        "from_line": from_line,
        "lines": lines,
        "output_lines": record.lines,
        "output_lost": read.lost,
        "lost": [
            {"first_line": f["first_line"], "last_line": f["last_line"]} for f in read.lost_ranges
        ],
        "complete": record.done and read.lost == 0,
    }


async def _domain_lines(
    gateway: Gateway, execution_id: str, from_line: int
) -> list[dict[str, Any]]:
    events = await gateway.store.read(subjects.execution(execution_id))
    return [
        {"line": f["line"], "output": f["output"]}
        for recorded in events
        if isinstance(recorded.event, ExecutionOutput)
        for f in ws_messages(recorded)
        if f["line"] >= from_line
    ]


def _from_line(websocket: WebSocket) -> int:
    try:
        return max(1, int(websocket.query_params.get("from_line") or 1))
    except ValueError:
        return 1


@router.websocket("/ws/execution/{execution_id}")
async def execution_stream(websocket: WebSocket, execution_id: str) -> None:
    if not await authorize_websocket(websocket):
        return
    gateway: Gateway = websocket.app.state.gateway
    await websocket.accept()
    try:
        subject = subjects.execution(execution_id)
    except ValueError:
        subject = None
    if subject is None or gateway.models.executions.get(execution_id) is None:
        await websocket.send_json(
            {
                "type": "error",
                "error": {
                    "code": ErrorCode.EXECUTION_NOT_FOUND,
                    "message": f"Execution not found: {execution_id}",
                    "details": {"execution_id": execution_id},
                },
            }
        )
        await websocket.close(code=WS_NOT_FOUND)
        return
    # The run's domain events (started, finished; output lines of a run recorded before the
    # output stream) and its output batches, both from their first, into one queue.
    queue: asyncio.Queue[tuple[bool, RecordedEvent]] = asyncio.Queue()
    follower = Follower(
        gateway.js, subject, lambda r: queue.put_nowait((False, r)), poll_timeout=1.0
    )
    output = Follower(
        gateway.js,
        subjects.output(execution_id),
        lambda r: queue.put_nowait((True, r)),
        stream=subjects.OUTPUT_STREAM,
        poll_timeout=1.0,
    )
    from_line = _from_line(websocket)
    cursor = OutputCursor(execution_id, next_line=from_line)
    await follower.start()
    await output.start()
    disconnected = asyncio.create_task(_until_disconnect(websocket))
    try:
        while True:
            getter = asyncio.create_task(queue.get())
            done, _ = await asyncio.wait(
                {getter, disconnected}, return_when=asyncio.FIRST_COMPLETED
            )
            if getter not in done:
                getter.cancel()
                return
            is_output, recorded = getter.result()
            if is_output:
                for frame in cursor.batch(recorded):
                    await websocket.send_json(frame)
                continue
            for frame in await _domain_frames(gateway, recorded, queue, cursor, output):
                if frame.get("line", from_line) >= from_line:
                    await websocket.send_json(frame)
            event = recorded.event
            if isinstance(event, ExecutionFinished | ExecutionRejected):
                await websocket.close()
                return
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        disconnected.cancel()
        await follower.stop()
        await output.stop()


async def _domain_frames(
    gateway: Gateway,
    recorded: RecordedEvent,
    queue: asyncio.Queue[tuple[bool, RecordedEvent]],
    cursor: OutputCursor,
    output: Follower,
) -> list[Frame]:
    """A domain event's frames, after the output recorded before it: before the start, the lines
    of the install; before the end, the rest of the output."""
    event = recorded.event
    frames: list[Frame] = []
    if isinstance(event, ExecutionStarted) and event.output_seq:
        frames.extend(_queued_output(queue, cursor, until_seq=event.output_seq))
        if event.output_seq > output.last_seq:
            frames.extend(
                await read_rest(
                    gateway.js,
                    cursor.execution_id,
                    cursor,
                    after_seq=output.last_seq,
                    until_seq=event.output_seq,
                )
            )
    if isinstance(event, ExecutionFinished | ExecutionRejected):
        await output.stop()
        frames.extend(await _rest_of_output(gateway, queue, cursor, output.last_seq))
        if isinstance(event, ExecutionFinished):
            frames.extend(cursor.finish(event.output_lines))
    for frame in ws_messages(recorded):
        if frame["type"] == "execution_finished" and "exit_code" in frame:
            frame["output_lost"] = cursor.lost
        frames.append({**frame, "event_seq": recorded.seq})
    return frames


def _queued_output(
    queue: asyncio.Queue[tuple[bool, RecordedEvent]],
    cursor: OutputCursor,
    *,
    until_seq: int | None = None,
) -> list[Frame]:
    """Frames of the output batches already queued (up to ``until_seq``); the rest stays queued,
    in order."""
    frames: list[Frame] = []
    kept: list[tuple[bool, RecordedEvent]] = []
    while not queue.empty():
        item = queue.get_nowait()
        is_output, recorded = item
        if is_output and (until_seq is None or recorded.seq <= until_seq):
            frames.extend(cursor.batch(recorded))
        else:
            kept.append(item)
    for item in kept:
        queue.put_nowait(item)
    return frames


async def _rest_of_output(
    gateway: Gateway,
    queue: asyncio.Queue[tuple[bool, RecordedEvent]],
    cursor: OutputCursor,
    followed_to: int,
) -> list[Frame]:
    """Once the run has finished: the output batches still queued, then whatever the follower
    had not reached yet, read from the stream (the lines are numbered: none is sent twice)."""
    frames = _queued_output(queue, cursor)
    frames.extend(await read_rest(gateway.js, cursor.execution_id, cursor, after_seq=followed_to))
    return frames


async def _until_disconnect(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
