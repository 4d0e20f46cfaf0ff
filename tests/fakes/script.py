"""What a test scripts the fake LLM with (replies), and what it records (requests)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

ANTHROPIC = "anthropic"
OPENAI = "openai"


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
    truncated: bool = False  # set by the fake: the request's max tokens cut the answer short

    def tokens(self) -> int:
        """The output tokens it reports: as scripted, else one per streamed chunk."""
        if self.output_tokens is not None:
            return self.output_tokens
        return max(1, -(-len(self.text) // self.chunk_size))

    def capped(self, limit: int | None) -> Text:
        """As a provider answers under ``max_tokens``: cut at the limit, stopped for length."""
        count = self.tokens()
        if limit is None or count <= limit:
            return self
        kept = self.text[: len(self.text) * limit // count]
        return replace(self, text=kept, output_tokens=limit, truncated=True)


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
    def max_tokens(self) -> int | None:
        """The output cap the request asked for (Anthropic ``max_tokens``; OpenAI
        ``max_completion_tokens`` or the older ``max_tokens``)."""
        for name in ("max_tokens", "max_completion_tokens"):
            value = self.body.get(name)
            if isinstance(value, int):
                return value
        return None

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
