"""Resuming WebSocket streams without loss or duplicates: the decisions, free of I/O.

Both clients run the same loop (connect, read frames, on a drop wait and reconnect) around
these two objects, the sync one with ``websockets.sync`` and the async one with
``websockets.asyncio``:

- :class:`Resume` decides which frames to yield and where to reconnect from. One event can
  become several frames (a ``task_update`` and an ``agent_status``) sharing its ``event_seq``,
  so a drop can fall between them: it reconnects from the event *before* the last one it
  yielded from and skips the frames of that event it already yielded. The gateway renders a
  replayed event exactly as it rendered it live, so the skipped ones are the same frames.
- :class:`Reconnect` decides, after a drop, whether to try again and how long to wait first:
  a refused token is final, a gateway that stays away longer than ``give_up_after`` is a
  :class:`ConnectionFailed`, anything else is retried with a short backoff.
"""

from __future__ import annotations

import json
import time
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from ._exceptions import (
    ConnectionFailed,
    Forbidden,
    OrchestratorError,
    Unauthorized,
    UnexpectedResponse,
    from_ws_error,
)
from ._frames import Frame, parse_frame

WS_POLICY_VIOLATION = 1008
FIRST_DELAY = 0.1
MAX_DELAY = 2.0
DEFAULT_GIVE_UP_AFTER = 60.0


class Resume:
    """Which frames are new, and the ``since`` to reconnect with."""

    def __init__(self, since: int | None) -> None:
        self.last_seq = since
        self._yielded_at_last = 0
        self._to_skip = 0

    def since(self) -> int | None:
        """The ``?since=`` of the next connection, and arm the skipping of what was yielded."""
        self._to_skip = self._yielded_at_last
        if self.last_seq is None:
            return None
        if self._yielded_at_last and self.last_seq > 0:
            return self.last_seq - 1
        return self.last_seq

    def accept(self, frame: Frame) -> bool:
        seq = frame.event_seq
        if seq is None:
            return True  # not persisted, never replayed: nothing to de-duplicate
        if self.last_seq is not None and seq < self.last_seq:
            return False
        if self.last_seq is not None and seq == self.last_seq:
            if self._to_skip:
                self._to_skip -= 1
                return False
            self._yielded_at_last += 1
            return True
        self.last_seq, self._yielded_at_last, self._to_skip = seq, 1, 0
        return True


def decode(raw: str | bytes) -> Frame:
    """One frame; an ``error`` frame (e.g. an unknown execution) raises its exception."""
    try:
        data: Any = json.loads(raw)
    except ValueError as exc:
        raise UnexpectedResponse(f"a WebSocket frame is not JSON: {str(raw)[:100]!r}") from exc
    if not isinstance(data, dict):
        raise UnexpectedResponse(f"a WebSocket frame is not an object: {str(raw)[:100]!r}")
    if data.get("type") == "error":
        raise from_ws_error(data)
    return parse_frame(data)


def refusal(exc: BaseException, url: str) -> OrchestratorError | None:
    """The final error of a drop that retrying cannot fix, or None."""
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        if status == 401:
            return Unauthorized("WebSocket refused: missing or invalid token", status=401)
        if status == 403:
            return Forbidden(
                f"WebSocket handshake refused by {url} (wrong token, or Host/Origin not allowed)",
                status=403,
            )
        if status == 404:
            return OrchestratorError(f"no WebSocket at {url}", code="NOT_FOUND", status=404)
    closed = exc.rcvd if isinstance(exc, ConnectionClosed) else None
    if closed is not None and closed.code == WS_POLICY_VIOLATION:
        reason = closed.reason or "missing or invalid token"
        return Unauthorized(f"WebSocket closed by the gateway: {reason}")
    return None


class Reconnect:
    """After a drop: the seconds to wait before reconnecting, or the error to raise instead."""

    def __init__(self, url: str, give_up_after: float = DEFAULT_GIVE_UP_AFTER) -> None:
        self.url = url
        self.give_up_after = give_up_after
        self._failing_since: float | None = None
        self._delay = FIRST_DELAY

    def connected(self) -> None:
        self._failing_since = None
        self._delay = FIRST_DELAY

    def after_drop(self, exc: BaseException | None) -> float:
        if exc is not None:
            final = refusal(exc, self.url)
            if final is not None:
                raise final from exc
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        elif now - self._failing_since > self.give_up_after:
            reason = type(exc).__name__ if exc is not None else "closed"
            raise ConnectionFailed(self.url, f"{reason}; gave up after {self.give_up_after:g}s")
        delay = self._delay
        self._delay = min(self._delay * 2, MAX_DELAY)
        return delay


# What a drop or a failed (re)connect raises, for the loops to catch.
DROPS: tuple[type[BaseException], ...] = (OSError, TimeoutError, WebSocketException)
