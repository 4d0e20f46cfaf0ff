"""Localhost safety: what a web page the user happens to visit must not be able to do.

A page can send "simple" cross-site requests to 127.0.0.1 (GET, or POST with a form or text
body), open WebSockets (CORS does not cover them), and with DNS rebinding even read responses.
:class:`LocalhostGuard`, an ASGI middleware in front of every route, applies every defence:

1. ``Host`` must be an allowed name (``GATEWAY_ALLOWED_HOSTS``), else 403: the rebinding fix.
   Only the name is compared; a rebound name never matches whatever the port.
2. A request or WebSocket handshake carrying a foreign ``Origin`` is refused (403). Clients that
   are not browsers (the SDK, curl) send no ``Origin`` and pass. The allow-list is exact: the
   gateway's own loopback origins plus ``GATEWAY_ALLOWED_ORIGINS``; never "Origin equals Host".
3. A body on POST/PUT/PATCH/DELETE must be ``application/json`` (415), so a cross-site request
   needs a CORS preflight, which gets no permissive answer. An EMPTY body is allowed whatever its
   content type: ``requests.post(url)`` for reset/run/restore sends none.
   One exception, :func:`raw_body_allowed`: ``PUT /api/workspace/files/{path}`` takes the file's
   raw bytes, as ``application/octet-stream``, any ``text/*``, ``application/json`` or with no
   content type at all. This keeps the CSRF defence because of the METHOD, not the type: a form
   can only GET or POST, and ``fetch`` with ``PUT`` is never a CORS "simple request" (the simple
   methods are GET, HEAD and POST), so a foreign page's PUT is preflighted whatever its body type,
   and the preflight gets no permissive answer (and its ``Origin`` is refused by rule 2 anyway).
   Form encodings (``application/x-www-form-urlencoded``, ``multipart/form-data``) stay refused:
   they are not a file's bytes but a form's, and storing them as the file would be wrong (it is
   what ``curl --data-binary`` sends without ``-H 'Content-Type: ...'``).
4. Bodies are capped at ``GATEWAY_MAX_BODY_BYTES`` (413), counted while reading, so a chunked body
   without ``Content-Length`` is capped too; a larger WebSocket message closes the socket (1009).
5. With ``GATEWAY_TOKEN`` set every route wants ``Authorization: Bearer <token>`` (401), except
   a GET of the dashboard's own static files (``/``, ``/docs``, ``/dashboard/...``) and of the
   probes (``/healthz``, ``/readyz``), which hold no data: a browser cannot send a header when
   it navigates, so the page asks for the token (and a kubelet sends none). A
   WebSocket client may send the header, or, as browsers cannot, the token as its first message
   (``{"type": "auth", "token": "..."}`` or the bare token); until that message arrives nothing the
   route sends reaches the client, and a wrong or missing one closes the socket (1008).

``authorize_websocket`` is the same check for WebSocket routes to call before ``accept`` (defence
in depth should a route ever be mounted outside the middleware); the first-message token is
handled here in the middleware, transparently to the route.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import Any

from fastapi import WebSocket
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator.events.error_codes import ErrorCode

from . import errors
from .routes.dashboard import is_static
from .routes.probes import PROBE_PATHS
from .settings import GatewaySettings

log = logging.getLogger(__name__)

BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
JSON_TYPES = {"application/json"}
RAW_BODY_PREFIX = "/api/workspace/files/"
RAW_TYPES = {"application/octet-stream", "application/json", ""}
FILE_METHODS = {"PUT", "DELETE"}  # the body methods of the file routes, beside GET
WS_POLICY_VIOLATION = 1008
WS_MESSAGE_TOO_BIG = 1009
AUTH_MESSAGE_TIMEOUT = 10.0


def host_name(host_header: str) -> str:
    """The name part of a ``Host`` header, lower-cased: ``[::1]:8100`` -> ``[::1]``."""
    value = host_header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[: end + 1] if end != -1 else value
    return value.rsplit(":", 1)[0] if ":" in value else value


def raw_body_allowed(method: str, path: str) -> bool:
    """Whether this request may carry a raw (not JSON) body: a file written by ``PUT``."""
    return method == "PUT" and path.startswith(RAW_BODY_PREFIX)


def raw_type_allowed(media_type: str) -> bool:
    return media_type in RAW_TYPES or media_type.startswith("text/")


def _media_refusal(scope: Scope, media_type: str, has_body: bool) -> str | None:
    """The media type a refused body should have had, or None when this one is accepted."""
    if raw_body_allowed(scope["method"], scope["path"]):
        return None if raw_type_allowed(media_type) else "application/octet-stream"
    if has_body and media_type not in JSON_TYPES:
        return "application/json"
    return None


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


class Policy:
    """The decisions, from the settings alone, so they are the same for HTTP and WebSocket."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.hosts = set(settings.allowed_hosts)
        if settings.gateway_host not in ("0.0.0.0", "::"):  # noqa: S104 - a name, not a bind
            self.hosts.add(host_name(settings.gateway_host))
        self.origins = settings.allowed_origins
        self.token = settings.gateway_token
        self.max_body = settings.gateway_max_body_bytes

    def host_refusal(self, headers: dict[str, str]) -> str | None:
        host = headers.get("host")
        if host is None:
            return "Missing Host header"
        if host_name(host) not in self.hosts:
            return "Host not allowed"
        return None

    def origin_refusal(self, headers: dict[str, str]) -> str | None:
        origin = headers.get("origin")
        if origin is not None and origin.rstrip("/") not in self.origins:
            return "Cross-origin request refused"
        return None

    def token_ok(self, presented: str | None) -> bool:
        if not self.token:
            return True
        if presented is None:
            return False
        return hmac.compare_digest(presented.encode(), self.token.encode())

    @staticmethod
    def bearer(headers: dict[str, str]) -> str | None:
        value = headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class LocalhostGuard:
    """ASGI middleware applying :class:`Policy` to every HTTP request and WebSocket handshake."""

    def __init__(self, app: ASGIApp, settings: GatewaySettings) -> None:
        self.app = app
        self.policy = Policy(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        refusal = self.policy.host_refusal(headers) or self.policy.origin_refusal(headers)
        if refusal:
            await _reply(
                scope, receive, send, code=ErrorCode.FORBIDDEN, message=refusal, status=403
            )
            return
        path = scope["path"]
        static = scope["method"] in ("GET", "HEAD") and (is_static(path) or path in PROBE_PATHS)
        if not static and not self.policy.token_ok(self.policy.bearer(headers)):
            await _reply(
                scope,
                receive,
                send,
                code=ErrorCode.UNAUTHORIZED,
                message="Missing or invalid bearer token",
                status=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            return
        if scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith(RAW_BODY_PREFIX) and scope["method"] not in FILE_METHODS:
            # Answered before the body is judged: the method is what is wrong, not its body.
            await _reply(
                scope,
                receive,
                send,
                code=ErrorCode.METHOD_NOT_ALLOWED,
                message=f"Method {scope['method']} not allowed on {scope['path'][:200]}",
                status=405,
                headers={"Allow": "GET, PUT, DELETE"},
            )
            return
        body = await self._read_body(scope, receive, send, headers)
        if body is not None:
            await self.app(scope, _replay(body, receive), send)

    async def _read_body(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str]
    ) -> bytes | None:
        """The whole body, or None once a refusal has been sent (or the client went away)."""
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.policy.max_body:
            await self._too_large(scope, receive, send)
            return None
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            more = bool(message.get("more_body", False))
            if len(body) > self.policy.max_body:
                await self._too_large(scope, receive, send)
                return None
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        expected = _media_refusal(scope, media_type, bool(body))
        if expected is not None:
            await _reply(
                scope,
                receive,
                send,
                code=ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                message=f"Request body must be {expected}",
                status=415,
                details={"received": media_type or "none", "expected": expected},
            )
            return None
        return bytes(body)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _reply(
            scope,
            receive,
            send,
            code=ErrorCode.PAYLOAD_TOO_LARGE,
            message="Request body too large",
            status=413,
            details={"max_bytes": self.policy.max_body},
        )

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        refusal = self.policy.host_refusal(headers) or self.policy.origin_refusal(headers)
        if refusal:
            log.info("refused WebSocket handshake: %s", refusal)
            await send({"type": "websocket.close", "code": WS_POLICY_VIOLATION})
            return
        receive = _capped(receive, send, self.policy.max_body)
        bearer = self.policy.bearer(headers)
        if bearer is not None:
            if not self.policy.token_ok(bearer):
                await send({"type": "websocket.close", "code": WS_POLICY_VIOLATION})
                return
            await self.app(scope, receive, send)
            return
        if self.policy.token_ok(None):  # no token configured
            await self.app(scope, receive, send)
            return
        gate = _FirstMessageAuth(self.policy, receive, send)
        await self.app(scope, gate.receive, gate.send)


class _FirstMessageAuth:
    """Holds a WebSocket between the route's ``accept`` and the client's token message.

    The route accepts as usual; the accept goes out, then this waits for the client's first
    message. A valid token is swallowed and the route carries on, unaware; anything else closes
    the socket and the route sees a disconnect. Nothing the route sends leaves before that.
    """

    def __init__(self, policy: Policy, receive: Receive, send: Send) -> None:
        self._policy = policy
        self._receive = receive
        self._send = send
        self._state = "pending"  # pending -> open | closed
        self._ready = asyncio.Event()

    async def send(self, message: Message) -> None:
        if message["type"] == "websocket.accept" and self._state == "pending":
            await self._send(message)
            self._state = "open" if await self._authenticate() else "closed"
            self._ready.set()
            return
        if self._state == "closed":
            return
        if self._state == "pending" and message["type"] == "websocket.close":
            self._state = "closed"
            self._ready.set()
        await self._send(message)

    async def receive(self) -> Message:
        if self._state == "pending" and not self._ready.is_set():
            # A route reads before it accepted: only the connect message can come first.
            message = await self._receive()
            if message["type"] == "websocket.connect":
                return message
            return {"type": "websocket.disconnect", "code": WS_POLICY_VIOLATION}
        if self._state == "closed":
            return {"type": "websocket.disconnect", "code": WS_POLICY_VIOLATION}
        return await self._receive()

    async def _authenticate(self) -> bool:
        try:
            message = await asyncio.wait_for(self._receive(), AUTH_MESSAGE_TIMEOUT)
        except TimeoutError:
            message = {"type": "timeout"}
        token = _token_from_message(message)
        if token is not None and self._policy.token_ok(token):
            return True
        if message["type"] != "websocket.disconnect":
            await self._send({"type": "websocket.close", "code": WS_POLICY_VIOLATION})
        return False


def _token_from_message(message: Message) -> str | None:
    if message.get("type") != "websocket.receive":
        return None
    text = message.get("text")
    if text is None and message.get("bytes") is not None:
        text = bytes(message["bytes"]).decode(errors="replace")
    if not text:
        return None
    text = text.strip()
    try:
        data: Any = json.loads(text)
    except ValueError:
        return text.removeprefix("Bearer ").strip() or None
    if isinstance(data, dict) and isinstance(data.get("token"), str):
        token: str = data["token"]
        return token
    return None


def _capped(receive: Receive, send: Send, limit: int) -> Receive:
    """A WebSocket receive that closes the socket (1009) on a message larger than ``limit``."""

    async def capped() -> Message:
        message = await receive()
        if message["type"] == "websocket.receive":
            size = len(message.get("text") or "") + len(message.get("bytes") or b"")
            if size > limit:
                await send({"type": "websocket.close", "code": WS_MESSAGE_TOO_BIG})
                return {"type": "websocket.disconnect", "code": WS_MESSAGE_TOO_BIG}
        return message

    return capped


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _reply(
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    code: str,
    message: str,
    status: int,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    response = errors.envelope(code, message, status, details, headers)
    await response(scope, receive, send)


async def authorize_websocket(websocket: WebSocket) -> bool:
    """Check a WebSocket handshake's Host, Origin and (header) token before ``accept``.

    Returns False after closing the socket when it must be refused. :class:`LocalhostGuard`
    already applied the same checks to every handshake and handles a token sent as the first
    message, so a route calls this, then ``accept`` as usual.
    """
    settings: GatewaySettings = websocket.app.state.settings
    policy = Policy(settings)
    headers = {k.lower(): v for k, v in websocket.headers.items()}
    refused = policy.host_refusal(headers) or policy.origin_refusal(headers)
    bearer = policy.bearer(headers)
    if not refused and bearer is not None and not policy.token_ok(bearer):
        refused = "invalid bearer token"
    if refused:
        log.info("refused WebSocket handshake: %s", refused)
        await websocket.close(code=WS_POLICY_VIOLATION)
        return False
    return True
