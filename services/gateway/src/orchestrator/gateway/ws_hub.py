"""Fan-out of live frames to WebSocket clients, with catch-up for clients that reconnect.

Every frame carries ``event_seq``, the stream sequence of the event it came from. A client that
reconnects with ``?since=<event_seq>`` is first sent every frame after that sequence, read back
from the stream, then the live feed, with no gap and no repeat: it subscribes before the replay
starts, and frames that arrive meanwhile are held back and de-duplicated by sequence.

A frame is encoded once, when it is published, and the same text is queued for every client: a
thousand clients cost a thousand queue puts and sends, not a thousand serialisations.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

Frame = dict[str, Any]
Filter = Callable[[Frame], bool]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A frame and its JSON text, shared by every client it goes to."""

    frame: Frame
    text: str

    @property
    def event_seq(self) -> int | None:
        seq = self.frame.get("event_seq")
        return seq if isinstance(seq, int) else None


class Subscriber:
    def __init__(self, accepts: Filter, max_queue: int) -> None:
        self.accepts = accepts
        self.queue: asyncio.Queue[Outgoing] = asyncio.Queue(max_queue)
        self.overflowed = False

    def offer(self, item: Outgoing) -> None:
        if self.overflowed or not self.accepts(item.frame):
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            # A client too slow to keep up is cut off (it reconnects with ?since= and loses
            # nothing) rather than letting its backlog grow without bound.
            self.overflowed = True


class LiveHub:
    def __init__(self, max_queue: int = 10_000) -> None:
        self._subscribers: set[Subscriber] = set()
        self._max_queue = max_queue

    def subscribe(self, accepts: Filter = lambda frame: True) -> Subscriber:
        subscriber = Subscriber(accepts, self._max_queue)
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def publish(self, frame: Frame) -> None:
        if not self._subscribers:
            return
        item = Outgoing(frame, json.dumps(frame))
        for subscriber in list(self._subscribers):
            subscriber.offer(item)

    @property
    def clients(self) -> int:
        return len(self._subscribers)
