"""The window arithmetic of the rate limits, pure: the stored counts and the clock come in.

See :mod:`.ratelimit` for the scheme (a fixed minute's count, plus the previous minute's weighted
by how much of it the last 60 s still cover) and why.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, replace

WINDOW_SECONDS = 60.0


def counter_key(kind: str, identity: str) -> str:
    """The bucket key of one client's counts in one category: a hash, never the identity."""
    digest = hashlib.sha256(f"{kind}\0{identity}".encode()).hexdigest()[:40]
    return f"{kind}.{digest}"


@dataclass(frozen=True)
class WindowCounts:
    """Requests admitted in minute ``window`` (``floor(t / 60)``) and in the minute before it."""

    window: int
    current: int = 0
    previous: int = 0

    def seen_from(self, window: int) -> WindowCounts:
        """These counts in minute ``window``: rolled on, and forgotten once two minutes old."""
        if window <= self.window:  # the same minute, or a replica whose clock runs ahead wrote it
            return self
        if window == self.window + 1:
            return WindowCounts(window, 0, self.current)
        return WindowCounts(window)

    def without_one_of(self, window: int) -> WindowCounts:
        """These counts with one request admitted in minute ``window`` taken back (a request
        the server failed); unchanged when that minute is no longer counted or holds none."""
        if window == self.window and self.current > 0:
            return replace(self, current=self.current - 1)
        if window == self.window - 1 and self.previous > 0:
            return replace(self, previous=self.previous - 1)
        return self

    def encode(self) -> bytes:
        return json.dumps(
            {"window": self.window, "current": self.current, "previous": self.previous}
        ).encode()

    @classmethod
    def decode(cls, data: bytes) -> WindowCounts | None:
        """None for anything unreadable: counting afresh beats refusing a client forever."""
        try:
            raw = json.loads(data)
            counts = cls(int(raw["window"]), int(raw["current"]), int(raw["previous"]))
        except (ValueError, TypeError, KeyError):
            return None
        return counts if counts.current >= 0 and counts.previous >= 0 else None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    counts: WindowCounts
    """Allowed: the counts to store, this request included. Refused: the counts as they stand."""
    retry_after: float = 0.0
    """Refused: seconds until this client's next request would be admitted."""


def decide(
    stored: WindowCounts | None, now: float, limit: int, window: float = WINDOW_SECONDS
) -> Decision:
    """Whether one more request is admitted at wall-clock time ``now``, given the stored counts."""
    index = math.floor(now / window)
    counts = (stored or WindowCounts(index)).seen_from(index)
    elapsed = min(max(now - counts.window * window, 0.0), window)
    estimate = counts.previous * (1 - elapsed / window) + counts.current
    if estimate < limit:
        return Decision(True, replace(counts, current=counts.current + 1))
    return Decision(False, counts, _retry_after(counts, elapsed, limit, window))


def _retry_after(counts: WindowCounts, elapsed: float, limit: int, window: float) -> float:
    if counts.current < limit:
        # This minute has room: the previous minute's weight has to fade enough first.
        return window * (1 - (limit - counts.current) / counts.previous) - elapsed
    # This minute is spent: wait for the next, where this minute's count is the previous one.
    return window - elapsed + window * max(0.0, 1 - limit / counts.current)
