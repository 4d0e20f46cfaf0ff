"""Rate limits: rate limits: requirements 10, file operations 100, archive operations 20 a minute.

The key is (client IP, category): each client address has its own budget per category. The
gateway runs with ``proxy_headers`` off, so the address is the TCP peer and cannot be spoofed with
``X-Forwarded-For``; on a loopback-only gateway every local client shares one budget, which is
what "single-user mode" means. Windows are sliding (the last 60 s), kept in memory per gateway
replica: with N replicas behind a balancer a client gets at most N times the limit, the usual
trade for not putting a shared counter on every request's path.

Categories:
- ``requirements``: ``POST /api/requirements`` (submissions only; reading tasks is not limited).
- ``files``: every request under ``/api/workspace/`` (list, read, run, ...).
- ``archive``: every request under ``/api/archive`` and ``POST /api/project/reset``.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from orchestrator.events.error_codes import ErrorCode

from . import errors
from .settings import GatewaySettings

WINDOW_SECONDS = 60.0


def category(method: str, path: str) -> str | None:
    """Which limited category a request falls in, or None when it is not limited."""
    if path.rstrip("/") == "/api/requirements" and method == "POST":
        return "requirements"
    if path.startswith("/api/workspace/"):
        return "files"
    if path.rstrip("/") == "/api/archive" or path.startswith("/api/archive/"):
        return "archive"
    if path.rstrip("/") == "/api/project/reset" and method == "POST":
        return "archive"
    return None


class SlidingWindowLimiter:
    """At most ``limit`` hits per key in any ``window`` seconds. Pure: the clock is passed in."""

    def __init__(
        self,
        limit: int,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._last_sweep = clock()

    def hit(self, key: str) -> float:
        """Record a hit; return 0 when allowed, else the seconds until the next one would be."""
        now = self._clock()
        self._sweep(now)
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return max(hits[0] + self.window - now, 0.001)
        hits.append(now)
        return 0.0

    def _sweep(self, now: float) -> None:
        """Forget idle keys now and then, so many clients cannot grow memory without bound."""
        if now - self._last_sweep < self.window:
            return
        self._last_sweep = now
        idle = [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - self.window]
        for key in idle:
            del self._hits[key]


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, settings: GatewaySettings) -> None:
        self.app = app
        self.limiters = {
            "requirements": SlidingWindowLimiter(settings.rate_limit_requirements),
            "files": SlidingWindowLimiter(settings.rate_limit_files),
            "archive": SlidingWindowLimiter(settings.rate_limit_archive),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kind = category(scope["method"], scope["path"])
        if kind is None:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        key = client[0] if client else "unknown"
        limiter = self.limiters[kind]
        wait = limiter.hit(key)
        if wait == 0.0:
            await self.app(scope, receive, send)
            return
        retry_after = max(1, math.ceil(wait))
        response = errors.envelope(
            ErrorCode.RATE_LIMITED,
            f"Rate limit exceeded: {limiter.limit} {kind} requests per minute",
            429,
            {"category": kind, "limit": limiter.limit, "window_seconds": int(limiter.window)},
            headers={"Retry-After": str(retry_after)},
        )
        await response(scope, receive, send)
