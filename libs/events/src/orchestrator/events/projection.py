"""Projections: replay a subject filter from the start into a read model, then follow it live.

A :class:`Follower` runs an ordered consumer: an ephemeral, no-ack push consumer on the server
(memory storage, flow control, idle heartbeats) that it checks message by message. It applies
every event in stream order and tracks the last stream sequence applied. Whenever the delivery is
not exactly what it should be (a consumer sequence gap, a heartbeat that reports messages we never
got, silence past two heartbeats because NATS restarted and the consumer is gone) it drops the
consumer and makes a new one from ``last_seq + 1``, so the read model never skips or repeats an
event. An event it cannot decode is logged, counted in ``skipped`` and passed over.

The ordering checks are done here rather than by nats-py's ``ordered_consumer=True`` so that
recovery is ours to see and test: the client's own reset runs in a background task whose failures
only reach ``error_cb``. The hot path is one callback per message that reads the sequences from
the reply subject (no metadata object) and decodes with the envelope's fast path.
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from . import subjects
from .envelope import RecordedEvent, decode, new_id
from .errors import UndecodableEvent
from .failures import carry_on

log = logging.getLogger(__name__)

Apply = Callable[[RecordedEvent], Awaitable[None] | None]

STATUS = "Status"
CONTROL = "100"  # idle heartbeat or flow-control request
LAST_CONSUMER = "Nats-Last-Consumer"
CONSUMER_STALLED = "Nats-Consumer-Stalled"
MISSED_HEARTBEATS = 2


def _raise_if_cancelling() -> None:
    """Honour a cancellation that an inner ``wait_for`` swallowed (a Python 3.11 race)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class ConsumerLost(Exception):
    """The ordered delivery broke (gap, silence, apply failure): rebuild from last_seq + 1."""


def ack_sequences(reply: str) -> tuple[int, int, int]:
    """(stream seq, consumer seq, pending) from a JetStream ack subject.

    ``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>`` or the v2 form
    ``$JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>.…``.
    """
    tokens = reply.split(".")
    offset = 0 if len(tokens) == 9 else 2
    return int(tokens[5 + offset]), int(tokens[6 + offset]), int(tokens[8 + offset])


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
        """``poll_timeout`` is the idle-heartbeat interval: a consumer silent for two of them
        (NATS restarted, the consumer was lost) is rebuilt. ``batch`` bounds the messages
        buffered in the client before delivery pauses (flow control does the rest)."""
        self.js = js
        self.subject_filter = subject_filter
        self.stream = stream
        self._apply = apply
        self.last_seq = start_seq - 1
        self.skipped: list[UndecodableEvent] = []
        self.rebuilds = 0
        """How many times the consumer was rebuilt after the first (gaps, outages, failures)."""
        self.consumer_name: str | None = None
        """The server-side consumer currently feeding this follower (a new one after a rebuild)."""
        self._batch = batch
        self._heartbeat = max(poll_timeout, 0.1)
        self._caught_up = asyncio.Event()
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._waiter_ids = 0
        self._conditions: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"follow {self.subject_filter}")

    async def stop(self) -> None:
        self._stopping = True
        task, self._task = self._task, None
        # Cancel until it is done: Python 3.11's wait_for (used inside nats-py) can swallow a
        # cancellation that lands as its inner call completes; the flag ends the loop regardless.
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        if task is not None and not task.cancelled() and task.exception() is not None:
            log.error("follower %s ended with %r", self.subject_filter, task.exception())

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
        if self.last_seq >= seq:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiter_ids += 1
        heapq.heappush(self._waiters, (seq, self._waiter_ids, future))
        try:
            await asyncio.wait_for(future, timeout)
        finally:
            if not future.done():
                future.cancel()

    async def wait_until(self, condition: Callable[[], bool], timeout: float | None = 10.0) -> None:
        """Wait until ``condition()`` holds of the read model, checked after every event applied.

        For a state another writer brings about (the workspace service starting a run, the
        archive service recording a reset): the route does not know the sequence it will have.
        """
        if condition():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (condition, future)
        self._conditions.append(entry)
        try:
            await asyncio.wait_for(future, timeout)
        finally:
            if entry in self._conditions:
                self._conditions.remove(entry)

    @property
    def _watched(self) -> bool:
        return bool(self._waiters or self._conditions)

    def _advanced(self) -> None:
        waiters = self._waiters
        while waiters and waiters[0][0] <= self.last_seq:
            future = heapq.heappop(waiters)[2]
            if not future.done():
                future.set_result(None)
        for condition, future in list(self._conditions):
            if future.done():
                continue
            try:
                met = condition()
            except Exception as exc:  # noqa: BLE001 - handed to its waiter, who sees it raised
                future.set_exception(exc)
                continue
            if met:
                future.set_result(None)

    async def _run(self) -> None:
        delay = 0.1
        first = True
        while not self._stopping:
            _raise_if_cancelling()
            if not first:
                self.rebuilds += 1
            first = False
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - logged; rebuilt, whatever broke it
                log.warning(
                    "follower %s: rebuilding from #%d after %r",
                    self.subject_filter,
                    self.last_seq + 1,
                    exc,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            else:
                delay = 0.1

    async def _consume(self) -> None:
        nc: NATS = self.js._nc  # nats-py exposes no public accessor for the context's client
        name = new_id("follow")
        inbox = nc.new_inbox()
        delivery = _Delivery(self, nc)
        self.consumer_name = name
        sub = await nc.subscribe(
            inbox, cb=delivery.on_msg, pending_msgs_limit=max(self._batch, 64) * 64
        )
        try:
            info = await self.js.add_consumer(
                self.stream,
                api.ConsumerConfig(
                    name=name,
                    deliver_subject=inbox,
                    deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                    opt_start_seq=self.last_seq + 1,
                    ack_policy=api.AckPolicy.NONE,
                    filter_subject=self.subject_filter,
                    flow_control=True,
                    idle_heartbeat=self._heartbeat,
                    inactive_threshold=max(30.0, self._heartbeat * 10),
                    mem_storage=True,
                    num_replicas=1,
                ),
            )
            if int(info.num_pending or 0) == 0:  # nothing to replay: live from here
                self._caught_up.set()
            await delivery.watch(self._heartbeat)
        finally:
            delivery.fail("stopped")
            # Best effort: an ephemeral consumer the server cannot be told about is deleted by
            # it after ``inactive_threshold`` anyway.
            with carry_on(log, f"unsubscribing follower {name}"):
                await sub.unsubscribe()
            with carry_on(log, f"deleting consumer {name}", level=logging.DEBUG):
                await asyncio.wait_for(self.js.delete_consumer(self.stream, name), 2.0)


class _Delivery:
    """One consumer's deliveries to a :class:`Follower`, checked for order, gaps and silence."""

    def __init__(self, follower: Follower, nc: NATS) -> None:
        self.follower = follower
        self.nc = nc
        self.broken: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.expected_dseq = 1
        self.activity = 0  # bumped by every delivery, heartbeat included; cheaper than a clock

    def fail(self, reason: str) -> None:
        if not self.broken.done():
            self.broken.set_result(reason)

    async def watch(self, heartbeat: float) -> None:
        """Return never; raise :class:`ConsumerLost` on a broken delivery or a silent server."""
        seen, silent_since = self.activity, time.monotonic()
        silence = heartbeat * (MISSED_HEARTBEATS + 0.5)
        while True:
            with suppress(TimeoutError):
                reason = await asyncio.wait_for(asyncio.shield(self.broken), heartbeat / 2)
                raise ConsumerLost(reason)
            if self.follower._stopping:
                raise asyncio.CancelledError
            _raise_if_cancelling()
            if self.activity != seen:
                seen, silent_since = self.activity, time.monotonic()
            elif time.monotonic() - silent_since > silence:
                raise ConsumerLost(f"no heartbeat for {silence:.1f}s")

    async def on_msg(self, msg: Msg) -> None:
        # The hot path of every replay: kept flat, one decode, no per-message objects.
        if self.broken.done():
            return
        self.activity += 1
        data = msg.data
        headers = msg.headers
        if not data and headers and headers.get(STATUS) == CONTROL:
            await self._control(msg, headers)
            return
        try:
            seq, dseq, pending = ack_sequences(msg.reply)
        except (ValueError, IndexError):
            self.fail(f"not a JetStream delivery: {msg.reply!r}")
            return
        if dseq != self.expected_dseq:
            self.fail(f"consumer seq {dseq}, expected {self.expected_dseq}")
            return
        self.expected_dseq = dseq + 1
        follower = self.follower
        if seq > follower.last_seq:
            try:
                recorded = decode(data, headers, msg.subject, seq)
            except UndecodableEvent as exc:
                log.error("projection %s skipped: %s", follower.subject_filter, exc)
                follower.skipped.append(exc)
            else:
                try:
                    result = follower._apply(recorded)
                    if result is not None and inspect.isawaitable(result):
                        await result
                except Exception as exc:
                    log.exception("follower %s: apply failed on #%d", follower.subject_filter, seq)
                    self.fail(f"apply failed on #{seq}: {exc!r}")
                    return
            follower.last_seq = seq
        if pending == 0:
            follower._caught_up.set()
        if follower._watched:
            follower._advanced()

    async def _control(self, msg: Msg, headers: dict[str, str]) -> None:
        if msg.reply:  # flow-control request: we have processed everything before it
            await self.nc.publish(msg.reply)
        stalled = headers.get(CONSUMER_STALLED)
        if stalled:
            await self.nc.publish(stalled)
        last = headers.get(LAST_CONSUMER)
        if last is not None and int(last) != self.expected_dseq - 1:
            self.fail(f"heartbeat reports consumer seq {last}, we have {self.expected_dseq - 1}")
