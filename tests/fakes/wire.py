"""What both providers' wire formats share: server-sent events and the shape of a wire."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from starlette.responses import Response

from .script import Error, RecordedRequest, Text, ToolCall


def chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def sse(event: str | None, data: dict[str, Any] | str) -> str:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return (f"event: {event}\n" if event else "") + f"data: {payload}\n\n"


class Wire:
    """One provider's wire format: bodies, SSE events, errors, refusals."""

    request: RecordedRequest

    def body(self, reply: Text | ToolCall) -> dict[str, Any]:
        raise NotImplementedError

    def events(self, reply: Text | ToolCall) -> Iterator[str]:
        raise NotImplementedError

    def error(self, error: Error) -> Response:
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        return {}

    def refusal(self, body: Any, required_key: str | None) -> Response | None:
        """The provider's own 400 or 401 for a request it would not serve, else None."""
        raise NotImplementedError
