"""The adapters over the official ``anthropic`` and ``openai`` SDKs: one streamed call each,
and what a call that still failed after the SDK's retries tells the stage.

Imported by :class:`.providers.Clients` in a thread once the service has started (the SDKs'
import is the slowest part of the agents' start).
"""

from __future__ import annotations

from typing import Any

import anthropic
import openai

from orchestrator.events.error_codes import ErrorCode

from .errors import ModelError
from .providers import Completion, OnText, Prompt


def anthropic_client(key: str, options: dict[str, Any]) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key=key, **options)


def openai_client(key: str, options: dict[str, Any]) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=key or "not-needed", **options)


class AnthropicChat:
    def __init__(self, client: anthropic.AsyncAnthropic, model: str, max_tokens: int) -> None:
        self.client = client
        self.model = model
        self.max_tokens = max_tokens

    async def complete(
        self, prompt: Prompt, on_text: OnText, *, max_tokens: int | None = None
    ) -> Completion:
        try:
            async with self.client.messages.stream(
                model=self.model,
                max_tokens=max_tokens or self.max_tokens,
                system=prompt.system,
                messages=[{"role": "user", "content": prompt.user}],
                output_config={"format": {"type": "json_schema", "schema": prompt.schema}},
            ) as stream:
                async for text in stream.text_stream:
                    await on_text(text)
                final = await stream.get_final_message()
        except anthropic.APIError as exc:
            raise _model_error("anthropic", exc) from None
        text = "".join(block.text for block in final.content if block.type == "text")
        return Completion(
            text,
            final.usage.input_tokens,
            final.usage.output_tokens,
            truncated=final.stop_reason == "max_tokens",
        )


class OpenAIChat:
    def __init__(
        self, client: openai.AsyncOpenAI, model: str, max_tokens: int, provider: str
    ) -> None:
        self.client = client
        self.model = model
        self.max_tokens = max_tokens
        self.provider = provider

    async def complete(
        self, prompt: Prompt, on_text: OnText, *, max_tokens: int | None = None
    ) -> Completion:
        parts: list[str] = []
        usage = None
        truncated = False
        try:
            stream = await self.client.chat.completions.create(
                model=self.model,
                messages=[
                    {"role": "system", "content": prompt.system},
                    {"role": "user", "content": prompt.user},
                ],
                stream=True,
                stream_options={"include_usage": True},
                max_completion_tokens=max_tokens or self.max_tokens,
                response_format={
                    "type": "json_schema",
                    "json_schema": {
                        "name": prompt.schema_name,
                        "schema": prompt.schema,
                        "strict": True,
                    },
                },
            )
            async with stream:
                async for chunk in stream:
                    if chunk.usage is not None:
                        usage = chunk.usage
                    for choice in chunk.choices:
                        truncated = truncated or choice.finish_reason == "length"
                        if choice.delta.content:
                            parts.append(choice.delta.content)
                            await on_text(choice.delta.content)
        except openai.APIError as exc:
            raise _model_error(self.provider, exc) from None
        return Completion(
            "".join(parts),
            usage.prompt_tokens if usage else 0,
            usage.completion_tokens if usage else 0,
            truncated=truncated,
        )


def _model_error(provider: str, exc: anthropic.APIError | openai.APIError) -> ModelError:
    """What a call that still failed after the SDK's retries tells the stage. Both SDKs raise
    the same tree of errors (status, timeout, connection, any other, e.g. mid-stream); the
    provider's own message text is never repeated."""
    if isinstance(exc, anthropic.APIStatusError | openai.APIStatusError):
        return _status_error(provider, exc.status_code, _error_type(exc.body))
    if isinstance(exc, anthropic.APITimeoutError | openai.APITimeoutError):
        return ModelError(ErrorCode.AGENT_UNAVAILABLE, f"{provider}: the call timed out")
    if isinstance(exc, anthropic.APIConnectionError | openai.APIConnectionError):
        return ModelError(ErrorCode.AGENT_UNAVAILABLE, f"{provider}: cannot connect")
    return ModelError(
        ErrorCode.AGENT_UNAVAILABLE, f"{provider}: the call failed ({type(exc).__name__})"
    )


def _error_type(body: object) -> str | None:
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            kind = inner.get("type") or inner.get("code")
            return str(kind) if kind else None
    return None


def _status_error(provider: str, status: int, kind: str | None) -> ModelError:
    suffix = f" {kind}" if kind else ""
    if status in (401, 403):
        return ModelError(
            ErrorCode.AGENT_UNAVAILABLE,
            f"{provider} rejected the API key (HTTP {status}{suffix}): check the key in settings",
        )
    return ModelError(
        ErrorCode.AGENT_UNAVAILABLE,
        f"{provider} is unavailable (HTTP {status}{suffix}) after retries",
    )
