"""Appending events to JetStream and reading them back.

``append`` is the one write path. It carries the event id as ``Nats-Msg-Id`` so the server drops
a duplicate inside its window, and optionally ``Nats-Expected-Last-Subject-Sequence`` for
optimistic concurrency. Transient failures (no responders during an election or a restart, a
timed-out request whose ack was lost) are retried here and only here, with the same event id, so
a retry can never store an event twice. A stale expected sequence is a
:class:`ConcurrencyConflict` unless the conflicting message is our own earlier attempt, in which
case the append succeeded and we return its sequence.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import APIError, NotFoundError, ServiceUnavailableError

from . import subjects
from .catalog import TASK_END_TYPES, Event
from .envelope import MSG_ID, TYPE_HEADER, Envelope, RecordedEvent, decode, encode, new_id
from .errors import AppendFailed, ConcurrencyConflict, ReadIncomplete, UndecodableEvent
from .failures import carry_on

log = logging.getLogger(__name__)

EXPECTED_LAST_SUBJECT_SEQ = "Nats-Expected-Last-Subject-Sequence"
WRONG_LAST_SEQUENCE = {10071, 10164}
RETRYABLE_API = {10158, 10163}  # message id in flight; per-subject check unavailable
CONSUMER_NOT_FOUND = 10014
READ_BATCH = 512


class EventStore:
    """The event stream: append with optimistic concurrency, read a subject filter back."""

    def __init__(
        self,
        js: JetStreamContext,
        *,
        stream: str = subjects.EVENTS_STREAM,
        retry_for: float = 30.0,
        request_timeout: float = 5.0,
    ) -> None:
        self.js = js
        self.stream = stream
        self.retry_for = retry_for
        self.request_timeout = request_timeout
        self._direct_reads: bool | None = None

    async def append(
        self,
        subject: str,
        event: Event,
        *,
        expected_last_seq: int | None = None,
        event_id: str | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> int:
        """Append ``event`` to ``subject``; return its stream sequence.

        ``expected_last_seq`` (0: the subject must be empty) guards against a concurrent writer;
        ``event_id`` makes the append idempotent: appending the same id again returns the
        sequence of the stored event.
        """
        envelope = Envelope.wrap(
            event, event_id=event_id, correlation_id=correlation_id, causation_id=causation_id
        )
        return await self.append_envelope(subject, envelope, expected_last_seq=expected_last_seq)

    async def append_envelope(
        self, subject: str, envelope: Envelope, *, expected_last_seq: int | None = None
    ) -> int:
        body, headers = encode(envelope)
        if expected_last_seq is not None:
            headers[EXPECTED_LAST_SUBJECT_SEQ] = str(expected_last_seq)
        deadline = time.monotonic() + self.retry_for
        delay = 0.05
        while True:
            try:
                ack = await self.js.publish(
                    subject,
                    body,
                    timeout=self.request_timeout,
                    stream=self.stream,
                    headers=dict(headers),
                )
                return int(ack.seq)
            except APIError as exc:
                if exc.err_code in WRONG_LAST_SEQUENCE and expected_last_seq is not None:
                    seq = await self._find_own_retrying(
                        subject, envelope.id, after=expected_last_seq, deadline=deadline
                    )
                    if seq is not None:
                        return seq
                    raise ConcurrencyConflict(
                        subject, expected_last_seq, exc.description or ""
                    ) from exc
                if exc.err_code not in RETRYABLE_API and not _is_unavailable(exc):
                    raise AppendFailed(f"{subject}: {exc}") from exc
                error: Exception = exc
            except (TimeoutError, nats.errors.NoRespondersError) as exc:
                error = exc
            except (
                nats.errors.ConnectionClosedError,
                nats.errors.ConnectionReconnectingError,
            ) as e:
                error = e
            except nats.js.errors.NoStreamResponseError as exc:
                error = exc
            if time.monotonic() + delay > deadline:
                raise AppendFailed(f"{subject}: gave up after {self.retry_for:.0f}s: {error!r}")
            log.warning("append to %s failed (%r); retrying", subject, error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _find_own_retrying(
        self, subject: str, event_id: str, *, after: int, deadline: float
    ) -> int | None:
        """``_find_own``, retried while the stream is briefly unavailable (an R3 leader busy)."""
        delay = 0.05
        while True:
            try:
                return await self._find_own(subject, event_id, after=after)
            except APIError as exc:
                if not _is_unavailable(exc) or time.monotonic() + delay > deadline:
                    raise
                error: Exception = exc
            except (TimeoutError, nats.errors.NoRespondersError, ReadIncomplete) as exc:
                if time.monotonic() + delay > deadline:
                    raise
                error = exc
            log.warning("looking up own append on %s failed (%r); retrying", subject, error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _find_own(self, subject: str, event_id: str, *, after: int) -> int | None:
        """The sequence of our own event on ``subject`` past ``after``, if an earlier try stored it.

        On a single node the server checks the expected sequence before de-duplicating, so a
        retry after a lost ack sees a conflict caused by its own first attempt. That attempt was
        stored only if the subject's last event was then ``after``: so it can only be the first
        event past ``after``, and one direct get tells (no consumer to create, which on an R3
        stream under load is what the cluster is slowest to answer).
        """
        msg = await self._first_after(subject, after)
        if msg is not None and msg.headers and msg.headers.get(MSG_ID) == event_id:
            return int(msg.seq or 0)
        return None

    async def last_seq(self, subject: str) -> int:
        """The stream sequence of the last event on ``subject``, 0 when there is none."""
        seq, _ = await self.last_of(subject)
        return seq

    async def last_of(self, subject: str) -> tuple[int, str | None]:
        """The stream sequence and the type of the last event on ``subject``, ``(0, None)``
        when there is none: one request, like :meth:`last_seq`."""
        try:
            msg = await self.js.get_msg(
                self.stream, subject=subject, direct=await self._direct_reads_allowed()
            )
        except NotFoundError:
            return 0, None
        return int(msg.seq or 0), (msg.headers or {}).get(TYPE_HEADER)

    async def has_ended(self, subject: str) -> bool:
        """Whether the last event on the task ``subject`` ends it (:data:`TASK_END_TYPES`):
        one request, where reading the task back to find out takes a consumer."""
        _, last_type = await self.last_of(subject)
        return last_type in TASK_END_TYPES

    async def seq_after(self, subject: str, after: int) -> int:
        """The stream sequence of the first event on ``subject`` past ``after``, 0 when none
        (one request, like :meth:`last_seq`: no consumer)."""
        msg = await self._first_after(subject, after)
        return int(msg.seq or 0) if msg is not None else 0

    async def next_event(self, subject: str, after: int) -> tuple[int, RecordedEvent | None]:
        """The first event on ``subject`` past ``after``: ``(seq, event)``, ``(0, None)`` when
        there is none, ``(seq, None)`` when it cannot be decoded (logged). One request: cheaper
        than :meth:`read`'s consumer when a few events are wanted."""
        msg = await self._first_after(subject, after)
        if msg is None:
            return 0, None
        seq = int(msg.seq or 0)
        try:
            return seq, decode(msg.data or b"", msg.headers, msg.subject or subject, seq)
        except UndecodableEvent as exc:
            log.error("skipping event: %s", exc)
            return seq, None

    async def _first_after(self, subject: str, after: int) -> api.RawStreamMsg | None:
        try:
            return await self.js.get_msg(
                self.stream,
                seq=after + 1,
                subject=subject,
                next=True,
                direct=await self._direct_reads_allowed(),
            )
        except NotFoundError:
            return None

    async def _direct_reads_allowed(self) -> bool:
        """Whether a one-message read may be a direct get: only where the stream has one
        replica. A direct get skips the JetStream API (about 0.1 ms and, in this process, 70 us
        of CPU less per read, no base64 to undo), but on a replicated stream any replica may
        answer it, one not yet caught up included, and these reads decide what to append next.
        Learned from the stream once per store: a stream scaled up under running services is
        read the safe way by each once it restarts (``make cluster`` and the deploy files
        create their streams replicated from the start)."""
        if self._direct_reads is None:
            config = (await self.js.stream_info(self.stream)).config
            self._direct_reads = bool(config.allow_direct) and (config.num_replicas or 1) == 1
        return self._direct_reads

    async def read(self, subject_filter: str, *, start_seq: int = 1) -> list[RecordedEvent]:
        """Every decodable event matching ``subject_filter`` from ``start_seq`` to now."""
        events, _ = await self._read(subject_filter, start_seq)
        return events

    async def load(self, subject: str) -> tuple[list[RecordedEvent], int]:
        """An aggregate's events and its version (the sequence to expect on the next append).

        The version is the subject's last stored sequence, even when that event could not be
        decoded and was skipped: expecting anything older would conflict forever.
        """
        return await self._read(subject, 1)

    async def _read(self, subject_filter: str, start_seq: int) -> tuple[list[RecordedEvent], int]:
        events: list[RecordedEvent] = []
        last = 0
        async for seq, headers, data, subject in self._messages(subject_filter, start_seq):
            last = seq
            try:
                events.append(decode(data, headers, subject, seq))
            except UndecodableEvent as exc:
                log.error("skipping event: %s", exc)
        return events, last

    async def _messages(
        self, subject_filter: str, start_seq: int
    ) -> AsyncIterator[tuple[int, dict[str, str], bytes, str]]:
        """Read to the current end with a short-lived pull consumer, then stop.

        A consumer the node we are connected to does not know (on a cluster, a node hears of a
        new consumer a moment after it is made; a consumer's node may restart) answers 503, no
        responders, or is not found: the read goes on from where it stopped with a new
        consumer, for up to ``retry_for`` without progress (a long read that has moved on since
        its last failure has its whole ``retry_for`` again).
        """
        deadline: float | None = None
        delay = 0.05
        next_seq = start_seq
        while True:
            failed_at = next_seq
            try:
                async with ephemeral_reader(self.js, self.stream, subject_filter, next_seq) as sub:
                    pending = int((await sub.consumer_info()).num_pending or 0)
                    while pending > 0:
                        msgs = await self._fetch(sub, subject_filter, pending)
                        for msg in msgs:
                            meta = msg.metadata
                            pending = int(meta.num_pending)
                            next_seq = int(meta.sequence.stream) + 1
                            yield next_seq - 1, dict(msg.headers or {}), msg.data, msg.subject
                return
            except (APIError, nats.errors.NoRespondersError) as exc:
                gone = isinstance(exc, APIError) and exc.err_code == CONSUMER_NOT_FOUND
                if not (gone or _is_unavailable(exc)):
                    raise
                if deadline is None or next_seq > failed_at:  # the first failure, or progress
                    deadline, delay = time.monotonic() + self.retry_for, 0.05
                if time.monotonic() + delay > deadline:
                    raise
                log.warning("reading %s failed (%r); reading on", subject_filter, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _fetch(
        self, sub: JetStreamContext.PullSubscription, subject_filter: str, pending: int
    ) -> list[Msg]:
        try:
            return await sub.fetch(min(READ_BATCH, pending), timeout=self.request_timeout)
        except TimeoutError as exc:  # nats-py's own, or at times asyncio's
            raise ReadIncomplete(
                f"{subject_filter}: read stopped with {pending} events still pending"
            ) from exc


@asynccontextmanager
async def ephemeral_reader(
    js: JetStreamContext,
    stream: str,
    subject_filter: str,
    start_seq: int,
    *,
    inactive_threshold: float = 30.0,
    name: str | None = None,
) -> AsyncIterator[JetStreamContext.PullSubscription]:
    """A no-ack pull consumer from ``start_seq``, deleted on exit (or by the server when idle)."""
    name = name or new_id("read")
    config = api.ConsumerConfig(
        name=name,
        deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=max(start_seq, 1),
        ack_policy=api.AckPolicy.NONE,
        filter_subject=subject_filter,
        inactive_threshold=inactive_threshold,
        mem_storage=True,
        num_replicas=1,
    )
    await js.add_consumer(stream, config)
    sub = await js.pull_subscribe_bind(name, stream=stream)
    try:
        yield sub
    finally:
        # Best effort: the server deletes an idle ephemeral consumer after inactive_threshold.
        with carry_on(log, f"unsubscribing reader {name}"):
            await sub.unsubscribe()
        with carry_on(log, f"deleting consumer {name}", level=logging.DEBUG):
            await js.delete_consumer(stream, name)


def _is_unavailable(exc: APIError | nats.errors.NoRespondersError) -> bool:
    """No responders: JetStream is briefly not answering on this subject (an election, a
    restart, a consumer this node has not heard of yet). nats-py raises a status-only 503 as
    ``ServiceUnavailableError`` without a code."""
    if isinstance(exc, (ServiceUnavailableError, nats.errors.NoRespondersError)):
        return True
    return exc.code == 503
