"""Rate limits: requirements 10, file operations 100, archive operations 20 a minute, per client.

They hold whatever gateway replica a client reaches: the counts live in NATS (the key-value
bucket ``ratelimit``, see :mod:`.ratelimit_store`), not in the process.

Who the client is, :mod:`.client_identity` decides: its token when the gateway checks tokens,
else its address (``X-Forwarded-For`` only through ``GATEWAY_TRUSTED_PROXIES``).

The window slides, approximately: the counts are per fixed minute (aligned on the epoch), and a
request is admitted while ``previous * (1 - elapsed / 60) + current < limit``, the previous
minute's count weighted by how much of it the last 60 s still cover. For a client that was idle
the minute before it is exact (the eleventh requirement is refused, whichever replicas served the
ten); across a minute boundary it assumes the previous minute's requests were spread evenly, so
a client that spent its whole budget in the last second of a minute gets a few more soon after
the next begins, where a fixed window would give it a whole second budget at once. Only admitted
requests count; a refusal's ``Retry-After`` says when this client's next request would be
admitted (at most 60 s). A request admitted and then failed by the server (5xx) is taken back from
the counts, so retrying it, as a 503 asks, is not refused because of it.

When the counts cannot be read or written (NATS unreachable, or slower than
:data:`.ratelimit_store.COUNTER_TIMEOUT`), the request is admitted unchecked and the gateway logs
it (the first at once, then one line a minute with how many): a limiter must not turn a NATS
outage into 429s, and a request that needs NATS fails with its own error anyway.

Categories:
- ``requirements``: ``POST /api/requirements`` (submissions only; reading tasks is not limited).
- ``files``: every request under ``/api/workspace/`` (list, read, run, ...).
- ``archive``: every request under ``/api/archive`` and ``POST /api/project/reset``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator.events.error_codes import ErrorCode

from . import errors
from .client_identity import client_address, client_identity
from .rate_windows import WINDOW_SECONDS, counter_key
from .ratelimit_store import SharedWindows, WindowsUnavailable
from .security import Policy
from .settings import GatewaySettings
from .throttled_log import ThrottledWarning

log = logging.getLogger(__name__)

Refund = Callable[[], Awaitable[bool]]
"""Takes an admitted request back from its client's counts; False when it could not."""


def category(method: str, path: str) -> str | None:
    """Which limited category a request falls in, or None when it is not limited."""
    if path.rstrip("/") == "/api/requirements" and method == "POST":
        return "requirements"
    if (
        method == "POST"
        and path.startswith("/api/tasks/")
        and path.rstrip("/").endswith("/feedback")
    ):
        return "requirements"  # feedback on a completed task submits a requirement
    if path.startswith("/api/workspace/"):
        return "files"
    if path.rstrip("/") == "/api/archive" or path.startswith("/api/archive/"):
        return "archive"
    if path.rstrip("/") == "/api/project/reset" and method == "POST":
        return "archive"
    return None


def _shared_windows(scope: Scope) -> SharedWindows | None:
    """The gateway's counts in NATS, once its lifespan has built them."""
    gateway: Any = getattr(scope["app"].state, "gateway", None)
    return gateway.rate_windows if gateway is not None else None


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, settings: GatewaySettings) -> None:
        self.app = app
        self.limits = {
            "requirements": settings.rate_limit_requirements,
            "files": settings.rate_limit_files,
            "archive": settings.rate_limit_archive,
        }
        self.trusted_proxies = settings.trusted_proxies
        # The guard in front refused every other token, so one that gets here is genuine.
        self.tokens_checked = bool(settings.gateway_token)
        self.unchecked = ThrottledWarning(
            log, "rate limits not checked, %d request(s) admitted unchecked (latest: %s): %s"
        )

    def identity(self, scope: Scope) -> str:
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        forwarded = [v.decode("latin-1") for k, v in headers if k.lower() == b"x-forwarded-for"]
        client = scope.get("client")
        address = client_address(client[0] if client else None, forwarded, self.trusted_proxies)
        token = None
        if self.tokens_checked:
            auth = next(
                (v.decode("latin-1") for k, v in headers if k.lower() == b"authorization"), ""
            )
            token = Policy.bearer({"authorization": auth})
        return client_identity(address, token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kind = category(scope["method"], scope["path"])
        if kind is None:
            await self.app(scope, receive, send)
            return
        limit = self.limits[kind]
        try:
            windows = _shared_windows(scope)
            if windows is None:
                raise WindowsUnavailable("the gateway is not started")
            key = counter_key(kind, self.identity(scope))
            decision = await windows.hit(key, limit)
        except WindowsUnavailable as exc:
            self.unchecked.note(kind, exc)
            await self.app(scope, receive, send)
            return
        if decision.allowed:
            refund = partial(windows.refund, key, decision.counts.window)
            await self._counted(self.app, scope, receive, send, refund)
            return
        retry_after = max(1, math.ceil(decision.retry_after))
        response = errors.envelope(
            ErrorCode.RATE_LIMITED,
            f"Rate limit exceeded: {limit} {kind} requests per minute",
            429,
            {"category": kind, "limit": limit, "window_seconds": int(WINDOW_SECONDS)},
            headers={"Retry-After": str(retry_after)},
        )
        await response(scope, receive, send)

    @staticmethod
    async def _counted(
        app: ASGIApp, scope: Scope, receive: Receive, send: Send, refund: Refund
    ) -> None:
        """Serve an admitted request; one the server fails (5xx, or no answer at all) is taken
        back from the counts, so a client's retry of it is not refused for it."""
        status: int | None = None

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_noting_status)
        finally:
            if (status is None or status >= 500) and not await refund():
                log.warning("a failed request stays counted against its client's rate limit")
