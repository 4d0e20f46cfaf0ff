"""The rate-limit counts in NATS, shared by every gateway replica: the key-value bucket
``ratelimit`` (:data:`orchestrator.events.subjects.RATE_LIMIT_BUCKET`).

One key per (category, client) holds its :class:`.rate_windows.WindowCounts`. A hit reads the key
and writes the counts with this request included only if nobody wrote since (``update`` with the
revision it read, ``create`` when there was no key), else reads again: of two replicas racing for
the last request of a budget, one write wins and the other replica sees the spent budget and
refuses. Only admitted requests write; a refusal costs one read. A request the server then fails
(5xx) is taken back the same way (:meth:`SharedWindows.refund`).

The bucket keeps one value per key (history 1) for :data:`BUCKET_TTL`, the two minutes a count is
of any use plus a margin, so idle clients cost nothing after that. It is in memory, replicated like
every bucket (``NATS_REPLICAS``): a count is worth less than an fsync on every request, and a NATS
restart that forgets the counts only gives everyone a fresh minute. Reads go to the stream leader
(no direct get), so a replica's read is never older than the write another replica just made.

Only the gateway uses the bucket, so the gateway provisions it (:func:`open_bucket`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import nats.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext, api
from nats.js.errors import (
    BadRequestError,
    BucketNotFoundError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NotFoundError,
)
from nats.js.kv import KeyValue

from orchestrator.events import subjects
from orchestrator.events.connection import STREAM_NAME_IN_USE
from orchestrator.events.nats_settings import NatsSettings

from .rate_windows import WINDOW_SECONDS, Decision, WindowCounts, decide

T = TypeVar("T")

BUCKET_TTL = 2 * WINDOW_SECONDS + 30
COUNTER_TIMEOUT = 2.0
"""Seconds a read or write of the counts may take before the request is admitted unchecked."""
MAX_ATTEMPTS = 64
"""Reads of one key before giving up: each retry means another request of the same client was
counted meanwhile, so this is only reached by a client racing itself very hard."""


class WindowsUnavailable(Exception):
    """The counts could not be read or written: the request goes through unchecked."""


async def open_bucket(nc: NATS, js: JetStreamContext, settings: NatsSettings) -> KeyValue:
    """The bucket, created if missing, bound to a JetStream context with a short timeout."""
    try:
        await js.key_value(subjects.RATE_LIMIT_BUCKET)
    except (BucketNotFoundError, NotFoundError):
        try:
            await js.create_key_value(
                config=api.KeyValueConfig(
                    bucket=subjects.RATE_LIMIT_BUCKET,
                    history=1,
                    ttl=BUCKET_TTL,
                    storage=api.StorageType.MEMORY,
                    replicas=settings.nats_replicas,
                    direct=False,
                )
            )
        except BadRequestError as exc:
            if exc.err_code != STREAM_NAME_IN_USE:  # another gateway won the race
                raise
    return await nc.jetstream(timeout=COUNTER_TIMEOUT).key_value(subjects.RATE_LIMIT_BUCKET)


class SharedWindows:
    def __init__(self, nc: NATS, kv: KeyValue, clock: Callable[[], float] = time.time) -> None:
        self._nc = nc
        self._kv = kv
        self._clock = clock  # wall clock: every replica's minutes must be the same minutes

    async def hit(self, key: str, limit: int) -> Decision:
        """Count one request against ``key`` if ``limit`` allows it; say what was decided."""
        return await self._until_written(lambda: self._attempt(key, limit))

    async def refund(self, key: str, window: int) -> bool:
        """Take back one request counted against ``key`` in minute ``window``: the server failed
        it (5xx), so it must not spend the client's budget, and its retry is counted afresh.
        False when the counts could not be written (the request then stays counted)."""
        try:
            return await self._until_written(lambda: self._take_back(key, window))
        except WindowsUnavailable:
            return False

    async def _until_written(self, attempt: Callable[[], Awaitable[T | None]]) -> T:
        """``attempt`` (a read and a conditional write) again while it loses a race (None)."""
        if not self._nc.is_connected:  # do not wait out a reconnect on every request
            raise WindowsUnavailable("not connected to NATS")
        try:
            for _ in range(MAX_ATTEMPTS):
                result = await attempt()
                if result is not None:
                    return result
        except (nats.errors.Error, TimeoutError, OSError) as exc:
            raise WindowsUnavailable(repr(exc)) from exc
        raise WindowsUnavailable(f"the counts kept changing over {MAX_ATTEMPTS} attempts")

    async def _take_back(self, key: str, window: int) -> bool | None:
        """One read and, when there is something to take back, one conditional write; None
        when the write lost a race."""
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:
            return True  # forgotten already: nothing left to take back
        stored = WindowCounts.decode(entry.value) if entry.value else None
        counts = stored.without_one_of(window) if stored else None
        if counts is None or counts == stored:
            return True
        try:
            await self._kv.update(key, counts.encode(), last=entry.revision)
        except KeyWrongLastSequenceError:
            return None
        return True

    async def _attempt(self, key: str, limit: int) -> Decision | None:
        """One read and, when admitted, one conditional write; None when the write lost a race."""
        try:
            entry: KeyValue.Entry | None = await self._kv.get(key)
        except KeyNotFoundError:
            entry = None
        stored = WindowCounts.decode(entry.value) if entry and entry.value else None
        decision = decide(stored, self._clock(), limit)
        if not decision.allowed:
            return decision
        value = decision.counts.encode()
        try:
            if entry is None:
                await self._kv.create(key, value)
            else:
                await self._kv.update(key, value, last=entry.revision)
        except KeyWrongLastSequenceError:
            return None
        except KeyNotFoundError:
            # Lost the race to create the key on an R3 bucket: the winner's write was still in
            # flight when the leader refused ours, and nats-py's create, reading the key back to
            # tell a deleted one, did not find it yet.
            return None
        return decision
