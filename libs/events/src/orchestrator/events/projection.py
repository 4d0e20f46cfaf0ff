"""Projections: replay a subject filter from the start into a read model, then follow it live.

A :class:`Follower` owns one no-ack pull consumer. It applies every event in stream order, tracks
the last sequence applied, and when anything goes wrong with the consumer (NATS restarted, the
consumer was lost) it makes a new one from the next sequence, so the read model never skips or
repeats an event. An event it cannot decode is logged, counted and skipped.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress

import nats.errors
from nats.js import JetStreamContext

from . import subjects
from .envelope import RecordedEvent, decode, new_id
from .errors import UndecodableEvent
from .store import ephemeral_reader

log = logging.getLogger(__name__)

Apply = Callable[[RecordedEvent], Awaitable[None] | None]


class Follower:
    def __init__(
        self,
        js: JetStreamContext,
        subject_filter: str,
        apply: Apply,
        *,
        stream: str = subjects.EVENTS_STREAM,
        start_seq: int = 1,
        batch: int = 1024,
        poll_timeout: float = 2.0,
    ) -> None:
        self.js = js
        self.subject_filter = subject_filter
        self.stream = stream
        self._apply = apply
        self.last_seq = start_seq - 1
        self.skipped: list[UndecodableEvent] = []
        self._batch = batch
        self._poll_timeout = poll_timeout
        self._caught_up = asyncio.Event()
        self._advanced = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self.consumer_name: str | None = None
        """The server-side consumer currently feeding this follower (a new one after a rebuild)."""

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"follow {self.subject_filter}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def __aenter__(self) -> Follower:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def caught_up(self) -> bool:
        return self._caught_up.is_set()

    async def wait_caught_up(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._caught_up.wait(), timeout)

    async def wait_for(self, seq: int, timeout: float | None = 10.0) -> None:
        """Wait until the event at ``seq`` (appended by us, say) has been applied."""
        async with self._advanced:
            await asyncio.wait_for(self._advanced.wait_for(lambda: self.last_seq >= seq), timeout)

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the consumer is gone or NATS is away: rebuild it
                log.warning("follower %s restarting after %r", self.subject_filter, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            else:
                delay = 0.1

    async def _consume(self) -> None:
        self.consumer_name = new_id("follow")
        async with ephemeral_reader(
            self.js,
            self.stream,
            self.subject_filter,
            self.last_seq + 1,
            inactive_threshold=max(30.0, self._poll_timeout * 5),
            name=self.consumer_name,
        ) as sub:
            if int((await sub.consumer_info()).num_pending or 0) == 0:
                self._caught_up.set()
            while True:
                try:
                    msgs = await sub.fetch(self._batch, timeout=self._poll_timeout)
                except nats.errors.TimeoutError:
                    self._caught_up.set()
                    await sub.consumer_info()  # raises if NATS lost the consumer in a restart
                    continue
                for msg in msgs:
                    meta = msg.metadata
                    seq = int(meta.sequence.stream)
                    if seq <= self.last_seq:
                        continue
                    await self._deliver(msg.data, dict(msg.headers or {}), msg.subject, seq)
                    if meta.num_pending == 0:
                        self._caught_up.set()
                async with self._advanced:
                    self._advanced.notify_all()

    async def _deliver(self, data: bytes, headers: dict[str, str], subject: str, seq: int) -> None:
        try:
            recorded = decode(data, headers, subject, seq)
        except UndecodableEvent as exc:
            log.error("projection %s skipped: %s", self.subject_filter, exc)
            self.skipped.append(exc)
        else:
            result = self._apply(recorded)
            if inspect.isawaitable(result):
                await result
        self.last_seq = seq
