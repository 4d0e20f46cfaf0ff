"""The adapters that call each agent's model through the official SDKs.

Which provider, model and key serve an agent is decided by
:mod:`orchestrator.events.agent_providers` (one rule, shared with the gateway).

Retries belong to the SDK alone (``max_retries`` with its own backoff and ``retry-after``
handling, every call bounded by ``timeout``); a call that still fails raises :class:`ModelError`,
and the stage records the failure instead of being retried by the work queue.
Errors never carry the provider's message text: an authentication error may echo part of a key.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import anthropic
import openai

from orchestrator.events.agent_providers import ResolvedProvider
from orchestrator.events.error_codes import ErrorCode

from .budget import BudgetExceeded, Meter
from .errors import ModelError
from .settings import AgentsSettings

OnText = Callable[[str], Awaitable[None]]
K = TypeVar("K")
C = TypeVar("C")


@dataclass(frozen=True)
class Prompt:
    """One call's question: the system and user messages, and the JSON schema (by name) the
    answer must follow."""

    system: str
    user: str
    schema_name: str
    schema: dict[str, Any]


@dataclass(frozen=True)
class Completion:
    text: str
    input_tokens: int
    output_tokens: int
    truncated: bool = False
    """The answer stopped at ``max_tokens``."""


class ChatModel(Protocol):
    async def complete(
        self, prompt: Prompt, on_text: OnText, *, max_tokens: int | None = None
    ) -> Completion: ...


class MeteredModel:
    """A model whose every call is checked against, and counted in, a stage's :class:`Meter`."""

    def __init__(self, model: ChatModel, meter: Meter) -> None:
        self.model = model
        self.meter = meter

    async def complete(
        self, prompt: Prompt, on_text: OnText, *, max_tokens: int | None = None
    ) -> Completion:
        allowed = self.meter.allowance(prompt.system, prompt.user)
        if max_tokens is not None:
            allowed = min(allowed, max_tokens)
        completion = await self.model.complete(prompt, on_text, max_tokens=allowed)
        self.meter.record(completion.input_tokens, completion.output_tokens)
        if completion.truncated and allowed < self.meter.max_tokens:
            raise BudgetExceeded(
                f"the {self.meter.model} answer was cut at the budget's {allowed} tokens",
                self.meter.usage,
            )
        return completion


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


class Clients:
    """SDK clients by (provider, base URL, key), reused so connections are pooled."""

    def __init__(self, settings: AgentsSettings) -> None:
        self.settings = settings
        self._anthropic: dict[tuple[str | None, str], anthropic.AsyncAnthropic] = {}
        self._openai: dict[tuple[str | None, str], openai.AsyncOpenAI] = {}

    def model_for(self, resolved: ResolvedProvider) -> ChatModel:
        s = self.settings
        key = resolved.api_key.get_secret_value() if resolved.api_key else ""
        pool_key = (resolved.base_url, key)
        options: dict[str, Any] = {
            "base_url": resolved.base_url,
            "max_retries": s.agents_llm_max_retries,
            "timeout": s.agents_llm_timeout,
        }
        if resolved.provider == "anthropic":
            client = _pooled(
                self._anthropic, pool_key, lambda: anthropic.AsyncAnthropic(api_key=key, **options)
            )
            return AnthropicChat(client, resolved.model, s.agents_max_tokens)
        oa = _pooled(
            self._openai,
            pool_key,
            lambda: openai.AsyncOpenAI(api_key=key or "not-needed", **options),
        )
        return OpenAIChat(oa, resolved.model, s.agents_max_tokens, resolved.provider)

    async def close(self) -> None:
        for a in self._anthropic.values():
            await a.close()
        for o in self._openai.values():
            await o.close()


def _pooled(pool: dict[K, C], key: K, make: Callable[[], C]) -> C:
    """The pool's client for ``key``, made on first use."""
    client = pool.get(key)
    if client is None:
        client = pool[key] = make()
    return client


def parse_json(text: str) -> dict[str, Any] | None:
    """The JSON object in a model's answer, tolerating a code fence around it."""
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        body = body.rsplit("```", 1)[0]
    try:
        value = json.loads(body)
    except ValueError:
        start, end = body.find("{"), body.rfind("}")
        if start < 0 or end <= start:
            return None
        try:
            value = json.loads(body[start : end + 1])
        except ValueError:
            return None
    return value if isinstance(value, dict) else None
