"""``/ws``: every live frame (task updates, agent status, model output, execution output, health).

``?since=<event_seq>`` first replays, from the stream, every frame of the events after that
sequence, then continues live with no gap and no repeat: the client is subscribed to the hub
before the replay is read, and a live frame whose ``event_seq`` the replay already sent is
dropped. Frames that do not come from a domain event (model output, health, and the lines of a
run, which are in the ``OUTPUT`` stream: ``/ws/execution/{id}`` replays those) carry no
``event_seq`` and are not replayed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import suppress

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from orchestrator.events import subjects

from .. import security
from ..bootstrap import Gateway
from ..projections import ws_messages
from ..ws_hub import Subscriber

log = logging.getLogger(__name__)

router = APIRouter()


def _since(websocket: WebSocket) -> int | None:
    raw = websocket.query_params.get("since")
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        return -1
    return value if value >= 0 else -1


@router.websocket("/ws")
async def live(websocket: WebSocket) -> None:
    if not await security.authorize_websocket(websocket):
        return
    gateway: Gateway = websocket.app.state.gateway
    since = _since(websocket)
    subscriber = gateway.hub.subscribe()
    try:
        await websocket.accept()
        if since == -1:
            await websocket.close(code=1008, reason="since must be a non-negative integer")
            return
        sender = asyncio.create_task(_send(websocket, gateway, subscriber, since))
        receiver = asyncio.create_task(_receive(websocket))
        done, pending = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            # A client gone mid-send is the ordinary end of a WebSocket.
            with suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await task
        for task in done:
            with suppress(WebSocketDisconnect, RuntimeError):
                task.result()
    finally:
        gateway.hub.unsubscribe(subscriber)


async def _send(
    websocket: WebSocket, gateway: Gateway, subscriber: Subscriber, since: int | None
) -> None:
    sent_up_to = 0
    if since is not None:
        for recorded in await gateway.store.read(subjects.EVENTS_ALL, start_seq=since + 1):
            for frame in ws_messages(recorded):
                await websocket.send_text(json.dumps({**frame, "event_seq": recorded.seq}))
            sent_up_to = recorded.seq
    while True:
        live = await subscriber.queue.get()
        seq = live.event_seq
        if seq is None or seq > sent_up_to:
            await websocket.send_text(live.text)
        if subscriber.overflowed and subscriber.queue.empty():
            # Everything held for this client is sent; what it missed since, it gets back by
            # reconnecting with ?since=.
            await websocket.close(code=1013, reason="too slow: reconnect with ?since=")
            return


async def _receive(websocket: WebSocket) -> None:
    """Drain client messages (answering pings) until the client goes away."""
    while True:
        message = await websocket.receive_text()
        if message.strip() in ("ping", '{"type":"ping"}', '{"type": "ping"}'):
            await websocket.send_text(json.dumps({"type": "pong"}))
