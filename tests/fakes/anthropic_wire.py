"""The Anthropic Messages API on the wire: ``POST /v1/messages``, plain and streamed (SSE)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

from starlette.responses import JSONResponse, Response

from .script import Error, RecordedRequest, Text, ToolCall
from .wire import Wire, chunks, sse

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


def anthropic_error(
    status: int, kind: str, message: str, retry_after: float | None = None
) -> Response:
    request_id = f"req_{uuid.uuid4().hex[:24]}"
    headers = {"request-id": request_id}
    if retry_after is not None:
        headers["retry-after"] = str(retry_after)
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}
    return JSONResponse(body, status_code=status, headers=headers)


class AnthropicWire(Wire):
    def __init__(self, request: RecordedRequest) -> None:
        self.request = request
        self.id = f"msg_{uuid.uuid4().hex[:24]}"

    def headers(self) -> dict[str, str]:
        return {"request-id": f"req_{uuid.uuid4().hex[:24]}"}

    def _usage(self, reply: Text | ToolCall) -> tuple[int, int]:
        if isinstance(reply, Text):
            return reply.input_tokens, reply.tokens()
        return reply.input_tokens, reply.output_tokens

    @staticmethod
    def _stop(reply: Text | ToolCall) -> str:
        if isinstance(reply, ToolCall):
            return "tool_use"
        return "max_tokens" if reply.truncated else "end_turn"

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
            "stop_reason": self._stop(reply),
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
        yield sse(
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
            pieces = chunks(reply.text, reply.chunk_size)
            deltas = [{"type": "text_delta", "text": p} for p in pieces]
        else:
            start_block = {**self._block(reply), "input": {}}
            pieces = chunks(json.dumps(reply.arguments), reply.chunk_size)
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
        yield sse(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": start_block},
        )
        yield sse("ping", {"type": "ping"})
        for delta in deltas:
            yield sse(
                "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
            )
        yield sse("content_block_stop", {"type": "content_block_stop", "index": 0})
        yield sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {
                    "stop_reason": self._stop(reply),
                    "stop_sequence": None,
                },
                "usage": {"output_tokens": out},
            },
        )
        yield sse("message_stop", {"type": "message_stop"})

    def refusal(self, body: Any, required_key: str | None) -> Response | None:
        if not isinstance(body, dict) or "model" not in body or "messages" not in body:
            return anthropic_error(400, "invalid_request_error", "messages: field required")
        key = self.request.api_key
        if not key or (required_key is not None and key != required_key):
            return anthropic_error(401, "authentication_error", "invalid x-api-key")
        return None

    def error(self, error: Error) -> Response:
        kind = _ANTHROPIC_ERROR_TYPES.get(error.status, "api_error")
        default = {
            401: "invalid x-api-key",
            429: "Number of request tokens has exceeded your per-minute rate limit",
            500: "Internal server error",
            529: "Overloaded",
        }.get(error.status, "error")
        return anthropic_error(error.status, kind, error.message or default, error.retry_after)
