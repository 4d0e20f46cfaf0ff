"""The OpenAI Chat Completions API on the wire: ``POST /v1/chat/completions``, plain and streamed
(``chat.completion.chunk`` events ending in ``[DONE]``)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from starlette.responses import JSONResponse, Response

from .script import Error, RecordedRequest, Text, ToolCall
from .wire import Wire, chunks, sse


def openai_error(
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


class OpenAIWire(Wire):
    def __init__(self, request: RecordedRequest) -> None:
        self.request = request
        self.id = f"chatcmpl-{uuid.uuid4().hex[:29]}"
        self.created = int(time.time())

    def headers(self) -> dict[str, str]:
        return {"x-request-id": f"req_{uuid.uuid4().hex}", "openai-processing-ms": "1"}

    def _usage(self, reply: Text | ToolCall) -> dict[str, int]:
        out = reply.tokens() if isinstance(reply, Text) else reply.output_tokens
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
            finish = "length" if reply.truncated else "stop"
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
            yield sse(
                None, self._chunk({"role": "assistant", "content": "", "refusal": None}, None)
            )
            for piece in chunks(reply.text, reply.chunk_size):
                yield sse(None, self._chunk({"content": piece}, None))
            if reply.stream_error is not None:
                # What OpenAI sends when the stream fails midway: an error object, no status.
                yield sse(None, {"error": {"message": reply.stream_error, "type": "server_error"}})
                return
            finish = "length" if reply.truncated else "stop"
        else:
            call = self._tool_call(reply)
            first = {
                "index": 0,
                "id": call["id"],
                "type": "function",
                "function": {"name": reply.name, "arguments": ""},
            }
            yield sse(
                None,
                self._chunk({"role": "assistant", "content": None, "tool_calls": [first]}, None),
            )
            for piece in chunks(call["function"]["arguments"], reply.chunk_size):
                yield sse(
                    None,
                    self._chunk(
                        {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}, None
                    ),
                )
            finish = "tool_calls"
        yield sse(None, self._chunk({}, finish))
        options = self.request.body.get("stream_options") or {}
        if options.get("include_usage"):
            usage_chunk = {**self._chunk({}, None), "choices": [], "usage": self._usage(reply)}
            yield sse(None, usage_chunk)
        yield sse(None, "[DONE]")

    def refusal(self, body: Any, required_key: str | None) -> Response | None:
        if not isinstance(body, dict) or "model" not in body or "messages" not in body:
            return openai_error(400, "you must provide a model parameter", "invalid_request_error")
        key = self.request.api_key
        if not key or (required_key is not None and key != required_key):
            shown = f"{key[:3]}...{key[-4:]}" if key and len(key) > 8 else "***"
            return openai_error(
                401,
                f"Incorrect API key provided: {shown}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                code="invalid_api_key",
            )
        return None

    def error(self, error: Error) -> Response:
        if error.status == 401:
            return openai_error(
                401,
                error.message or "Incorrect API key provided.",
                "invalid_request_error",
                "invalid_api_key",
            )
        if error.status == 429:
            return openai_error(
                429,
                error.message or "Rate limit reached for requests",
                "requests",
                "rate_limit_exceeded",
                error.retry_after,
            )
        return openai_error(
            error.status,
            error.message or "The server had an error while processing your request.",
            "server_error",
            retry_after=error.retry_after,
        )
