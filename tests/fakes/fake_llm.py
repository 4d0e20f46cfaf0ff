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
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.harness import wait_until

from .anthropic_wire import AnthropicWire
from .openai_wire import OpenAIWire
from .script import (
    ANTHROPIC,
    OPENAI,
    Endpoint,
    Error,
    Hang,
    RecordedRequest,
    Reply,
    Responder,
    Text,
)
from .wire import Wire

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
        wait_until(
            lambda: server.started, "the fake LLM server to start", timeout=10, interval=0.01
        )
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

    # -- what it answers ---------------------------------------------------------------------

    def answer_with(self, responder: Responder | None) -> FakeLLM:
        """Both providers answer with ``responder`` once their queues are empty."""
        self.anthropic.responder = self.openai.responder = responder
        return self

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
        return await self._serve(self.anthropic, request, AnthropicWire)

    async def _chat(self, request: Request) -> Response:
        return await self._serve(self.openai, request, OpenAIWire)

    async def _serve(
        self, endpoint: Endpoint, request: Request, wire_of: Callable[[RecordedRequest], Wire]
    ) -> Response:
        recorded, body = await self._record(endpoint, request)
        wire = wire_of(recorded)
        refused = wire.refusal(body, endpoint.required_key)
        if refused is not None:
            return refused
        with self._lock:
            reply = endpoint.next_reply(recorded)
        return await self._respond(reply, recorded, wire)

    async def _respond(self, reply: Reply, recorded: RecordedRequest, wire: Wire) -> Response:
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
        if isinstance(reply, Text):
            reply = reply.capped(recorded.max_tokens)
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


@contextlib.contextmanager
def running() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake
