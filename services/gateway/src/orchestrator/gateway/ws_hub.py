"""Fan-out of live frames to WebSocket clients, with catch-up for clients that reconnect.

Every frame carries ``event_seq``, the stream sequence of the event it came from. A client that
reconnects with ``?since=<event_seq>`` is first sent every frame after that sequence, read back
from the stream, then the live feed, with no gap and no repeat: it subscribes before the replay
starts, and frames that arrive meanwhile are held back and de-duplicated by sequence.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Frame = dict[str, Any]
Filter = Callable[[Frame], bool]


class Subscriber:
    def __init__(self, accepts: Filter, max_queue: int) -> None:
        self.accepts = accepts
        self.queue: asyncio.Queue[Frame] = asyncio.Queue(max_queue)
        self.overflowed = False

    def offer(self, frame: Frame) -> None:
        if self.overflowed or not self.accepts(frame):
            return
        try:
            self.queue.put_nowait(frame)
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
        for subscriber in list(self._subscribers):
            subscriber.offer(frame)

    @property
    def clients(self) -> int:
        return len(self._subscribers)
