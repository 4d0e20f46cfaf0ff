"""Where the gateway is and how to authenticate: from arguments, else the environment.

``ORCHESTRATOR_URL`` (default ``http://127.0.0.1:8100``) and ``ORCHESTRATOR_TOKEN`` (the
gateway's ``GATEWAY_TOKEN``, sent as ``Authorization: Bearer``, on WebSocket handshakes too).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx

from ._exceptions import InvalidGatewayUrl

DEFAULT_URL = "http://127.0.0.1:8100"
URL_ENV = "ORCHESTRATOR_URL"
TOKEN_ENV = "ORCHESTRATOR_TOKEN"  # noqa: S105 - the variable's name, not a token
DEFAULT_TIMEOUT = 60.0  # above the gateway's own 30 s wait for a service


@dataclass(frozen=True)
class Config:
    base_url: str
    token: str | None
    timeout: float

    @classmethod
    def resolve(
        cls,
        base_url: str | None = None,
        token: str | None = None,
        timeout: float | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Config:
        env = os.environ if environ is None else environ
        return cls(
            base_url=checked_url(base_url or env.get(URL_ENV) or DEFAULT_URL),
            token=token if token is not None else (env.get(TOKEN_ENV) or None),
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
        )

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def ws_url(self, path: str, query: Mapping[str, str | int] | None = None) -> str:
        """``path`` on the gateway as a ``ws://`` (or ``wss://``) URL."""
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        prefix = parts.path.rstrip("/")
        encoded = urlencode({k: str(v) for k, v in (query or {}).items()})
        return urlunsplit((scheme, parts.netloc, prefix + path, encoded, ""))


def checked_url(raw: str) -> str:
    """``raw`` without its trailing slashes, once it is an http(s) URL with a host that both
    httpx and the WebSocket side (``urlsplit``) can use; else :class:`InvalidGatewayUrl`."""
    url = raw.rstrip("/")
    try:
        parts = urlsplit(url)
        _ = parts.port  # a port that is not a number in range raises here, not at first use
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL) as exc:
        raise InvalidGatewayUrl(raw, str(exc) or type(exc).__name__) from None
    if parts.scheme not in ("http", "https"):
        hint = f" (did you mean http://{url}?)" if "://" not in url else ""
        raise InvalidGatewayUrl(raw, f"it must start with http:// or https://{hint}")
    if not parts.hostname:
        raise InvalidGatewayUrl(raw, "it names no host")
    return url
