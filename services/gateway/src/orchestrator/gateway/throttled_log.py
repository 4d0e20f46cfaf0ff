"""A warning for something let through unchecked, many times a second if need be: the first at
once, then at most one a minute, each counting the times since the one before."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

EVERY = 60.0
"""Seconds between two lines at most."""


class ThrottledWarning:
    """``note(*args)`` logs ``message % (count, *args)`` on ``logger``, throttled to one a
    minute; ``count`` is how many notes the line stands for."""

    def __init__(
        self, logger: logging.Logger, message: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._log = logger
        self._message = message
        self._clock = clock
        self._last: float | None = None
        self._since = 0

    def note(self, *args: object) -> None:
        self._since += 1
        now = self._clock()
        if self._last is not None and now - self._last < EVERY:
            return
        self._log.warning(self._message, self._since, *args)
        self._last, self._since = now, 0
