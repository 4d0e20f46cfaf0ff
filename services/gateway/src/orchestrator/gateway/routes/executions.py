"""Executions: list, inspect, stop, and stream one's output over a WebSocket.

``/ws/execution/{id}`` replays every output line from the first (read back from the event stream,
so a client connecting after the run ended still gets all of it), then follows live, and ends
with an ``execution_finished`` frame carrying the exit code before closing.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from orchestrator.events import Follower, RecordedEvent, subjects
from orchestrator.events.catalog import (
    ExecutionFinished,
    ExecutionRejected,
    ExecutionStopRequested,
)
from orchestrator.events.error_codes import ErrorCode

from .. import errors
from ..bootstrap import Gateway, GatewayDep
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
    queue: asyncio.Queue[RecordedEvent] = asyncio.Queue()
    follower = Follower(gateway.js, subject, queue.put_nowait, poll_timeout=1.0)
    await follower.start()
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
            recorded = getter.result()
            for frame in ws_messages(recorded):
                await websocket.send_json({**frame, "event_seq": recorded.seq})
            if isinstance(recorded.event, ExecutionFinished | ExecutionRejected):
                await websocket.close()
                return
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        disconnected.cancel()
        await follower.stop()


async def _until_disconnect(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
