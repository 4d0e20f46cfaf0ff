"""A wire-faithful fake of the Anthropic Messages and OpenAI Chat Completions HTTP APIs.

It runs a real HTTP server (uvicorn, in a thread) on a free loopback port; code under test reaches
it only through ``base_url`` (``ANTHROPIC_BASE_URL=fake.anthropic_base_url``,
``OPENAI_BASE_URL=fake.openai_base_url``), using the real SDKs. It speaks:

- ``POST /v1/messages`` (Anthropic): a plain ``message`` body, or with ``"stream": true`` the SSE
  sequence ``message_start``, ``content_block_start``, ``ping``, ``content_block_delta``…,
  ``content_block_stop``, ``message_delta`` (stop reason, usage), ``message_stop``; text and
  ``tool_use`` blocks (``input_json_delta`` when streamed); errors as
  ``{"type": "error", "error": {"type", "message"}, "request_id"}`` with a ``request-id`` header.
- ``POST /v1/chat/completions`` (OpenAI): a ``chat.completion`` body, or streamed
  ``chat.completion.chunk`` events ending in ``data: [DONE]``, with a usage chunk when
  ``stream_options.include_usage`` is set; content or ``tool_calls``; errors as
  ``{"error": {"message", "type", "param", "code"}}``.

Tests script it per endpoint: ``fake.anthropic.push(Text("..."))`` queues replies in order; when a
queue is empty the endpoint's ``responder`` (a function of the request) answers, and without one
a 500 says the test ran out of script. Every request is recorded with its headers and JSON body,
so a test can assert which key reached the provider and which calls were made.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

ANTHROPIC = "anthropic"
OPENAI = "openai"


# ---------------------------------------------------------------------------------------------
# Replies a test can script
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """A text answer (for OpenAI: ``message.content``; for Anthropic: one text block)."""

    text: str
    input_tokens: int = 10
    output_tokens: int | None = None  # default: one per streamed chunk
    delay: float = 0.0  # seconds before the response starts
    chunk_delay: float = 0.0  # seconds between streamed chunks
    chunk_size: int = 16  # characters per streamed delta
    gate: threading.Event | None = None  # hold the response until the test sets it
    stream_error: str | None = None  # OpenAI: end the stream with this error instead of a finish


@dataclass(frozen=True)
class ToolCall:
    """A tool call: Anthropic ``tool_use`` block, OpenAI ``tool_calls`` entry."""

    name: str
    arguments: dict[str, Any]
    input_tokens: int = 10
    output_tokens: int = 20
    delay: float = 0.0
    chunk_delay: float = 0.0
    chunk_size: int = 32


@dataclass(frozen=True)
class Error:
    """An HTTP error in the provider's own body shape."""

    status: int
    message: str | None = None
    retry_after: float | None = None
    delay: float = 0.0


@dataclass(frozen=True)
class Hang:
    """Accept the request and never answer (until the fake stops): a provider that is stuck."""

    seconds: float = 3600.0


Reply = Text | ToolCall | Error | Hang
Responder = Callable[["RecordedRequest"], Reply]


@dataclass(frozen=True)
class RecordedRequest:
    endpoint: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float

    @property
    def api_key(self) -> str | None:
        """The key the client sent: the Bearer token, or Anthropic's older ``x-api-key``.

        (anthropic 2.x sends the key as ``Authorization: Bearer``; 0.x sent ``x-api-key``.)
        """
        if self.endpoint == ANTHROPIC and self.headers.get("x-api-key"):
            return self.headers["x-api-key"]
        auth = self.headers.get("authorization", "")
        return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def text(self) -> str:
        """Every prompt string in the request, joined: for matching on content in tests."""
        parts: list[str] = []
        system = self.body.get("system")
        if isinstance(system, str):
            parts.append(system)
        elif isinstance(system, list):
            parts.extend(str(b.get("text", "")) for b in system if isinstance(b, dict))
        for message in self.body.get("messages", []):
            content = message.get("content")
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts.extend(str(b.get("text", "")) for b in content if isinstance(b, dict))
        return "\n".join(parts)


@dataclass
class Endpoint:
    """One provider's script: a queue of replies, then the responder."""

    name: str
    queue: deque[Reply] = field(default_factory=deque)
    responder: Responder | None = None
    required_key: str | None = None
    """When set, a request with any other key gets the provider's 401."""

    def push(self, *replies: Reply) -> None:
        self.queue.extend(replies)

    def next_reply(self, request: RecordedRequest) -> Reply:
        if self.queue:
            return self.queue.popleft()
        if self.responder is not None:
            return self.responder(request)
        return Error(500, f"fake {self.name}: no scripted reply left")


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------


class FakeLLM:
    """Both providers on one loopback port. Use as a context manager or ``start()``/``stop()``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.anthropic = Endpoint(ANTHROPIC)
        self.openai = Endpoint(OPENAI)
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._in_flight = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeLLM:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app(),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        server = self._server
        self._thread = threading.Thread(
            target=lambda: server.run(sockets=[sock]), name="fake-llm", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake LLM server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def anthropic_base_url(self) -> str:
        """What ``ANTHROPIC_BASE_URL`` is set to: the SDK appends ``/v1/messages``."""
        return self.url

    @property
    def openai_base_url(self) -> str:
        """What ``OPENAI_BASE_URL`` is set to: the SDK appends ``/chat/completions``."""
        return f"{self.url}/v1"

    def env(
        self, anthropic_key: str | None = "sk-ant-test", openai_key: str | None = "sk-test"
    ) -> dict[str, str]:
        """Environment variables that point the SDKs (and our services) at this fake."""
        env = {
            "ANTHROPIC_BASE_URL": self.anthropic_base_url,
            "OPENAI_BASE_URL": self.openai_base_url,
        }
        if anthropic_key is not None:
            env["ANTHROPIC_API_KEY"] = anthropic_key
        if openai_key is not None:
            env["OPENAI_API_KEY"] = openai_key
        return env

    # -- what was asked ----------------------------------------------------------------------

    def requests_to(self, endpoint: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.endpoint == endpoint]

    def matching(self, needle: str) -> list[RecordedRequest]:
        """Requests whose prompt text contains ``needle``."""
        with self._lock:
            return [r for r in self.requests if needle in r.text]

    @property
    def in_flight(self) -> int:
        """Requests whose response has not finished (a client that hung up counts as finished)."""
        return self._in_flight

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.anthropic.queue.clear()
            self.openai.queue.clear()

    # -- HTTP --------------------------------------------------------------------------------

    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/messages", self._messages, methods=["POST"]),
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
            ]
        )

    async def _record(self, endpoint: Endpoint, request: Request) -> tuple[RecordedRequest, Any]:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        recorded = RecordedRequest(
            endpoint=endpoint.name,
            path=request.url.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body if isinstance(body, dict) else {},
            at=time.time(),
        )
        with self._lock:
            self.requests.append(recorded)
        return recorded, body

    async def _messages(self, request: Request) -> Response:
        recorded, body = await self._record(self.anthropic, request)
        if not isinstance(body, dict) or "model" not in body or "messages" not in body:
            return _anthropic_error(400, "invalid_request_error", "messages: field required")
        key = recorded.api_key
        required = self.anthropic.required_key
        if not key or (required is not None and key != required):
            return _anthropic_error(401, "authentication_error", "invalid x-api-key")
        with self._lock:
            reply = self.anthropic.next_reply(recorded)
        return await self._respond(reply, recorded, _AnthropicWire(recorded))

    async def _chat(self, request: Request) -> Response:
        recorded, body = await self._record(self.openai, request)
        if not isinstance(body, dict) or "model" not in body or "messages" not in body:
            return _openai_error(400, "you must provide a model parameter", "invalid_request_error")
        key = recorded.api_key
        required = self.openai.required_key
        if not key or (required is not None and key != required):
            shown = f"{key[:3]}...{key[-4:]}" if key and len(key) > 8 else "***"
            return _openai_error(
                401,
                f"Incorrect API key provided: {shown}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                code="invalid_api_key",
            )
        with self._lock:
            reply = self.openai.next_reply(recorded)
        return await self._respond(reply, recorded, _OpenAIWire(recorded))

    async def _respond(self, reply: Reply, recorded: RecordedRequest, wire: _Wire) -> Response:
        if isinstance(reply, Hang):
            await asyncio.sleep(reply.seconds)
            return wire.error(Error(500, "hung request released"))
        if reply.delay:
            await asyncio.sleep(reply.delay)
        gate = getattr(reply, "gate", None)
        if gate is not None:
            # A threading.Event (set from the test's thread), waited on without blocking the loop.
            while not gate.is_set() and self._server is not None:
                await asyncio.to_thread(gate.wait, 0.25)
        if isinstance(reply, Error):
            return wire.error(reply)
        if not recorded.stream:
            return JSONResponse(wire.body(reply), headers=wire.headers())
        return StreamingResponse(
            self._counted(wire.events(reply), reply.chunk_delay),
            media_type="text/event-stream",
            headers={**wire.headers(), "cache-control": "no-cache"},
        )

    async def _counted(self, events: Iterator[str], chunk_delay: float) -> AsyncIterator[bytes]:
        self._in_flight += 1
        try:
            for i, event in enumerate(events):
                if chunk_delay and i:
                    await asyncio.sleep(chunk_delay)
                yield event.encode()
        finally:
            self._in_flight -= 1


# ---------------------------------------------------------------------------------------------
# Wire formats
# ---------------------------------------------------------------------------------------------


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _sse(event: str | None, data: dict[str, Any] | str) -> str:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return (f"event: {event}\n" if event else "") + f"data: {payload}\n\n"


class _Wire:
    def body(self, reply: Text | ToolCall) -> dict[str, Any]:
        raise NotImplementedError

    def events(self, reply: Text | ToolCall) -> Iterator[str]:
        raise NotImplementedError

    def error(self, error: Error) -> Response:
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        return {}


_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def _anthropic_error(
    status: int, kind: str, message: str, retry_after: float | None = None
) -> Response:
    request_id = f"req_{uuid.uuid4().hex[:24]}"
    headers = {"request-id": request_id}
    if retry_after is not None:
        headers["retry-after"] = str(retry_after)
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}
    return JSONResponse(body, status_code=status, headers=headers)


def _openai_error(
    status: int,
    message: str,
    kind: str,
    code: str | None = None,
    retry_after: float | None = None,
) -> Response:
    headers = {"x-request-id": f"req_{uuid.uuid4().hex}"}
    if retry_after is not None:
        headers["retry-after"] = str(retry_after)
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


class _AnthropicWire(_Wire):
    def __init__(self, request: RecordedRequest) -> None:
        self.request = request
        self.id = f"msg_{uuid.uuid4().hex[:24]}"

    def headers(self) -> dict[str, str]:
        return {"request-id": f"req_{uuid.uuid4().hex[:24]}"}

    def _usage(self, reply: Text | ToolCall) -> tuple[int, int]:
        if isinstance(reply, Text):
            out = reply.output_tokens
            if out is None:
                out = len(_chunks(reply.text, reply.chunk_size))
            return reply.input_tokens, out
        return reply.input_tokens, reply.output_tokens

    def _block(self, reply: Text | ToolCall) -> dict[str, Any]:
        if isinstance(reply, Text):
            return {"type": "text", "text": reply.text}
        return {
            "type": "tool_use",
            "id": f"toolu_{uuid.uuid4().hex[:24]}",
            "name": reply.name,
            "input": reply.arguments,
        }

    def body(self, reply: Text | ToolCall) -> dict[str, Any]:
        inp, out = self._usage(reply)
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.request.model,
            "content": [self._block(reply)],
            "stop_reason": "end_turn" if isinstance(reply, Text) else "tool_use",
            "stop_sequence": None,
            "usage": {
                "input_tokens": inp,
                "output_tokens": out,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }

    def events(self, reply: Text | ToolCall) -> Iterator[str]:
        inp, out = self._usage(reply)
        yield _sse(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": self.id,
                    "type": "message",
                    "role": "assistant",
                    "model": self.request.model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": inp,
                        "output_tokens": 1,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                    },
                },
            },
        )
        if isinstance(reply, Text):
            start_block: dict[str, Any] = {"type": "text", "text": ""}
            pieces = _chunks(reply.text, reply.chunk_size)
            deltas = [{"type": "text_delta", "text": p} for p in pieces]
        else:
            start_block = {**self._block(reply), "input": {}}
            pieces = _chunks(json.dumps(reply.arguments), reply.chunk_size)
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
        yield _sse(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": start_block},
        )
        yield _sse("ping", {"type": "ping"})
        for delta in deltas:
            yield _sse(
                "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
            )
        yield _sse("content_block_stop", {"type": "content_block_stop", "index": 0})
        yield _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {
                    "stop_reason": "end_turn" if isinstance(reply, Text) else "tool_use",
                    "stop_sequence": None,
                },
                "usage": {"output_tokens": out},
            },
        )
        yield _sse("message_stop", {"type": "message_stop"})

    def error(self, error: Error) -> Response:
        kind = _ANTHROPIC_ERROR_TYPES.get(error.status, "api_error")
        default = {
            401: "invalid x-api-key",
            429: "Number of request tokens has exceeded your per-minute rate limit",
            500: "Internal server error",
            529: "Overloaded",
        }.get(error.status, "error")
        return _anthropic_error(error.status, kind, error.message or default, error.retry_after)


class _OpenAIWire(_Wire):
    def __init__(self, request: RecordedRequest) -> None:
        self.request = request
        self.id = f"chatcmpl-{uuid.uuid4().hex[:29]}"
        self.created = int(time.time())

    def headers(self) -> dict[str, str]:
        return {"x-request-id": f"req_{uuid.uuid4().hex}", "openai-processing-ms": "1"}

    def _usage(self, reply: Text | ToolCall) -> dict[str, int]:
        if isinstance(reply, Text):
            out = reply.output_tokens
            if out is None:
                out = len(_chunks(reply.text, reply.chunk_size))
        else:
            out = reply.output_tokens
        return {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": out,
            "total_tokens": reply.input_tokens + out,
        }

    def _tool_call(self, reply: ToolCall) -> dict[str, Any]:
        return {
            "id": f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {"name": reply.name, "arguments": json.dumps(reply.arguments)},
        }

    def body(self, reply: Text | ToolCall) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "refusal": None, "annotations": []}
        if isinstance(reply, Text):
            message["content"] = reply.text
            finish = "stop"
        else:
            message["content"] = None
            message["tool_calls"] = [self._tool_call(reply)]
            finish = "tool_calls"
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.request.model,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            ],
            "usage": self._usage(reply),
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }

    def _chunk(self, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.request.model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    def events(self, reply: Text | ToolCall) -> Iterator[str]:
        if isinstance(reply, Text):
            yield _sse(
                None, self._chunk({"role": "assistant", "content": "", "refusal": None}, None)
            )
            for piece in _chunks(reply.text, reply.chunk_size):
                yield _sse(None, self._chunk({"content": piece}, None))
            if reply.stream_error is not None:
                # What OpenAI sends when the stream fails midway: an error object, no status.
                yield _sse(None, {"error": {"message": reply.stream_error, "type": "server_error"}})
                return
            finish = "stop"
        else:
            call = self._tool_call(reply)
            first = {
                "index": 0,
                "id": call["id"],
                "type": "function",
                "function": {"name": reply.name, "arguments": ""},
            }
            yield _sse(
                None,
                self._chunk({"role": "assistant", "content": None, "tool_calls": [first]}, None),
            )
            for piece in _chunks(call["function"]["arguments"], reply.chunk_size):
                yield _sse(
                    None,
                    self._chunk(
                        {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}, None
                    ),
                )
            finish = "tool_calls"
        yield _sse(None, self._chunk({}, finish))
        options = self.request.body.get("stream_options") or {}
        if options.get("include_usage"):
            usage_chunk = {**self._chunk({}, None), "choices": [], "usage": self._usage(reply)}
            yield _sse(None, usage_chunk)
        yield _sse(None, "[DONE]")

    def error(self, error: Error) -> Response:
        if error.status == 401:
            return _openai_error(
                401,
                error.message or "Incorrect API key provided.",
                "invalid_request_error",
                "invalid_api_key",
            )
        if error.status == 429:
            return _openai_error(
                429,
                error.message or "Rate limit reached for requests",
                "requests",
                "rate_limit_exceeded",
                error.retry_after,
            )
        return _openai_error(
            error.status,
            error.message or "The server had an error while processing your request.",
            "server_error",
            retry_after=error.retry_after,
        )


@contextlib.contextmanager
def running() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake
