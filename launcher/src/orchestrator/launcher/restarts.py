"""When to restart a service that died, and when to give up on it. Pure: the clock is passed in.

The delay doubles with each crash inside the window (``initial``, ``2 * initial``, … up to
``maximum``), as a container runtime's back-off does; crashes older than the window are
forgotten, so a service that ran well for a while starts again from the shortest delay. More
than ``max_restarts`` crashes within the window and the service is given up on: restarting
something that fails at every start only fills its log.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class RestartPolicy:
    max_restarts: int = 5
    window: float = 60.0
    initial: float = 0.5
    maximum: float = 30.0
    _crashes: deque[float] = field(default_factory=deque, init=False, repr=False)

    def crashed(self, now: float) -> float | None:
        """Record a crash at ``now``; the seconds to wait before restarting, or None to give up."""
        self._crashes.append(now)
        while self._crashes and self._crashes[0] <= now - self.window:
            self._crashes.popleft()
        recent = len(self._crashes)
        if recent > self.max_restarts:
            return None
        return float(min(self.initial * 2 ** (recent - 1), self.maximum))

    @property
    def recent_crashes(self) -> int:
        return len(self._crashes)
