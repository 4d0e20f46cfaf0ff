"""Handing out work: a durable pull consumer shared by every replica of a service.

Each message is acknowledged only after its handler returned, i.e. after the effect was recorded.
While a handler runs (an LLM call can take minutes) the worker tells the server it is still in
progress, so the message is not redelivered to another replica. A handler that raises gets the
message back after a backoff; on the last attempt the message is written to the dead-letter stream
and terminated, so one poison message never blocks the ones behind it. A process killed mid-message
simply never acks: after ``ack_wait`` the server redelivers it. If a message exhausts its attempts
without anyone getting to record why (the process died each time), the server's max-deliveries
advisory puts it in the dead-letter stream all the same.

Messages are fetched ahead up to ``prefetch`` and started in ``order_key`` order (stream order by
default) with at most ``max_concurrency`` running at once.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import APIError

from . import subjects
from .envelope import TYPE_HEADER, RecordedEvent, decode
from .errors import UndecodableEvent
from .failures import carry_on

log = logging.getLogger(__name__)


class PermanentFailure(Exception):
    """Raised by a handler when retrying cannot help: dead-letter the message now."""


class Deferred(Exception):
    """Raised by a handler for a message that is not due yet: the server hands it back after
    ``delay`` seconds (a negative acknowledgement with a delay), holding no slot meanwhile.
    Only for consumers without a delivery limit (``max_deliver=-1``): each deferral counts."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"not due for {delay:.1f}s")
        self.delay = delay


@dataclass(frozen=True)
class WorkerConfig:
    durable: str
    filter_subjects: tuple[str, ...]
    max_deliver: int = 5
    ack_wait: float = 30.0
    backoff: tuple[float, ...] = (0.5, 2.0, 5.0, 15.0)
    max_concurrency: int = 4
    prefetch: int | None = None
    deliver_policy: api.DeliverPolicy = api.DeliverPolicy.ALL
    max_ack_pending: int = 1000
    types: frozenset[str] | None = None
    """The event types the handler wants (None: all). A message whose type header names another
    is acknowledged unread: not decoded, queued or given a handler task."""

    @property
    def progress_every(self) -> float:
        return max(self.ack_wait / 3, 0.1)

    @property
    def prefetch_limit(self) -> int:
        return self.prefetch or self.max_concurrency * 4


@dataclass
class Delivery:
    """What a handler knows about the delivery it is working on."""

    msg: Msg
    attempt: int
    max_deliver: int

    @property
    def is_last_attempt(self) -> bool:
        return 0 < self.max_deliver <= self.attempt

    async def progress(self) -> None:
        # Best effort: a missed in-progress only risks a redelivery, which handlers tolerate.
        with carry_on(log, f"in-progress for {self.msg.subject}", level=logging.DEBUG):
            await self.msg.in_progress()


Handler = Callable[[RecordedEvent, Delivery], Awaitable[None]]
OrderKey = Callable[[RecordedEvent], Any]


@dataclass(order=True)
class _Queued:
    key: Any
    tie: int
    msg: Msg = field(compare=False)
    recorded: RecordedEvent = field(compare=False)


class Worker:
    def __init__(
        self,
        nc: NATS,
        js: JetStreamContext,
        config: WorkerConfig,
        handler: Handler,
        *,
        stream: str = subjects.EVENTS_STREAM,
        order_key: OrderKey | None = None,
    ) -> None:
        self.nc = nc
        self.js = js
        self.config = config
        self.stream = stream
        self._handler = handler
        self._order_key = order_key or (lambda r: r.seq)
        self._queue: list[_Queued] = []
        self._tie = itertools.count()
        self._running: dict[asyncio.Task[None], Msg] = {}
        self._slot_free = asyncio.Event()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._advisory_sub: Any = None
        self._sub: JetStreamContext.PullSubscription | None = None

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def running(self) -> int:
        return len(self._running)

    async def provision(self) -> None:
        """Create the durable consumer, or update it in place (ack_wait, max_deliver, filters...).

        A change the server cannot apply to an existing consumer (its deliver policy, say) is an
        error naming the durable, not a silent mismatch between replicas.
        """
        try:
            await self._add_consumer()
        except APIError as exc:
            raise RuntimeError(
                f"durable consumer {self.config.durable!r} on {self.stream} exists with a config "
                f"that cannot be changed to {self.config!r}: {exc}"
            ) from exc

    async def _add_consumer(self) -> None:
        cfg = self.config
        await self.js.add_consumer(
            self.stream,
            api.ConsumerConfig(
                durable_name=cfg.durable,
                filter_subjects=list(cfg.filter_subjects),
                ack_policy=api.AckPolicy.EXPLICIT,
                ack_wait=cfg.ack_wait,
                max_deliver=cfg.max_deliver,
                max_ack_pending=cfg.max_ack_pending,
                deliver_policy=cfg.deliver_policy,
            ),
        )

    async def start(self) -> None:
        await self.provision()
        self._advisory_sub = await self.nc.subscribe(
            subjects.max_deliveries_advisory(self.stream, self.config.durable),
            cb=self._on_max_deliveries,
        )
        self._tasks = [
            asyncio.create_task(self._fetch_loop(), name=f"{self.config.durable} fetch"),
            asyncio.create_task(self._progress_loop(), name=f"{self.config.durable} progress"),
        ]

    async def stop(self, grace: float = 10.0) -> None:
        """Stop taking work, let running handlers finish (up to ``grace``), hand back the rest."""
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError):
                await task
        while self._queue:
            queued = heapq.heappop(self._queue)
            # Not handed back, it is redelivered after ack_wait all the same.
            with carry_on(log, f"handing back {queued.recorded.subject}#{queued.recorded.seq}"):
                await queued.msg.nak()
        if self._running:
            _, pending = await asyncio.wait(list(self._running), timeout=grace)
            for task in pending:
                task.cancel()
            for task in pending:
                with suppress(asyncio.CancelledError), carry_on(log, "a handler cut short"):
                    await task
        if self._advisory_sub is not None:
            with carry_on(log, f"{self.config.durable}: unsubscribing the advisory"):
                await self._advisory_sub.unsubscribe()
        # nats-py never marks fetched messages done on a pull subscription's queue, so a
        # connection drain would wait on it until its timeout: let go of it here instead.
        await self._release()

    async def _release(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            with carry_on(log, f"{self.config.durable}: releasing the pull subscription"):
                await sub.unsubscribe()

    async def _bind(self) -> JetStreamContext.PullSubscription:
        await self._release()
        self._sub = await self.js.pull_subscribe_bind(self.config.durable, stream=self.stream)
        return self._sub

    async def _fetch_loop(self) -> None:
        sub = await self._bind()
        delay = 0.1
        while not self._stopping.is_set():
            task = asyncio.current_task()
            if task is not None and task.cancelling():  # a cancel an inner wait_for swallowed
                raise asyncio.CancelledError
            room = self.config.prefetch_limit - len(self._queue) - len(self._running)
            if room <= 0:
                self._slot_free.clear()
                await self._slot_free.wait()
                continue
            try:
                # No idle heartbeat: with one, nats-py's fetch(n) holds a message that arrives
                # mid-poll for up to a heartbeat interval (measured: 140-280 ms per hop).
                msgs = await sub.fetch(room, timeout=1.0)
            except TimeoutError:  # nats-py raises its own TimeoutError and, at times, asyncio's
                continue
            except (APIError, nats.errors.Error) as exc:
                log.warning("%s: fetch failed (%r); retrying", self.config.durable, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                with carry_on(log, f"{self.config.durable}: re-binding (next fetch retries)"):
                    sub = await self._bind()
                continue
            delay = 0.1
            for msg in msgs:
                await self._enqueue(msg)
            self._dispatch()

    async def _enqueue(self, msg: Msg) -> None:
        wanted = self.config.types
        kind = msg.headers.get(TYPE_HEADER) if msg.headers else None
        if wanted is not None and kind is not None and kind not in wanted:
            with carry_on(log, f"ack of {msg.subject} ({kind}, not wanted)"):
                await msg.ack()
            return
        meta = msg.metadata
        try:
            recorded = decode(msg.data, dict(msg.headers or {}), msg.subject, meta.sequence.stream)
        except UndecodableEvent as exc:
            log.error("%s: dead-lettering undecodable message: %s", self.config.durable, exc)
            await self._dead_letter(msg, meta.num_delivered, f"undecodable: {exc.reason}")
            return
        try:
            key = self._order_key(recorded)
        except Exception:
            log.exception(
                "%s: order key failed on %s; using stream order",
                self.config.durable,
                recorded.envelope.correlation_id or recorded.subject,
            )
            key = recorded.seq
        heapq.heappush(self._queue, _Queued(key, next(self._tie), msg, recorded))

    def _dispatch(self) -> None:
        while self._queue and len(self._running) < self.config.max_concurrency:
            queued = heapq.heappop(self._queue)
            task = asyncio.create_task(self._handle(queued.msg, queued.recorded))
            self._running[task] = queued.msg
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.pop(task, None)
        self._slot_free.set()
        if not self._stopping.is_set():
            self._dispatch()

    async def _handle(self, msg: Msg, recorded: RecordedEvent) -> None:
        attempt = msg.metadata.num_delivered
        delivery = Delivery(msg, attempt, self.config.max_deliver)
        where = f"{recorded.subject}#{recorded.seq}"
        correlation = recorded.envelope.correlation_id
        try:
            await self._handler(recorded, delivery)
        except asyncio.CancelledError:
            with carry_on(log, f"handing back {where}", correlation_id=correlation):
                await msg.nak()
            raise
        except Deferred as exc:
            with carry_on(log, f"deferring {where}", correlation_id=correlation):
                await msg.nak(delay=max(exc.delay, 0.0))
        except PermanentFailure as exc:
            await self._dead_letter(msg, attempt, f"permanent failure: {exc}")
        except Exception as exc:
            if delivery.is_last_attempt:
                log.exception("%s: giving up on %s [%s]", self.config.durable, where, correlation)
                await self._dead_letter(msg, attempt, repr(exc))
                return
            log.warning(
                "%s: attempt %d on %s failed [%s]: %r",
                self.config.durable,
                attempt,
                where,
                correlation,
                exc,
            )
            backoff = self.config.backoff
            delay = backoff[min(attempt - 1, len(backoff) - 1)] if backoff else 0
            # Not naked, it comes back after ack_wait instead of the backoff: still retried.
            with carry_on(log, f"nak of {where}", correlation_id=correlation):
                await msg.nak(delay=delay)
        else:
            # A plain ack, no round trip: not received (NATS away), the effect is recorded and
            # the redelivery finds it done, as after a lost ack_sync.
            with carry_on(log, f"ack of {where}", correlation_id=correlation):
                await msg.ack()

    async def _progress_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.progress_every)
            for msg in [*self._running.values(), *(q.msg for q in self._queue)]:
                with carry_on(log, f"in-progress for {msg.subject}", level=logging.DEBUG):
                    await msg.in_progress()

    async def _dead_letter(self, msg: Msg, attempts: int, reason: str) -> None:
        meta = msg.metadata
        await self._record_dead_letter(
            stream_seq=meta.sequence.stream,
            subject=msg.subject,
            attempts=attempts,
            reason=reason,
            data=msg.data.decode(errors="replace"),
        )
        # Not terminated, it is redelivered and dead-lettered again under the same id.
        with carry_on(log, f"term of {msg.subject}#{meta.sequence.stream}"):
            await msg.term()

    async def _on_max_deliveries(self, advisory: Msg) -> None:
        try:
            body = json.loads(advisory.data)
            seq = int(body["stream_seq"])
            original = await self.js.get_msg(self.stream, seq)
        except Exception:
            log.exception("%s: unreadable max-deliveries advisory", self.config.durable)
            return
        await self._record_dead_letter(
            stream_seq=seq,
            subject=original.subject or "",
            attempts=int(body.get("deliveries", self.config.max_deliver)),
            reason="max deliveries reached without a recorded outcome",
            data=(original.data or b"").decode(errors="replace"),
        )

    async def _record_dead_letter(
        self, *, stream_seq: int, subject: str, attempts: int, reason: str, data: str
    ) -> None:
        entry = {
            "durable": self.config.durable,
            "stream": self.stream,
            "stream_seq": stream_seq,
            "subject": subject,
            "attempts": attempts,
            "reason": reason,
            "data": data,
        }
        try:
            await self.js.publish(
                subjects.dead_letter(self.config.durable),
                json.dumps(entry).encode(),
                headers={"Nats-Msg-Id": f"dl-{self.config.durable}-{self.stream}-{stream_seq}"},
            )
        except Exception:
            log.exception(
                "%s: could not record dead letter for #%d", self.config.durable, stream_seq
            )
