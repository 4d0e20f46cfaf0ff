"""Replicas agree: a write answered 2xx by any gateway replica is reflected by the next read on
any replica.

Every replica folds the same event stream into its read models, each at its own pace, so a read
on replica B right after a write on replica A could miss the write. Two headers close that gap:

- ``X-Event-Seq`` on every 2xx answer to a write (POST, PUT, PATCH, DELETE): the stream sequence
  the answer reflects, at least that of the last event the request appended. Appends are seen
  through :class:`RecordingStore` (the gateway's ``EventStore``); :class:`EventSeqHeader` adds
  the header.
- ``X-After-Seq`` on a read (the :func:`read_after` dependency of every read route): the replica
  answers only once its read models have applied that sequence, waiting at most
  ``GATEWAY_READ_WAIT`` seconds; past that it answers 503 ``SERVICE_UNAVAILABLE`` with a
  ``Retry-After``. A sequence past the stream's end was answered to no write (every acknowledged
  write is at or before it), so it waits for the stream's end only. Without the header it waits
  until its read models reach the stream's last sequence *at the time of the request* (one
  STREAM.INFO request to NATS, shared with the reads that arrived meanwhile: see
  :class:`StreamEnd`). While the replica is cut off from NATS it cannot learn the stream's end,
  and no write can go through it; a read without the header then answers from what it has
  (logged once a minute) instead of refusing every read, e.g. the dashboard through a NATS
  restart. A request naming ``X-After-Seq`` still waits for it, or gets the 503.

Both waits are the projection's own ``Follower.wait_for`` (the one way a route waits for the
read models), never a poll.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextvars import ContextVar
from typing import Any

from fastapi import Depends, FastAPI, Header, Request
from nats.js import JetStreamContext
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator.events import EventStore
from orchestrator.events.envelope import Envelope
from orchestrator.events.error_codes import ErrorCode

from . import errors
from .throttled_log import ThrottledWarning

EVENT_SEQ = "X-Event-Seq"
AFTER_SEQ = "X-After-Seq"
SEQ_PATTERN = r"^[0-9]{1,19}$"
"""A stream sequence as a header: 1 to 19 digits (JetStream sequences are unsigned 64-bit)."""
RETRY_AFTER = "1"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})

AFTER_SEQ_DESCRIPTION = (
    "Read your writes across replicas: the `X-Event-Seq` of a write (the highest one seen). "
    "The answer waits until this replica's read models include that stream sequence, at most "
    "GATEWAY_READ_WAIT seconds (default 5), else 503 SERVICE_UNAVAILABLE with Retry-After; "
    "a sequence past the stream's end waits only for the end. "
    "Without it the answer reflects at least every event in the stream when the request came "
    "(while this replica is cut off from NATS: what it has, as it cannot write either)."
)
EVENT_SEQ_DESCRIPTION = (
    "The event stream sequence this answer reflects, at least that of the last event the write "
    "appended: send it as X-After-Seq on the next read, on any replica, to see the write."
)

log = logging.getLogger(__name__)

_appended: ContextVar[list[int] | None] = ContextVar("appended_seq", default=None)


class RecordingStore(EventStore):
    """The gateway's ``EventStore``: notes the sequence of every append made while serving a
    request, for its ``X-Event-Seq``."""

    async def append_envelope(
        self, subject: str, envelope: Envelope, *, expected_last_seq: int | None = None
    ) -> int:
        seq = await super().append_envelope(subject, envelope, expected_last_seq=expected_last_seq)
        appended = _appended.get()
        if appended is not None and seq > appended[0]:
            appended[0] = seq
        return seq


class EventSeqHeader:
    """Pure ASGI middleware: ``X-Event-Seq`` on every 2xx answer to a write.

    The value is the larger of the request's own last append and the replica's projection
    position when the answer starts: a write whose effect is another service's event (a reset
    the archive service performs, which the route waited to see) is covered too, and a higher
    value than strictly needed only makes a later read wait for events that exist.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITES:
            await self.app(scope, receive, send)
            return
        appended = [0]  # a shared cell: BaseHTTPMiddleware runs routes in a copied context
        token = _appended.set(appended)

        async def send_with_seq(message: Message) -> None:
            if message["type"] == "http.response.start" and 200 <= message["status"] < 300:
                gateway = getattr(scope["app"].state, "gateway", None)
                seq = max(appended[0], gateway.last_seq if gateway is not None else 0)
                if seq:
                    headers = list(message.get("headers", []))
                    headers.append((EVENT_SEQ.lower().encode(), str(seq).encode()))
                    message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_seq)
        finally:
            _appended.reset(token)


class StreamEnd:
    """The stream's last sequence, asked of NATS for many concurrent reads at once.

    A read may only share an answer to a STREAM.INFO request sent *after* the read arrived: one
    sent before might have been answered before a write it must see was acknowledged. So there
    is at most one request in flight; reads arriving meanwhile join the next one, sent as soon
    as the one in flight resolves. Under load that is one request per round trip, whatever the
    number of reads, at a cost of at most two round trips to each.
    """

    def __init__(self, js: JetStreamContext, stream: str) -> None:
        self.js = js
        self._stream = stream
        self._in_flight: asyncio.Future[int] | None = None
        self._next: asyncio.Future[int] | None = None
        self._asking: set[asyncio.Task[None]] = set()  # referenced until done (not collected)

    async def last_seq(self) -> int:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int]
        if self._in_flight is None:
            future = self._in_flight = loop.create_future()
            self._start(future)
        else:
            if self._next is None:
                self._next = loop.create_future()
            future = self._next
        return await asyncio.shield(future)

    async def _ask(self, future: asyncio.Future[int]) -> None:
        try:
            info = await self.js.stream_info(self._stream)
        except Exception as exc:  # noqa: BLE001 - handed to every read waiting on it
            future.set_exception(exc)
        else:
            future.set_result(int(info.state.last_seq))
        # Retrieved here or not at all: no "exception was never retrieved" for an unawaited one.
        future.exception()
        self._in_flight, self._next = self._next, None
        if self._in_flight is not None:
            self._start(self._in_flight)

    def _start(self, future: asyncio.Future[int]) -> None:
        task = asyncio.get_running_loop().create_task(self._ask(future))
        self._asking.add(task)
        task.add_done_callback(self._asking.discard)


_unchecked = ThrottledWarning(
    log,
    "NATS is not connected: %d read(s) answered from the read models as they are "
    "(event #%d) without waiting for the stream's end",
)


def _unavailable(message: str, seq: int | None, reached: int) -> errors.ApiError:
    details: dict[str, Any] = {"projection_seq": reached}
    if seq is not None:
        details["after_seq"] = seq
    return errors.ApiError(
        ErrorCode.SERVICE_UNAVAILABLE, message, 503, details, {"Retry-After": RETRY_AFTER}
    )


async def read_after(
    request: Request,
    x_after_seq: str = Header(
        default=None, alias=AFTER_SEQ, pattern=SEQ_PATTERN, description=AFTER_SEQ_DESCRIPTION
    ),
) -> None:
    """The dependency of every read route: wait until this replica's read models include the
    write the client names (``X-After-Seq``) or, without it, the stream as it is now."""
    gateway: Any = getattr(request.app.state, "gateway", None)
    follower = gateway.follower if gateway is not None else None
    if follower is None:
        return
    wait = gateway.settings.gateway_read_wait
    started = time.monotonic()
    seq: int | None = int(x_after_seq) if x_after_seq is not None else None
    if seq is not None and follower.last_seq >= seq:
        return
    if seq is None and not gateway.nc.is_connected:
        # Cut off from NATS, this replica cannot learn where the stream ends, and nothing can
        # be written through it either: it answers from what it has rather than refusing every
        # read until NATS is back. A client that must see a write names it (X-After-Seq).
        _unchecked.note(follower.last_seq)
        return
    # Where the stream ends now (asked of NATS): what a read without X-After-Seq waits for, and
    # what X-After-Seq cannot exceed, as every acknowledged write is at or before it.
    try:
        end = await asyncio.wait_for(stream_end(request, gateway).last_seq(), wait)
    except Exception:  # noqa: BLE001 - NATS did not say where the stream ends: not served stale
        raise _unavailable(
            "Cannot tell whether this replica is up to date (NATS did not answer); retry shortly",
            seq,
            follower.last_seq,
        ) from None
    # A sequence past the end was answered to no write (made up, or from a stream since
    # recreated): the stream's end is all there is to wait for.
    target = end if seq is None else min(seq, end)
    try:
        await follower.wait_for(target, timeout=max(wait - (time.monotonic() - started), 0.001))
    except TimeoutError:
        raise _unavailable(
            f"This replica has not yet reached event #{target}; retry shortly",
            seq,
            follower.last_seq,
        ) from None


def stream_end(request: Request, gateway: Any) -> StreamEnd:
    """The app's :class:`StreamEnd`, made on first use for the gateway now serving."""
    state = request.app.state
    end: StreamEnd | None = getattr(state, "stream_end", None)
    if end is None or end.js is not gateway.js:
        end = state.stream_end = StreamEnd(gateway.js, gateway.store.stream)
    return end


def document(app: FastAPI) -> None:
    """``X-Event-Seq`` on the 2xx answers of every write in the OpenAPI document."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        header = {
            "description": EVENT_SEQ_DESCRIPTION,
            "schema": {"type": "string", "pattern": SEQ_PATTERN},
        }
        for operations in schema.get("paths", {}).values():
            for method, operation in operations.items():
                if method.upper() not in WRITES:
                    continue
                for status, answer in operation.get("responses", {}).items():
                    if status.startswith("2"):
                        answer.setdefault("headers", {})[EVENT_SEQ] = header
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


ReadAfter = Depends(read_after)
"""``dependencies=[ReadAfter]`` on a read route."""
